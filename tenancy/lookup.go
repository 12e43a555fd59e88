package tenancy

import "context"

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

var (
	_ Lookup       = LookupFunc(nil)
	_ SharedLookup = (*Cache)(nil)
)
