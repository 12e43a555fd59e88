package tenancy

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"
)

// Cache is a [Lookup] that remembers the answers of another one. Found
// tenants are kept for the TTL ([WithTTL]), hints no tenant matches for the
// negative TTL ([WithNegativeTTL]); errors of any other kind are never
// cached. Concurrent misses for the same hint are merged into one call of
// the wrapped Lookup (single flight). The number of entries is bounded
// ([WithMaxEntries]). [Cache.Invalidate] forgets a tenant at once.
//
// A hit takes a read lock and a map lookup: it does not allocate. Cached
// tenants are immutable; [Middleware] puts the cached pointer itself in the
// request context.
//
// Cache is safe for concurrent use. It starts no goroutine: expired entries
// are dropped when they are read or when room is needed, so it needs no
// Close.
type Cache struct {
	l   Lookup
	cfg cacheConfig

	// testHookWait, when set (by tests only), runs each time a caller
	// starts waiting for another caller's lookup.
	testHookWait func()

	mu      sync.RWMutex
	entries map[string]entry
	calls   map[string]*call
	// gen counts invalidations; a lookup that started before the last one
	// may have read stale data, so its answer is returned but not cached.
	gen uint64
}

// entry is one cached answer: a tenant, or an error wrapping
// ErrUnknownTenant.
type entry struct {
	t       *Tenant // nil for a negative entry
	err     error
	expires time.Time
}

// call is one lookup in flight; its waiters block on done.
type call struct {
	done chan struct{}
	gen  uint64
	t    *Tenant
	err  error
}

// NewCache returns a Cache in front of l. It returns an error wrapping
// [ErrInvalidConfig] if l is nil, an option is nil or an option is invalid.
func NewCache(l Lookup, opts ...CacheOption) (*Cache, error) {
	if isNil(l) {
		return nil, configErrorf("tenancy: NewCache: nil Lookup")
	}
	c := &Cache{
		l: l,
		cfg: cacheConfig{
			ttl:        30 * time.Second,
			negTTL:     5 * time.Second,
			maxEntries: 10000,
			now:        time.Now,
		},
		entries: make(map[string]entry),
		calls:   make(map[string]*call),
	}
	if err := configure("NewCache", opts, func(o CacheOption) error { return o.applyCache(&c.cfg) }); err != nil {
		return nil, err
	}
	return c, nil
}

// Lookup returns the tenant hint names, from the cache if it holds a fresh
// answer, else from the wrapped Lookup. Errors are those of the wrapped
// Lookup (an error wrapping [ErrUnknownTenant] may come from the cache), or
// ctx.Err() if ctx ends while this call waits for the same hint's lookup
// started by another caller. If that other caller's lookup fails because its
// own context ended, this call retries rather than inherit the error.
func (c *Cache) Lookup(ctx context.Context, hint string) (Tenant, error) {
	t, err := c.LookupShared(ctx, hint)
	if err != nil {
		return Tenant{}, err
	}
	return *t, nil
}

// LookupShared is [Cache.Lookup] returning a pointer to the cached tenant,
// which nobody may modify (see [SharedLookup]). A hit does not allocate.
func (c *Cache) LookupShared(ctx context.Context, hint string) (*Tenant, error) {
	now := c.cfg.now()
	c.mu.RLock()
	e, ok := c.entries[hint]
	c.mu.RUnlock()
	if ok && now.Before(e.expires) {
		return e.t, e.err
	}
	return c.miss(ctx, hint)
}

// miss joins the lookup in flight for hint, or starts one.
func (c *Cache) miss(ctx context.Context, hint string) (*Tenant, error) {
	for {
		c.mu.Lock()
		if e, ok := c.entries[hint]; ok {
			if c.cfg.now().Before(e.expires) {
				c.mu.Unlock()
				return e.t, e.err
			}
			delete(c.entries, hint)
		}
		if cl, ok := c.calls[hint]; ok {
			c.mu.Unlock()
			if c.testHookWait != nil {
				c.testHookWait()
			}
			select {
			case <-cl.done:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			if cl.err != nil && isContextErr(cl.err) && ctx.Err() == nil {
				continue // the leader gave up, not the registry: try again
			}
			return cl.t, cl.err
		}
		cl := &call{done: make(chan struct{}), gen: c.gen}
		c.calls[hint] = cl
		c.mu.Unlock()
		c.run(ctx, hint, cl)
		return cl.t, cl.err
	}
}

// run performs cl's lookup, stores its answer if it may be cached, and
// releases the waiters, even if the wrapped Lookup panics (the panic then
// goes on up the leader's stack, and the waiters get an error).
func (c *Cache) run(ctx context.Context, hint string, cl *call) {
	returned := false
	defer func() {
		if !returned {
			cl.t, cl.err = nil, errors.New("tenancy: lookup panicked")
		}
		c.mu.Lock()
		if c.calls[hint] == cl {
			delete(c.calls, hint)
		}
		if returned && cl.gen == c.gen {
			c.store(hint, cl)
		}
		c.mu.Unlock()
		close(cl.done)
	}()
	t, err := c.l.Lookup(ctx, hint)
	if err != nil {
		cl.err = err
	} else {
		cl.t = &t
	}
	returned = true
}

// store caches cl's answer for hint if it is cacheable. c.mu must be held.
func (c *Cache) store(hint string, cl *call) {
	var ttl time.Duration
	switch {
	case cl.err == nil && cl.t.Status == StatusActive:
		ttl = c.cfg.ttl
	case cl.err == nil:
		ttl = min(c.cfg.ttl, c.cfg.negTTL)
	case errors.Is(cl.err, ErrUnknownTenant):
		ttl = c.cfg.negTTL
	}
	if ttl <= 0 {
		return
	}
	now := c.cfg.now()
	if _, ok := c.entries[hint]; !ok && len(c.entries) >= c.cfg.maxEntries {
		c.evict(now)
	}
	// Clone the key so the cache does not pin the request it came from.
	c.entries[strings.Clone(hint)] = entry{t: cl.t, err: cl.err, expires: now.Add(ttl)}
}

// evictSample is how many entries evict looks at to choose a victim.
const evictSample = 8

// evict makes room for one entry: it drops the expired entries in a small
// sample (Go randomizes where map iteration starts), or else the sampled
// entry that is negative and closest to expiry, or else the positive one
// closest to expiry. c.mu must be held.
func (c *Cache) evict(now time.Time) {
	var (
		victim  string
		best    entry
		found   bool
		dropped bool
		seen    int
	)
	for k, e := range c.entries {
		if !now.Before(e.expires) {
			delete(c.entries, k)
			dropped = true
		} else if !found || worse(e, best) {
			victim, best, found = k, e, true
		}
		if seen++; seen >= evictSample {
			break
		}
	}
	if !dropped && found {
		delete(c.entries, victim)
	}
}

// worse reports whether a should be evicted before b.
func worse(a, b entry) bool {
	if (a.t == nil) != (b.t == nil) {
		return a.t == nil
	}
	return a.expires.Before(b.expires)
}

// Invalidate forgets every cached answer for each key: the entry whose hint
// is key, and every found tenant whose ID or Slug is key. So
// Invalidate(t.ID, t.Slug) forgets a tenant however it was named, and also
// the negative entry of a slug that was just created; call it whenever a
// tenant is created or changes status. Lookups in flight when Invalidate is
// called still answer their callers, but their answers are not cached, and
// later callers start a new lookup. Empty keys are ignored.
//
// Invalidate scans the whole cache; it is meant for state changes, not for
// every request.
func (c *Cache) Invalidate(keys ...string) {
	if len(keys) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.calls)
	for _, k := range keys {
		if k != "" {
			delete(c.entries, k)
		}
	}
	for hint, e := range c.entries {
		if e.t == nil {
			continue
		}
		for _, k := range keys {
			if k != "" && (e.t.ID == k || e.t.Slug == k) {
				delete(c.entries, hint)
				break
			}
		}
	}
}

// Len reports how many answers the cache holds, expired ones not yet
// dropped included. It never exceeds the [WithMaxEntries] bound.
func (c *Cache) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}

func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
