package tenancy

import (
	"context"
	"strings"
)

// Lookup turns a validated hint into a [Tenant], usually by asking the app's
// tenant registry. When no tenant matches it returns an error wrapping
// [ErrUnknownTenant]; any other error means the registry could not answer.
// It returns tenants whatever their [Status]: [Middleware] applies the
// status rule.
//
// Lookup must match hints exactly (never parse "01" or "1_0" as the number
// 1) and be safe for concurrent use. Put a [Cache] in front of it.
type Lookup interface {
	Lookup(ctx context.Context, hint string) (Tenant, error)
}

// LookupFunc adapts an ordinary function to a [Lookup].
type LookupFunc func(ctx context.Context, hint string) (Tenant, error)

// Lookup returns f(ctx, hint).
func (f LookupFunc) Lookup(ctx context.Context, hint string) (Tenant, error) {
	return f(ctx, hint)
}

// SharedLookup is an optional interface of a [Lookup] that keeps its
// tenants in memory, such as [Cache]: LookupShared returns a pointer to the
// kept tenant instead of a copy, and [Middleware] stores that pointer in the
// request context as it is, saving the allocation that boxing a copy costs
// on every request. The tenant it points to must never be modified
// afterwards (replace the pointer instead), and the pointer must be non-nil
// when the error is nil. Errors follow the rules of [Lookup].
type SharedLookup interface {
	Lookup
	LookupShared(ctx context.Context, hint string) (*Tenant, error)
}

// Static is a [Lookup] of a fixed set of tenants, for tests and for
// deployments whose tenants are known when the process starts:
// Static{"acme", "globex"} serves acme and globex, each [StatusActive],
// each ID its own slug, and nothing else. A hint that is not in the set
// gets [ErrUnknownTenant]. Hints are matched exactly, by a linear scan,
// which suits a few dozen tenants; put a registry behind a [Cache] for
// more.
//
// A Static is a value and refuses nothing when it is made. [Middleware]
// checks it when it is called, with the validator it is given: an empty
// Static, or an ID the validator refuses (one that could never be
// served, such as "Acme" under [ValidHint]), is an error wrapping
// [ErrInvalidConfig] that names the ID. Lookup itself never fails for
// its configuration. A Static must not be modified while it is in use.
type Static []string

// Lookup returns the tenant whose ID is hint, or [ErrUnknownTenant].
func (s Static) Lookup(_ context.Context, hint string) (Tenant, error) {
	for _, id := range s {
		if id == hint {
			return Tenant{ID: id, Slug: id, Status: StatusActive}, nil
		}
	}
	return Tenant{}, ErrUnknownTenant
}

// checkWith refuses an empty set, and IDs validate refuses.
func (s Static) checkWith(validate func(string) error) error {
	if len(s) == 0 {
		return configErrorf("tenancy: Static: no tenant")
	}
	for i, id := range s {
		if err := validate(id); err != nil {
			return configErrorf("tenancy: Static: tenant %d (%q) can never be served: %s", i+1, id, errText(err))
		}
	}
	return nil
}

// errText is err's text without the prefix of ErrInvalidTenant's errors,
// to quote it in another error of this package.
func errText(err error) string {
	return strings.TrimPrefix(err.Error(), "tenancy: invalid tenant: ")
}

var (
	_ Lookup       = LookupFunc(nil)
	_ Lookup       = Static(nil)
	_ SharedLookup = (*Cache)(nil)
)
