package auth

import "context"

// claimsKey is the private context key under which the claims are stored.
// The value is always a non-nil *Claims that nobody modifies:
// [RequireToken] stores the pointer its [Verifier]'s cache holds, so
// serving a request with a cached token copies and boxes nothing.
type claimsKey struct{}

// NewContext returns a copy of ctx that carries c, as [RequireToken] does
// for the requests it lets through. [FromContext] returns it.
func NewContext(ctx context.Context, c Claims) context.Context {
	return context.WithValue(ctx, claimsKey{}, &c)
}

// newContextPtr stores c, which must be non-nil and never modified again.
func newContextPtr(ctx context.Context, c *Claims) context.Context {
	return context.WithValue(ctx, claimsKey{}, c)
}

// FromContext returns the claims stored in ctx by [RequireToken] or
// [NewContext], and whether there were any. It never panics: a handler
// reached without the middleware gets false.
func FromContext(ctx context.Context) (Claims, bool) {
	if ctx == nil {
		return Claims{}, false
	}
	c, ok := ctx.Value(claimsKey{}).(*Claims)
	if !ok || c == nil {
		return Claims{}, false
	}
	return *c, true
}
