package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/tenantkit/tenantkit/auth"
)

// loginGuard throttles failed logins and registrations (API.md, "Sessions
// and abuse limits"). Successful logins do not count.
//
// Failed logins count per (directory, email, client address), unknown
// emails included: an address that fails too often on an account is
// refused on that account, and no other address is. That alone would let
// a brute force spread over many addresses guess without bound, so an
// account also has a looser ceiling over all addresses together. Past the
// ceiling, only an address with no failures on the account goes ahead
// (each of them one attempt at a time, instead of a burst), so the owner
// still logs in from any address that was not guessing, while a
// distributed brute force slows to one guess per address per refill
// period. Failed logins also count per address, over every account and
// directory, against guessing many accounts from one address.
//
// Registrations count per (directory, client address), whatever their
// outcome, except those refused for want of a hashing slot or failing on
// the server's side.
//
// The buckets live in the core database (auth.SQLThrottle), so replicas
// that share it allow together what one allows; with -login-throttle
// local, each process keeps its own (auth.Throttle), and N replicas allow
// N times as many.
type loginGuard struct {
	pairs     limiter // failed logins per (directory, email, address)
	accounts  limiter // failed logins per (directory, email), all addresses
	addrs     limiter // failed logins per address, everywhere
	registers limiter // registrations per (directory, address); nil: off
}

// limiter is a throttle, of this process (auth.Throttle, through
// localLimiter) or shared with other processes (auth.SQLThrottle).
type limiter interface {
	Allow(ctx context.Context, key string) (bool, time.Duration, error)
	Fail(ctx context.Context, key string) error
	Succeed(ctx context.Context, key string) error
	Reset(ctx context.Context, key string) error
	Failures(ctx context.Context, key string) (int, error)
}

// localLimiter is an auth.Throttle as a limiter: it never fails.
type localLimiter struct{ t *auth.Throttle }

func (l localLimiter) Allow(_ context.Context, key string) (bool, time.Duration, error) {
	ok, wait := l.t.Allow(key)
	return ok, wait, nil
}
func (l localLimiter) Fail(_ context.Context, key string) error    { l.t.Fail(key); return nil }
func (l localLimiter) Succeed(_ context.Context, key string) error { l.t.Succeed(key); return nil }
func (l localLimiter) Reset(_ context.Context, key string) error   { l.t.Reset(key); return nil }
func (l localLimiter) Failures(_ context.Context, key string) (int, error) {
	return l.t.Failures(key), nil
}

// throttleStore is where a loginGuard keeps its buckets: the core
// database (shared by replicas), or nil for the process's memory.
type throttleStore struct {
	db      *sql.DB
	dialect string
}

// newLimiter returns a throttle named name with opts, in st.
func (st throttleStore) newLimiter(name string, opts ...auth.ThrottleOption) (limiter, error) {
	if st.db == nil {
		t, err := auth.NewThrottle(opts...)
		if err != nil {
			return nil, err
		}
		return localLimiter{t}, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return auth.NewSQLThrottle(ctx, st.db, st.dialect, name, opts...)
}

// Defaults of the login throttle: an (account, address) pair allows a
// burst of failures, then one more per refill period; the account allows
// ten times more over every address; an address allows more over every
// account, since many users may share one. Registrations: a few per
// address per window.
const (
	accountBurst    = 10
	accountRefill   = 30 * time.Second
	ceilingPerBurst = 10 // the account-wide ceiling, in account bursts
	addrBurst       = 100
	addrRefill      = time.Second
	registerLimit   = 5
	registerWindow  = 10 * time.Minute
)

// throttleLimits sets a loginGuard's limits. accountBurst and
// accountRefill are per (account, address); the account-wide ceiling is
// ceilingBurst failures (default, when 0: ceilingPerBurst × accountBurst)
// refilling at the same pace. registerLimit registrations per
// registerWindow are allowed per (directory, address); 0 turns that
// throttle off.
type throttleLimits struct {
	accountBurst, addrBurst   int
	accountRefill, addrRefill time.Duration
	ceilingBurst              int
	registerLimit             int
	registerWindow            time.Duration
}

var defaultThrottleLimits = throttleLimits{
	accountBurst: accountBurst, accountRefill: accountRefill,
	addrBurst: addrBurst, addrRefill: addrRefill,
	registerLimit: registerLimit, registerWindow: registerWindow,
}

func newLoginGuard(l throttleLimits, st throttleStore) (*loginGuard, error) {
	ceiling := l.ceilingBurst
	if ceiling == 0 {
		ceiling = min(ceilingPerBurst*l.accountBurst, 10_000)
	}
	pairs, err := st.newLimiter("login-pairs", auth.WithBurst(l.accountBurst), auth.WithRefill(l.accountRefill))
	if err != nil {
		return nil, err
	}
	accounts, err := st.newLimiter("login-accounts", auth.WithBurst(ceiling), auth.WithRefill(l.accountRefill))
	if err != nil {
		return nil, err
	}
	addrs, err := st.newLimiter("login-addresses", auth.WithBurst(l.addrBurst), auth.WithRefill(l.addrRefill))
	if err != nil {
		return nil, err
	}
	g := &loginGuard{pairs: pairs, accounts: accounts, addrs: addrs}
	if l.registerLimit > 0 {
		refill := l.registerWindow / time.Duration(l.registerLimit)
		if g.registers, err = st.newLimiter("registrations", auth.WithBurst(l.registerLimit), auth.WithRefill(refill)); err != nil {
			return nil, fmt.Errorf("registration throttle: %w", err)
		}
	}
	return g, nil
}

// purge deletes the refilled buckets of every throttle from the core
// database (they share one table); nil when the buckets are in memory.
func (g *loginGuard) purge() func(context.Context) (int64, error) {
	if sq, ok := g.pairs.(*auth.SQLThrottle); ok {
		return sq.Purge
	}
	return nil
}

// unavailable is the error of a throttle that could not answer: the
// attempt is refused (503), never let through unthrottled.
func unavailable(err error) error {
	return fmt.Errorf("%w: login throttle: %v", ErrUnavailable, err)
}

// begin takes one attempt for the (account, address) pair, the account
// and the address, or refuses with a *RateLimitError. The caller reports
// the outcome with done: nil for a successful login, an error matching
// ErrUnauthorized for wrong credentials (a failure), any other error for
// an attempt that checked nothing (it does not count).
func (g *loginGuard) begin(ctx context.Context, directory, email, addr string) (done func(err error), err error) {
	account := directory + "|" + normalizeEmail(email)
	pair := account + "|" + addr
	ok, wait, err := g.pairs.Allow(ctx, pair)
	if err != nil {
		return nil, unavailable(err)
	}
	if !ok {
		return nil, &RateLimitError{RetryAfter: wait}
	}
	// From here on, what was taken is given back if the attempt goes no
	// further. Errors of the giving back are left: an attempt not given
	// back only counts as a failure, the safe side.
	ctx = context.WithoutCancel(ctx)
	inCeiling, wait, err := g.accounts.Allow(ctx, account)
	if err != nil {
		_ = g.pairs.Succeed(ctx, pair)
		return nil, unavailable(err)
	}
	if !inCeiling {
		// Past the account-wide ceiling, an address that already failed
		// on this account waits; one with no failures (only this attempt
		// counts) goes ahead, outside the ceiling.
		n, err := g.pairs.Failures(ctx, pair)
		if err != nil || n > 1 {
			_ = g.pairs.Succeed(ctx, pair)
			if err != nil {
				return nil, unavailable(err)
			}
			return nil, &RateLimitError{RetryAfter: wait}
		}
	}
	if ok, wait, err := g.addrs.Allow(ctx, addr); err != nil || !ok {
		_ = g.pairs.Succeed(ctx, pair) // give the attempts back
		if inCeiling {
			_ = g.accounts.Succeed(ctx, account)
		}
		if err != nil {
			return nil, unavailable(err)
		}
		return nil, &RateLimitError{RetryAfter: wait}
	}
	return func(err error) {
		switch {
		case err == nil:
			_ = g.pairs.Reset(ctx, pair) // this address knows the password
			if inCeiling {
				_ = g.accounts.Succeed(ctx, account) // keeps other addresses' failures
			}
			_ = g.addrs.Succeed(ctx, addr)
		case errors.Is(err, ErrUnauthorized):
			_ = g.pairs.Fail(ctx, pair)
			if inCeiling {
				_ = g.accounts.Fail(ctx, account)
			}
			_ = g.addrs.Fail(ctx, addr)
		default: // busy, cancelled or failed on our side: nothing was checked
			_ = g.pairs.Succeed(ctx, pair)
			if inCeiling {
				_ = g.accounts.Succeed(ctx, account)
			}
			_ = g.addrs.Succeed(ctx, addr)
		}
	}, nil
}

// beginRegister takes one registration for (directory, address), or
// refuses with a *RegisterLimitError. addr "" is a registration from the
// server itself (the admin commands): never throttled. The caller reports
// the outcome with done: registrations that were refused for want of a
// hashing slot or failed on the server's side are given back; every other
// one counts, successful or not (so a taken email does not make a free
// probe).
func (g *loginGuard) beginRegister(ctx context.Context, directory, addr string) (done func(err error), err error) {
	if g == nil || g.registers == nil || addr == "" {
		return func(error) {}, nil
	}
	key := directory + "|" + addr
	ok, wait, err := g.registers.Allow(ctx, key)
	if err != nil {
		return nil, unavailable(err)
	}
	if !ok {
		return nil, &RegisterLimitError{RetryAfter: wait}
	}
	ctx = context.WithoutCancel(ctx)
	return func(err error) {
		var verr *ValidationError
		if err == nil || errors.Is(err, ErrConflict) || errors.As(err, &verr) {
			_ = g.registers.Fail(ctx, key) // confirm: it counts
			return
		}
		_ = g.registers.Succeed(ctx, key)
	}, nil
}

// RegisterLimitError is a registration refused by the throttle: too many
// from this address.
type RegisterLimitError struct {
	RetryAfter time.Duration
}

func (e *RegisterLimitError) Error() string {
	return fmt.Sprintf("too many registrations from this address; retry after %s", e.RetryAfter)
}
