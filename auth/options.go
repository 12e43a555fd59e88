package auth

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// A HasherOption configures [NewHasher].
type HasherOption interface {
	apply(*hasherConfig) error
}

type hasherConfig struct {
	params        Params
	maxConcurrent int
}

type hasherOptionFunc func(*hasherConfig) error

func (f hasherOptionFunc) apply(c *hasherConfig) error { return f(c) }

// WithParams sets the argon2id parameters of new hashes. They are checked:
// parallelism 1 to 64, memory from 8 KiB × parallelism (argon2's minimum)
// to 4 GiB, iterations 1 to 100, salt 16 to 64 bytes, key 16 to 128 bytes.
// Memory far below [DefaultParams] is weak and meant for tests only (64 KiB
// and one iteration make a hash cost well under a millisecond).
// Default: [DefaultParams].
func WithParams(p Params) HasherOption {
	return hasherOptionFunc(func(c *hasherConfig) error {
		if err := p.validate(); err != nil {
			return fmt.Errorf("auth: WithParams: %s", err)
		}
		c.params = p
		return nil
	})
}

// WithMaxConcurrent caps the hashes (from Hash and Verify together) that
// run at once at n, so a login flood holds at most n hashes' memory (each
// the hasher's Params.Memory, or up to the cap documented on
// [Hasher.Verify] for stored hashes of other parameters); further callers
// wait for a slot until their context ends. n must be at least 1.
// Default: runtime.GOMAXPROCS(0) at the time NewHasher is called.
func WithMaxConcurrent(n int) HasherOption {
	return hasherOptionFunc(func(c *hasherConfig) error {
		if n < 1 {
			return fmt.Errorf("auth: WithMaxConcurrent(%d): must be at least 1", n)
		}
		c.maxConcurrent = n
		return nil
	})
}

// An IssuerOption configures [NewIssuer].
type IssuerOption interface {
	apply(*issuerConfig) error
}

type issuerConfig struct {
	ttl time.Duration
	now func() time.Time
}

type issuerOptionFunc func(*issuerConfig) error

func (f issuerOptionFunc) apply(c *issuerConfig) error { return f(c) }

// maxTTL bounds WithTTL: access tokens cannot be revoked, so they must be
// short-lived.
const maxTTL = 24 * time.Hour

// WithTTL sets the lifetime of issued tokens, from one second to 24 hours.
// Default: 1h.
func WithTTL(d time.Duration) IssuerOption {
	return issuerOptionFunc(func(c *issuerConfig) error {
		if d < time.Second || d > maxTTL {
			return fmt.Errorf("auth: WithTTL(%v): must be 1s to %v", d, maxTTL)
		}
		c.ttl = d
		return nil
	})
}

// WithIssuerNow sets the clock that dates issued tokens; for tests.
// Default: time.Now.
func WithIssuerNow(now func() time.Time) IssuerOption {
	return issuerOptionFunc(func(c *issuerConfig) error {
		if now == nil {
			return errors.New("auth: WithIssuerNow(nil)")
		}
		c.now = now
		return nil
	})
}

// A VerifierOption configures [NewVerifier].
type VerifierOption interface {
	apply(*verifierConfig) error
}

type verifierConfig struct {
	leeway time.Duration
	now    func() time.Time
}

type verifierOptionFunc func(*verifierConfig) error

func (f verifierOptionFunc) apply(c *verifierConfig) error { return f(c) }

// maxLeeway bounds WithLeeway.
const maxLeeway = 5 * time.Minute

// WithLeeway sets the clock skew allowed when checking exp, nbf and iat,
// from 0 to 5 minutes. Default: 30s.
func WithLeeway(d time.Duration) VerifierOption {
	return verifierOptionFunc(func(c *verifierConfig) error {
		if d < 0 || d > maxLeeway {
			return fmt.Errorf("auth: WithLeeway(%v): must be 0 to %v", d, maxLeeway)
		}
		c.leeway = d
		return nil
	})
}

// WithVerifierNow sets the clock tokens are checked against; for tests.
// Default: time.Now.
func WithVerifierNow(now func() time.Time) VerifierOption {
	return verifierOptionFunc(func(c *verifierConfig) error {
		if now == nil {
			return errors.New("auth: WithVerifierNow(nil)")
		}
		c.now = now
		return nil
	})
}

// A MiddlewareOption configures [RequireToken] and [RequireTokenFunc].
type MiddlewareOption interface {
	apply(*middlewareConfig) error
}

type middlewareConfig struct {
	errorHandler func(http.ResponseWriter, *http.Request, error)
}

type middlewareOptionFunc func(*middlewareConfig) error

func (f middlewareOptionFunc) apply(c *middlewareConfig) error { return f(c) }

// WithErrorHandler sets what the middleware does with a request it refuses.
// h receives an error wrapping [ErrNoToken] or [ErrInvalidToken] for a
// missing or refused token, and any other error for a server-side failure
// (such as one from the choose function of [RequireTokenFunc]). h must not
// echo the token or the error text to the client. A nil h means
// [DefaultErrorHandler]. Default: [DefaultErrorHandler].
func WithErrorHandler(h func(w http.ResponseWriter, r *http.Request, err error)) MiddlewareOption {
	return middlewareOptionFunc(func(c *middlewareConfig) error {
		if h == nil {
			h = DefaultErrorHandler
		}
		c.errorHandler = h
		return nil
	})
}
