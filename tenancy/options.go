package tenancy

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

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
// allocate on success. Default: [ValidHint].
func WithValidator(validate func(hint string) error) Option {
	return optionFunc(func(c *config) error {
		if validate == nil {
			return errors.New("tenancy: WithValidator(nil)")
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
// client. Default: [DefaultErrorHandler].
func WithErrorHandler(h func(w http.ResponseWriter, r *http.Request, err error)) Option {
	return optionFunc(func(c *config) error {
		if h == nil {
			return errors.New("tenancy: WithErrorHandler(nil)")
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
			return fmt.Errorf("tenancy: WithTTL(%v): must not be negative", d)
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
			return fmt.Errorf("tenancy: WithNegativeTTL(%v): must not be negative", d)
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
			return fmt.Errorf("tenancy: WithMaxEntries(%d): must be at least 1", n)
		}
		c.maxEntries = n
		return nil
	})
}

// WithCacheNow sets the clock the cache reads expiry times from; tests use
// it to expire entries without sleeping. Default: time.Now.
func WithCacheNow(now func() time.Time) CacheOption {
	return cacheOptionFunc(func(c *cacheConfig) error {
		if now == nil {
			return errors.New("tenancy: WithCacheNow(nil)")
		}
		c.now = now
		return nil
	})
}
