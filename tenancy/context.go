package tenancy

import "context"

// ctxKey is the private context key under which the tenant is stored. The
// value is always a non-nil *Tenant that nobody mutates: [Middleware] stores
// the pointer its [Cache] holds, so serving a request copies no Tenant and
// boxes nothing.
type ctxKey struct{}

// NewContext returns a copy of ctx that carries t. [FromContext] returns it.
func NewContext(ctx context.Context, t Tenant) context.Context {
	return context.WithValue(ctx, ctxKey{}, &t)
}

// newContextPtr stores t, which must be non-nil and never mutated again.
func newContextPtr(ctx context.Context, t *Tenant) context.Context {
	return context.WithValue(ctx, ctxKey{}, t)
}

// FromContext returns the tenant stored in ctx by [Middleware] or
// [NewContext], and whether there was one. It never panics: a handler
// reached without the middleware gets false, and decides itself whether
// that is a client error or a wiring bug.
func FromContext(ctx context.Context) (Tenant, bool) {
	if ctx == nil {
		return Tenant{}, false
	}
	t, ok := ctx.Value(ctxKey{}).(*Tenant)
	if !ok || t == nil {
		return Tenant{}, false
	}
	return *t, true
}
