package main

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/tenantkit/tenantkit/auth"
	"github.com/tenantkit/tenantkit/dbstrategy"
	"github.com/tenantkit/tenantkit/dbstrategy/sqlitestrategy"
	"github.com/tenantkit/tenantkit/tenancy"
)

// BenchmarkLibraryOverhead measures what the library adds to one tenant
// request, all parts together: resolve the X-Tenant header, look the hint
// up in a warm cache, take a lease on the tenant's open handle, release it.
// The baseline reads the same header and does nothing else.
//
//	go test ./examples/server -run '^$' -bench LibraryOverhead -benchmem
func BenchmarkLibraryOverhead(b *testing.B) {
	ctx := context.Background()
	s, err := sqlitestrategy.New(sqlitestrategy.Config{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Create(ctx, "42"); err != nil {
		b.Fatal(err)
	}
	m, err := dbstrategy.NewManager(s)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	cache, err := tenancy.NewCache(tenancy.LookupFunc(func(ctx context.Context, hint string) (tenancy.Tenant, error) {
		return tenancy.Tenant{ID: "42", Slug: "acme", Status: tenancy.StatusActive}, nil
	}))
	if err != nil {
		b.Fatal(err)
	}
	resolver := tenancy.Header("X-Tenant")
	r := httptest.NewRequest("GET", "/api/tenant/users/me", nil)
	r.Header.Set("X-Tenant", "acme")

	// Warm: the handle is open and the hint cached.
	if _, err := cache.Lookup(ctx, "acme"); err != nil {
		b.Fatal(err)
	}
	l, err := m.Acquire(ctx, "42")
	if err != nil {
		b.Fatal(err)
	}
	l.Release()

	b.Run("baseline", func(b *testing.B) {
		b.ReportAllocs()
		var n int
		for b.Loop() {
			n += len(r.Header.Get("X-Tenant"))
		}
		_ = n
	})
	b.Run("resolve+lookup+lease+release", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			hint, err := resolver.Resolve(r)
			if err != nil {
				b.Fatal(err)
			}
			if err := validTenantHint(hint); err != nil {
				b.Fatal(err)
			}
			t, err := cache.Lookup(ctx, hint)
			if err != nil {
				b.Fatal(err)
			}
			l, err := m.Acquire(ctx, t.ID)
			if err != nil {
				b.Fatal(err)
			}
			l.Release()
		}
	})
	// The same plus the check of a token the verifier has cached, as
	// auth.RequireToken does on every request after a client's first.
	key, err := auth.DeriveKey([]byte("0123456789abcdef0123456789abcdef"), "tenant:42")
	if err != nil {
		b.Fatal(err)
	}
	iss, err := auth.NewIssuer(tokenIssuer, "tenant:42", key)
	if err != nil {
		b.Fatal(err)
	}
	v, err := auth.NewVerifier(tokenIssuer, "tenant:42", []auth.Key{key})
	if err != nil {
		b.Fatal(err)
	}
	tok, _, err := iss.Issue("7")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := v.Verify(tok); err != nil {
		b.Fatal(err)
	}
	b.Run("resolve+lookup+lease+release+cached-token", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			hint, err := resolver.Resolve(r)
			if err != nil {
				b.Fatal(err)
			}
			if err := validTenantHint(hint); err != nil {
				b.Fatal(err)
			}
			t, err := cache.Lookup(ctx, hint)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := v.Verify(tok); err != nil {
				b.Fatal(err)
			}
			l, err := m.Acquire(ctx, t.ID)
			if err != nil {
				b.Fatal(err)
			}
			l.Release()
		}
	})
}
