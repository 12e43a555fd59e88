package tenancy

// MaxHintLen is the longest hint [ValidHint] accepts: the length of a DNS
// label.
const MaxHintLen = 63

// ValidHint is the default validator of [Middleware]: it accepts a hint of
// 1 to [MaxHintLen] bytes of a-z, 0-9 and '-' that neither starts nor ends
// with '-', which is the rule for a DNS label in lower case. Everything else,
// upper case, whitespace, '_', '+', '.', '/' and non-ASCII included, is
// refused with an error wrapping [ErrInvalidTenant].
//
// ValidHint does not normalize: "01" is a valid hint and stays "01", so a
// lookup that matches hints exactly never confuses it with "1". Apps with a
// stricter rule (say, an ID without leading zeros or a slug) pass their own
// validator with [WithValidator]. ValidHint does not allocate.
func ValidHint(hint string) error {
	n := len(hint)
	switch {
	case n == 0:
		return errHintEmpty
	case n > MaxHintLen:
		return errHintLong
	}
	for i := 0; i < n; i++ {
		c := hint[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return errHintByte
		}
	}
	if hint[0] == '-' || hint[n-1] == '-' {
		return errHintHyphen
	}
	return nil
}
