package main

// Database per tenant under a hard connection budget: many more tenants
// than the budget allows handles for, many concurrent clients, and the
// server never holds more tenant connections than -db-max-conns, as
// PostgreSQL itself counts them. Every request still succeeds, with its
// own tenant's data.

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tenantkit/tenantkit/dbstrategy"
	"github.com/tenantkit/tenantkit/dbstrategy/pgstrategy"
	"github.com/tenantkit/tenantkit/dbstrategy/schemastrategy"
	"github.com/tenantkit/tenantkit/internal/testenv"
	"golang.org/x/sync/errgroup"
)

const (
	budgetConns   = 10              // -db-max-conns of the server under test
	budgetTenants = 200             // organizations, one tenant user each
	budgetClients = 50              // concurrent clients of the load
	budgetLoadFor = 3 * time.Second // how long the load runs
	budgetSetupBy = 4               // goroutines creating organizations
)

// TestPostgresConnectionBudget runs the server on both PostgreSQL
// isolations side by side: a database per tenant (200 databases, most of
// the test's time) and a schema per tenant (200 schemas of one database,
// whose connections PostgreSQL counts under that database's name, which
// starts with the prefix too).
func TestPostgresConnectionBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("creates 200 PostgreSQL databases; skipped with -short")
	}
	for _, b := range postgresIsolations() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel() // prefixes of their own: neither counts the other's connections
			testConnectionBudget(t, b.config(t))
		})
	}
}

func testConnectionBudget(t *testing.T, cfg config) {
	cfg.dbMaxConns = budgetConns

	// Count from before the server starts, so that setup is held to the
	// budget too. The sampler's own connection is to the test server's
	// maintenance database, outside the prefix.
	sampler := startConnSampler(t, testenv.PostgresDSN(t), cfg.tenantDBPrefix)
	setupStart := time.Now()
	ts := startServer(t, cfg)
	tenants := budgetSetup(t, ts, budgetTenants)
	setupTook := time.Since(setupStart)
	setupMax, setupShot := sampler.reset()

	done, _ := budgetLoad(t, ts, tenants)
	loadMax, loadShot := sampler.stop()

	t.Logf("setup: %d organizations with a tenant user each in %v (%d goroutines)",
		len(tenants), setupTook.Round(time.Millisecond), budgetSetupBy)
	t.Logf("tenant connections seen by PostgreSQL: at most %d during setup, %d during the load (%d samples); budget %d",
		setupMax, loadMax, sampler.samples.Load(), budgetConns)
	if err := sampler.err(); err != nil {
		t.Errorf("sampling pg_stat_activity: %v", err)
	}
	if setupMax > budgetConns {
		t.Errorf("during setup PostgreSQL saw %d tenant connections; want at most %d (-db-max-conns)\n%s",
			setupMax, budgetConns, overBudget(setupShot))
	}
	if loadMax > budgetConns {
		t.Errorf("during the load PostgreSQL saw %d tenant connections; want at most %d (-db-max-conns)\n%s",
			loadMax, budgetConns, overBudget(loadShot))
	}
	if done == 0 {
		t.Errorf("the load made no request")
	}
}

// budgetLoad runs budgetClients clients for budgetLoadFor, each reading its
// own user from a random tenant of tenants, and fails t for every request
// that fails or reads another tenant's user. It returns the requests made
// and how long the load took.
func budgetLoad(t *testing.T, ts *testServer, tenants []budgetTenant) (int64, time.Duration) {
	tr := ts.Client().Transport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = budgetClients
	client := &http.Client{Transport: tr}
	defer tr.CloseIdleConnections()

	var done, failed atomic.Int64
	var reported atomic.Int32 // failures reported in detail; the rest are counted
	fail := func(format string, args ...any) {
		failed.Add(1)
		if reported.Add(1) <= 10 {
			t.Errorf(format, args...)
		}
	}
	loadStart := time.Now()
	deadline := loadStart.Add(budgetLoadFor)
	var wg sync.WaitGroup
	for range budgetClients {
		wg.Add(1)
		go func() { // exits at the deadline
			defer wg.Done()
			for time.Now().Before(deadline) {
				tn := tenants[rand.IntN(len(tenants))]
				status, body, err := budgetGetMe(client, ts.URL, tn.key, tn.token)
				done.Add(1)
				var u struct{ Email string }
				switch {
				case err != nil:
					fail("GET /api/tenant/users/me on tenant %s: %v", tn.key, err)
				case status != http.StatusOK:
					fail("GET /api/tenant/users/me on tenant %s = %d %s; want 200", tn.key, status, body)
				case json.Unmarshal(body, &u) != nil || u.Email != tn.email:
					fail("GET /api/tenant/users/me on tenant %s = %s; want the user %s", tn.key, body, tn.email)
				}
			}
		}()
	}
	wg.Wait()
	loadTook := time.Since(loadStart)
	t.Logf("load: %d clients, %d requests in %v (%.0f req/s), %d failed",
		budgetClients, done.Load(), loadTook.Round(time.Millisecond), float64(done.Load())/loadTook.Seconds(), failed.Load())
	return done.Load(), loadTook
}

// TestPostgresConnectionBudgetManager holds the Manager alone to the same
// budget, with tenant pools of 2 connections so that the budget of 10 is
// exactly 5 full handles: the clients hold every connection they can get
// (pg_sleep), so a Manager that let one more handle open, or opened a
// new pool before the evicted one's connections were gone, shows up as
// more than 10.
func TestPostgresConnectionBudgetManager(t *testing.T) {
	if testing.Short() {
		t.Skip("creates PostgreSQL databases; skipped with -short")
	}
	const (
		tenants  = 40
		perPool  = 2
		clients  = 50
		loadTime = 3 * time.Second
	)
	cfg := postgresConfig(t) // for its unique prefix
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := pgstrategy.New(ctx, pgstrategy.Config{DSN: cfg.tenantDB, Prefix: cfg.tenantDBPrefix, MaxConns: perPool})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	m, err := dbstrategy.NewManager(s, dbstrategy.WithMaxConns(budgetConns))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() }) // before s.Close: cleanups run last first

	sampler := startConnSampler(t, cfg.tenantDB, cfg.tenantDBPrefix)
	setupStart := time.Now()
	keys := make([]string, tenants)
	for i := range keys {
		keys[i] = fmt.Sprintf("t%d", i)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(budgetSetupBy)
	for _, key := range keys {
		g.Go(func() error {
			if err := m.Create(gctx, key); err != nil {
				return fmt.Errorf("Create(%q) = %w", key, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	setupTook := time.Since(setupStart)
	sampler.reset()

	var done, failed atomic.Int64
	loadStart := time.Now()
	deadline := loadStart.Add(loadTime)
	for range clients {
		wg.Add(1)
		go func() { // exits at the deadline
			defer wg.Done()
			for time.Now().Before(deadline) {
				key := keys[rand.IntN(len(keys))]
				err := func() error {
					lease, err := m.Acquire(ctx, key)
					if err != nil {
						return err
					}
					defer lease.Release()
					var got string
					if err := lease.DB().QueryRowContext(ctx, `SELECT current_database() FROM pg_sleep(0.002)`).Scan(&got); err != nil {
						return err
					}
					if want := cfg.tenantDBPrefix + key; got != want {
						return fmt.Errorf("current_database() = %q; want %q", got, want)
					}
					return nil
				}()
				done.Add(1)
				if err != nil && failed.Add(1) <= 10 {
					t.Errorf("tenant %s: %v", key, err)
				}
			}
		}()
	}
	wg.Wait()
	loadTook := time.Since(loadStart)
	loadMax, loadShot := sampler.stop()
	st := m.Stats()

	t.Logf("setup: %d tenants created in %v", tenants, setupTook.Round(time.Millisecond))
	t.Logf("load: %d clients, %d leases in %v (%.0f/s), %d failed; stats %+v",
		clients, done.Load(), loadTook.Round(time.Millisecond), float64(done.Load())/loadTook.Seconds(), failed.Load(), st)
	t.Logf("tenant connections seen by PostgreSQL: at most %d during the load (%d samples); budget %d",
		loadMax, sampler.samples.Load(), budgetConns)
	if err := sampler.err(); err != nil {
		t.Errorf("sampling pg_stat_activity: %v", err)
	}
	if loadMax > budgetConns {
		t.Errorf("PostgreSQL saw %d tenant connections; want at most %d (WithMaxConns(%d), %d handles of %d)\n%s",
			loadMax, budgetConns, budgetConns, st.MaxOpen, perPool, overBudget(loadShot))
	}
	// pgstrategy counts real connections against the budget: handles
	// holding none cost nothing, so more tenants stay open than the budget
	// divided by the pool size.
	if st.MaxOpen < budgetConns/perPool {
		t.Errorf("Stats().MaxOpen = %d; want at least %d handles of %d connections", st.MaxOpen, budgetConns/perPool, perPool)
	}
}

// TestPostgresConnectionBudgetManagerSchema is the Manager test on a
// schema per tenant: 40 tenants, 50 clients each holding a lease across a
// query that sleeps, one shared pool of 10. PostgreSQL never sees more than
// 10 connections to the schemas' database, and every lease reads its own
// tenant's schema (current_schema()), whichever tenant the connection
// served before.
func TestPostgresConnectionBudgetManagerSchema(t *testing.T) {
	if testing.Short() {
		t.Skip("loads the shared PostgreSQL server; skipped with -short")
	}
	const (
		tenants  = 40
		clients  = 50
		loadTime = 3 * time.Second
	)
	cfg := postgresSchemaConfig(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := schemastrategy.New(ctx, schemastrategy.Config{DSN: cfg.tenantDB, Prefix: cfg.tenantDBPrefix, Roles: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	m, err := dbstrategy.NewManager(s, dbstrategy.WithMaxConns(budgetConns))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() }) // before s.Close: cleanups run last first

	sampler := startConnSampler(t, testenv.PostgresDSN(t), cfg.tenantDBPrefix)
	keys := make([]string, tenants)
	for i := range keys {
		keys[i] = fmt.Sprintf("t%d", i)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(budgetSetupBy)
	for _, key := range keys {
		g.Go(func() error {
			if err := m.Create(gctx, key); err != nil {
				return fmt.Errorf("Create(%q) = %w", key, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	setupMax, setupShot := sampler.reset()

	var done, failed atomic.Int64
	var wg sync.WaitGroup
	loadStart := time.Now()
	deadline := loadStart.Add(loadTime)
	for range clients {
		wg.Go(func() { // returns at the deadline
			for time.Now().Before(deadline) {
				key := keys[rand.IntN(len(keys))]
				err := func() error {
					lease, err := m.Acquire(ctx, key)
					if err != nil {
						return err
					}
					defer lease.Release()
					var got string
					if err := lease.DB().QueryRowContext(ctx, `SELECT current_schema() FROM pg_sleep(0.002)`).Scan(&got); err != nil {
						return err
					}
					if want := cfg.tenantDBPrefix + key; got != want {
						return fmt.Errorf("current_schema() = %q; want %q", got, want)
					}
					return nil
				}()
				done.Add(1)
				if err != nil && failed.Add(1) <= 10 {
					t.Errorf("tenant %s: %v", key, err)
				}
			}
		})
	}
	wg.Wait()
	loadTook := time.Since(loadStart)
	loadMax, loadShot := sampler.stop()
	t.Logf("load: %d clients, %d leases in %v (%.0f/s), %d failed; stats %+v; pool %+v",
		clients, done.Load(), loadTook.Round(time.Millisecond), float64(done.Load())/loadTook.Seconds(), failed.Load(), m.Stats(), s.ConnStats())
	t.Logf("connections seen by PostgreSQL: at most %d during setup, %d during the load (%d samples); budget %d",
		setupMax, loadMax, sampler.samples.Load(), budgetConns)
	if err := sampler.err(); err != nil {
		t.Errorf("sampling pg_stat_activity: %v", err)
	}
	for _, c := range []struct {
		when string
		n    int
		shot string
	}{{"setup", setupMax, setupShot}, {"the load", loadMax, loadShot}} {
		if c.n > budgetConns {
			t.Errorf("during %s PostgreSQL saw %d connections to the schemas' database; want at most %d (WithMaxConns)\n%s",
				c.when, c.n, budgetConns, c.shot)
		}
	}
	if done.Load() == 0 {
		t.Errorf("the load made no lease")
	}
}

// overBudget explains a sample over the budget.
func overBudget(shot string) string {
	return "busiest sample, tenant(state/wait event) per backend: " + shot + "\n" +
		"More databases there than handles the budget allows means some backends were still listed after " +
		"their client closed them: pgconn.Close sends Terminate and closes the socket without waiting for " +
		"the backend to exit, so PostgreSQL counts an evicted handle's connections for a moment longer."
}

// budgetTenant is one organization of the budget test and its user.
type budgetTenant struct{ key, token, email string }

// budgetSetup creates n organizations with one tenant user each, through
// the HTTP API, from budgetSetupBy goroutines.
func budgetSetup(t *testing.T, ts *testServer, n int) []budgetTenant {
	t.Helper()
	core := ts.coreUser(t, "budget-owner@example.com")
	tenants := make([]budgetTenant, n)
	if err := budgetCreateTenants(ts, core, tenants, 0); err != nil {
		t.Fatal(err)
	}
	return tenants
}

// budgetCreateTenants fills tenants[from:] with new organizations, index i
// with organization i, budgetSetupBy at a time. After the first failure it
// starts no more, and returns that failure.
func budgetCreateTenants(ts *testServer, coreToken string, tenants []budgetTenant, from int) error {
	g, ctx := errgroup.WithContext(context.Background())
	g.SetLimit(budgetSetupBy)
	for i := from; i < len(tenants) && ctx.Err() == nil; i++ {
		g.Go(func() error {
			tn, err := budgetCreateTenant(ts, coreToken, i)
			if err != nil {
				return fmt.Errorf("set up tenant %d: %w", i, err)
			}
			tenants[i] = tn
			return nil
		})
	}
	return g.Wait()
}

// budgetCreateTenant creates organization i and registers and logs in its
// user. It may run on any goroutine.
func budgetCreateTenant(ts *testServer, coreToken string, i int) (budgetTenant, error) {
	r, err := tryDo(ts, req{method: "POST", path: "/api/organizations", token: coreToken,
		body: map[string]string{"name": fmt.Sprintf("Budget %d", i)}})
	if err != nil || r.status != http.StatusCreated {
		return budgetTenant{}, fmt.Errorf("create organization = %d %s, %v; want 201", r.status, r.body, err)
	}
	var o struct{ ID int64 }
	if err := json.Unmarshal(r.body, &o); err != nil {
		return budgetTenant{}, err
	}
	tn := budgetTenant{key: tenantKey(o.ID), email: fmt.Sprintf("user-%d@example.com", i)}
	creds := map[string]string{"email": tn.email, "password": testPassword}
	if r, err = tryDo(ts, req{method: "POST", path: "/api/tenant/auth/register", tenant: tn.key, body: creds}); err != nil || r.status != http.StatusCreated {
		return budgetTenant{}, fmt.Errorf("register = %d %s, %v; want 201", r.status, r.body, err)
	}
	if r, err = tryDo(ts, req{method: "POST", path: "/api/tenant/auth/login", tenant: tn.key, body: creds}); err != nil || r.status != http.StatusOK {
		return budgetTenant{}, fmt.Errorf("login = %d %s, %v; want 200", r.status, r.body, err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(r.body, &tok); err != nil || tok.AccessToken == "" {
		return budgetTenant{}, fmt.Errorf("login body %s: %v", r.body, err)
	}
	tn.token = tok.AccessToken
	return tn, nil
}

// budgetGetMe sends GET /api/tenant/users/me and reads the response.
func budgetGetMe(client *http.Client, base, tenant, token string) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := http.NewRequestWithContext(ctx, "GET", base+"/api/tenant/users/me", nil)
	if err != nil {
		return 0, nil, err
	}
	r.Header.Set("X-Tenant", tenant)
	r.Header.Set("Authorization", "Bearer "+token)
	res, err := client.Do(r)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, b, err
}

// connSampler polls pg_stat_activity for the connections to the tenant
// databases of one prefix: every database whose name starts with the
// prefix, except a core database named prefix+"core" (as the benchmarks
// name theirs; postgresConfig's is outside the prefix) and the strategy's
// template (prefix+"$template", whose connections while it is migrated are
// outside the budget by design). starts_with is LIKE 'prefix%' without
// LIKE's wildcards ('_' is one).
type connSampler struct {
	done    chan struct{}
	stopped chan struct{}
	samples atomic.Int64

	mu       sync.Mutex
	max      int    // most connections in one sample since the last reset
	maxShot  string // that sample: connections per database, with their states
	firstErr error
}

// startConnSampler starts polling every 2 ms; stop (or the end of the test)
// ends it.
func startConnSampler(t *testing.T, dsn, prefix string) *connSampler {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	if err := db.Ping(); err != nil {
		db.Close()
		t.Fatalf("sampler: %v", err)
	}
	s := &connSampler{done: make(chan struct{}), stopped: make(chan struct{})}
	t.Cleanup(func() { s.stop(); db.Close() })
	go func() { // exits when done is closed
		defer close(s.stopped)
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-s.done:
				return
			case <-tick.C:
			}
			n, shot, err := sampleConns(db, prefix)
			s.mu.Lock()
			switch {
			case err != nil:
				if s.firstErr == nil {
					s.firstErr = err
				}
			case n > s.max:
				s.max, s.maxShot = n, shot
			}
			s.mu.Unlock()
			if err == nil {
				s.samples.Add(1)
			}
		}
	}()
	return s
}

// sampleConns counts the tenant connections of prefix in one snapshot of
// pg_stat_activity, and describes them: per database, each backend's state
// and wait event.
func sampleConns(db *sql.DB, prefix string) (int, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rows, err := db.QueryContext(ctx, `SELECT datname, coalesce(state, '-'), coalesce(wait_event, '-')
		FROM pg_stat_activity
		WHERE starts_with(datname, $1) AND datname <> ($1 || 'core') AND datname <> ($1 || '$template')
		ORDER BY datname`, prefix)
	if err != nil {
		return 0, "", err
	}
	defer rows.Close()
	n := 0
	var shot []string
	for rows.Next() {
		var name, state, wait string
		if err := rows.Scan(&name, &state, &wait); err != nil {
			return 0, "", err
		}
		n++
		shot = append(shot, fmt.Sprintf("%s(%s/%s)", strings.TrimPrefix(name, prefix), state, wait))
	}
	return n, strings.Join(shot, " "), rows.Err()
}

// reset returns the most connections seen so far, and that sample, and
// starts counting afresh.
func (s *connSampler) reset() (int, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, shot := s.max, s.maxShot
	s.max, s.maxShot = 0, ""
	return n, shot
}

// stop ends the polling and returns the most connections seen since the
// last reset, and that sample. It may be called more than once.
func (s *connSampler) stop() (int, string) {
	select {
	case <-s.done:
	default:
		close(s.done)
	}
	<-s.stopped
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.max, s.maxShot
}

func (s *connSampler) err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.firstErr
}
