package main

// -tenant-isolation: the flag, its environment fallback and default, and
// the errors a schema per tenant adds to the error table.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tenantkit/tenantkit/dbstrategy/schemastrategy"
	"github.com/tenantkit/tenantkit/internal/testenv"
)

func TestTenantIsolationFlag(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	var out bytes.Buffer
	if _, err := parseConfig([]string{"-h"}, env(nil), &out); err != errHelp {
		t.Fatalf("-h: %v", err)
	}
	for _, f := range []string{"-tenant-isolation", "TENANT_ISOLATION", "database", "schema"} {
		if !strings.Contains(out.String(), f) {
			t.Errorf("-h does not mention %s", f)
		}
	}
	const pg = "postgres://u@127.0.0.1:5432/tenants"
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"default", nil, nil, isolationDatabase},
		{"default on PostgreSQL", []string{"-tenant-db", pg}, nil, isolationDatabase},
		{"flag", []string{"-tenant-db", pg, "-tenant-isolation", "schema"}, nil, isolationSchema},
		{"environment", []string{"-tenant-db", pg}, map[string]string{"TENANT_ISOLATION": "schema"}, isolationSchema},
		{"flag over environment", []string{"-tenant-db", pg, "-tenant-isolation", "database"}, map[string]string{"TENANT_ISOLATION": "schema"}, isolationDatabase},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseConfig(tt.args, env(tt.env), &out)
			if err != nil {
				t.Fatalf("parseConfig(%q) = %v", tt.args, err)
			}
			if c.tenantIsolation != tt.want {
				t.Errorf("tenantIsolation = %q; want %q", c.tenantIsolation, tt.want)
			}
		})
	}
	// -tenant-db-session-pooler: off by default, on by flag or environment.
	for _, tt := range []struct {
		args []string
		env  map[string]string
		want bool
	}{
		{[]string{"-tenant-db", pg, "-tenant-isolation", "schema"}, nil, false},
		{[]string{"-tenant-db", pg, "-tenant-isolation", "schema", "-tenant-db-session-pooler"}, nil, true},
		{[]string{"-tenant-db", pg, "-tenant-isolation", "schema"}, map[string]string{"TENANT_DB_SESSION_POOLER": "true"}, true},
		{[]string{"-tenant-db", pg, "-tenant-isolation", "schema", "-tenant-db-session-pooler=false"}, map[string]string{"TENANT_DB_SESSION_POOLER": "true"}, false},
	} {
		c, err := parseConfig(tt.args, env(tt.env), &out)
		if err != nil || c.sessionPooler != tt.want {
			t.Errorf("parseConfig(%q, env %v): sessionPooler = %v, %v; want %v", tt.args, tt.env, c.sessionPooler, err, tt.want)
		}
	}
	// -tenant-spares: 4 by default with a schema per tenant, 0 otherwise
	// or when the budget cannot spare two connections.
	for _, tt := range []struct {
		args []string
		env  map[string]string
		want int
	}{
		{[]string{"-tenant-db", pg}, nil, 0},
		{[]string{"-tenant-db", pg, "-tenant-isolation", "schema"}, nil, defaultSpares},
		{[]string{"-tenant-db", pg, "-tenant-isolation", "schema", "-db-max-conns", "2", "-db-tenant-conns", "1"}, nil, 0},
		{[]string{"-tenant-db", pg, "-tenant-isolation", "schema"}, map[string]string{"TENANT_SPARES": "0"}, 0},
		{[]string{"-tenant-db", pg, "-tenant-isolation", "schema", "-tenant-spares", "9"}, nil, 9},
	} {
		c, err := parseConfig(tt.args, env(tt.env), &out)
		if err != nil || c.tenantSpares != tt.want {
			t.Errorf("parseConfig(%q, env %v): tenantSpares = %d, %v; want %d", tt.args, tt.env, c.tenantSpares, err, tt.want)
		}
	}
	for _, tt := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"-tenant-isolation", "Schema"}, nil, `invalid -tenant-isolation "Schema": must be database or schema`},
		{nil, map[string]string{"TENANT_ISOLATION": "table"}, `invalid -tenant-isolation "table"`},
		{[]string{"-tenant-isolation", ""}, nil, `invalid -tenant-isolation ""`},
		{[]string{"-tenant-isolation", "schema"}, nil, "needs a PostgreSQL -tenant-db"},
		{[]string{"-tenant-isolation", "schema", "-tenant-db", pg, "-db-max-conns", "1", "-db-tenant-conns", "1"}, nil, "-db-max-conns 1 with -tenant-isolation schema: must be at least 2"},
		{[]string{"-tenant-db", pg, "-tenant-spares", "2"}, nil, "invalid -tenant-spares: only with -tenant-isolation schema"},
		{[]string{"-tenant-db", pg, "-tenant-db-session-pooler"}, nil, "invalid -tenant-db-session-pooler: only with -tenant-isolation schema"},
		{nil, map[string]string{"TENANT_DB_SESSION_POOLER": "true"}, "invalid -tenant-db-session-pooler: only with -tenant-isolation schema"},
		{[]string{"-tenant-db", pg, "-tenant-isolation", "schema", "-tenant-spares", "-1"}, nil, `invalid -tenant-spares "-1"`},
		{[]string{"-tenant-db", pg, "-tenant-isolation", "schema", "-tenant-spares", "2", "-db-max-conns", "2", "-db-tenant-conns", "1"}, nil, "-db-max-conns 3 or more"},
	} {
		if _, err := parseConfig(tt.args, env(tt.env), &out); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("parseConfig(%q, env %v) = %v; want an error containing %q", tt.args, tt.env, err, tt.want)
		}
	}
}

// TestSessionPoolerFlag runs the server with a schema per tenant behind
// PgBouncer in session mode (.ci/start-pgbouncer starts one): refused at
// start without -tenant-db-session-pooler, serving tenants with it.
func TestSessionPoolerFlag(t *testing.T) {
	// .ci/start-pgbouncer starts a PgBouncer and prints the variable.
	pooler := testenv.Env(t, "TENANTKIT_TEST_PGBOUNCER_SESSION_DSN")
	p, err := url.Parse(pooler)
	if err != nil {
		t.Fatal(err)
	}
	cfg := postgresSchemaConfig(t)
	u, err := url.Parse(cfg.tenantDB)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = p.Host
	cfg.tenantDB = u.String()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if a, err := newApp(ctx, cfg, slog.New(slog.DiscardHandler), appOptions{hashParams: &testHashParams, throttle: &testThrottle}); err == nil {
		a.Close()
		t.Fatal("newApp with the tenant schemas behind a pooler and no -tenant-db-session-pooler succeeded; want it refused")
	} else if !strings.Contains(err.Error(), "pooler") {
		t.Fatalf("newApp behind a pooler = %v; want an error naming the pooler", err)
	}

	cfg.sessionPooler = true
	ts := startServer(t, cfg)
	core := ts.coreUser(t, "pooler@example.com")
	id, slug := ts.org(t, core, "Pooler Org")
	tok := ts.tenantUser(t, slug, "user@example.com")
	ts.mustStatus(t, req{method: "GET", path: "/api/tenant/users/me", tenant: id, token: tok}, http.StatusOK)
}

// TestStalePlanIs503: a statement PostgreSQL refused because the tenant's
// tables changed shape under its cached plan (a fleet migration half done)
// is transient, answered like an unavailable database: 503 with
// Retry-After, no detail of the database.
func TestStalePlanIs503(t *testing.T) {
	pgErr := &pgconn.PgError{Code: "0A000", Message: "cached plan must not change result type"}
	stale := fmt.Errorf("tenant query: %w", fmt.Errorf("%w: %w", schemastrategy.ErrStalePlan, pgErr))
	err := storeErr("user by id", stale)
	w := httptest.NewRecorder()
	writeError(w, httptest.NewRequest("GET", "/api/tenant/users/me", nil), slog.New(slog.DiscardHandler), err)
	if w.Code != http.StatusServiceUnavailable {
		t.Errorf("status = %d; want 503", w.Code)
	}
	if w.Header().Get("Retry-After") == "" {
		t.Errorf("503 without Retry-After")
	}
	for _, leak := range []string{"cached plan", "0A000", "schemastrategy"} {
		if strings.Contains(w.Body.String(), leak) {
			t.Errorf("body %s carries %q", w.Body, leak)
		}
	}
}

// TestSchemaProvisioningBurst creates twice as many organizations at once
// as a schema per tenant's pool has connections. Each creation migrates
// its schema on two connections (goose's lock and its work): every one
// must still finish, none holding the pool while waiting for a second
// connection.
func TestSchemaProvisioningBurst(t *testing.T) {
	const budget, creations = 4, 8
	cfg := postgresSchemaConfig(t)
	cfg.dbMaxConns, cfg.tenantConns = budget, 1
	ts := startServer(t, cfg)
	owner := ts.coreUser(t, "burst-owner@example.com")
	var wg sync.WaitGroup
	results := make([]response, creations)
	errs := make([]error, creations)
	for i := range creations {
		wg.Go(func() {
			results[i], errs[i] = tryDo(ts, req{method: "POST", path: "/api/organizations", token: owner,
				body: map[string]string{"name": fmt.Sprintf("Burst %d", i)}})
		})
	}
	wg.Wait()
	for i := range creations {
		if errs[i] != nil || results[i].status != http.StatusCreated {
			t.Errorf("creation %d = %d %s, %v; want 201", i, results[i].status, results[i].body, errs[i])
		}
	}
	checkStorageMatchesRows(t, ts)
}

// TestSchemaChangeInFlight changes the shape of one tenant's users table,
// as a fleet migration in flight does one schema at a time, while two
// tenants' GET /me requests share a pool of two connections, so pgx's
// cached statement of the query serves both and PostgreSQL finds it stale
// ("cached plan must not change result type") after each change. Every
// response must be its own tenant's user, or a 503 while the statement is
// stale; never the other tenant's row, never a 500.
func TestSchemaChangeInFlight(t *testing.T) {
	cfg := postgresSchemaConfig(t)
	cfg.dbMaxConns, cfg.tenantConns = 2, 1
	ts := startServer(t, cfg)
	owner := ts.coreUser(t, "inflight-owner@example.com")
	type tenant struct{ key, email, token string }
	var tenants [2]tenant
	for i := range tenants {
		key, _ := ts.org(t, owner, fmt.Sprintf("In flight %d", i))
		email := fmt.Sprintf("inflight-%d@example.com", i)
		tenants[i] = tenant{key, email, ts.tenantUser(t, key, email)}
	}
	admin := openPG(t, cfg.tenantDB)
	table := `"` + cfg.tenantDBPrefix + tenants[0].key + `".users`

	var (
		done     = make(chan struct{})
		wg       sync.WaitGroup
		mu       sync.Mutex
		statuses = map[int]int{}
	)
	for w := range 4 {
		wg.Go(func() {
			me := tenants[w%2]
			for {
				select {
				case <-done:
					return
				default:
				}
				r, err := tryDo(ts, req{method: "GET", path: "/api/tenant/users/me", tenant: me.key, token: me.token})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				statuses[r.status]++
				mu.Unlock()
				switch r.status {
				case http.StatusOK:
					var u struct{ Email string }
					if err := json.Unmarshal(r.body, &u); err != nil || u.Email != me.email {
						t.Errorf("tenant %s: GET /me = %s (%v); want its own user %s", me.key, r.body, err, me.email)
						return
					}
				case http.StatusServiceUnavailable:
				default:
					t.Errorf("tenant %s: GET /me = %d %s; want 200 or 503", me.key, r.status, r.body)
					return
				}
			}
		})
	}
	ctx := t.Context()
	for i := range 10 {
		typ := "varchar(320)"
		if i%2 == 1 {
			typ = "text"
		}
		time.Sleep(30 * time.Millisecond)
		if _, err := admin.ExecContext(ctx, `ALTER TABLE `+table+` ALTER COLUMN email TYPE `+typ); err != nil {
			t.Fatalf("change the shape of %s: %v", table, err)
		}
	}
	time.Sleep(30 * time.Millisecond)
	close(done)
	wg.Wait()
	t.Logf("statuses during the changes: %v", statuses)
	if statuses[http.StatusOK] == 0 {
		t.Error("no request succeeded during the changes")
	}
	for _, me := range tenants { // every tenant served again once the change is over
		if u := getMe(t, ts, me.key, me.token); u.Email != me.email {
			t.Errorf("tenant %s after the changes: GET /me email %q; want %q", me.key, u.Email, me.email)
		}
	}
}
