package tenancy_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tenantkit/tenantkit/tenancy"
)

// TestResolverConstructors checks that every resolver constructor reports
// a bad argument at start-up with an error wrapping ErrInvalidConfig,
// instead of returning a resolver that never finds a tenant.
func TestResolverConstructors(t *testing.T) {
	header := must(tenancy.Header("X-Tenant"))
	tests := []struct {
		name string
		new  func() (tenancy.Resolver, error)
		ok   bool
	}{
		{"header", func() (tenancy.Resolver, error) { return tenancy.Header("X-Tenant") }, true},
		{"header lower case", func() (tenancy.Resolver, error) { return tenancy.Header("x-tenant") }, true},
		{"header empty", func() (tenancy.Resolver, error) { return tenancy.Header("") }, false},
		{"header with space", func() (tenancy.Resolver, error) { return tenancy.Header("X Tenant") }, false},
		{"header with colon", func() (tenancy.Resolver, error) { return tenancy.Header("X-Tenant:") }, false},
		{"path value", func() (tenancy.Resolver, error) { return tenancy.PathValue("tenant") }, true},
		{"path value empty", func() (tenancy.Resolver, error) { return tenancy.PathValue("") }, false},
		{"path value braces", func() (tenancy.Resolver, error) { return tenancy.PathValue("{tenant}") }, false},
		{"path value digit first", func() (tenancy.Resolver, error) { return tenancy.PathValue("1t") }, false},
		{"subdomain", func() (tenancy.Resolver, error) { return tenancy.Subdomain("example.com") }, true},
		{"subdomain none", func() (tenancy.Resolver, error) { return tenancy.Subdomain() }, false},
		{"subdomain underscore", func() (tenancy.Resolver, error) { return tenancy.Subdomain("ex_ample.com") }, false},
		{"chain", func() (tenancy.Resolver, error) { return tenancy.Chain(header) }, true},
		{"chain empty", func() (tenancy.Resolver, error) { return tenancy.Chain() }, false},
		{"chain nil element", func() (tenancy.Resolver, error) { return tenancy.Chain(header, nil) }, false},
		{"chain nil func", func() (tenancy.Resolver, error) { return tenancy.Chain(tenancy.ResolverFunc(nil)) }, false},
		{"agree", func() (tenancy.Resolver, error) { return tenancy.Agree(header) }, true},
		{"agree empty", func() (tenancy.Resolver, error) { return tenancy.Agree() }, false},
		{"agree nil element", func() (tenancy.Resolver, error) { return tenancy.Agree(header, nil) }, false},
		{"agree nil func", func() (tenancy.Resolver, error) { return tenancy.Agree(tenancy.ResolverFunc(nil)) }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := tt.new()
			if got := err == nil; got != tt.ok || (tt.ok && res == nil) {
				t.Fatalf("got %v, %v; want ok=%v", res, err, tt.ok)
			}
			if err != nil && !errors.Is(err, tenancy.ErrInvalidConfig) {
				t.Errorf("error %v does not wrap ErrInvalidConfig", err)
			}
		})
	}
	if _, err := tenancy.Chain(header, nil); err == nil || !strings.Contains(err.Error(), "resolver 2 is nil") {
		t.Errorf("Chain(header, nil) = %v; want an error naming resolver 2", err)
	}
	if _, err := tenancy.Agree(header, nil); err == nil || !strings.Contains(err.Error(), "tenancy: Agree: resolver 2 is nil") {
		t.Errorf("Agree(header, nil) = %v; want an error naming Agree and resolver 2", err)
	}
}

// TestNilOptionNamesPosition checks the one rule for nil options: an error
// wrapping ErrInvalidConfig that names the position, from both
// constructors that take options.
func TestNilOptionNamesPosition(t *testing.T) {
	_, err := tenancy.NewCache(newRegistry(), tenancy.WithTTL(0), nil)
	if !errors.Is(err, tenancy.ErrInvalidConfig) || !strings.Contains(err.Error(), "option 2 is nil") {
		t.Errorf("NewCache(l, WithTTL(0), nil) = %v; want ErrInvalidConfig naming option 2", err)
	}
	_, err = tenancy.Middleware(must(tenancy.Header("X-Tenant")), newRegistry(), nil)
	if !errors.Is(err, tenancy.ErrInvalidConfig) || !strings.Contains(err.Error(), "option 1 is nil") {
		t.Errorf("Middleware(r, l, nil) = %v; want ErrInvalidConfig naming option 1", err)
	}
}

// TestNilFuncOptionsMeanDefault checks that WithErrorHandler(nil) and
// WithValidator(nil) give the defaults: DefaultErrorHandler's 400 and
// ValidHint's rule.
func TestNilFuncOptionsMeanDefault(t *testing.T) {
	mw, err := tenancy.Middleware(must(tenancy.Header("X-Tenant")), newRegistry(acme),
		tenancy.WithErrorHandler(func(w http.ResponseWriter, _ *http.Request, _ error) { w.WriteHeader(http.StatusTeapot) }),
		tenancy.WithErrorHandler(nil), tenancy.WithValidator(func(string) error { return errors.New("no") }),
		tenancy.WithValidator(nil))
	if err != nil {
		t.Fatal(err)
	}
	h := mw(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	for hint, want := range map[string]int{"acme": http.StatusOK, "a.b": http.StatusBadRequest} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, newRequest("X-Tenant", hint))
		if rec.Code != want {
			t.Errorf("X-Tenant %q: status %d; want %d", hint, rec.Code, want)
		}
	}
}

// sharedLookup is a Lookup of the app's own that keeps its tenants and
// implements SharedLookup.
type sharedLookup struct{ t *tenancy.Tenant }

func (s sharedLookup) Lookup(ctx context.Context, hint string) (tenancy.Tenant, error) {
	t, err := s.LookupShared(ctx, hint)
	if err != nil {
		return tenancy.Tenant{}, err
	}
	return *t, nil
}

func (s sharedLookup) LookupShared(_ context.Context, hint string) (*tenancy.Tenant, error) {
	if hint != s.t.Slug {
		return nil, tenancy.ErrUnknownTenant
	}
	return s.t, nil
}

// TestSharedLookupFastPath checks that any Lookup implementing
// SharedLookup, not only *Cache, gets the two-allocation path, and that a
// Lookup without it costs one allocation more.
func TestSharedLookupFastPath(t *testing.T) {
	shared := sharedLookup{t: &acme}
	for _, tt := range []struct {
		name string
		l    tenancy.Lookup
		want float64
	}{
		{"shared", shared, 2},
		{"plain", tenancy.LookupFunc(shared.Lookup), 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var got tenancy.Tenant
			h := newMiddleware(t, must(tenancy.Header("X-Tenant")), tt.l)(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
				got, _ = tenancy.FromContext(r.Context())
			}))
			r := newRequest("X-Tenant", "acme")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if got != acme {
				t.Fatalf("handler got %+v; want %+v", got, acme)
			}
			if n := testing.AllocsPerRun(100, func() { h.ServeHTTP(w, r) }); n != tt.want {
				t.Errorf("allocations per request = %v; want %v", n, tt.want)
			}
		})
	}
}
