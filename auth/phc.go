package auth

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
)

// The PHC string format for argon2id, as written by the reference
// implementation and by libsodium:
//
//	$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>
//
// with salt and hash in standard base64 without padding.

const (
	phcPrefix = "$argon2id$v=19$"

	// maxPHCLen bounds the stored strings we look at. The longest string
	// within the caps below (64-byte salt, 128-byte key, ten-digit numbers)
	// is about 320 bytes.
	maxPHCLen = 512

	// Salt and key lengths accepted from stored strings. 8 bytes is the
	// PHC minimum for salts; our own hashes use at least 16.
	minStoredSaltLen = 8
	maxSaltLen       = 64
	minKeyLen        = 16
	maxKeyLen        = 128

	// Floors of the caps on parameters read from stored strings (see
	// Hasher.Verify): a stored string may ask for at most
	// max(own parameter, floor). 64 MiB, t=16, p=16 covers RFC 9106's second
	// recommended option (64 MiB, t=3, p=4) and OWASP's whole list.
	verifyMemoryFloor      = 64 * 1024 // KiB
	verifyIterationsFloor  = 16
	verifyParallelismFloor = 16
)

// b64 is the strict form of the PHC base64 alphabet: unpadded, and refusing
// non-zero trailing bits, so every salt and hash has exactly one encoding.
var b64 = base64.RawStdEncoding.Strict()

// phcHash is a decoded PHC string.
type phcHash struct {
	memory      uint32 // KiB
	iterations  uint32
	parallelism uint8
	salt        []byte
	key         []byte
}

// params reports the parameters the hash was made with.
func (ph *phcHash) params() Params {
	return Params{
		Memory:      ph.memory,
		Iterations:  ph.iterations,
		Parallelism: ph.parallelism,
		SaltLen:     uint32(len(ph.salt)),
		KeyLen:      uint32(len(ph.key)),
	}
}

// encodePHC writes the PHC string of an argon2id hash.
func encodePHC(p Params, salt, key []byte) string {
	b := make([]byte, 0, len(phcPrefix)+32+b64.EncodedLen(len(salt))+b64.EncodedLen(len(key)))
	b = append(b, phcPrefix...)
	b = append(b, "m="...)
	b = strconv.AppendUint(b, uint64(p.Memory), 10)
	b = append(b, ",t="...)
	b = strconv.AppendUint(b, uint64(p.Iterations), 10)
	b = append(b, ",p="...)
	b = strconv.AppendUint(b, uint64(p.Parallelism), 10)
	b = append(b, '$')
	b = b64.AppendEncode(b, salt)
	b = append(b, '$')
	b = b64.AppendEncode(b, key)
	return string(b)
}

// limits bounds the parameters decodePHC accepts.
type limits struct {
	memory      uint32
	iterations  uint32
	parallelism uint8
}

// decodePHC parses s strictly: the canonical form encodePHC writes and
// nothing else (fixed parameter order, no leading zeros or signs, no
// padding, no optional PHC fields). Errors wrap ErrInvalidHash and never
// quote s.
func decodePHC(s string, lim limits) (*phcHash, error) {
	if len(s) > maxPHCLen {
		return nil, fmt.Errorf("%w: too long", ErrInvalidHash)
	}
	if !strings.HasPrefix(s, phcPrefix) {
		switch {
		case strings.HasPrefix(s, "$argon2id$"):
			return nil, fmt.Errorf("%w: unsupported argon2 version", ErrInvalidHash)
		case strings.HasPrefix(s, "$"):
			return nil, fmt.Errorf("%w: not an argon2id hash", ErrInvalidHash)
		}
		return nil, fmt.Errorf("%w: not a PHC string", ErrInvalidHash)
	}
	rest := s[len(phcPrefix):]

	var ph phcHash
	var ok bool
	var m, t, p uint64
	if rest, ok = strings.CutPrefix(rest, "m="); !ok {
		return nil, fmt.Errorf("%w: malformed parameters", ErrInvalidHash)
	}
	if m, rest, ok = cutDecimal(rest, ','); !ok {
		return nil, fmt.Errorf("%w: malformed parameters", ErrInvalidHash)
	}
	if rest, ok = strings.CutPrefix(rest, "t="); !ok {
		return nil, fmt.Errorf("%w: malformed parameters", ErrInvalidHash)
	}
	if t, rest, ok = cutDecimal(rest, ','); !ok {
		return nil, fmt.Errorf("%w: malformed parameters", ErrInvalidHash)
	}
	if rest, ok = strings.CutPrefix(rest, "p="); !ok {
		return nil, fmt.Errorf("%w: malformed parameters", ErrInvalidHash)
	}
	if p, rest, ok = cutDecimal(rest, '$'); !ok {
		return nil, fmt.Errorf("%w: malformed parameters", ErrInvalidHash)
	}
	switch {
	case p < 1 || p > uint64(lim.parallelism):
		return nil, fmt.Errorf("%w: parallelism out of range", ErrInvalidHash)
	case t < 1 || t > uint64(lim.iterations):
		return nil, fmt.Errorf("%w: iterations out of range", ErrInvalidHash)
	case m < 8*p || m > uint64(lim.memory):
		return nil, fmt.Errorf("%w: memory out of range", ErrInvalidHash)
	}
	ph.memory, ph.iterations, ph.parallelism = uint32(m), uint32(t), uint8(p)

	saltB64, keyB64, ok := strings.Cut(rest, "$")
	if !ok || strings.Contains(keyB64, "$") {
		return nil, fmt.Errorf("%w: malformed salt or hash", ErrInvalidHash)
	}
	var err error
	// The length checks refuse the \r and \n the decoder skips.
	if ph.salt, err = b64.DecodeString(saltB64); err != nil || b64.EncodedLen(len(ph.salt)) != len(saltB64) {
		return nil, fmt.Errorf("%w: malformed salt", ErrInvalidHash)
	}
	if len(ph.salt) < minStoredSaltLen || len(ph.salt) > maxSaltLen {
		return nil, fmt.Errorf("%w: salt length out of range", ErrInvalidHash)
	}
	if ph.key, err = b64.DecodeString(keyB64); err != nil || b64.EncodedLen(len(ph.key)) != len(keyB64) {
		return nil, fmt.Errorf("%w: malformed hash", ErrInvalidHash)
	}
	if len(ph.key) < minKeyLen || len(ph.key) > maxKeyLen {
		return nil, fmt.Errorf("%w: hash length out of range", ErrInvalidHash)
	}
	return &ph, nil
}

// cutDecimal reads a canonical decimal number (no sign, no leading zero,
// at most 10 digits) from the start of s, up to and excluding sep, and
// returns it with the rest of s after sep.
func cutDecimal(s string, sep byte) (n uint64, rest string, ok bool) {
	i := strings.IndexByte(s, sep)
	if i < 1 || i > 10 || (s[0] == '0' && i > 1) {
		return 0, "", false
	}
	for j := range i {
		c := s[j]
		if c < '0' || c > '9' {
			return 0, "", false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, s[i+1:], true
}
