package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tenantkit/tenantkit/auth"
	"github.com/tenantkit/tenantkit/internal/pgtest"
	"github.com/tenantkit/tenantkit/internal/testenv"
)

// testHashParams make password hashing cheap in tests; production uses
// auth.DefaultParams.
var testHashParams = auth.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}

// testThrottle keeps the login throttle out of the way of tests that are
// not about it: every test client shares one address.
var testThrottle = throttleLimits{accountBurst: 1000, accountRefill: time.Millisecond, addrBurst: 10000, addrRefill: time.Millisecond}

// testRoleSecret derives the passwords of the tests' per-tenant
// PostgreSQL roles.
const testRoleSecret = "test-role-secret-0123456789abcdef0123"

// backend is one database strategy the HTTP contract runs against.
type backend struct {
	name string
	// config returns a fresh configuration whose databases the test owns
	// and cleans up.
	config func(t testing.TB) config
}

// backends lists every strategy: SQLite always, and PostgreSQL with a
// database per tenant and with a schema per tenant, as subtests that skip
// (or fail under CI) without TENANTKIT_TEST_POSTGRES_DSN. Each backend's
// config makes databases (a folder, a core database, a prefix) that no
// other test touches, so the tests run a subtest per backend in parallel
// (t.Parallel): the PostgreSQL ones spend most of their time waiting for
// the server.
func backends() []backend {
	return []backend{
		{name: "sqlite", config: sqliteConfig},
		{name: "postgres", config: postgresConfig},
		{name: "postgres-schema", config: postgresSchemaConfig},
	}
}

// postgresIsolations returns the PostgreSQL backends, named by their
// isolation: a database or a schema per tenant.
func postgresIsolations() []backend {
	return []backend{{name: "database", config: postgresConfig}, {name: "schema", config: postgresSchemaConfig}}
}

func baseConfig(dataDir string) config {
	return config{
		addr: "127.0.0.1:0", dataDir: dataDir, tenantDBPrefix: "tenant_", tenantIsolation: isolationDatabase,
		dbMaxConns: 12, tenantConns: 2, // small: test packages share one PostgreSQL server
		jwtSecret: "test-secret-0123456789abcdef0123456789", jwtAlg: algHS256, tokenTTL: time.Hour,
		logFormat: "text", logLevel: "error",
	}
}

func sqliteConfig(t testing.TB) config {
	dir := t.TempDir()
	c := baseConfig(dir)
	c.coreDB = "sqlite:" + filepath.Join(dir, "core.db")
	c.tenantDB = "sqlite:" + filepath.Join(dir, "tenants")
	return c
}

// postgresConfig makes a core database and a tenant prefix unique to the
// test on the test server, and drops both when the test ends.
func postgresConfig(t testing.TB) config {
	dsn := testenv.PostgresDSN(t)
	b := make([]byte, 4)
	rand.Read(b)
	prefix := "tkt" + hex.EncodeToString(b) + "_"
	coreName := "tktcore" + hex.EncodeToString(b) // outside the tenant prefix

	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	if _, err := admin.Exec(`CREATE DATABASE "` + coreName + `"`); err != nil {
		t.Fatalf("create core database: %v", err)
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + coreName
	c := baseConfig(t.TempDir())
	c.coreDB = u.String()
	c.tenantDB = dsn
	c.tenantDBPrefix = prefix
	c.tenantDBRoleSecret = testRoleSecret
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		if err := pgtest.DropPrefix(ctx, dsn, prefix, 8); err != nil {
			t.Errorf("drop tenant databases and roles: %v", err)
		}
		if _, err := admin.ExecContext(ctx, `DROP DATABASE IF EXISTS "`+coreName+`" WITH (FORCE)`); err != nil {
			t.Errorf("drop core database: %v", err)
		}
	})
	return c
}

// postgresSchemaConfig is postgresConfig with a schema per tenant: the
// tenants' schemas live in a database of their own, named by the test's
// prefix followed by "schemas" so that the cleanup drops it with the
// tenant roles.
func postgresSchemaConfig(t testing.TB) config {
	c := postgresConfig(t)
	name := c.tenantDBPrefix + "schemas"
	admin, err := sql.Open("pgx", c.tenantDB)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.Exec(`CREATE DATABASE "` + name + `"`); err != nil {
		t.Fatalf("create the tenant schemas' database: %v", err)
	}
	u, err := url.Parse(c.tenantDB)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	c.tenantDB = u.String()
	c.tenantIsolation = isolationSchema
	c.tenantSpares = 2 // as -tenant-spares' default does: creations claim spares
	return c
}

// isSchema reports whether cfg keeps a schema per tenant.
func isSchema(cfg config) bool { return cfg.tenantIsolation == isolationSchema }

// testServer is an app served by httptest.
type testServer struct {
	*httptest.Server
	app *app
	cfg config
}

// startServer assembles the app for cfg and serves it; both are closed
// when the test ends (the server first).
func startServer(t testing.TB, cfg config) *testServer {
	t.Helper()
	return startServerWith(t, cfg, appOptions{hashParams: &testHashParams, throttle: &testThrottle})
}

// startServerWith is startServer with other app options.
func startServerWith(t testing.TB, cfg config, opts appOptions) *testServer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	log := slog.New(slog.DiscardHandler)
	a, err := newApp(ctx, cfg, log, opts)
	if err != nil {
		t.Fatalf("newApp: %v", err)
	}
	srv := httptest.NewServer(a.handler)
	ts := &testServer{Server: srv, app: a, cfg: cfg}
	t.Cleanup(func() {
		srv.Close()
		if err := a.Close(); err != nil {
			t.Errorf("close app: %v", err)
		}
	})
	return ts
}

// response is a response read whole.
type response struct {
	status int
	header http.Header
	body   []byte
}

// req describes one request to a testServer.
type req struct {
	method, path string
	body         any    // marshalled to JSON unless a string or []byte
	contentType  string // default application/json when there is a body
	token        string
	tenant       string // X-Tenant; "" sends none
	header       http.Header
}

// do sends q and reads the whole response.
func (ts *testServer) do(t testing.TB, q req) response {
	t.Helper()
	var body io.Reader
	switch b := q.body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
	case []byte:
		body = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		body = bytes.NewReader(j)
	}
	r, err := http.NewRequest(q.method, ts.URL+q.path, body)
	if err != nil {
		t.Fatal(err)
	}
	if q.body != nil {
		ct := q.contentType
		if ct == "" {
			ct = "application/json"
		}
		r.Header.Set("Content-Type", ct)
	}
	if q.token != "" {
		r.Header.Set("Authorization", "Bearer "+q.token)
	}
	if q.tenant != "" {
		r.Header.Set("X-Tenant", q.tenant)
	}
	for k, v := range q.header {
		r.Header[k] = v
	}
	res, err := ts.Client().Do(r)
	if err != nil {
		t.Fatalf("%s %s: %v", q.method, q.path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

// Shortcuts for the common flows. Each fails the test on an unexpected
// status.

func (ts *testServer) mustStatus(t testing.TB, q req, want int) response {
	t.Helper()
	r := ts.do(t, q)
	if r.status != want {
		t.Fatalf("%s %s = %d %s; want %d", q.method, q.path, r.status, r.body, want)
	}
	return r
}

// coreUser registers and logs in a core user and returns its token.
func (ts *testServer) coreUser(t testing.TB, email string) string {
	t.Helper()
	creds := map[string]string{"email": email, "password": "correct horse battery"}
	ts.mustStatus(t, req{method: "POST", path: "/api/register", body: creds}, http.StatusCreated)
	r := ts.mustStatus(t, req{method: "POST", path: "/api/login", body: creds}, http.StatusOK)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	json.Unmarshal(r.body, &tok)
	return tok.AccessToken
}

// org creates an organization with the core token and returns its id and
// slug.
func (ts *testServer) org(t testing.TB, token, name string) (id, slug string) {
	t.Helper()
	r := ts.mustStatus(t, req{method: "POST", path: "/api/organizations", token: token, body: map[string]string{"name": name}}, http.StatusCreated)
	var o struct {
		ID   int64  `json:"id"`
		Slug string `json:"slug"`
	}
	json.Unmarshal(r.body, &o)
	return tenantKey(o.ID), o.Slug
}

// tenantUser registers and logs in a user of one tenant and returns its
// token.
func (ts *testServer) tenantUser(t testing.TB, tenant, email string) string {
	t.Helper()
	creds := map[string]string{"email": email, "password": "correct horse battery"}
	ts.mustStatus(t, req{method: "POST", path: "/api/tenant/auth/register", tenant: tenant, body: creds}, http.StatusCreated)
	r := ts.mustStatus(t, req{method: "POST", path: "/api/tenant/auth/login", tenant: tenant, body: creds}, http.StatusOK)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	json.Unmarshal(r.body, &tok)
	return tok.AccessToken
}

// forEachBackend runs f once per strategy as a subtest with a fresh
// server. The subtests run in parallel (up to -parallel at once).
func forEachBackend(t *testing.T, f func(t *testing.T, ts *testServer)) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel() // databases of its own (see backends)
			f(t, startServer(t, b.config(t)))
		})
	}
}
