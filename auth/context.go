package auth

import "context"

type claimsKey struct{}

// NewContext returns a copy of ctx carrying c, as [RequireToken] does for
// the requests it lets through.
func NewContext(ctx context.Context, c *Claims) context.Context {
	return context.WithValue(ctx, claimsKey{}, c)
}

// ClaimsFromContext returns the claims stored by [RequireToken] or
// [NewContext], if any.
func ClaimsFromContext(ctx context.Context) (*Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(*Claims)
	return c, ok && c != nil
}
