package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tenantkit/tenantkit/dbstrategy"
	"github.com/tenantkit/tenantkit/dbstrategy/sqlitestrategy"
	"github.com/tenantkit/tenantkit/tenancy"
)

// FuzzHintIsKey checks that the tenant hints tenancy's default validator
// accepts are exactly the keys dbstrategy accepts, so a tenant ID resolved
// from a hint can always be leased as is.
func FuzzHintIsKey(f *testing.F) {
	for _, s := range []string{"acme", "acme-eu", "a_b", "-a", "_a", "A", "", strings.Repeat("a", 48), strings.Repeat("a", 49), "a.b", "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		hintErr, keyErr := tenancy.ValidHint(s), dbstrategy.ValidateKey(s)
		if (hintErr == nil) != (keyErr == nil) {
			t.Fatalf("%q: tenancy.ValidHint = %v, dbstrategy.ValidateKey = %v; want both to accept or both to refuse", s, hintErr, keyErr)
		}
	})
}

// TestHintToLease wires the two libraries the obvious way (the tenant the
// middleware resolves is the key leased) and checks it for hints with '-'
// and '_', on SQLite.
func TestHintToLease(t *testing.T) {
	s, err := sqlitestrategy.New(sqlitestrategy.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	m, err := dbstrategy.NewManager(s)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	hints := []string{"acme-eu", "acme_eu", "0-a", strings.Repeat("z", dbstrategy.MaxKeyLen-1) + "-"}
	for _, h := range hints {
		if err := m.Create(context.Background(), h); err != nil {
			t.Fatal(err)
		}
	}
	r, err := tenancy.Header("X-Tenant")
	if err != nil {
		t.Fatal(err)
	}
	lookup := tenancy.LookupFunc(func(_ context.Context, hint string) (tenancy.Tenant, error) {
		return tenancy.Tenant{ID: hint, Slug: hint, Status: "active"}, nil
	})
	mw, err := tenancy.Middleware(r, lookup)
	if err != nil {
		t.Fatal(err)
	}
	h := mw(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		tn, _ := tenancy.FromContext(req.Context())
		l, err := m.Acquire(req.Context(), tn.ID)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		defer l.Release()
		w.WriteHeader(http.StatusNoContent)
	}))
	for _, hint := range hints {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("X-Tenant", hint)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusNoContent {
			t.Errorf("hint %q: status %d, %s; want 204 (resolved and leased)", hint, rec.Code, rec.Body)
		}
	}
}
