package tenancy

// MaxHintLen is the longest hint [ValidHint] accepts, in bytes.
const MaxHintLen = 48

// ValidHint is the default validator of [Middleware]. It accepts exactly
// the hints that match
//
//	^[a-z0-9][a-z0-9_-]{0,47}$
//
// that is 1 to [MaxHintLen] bytes of a-z, 0-9, '_' and '-', starting with a
// letter or a digit. Everything else, upper case, whitespace, '+', '.',
// '/' and non-ASCII included, is refused with an error wrapping
// [ErrInvalidTenant].
//
// This is the same set of strings that dbstrategy.ValidateKey accepts as a
// tenant key, so a hint ValidHint accepts can be used as a key as it is: an
// app whose Lookup returns the hint (or another string ValidHint accepts)
// as [Tenant.ID] can lease with m.Acquire(ctx, t.ID) without a second
// check failing at run time.
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
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' && c != '_' {
			return errHintByte
		}
	}
	if hint[0] == '-' || hint[0] == '_' {
		return errHintFirst
	}
	return nil
}
