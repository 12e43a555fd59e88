package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"runtime"

	"golang.org/x/crypto/argon2"
)

// Params are the argon2id cost parameters of a [Hasher].
//
// Memory is the main defence against GPU and ASIC cracking; it is also what
// a burst of logins costs the server (see [WithMaxConcurrent]).
type Params struct {
	Memory      uint32 // memory in KiB
	Iterations  uint32 // passes over the memory (argon2 "t")
	Parallelism uint8  // lanes (argon2 "p")
	SaltLen     uint32 // random salt length in bytes
	KeyLen      uint32 // hash length in bytes
}

// DefaultParams returns OWASP's recommended argon2id configuration:
// m=19456 KiB (19 MiB), t=2, p=1, with a 16-byte salt and a 32-byte hash.
// One hash costs about 20 to 50 ms of CPU on a current server core.
func DefaultParams() Params {
	return Params{Memory: 19456, Iterations: 2, Parallelism: 1, SaltLen: 16, KeyLen: 32}
}

// Bounds enforced by WithParams.
const (
	maxMemory      = 4 << 20 // KiB: 4 GiB
	maxIterations  = 100
	maxParallelism = 64
	minSaltLen     = 16
)

// validate reports parameters that are weak or absurd. Low memory is
// allowed (down to argon2's own minimum of 8 KiB per lane) so that tests
// can run fast; production code should use DefaultParams or stronger.
func (p Params) validate() error {
	switch {
	case p.Parallelism < 1 || p.Parallelism > maxParallelism:
		return fmt.Errorf("parallelism %d: must be 1 to %d", p.Parallelism, maxParallelism)
	case p.Memory < 8*uint32(p.Parallelism) || p.Memory > maxMemory:
		return fmt.Errorf("memory %d KiB: must be 8 KiB × parallelism (%d KiB) to %d KiB", p.Memory, 8*uint32(p.Parallelism), maxMemory)
	case p.Iterations < 1 || p.Iterations > maxIterations:
		return fmt.Errorf("iterations %d: must be 1 to %d", p.Iterations, maxIterations)
	case p.SaltLen < minSaltLen || p.SaltLen > maxSaltLen:
		return fmt.Errorf("salt length %d: must be %d to %d bytes", p.SaltLen, minSaltLen, maxSaltLen)
	case p.KeyLen < minKeyLen || p.KeyLen > maxKeyLen:
		return fmt.Errorf("key length %d: must be %d to %d bytes", p.KeyLen, minKeyLen, maxKeyLen)
	}
	return nil
}

// keyFunc computes an argon2id key; argon2.IDKey outside tests.
type keyFunc func(password, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte

// Hasher hashes and verifies passwords with argon2id, storing them as PHC
// strings ($argon2id$v=19$m=...,t=...,p=...$salt$hash). Passwords are used
// whole: unlike bcrypt, nothing is truncated.
//
// At most a fixed number of hashes run at once (see [WithMaxConcurrent]);
// callers beyond that wait for a slot, bounded by their context. A Hasher is
// safe for concurrent use and holds no resources that need closing.
type Hasher struct {
	params Params
	lim    limits
	sem    chan struct{}
	dummy  *phcHash // compared against when the stored hash is empty
	idKey  keyFunc
}

// NewHasher returns a Hasher configured by opts. It returns an error
// wrapping [ErrInvalidConfig] if an option is nil or invalid.
func NewHasher(opts ...HasherOption) (*Hasher, error) {
	cfg := hasherConfig{params: DefaultParams(), maxConcurrent: runtime.GOMAXPROCS(0)}
	if err := configure("NewHasher", opts, func(o HasherOption) error { return o.applyHasher(&cfg) }); err != nil {
		return nil, err
	}
	p := cfg.params
	h := &Hasher{
		params: p,
		lim: limits{
			memory:      max(p.Memory, verifyMemoryFloor),
			iterations:  max(p.Iterations, verifyIterationsFloor),
			parallelism: max(p.Parallelism, verifyParallelismFloor),
		},
		sem: make(chan struct{}, cfg.maxConcurrent),
		// The dummy hash needs no computing: a random key of the right
		// length makes the comparison fail exactly like a wrong password,
		// after a derivation of exactly the same cost.
		dummy: &phcHash{
			memory:      p.Memory,
			iterations:  p.Iterations,
			parallelism: p.Parallelism,
			salt:        randomBytes(int(p.SaltLen)),
			key:         randomBytes(int(p.KeyLen)),
		},
		idKey: argon2.IDKey,
	}
	return h, nil
}

// Hash returns the PHC string of password under the hasher's parameters
// and a fresh random salt. It waits for a hashing slot first and returns
// ctx.Err() if ctx ends before one frees up.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	salt := randomBytes(int(h.params.SaltLen))
	key := h.idKey([]byte(password), salt, h.params.Iterations, h.params.Memory, h.params.Parallelism, h.params.KeyLen)
	h.release()
	return encodePHC(h.params, salt, key), nil
}

// Verify checks password against encoded, a string made by [Hasher.Hash]
// (of this or any other Hasher, whatever its parameters: they are read from
// the string). It returns nil on a match and [ErrPasswordMismatch] when the
// password is wrong; the comparison is constant-time.
//
// An empty encoded stands for an unknown user: Verify still derives a key
// at the hasher's full cost, against a random dummy hash, and returns
// ErrPasswordMismatch, so an unknown user cannot be told from a wrong
// password by timing.
//
// A malformed encoded string gets an error wrapping [ErrInvalidHash], at
// once. So does one whose parameters exceed max(the hasher's own, a floor of
// m=64 MiB, t=16, p=16), or whose salt or hash is longer than 64 or 128
// bytes: a stored string cannot make the server burn unbounded memory or CPU.
//
// Verify waits for a hashing slot like [Hasher.Hash] and returns ctx.Err()
// if ctx ends first.
func (h *Hasher) Verify(ctx context.Context, encoded, password string) error {
	ph := h.dummy
	if encoded != "" {
		var err error
		if ph, err = decodePHC(encoded, h.lim); err != nil {
			return err
		}
	}
	if err := h.acquire(ctx); err != nil {
		return err
	}
	key := h.idKey([]byte(password), ph.salt, ph.iterations, ph.memory, ph.parallelism, uint32(len(ph.key)))
	h.release()
	if subtle.ConstantTimeCompare(key, ph.key) != 1 || encoded == "" {
		return ErrPasswordMismatch
	}
	return nil
}

// NeedsRehash reports whether encoded was made with parameters (or salt or
// hash lengths) other than the hasher's, or cannot be verified at all. Call
// it after a successful [Hasher.Verify], and store a fresh [Hasher.Hash] of
// the password if it returns true.
func (h *Hasher) NeedsRehash(encoded string) bool {
	ph, err := decodePHC(encoded, h.lim)
	return err != nil || ph.params() != h.params
}

// acquire takes a hashing slot, or returns ctx.Err().
func (h *Hasher) acquire(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case h.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h *Hasher) release() { <-h.sem }

// randomBytes returns n bytes from crypto/rand, which never fails (Go 1.24+).
func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}
