package main

// The tenant lifecycle over HTTP: deleting organizations, Idempotency-Key
// on creation, and suspended tenants, changed in this process or another.

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tenantkit/tenantkit/dbstrategy"
	"github.com/tenantkit/tenantkit/dbstrategy/pgstrategy"
	"github.com/tenantkit/tenantkit/dbstrategy/schemastrategy"
	"github.com/tenantkit/tenantkit/dbstrategy/sqlitestrategy"
	"github.com/tenantkit/tenantkit/tenancy"
)

// crossProcessDeadline bounds how long a change made by another process
// may take to reach this one: the change poller runs every second and the
// tenant cache keeps found tenants for 30 s, so a few seconds tell the two
// apart.
const crossProcessDeadline = 10 * time.Second

// ---------------------------------------------------------------------------
// Helpers for the lifecycle and crash tests.

// sendTo sends q to the server at base with c and reads the whole response.
// Unlike ts.do it may run on any goroutine: it returns failures.
func sendTo(c *http.Client, base string, q req) (response, error) {
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
			return response{}, err
		}
		body = bytes.NewReader(j)
	}
	r, err := http.NewRequest(q.method, base+q.path, body)
	if err != nil {
		return response{}, err
	}
	if q.body != nil {
		r.Header.Set("Content-Type", "application/json")
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
	res, err := c.Do(r)
	if err != nil {
		return response{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return response{}, err
	}
	return response{status: res.StatusCode, header: res.Header, body: b}, nil
}

// idemKey is the header of an Idempotency-Key.
func idemKey(k string) http.Header { return http.Header{"Idempotency-Key": {k}} }

// awaitStatus sends q until it answers want, and fails the test if it has
// not by the deadline.
func awaitStatus(t testing.TB, ts *testServer, q req, want int, within time.Duration) response {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		r := ts.do(t, q)
		if r.status == want {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s %s (X-Tenant %q) = %d %s after %v; want %d", q.method, q.path, q.tenant, r.status, r.body, within, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// eachServer returns cfg as one configuration per tenant server.
func eachServer(cfg config) []config {
	var cfgs []config
	for _, srv := range cfg.tenantServers {
		c := cfg
		c.tenantDB, c.tenantServers = srv.url, nil
		cfgs = append(cfgs, c)
	}
	return cfgs
}

// tenantDBLeft lists what exists of tenant id's database: its SQLite file
// and the -wal, -shm and -journal files beside it, or its PostgreSQL
// database (prefix + id).
func tenantDBLeft(t testing.TB, cfg config, id int64) []string {
	t.Helper()
	if len(cfg.tenantServers) > 1 {
		var left []string
		for _, srv := range eachServer(cfg) {
			left = append(left, tenantDBLeft(t, srv, id)...)
		}
		return left
	}
	key := tenantKey(id)
	if dir, ok := strings.CutPrefix(cfg.tenantDB, "sqlite:"); ok {
		base := filepath.Join(dir, cfg.tenantDBPrefix+key+".db")
		var left []string
		for _, p := range []string{base, base + "-wal", base + "-shm", base + "-journal"} {
			_, err := os.Stat(p)
			switch {
			case err == nil:
				left = append(left, filepath.Base(p))
			case !errors.Is(err, fs.ErrNotExist):
				t.Fatal(err)
			}
		}
		return left
	}
	db := openPG(t, cfg.tenantDB)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var n int
	name := cfg.tenantDBPrefix + key
	query := `SELECT count(*) FROM pg_database WHERE datname = $1`
	if isSchema(cfg) {
		query = `SELECT count(*) FROM pg_namespace WHERE nspname = $1`
	}
	if err := db.QueryRowContext(ctx, query, name).Scan(&n); err != nil {
		t.Fatalf("look for database %s: %v", name, err)
	}
	if n > 0 {
		return []string{name}
	}
	return nil
}

// storedTenantIDs lists the tenants whose database exists, sorted, and
// the names under the tenant prefix that are no tenant's database (a
// -wal file without its database, say). The PostgreSQL core database of
// postgresConfig, the migrated template and the schemas' database of
// postgresSchemaConfig share the prefix and are skipped. With a schema per
// tenant, the tenants are the schemas under the prefix.
func storedTenantIDs(t testing.TB, cfg config) (ids []int64, strays []string) {
	t.Helper()
	if len(cfg.tenantServers) > 1 {
		for _, srv := range eachServer(cfg) {
			i, s := storedTenantIDs(t, srv)
			ids, strays = append(ids, i...), append(strays, s...)
		}
		slices.Sort(ids) // a tenant on two servers shows twice
		return ids, strays
	}
	var names []string
	if dir, ok := strings.CutPrefix(cfg.tenantDB, "sqlite:"); ok {
		entries, err := os.ReadDir(dir)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
		for _, e := range entries {
			n := e.Name()
			for _, suffix := range []string{"-wal", "-shm", "-journal"} {
				n = strings.TrimSuffix(n, suffix)
			}
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
		for _, n := range names {
			id, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(n, cfg.tenantDBPrefix), ".db"), 10, 64)
			switch {
			case err != nil || !strings.HasPrefix(n, cfg.tenantDBPrefix) || !strings.HasSuffix(n, ".db") || tenantKey(id) != strings.TrimSuffix(strings.TrimPrefix(n, cfg.tenantDBPrefix), ".db"):
				strays = append(strays, n)
			case !slices.Contains(entryNames(entries), n):
				strays = append(strays, n+"-* without "+n)
			default:
				ids = append(ids, id)
			}
		}
		slices.Sort(ids)
		return ids, strays
	}
	db := openPG(t, cfg.tenantDB)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	query := `SELECT datname::text FROM pg_database WHERE starts_with(datname::text, $1)`
	if isSchema(cfg) {
		// Spares, made in the background, are no tenant's.
		query = `SELECT nspname::text FROM pg_namespace WHERE starts_with(nspname::text, $1) AND NOT starts_with(nspname::text, $1 || '-')`
	}
	rows, err := db.QueryContext(ctx, query, cfg.tenantDBPrefix)
	if err != nil {
		t.Fatalf("list tenant databases: %v", err)
	}
	defer rows.Close()
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		key := strings.TrimPrefix(n, cfg.tenantDBPrefix)
		if key == "core" || key == "$template" || key == "schemas" {
			continue
		}
		if id, err := strconv.ParseInt(key, 10, 64); err == nil && tenantKey(id) == key {
			ids = append(ids, id)
		} else {
			strays = append(strays, n)
		}
	}
	slices.Sort(ids)
	return ids, strays
}

func entryNames(entries []os.DirEntry) []string {
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	return names
}

// openPG opens a PostgreSQL handle closed when the test ends.
func openPG(t testing.TB, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// otherProcessCoreDB opens the core database on a handle of its own, as
// another process (the admin CLI, another replica) would.
func otherProcessCoreDB(t testing.TB, cfg config) *sql.DB {
	t.Helper()
	path, ok := strings.CutPrefix(cfg.coreDB, "sqlite:")
	if !ok {
		return openPG(t, cfg.coreDB)
	}
	db, err := sql.Open("sqlite3", "file:"+filepath.ToSlash(path)+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(wal)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// otherProcessStrategy opens the tenant strategy of cfg on its own, as
// another process would: its Create makes a database without migrating
// it.
func otherProcessStrategy(t testing.TB, cfg config) dbstrategy.Strategy {
	t.Helper()
	if dir, ok := strings.CutPrefix(cfg.tenantDB, "sqlite:"); ok {
		s, err := sqlitestrategy.New(sqlitestrategy.Config{Dir: dir, Prefix: cfg.tenantDBPrefix})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if isSchema(cfg) {
		s, err := schemastrategy.New(ctx, schemastrategy.Config{DSN: cfg.tenantDB, Prefix: cfg.tenantDBPrefix, Roles: cfg.tenantDBRoleSecret != "off"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	s, err := pgstrategy.New(ctx, pgstrategy.Config{DSN: cfg.tenantDB, Prefix: cfg.tenantDBPrefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// otherProcessStore is the core store on a pool of its own, as another
// process (the admin CLI, another replica) has it: its changes reach the
// server only through the core database.
func otherProcessStore(t testing.TB, cfg config) *sqlCoreStore {
	t.Helper()
	db := otherProcessCoreDB(t, cfg)
	st, err := openCoreStore(context.Background(), db, coreDialect(cfg))
	if err != nil {
		t.Fatalf("open the core store: %v", err)
	}
	return st
}

// coreDialect is the dialect of cfg's core database.
func coreDialect(cfg config) string {
	if strings.HasPrefix(cfg.coreDB, "sqlite:") {
		return "sqlite3"
	}
	return "postgres"
}

// setOrgStatus moves an organization from one state to another in the
// registry, as another process or a crash could leave it, and forgets the
// app's cached lookups of it.
func setOrgStatus(ctx context.Context, a *app, id int64, from, to OrgStatus) error {
	rec, err := a.reg.SetStatus(ctx, tenantKey(id), tenancy.Status(from), tenancy.Status(to))
	if err != nil {
		return err
	}
	a.lookup.Invalidate(rec.ID, rec.Slug)
	return nil
}

// deleteOrgRecords removes an organization's registry record and row,
// leaving its database: what a crash mid-delete could leave.
func deleteOrgRecords(ctx context.Context, a *app, id int64) error {
	if err := a.reg.Delete(ctx, tenantKey(id)); err != nil {
		return err
	}
	return a.store.DeleteOrganization(ctx, id)
}

// orgIDs returns the ids of orgs.
func orgIDs(orgs []orgDoc) []int64 {
	ids := make([]int64, len(orgs))
	for i, o := range orgs {
		ids[i] = o.ID
	}
	return ids
}

// listOrgs lists the organizations of the holder of a core token.
func listOrgs(t testing.TB, ts *testServer, token string) []orgDoc {
	t.Helper()
	return checkOrgList(t, expectStatus(t, ts, req{method: "GET", path: "/api/organizations", token: token}, http.StatusOK))
}

// ---------------------------------------------------------------------------
// DELETE /api/organizations/{id}

func TestDeleteOrganization(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ts *testServer) {
		owner := ts.coreUser(t, "del-owner@example.com")
		other := ts.coreUser(t, "del-other@example.com")
		doomed := createOrg(t, ts, owner, map[string]any{"name": "Doomed", "slug": "doomed-org"})
		kept := createOrg(t, ts, owner, map[string]any{"name": "Kept"})
		id := tenantKey(doomed.ID)
		path := "/api/organizations/" + id
		tok := ts.tenantUser(t, id, "member@example.com")
		getMe(t, ts, doomed.Slug, tok) // the lookups by id and by slug are now cached
		keptTok := ts.tenantUser(t, tenantKey(kept.ID), "kept@example.com")
		if left := tenantDBLeft(t, ts.cfg, doomed.ID); len(left) == 0 {
			t.Fatalf("before the delete, tenant %s has no database", id)
		}

		t.Run("refused", func(t *testing.T) {
			before := tenantStorage(t, ts)
			for _, tt := range []struct {
				name, path, token string
				want              int
			}{
				{"no token", path, "", http.StatusUnauthorized},
				{"tenant token", path, tok, http.StatusUnauthorized},
				{"another user", path, other, http.StatusNotFound},
				{"no token, unknown id", "/api/organizations/9223372036854775807", "", http.StatusUnauthorized},
				{"unknown id", "/api/organizations/9223372036854775807", owner, http.StatusNotFound},
				{"letters", "/api/organizations/abc", owner, http.StatusNotFound},
				{"zero", "/api/organizations/0", owner, http.StatusNotFound},
				{"negative", "/api/organizations/-" + id, owner, http.StatusNotFound},
				{"leading zero", "/api/organizations/0" + id, owner, http.StatusNotFound},
				{"plus sign", "/api/organizations/+" + id, owner, http.StatusNotFound},
				{"decimal", "/api/organizations/" + id + ".0", owner, http.StatusNotFound},
				{"2^63", "/api/organizations/9223372036854775808", owner, http.StatusNotFound},
				{"slug", "/api/organizations/" + doomed.Slug, owner, http.StatusNotFound},
			} {
				t.Run(tt.name, func(t *testing.T) {
					r := expectStatus(t, ts, req{method: "DELETE", path: tt.path, token: tt.token}, tt.want)
					if tt.want == http.StatusUnauthorized && r.header.Get("WWW-Authenticate") != "Bearer" {
						t.Errorf("WWW-Authenticate = %q; want %q", r.header.Get("WWW-Authenticate"), "Bearer")
					}
				})
			}
			expectStatus(t, ts, req{method: "GET", path: path, token: owner}, http.StatusOK)
			getMe(t, ts, id, tok)
			checkStorageUnchanged(t, ts, before)
		})

		r := expectStatus(t, ts, req{method: "DELETE", path: path, token: owner}, http.StatusNoContent)
		if len(r.body) != 0 {
			t.Errorf("DELETE %s body = %q; want none", path, r.body)
		}

		t.Run("database gone", func(t *testing.T) {
			if left := tenantDBLeft(t, ts.cfg, doomed.ID); len(left) != 0 {
				t.Errorf("after DELETE %s, left of its database: %q; want nothing", path, left)
			}
			if left := tenantDBLeft(t, ts.cfg, kept.ID); len(left) == 0 {
				t.Errorf("after DELETE %s, the database of organization %d is gone too", path, kept.ID)
			}
		})

		t.Run("not found", func(t *testing.T) {
			expectStatus(t, ts, req{method: "GET", path: path, token: owner}, http.StatusNotFound)
			if got := orgIDs(listOrgs(t, ts, owner)); !slices.Equal(got, []int64{kept.ID}) {
				t.Errorf("organizations after the delete = %v; want [%d]", got, kept.ID)
			}
			expectStatus(t, ts, req{method: "DELETE", path: path, token: owner}, http.StatusNotFound)
			creds := map[string]string{"email": "member@example.com", "password": testPassword}
			for _, hint := range []string{id, doomed.Slug} {
				for _, q := range []req{
					{method: "GET", path: "/api/tenant/users/me", tenant: hint, token: tok},
					{method: "GET", path: "/api/tenant/users/me", tenant: hint},
					{method: "PUT", path: "/api/tenant/users/me", tenant: hint, token: tok, body: map[string]string{"display_name": "x"}},
					{method: "POST", path: "/api/tenant/auth/login", tenant: hint, body: creds},
					{method: "POST", path: "/api/tenant/auth/register", tenant: hint, body: creds},
				} {
					expectStatus(t, ts, q, http.StatusNotFound)
				}
			}
		})

		t.Run("others unaffected", func(t *testing.T) {
			getMe(t, ts, tenantKey(kept.ID), keptTok)
			ts.tenantUser(t, kept.Slug, "kept-2@example.com")
		})

		t.Run("slug reused", func(t *testing.T) {
			again := createOrg(t, ts, owner, map[string]any{"name": "Doomed Again", "slug": doomed.Slug})
			if again.ID == doomed.ID {
				t.Fatalf("new organization id = %d; want a new id, not the deleted one's", again.ID)
			}
			newID := tenantKey(again.ID)
			for _, hint := range []string{newID, again.Slug} {
				expectStatus(t, ts, req{method: "GET", path: "/api/tenant/users/me", tenant: hint, token: tok}, http.StatusUnauthorized)
				expectStatus(t, ts, req{method: "POST", path: "/api/tenant/auth/login", tenant: hint,
					body: map[string]string{"email": "member@example.com", "password": testPassword}}, http.StatusUnauthorized)
			}
			// The old tenant's user is not in the new tenant: the email is free.
			newTok := ts.tenantUser(t, again.Slug, "member@example.com")
			getMe(t, ts, newID, newTok)
		})

		t.Run("suspended", func(t *testing.T) {
			ctx := context.Background()
			if _, err := ts.app.core.SetStatus(ctx, kept.ID, OrgActive, OrgSuspended); err != nil {
				t.Fatalf("suspend: %v", err)
			}
			expectStatus(t, ts, req{method: "DELETE", path: "/api/organizations/" + tenantKey(kept.ID), token: owner}, http.StatusNoContent)
			if left := tenantDBLeft(t, ts.cfg, kept.ID); len(left) != 0 {
				t.Errorf("after deleting suspended organization %d, left of its database: %q; want nothing", kept.ID, left)
			}
			expectStatus(t, ts, req{method: "GET", path: "/api/tenant/users/me", tenant: kept.Slug, token: keptTok}, http.StatusNotFound)
		})

		t.Run("storage matches rows", func(t *testing.T) {
			checkStorageMatchesRows(t, ts)
		})
	})
}

// checkStorageMatchesRows checks that every tenant database belongs to an
// organization of the core database and every organization has one.
func checkStorageMatchesRows(t testing.TB, ts *testServer) {
	t.Helper()
	orgs, err := ts.app.core.store.AllOrganizations(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var rows []int64
	for _, o := range orgs {
		rows = append(rows, o.ID)
	}
	stored, strays := storedTenantIDs(t, ts.cfg)
	if !slices.Equal(stored, rows) {
		t.Errorf("tenant databases of organizations %v; organization rows %v; want the same", stored, rows)
	}
	if len(strays) > 0 {
		t.Errorf("tenant storage holds %q, no tenant's database", strays)
	}
}

// ---------------------------------------------------------------------------
// Idempotency-Key on POST /api/organizations

func TestIdempotencyKey(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ts *testServer) {
		owner := ts.coreUser(t, "idem-owner@example.com")
		other := ts.coreUser(t, "idem-other@example.com")
		body := map[string]any{"name": "Idem Co"}
		create := func(token, key string, body any) req {
			return req{method: "POST", path: "/api/organizations", token: token, body: body, header: idemKey(key)}
		}

		r1 := expectStatus(t, ts, create(owner, "key-1", body), http.StatusCreated)
		first := checkOrgDoc(t, decodeDoc(t, r1))

		t.Run("same key, same body", func(t *testing.T) {
			for i := range 2 {
				r := expectStatus(t, ts, create(owner, "key-1", body), http.StatusCreated)
				if got, want := decodeDoc(t, r), decodeDoc(t, r1); !reflect.DeepEqual(got, want) {
					t.Errorf("retry %d = %s; want the first response %s", i+1, r.body, r1.body)
				}
			}
			if got := orgIDs(listOrgs(t, ts, owner)); !slices.Equal(got, []int64{first.ID}) {
				t.Errorf("organizations = %v; want only [%d]", got, first.ID)
			}
		})

		t.Run("same key, other body", func(t *testing.T) {
			for _, b := range []map[string]any{
				{"name": "Idem Co 2"},
				{"name": "Idem Co", "slug": first.Slug},
				{"name": "Idem Co", "slug": "idem-elsewhere"},
			} {
				expect422(t, ts, create(owner, "key-1", b), "")
			}
			if got := orgIDs(listOrgs(t, ts, owner)); !slices.Equal(got, []int64{first.ID}) {
				t.Errorf("organizations = %v; want only [%d]", got, first.ID)
			}
		})

		var second orgDoc
		t.Run("other key", func(t *testing.T) {
			r := expectStatus(t, ts, create(owner, "key-2", body), http.StatusCreated)
			second = checkOrgDoc(t, decodeDoc(t, r))
			if second.ID == first.ID || second.Slug == first.Slug {
				t.Errorf("with another key = %s; want a new organization, not %+v", r.body, first)
			}
			if got := orgIDs(listOrgs(t, ts, owner)); !slices.Equal(got, []int64{first.ID, second.ID}) {
				t.Errorf("organizations = %v; want [%d %d]", got, first.ID, second.ID)
			}
		})

		t.Run("per user", func(t *testing.T) {
			r := expectStatus(t, ts, create(other, "key-1", body), http.StatusCreated)
			theirs := checkOrgDoc(t, decodeDoc(t, r))
			if theirs.ID == first.ID || theirs.ID == second.ID {
				t.Errorf("another user with the same key got organization %d; want one of their own", theirs.ID)
			}
			if got := orgIDs(listOrgs(t, ts, other)); !slices.Equal(got, []int64{theirs.ID}) {
				t.Errorf("other user's organizations = %v; want [%d]", got, theirs.ID)
			}
			if got := orgIDs(listOrgs(t, ts, owner)); !slices.Equal(got, []int64{first.ID, second.ID}) {
				t.Errorf("owner's organizations = %v; want [%d %d]", got, first.ID, second.ID)
			}
			// And the owner's replay still answers the owner's organization.
			r = expectStatus(t, ts, create(owner, "key-1", body), http.StatusCreated)
			if got := checkOrgDoc(t, decodeDoc(t, r)); got.ID != first.ID {
				t.Errorf("owner's retry after another user used the key = %d; want %d", got.ID, first.ID)
			}
		})

		t.Run("invalid key", func(t *testing.T) {
			before := listOrgs(t, ts, owner)
			storage := tenantStorage(t, ts)
			for _, tt := range []struct{ name, key string }{
				{"256 characters", strings.Repeat("k", 256)},
				{"inner space", "two words"},
				{"non-ASCII", "clé-1"},
				{"tab", "key\tone"},
			} {
				t.Run(tt.name, func(t *testing.T) {
					expect422(t, ts, create(owner, tt.key, body), "")
					// The token is checked first.
					expectStatus(t, ts, create("", tt.key, body), http.StatusUnauthorized)
				})
			}
			if got := listOrgs(t, ts, owner); len(got) != len(before) {
				t.Errorf("organizations after invalid keys = %v; want %v", orgIDs(got), orgIDs(before))
			}
			checkStorageUnchanged(t, ts, storage)
		})

		t.Run("255 characters", func(t *testing.T) {
			key := strings.Repeat("~", 255)
			a := checkOrgDoc(t, decodeDoc(t, expectStatus(t, ts, create(owner, key, body), http.StatusCreated)))
			b := checkOrgDoc(t, decodeDoc(t, expectStatus(t, ts, create(owner, key, body), http.StatusCreated)))
			if a.ID != b.ID {
				t.Errorf("retry with a 255-character key made organization %d; want %d", b.ID, a.ID)
			}
		})

		t.Run("concurrent", func(t *testing.T) {
			const n = 5
			body := map[string]any{"name": "Burst Co"}
			var wg sync.WaitGroup
			start := make(chan struct{})
			results := make([]response, n)
			errs := make([]error, n)
			for i := range n {
				wg.Go(func() {
					<-start
					results[i], errs[i] = sendTo(ts.Client(), ts.URL, create(owner, "burst-key", body))
				})
			}
			close(start)
			wg.Wait()
			var created []int64
			for i, r := range results {
				switch {
				case errs[i] != nil:
					t.Errorf("request %d: %v", i, errs[i])
				case r.status == http.StatusCreated:
					created = append(created, checkOrgDoc(t, decodeDoc(t, r)).ID)
				case r.status == http.StatusConflict:
					checkProblemBody(t, ts, req{method: "POST", path: "/api/organizations"}, r)
				default:
					t.Errorf("request %d = %d %s; want 201 or 409", i, r.status, r.body)
				}
			}
			var burst []orgDoc
			for _, o := range listOrgs(t, ts, owner) {
				if o.Name == "Burst Co" {
					burst = append(burst, o)
				}
			}
			if len(burst) != 1 {
				t.Fatalf("organizations named Burst Co = %+v; want exactly one", burst)
			}
			if burst[0].Status != "active" {
				t.Errorf("status = %q; want active", burst[0].Status)
			}
			if len(created) == 0 {
				t.Errorf("no request answered 201")
			}
			for _, id := range created {
				if id != burst[0].ID {
					t.Errorf("a 201 named organization %d; want %d, the only one", id, burst[0].ID)
				}
			}
			r := expectStatus(t, ts, create(owner, "burst-key", body), http.StatusCreated)
			if got := checkOrgDoc(t, decodeDoc(t, r)).ID; got != burst[0].ID {
				t.Errorf("retry after the burst = %d; want %d", got, burst[0].ID)
			}
		})

		t.Run("storage matches rows", func(t *testing.T) {
			checkStorageMatchesRows(t, ts)
		})
	})
}

// ---------------------------------------------------------------------------
// Suspended and resumed tenants.

func TestOrganizationStates(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ts *testServer) {
		ctx := context.Background()
		owner := ts.coreUser(t, "states-owner@example.com")
		o := createOrg(t, ts, owner, map[string]any{"name": "Stateful"})
		id := tenantKey(o.ID)
		tok := ts.tenantUser(t, id, "member@example.com")
		creds := map[string]string{"email": "member@example.com", "password": testPassword}
		hints := []string{id, o.Slug}
		warm := func(t *testing.T) {
			t.Helper()
			for _, h := range hints {
				getMe(t, ts, h, tok)
			}
		}

		t.Run("suspend in process", func(t *testing.T) {
			warm(t)
			got, err := ts.app.core.SetStatus(ctx, o.ID, OrgActive, OrgSuspended)
			if err != nil || got.Status != OrgSuspended {
				t.Fatalf("SetStatus(active → suspended) = %+v, %v; want suspended", got, err)
			}
			for _, h := range hints {
				for _, q := range []req{
					{method: "GET", path: "/api/tenant/users/me", tenant: h, token: tok},
					{method: "GET", path: "/api/tenant/users/me", tenant: h},
					{method: "PUT", path: "/api/tenant/users/me", tenant: h, token: tok, body: map[string]string{"display_name": "x"}},
					{method: "POST", path: "/api/tenant/auth/login", tenant: h, body: creds},
					{method: "POST", path: "/api/tenant/auth/register", tenant: h, body: map[string]string{"email": "new@example.com", "password": testPassword}},
				} {
					r := expectStatus(t, ts, q, http.StatusForbidden)
					if p := problemOf(r); !strings.Contains(strings.ToLower(p.Detail), "suspended") {
						t.Errorf("%s %s (X-Tenant %q): detail = %q; want it to say the organization is suspended", q.method, q.path, h, p.Detail)
					}
				}
			}
			doc := checkOrgDoc(t, decodeDoc(t, expectStatus(t, ts, req{method: "GET", path: "/api/organizations/" + id, token: owner}, http.StatusOK)))
			if doc.Status != "suspended" {
				t.Errorf("GET organization status = %q; want suspended", doc.Status)
			}
			if list := listOrgs(t, ts, owner); len(list) != 1 || list[0].Status != "suspended" {
				t.Errorf("organizations = %+v; want it listed as suspended", list)
			}
		})

		t.Run("resume in process", func(t *testing.T) {
			got, err := ts.app.core.SetStatus(ctx, o.ID, OrgSuspended, OrgActive)
			if err != nil || got.Status != OrgActive {
				t.Fatalf("SetStatus(suspended → active) = %+v, %v; want active", got, err)
			}
			warm(t)
			login(t, ts, o.Slug, "member@example.com", testPassword)
			doc := checkOrgDoc(t, decodeDoc(t, expectStatus(t, ts, req{method: "GET", path: "/api/organizations/" + id, token: owner}, http.StatusOK)))
			if doc.Status != "active" {
				t.Errorf("GET organization status = %q; want active", doc.Status)
			}
		})

		t.Run("wrong from state", func(t *testing.T) {
			if _, err := ts.app.core.SetStatus(ctx, o.ID, OrgSuspended, OrgActive); err == nil {
				t.Errorf("SetStatus(suspended → active) of an active organization = nil; want an error")
			}
			warm(t)
		})

		other := otherProcessStore(t, ts.cfg)
		setElsewhere := func(t *testing.T, from, to OrgStatus) {
			t.Helper()
			if _, err := other.reg.SetStatus(ctx, id, tenancy.Status(from), tenancy.Status(to)); err != nil {
				t.Fatalf("another process: %s → %s: %v", from, to, err)
			}
		}

		t.Run("suspend in another process", func(t *testing.T) {
			warm(t)
			setElsewhere(t, OrgActive, OrgSuspended)
			for _, h := range hints {
				awaitStatus(t, ts, req{method: "GET", path: "/api/tenant/users/me", tenant: h, token: tok}, http.StatusForbidden, crossProcessDeadline)
			}
		})

		t.Run("resume in another process", func(t *testing.T) {
			setElsewhere(t, OrgSuspended, OrgActive)
			for _, h := range hints {
				awaitStatus(t, ts, req{method: "GET", path: "/api/tenant/users/me", tenant: h, token: tok}, http.StatusOK, crossProcessDeadline)
			}
		})

		t.Run("delete in another process", func(t *testing.T) {
			// What a deleting process does (deleteOrg, finishDelete): mark
			// the row deleting, drop the database, remove the row, all
			// between two polls of the server.
			warm(t)
			setElsewhere(t, OrgActive, OrgDeleting)
			if err := otherProcessStrategy(t, ts.cfg).Drop(ctx, id); err != nil {
				t.Fatalf("drop the tenant database: %v", err)
			}
			if err := other.reg.Delete(ctx, id); err != nil {
				t.Fatalf("delete the registry record: %v", err)
			}
			if err := other.DeleteOrganization(ctx, o.ID); err != nil {
				t.Fatalf("delete the organization row: %v", err)
			}
			for _, h := range hints {
				awaitStatus(t, ts, req{method: "GET", path: "/api/tenant/users/me", tenant: h, token: tok}, http.StatusNotFound, crossProcessDeadline)
				awaitStatus(t, ts, req{method: "POST", path: "/api/tenant/auth/login", tenant: h, body: creds}, http.StatusNotFound, crossProcessDeadline)
			}
			if left := tenantDBLeft(t, ts.cfg, o.ID); len(left) != 0 {
				t.Errorf("left of the deleted tenant's database: %q; want nothing", left)
			}
		})
	})
}
