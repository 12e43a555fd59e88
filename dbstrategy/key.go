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
// (quoted) database identifiers, so nothing else is ever accepted.
//
// The error wraps [ErrInvalidKey] and names the key (quoted, and cut
// after 64 bytes), what is wrong with it and the alphabet expected, for
// example:
//
//	dbstrategy: invalid tenant key: "Acme": byte 0 is 'A', not a-z or 0-9 (a key is 1 to 48 bytes of a-z, 0-9, '_' and '-', starting with a-z or 0-9)
func ValidateKey(key string) error {
	if len(key) == 0 || len(key) > MaxKeyLen {
		return keyError(key, fmt.Sprintf("length %d not in 1..%d", len(key), MaxKeyLen))
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') {
			continue
		}
		if i == 0 {
			return keyError(key, fmt.Sprintf("byte 0 is %s, not a-z or 0-9", quoteByte(c)))
		}
		if c != '_' && c != '-' {
			return keyError(key, fmt.Sprintf("byte %d is %s, not a-z, 0-9, '_' or '-'", i, quoteByte(c)))
		}
	}
	return nil
}

// keyRule is the alphabet of ValidateKey, as its errors state it.
const keyRule = "a key is 1 to 48 bytes of a-z, 0-9, '_' and '-', starting with a-z or 0-9"

// maxQuotedKey is how much of a refused key an error quotes.
const maxQuotedKey = 64

// keyError is ValidateKey's error: the key, what is wrong, the rule.
func keyError(key, what string) error {
	shown := fmt.Sprintf("%q", key)
	if len(key) > maxQuotedKey {
		shown = fmt.Sprintf("%q... (%d bytes)", key[:maxQuotedKey], len(key))
	}
	return fmt.Errorf("%w: %s: %s (%s)", ErrInvalidKey, shown, what, keyRule)
}

// quoteByte shows c as a Go character literal if it is printable ASCII,
// else as a hex byte (a key may hold any bytes, UTF-8 or not).
func quoteByte(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return fmt.Sprintf("%q", rune(c))
	}
	return fmt.Sprintf("0x%02x", c)
}
