package tenancy

import (
	"context"
	"net/http"
)

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

// IDFunc returns a function that gives prefix followed by the ID of the
// tenant of a request, as [Middleware] stored it in the request context.
// It names the request's tenant for code keyed by a string, such as the
// token directories of the auth package's Keyring, whose VerifierFunc it
// plugs into:
//
//	requireToken, err := auth.RequireTokenFunc(ring.VerifierFunc(tenancy.IDFunc("tenant:")))
//
// For a request without a tenant in its context the function returns an
// error wrapping [ErrInvalidConfig]: the handler was mounted without
// Middleware in front of it, a wiring mistake, not a request that named
// no tenant ([HTTPStatus] leaves it unclassified, so that it is not
// answered 400; the auth package's token middleware answers it 500). The function costs one allocation
// (the concatenation) unless prefix is empty, and is safe for concurrent
// use.
func IDFunc(prefix string) func(*http.Request) (string, error) {
	return func(r *http.Request) (string, error) {
		t, ok := FromContext(r.Context())
		if !ok {
			return "", configErrorf("tenancy: IDFunc(%q): no tenant in the request context: is the handler behind tenancy.Middleware?", prefix)
		}
		if prefix == "" {
			return t.ID, nil
		}
		return prefix + t.ID, nil
	}
}
