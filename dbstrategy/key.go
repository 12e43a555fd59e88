package dbstrategy

import (
	"fmt"
	"strings"
)

// MaxKeyLen is the longest tenant key [ValidateKey] accepts.
const MaxKeyLen = 48

// MaxPrefixLen is the longest strategy prefix [ValidatePrefix] accepts: a
// prefix and a key make at most 63 bytes, PostgreSQL's longest identifier.
const MaxPrefixLen = 63 - MaxKeyLen

// ValidatePrefix reports whether prefix may start the names a strategy
// gives its tenants' files or databases: 1 to [MaxPrefixLen] bytes of a-z,
// 0-9 and '_', ending with '_'. Every strategy of this module applies this
// one rule to its Prefix (after replacing "" by its default). The error
// wraps [ErrInvalidConfig].
func ValidatePrefix(prefix string) error {
	if len(prefix) == 0 || len(prefix) > MaxPrefixLen {
		return fmt.Errorf("%w: prefix %q: length %d not in 1..%d", ErrInvalidConfig, prefix, len(prefix), MaxPrefixLen)
	}
	for i := 0; i < len(prefix); i++ {
		c := prefix[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return fmt.Errorf("%w: prefix %q: byte %d is not a-z, 0-9 or '_'", ErrInvalidConfig, prefix, i)
		}
	}
	if !strings.HasSuffix(prefix, "_") {
		return fmt.Errorf("%w: prefix %q does not end with '_'", ErrInvalidConfig, prefix)
	}
	return nil
}

// ValidateKey reports whether key may name a tenant database: it must match
// ^[a-z0-9][a-z0-9_-]{0,47}$, that is 1 to [MaxKeyLen] bytes of a-z, 0-9,
// '_' and '-', starting with a letter or a digit. It is the set of tenant
// hints that package tenancy's default validator accepts, so a tenant ID a
// resolver accepts can be leased as is. Keys become file names and
// (quoted) database identifiers, so nothing else is ever accepted. The
// error wraps [ErrInvalidKey].
func ValidateKey(key string) error {
	if len(key) == 0 || len(key) > MaxKeyLen {
		return fmt.Errorf("%w: length %d not in 1..%d", ErrInvalidKey, len(key), MaxKeyLen)
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') {
			continue
		}
		if i == 0 {
			return fmt.Errorf("%w: byte 0 is not a-z or 0-9", ErrInvalidKey)
		}
		if c != '_' && c != '-' {
			return fmt.Errorf("%w: byte %d is not a-z, 0-9, '_' or '-'", ErrInvalidKey, i)
		}
	}
	return nil
}
