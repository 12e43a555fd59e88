package main

import (
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
type loginGuard struct {
	pairs     *auth.Throttle // failed logins per (directory, email, address)
	accounts  *auth.Throttle // failed logins per (directory, email), all addresses
	addrs     *auth.Throttle // failed logins per address, everywhere
	registers *auth.Throttle // registrations per (directory, address); nil: off
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

func newLoginGuard(l throttleLimits) (*loginGuard, error) {
	ceiling := l.ceilingBurst
	if ceiling == 0 {
		ceiling = min(ceilingPerBurst*l.accountBurst, 10_000)
	}
	pairs, err := auth.NewThrottle(auth.WithBurst(l.accountBurst), auth.WithRefill(l.accountRefill))
	if err != nil {
		return nil, err
	}
	accounts, err := auth.NewThrottle(auth.WithBurst(ceiling), auth.WithRefill(l.accountRefill))
	if err != nil {
		return nil, err
	}
	addrs, err := auth.NewThrottle(auth.WithBurst(l.addrBurst), auth.WithRefill(l.addrRefill))
	if err != nil {
		return nil, err
	}
	g := &loginGuard{pairs: pairs, accounts: accounts, addrs: addrs}
	if l.registerLimit > 0 {
		refill := l.registerWindow / time.Duration(l.registerLimit)
		if g.registers, err = auth.NewThrottle(auth.WithBurst(l.registerLimit), auth.WithRefill(refill)); err != nil {
			return nil, fmt.Errorf("registration throttle: %w", err)
		}
	}
	return g, nil
}

// begin takes one attempt for the (account, address) pair, the account
// and the address, or refuses with a *RateLimitError. The caller reports
// the outcome with done: nil for a successful login, an error matching
// ErrUnauthorized for wrong credentials (a failure), any other error for
// an attempt that checked nothing (it does not count).
func (g *loginGuard) begin(directory, email, addr string) (done func(err error), err error) {
	account := directory + "|" + normalizeEmail(email)
	pair := account + "|" + addr
	ok, wait := g.pairs.Allow(pair)
	if !ok {
		return nil, &RateLimitError{RetryAfter: wait}
	}
	inCeiling, wait := g.accounts.Allow(account)
	if !inCeiling && g.pairs.Failures(pair) > 1 {
		// Past the account-wide ceiling, an address that already failed
		// on this account waits; one with no failures (only this attempt
		// counts) goes ahead, outside the ceiling.
		g.pairs.Succeed(pair)
		return nil, &RateLimitError{RetryAfter: wait}
	}
	if ok, wait := g.addrs.Allow(addr); !ok {
		g.pairs.Succeed(pair) // give the attempts back
		if inCeiling {
			g.accounts.Succeed(account)
		}
		return nil, &RateLimitError{RetryAfter: wait}
	}
	return func(err error) {
		switch {
		case err == nil:
			g.pairs.Reset(pair) // this address knows the password
			if inCeiling {
				g.accounts.Succeed(account) // keeps other addresses' failures
			}
			g.addrs.Succeed(addr)
		case errors.Is(err, ErrUnauthorized):
			g.pairs.Fail(pair)
			if inCeiling {
				g.accounts.Fail(account)
			}
			g.addrs.Fail(addr)
		default: // busy, cancelled or failed on our side: nothing was checked
			g.pairs.Succeed(pair)
			if inCeiling {
				g.accounts.Succeed(account)
			}
			g.addrs.Succeed(addr)
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
func (g *loginGuard) beginRegister(directory, addr string) (done func(err error), err error) {
	if g == nil || g.registers == nil || addr == "" {
		return func(error) {}, nil
	}
	key := directory + "|" + addr
	ok, wait := g.registers.Allow(key)
	if !ok {
		return nil, &RegisterLimitError{RetryAfter: wait}
	}
	return func(err error) {
		var verr *ValidationError
		if err == nil || errors.Is(err, ErrConflict) || errors.As(err, &verr) {
			g.registers.Fail(key) // confirm: it counts
			return
		}
		g.registers.Succeed(key)
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
