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

var (
	_ Lookup = LookupFunc(nil)
	_ Lookup = (*Cache)(nil)
)
