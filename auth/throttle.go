package auth

import (
	"crypto/sha256"
	"math"
	"sync"
	"time"
)

// Throttle limits failed attempts per key, such as failed logins per
// (directory, email) and per client address, with a token bucket per key:
// a key may fail a burst of times in a row (see [WithBurst]), then one more
// time per refill interval (see [WithRefill]). Successful attempts do not
// count. It is safe for concurrent use, starts no goroutine and needs no
// closing: state is updated when a key is used.
//
// A login handler calls, for each key of the attempt:
//
//	ok, retryAfter := throttle.Allow(key) // before checking the password
//	if !ok { /* 429, Retry-After: retryAfter rounded up to seconds */ }
//	// ... check the password ...
//	throttle.Fail(key)    // wrong password (or unknown user)
//	throttle.Succeed(key) // right password: the attempt does not count
//	throttle.Reset(key)   // or: forget the key's failures altogether
//
// Allow takes the attempt from the bucket at once, before the password is
// checked, so that many concurrent attempts on one key cannot all pass
// Allow before the first of them fails: no more than the bucket holds get
// through. Fail confirms the attempt failed; Succeed gives it back. An
// attempt that is never confirmed either way stays counted as a failure.
// Reset suits a key that a success clears, such as an account's; for a key
// that many people share, such as a client address, use Succeed, or one
// valid login would wipe the failures of every guess made beside it.
//
// Memory is bounded whatever the number of keys (see [WithMaxKeys]): keys
// are kept only as 16 bytes of their SHA-256, a key whose bucket has
// refilled is dropped (it is the same as a new one), and when the table is
// full a new key evicts, among a few sampled, the one nearest to refilled:
// a key that failed recently and often is the last to go.
type Throttle struct {
	burst    int64
	every    int64 // nanoseconds to regain one attempt
	now      func() time.Time
	epoch    time.Time
	perShard int
	mask     uint64
	shards   []throttleShard
}

// throttleShard is one part of the table, with its own lock.
type throttleShard struct {
	mu sync.Mutex
	m  map[throttleKey]throttleEntry
	_  [48]byte // keep shards on separate cache lines
}

// throttleKey is the first 16 bytes of SHA-256 of a key: a fixed size
// whatever the key, and no email addresses held in memory.
type throttleKey [16]byte

// throttleEntry is one key's bucket, as a "theoretical arrival time" (the
// generic cell rate algorithm): full is when the bucket will be full again,
// in nanoseconds since epoch, and every attempt taken or failed pushes it
// one interval further. pending counts attempts Allow took that were not
// yet confirmed by Fail or given back by Succeed.
type throttleEntry struct {
	full    int64
	pending int32
}

// How many other entries a new key looks at: to drop refilled ones, and
// to make room in a full shard.
const (
	sweepSample = 2
	evictSample = 8
)

// NewThrottle returns a Throttle configured by opts. It returns an error
// wrapping [ErrInvalidConfig] if an option is nil or invalid.
func NewThrottle(opts ...ThrottleOption) (*Throttle, error) {
	cfg := throttleConfig{burst: 10, every: time.Minute, maxKeys: 100_000, now: time.Now}
	if err := configure("NewThrottle", opts, func(o ThrottleOption) error { return o.applyThrottle(&cfg) }); err != nil {
		return nil, err
	}
	// Up to 64 shards, with at least 64 keys each when maxKeys allows.
	n := 1
	for n < 64 && n*2*64 <= cfg.maxKeys {
		n *= 2
	}
	t := &Throttle{
		burst:    int64(cfg.burst),
		every:    int64(cfg.every),
		now:      cfg.now,
		epoch:    cfg.now(),
		perShard: cfg.maxKeys / n,
		mask:     uint64(n - 1),
		shards:   make([]throttleShard, n),
	}
	for i := range t.shards {
		t.shards[i].m = make(map[throttleKey]throttleEntry)
	}
	return t, nil
}

// Allow reports whether an attempt for key may go ahead and, if so, counts
// it as a failure until [Throttle.Succeed] gives it back. If not, it also
// returns how long until the key regains an attempt (more than zero);
// nothing is counted then, and the caller should answer at once without
// checking the password (HTTP 429 with Retry-After). Allow never blocks.
func (t *Throttle) Allow(key string) (ok bool, retryAfter time.Duration) {
	k, s := t.locate(key)
	now := t.elapsed()
	s.mu.Lock()
	defer s.mu.Unlock()
	e, found := s.get(k, now)
	base := max(e.full, now)
	if debt, limit := base-now, (t.burst-1)*t.every; debt > limit {
		return false, time.Duration(debt - limit)
	}
	e.full = base + t.every
	if e.pending < math.MaxInt32 {
		e.pending++
	}
	s.put(k, e, found, now, t.perShard)
	return true, 0
}

// Fail records that an attempt for key failed. After [Throttle.Allow] let
// the attempt through, it confirms the failure Allow counted; without an
// attempt pending, it counts a new failure, as if Allow had been called.
func (t *Throttle) Fail(key string) {
	k, s := t.locate(key)
	now := t.elapsed()
	s.mu.Lock()
	defer s.mu.Unlock()
	e, found := s.get(k, now)
	if e.pending > 0 {
		e.pending--
		s.m[k] = e
		return
	}
	// A failure without Allow: count it, but never beyond an empty bucket.
	e.full = min(max(e.full, now)+t.every, now+t.burst*t.every)
	s.put(k, e, found, now, t.perShard)
}

// Succeed records that an attempt for key, let through by
// [Throttle.Allow], succeeded: it no longer counts. Earlier failures of
// key still do. Without an attempt pending, it does nothing.
func (t *Throttle) Succeed(key string) {
	k, s := t.locate(key)
	now := t.elapsed()
	s.mu.Lock()
	defer s.mu.Unlock()
	e, found := s.get(k, now)
	if !found || e.pending == 0 {
		return
	}
	e.pending--
	e.full -= t.every
	if e.full <= now {
		delete(s.m, k) // refilled: the same as a new key
		return
	}
	s.m[k] = e
}

// Reset forgets every failure of key, and its pending attempts: for
// example after a successful login, for the account's key. See [Throttle]
// for keys that should not be reset.
func (t *Throttle) Reset(key string) {
	k, s := t.locate(key)
	s.mu.Lock()
	delete(s.m, k)
	s.mu.Unlock()
}

// Failures returns how many attempts currently count against key: its
// failures not yet refilled, and the attempts [Throttle.Allow] let through
// that were not yet confirmed or given back. 0 means key is the same as a
// new key. It changes nothing.
//
// After its own Allow, a caller that sees 1 knows no other attempt counted
// against key: a login guard can use that to tell an address with no
// failures on an account from one that has some.
func (t *Throttle) Failures(key string) int {
	k, s := t.locate(key)
	now := t.elapsed()
	s.mu.Lock()
	defer s.mu.Unlock()
	e, _ := s.get(k, now)
	if e.full <= now {
		return 0
	}
	return int((e.full - now + t.every - 1) / t.every)
}

// Len returns the number of keys the throttle holds state for: at most
// the maximum set by [WithMaxKeys]. A key whose bucket has refilled is
// dropped when it is next used, or when new keys come and find it, so Len
// may count some keys that are already the same as new ones.
func (t *Throttle) Len() int {
	n := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}

// locate returns the hashed key and its shard.
func (t *Throttle) locate(key string) (throttleKey, *throttleShard) {
	sum := sha256.Sum256([]byte(key))
	var k throttleKey
	copy(k[:], sum[:])
	i := (uint64(k[0]) | uint64(k[1])<<8) & t.mask
	return k, &t.shards[i]
}

// elapsed returns the throttle's clock in nanoseconds since epoch. A
// time.Now clock keeps its monotonic reading, so wall clock jumps do not
// matter.
func (t *Throttle) elapsed() int64 { return int64(t.now().Sub(t.epoch)) }

// get returns the entry of k, or a new (full) one: an entry that has
// refilled is the same as a new one.
func (s *throttleShard) get(k throttleKey, now int64) (throttleEntry, bool) {
	e, ok := s.m[k]
	if !ok || e.full <= now {
		return throttleEntry{}, ok
	}
	return e, true
}

// put stores e under k. A key new to the shard first looks at a couple of
// other entries and drops those that have refilled; if the shard is full,
// it samples a few more and, if none has refilled, evicts the one nearest
// to refilled.
func (s *throttleShard) put(k throttleKey, e throttleEntry, found bool, now int64, limit int) {
	if !found {
		full := len(s.m) >= limit
		sample := sweepSample
		if full {
			sample = evictSample
		}
		var victim throttleKey
		victimFull, seen, freed := int64(math.MaxInt64), 0, false
		for k2, e2 := range s.m {
			if seen == sample {
				break
			}
			seen++
			if e2.full <= now {
				delete(s.m, k2)
				freed = true
			} else if e2.full < victimFull {
				victim, victimFull = k2, e2.full
			}
		}
		if full && !freed {
			delete(s.m, victim)
		}
	}
	s.m[k] = e
}
