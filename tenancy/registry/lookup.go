package registry

import (
	"context"
	"errors"
	"fmt"

	"github.com/tenantkit/tenantkit/tenancy"
)

// LookupBy says which field of the records a [Lookup] matches hints
// against.
type LookupBy int

// The ways of matching a hint.
const (
	// ByIDOrSlug matches the ID first, then the slug. Keep IDs and slugs
	// apart (for example numeric IDs, slugs that start with a letter), or
	// a slug equal to another tenant's ID is never found.
	ByIDOrSlug LookupBy = iota
	// ByID matches the ID only.
	ByID
	// BySlug matches the slug only.
	BySlug
)

// Lookup is a [tenancy.Lookup] over a [Store]: it turns a request's hint
// into the tenant whose record it names, whatever its status (the
// [tenancy.Middleware] applies the status rule). A hint no record matches
// is an error wrapping [tenancy.ErrUnknownTenant]. Put it behind a
// [tenancy.Cache], and invalidate the cache on every change
// ([WithOnChange] for this process's changes, [Watch] for the others').
// Lookup is safe for concurrent use.
type Lookup struct {
	s  Store
	by LookupBy
}

var _ tenancy.Lookup = (*Lookup)(nil)

// NewLookup returns a Lookup on s matching hints by. Errors wrap
// [ErrInvalidConfig]: a nil s, an unknown by.
func NewLookup(s Store, by LookupBy) (*Lookup, error) {
	if s == nil {
		return nil, configErrorf("NewLookup: nil Store")
	}
	if by < ByIDOrSlug || by > BySlug {
		return nil, configErrorf("NewLookup: unknown LookupBy %d", by)
	}
	return &Lookup{s: s, by: by}, nil
}

// Lookup implements [tenancy.Lookup]. Errors other than the unknown tenant
// are the Store's: the registry could not answer.
func (l *Lookup) Lookup(ctx context.Context, hint string) (tenancy.Tenant, error) {
	var rec Record
	err := ErrNotFound
	if l.by != BySlug {
		rec, err = l.s.Get(ctx, hint)
	}
	if errors.Is(err, ErrNotFound) && l.by != ByID {
		rec, err = l.s.BySlug(ctx, hint)
	}
	if errors.Is(err, ErrNotFound) {
		return tenancy.Tenant{}, fmt.Errorf("%w: %q", tenancy.ErrUnknownTenant, hint)
	}
	if err != nil {
		return tenancy.Tenant{}, err
	}
	return rec.Tenant(), nil
}
