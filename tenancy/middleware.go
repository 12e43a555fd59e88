package tenancy

import (
	"errors"
	"fmt"
	"net/http"
	"reflect"
)

// isNil reports whether v is nil, or an interface holding a nil pointer,
// map, slice, func or chan: a value whose methods would panic or do
// nothing useful. It is called at start-up only.
func isNil(v any) bool {
	if v == nil {
		return true
	}
	switch rv := reflect.ValueOf(v); rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Func, reflect.Chan:
		return rv.IsNil()
	}
	return false
}

// Middleware returns HTTP middleware that finds the tenant of each request
// and serves it only if it may be served. For each request it
//
//  1. resolves the hint with r (no hint: [ErrNoTenant]);
//  2. checks the hint with the validator ([WithValidator], default
//     [ValidHint]), so garbage never reaches the registry (refused: an error
//     wrapping [ErrInvalidTenant]);
//  3. looks the hint up with l (none: the Lookup's error, wrapping
//     [ErrUnknownTenant]);
//  4. applies [CheckStatus]: only [StatusActive] tenants are served, and a
//     tenant the Lookup returned without an ID or a Status is an
//     [*IncompleteTenantError] (a bug in the registry, answered 500 by
//     default, whose text says which field to set);
//  5. calls the next handler with the tenant in the request context, where
//     [FromContext] finds it.
//
// When a step fails, the error handler ([WithErrorHandler], default
// [DefaultErrorHandler]) writes the response and the next handler is not
// called. There is no default tenant: a request that names none is refused.
//
// When l implements [SharedLookup], as [*Cache] does, a request for a
// cached tenant costs two allocations (the context value and the request
// copy of [http.Request.WithContext]); any other Lookup costs one more, to
// box the tenant.
//
// Middleware returns an error wrapping [ErrInvalidConfig] if r or l is nil,
// r is (or holds) a resolver of this package with a bad configuration (a
// [Header] that is not a header name, an empty [Chain]...: see each
// type), l is a [Static] with an ID the validator refuses, an option is
// nil or an option is invalid. The returned function must be given a
// non-nil handler.
func Middleware(r Resolver, l Lookup, opts ...Option) (func(http.Handler) http.Handler, error) {
	if isNil(r) {
		return nil, configErrorf("tenancy: Middleware: nil Resolver")
	}
	if err := checkResolver(r); err != nil {
		return nil, err
	}
	if isNil(l) {
		return nil, configErrorf("tenancy: Middleware: nil Lookup")
	}
	shared, _ := l.(SharedLookup)
	cfg := config{validate: ValidHint, onError: DefaultErrorHandler}
	if err := configure("Middleware", opts, func(o Option) error { return o.apply(&cfg) }); err != nil {
		return nil, err
	}
	if s, ok := l.(Static); ok {
		if err := s.checkWith(cfg.validate); err != nil {
			return nil, err
		}
	}
	m := &middleware{resolver: r, lookup: l, shared: shared, cfg: cfg}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			t, err := m.tenant(req)
			if err != nil {
				m.cfg.onError(w, req, err)
				return
			}
			next.ServeHTTP(w, req.WithContext(newContextPtr(req.Context(), t)))
		})
	}, nil
}

type middleware struct {
	resolver Resolver
	lookup   Lookup
	shared   SharedLookup // lookup, when it implements SharedLookup
	cfg      config
}

// tenant runs steps 1 to 4 of Middleware for req.
func (m *middleware) tenant(req *http.Request) (*Tenant, error) {
	hint, err := m.resolver.Resolve(req)
	if err != nil {
		return nil, err
	}
	if hint == "" {
		return nil, ErrNoTenant
	}
	if err := m.cfg.validate(hint); err != nil {
		if !errors.Is(err, ErrInvalidTenant) {
			err = fmt.Errorf("%w: %w", ErrInvalidTenant, err)
		}
		return nil, err
	}
	var t *Tenant
	if m.shared != nil {
		t, err = m.shared.LookupShared(req.Context(), hint)
		if err == nil && t == nil {
			err = fmt.Errorf("tenancy: shared lookup of %q returned no tenant", hint)
		}
	} else {
		var v Tenant
		v, err = m.lookup.Lookup(req.Context(), hint)
		t = &v
	}
	if err != nil {
		return nil, err
	}
	if t.Status != StatusActive {
		if t.Status == "" {
			return nil, &IncompleteTenantError{Hint: hint, Tenant: *t, Field: "Status"}
		}
		return nil, CheckStatus(*t)
	}
	if t.ID == "" {
		return nil, &IncompleteTenantError{Hint: hint, Tenant: *t, Field: "ID"}
	}
	return t, nil
}

// DefaultErrorHandler is the error handler [Middleware] uses unless
// [WithErrorHandler] sets another. It answers with the status and message
// of [HTTPStatus], as a short plain-text response:
//
//   - 400 Bad Request for [ErrNoTenant], [ErrInvalidTenant] and
//     [ErrConflictingTenant];
//   - 404 Not Found for [ErrUnknownTenant];
//   - 403 Forbidden for [ErrTenantSuspended];
//   - 503 Service Unavailable with Retry-After: 5 for [ErrTenantNotReady];
//   - 500 Internal Server Error for [ErrIncompleteTenant]: the registry
//     returned a tenant without an ID or a Status;
//   - 503 Service Unavailable, "tenant lookup unavailable", for anything
//     else: the resolver or the lookup backend failed.
//
// The body is a fixed sentence per case: it never echoes err, whose text
// may hold backend details. It logs nothing; [ProblemHandler] answers the
// same statuses as application/problem+json and logs the 5xx ones.
func DefaultErrorHandler(w http.ResponseWriter, r *http.Request, err error) {
	code, msg := HTTPStatus(err)
	if code == 0 {
		code, msg = lookupFailedCode, lookupFailedMessage
	}
	setHeaders(w.Header(), err)
	http.Error(w, msg, code)
}
