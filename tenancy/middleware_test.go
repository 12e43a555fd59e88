package tenancy_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tenantkit/tenantkit/tenancy"
)

// echoTenant writes the ID and slug of the request's tenant.
func echoTenant() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t, ok := tenancy.FromContext(r.Context())
		if !ok {
			http.Error(w, "no tenant in context", http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "%s %s", t.ID, t.Slug)
	})
}

func newMiddleware(t *testing.T, r tenancy.Resolver, l tenancy.Lookup, opts ...tenancy.Option) func(http.Handler) http.Handler {
	t.Helper()
	mw, err := tenancy.Middleware(r, l, opts...)
	if err != nil {
		t.Fatalf("Middleware: %v", err)
	}
	return mw
}

func TestMiddleware(t *testing.T) {
	secret := errors.New("pq: connection refused at 10.0.0.7:5432")
	tests := []struct {
		name       string
		header     []string
		fail       error
		wantCode   int
		wantBody   string
		wantRetry  string
		wantLookup bool
	}{
		{"active by slug", []string{"acme"}, nil, http.StatusOK, "1 acme", "", true},
		{"active by id", []string{"1"}, nil, http.StatusOK, "1 acme", "", true},
		{"no header", nil, nil, http.StatusBadRequest, "missing tenant\n", "", false},
		{"empty header", []string{""}, nil, http.StatusBadRequest, "invalid tenant\n", "", false},
		{"two headers", []string{"1", "2"}, nil, http.StatusBadRequest, "invalid tenant\n", "", false},
		{"1.0", []string{"1.0"}, nil, http.StatusBadRequest, "invalid tenant\n", "", false},
		{"+1", []string{"+1"}, nil, http.StatusBadRequest, "invalid tenant\n", "", false},
		{"-1", []string{"-1"}, nil, http.StatusBadRequest, "invalid tenant\n", "", false},
		{"leading space", []string{" 1"}, nil, http.StatusBadRequest, "invalid tenant\n", "", false},
		{"inner space", []string{"a b"}, nil, http.StatusBadRequest, "invalid tenant\n", "", false},
		{"traversal", []string{"../x"}, nil, http.StatusBadRequest, "invalid tenant\n", "", false},
		{"unicode", []string{"ácme"}, nil, http.StatusBadRequest, "invalid tenant\n", "", false},
		{"upper case", []string{"ACME"}, nil, http.StatusBadRequest, "invalid tenant\n", "", false},
		{"very long", []string{strings.Repeat("a", 64)}, nil, http.StatusBadRequest, "invalid tenant\n", "", false},
		{"huge", []string{strings.Repeat("a", 1<<14)}, nil, http.StatusBadRequest, "invalid tenant\n", "", false},
		{"control char", []string{"a\x01"}, nil, http.StatusBadRequest, "invalid tenant\n", "", false},
		// "01" is a valid DNS label, so it is looked up, but as "01": it is not tenant 1.
		{"leading zero is not id 1", []string{"01"}, nil, http.StatusNotFound, "unknown tenant\n", "", true},
		{"unknown", []string{"nope"}, nil, http.StatusNotFound, "unknown tenant\n", "", true},
		{"provisioning", []string{"newco"}, nil, http.StatusServiceUnavailable, "tenant not ready\n", "5", true},
		{"suspended", []string{"banned"}, nil, http.StatusForbidden, "tenant suspended\n", "", true},
		{"deleting looks unknown", []string{"leaving"}, nil, http.StatusNotFound, "unknown tenant\n", "", true},
		{"unknown status looks unknown", []string{"weird"}, nil, http.StatusNotFound, "unknown tenant\n", "", true},
		{"empty status is a registry bug", []string{"blank"}, nil, http.StatusInternalServerError, "tenant registry error\n", "", true},
		{"backend failure", []string{"acme"}, secret, http.StatusServiceUnavailable, "tenant lookup unavailable\n", "", true},
	}
	for _, withCache := range []bool{true, false} {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("cache=%v/%s", withCache, tt.name), func(t *testing.T) {
				reg := newRegistry(acme, newco, banned, leaving, weird, blank)
				reg.setFail(tt.fail)
				var l tenancy.Lookup = reg
				if withCache {
					l = newTestCache(t, reg)
				}
				h := newMiddleware(t, tenancy.Header("X-Tenant"), l)(echoTenant())
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, newRequest("X-Tenant", tt.header...))
				body, _ := io.ReadAll(rec.Body)
				if rec.Code != tt.wantCode || string(body) != tt.wantBody {
					t.Errorf("response = %d %q; want %d %q", rec.Code, body, tt.wantCode, tt.wantBody)
				}
				if got := rec.Header().Get("Retry-After"); got != tt.wantRetry {
					t.Errorf("Retry-After = %q; want %q", got, tt.wantRetry)
				}
				if got := reg.total() > 0; got != tt.wantLookup {
					t.Errorf("registry consulted = %v; want %v", got, tt.wantLookup)
				}
			})
		}
	}
}

// TestMiddlewareErrors checks that the error handler gets errors that
// errors.Is can classify, and that the next handler is not called.
func TestMiddlewareErrors(t *testing.T) {
	backend := errors.New("registry down")
	notWrapping := errors.New("not a valid id")
	tests := []struct {
		name      string
		header    []string
		validator func(string) error
		fail      error
		want      error
	}{
		{"no tenant", nil, nil, nil, tenancy.ErrNoTenant},
		{"invalid by resolver", []string{" acme"}, nil, nil, tenancy.ErrInvalidTenant},
		{"invalid by default validator", []string{"a.b"}, nil, nil, tenancy.ErrInvalidTenant},
		{"custom validator error is wrapped", []string{"acme"}, func(string) error { return notWrapping }, nil, tenancy.ErrInvalidTenant},
		{"custom validator error stays inspectable", []string{"acme"}, func(string) error { return notWrapping }, nil, notWrapping},
		{"unknown", []string{"nope"}, nil, nil, tenancy.ErrUnknownTenant},
		{"not ready", []string{"newco"}, nil, nil, tenancy.ErrTenantNotReady},
		{"suspended", []string{"banned"}, nil, nil, tenancy.ErrTenantSuspended},
		{"deleting", []string{"leaving"}, nil, nil, tenancy.ErrUnknownTenant},
		{"backend", []string{"acme"}, nil, backend, backend},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := newRegistry(acme, newco, banned, leaving)
			reg.setFail(tt.fail)
			var got error
			opts := []tenancy.Option{tenancy.WithErrorHandler(func(w http.ResponseWriter, r *http.Request, err error) {
				got = err
				w.WriteHeader(http.StatusTeapot)
			})}
			if tt.validator != nil {
				opts = append(opts, tenancy.WithValidator(tt.validator))
			}
			next := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { t.Error("next handler called") })
			h := newMiddleware(t, tenancy.Header("X-Tenant"), newTestCache(t, reg), opts...)(next)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, newRequest("X-Tenant", tt.header...))
			if !errors.Is(got, tt.want) || rec.Code != http.StatusTeapot {
				t.Errorf("error handler got %v (status %d); want an error matching %v", got, rec.Code, tt.want)
			}
		})
	}
}

func TestMiddlewareCustomValidator(t *testing.T) {
	// A stricter rule: an ID of digits without a leading zero, or a slug.
	strict := func(hint string) error {
		if err := tenancy.ValidHint(hint); err != nil {
			return err
		}
		if hint[0] == '0' {
			return fmt.Errorf("%w: leading zero", tenancy.ErrInvalidTenant)
		}
		return nil
	}
	reg := newRegistry(acme)
	h := newMiddleware(t, tenancy.Header("X-Tenant"), reg, tenancy.WithValidator(strict))(echoTenant())
	for _, tt := range []struct {
		hint string
		want int
	}{{"1", http.StatusOK}, {"01", http.StatusBadRequest}, {"acme", http.StatusOK}, {"a.b", http.StatusBadRequest}} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, newRequest("X-Tenant", tt.hint))
		if rec.Code != tt.want {
			t.Errorf("X-Tenant %q: status %d; want %d", tt.hint, rec.Code, tt.want)
		}
	}
	if n := reg.count("01"); n != 0 {
		t.Errorf("registry asked for %q %d times; want 0", "01", n)
	}
}

func TestMiddlewareResolvers(t *testing.T) {
	sub := tenancy.Subdomain{"example.com"}
	boom := errors.New("resolver bug")
	reg := newRegistry(acme, globex)
	tests := []struct {
		name     string
		resolver tenancy.Resolver
		host     string
		header   []string
		wantCode int
		wantBody string
	}{
		{"subdomain", sub, "acme.example.com", nil, http.StatusOK, "1 acme"},
		{"subdomain upper case", sub, "GLOBEX.example.com:8443", nil, http.StatusOK, "2 globex"},
		{"subdomain none", sub, "example.com", nil, http.StatusBadRequest, "missing tenant\n"},
		{"subdomain nested", sub, "a.acme.example.com", nil, http.StatusBadRequest, "invalid tenant\n"},
		{"chain header first", tenancy.Chain{tenancy.Header("X-Tenant"), sub}, "acme.example.com", []string{"globex"}, http.StatusOK, "2 globex"},
		{"chain falls back", tenancy.Chain{tenancy.Header("X-Tenant"), sub}, "acme.example.com", nil, http.StatusOK, "1 acme"},
		{"empty hint without error", tenancy.ResolverFunc(func(*http.Request) (string, error) { return "", nil }), "", nil, http.StatusBadRequest, "missing tenant\n"},
		{"resolver failure is not echoed", tenancy.ResolverFunc(func(*http.Request) (string, error) { return "", boom }), "", nil, http.StatusServiceUnavailable, "tenant lookup unavailable\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newMiddleware(t, tt.resolver, newTestCache(t, reg))(echoTenant())
			r := newRequest("X-Tenant", tt.header...)
			r.Host = tt.host
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			if rec.Code != tt.wantCode || rec.Body.String() != tt.wantBody {
				t.Errorf("response = %d %q; want %d %q", rec.Code, rec.Body.String(), tt.wantCode, tt.wantBody)
			}
		})
	}
}

// TestMiddlewareAgree checks that a request whose subdomain and header
// name different tenants is refused with 400, and never looked up.
func TestMiddlewareAgree(t *testing.T) {
	reg := newRegistry(acme, globex)
	res := tenancy.Agree{tenancy.Subdomain{"example.com"}, tenancy.Header("X-Tenant")}
	var gotErr error
	h := newMiddleware(t, res, reg, tenancy.WithErrorHandler(func(w http.ResponseWriter, r *http.Request, err error) {
		gotErr = err
		tenancy.DefaultErrorHandler(w, r, err)
	}))(echoTenant())
	for _, tt := range []struct {
		host, header string
		wantCode     int
		wantBody     string
		wantErr      error
	}{
		{"acme.example.com", "acme", http.StatusOK, "1 acme", nil},
		{"acme.example.com", "", http.StatusOK, "1 acme", nil},
		{"example.com", "globex", http.StatusOK, "2 globex", nil},
		{"acme.example.com", "globex", http.StatusBadRequest, "conflicting tenants\n", tenancy.ErrConflictingTenant},
	} {
		reg.calls = map[string]int{}
		gotErr = nil
		r := newRequest("X-Tenant")
		if tt.header != "" {
			r.Header.Set("X-Tenant", tt.header)
		}
		r.Host = tt.host
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if rec.Code != tt.wantCode || rec.Body.String() != tt.wantBody || !errors.Is(gotErr, tt.wantErr) {
			t.Errorf("%s + X-Tenant %q: %d %q (%v); want %d %q (%v)", tt.host, tt.header, rec.Code, rec.Body, gotErr, tt.wantCode, tt.wantBody, tt.wantErr)
		}
		if tt.wantErr != nil && reg.total() != 0 {
			t.Errorf("%s + X-Tenant %q: registry consulted %d times; want 0", tt.host, tt.header, reg.total())
		}
	}
}

func TestMiddlewarePathValue(t *testing.T) {
	reg := newRegistry(acme)
	mw := newMiddleware(t, tenancy.PathValue("tenant"), newTestCache(t, reg))
	mux := http.NewServeMux()
	mux.Handle("GET /t/{tenant}/me", mw(echoTenant()))
	for _, tt := range []struct {
		path string
		want int
	}{{"/t/acme/me", http.StatusOK}, {"/t/1/me", http.StatusOK}, {"/t/%2E%2E/me", http.StatusBadRequest}, {"/t/nope/me", http.StatusNotFound}} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tt.path, nil))
		if rec.Code != tt.want {
			t.Errorf("GET %s: status %d; want %d", tt.path, rec.Code, tt.want)
		}
	}
}

func TestMiddlewareEmptyID(t *testing.T) {
	l := tenancy.LookupFunc(func(context.Context, string) (tenancy.Tenant, error) {
		return tenancy.Tenant{Slug: "acme", Status: tenancy.StatusActive}, nil
	})
	h := newMiddleware(t, tenancy.Header("X-Tenant"), l)(echoTenant())
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, newRequest("X-Tenant", "acme"))
	if rec.Code != http.StatusInternalServerError {
		t.Errorf("tenant without ID: status %d; want %d", rec.Code, http.StatusInternalServerError)
	}
}

// TestMiddlewareIncompleteTenant checks that a registry that forgets a
// field gets an error that says which, for the log, and never a 404 or
// the next handler.
func TestMiddlewareIncompleteTenant(t *testing.T) {
	tests := []struct {
		name      string
		tenant    tenancy.Tenant
		wantField string
		wantText  string
	}{
		{"no status", tenancy.Tenant{ID: "7", Slug: "blank"}, "Status",
			`tenancy: lookup of "blank" returned tenant "7" (slug "blank") with an empty Status: the Lookup must set Tenant.Status (active, provisioning, suspended or deleting)`},
		{"no ID", tenancy.Tenant{Slug: "blank", Status: tenancy.StatusActive}, "ID",
			`tenancy: lookup of "blank" returned tenant "" (slug "blank") with an empty ID: the Lookup must set Tenant.ID`},
		{"nothing", tenancy.Tenant{}, "Status", ""},
	}
	for _, withCache := range []bool{false, true} {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("cache=%v/%s", withCache, tt.name), func(t *testing.T) {
				var l tenancy.Lookup = tenancy.LookupFunc(func(context.Context, string) (tenancy.Tenant, error) { return tt.tenant, nil })
				if withCache {
					l = newTestCache(t, l)
				}
				var got error
				mw := newMiddleware(t, tenancy.Header("X-Tenant"), l, tenancy.WithErrorHandler(func(w http.ResponseWriter, r *http.Request, err error) {
					got = err
					tenancy.DefaultErrorHandler(w, r, err)
				}))
				rec := httptest.NewRecorder()
				mw(echoTenant()).ServeHTTP(rec, newRequest("X-Tenant", "blank"))
				if rec.Code != http.StatusInternalServerError {
					t.Errorf("status %d; want 500", rec.Code)
				}
				var ie *tenancy.IncompleteTenantError
				if !errors.As(got, &ie) || !errors.Is(got, tenancy.ErrIncompleteTenant) {
					t.Fatalf("error = %v; want an *IncompleteTenantError", got)
				}
				if errors.Is(got, tenancy.ErrUnknownTenant) {
					t.Errorf("error %v matches ErrUnknownTenant; a registry bug is not an unknown tenant", got)
				}
				if ie.Hint != "blank" || ie.Field != tt.wantField || ie.Tenant != tt.tenant {
					t.Errorf("error = %+v; want hint %q, field %q, tenant %+v", ie, "blank", tt.wantField, tt.tenant)
				}
				if tt.wantText != "" && got.Error() != tt.wantText {
					t.Errorf("Error() = %s\nwant      %s", got, tt.wantText)
				}
			})
		}
	}
}

func TestMiddlewareContextIsolation(t *testing.T) {
	reg := newRegistry(acme, globex)
	h := newMiddleware(t, tenancy.Header("X-Tenant"), newTestCache(t, reg))(echoTenant())
	// The same cached tenant is served many times; no handler sees another's.
	for i := range 50 {
		hint, want := "acme", "1 acme"
		if i%2 == 1 {
			hint, want = "globex", "2 globex"
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, newRequest("X-Tenant", hint))
		if rec.Body.String() != want {
			t.Fatalf("request %d for %q: body %q; want %q", i, hint, rec.Body.String(), want)
		}
	}
}

func TestMiddlewareConfig(t *testing.T) {
	reg := newRegistry()
	var nilCache *tenancy.Cache
	tests := []struct {
		name string
		r    tenancy.Resolver
		l    tenancy.Lookup
		opts []tenancy.Option
		ok   bool
	}{
		{"defaults", tenancy.Header("X-Tenant"), reg, nil, true},
		{"nil option", tenancy.Header("X-Tenant"), reg, []tenancy.Option{tenancy.WithValidator(tenancy.ValidHint), nil}, false},
		{"nil resolver", nil, reg, nil, false},
		{"nil lookup", tenancy.Header("X-Tenant"), nil, nil, false},
		{"nil cache", tenancy.Header("X-Tenant"), nilCache, nil, false},
		{"nil validator means the default", tenancy.Header("X-Tenant"), reg, []tenancy.Option{tenancy.WithValidator(nil)}, true},
		{"nil error handler means the default", tenancy.Header("X-Tenant"), reg, []tenancy.Option{tenancy.WithErrorHandler(nil)}, true},
		{"nil resolver func", tenancy.ResolverFunc(nil), reg, nil, false},
		{"nil lookup func", tenancy.Header("X-Tenant"), tenancy.LookupFunc(nil), nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mw, err := tenancy.Middleware(tt.r, tt.l, tt.opts...)
			if got := err == nil; got != tt.ok || (tt.ok && mw == nil) {
				t.Errorf("Middleware() error = %v; want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, tenancy.ErrInvalidConfig) {
				t.Errorf("Middleware() error = %v; want it to wrap ErrInvalidConfig", err)
			}
		})
	}
}

func TestDefaultErrorHandler(t *testing.T) {
	tests := []struct {
		err       error
		wantCode  int
		wantRetry string
	}{
		{tenancy.ErrNoTenant, http.StatusBadRequest, ""},
		{fmt.Errorf("x: %w", tenancy.ErrInvalidTenant), http.StatusBadRequest, ""},
		{fmt.Errorf("x: %w", tenancy.ErrUnknownTenant), http.StatusNotFound, ""},
		{fmt.Errorf("x: %w", tenancy.ErrTenantSuspended), http.StatusForbidden, ""},
		{fmt.Errorf("x: %w", tenancy.ErrTenantNotReady), http.StatusServiceUnavailable, "5"},
		{errors.New("dial tcp 10.0.0.7:5432: secret"), http.StatusServiceUnavailable, ""},
		{nil, http.StatusServiceUnavailable, ""},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.err), func(t *testing.T) {
			rec := httptest.NewRecorder()
			tenancy.DefaultErrorHandler(rec, httptest.NewRequest(http.MethodGet, "/", nil), tt.err)
			if rec.Code != tt.wantCode || rec.Header().Get("Retry-After") != tt.wantRetry {
				t.Errorf("status %d, Retry-After %q; want %d, %q", rec.Code, rec.Header().Get("Retry-After"), tt.wantCode, tt.wantRetry)
			}
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
				t.Errorf("Content-Type = %q; want text/plain", ct)
			}
			if tt.err != nil && strings.Contains(rec.Body.String(), tt.err.Error()) {
				t.Errorf("body %q echoes the error", rec.Body.String())
			}
		})
	}
}

func TestMiddlewareAllocs(t *testing.T) {
	reg := newRegistry(acme)
	c := newTestCache(t, reg)
	h := newMiddleware(t, tenancy.Header("X-Tenant"), c)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	r := newRequest("X-Tenant", "acme")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if n := testing.AllocsPerRun(100, func() { h.ServeHTTP(w, r) }); n > 2 {
		t.Errorf("Middleware with a cache hit allocates %v times; want at most 2", n)
	}
}
