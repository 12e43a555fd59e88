package wiring_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tenantkit/tenantkit/dbstrategy"
	"github.com/tenantkit/tenantkit/dbstrategy/sqlitestrategy"
	"github.com/tenantkit/tenantkit/tenancy"
)

// hints are edge cases of both rules: the shortest and longest, each
// allowed byte at each position, and near misses.
var hints = []string{
	"a", "0", "z9", "acme", "acme-corp", "acme_corp", "a-b_c-d", "1-2", "9_",
	"a-", "a_", "-a", "_a", "A", "acme.corp", "acme corp", "ümlaut", "a/b", "..", "",
	strings.Repeat("a", 47), strings.Repeat("a", 48), strings.Repeat("a", 49),
	"a" + strings.Repeat("-", 47), "a" + strings.Repeat("_", 48),
	"tenant\x00", "a\n", "%61",
}

func TestHintIsKey(t *testing.T) {
	for _, h := range hints {
		hint, key := tenancy.ValidHint(h) == nil, dbstrategy.ValidateKey(h) == nil
		if hint != key {
			t.Errorf("%q: tenancy.ValidHint = %v, dbstrategy.ValidateKey accepts = %v; want the same", h, hint, key)
		}
	}
}

func FuzzHintIsKey(f *testing.F) {
	for _, h := range hints {
		f.Add(h)
	}
	f.Fuzz(func(t *testing.T, h string) {
		hint, key := tenancy.ValidHint(h) == nil, dbstrategy.ValidateKey(h) == nil
		if hint != key {
			t.Errorf("%q: tenancy.ValidHint = %v, dbstrategy.ValidateKey accepts = %v; want the same", h, hint, key)
		}
	})
}

func TestMiddlewareToAcquire(t *testing.T) {
	// The obvious wiring, end to end on SQLite: the tenant ID the
	// middleware resolves is leased as is, for every kind of hint the
	// default validator accepts.
	ctx := context.Background()
	s, err := sqlitestrategy.New(sqlitestrategy.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	m, err := dbstrategy.NewManager(s)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()

	var accepted []string
	for _, h := range hints {
		if tenancy.ValidHint(h) == nil {
			accepted = append(accepted, h)
			if err := m.Create(ctx, h); err != nil {
				t.Fatalf("Create(%q) error = %v", h, err)
			}
		}
	}
	if len(accepted) < 10 {
		t.Fatalf("only %d hints accepted: %q; the table lost its valid cases", len(accepted), accepted)
	}

	registry := tenancy.LookupFunc(func(ctx context.Context, hint string) (tenancy.Tenant, error) {
		return tenancy.Tenant{ID: hint, Status: tenancy.StatusActive}, nil
	})
	mw, err := tenancy.Middleware(tenancy.Header("X-Tenant"), registry)
	if err != nil {
		t.Fatal(err)
	}
	h := mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tn, _ := tenancy.FromContext(r.Context())
		lease, err := m.Acquire(r.Context(), tn.ID)
		if err != nil {
			status := http.StatusInternalServerError
			if errors.Is(err, dbstrategy.ErrInvalidKey) {
				status = http.StatusTeapot // the bug this test guards against
			}
			http.Error(w, err.Error(), status)
			return
		}
		defer lease.Release()
		var one int
		if err := lease.DB().QueryRowContext(r.Context(), "SELECT 1").Scan(&one); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	for _, hint := range accepted {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("X-Tenant", hint)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusNoContent {
			t.Errorf("X-Tenant %q: %d %s; want 204", hint, w.Code, strings.TrimSpace(w.Body.String()))
		}
	}
}
