package tenancy

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
			return configErrorf("tenancy: %s: option %d is nil", fn, i+1)
		}
		if err := apply(o); err != nil {
			return err
		}
	}
	return nil
}

// Option configures [Middleware].
type Option interface {
	apply(*config) error
}

type optionFunc func(*config) error

func (f optionFunc) apply(c *config) error { return f(c) }

// config holds the settings of Middleware.
type config struct {
	validate func(hint string) error
	onError  func(w http.ResponseWriter, r *http.Request, err error)
}

// WithValidator sets the check every hint must pass before it is looked
// up, so garbage never reaches the registry. An error it returns is handed
// to the error handler wrapped in [ErrInvalidTenant] (if it does not wrap it
// already). validate must be safe for concurrent use and should not
// allocate on success. A nil validate means the default. Default:
// [ValidHint].
func WithValidator(validate func(hint string) error) Option {
	return optionFunc(func(c *config) error {
		if validate == nil {
			validate = ValidHint
		}
		c.validate = validate
		return nil
	})
}

// WithErrorHandler sets what [Middleware] writes when it refuses a request.
// The handler gets an error that errors.Is can match against
// [ErrNoTenant], [ErrInvalidTenant], [ErrUnknownTenant], [ErrTenantNotReady]
// and [ErrTenantSuspended]; any other error is a failure of the resolver or
// the lookup backend, whose text should be logged but not sent to the
// client. A nil h means the default. Default: [DefaultErrorHandler].
func WithErrorHandler(h func(w http.ResponseWriter, r *http.Request, err error)) Option {
	return optionFunc(func(c *config) error {
		if h == nil {
			h = DefaultErrorHandler
		}
		c.onError = h
		return nil
	})
}

// CacheOption configures a [Cache].
type CacheOption interface {
	applyCache(*cacheConfig) error
}

type cacheOptionFunc func(*cacheConfig) error

func (f cacheOptionFunc) applyCache(c *cacheConfig) error { return f(c) }

// cacheConfig holds the settings of a Cache.
type cacheConfig struct {
	ttl        time.Duration
	negTTL     time.Duration
	maxEntries int
	now        func() time.Time
}

// WithTTL sets how long a found tenant is cached. It bounds how long a
// change made elsewhere (another process) goes unseen; changes made through
// this process should call [Cache.Invalidate]. Tenants that are not
// [StatusActive] are cached for the shorter of this and the negative TTL,
// since those states are meant to change. Zero disables caching of found
// tenants (concurrent lookups are still merged). Default: 30s.
func WithTTL(d time.Duration) CacheOption {
	return cacheOptionFunc(func(c *cacheConfig) error {
		if d < 0 {
			return configErrorf("tenancy: WithTTL(%v): must not be negative", d)
		}
		c.ttl = d
		return nil
	})
}

// WithNegativeTTL sets how long a lookup that wrapped [ErrUnknownTenant] is
// cached, so a flood of requests for a tenant that does not exist costs one
// registry query per period. Other errors are never cached. Zero disables
// negative caching. Default: 5s.
func WithNegativeTTL(d time.Duration) CacheOption {
	return cacheOptionFunc(func(c *cacheConfig) error {
		if d < 0 {
			return configErrorf("tenancy: WithNegativeTTL(%v): must not be negative", d)
		}
		c.negTTL = d
		return nil
	})
}

// WithMaxEntries bounds how many hints the cache holds, found and unknown
// together. When full, adding an entry evicts one: an expired entry if one
// is sampled, else a negative one, else the one closest to expiry among a
// small random sample. Default: 10000.
func WithMaxEntries(n int) CacheOption {
	return cacheOptionFunc(func(c *cacheConfig) error {
		if n < 1 {
			return configErrorf("tenancy: WithMaxEntries(%d): must be at least 1", n)
		}
		c.maxEntries = n
		return nil
	})
}

// WithNow sets the clock of this package: the one [Cache] reads expiry
// times from (the only constructor of this package that reads a clock).
// Tests use it to expire entries without sleeping. A nil now means the
// default. Default: time.Now.
func WithNow(now func() time.Time) CacheOption {
	return cacheOptionFunc(func(c *cacheConfig) error {
		if now == nil {
			now = time.Now
		}
		c.now = now
		return nil
	})
}
