package auth

import (
	"container/list"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"runtime"
	"sync"
	"unicode/utf8"

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
// callers beyond that wait for a slot, bounded by their context, in a
// bounded queue where logins ([Hasher.Verify]) go before registrations
// ([Hasher.Hash]); a caller that finds the queue full gets [ErrBusy] (see
// [WithMaxQueue]). Passwords longer than a maximum (see
// [WithMaxPasswordLen]) are refused before waiting. A Hasher is safe for
// concurrent use and holds no resources that need closing.
type Hasher struct {
	params Params
	lim    limits
	slots  *slots
	maxLen int      // longest password accepted, in code points
	dummy  *phcHash // compared against when the stored hash is empty
	idKey  keyFunc
}

// NewHasher returns a Hasher configured by opts. It returns an error
// wrapping [ErrInvalidConfig] if an option is nil or invalid.
func NewHasher(opts ...HasherOption) (*Hasher, error) {
	cfg := hasherConfig{params: DefaultParams(), maxConcurrent: runtime.GOMAXPROCS(0), maxQueue: -1, maxPasswordLen: DefaultMaxPasswordLen}
	if err := configure("NewHasher", opts, func(o HasherOption) error { return o.applyHasher(&cfg) }); err != nil {
		return nil, err
	}
	p := cfg.params
	if cfg.maxQueue < 0 {
		cfg.maxQueue = min(queuePerSlot*cfg.maxConcurrent, maxQueueLen)
	}
	h := &Hasher{
		params: p,
		lim: limits{
			memory:      max(p.Memory, verifyMemoryFloor),
			iterations:  max(p.Iterations, verifyIterationsFloor),
			parallelism: max(p.Parallelism, verifyParallelismFloor),
		},
		slots:  &slots{free: cfg.maxConcurrent, maxWait: cfg.maxQueue},
		maxLen: cfg.maxPasswordLen,
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
// and a fresh random salt.
//
// A password that [Hasher.CheckPassword] refuses gets its error (wrapping
// [ErrInvalidPassword]) at once. Otherwise Hash waits for a hashing slot,
// behind every waiting [Hasher.Verify]; it returns [ErrBusy] at once if the
// queue of waiting Hash calls is full, and ctx.Err() if ctx ends before a
// slot frees up.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	if err := h.CheckPassword(password); err != nil {
		return "", err
	}
	if err := h.slots.acquire(ctx, classHash); err != nil {
		return "", err
	}
	salt := randomBytes(int(h.params.SaltLen))
	key := h.idKey([]byte(password), salt, h.params.Iterations, h.params.Memory, h.params.Parallelism, h.params.KeyLen)
	h.slots.release()
	return encodePHC(h.params, salt, key), nil
}

// CheckPassword reports whether [Hasher.Hash] would accept password: nil,
// or an error wrapping [ErrInvalidPassword] if it is not valid UTF-8 (a
// client's encoding error, which some decoders would silently turn into
// U+FFFD: two inputs, one password) or longer than the maximum (see
// [WithMaxPasswordLen]). It does no hashing and never waits. Minimum
// lengths and other rules are the caller's policy.
func (h *Hasher) CheckPassword(password string) error {
	if h.tooLong(password) {
		return fmt.Errorf("%w: longer than %d characters", ErrInvalidPassword, h.maxLen)
	}
	if !utf8.ValidString(password) {
		return fmt.Errorf("%w: not valid UTF-8", ErrInvalidPassword)
	}
	return nil
}

// tooLong reports whether password has more than h.maxLen code points,
// without counting the whole of a huge one.
func (h *Hasher) tooLong(password string) bool {
	if len(password) <= h.maxLen {
		return false
	}
	if len(password) > utf8.UTFMax*h.maxLen {
		return true
	}
	return utf8.RuneCountInString(password) > h.maxLen
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
// A password longer than the maximum (see [WithMaxPasswordLen]) gets
// ErrPasswordMismatch at once, without hashing or waiting: Hash never
// stored such a password, and the refusal depends on the input alone, not
// on the account.
//
// Verify waits for a hashing slot like [Hasher.Hash], but ahead of every
// waiting Hash; it returns [ErrBusy] at once if the queue of waiting Verify
// calls is full, and ctx.Err() if ctx ends first.
func (h *Hasher) Verify(ctx context.Context, encoded, password string) error {
	ph := h.dummy
	if encoded != "" {
		var err error
		if ph, err = decodePHC(encoded, h.lim); err != nil {
			return err
		}
	}
	if h.tooLong(password) {
		return ErrPasswordMismatch
	}
	if err := h.slots.acquire(ctx, classVerify); err != nil {
		return err
	}
	key := h.idKey([]byte(password), ph.salt, ph.iterations, ph.memory, ph.parallelism, uint32(len(ph.key)))
	h.slots.release()
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

// Classes of callers waiting for a hashing slot, in order of priority.
const (
	classVerify = iota // logins
	classHash          // registrations, password changes
	numClasses
)

// slots hands out a fixed number of hashing slots. A caller that finds
// none free waits in its class's queue, first come first served, unless
// that queue is full; a freed slot goes to the head of the first non-empty
// queue in class order. free is more than zero only while no one waits.
type slots struct {
	mu      sync.Mutex
	free    int
	maxWait int // per class
	queues  [numClasses]list.List
	onWait  func(class int) // for tests: called once a caller is queued
}

// waiter is one caller in a queue. granted is set, under slots.mu, when a
// slot is handed to it, just before ready is closed.
type waiter struct {
	ready   chan struct{}
	granted bool
}

// acquire takes a slot for a caller of class, waiting for one if none is
// free. It returns ErrBusy at once if the class's queue is full, and
// ctx.Err() if ctx ends first (giving back a slot handed over meanwhile).
func (s *slots) acquire(ctx context.Context, class int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	if s.free > 0 {
		s.free--
		s.mu.Unlock()
		return nil
	}
	q := &s.queues[class]
	if q.Len() >= s.maxWait {
		s.mu.Unlock()
		return ErrBusy
	}
	w := &waiter{ready: make(chan struct{})}
	e := q.PushBack(w)
	onWait := s.onWait
	s.mu.Unlock()
	if onWait != nil {
		onWait(class)
	}
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	if !w.granted {
		q.Remove(e)
		s.mu.Unlock()
		return ctx.Err()
	}
	s.mu.Unlock()
	s.release() // handed a slot as ctx ended: pass it on
	return ctx.Err()
}

// release gives a slot back: to the longest waiting caller of the first
// class that has one, or to the free pool.
func (s *slots) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.queues {
		if e := s.queues[i].Front(); e != nil {
			w := s.queues[i].Remove(e).(*waiter)
			w.granted = true
			close(w.ready)
			return
		}
	}
	s.free++
}

// waiting returns how many callers of each class wait for a slot.
func (s *slots) waiting() (verify, hash int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queues[classVerify].Len(), s.queues[classHash].Len()
}

// randomBytes returns n bytes from crypto/rand, which never fails (Go 1.24+).
func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}
