package tenancy_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/tenantkit/tenantkit/tenancy"
)

func BenchmarkHeaderResolve(b *testing.B) {
	r := newRequest("X-Tenant", "acme")
	res := tenancy.Header("X-Tenant")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := res.Resolve(r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSubdomainResolve(b *testing.B) {
	res := tenancy.Subdomain{"example.com", "eu.example.com"}
	r := newRequest("X-Tenant")
	r.Host = "acme.example.com:8443"
	b.ReportAllocs()
	for b.Loop() {
		if _, err := res.Resolve(r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkChainResolve and BenchmarkAgreeResolve resolve a request whose
// subdomain and header name the same tenant: Chain stops at the first,
// Agree asks both and compares.
func BenchmarkChainResolve(b *testing.B) {
	benchmarkTwoResolvers(b, func(rs ...tenancy.Resolver) tenancy.Resolver { return tenancy.Chain(rs) })
}

func BenchmarkAgreeResolve(b *testing.B) {
	benchmarkTwoResolvers(b, func(rs ...tenancy.Resolver) tenancy.Resolver { return tenancy.Agree(rs) })
}

func benchmarkTwoResolvers(b *testing.B, combine func(...tenancy.Resolver) tenancy.Resolver) {
	res := combine(tenancy.Subdomain{"example.com"}, tenancy.Header("X-Tenant"))
	r := newRequest("X-Tenant", "acme")
	r.Host = "acme.example.com:8443"
	b.ReportAllocs()
	for b.Loop() {
		if _, err := res.Resolve(r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkValidHint(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if err := tenancy.ValidHint("acme-corporation-42"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCacheHit(b *testing.B) {
	c, err := tenancy.NewCache(newRegistry(acme))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.Lookup(ctx, "acme"); err != nil {
		b.Fatal(err)
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.Lookup(ctx, "acme"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := c.Lookup(ctx, "acme"); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// nopWriter is a ResponseWriter that costs nothing, so the benchmark
// measures the middleware only.
type nopWriter struct{ h http.Header }

func (w nopWriter) Header() http.Header       { return w.h }
func (nopWriter) Write(p []byte) (int, error) { return len(p), nil }
func (nopWriter) WriteHeader(int)             {}

// BenchmarkMiddleware compares a bare handler (baseline) with the same
// handler behind the middleware, with a cache hit and with an uncached
// Lookup, and with a refused request.
func BenchmarkMiddleware(b *testing.B) {
	var sink tenancy.Tenant
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sink, _ = tenancy.FromContext(r.Context())
	})
	reg := newRegistry(acme)
	c, err := tenancy.NewCache(reg)
	if err != nil {
		b.Fatal(err)
	}
	direct := tenancy.LookupFunc(func(context.Context, string) (tenancy.Tenant, error) { return acme, nil })
	w := nopWriter{h: http.Header{}}
	r := newRequest("X-Tenant", "acme")
	bad := newRequest("X-Tenant", "1.0")
	for _, bm := range []struct {
		name string
		l    tenancy.Lookup
		r    *http.Request
	}{
		{"baseline", nil, r},
		{"cache-hit", c, r},
		// The same cache hidden behind a LookupFunc, which does not
		// implement SharedLookup: what the fast path saves.
		{"cache-hit-without-shared", tenancy.LookupFunc(c.Lookup), r},
		{"uncached-lookup", direct, r},
		{"invalid-hint", c, bad},
	} {
		b.Run(bm.name, func(b *testing.B) {
			h := http.Handler(next)
			if bm.l != nil {
				mw, err := tenancy.Middleware(tenancy.Header("X-Tenant"), bm.l,
					tenancy.WithErrorHandler(func(http.ResponseWriter, *http.Request, error) {}))
				if err != nil {
					b.Fatal(err)
				}
				h = mw(next)
			}
			b.ReportAllocs()
			for b.Loop() {
				h.ServeHTTP(w, bm.r)
			}
		})
	}
	_ = sink
}
