package dbstrategy

import "fmt"

// MaxKeyLen is the longest tenant key [ValidateKey] accepts.
const MaxKeyLen = 48

// ValidateKey reports whether key may name a tenant database: 1 to
// [MaxKeyLen] bytes of a-z, 0-9 and '_'. Keys become file names and
// database identifiers, so nothing else is ever accepted. The error wraps
// [ErrInvalidKey].
func ValidateKey(key string) error {
	if len(key) == 0 || len(key) > MaxKeyLen {
		return fmt.Errorf("%w: length %d not in 1..%d", ErrInvalidKey, len(key), MaxKeyLen)
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return fmt.Errorf("%w: byte %d is not a-z, 0-9 or '_'", ErrInvalidKey, i)
		}
	}
	return nil
}
