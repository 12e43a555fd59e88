package tenancy_test

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/tenantkit/tenantkit/tenancy"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// registry is an in-memory tenant registry that counts its lookups. It
// matches hints exactly against IDs and slugs.
type registry struct {
	mu      sync.Mutex
	tenants []tenancy.Tenant
	calls   map[string]int
	fail    error // when set, every lookup fails with it
}

func newRegistry(ts ...tenancy.Tenant) *registry {
	return &registry{tenants: ts, calls: make(map[string]int)}
}

func (r *registry) Lookup(_ context.Context, hint string) (tenancy.Tenant, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls[hint]++
	if r.fail != nil {
		return tenancy.Tenant{}, r.fail
	}
	for _, t := range r.tenants {
		if t.ID == hint || t.Slug == hint {
			return t, nil
		}
	}
	return tenancy.Tenant{}, fmt.Errorf("tenant %q: %w", hint, tenancy.ErrUnknownTenant)
}

func (r *registry) set(ts ...tenancy.Tenant) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tenants = ts
}

func (r *registry) setFail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fail = err
}

func (r *registry) count(hint string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls[hint]
}

func (r *registry) total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.calls {
		n += c
	}
	return n
}

var (
	acme    = tenancy.Tenant{ID: "1", Slug: "acme", Status: tenancy.StatusActive}
	globex  = tenancy.Tenant{ID: "2", Slug: "globex", Status: tenancy.StatusActive}
	newco   = tenancy.Tenant{ID: "3", Slug: "newco", Status: tenancy.StatusProvisioning}
	banned  = tenancy.Tenant{ID: "4", Slug: "banned", Status: tenancy.StatusSuspended}
	leaving = tenancy.Tenant{ID: "5", Slug: "leaving", Status: tenancy.StatusDeleting}
	weird   = tenancy.Tenant{ID: "6", Slug: "weird", Status: "archived"}
	blank   = tenancy.Tenant{ID: "7", Slug: "blank"}
)
