package tenancy_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/tenantkit/tenantkit/tenancy"
)

func ExampleFromContext() {
	ctx := tenancy.NewContext(context.Background(), tenancy.Tenant{ID: "42", Slug: "acme", Status: tenancy.StatusActive})
	t, ok := tenancy.FromContext(ctx)
	fmt.Println(t.ID, t.Slug, ok)

	_, ok = tenancy.FromContext(context.Background())
	fmt.Println(ok)
	// Output:
	// 42 acme true
	// false
}

func ExampleMiddleware() {
	// The app's registry: exact matches on ID or slug only.
	tenants := map[string]tenancy.Tenant{
		"42":    {ID: "42", Slug: "acme", Status: tenancy.StatusActive},
		"acme":  {ID: "42", Slug: "acme", Status: tenancy.StatusActive},
		"newco": {ID: "43", Slug: "newco", Status: tenancy.StatusProvisioning},
	}
	registry := tenancy.LookupFunc(func(_ context.Context, hint string) (tenancy.Tenant, error) {
		t, ok := tenants[hint]
		if !ok {
			return tenancy.Tenant{}, fmt.Errorf("tenant %q: %w", hint, tenancy.ErrUnknownTenant)
		}
		return t, nil
	})
	cache, err := tenancy.NewCache(registry)
	if err != nil {
		fmt.Println(err)
		return
	}
	withTenant, err := tenancy.Middleware(tenancy.Header("X-Tenant"), cache)
	if err != nil {
		fmt.Println(err)
		return
	}
	h := withTenant(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t, _ := tenancy.FromContext(r.Context())
		fmt.Fprintf(w, "hello %s (tenant %s)", t.Slug, t.ID)
	}))

	for _, hint := range []string{"acme", "42", "042", "1.0", "nobody", "newco", ""} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		if hint != "" {
			r.Header.Set("X-Tenant", hint)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		fmt.Printf("%q: %d %q\n", hint, w.Code, w.Body.String())
	}
	// Output:
	// "acme": 200 "hello acme (tenant 42)"
	// "42": 200 "hello acme (tenant 42)"
	// "042": 404 "unknown tenant\n"
	// "1.0": 400 "invalid tenant\n"
	// "nobody": 404 "unknown tenant\n"
	// "newco": 503 "tenant not ready\n"
	// "": 400 "missing tenant\n"
}

func ExampleChain() {
	// The header wins; the subdomain is the fallback.
	res := tenancy.Chain{tenancy.Header("X-Tenant"), tenancy.Subdomain{"example.com"}}

	for _, tc := range []struct{ host, header string }{
		{"acme.example.com", ""},
		{"acme.example.com", "globex"},
		{"example.com", ""},
		{"a.b.example.com", ""},
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Host = tc.host
		if tc.header != "" {
			r.Header.Set("X-Tenant", tc.header)
		}
		hint, err := res.Resolve(r)
		fmt.Printf("%s %q: %q %v\n", tc.host, tc.header, hint, err)
	}
	// Output:
	// acme.example.com "": "acme" <nil>
	// acme.example.com "globex": "globex" <nil>
	// example.com "": "" tenancy: no tenant in request
	// a.b.example.com "": "" tenancy: invalid tenant: more than one label below the base domain
}

func ExampleAgree() {
	// Either may name the tenant; if both do, they must name the same one.
	res := tenancy.Agree{tenancy.Subdomain{"example.com"}, tenancy.Header("X-Tenant")}

	for _, tc := range []struct{ host, header string }{
		{"acme.example.com", ""},
		{"acme.example.com", "acme"},
		{"example.com", "globex"},
		{"acme.example.com", "globex"},
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Host = tc.host
		if tc.header != "" {
			r.Header.Set("X-Tenant", tc.header)
		}
		hint, err := res.Resolve(r)
		fmt.Printf("%s %q: %q %v\n", tc.host, tc.header, hint, err)
	}
	// Output:
	// acme.example.com "": "acme" <nil>
	// acme.example.com "acme": "acme" <nil>
	// example.com "globex": "globex" <nil>
	// acme.example.com "globex": "" tenancy: request names different tenants: resolver 1 names "acme", resolver 2 names "globex"
}

func ExampleCache() {
	calls := 0
	status := tenancy.StatusProvisioning
	registry := tenancy.LookupFunc(func(_ context.Context, hint string) (tenancy.Tenant, error) {
		calls++
		if hint != "acme" && hint != "42" {
			return tenancy.Tenant{}, tenancy.ErrUnknownTenant
		}
		return tenancy.Tenant{ID: "42", Slug: "acme", Status: status}, nil
	})
	cache, err := tenancy.NewCache(registry)
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()

	t, _ := cache.Lookup(ctx, "acme")
	fmt.Println(t.Status, calls)
	t, _ = cache.Lookup(ctx, "acme") // served from the cache
	fmt.Println(t.Status, calls)

	// The tenant becomes active: forget it under every name.
	status = tenancy.StatusActive
	cache.Invalidate(t.ID, t.Slug)
	t, _ = cache.Lookup(ctx, "acme")
	fmt.Println(t.Status, calls)

	_, _ = cache.Lookup(ctx, "nobody")
	_, err = cache.Lookup(ctx, "nobody") // negative answers are cached too
	fmt.Println(err, calls)
	// Output:
	// provisioning 1
	// provisioning 1
	// active 2
	// tenancy: unknown tenant 3
}

func ExampleProblemHandler() {
	registry := tenancy.LookupFunc(func(_ context.Context, hint string) (tenancy.Tenant, error) {
		if hint != "acme" {
			return tenancy.Tenant{}, tenancy.ErrUnknownTenant
		}
		return tenancy.Tenant{ID: "42", Slug: "acme", Status: tenancy.StatusSuspended}, nil
	})
	// Errors of tenancy as application/problem+json; any other error (here,
	// none) would go to the next handler.
	problems := tenancy.ProblemHandler(nil, func(w http.ResponseWriter, r *http.Request, err error) {
		http.Error(w, "internal error", http.StatusInternalServerError)
	})
	withTenant, err := tenancy.Middleware(tenancy.Header("X-Tenant"), registry, tenancy.WithErrorHandler(problems))
	if err != nil {
		fmt.Println(err)
		return
	}
	h := withTenant(http.NotFoundHandler())

	for _, hint := range []string{"", "nope", "acme"} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		if hint != "" {
			r.Header.Set("X-Tenant", hint)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		fmt.Print(w.Code, " ", w.Header().Get("Content-Type"), " ", w.Body)
	}
	// Output:
	// 400 application/problem+json {"type":"about:blank","title":"Bad Request","status":400,"detail":"missing tenant"}
	// 404 application/problem+json {"type":"about:blank","title":"Not Found","status":404,"detail":"unknown tenant"}
	// 403 application/problem+json {"type":"about:blank","title":"Forbidden","status":403,"detail":"tenant suspended"}
}

func ExampleStatic() {
	// A fixed set of tenants, all active: for tests and fixed deployments.
	withTenant, err := tenancy.Middleware(tenancy.Header("X-Tenant"), tenancy.Static{"acme", "globex"})
	if err != nil {
		fmt.Println(err)
		return
	}
	h := withTenant(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t, _ := tenancy.FromContext(r.Context())
		fmt.Fprintf(w, "%s %s %s", t.ID, t.Slug, t.Status)
	}))
	for _, hint := range []string{"acme", "initech"} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("X-Tenant", hint)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		fmt.Printf("%s: %d %q\n", hint, w.Code, w.Body.String())
	}

	// An ID that could never be served is refused at start-up.
	_, err = tenancy.Middleware(tenancy.Header("X-Tenant"), tenancy.Static{"acme", "Globex"})
	fmt.Println(err)
	// Output:
	// acme: 200 "acme acme active"
	// initech: 404 "unknown tenant\n"
	// tenancy: Static: tenant 2 ("Globex") can never be served: hint has a byte other than a-z, 0-9, '_' or '-'
}

func ExampleIDFunc() {
	key := tenancy.IDFunc("tenant:")
	withTenant, err := tenancy.Middleware(tenancy.Header("X-Tenant"), tenancy.Static{"acme"})
	if err != nil {
		fmt.Println(err)
		return
	}
	h := withTenant(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dir, err := key(r) // for example, the token directory of the request's tenant
		fmt.Fprint(w, dir, " ", err)
	}))
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("X-Tenant", "acme")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	fmt.Println(w.Body)

	// Without the middleware in front, there is no tenant: a wiring mistake.
	_, err = key(httptest.NewRequest(http.MethodGet, "/", nil))
	fmt.Println(errors.Is(err, tenancy.ErrInvalidConfig))
	// Output:
	// tenant:acme <nil>
	// true
}

func ExampleHeader() {
	withTenant, err := tenancy.Middleware(tenancy.Header("X Tenant"), tenancy.Static{"acme"})
	fmt.Println(withTenant == nil, err)
	// Output:
	// true tenancy: Header("X Tenant"): not a valid header name
}
