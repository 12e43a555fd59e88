package auth

import (
	"net/http"
	"time"
)

// configure applies opts in order. A nil option is an error naming its
// position (counted from 1) and the constructor fn; so is an option that
// refuses its value. Every such error wraps [ErrInvalidConfig].
func configure[O any](fn string, opts []O, apply func(O) error) error {
	for i, o := range opts {
		if any(o) == nil {
			return configErrorf("auth: %s: option %d is nil", fn, i+1)
		}
		if err := apply(o); err != nil {
			return err
		}
	}
	return nil
}

// A HasherOption configures [NewHasher].
type HasherOption interface {
	applyHasher(*hasherConfig) error
}

type hasherConfig struct {
	params         Params
	maxConcurrent  int
	maxQueue       int // -1: the default, queuePerSlot × maxConcurrent
	maxPasswordLen int
}

type hasherOptionFunc func(*hasherConfig) error

func (f hasherOptionFunc) applyHasher(c *hasherConfig) error { return f(c) }

// WithParams sets the argon2id parameters of new hashes. They are checked:
// parallelism 1 to 64, memory from 8 KiB × parallelism (argon2's minimum)
// to 4 GiB, iterations 1 to 100, salt 16 to 64 bytes, key 16 to 128 bytes.
// Memory far below [DefaultParams] is weak and meant for tests only (64 KiB
// and one iteration make a hash cost well under a millisecond).
// Default: [DefaultParams].
func WithParams(p Params) HasherOption {
	return hasherOptionFunc(func(c *hasherConfig) error {
		if err := p.validate(); err != nil {
			return configErrorf("auth: WithParams: %v", err)
		}
		c.params = p
		return nil
	})
}

// WithMaxConcurrent caps the hashes (from Hash and Verify together) that
// run at once at n, so a login flood holds at most n hashes' memory (each
// the hasher's Params.Memory, or up to the cap documented on
// [Hasher.Verify] for stored hashes of other parameters); further callers
// wait for a slot until their context ends, in a bounded queue (see
// [WithMaxQueue]). n must be at least 1.
// Default: runtime.GOMAXPROCS(0) at the time NewHasher is called.
func WithMaxConcurrent(n int) HasherOption {
	return hasherOptionFunc(func(c *hasherConfig) error {
		if n < 1 {
			return configErrorf("auth: WithMaxConcurrent(%d): must be at least 1", n)
		}
		c.maxConcurrent = n
		return nil
	})
}

// queuePerSlot sizes the default queue: a caller that finds the queue just
// short of full waits for about this many hashes per slot (a second or two
// at the default parameters).
const queuePerSlot = 32

// maxQueueLen bounds WithMaxQueue.
const maxQueueLen = 1 << 20

// WithMaxQueue bounds the callers that wait for a hashing slot when all
// are taken (see [WithMaxConcurrent]) at n for each of the two classes of
// callers: [Hasher.Verify] (logins) and [Hasher.Hash] (registrations,
// password changes). A caller that finds its class's queue full gets
// [ErrBusy] at once instead of waiting, so a flood holds a bounded number
// of requests, however many clients send them. When a slot frees up, a
// waiting Verify always goes before a waiting Hash: a flood of
// registrations cannot delay the logins of existing users (but a steady
// flood of logins may delay registrations until their context ends).
// n may be 0 (never wait) to 1048576.
// Default: 32 × the number of slots, for each class.
func WithMaxQueue(n int) HasherOption {
	return hasherOptionFunc(func(c *hasherConfig) error {
		if n < 0 || n > maxQueueLen {
			return configErrorf("auth: WithMaxQueue(%d): must be 0 to %d", n, maxQueueLen)
		}
		c.maxQueue = n
		return nil
	})
}

// DefaultMaxPasswordLen is the longest password, in characters (Unicode
// code points), that a [Hasher] accepts unless [WithMaxPasswordLen] says
// otherwise.
const DefaultMaxPasswordLen = 256

// maxPasswordLenCap bounds WithMaxPasswordLen.
const maxPasswordLenCap = 1 << 16

// WithMaxPasswordLen sets the longest password, in characters (Unicode
// code points), that [Hasher.Hash] accepts, from 64 to 65536; a longer one
// is refused before hashing and before waiting for a slot. [Hasher.Verify]
// answers [ErrPasswordMismatch] for a longer one, at once. Raise it if
// stored hashes may hold longer passwords. Default: [DefaultMaxPasswordLen].
func WithMaxPasswordLen(n int) HasherOption {
	return hasherOptionFunc(func(c *hasherConfig) error {
		if n < 64 || n > maxPasswordLenCap {
			return configErrorf("auth: WithMaxPasswordLen(%d): must be 64 to %d", n, maxPasswordLenCap)
		}
		c.maxPasswordLen = n
		return nil
	})
}

// An IssuerOption configures [NewIssuer].
type IssuerOption interface {
	applyIssuer(*issuerConfig) error
}

type issuerConfig struct {
	ttl time.Duration
	now func() time.Time
}

// maxTTL bounds WithTTL: access tokens cannot be revoked, so they must be
// short-lived.
const maxTTL = 24 * time.Hour

// TTLOption is the token lifetime option, returned by [WithTTL]. It is an
// [IssuerOption] and a [KeyringOption].
type TTLOption struct {
	d time.Duration
}

// WithTTL sets the lifetime of issued tokens, from one second to 24 hours:
// of the tokens of [NewIssuer], or of every [Issuer] of a [Keyring].
// Default: 1h.
func WithTTL(d time.Duration) TTLOption { return TTLOption{d: d} }

func (o TTLOption) check() error {
	if o.d < time.Second || o.d > maxTTL {
		return configErrorf("auth: WithTTL(%v): must be 1s to %v", o.d, maxTTL)
	}
	return nil
}

func (o TTLOption) applyIssuer(c *issuerConfig) error {
	if err := o.check(); err != nil {
		return err
	}
	c.ttl = o.d
	return nil
}

func (o TTLOption) applyKeyring(c *keyringConfig) error {
	if err := o.check(); err != nil {
		return err
	}
	c.ttl = o.d
	return nil
}

// A VerifierOption configures [NewVerifier].
type VerifierOption interface {
	applyVerifier(*verifierConfig) error
}

type verifierConfig struct {
	leeway    time.Duration
	now       func() time.Time
	cacheSize int
}

// maxLeeway bounds WithLeeway.
const maxLeeway = 5 * time.Minute

// LeewayOption is the clock skew option, returned by [WithLeeway]. It is a
// [VerifierOption] and a [KeyringOption].
type LeewayOption struct {
	d time.Duration
}

// WithLeeway sets the clock skew allowed when checking exp, nbf and iat,
// from 0 to 5 minutes: by [NewVerifier], or by every [Verifier] of a
// [Keyring]. Default: 30s.
func WithLeeway(d time.Duration) LeewayOption { return LeewayOption{d: d} }

func (o LeewayOption) check() error {
	if o.d < 0 || o.d > maxLeeway {
		return configErrorf("auth: WithLeeway(%v): must be 0 to %v", o.d, maxLeeway)
	}
	return nil
}

func (o LeewayOption) applyVerifier(c *verifierConfig) error {
	if err := o.check(); err != nil {
		return err
	}
	c.leeway = o.d
	return nil
}

func (o LeewayOption) applyKeyring(c *keyringConfig) error {
	if err := o.check(); err != nil {
		return err
	}
	c.leeway = o.d
	return nil
}

// CacheOption is the token cache option, returned by [WithCache]. It is a
// [VerifierOption] and a [KeyringOption].
type CacheOption struct {
	n int
}

// WithCache sets how many verified tokens a [Verifier] remembers (each
// Verifier of a [Keyring], one per directory, has its own cache of this
// size), so that a client presenting the same token again costs a hash
// and a map lookup instead of a signature check and JSON decoding; 0 turns
// the cache off. n must be 0 to 1<<20; each entry costs about 250 bytes
// plus the claims' strings. See [Verifier] for what the cache keeps and
// for how long. Default: 1024.
func WithCache(n int) CacheOption { return CacheOption{n: n} }

func (o CacheOption) check() error {
	if o.n < 0 || o.n > maxCacheSize {
		return configErrorf("auth: WithCache(%d): must be 0 to %d", o.n, maxCacheSize)
	}
	return nil
}

func (o CacheOption) applyVerifier(c *verifierConfig) error {
	if err := o.check(); err != nil {
		return err
	}
	c.cacheSize = o.n
	return nil
}

func (o CacheOption) applyKeyring(c *keyringConfig) error {
	if err := o.check(); err != nil {
		return err
	}
	c.cacheSize = o.n
	return nil
}

// NowOption is the clock option of this package, returned by [WithNow]. It
// is an [IssuerOption], a [VerifierOption], a [ThrottleOption] and a
// [KeyringOption], so the same value configures every constructor that
// reads a clock.
type NowOption struct {
	now func() time.Time
}

// WithNow sets the clock of [NewIssuer] (which dates issued tokens),
// [NewVerifier] (which checks their times and the expiry of cached
// tokens), [NewThrottle] (whose buckets refill by it) and [NewKeyring]
// (for its issuers and verifiers, and to retire rotated masters). Tests use it to
// move time without sleeping. A nil now means the default.
// Default: time.Now.
func WithNow(now func() time.Time) NowOption {
	if now == nil {
		now = time.Now
	}
	return NowOption{now: now}
}

func (o NowOption) applyIssuer(c *issuerConfig) error     { c.now = o.clock(); return nil }
func (o NowOption) applyVerifier(c *verifierConfig) error { c.now = o.clock(); return nil }
func (o NowOption) applyThrottle(c *throttleConfig) error { c.now = o.clock(); return nil }
func (o NowOption) applyKeyring(c *keyringConfig) error   { c.now = o.clock(); return nil }

// clock returns the option's clock; the zero NowOption means time.Now.
func (o NowOption) clock() func() time.Time {
	if o.now == nil {
		return time.Now
	}
	return o.now
}

var (
	_ IssuerOption   = NowOption{}
	_ VerifierOption = NowOption{}
	_ ThrottleOption = NowOption{}
	_ KeyringOption  = NowOption{}
	_ IssuerOption   = TTLOption{}
	_ KeyringOption  = TTLOption{}
	_ VerifierOption = LeewayOption{}
	_ KeyringOption  = LeewayOption{}
	_ VerifierOption = CacheOption{}
	_ KeyringOption  = CacheOption{}
)

// A MiddlewareOption configures [RequireToken] and [RequireTokenFunc].
type MiddlewareOption interface {
	applyMiddleware(*middlewareConfig) error
}

type middlewareConfig struct {
	errorHandler func(http.ResponseWriter, *http.Request, error)
}

type middlewareOptionFunc func(*middlewareConfig) error

func (f middlewareOptionFunc) applyMiddleware(c *middlewareConfig) error { return f(c) }

// WithErrorHandler sets what the middleware does with a request it refuses.
// h receives an error wrapping [ErrNoToken] or [ErrInvalidToken] for a
// missing or refused token, and any other error for a server-side failure
// (such as one from the choose function of [RequireTokenFunc]). h must not
// echo the token or the error text to the client. A nil h means the
// default. Default: [DefaultErrorHandler].
func WithErrorHandler(h func(w http.ResponseWriter, r *http.Request, err error)) MiddlewareOption {
	return middlewareOptionFunc(func(c *middlewareConfig) error {
		if h == nil {
			h = DefaultErrorHandler
		}
		c.errorHandler = h
		return nil
	})
}

// A ThrottleOption configures [NewThrottle].
type ThrottleOption interface {
	applyThrottle(*throttleConfig) error
}

type throttleConfig struct {
	burst   int
	every   time.Duration
	maxKeys int
	now     func() time.Time
}

type throttleOptionFunc func(*throttleConfig) error

func (f throttleOptionFunc) applyThrottle(c *throttleConfig) error { return f(c) }

// Bounds of the throttle options; they keep burst × refill within int64
// nanoseconds.
const (
	maxBurst        = 10_000
	minRefill       = time.Millisecond
	maxRefill       = 24 * time.Hour
	maxThrottleKeys = 1 << 24
)

// WithBurst sets how many attempts in a row a key may fail before it is
// refused (the bucket's size), from 1 to 10000. Default: 10.
func WithBurst(n int) ThrottleOption {
	return throttleOptionFunc(func(c *throttleConfig) error {
		if n < 1 || n > maxBurst {
			return configErrorf("auth: WithBurst(%d): must be 1 to %d", n, maxBurst)
		}
		c.burst = n
		return nil
	})
}

// WithRefill sets how often a key regains one attempt, from 1ms to 24h: a
// key that used up its burst may then fail once per interval. Default: 1m.
func WithRefill(every time.Duration) ThrottleOption {
	return throttleOptionFunc(func(c *throttleConfig) error {
		if every < minRefill || every > maxRefill {
			return configErrorf("auth: WithRefill(%v): must be %v to %v", every, minRefill, maxRefill)
		}
		c.every = every
		return nil
	})
}

// WithMaxKeys caps the number of keys the throttle holds state for, from 1
// to 16777216 (see [Throttle] for what happens when it is full). Each key
// costs about 50 bytes; maps do not shrink, so the memory of the largest
// number of keys held stays in use. The cap may be rounded down by up to
// 63 keys. Default: 100000 (about 5 MB).
func WithMaxKeys(n int) ThrottleOption {
	return throttleOptionFunc(func(c *throttleConfig) error {
		if n < 1 || n > maxThrottleKeys {
			return configErrorf("auth: WithMaxKeys(%d): must be 1 to %d", n, maxThrottleKeys)
		}
		c.maxKeys = n
		return nil
	})
}
