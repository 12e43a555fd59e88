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

// TestResolverCheck checks that Middleware reports a resolver's
// configuration mistake at start-up with an error wrapping
// ErrInvalidConfig, instead of serving with a resolver that never finds a
// tenant, and that Resolve on such a resolver returns the same error
// rather than panicking.
func TestResolverCheck(t *testing.T) {
	header := tenancy.Header("X-Tenant")
	tests := []struct {
		name    string
		res     tenancy.Resolver
		wantErr string // "" for a valid resolver
	}{
		{"header", header, ""},
		{"header lower case", tenancy.Header("x-tenant"), ""},
		{"header empty", tenancy.Header(""), `tenancy: Header(""): not a valid header name`},
		{"header with space", tenancy.Header("X Tenant"), `tenancy: Header("X Tenant"): not a valid header name`},
		{"header with colon", tenancy.Header("X-Tenant:"), "not a valid header name"},
		{"path value", tenancy.PathValue("tenant"), ""},
		{"path value empty", tenancy.PathValue(""), `tenancy: PathValue(""): not a valid wildcard name`},
		{"path value braces", tenancy.PathValue("{tenant}"), "not a valid wildcard name"},
		{"path value digit first", tenancy.PathValue("1t"), "not a valid wildcard name"},
		{"subdomain", tenancy.Subdomain{"example.com"}, ""},
		{"subdomain upper case, trailing dot", tenancy.Subdomain{"Example.COM."}, ""},
		{"subdomain none", tenancy.Subdomain{}, "tenancy: Subdomain: no base domain"},
		{"subdomain nil", tenancy.Subdomain(nil), "tenancy: Subdomain: no base domain"},
		{"subdomain underscore", tenancy.Subdomain{"ex_ample.org"}, `tenancy: Subdomain: invalid base domain "ex_ample.org"`},
		{"subdomain kelvin sign", tenancy.Subdomain{"example.\u212aom"}, "invalid base domain"},
		{"subdomain bad base that matches", tenancy.Subdomain{"example.com", "example.org "}, `invalid base domain "example.org "`},
		{"chain", tenancy.Chain{header}, ""},
		{"chain empty", tenancy.Chain{}, "tenancy: Chain: no resolver"},
		{"chain nil", tenancy.Chain(nil), "tenancy: Chain: no resolver"},
		{"chain nil element", tenancy.Chain{header, nil}, "tenancy: Chain: resolver 2 is nil"},
		{"chain nil func", tenancy.Chain{tenancy.ResolverFunc(nil)}, "tenancy: Chain: resolver 1 is nil"},
		{"chain bad header", tenancy.Chain{header, tenancy.Header("X Tenant")}, `tenancy: Chain: resolver 2: Header("X Tenant"): not a valid header name`},
		{"agree", tenancy.Agree{header}, ""},
		{"agree empty", tenancy.Agree{}, "tenancy: Agree: no resolver"},
		{"agree nil element", tenancy.Agree{header, nil}, "tenancy: Agree: resolver 2 is nil"},
		{"agree nil func", tenancy.Agree{tenancy.ResolverFunc(nil)}, "tenancy: Agree: resolver 1 is nil"},
		{"agree bad subdomain", tenancy.Agree{tenancy.Subdomain{"a..b"}, tenancy.Chain{}}, `tenancy: Agree: resolver 1: Subdomain: invalid base domain "a..b"`},
		{"nested", tenancy.Agree{tenancy.Subdomain{"example.com"}, tenancy.Chain{header, tenancy.Chain{}}},
			"tenancy: Agree: resolver 2: Chain: resolver 2: Chain: no resolver"},
		{"nil func", tenancy.ResolverFunc(nil), "tenancy: Middleware: nil Resolver"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mw, err := tenancy.Middleware(tt.res, newRegistry(acme))
			if tt.wantErr == "" {
				if err != nil || mw == nil {
					t.Fatalf("Middleware() = %v; want no error", err)
				}
				return
			}
			if !errors.Is(err, tenancy.ErrInvalidConfig) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Middleware() error = %v; want ErrInvalidConfig with %q", err, tt.wantErr)
			}
			// Used without Middleware, the resolver refuses too, and never
			// panics. (On a request that names no tenant, so that every
			// element is reached, see TestResolveStopsBeforeBadElement,
			// and whose host is below the bad base domains, the only ones
			// Subdomain's Resolve checks.)
			refused := false
			for _, host := range []string{"example.org", "acme.ex_ample.org", "acme.example.\u212aom", "acme.example.org ", "x.a..b"} {
				r := newRequest("X-Tenant")
				r.Host = host
				hint, err := tt.res.Resolve(r)
				if errors.Is(err, tenancy.ErrNoTenant) && strings.Contains(tt.wantErr, "invalid base domain") {
					continue // a host below no base domain names no tenant
				}
				if !errors.Is(err, tenancy.ErrInvalidConfig) || hint != "" {
					t.Errorf("Resolve(host %q) = %q, %v; want ErrInvalidConfig", host, hint, err)
				}
				refused = true
			}
			if !refused {
				t.Errorf("no host got ErrInvalidConfig from Resolve")
			}
		})
	}
}

// TestResolveStopsBeforeBadElement checks that Resolve of a Chain reaches
// only what it needs: a bad resolver after the one that finds the tenant
// is not consulted (Middleware refuses the Chain at start-up).
func TestResolveStopsBeforeBadElement(t *testing.T) {
	res := tenancy.Chain{tenancy.Header("X-Tenant"), nil}
	if hint, err := res.Resolve(newRequest("X-Tenant", "acme")); hint != "acme" || err != nil {
		t.Errorf("Resolve() = %q, %v; want acme, nil", hint, err)
	}
	if hint, err := res.Resolve(newRequest("X-Tenant")); !errors.Is(err, tenancy.ErrInvalidConfig) {
		t.Errorf("Resolve(no header) = %q, %v; want ErrInvalidConfig", hint, err)
	}
}

// TestResolverNestedTooDeep checks that a Chain that holds itself is
// refused at start-up rather than recursing forever.
func TestResolverNestedTooDeep(t *testing.T) {
	c := tenancy.Chain{nil}
	c[0] = c
	if _, err := tenancy.Middleware(c, newRegistry(acme)); !errors.Is(err, tenancy.ErrInvalidConfig) || !strings.Contains(err.Error(), "nested more than") {
		t.Errorf("Middleware(self-holding Chain) = %v; want ErrInvalidConfig, nested too deep", err)
	}
}

// TestStaticCheck checks that Middleware refuses a Static lookup that can
// serve nothing, or holds an ID its validator refuses.
func TestStaticCheck(t *testing.T) {
	tests := []struct {
		name    string
		l       tenancy.Static
		opts    []tenancy.Option
		wantErr string
	}{
		{"ok", tenancy.Static{"acme", "globex"}, nil, ""},
		{"empty", tenancy.Static{}, nil, "tenancy: Static: no tenant"},
		{"upper case", tenancy.Static{"acme", "Globex"}, nil, `tenancy: Static: tenant 2 ("Globex") can never be served: hint has a byte other than`},
		{"own validator accepts", tenancy.Static{"Globex"}, []tenancy.Option{tenancy.WithValidator(func(string) error { return nil })}, ""},
		{"own validator refuses", tenancy.Static{"acme"}, []tenancy.Option{tenancy.WithValidator(func(string) error { return errors.New("no") })}, `tenant 1 ("acme") can never be served: no`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tenancy.Middleware(tenancy.Header("X-Tenant"), tt.l, tt.opts...)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Middleware() = %v; want no error", err)
				}
				return
			}
			if !errors.Is(err, tenancy.ErrInvalidConfig) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Middleware() error = %v; want ErrInvalidConfig with %q", err, tt.wantErr)
			}
		})
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
	_, err = tenancy.Middleware(tenancy.Header("X-Tenant"), newRegistry(), nil)
	if !errors.Is(err, tenancy.ErrInvalidConfig) || !strings.Contains(err.Error(), "option 1 is nil") {
		t.Errorf("Middleware(r, l, nil) = %v; want ErrInvalidConfig naming option 1", err)
	}
}

// TestNilFuncOptionsMeanDefault checks that WithErrorHandler(nil) and
// WithValidator(nil) give the defaults: DefaultErrorHandler's 400 and
// ValidHint's rule.
func TestNilFuncOptionsMeanDefault(t *testing.T) {
	mw, err := tenancy.Middleware(tenancy.Header("X-Tenant"), newRegistry(acme),
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
			h := newMiddleware(t, tenancy.Header("X-Tenant"), tt.l)(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
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
