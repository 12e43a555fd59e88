package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"testing"
)

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestPendingMigrationsRefused: a tenant whose database is behind this
// binary's migrations (left by an older release) is refused with 503, a
// problem and Retry-After, and logged with the tenant and both versions
// (dbstrategy.PendingRefuse), until `migrate`, run by another process,
// brings it up to date: then the running server serves it at once.
func TestPendingMigrationsRefused(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel() // databases of its own (see backends)
			cfg := b.config(t)
			latest := tenantLatest(t, cfg)
			if latest < 2 {
				t.Fatalf("the tenant migrations reach version %d; this test rolls one back and needs 2 or more", latest)
			}
			first := startServer(t, cfg)
			owner := first.coreUser(t, "owner@example.com")
			id, slug := first.org(t, owner, "Behind")
			token := first.tenantUser(t, id, "user@example.com")
			first.Close()
			if err := first.app.Close(); err != nil {
				t.Fatal(err)
			}

			// An older release made the tenant, one migration back.
			oid, _ := strconv.ParseInt(id, 10, 64)
			rollBackTenant(t, cfg, oid, latest-1)
			if _, err := otherProcessCoreDB(t, cfg).Exec(`UPDATE tenantkit_tenants SET version = $1 WHERE id = $2`, latest-1, id); err != nil {
				t.Fatal(err)
			}

			var logs syncBuffer
			ts := serveApp(t, cfg, slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn})))
			creds := map[string]string{"email": "user@example.com", "password": "correct horse battery"}
			requests := []req{
				{method: "GET", path: "/api/tenant/users/me", tenant: id, token: token},
				{method: "POST", path: "/api/tenant/auth/login", tenant: slug, body: creds},
			}
			for _, q := range requests {
				r := expectStatus(t, ts, q, http.StatusServiceUnavailable)
				if s := r.header.Get("Retry-After"); s == "" {
					t.Errorf("%s %s = 503 without Retry-After", q.method, q.path)
				}
			}
			var logged bool
			for _, line := range bytes.Split([]byte(logs.String()), []byte("\n")) {
				var rec struct {
					Msg           string `json:"msg"`
					Tenant        string `json:"tenant"`
					SchemaVersion int64  `json:"schema_version"`
					WantVersion   int64  `json:"want_version"`
				}
				if json.Unmarshal(line, &rec) == nil && rec.Msg == "request failed" &&
					rec.Tenant == id && rec.SchemaVersion == latest-1 && rec.WantVersion == latest {
					logged = true
				}
			}
			if !logged {
				t.Errorf("no \"request failed\" record with tenant %s, schema_version %d and want_version %d; logged:\n%s", id, latest-1, latest, logs.String())
			}

			if r := cliMigrate(t, cfg); r.todo != 1 || r.migrated != 1 || r.err != nil {
				t.Fatalf("migrate = %d to migrate, %d migrated, %v; want 1, 1, nil\n%s", r.todo, r.migrated, r.err, r.out)
			}
			for _, q := range requests {
				expectStatus(t, ts, q, http.StatusOK)
			}
		})
	}
}
