package main

// Tenants placed on two PostgreSQL servers, for both isolations: the test
// server (TENANTKIT_TEST_POSTGRES_DSN, which also holds the core database)
// and a private cluster started for the test (internal/pgtest). New
// organizations alternate between the servers (fewest tenants), each
// tenant's database or schema exists on its server only, every tenant is
// served, a closed server gets no new tenant, `tenants list` names each
// tenant's server, and under a concurrent load each server holds at most
// its own -db-max-conns connections, as PostgreSQL counts them.

import (
	"context"
	"database/sql"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tenantkit/tenantkit/internal/pgtest"
)

const (
	placeConns   = 4 // -db-max-conns: each server's budget
	placeTenants = 8 // organizations, alternating between the servers
	placeClients = 24
	placeLoadFor = 2 * time.Second
)

func TestPlacementTwoServers(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL cluster; skipped with -short")
	}
	second := pgtest.StartCluster(t).DSN() // shared by both isolations: their prefixes differ
	for _, b := range postgresIsolations() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			testPlacement(t, placementConfig(t, b.config(t), second))
		})
	}
}

// placementConfig turns cfg, on the test server, into a configuration of
// two tenant servers: "a", the test server as cfg has it, and "b", the
// cluster at dsn (with a schema per tenant, a database there of the same
// name as on the test server holds the schemas).
func placementConfig(t testing.TB, cfg config, dsn string) config {
	t.Helper()
	b := dsn
	if cfg.tenantIsolation == isolationSchema {
		u, err := url.Parse(cfg.tenantDB)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(u.Path, "/")
		admin, err := sql.Open("pgx", dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer admin.Close()
		if _, err := admin.Exec(`CREATE DATABASE "` + name + `"`); err != nil {
			t.Fatalf("create the tenant schemas' database on the second server: %v", err)
		}
		v, err := url.Parse(dsn)
		if err != nil {
			t.Fatal(err)
		}
		v.Path = "/" + name
		b = v.String()
	}
	cfg.tenantServers = []tenantServer{{name: "a", url: cfg.tenantDB}, {name: "b", url: b}}
	cfg.dbMaxConns = placeConns
	return cfg
}

// placeTenantsOn returns which of the servers hold the tenant's database
// (database isolation) or schema (schema isolation).
func placeTenantsOn(t *testing.T, cfg config, key string) []string {
	t.Helper()
	var on []string
	for _, s := range cfg.tenantServers {
		db, err := sql.Open("pgx", s.url)
		if err != nil {
			t.Fatal(err)
		}
		q := `SELECT count(*) FROM pg_database WHERE datname = $1`
		if cfg.tenantIsolation == isolationSchema {
			q = `SELECT count(*) FROM pg_namespace WHERE nspname = $1`
		}
		var n int
		err = db.QueryRow(q, cfg.tenantDBPrefix+key).Scan(&n)
		db.Close()
		if err != nil {
			t.Fatalf("server %s: %v", s.name, err)
		}
		if n > 0 {
			on = append(on, s.name)
		}
	}
	return on
}

func testPlacement(t *testing.T, cfg config) {
	// Count from before the server starts, each server on its own.
	samplers := map[string]*connSampler{}
	for _, s := range cfg.tenantServers {
		samplers[s.name] = startConnSampler(t, samplerDSN(t, s), cfg.tenantDBPrefix)
	}
	ts := startServer(t, cfg)
	core := ts.coreUser(t, "placement-owner@example.com")

	// One at a time: fewest tenants alternates, ties to the name first.
	tenants := make([]budgetTenant, placeTenants)
	for i := range tenants {
		tn, err := budgetCreateTenant(ts, core, i)
		if err != nil {
			t.Fatalf("organization %d: %v", i, err)
		}
		tenants[i] = tn
	}
	want := map[string]string{} // tenant key -> server
	for i, tn := range tenants {
		server := []string{"a", "b"}[i%2]
		want[tn.key] = server
		if on := placeTenantsOn(t, cfg, tn.key); len(on) != 1 || on[0] != server {
			t.Errorf("tenant %s is on servers %v; want only %s", tn.key, on, server)
		}
		rec, err := ts.app.reg.Get(context.Background(), tn.key)
		if err != nil || rec.Server != server {
			t.Errorf("registry record of tenant %s: server %q, %v; want %q", tn.key, rec.Server, err, server)
		}
	}

	// A second process on the same core database with server a closed
	// (a replica restarted with -tenant-db-closed a): new organizations
	// go to b only; the first process serves them too.
	closedCfg := cfg
	closedCfg.tenantClosed = []string{"a"}
	closedCfg.dataDir = t.TempDir()
	ts2 := startServer(t, closedCfg)
	for i := placeTenants; i < placeTenants+2; i++ {
		tn, err := budgetCreateTenant(ts2, core, i)
		if err != nil {
			t.Fatalf("organization %d on the process with a closed: %v", i, err)
		}
		if on := placeTenantsOn(t, cfg, tn.key); len(on) != 1 || on[0] != "b" {
			t.Errorf("tenant %s made with server a closed is on servers %v; want only b", tn.key, on)
		}
		want[tn.key] = "b"
		tenants = append(tenants, tn)
	}
	// Its connections would count against b's budget below: the budget
	// is per process.
	ts2.Close()
	if err := ts2.app.Close(); err != nil {
		t.Fatal(err)
	}

	// tenants list names each one's server.
	for id, row := range cliList(t, cfg) {
		if w := want[tenantKey(id)]; row.server != w {
			t.Errorf("tenants list: organization %d on server %q; want %q", id, row.server, w)
		}
	}
	if n := len(cliList(t, cfg)); n != len(tenants) {
		t.Errorf("tenants list has %d organizations; want %d", n, len(tenants))
	}

	// The load: every tenant served with its own data, each server within
	// its budget.
	// Wait for the backends of the other processes (the second server,
	// the CLI, placeTenantsOn) to exit: PostgreSQL lists them for a moment
	// after their client closed them, and they would count against the
	// budget of this process.
	for _, srv := range cfg.tenantServers {
		waitOwnConns(t, samplerDSN(t, srv), cfg.tenantDBPrefix, connCounter(ts.app.servers.strategies[srv.name]))
	}
	for _, s := range samplers {
		s.reset()
	}
	tr := ts.Client().Transport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = placeClients
	client := &http.Client{Transport: tr}
	defer tr.CloseIdleConnections()
	var done, failed atomic.Int64
	deadline := time.Now().Add(placeLoadFor)
	var wg sync.WaitGroup
	for range placeClients {
		wg.Go(func() { // returns at the deadline
			for time.Now().Before(deadline) {
				tn := tenants[rand.IntN(len(tenants))]
				status, body, err := budgetGetMe(client, ts.URL, tn.key, tn.token)
				done.Add(1)
				var u struct{ Email string }
				if err != nil || status != http.StatusOK || json.Unmarshal(body, &u) != nil || u.Email != tn.email {
					if failed.Add(1) <= 10 {
						t.Errorf("GET /api/tenant/users/me on tenant %s = %d %s, %v; want 200 and %s", tn.key, status, body, err, tn.email)
					}
				}
			}
		})
	}
	wg.Wait()
	t.Logf("load: %d clients, %d requests, %d failed", placeClients, done.Load(), failed.Load())
	for _, name := range []string{"a", "b"} {
		s := samplers[name]
		most, shot := s.stop()
		if err := s.err(); err != nil {
			t.Errorf("sampling server %s: %v", name, err)
		}
		t.Logf("server %s: at most %d tenant connections during the load (%d samples); budget %d", name, most, s.samples.Load(), placeConns)
		if most > placeConns {
			t.Errorf("server %s held %d tenant connections; want at most %d (-db-max-conns)\n%s", name, most, placeConns, overBudget(shot))
		}
		if most == 0 {
			t.Errorf("server %s: no tenant connection seen during the load", name)
		}
	}
	if done.Load() == 0 {
		t.Errorf("the load made no request")
	}

	// /metrics says each server's budget.
	r := ts.do(t, req{method: "GET", path: "/metrics"})
	for _, name := range []string{"a", "b"} {
		if line := `tenantkit_db_server_connections_budget{server="` + name + `"} 4`; !strings.Contains(string(r.body), line) {
			t.Errorf("/metrics lacks %q", line)
		}
	}
}

// samplerDSN is the URL of the maintenance database of server s, outside
// the test's prefix, for counting its tenant connections.
func samplerDSN(t *testing.T, s tenantServer) string {
	t.Helper()
	u, err := url.Parse(s.url)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/postgres"
	return u.String()
}

// waitOwnConns waits until PostgreSQL lists no more tenant connections of
// prefix than own, the process's count of its own, reports.
func waitOwnConns(t *testing.T, dsn, prefix string, own func() connCounts) {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, shot, err := sampleConns(db, prefix)
		if err != nil {
			t.Fatal(err)
		}
		mine := own().conns
		if n <= mine {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("PostgreSQL still lists %d tenant connections, the server holds %d: %s", n, mine, shot)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
