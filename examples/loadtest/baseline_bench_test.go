package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/tenantkit/tenantkit/auth"
)

// BenchmarkBaselineHandlerMe measures the baseline's own cost of GET
// /api/tenant/users/me, with no network: its handler chain (security
// headers, request log as text to io.Discard, panic recovery, token check,
// query on the pre-opened database, JSON) called directly, from GOMAXPROCS
// goroutines. It is the counterpart of examples/server's
// BenchmarkHandlerMe.
func BenchmarkBaselineHandlerMe(b *testing.B) {
	ctx := context.Background()
	c := baselineConfig{
		dbPath:   filepath.Join(b.TempDir(), "baseline.db"),
		users:    1,
		password: "baseline-password",
		secret:   "baseline-benchmark-secret-of-32-bytes",
	}
	db, err := openBaselineDB(ctx, c)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	key, err := auth.DeriveKey([]byte(c.secret), baselineAudience)
	if err != nil {
		b.Fatal(err)
	}
	v, err := auth.NewVerifier(tokenIssuer, baselineAudience, []auth.Key{key})
	if err != nil {
		b.Fatal(err)
	}
	iss, err := auth.NewIssuer(tokenIssuer, baselineAudience, key)
	if err != nil {
		b.Fatal(err)
	}
	hasher, err := auth.NewHasher()
	if err != nil {
		b.Fatal(err)
	}
	tok, _, err := iss.Issue("1")
	if err != nil {
		b.Fatal(err)
	}
	d := &directory{db: db, verifier: v, issuer: iss}
	h, err := baselineHandler(slog.New(slog.NewTextHandler(io.Discard, nil)), func(*http.Request) (*directory, error) { return d, nil }, hasher)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		r := httptest.NewRequest("GET", "/api/tenant/users/me", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		for pb.Next() {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != http.StatusOK {
				b.Fatalf("GET /api/tenant/users/me = %d %s, want 200", w.Code, w.Body)
			}
		}
	})
}
