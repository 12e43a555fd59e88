package main

// Crashes in the middle of the tenant lifecycle. Whatever step a crash
// interrupts, the next start (Reconcile, in newApp) leaves every
// organization active with a working database, or gone with its database,
// and no database without its organization; until then a tenant that is
// not ready is never served.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tenantkit/tenantkit/internal/pgtest"
	"github.com/tenantkit/tenantkit/tenancy/registry"
)

// errInjected is the failure a faultyProvisioner injects.
var errInjected = errors.New("injected failure")

// fault says when a faultyProvisioner call fails.
type fault int

const (
	faultNone   fault = iota // pass the call through
	faultBefore              // fail without making the call
	faultAfter               // make the call, then fail
)

// faultyProvisioner wraps the app's real Provisioner and fails its calls as
// set, to leave an organization where a crash at that step would.
type faultyProvisioner struct {
	real registry.Provisioner

	mu           sync.Mutex
	create, drop fault
}

func (p *faultyProvisioner) set(create, drop fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.create, p.drop = create, drop
}

func (p *faultyProvisioner) Create(ctx context.Context, tenantID string) error {
	p.mu.Lock()
	f := p.create
	p.mu.Unlock()
	return inject(f, func() error { return p.real.Create(ctx, tenantID) })
}

func (p *faultyProvisioner) Drop(ctx context.Context, tenantID string) error {
	p.mu.Lock()
	f := p.drop
	p.mu.Unlock()
	return inject(f, func() error { return p.real.Drop(ctx, tenantID) })
}

func inject(f fault, call func() error) error {
	switch f {
	case faultBefore:
		return errInjected
	case faultAfter:
		if err := call(); err != nil {
			return err
		}
		return errInjected
	}
	return call()
}

// startFaultyServer is startServer with the app's Provisioner wrapped in a
// faultyProvisioner (passing everything through until set).
func startFaultyServer(t *testing.T, cfg config) (*testServer, *faultyProvisioner) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	fp := &faultyProvisioner{}
	a, err := newApp(ctx, cfg, slog.New(slog.DiscardHandler), appOptions{hashParams: &testHashParams,
		provisioner: func(real registry.Provisioner) registry.Provisioner { fp.real = real; return fp }})
	if err != nil {
		t.Fatalf("newApp: %v", err)
	}
	srv := httptest.NewServer(a.handler)
	t.Cleanup(func() {
		srv.Close()
		if err := a.Close(); err != nil {
			t.Errorf("close app: %v", err)
		}
	})
	return &testServer{Server: srv, app: a, cfg: cfg}, fp
}

// crashCase is an organization a crash left between two states.
type crashCase struct {
	name, slug string
	status     OrgStatus // left in
	hasDB      bool      // its database exists when the crash happens
	survives   bool      // after the restart it is active; else gone
}

func TestCrashRecovery(t *testing.T) {
	bs := backends()
	if !testing.Short() {
		// The tenants placed on two PostgreSQL servers: the test server
		// and a private cluster.
		second := pgtest.StartCluster(t).DSN()
		for _, b := range bs[1:] {
			bs = append(bs, backend{name: b.name + "-two-servers", config: func(t testing.TB) config { return placementConfig(t, b.config(t), second) }})
		}
	}
	for _, b := range bs {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel() // databases of its own (see backends)
			cfg := b.config(t)
			ts, fp := startFaultyServer(t, cfg)
			ctx := context.Background()
			owner := ts.coreUser(t, "crash-owner@example.com")
			u, err := ts.app.core.store.UserByEmail(ctx, "crash-owner@example.com")
			if err != nil {
				t.Fatal(err)
			}
			bystander := createOrg(t, ts, owner, map[string]any{"name": "Bystander"})
			byTok := ts.tenantUser(t, bystander.Slug, "bystander@example.com")
			createReq := func(slug, key string) req {
				q := req{method: "POST", path: "/api/organizations", token: owner, body: map[string]any{"name": "Crash " + slug, "slug": slug}}
				if key != "" {
					q.header = idemKey(key)
				}
				return q
			}
			want503 := func(t *testing.T, q req) {
				t.Helper()
				r := expectStatus(t, ts, q, http.StatusServiceUnavailable)
				if r.header.Get("Retry-After") == "" {
					t.Errorf("%s %s = 503 without Retry-After", q.method, q.path)
				}
			}

			cases := []crashCase{
				{name: "row only", slug: "crash-row-only", status: OrgProvisioning, survives: true},
				{name: "database made and migrated", slug: "crash-migrated", status: OrgProvisioning, hasDB: true, survives: true},
				{name: "database made, not migrated", slug: "crash-empty-db", status: OrgProvisioning, hasDB: true, survives: true},
				{name: "deleting, database left", slug: "crash-deleting", status: OrgDeleting, hasDB: true},
				{name: "deleting, database dropped", slug: "crash-dropped", status: OrgDeleting},
			}

			// Row only: creating the database fails, and so does the
			// cleanup, as if the process had died after writing the row.
			fp.set(faultBefore, faultBefore)
			want503(t, createReq("crash-row-only", "crash-key"))
			// A retry while it is provisioning is in progress, not a second
			// organization.
			if r := expectStatus(t, ts, createReq("crash-row-only", "crash-key"), http.StatusConflict); r.header.Get("Retry-After") == "" {
				t.Errorf("retry while provisioning = 409 without Retry-After")
			}

			// The database is made and migrated, then the process dies
			// before the row is marked active.
			fp.set(faultAfter, faultBefore)
			want503(t, createReq("crash-migrated", ""))

			// Another process wrote the row and made the database, and died
			// before migrating it.
			fp.set(faultNone, faultNone)
			empty, err := ts.app.core.store.CreateOrganization(ctx, Organization{
				Name: "Crash crash-empty-db", Slug: "crash-empty-db", Status: OrgProvisioning,
				OwnerID: u.ID, CreatedAt: time.Now().UTC().Truncate(time.Microsecond),
			}, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			made := otherProcessStrategy(t, cfg)
			if ts.app.servers.placed() {
				made = ts.app.servers.router // on the server its record names
			}
			if err := made.Create(ctx, tenantKey(empty.ID)); err != nil {
				t.Fatal(err)
			}

			// Deletes that die before and after dropping the database.
			for _, c := range []struct {
				slug string
				drop fault
			}{{"crash-deleting", faultBefore}, {"crash-dropped", faultAfter}} {
				o := createOrg(t, ts, owner, map[string]any{"name": "Crash " + c.slug, "slug": c.slug})
				ts.tenantUser(t, c.slug, "doomed@example.com")
				fp.set(faultNone, c.drop)
				want503(t, req{method: "DELETE", path: "/api/organizations/" + tenantKey(o.ID), token: owner})
			}
			fp.set(faultNone, faultNone)

			ids := map[string]int64{}
			t.Run("left between states", func(t *testing.T) {
				orgs, err := ts.app.core.store.AllOrganizations(ctx)
				if err != nil {
					t.Fatal(err)
				}
				for _, o := range orgs {
					ids[o.Slug] = o.ID
				}
				for _, c := range cases {
					o := orgs[slices.IndexFunc(orgs, func(o Organization) bool { return o.Slug == c.slug })]
					if o.Status != c.status {
						t.Errorf("%s: status = %q; want %q", c.name, o.Status, c.status)
					}
					if got := len(tenantDBLeft(t, cfg, o.ID)) > 0; got != c.hasDB {
						t.Errorf("%s: database exists = %v; want %v", c.name, got, c.hasDB)
					}
				}
			})
			if t.Failed() {
				t.FailNow()
			}

			t.Run("not served before the restart", func(t *testing.T) {
				creds := map[string]string{"email": "early@example.com", "password": testPassword}
				for _, c := range cases {
					for _, hint := range []string{tenantKey(ids[c.slug]), c.slug} {
						qs := []req{
							{method: "POST", path: "/api/tenant/auth/register", tenant: hint, body: creds},
							{method: "POST", path: "/api/tenant/auth/login", tenant: hint, body: creds},
							{method: "GET", path: "/api/tenant/users/me", tenant: hint},
						}
						for _, q := range qs {
							if c.status == OrgProvisioning {
								want503(t, q)
							} else {
								expectStatus(t, ts, q, http.StatusNotFound)
							}
						}
					}
					if c.status == OrgProvisioning {
						// Deleting an organization still being provisioned
						// waits for it.
						expectStatus(t, ts, req{method: "DELETE", path: "/api/organizations/" + tenantKey(ids[c.slug]), token: owner}, http.StatusConflict)
					}
				}
			})

			// The crash: the process goes away; no cleanup runs.
			ts.Server.Close()
			if err := ts.app.Close(); err != nil {
				t.Fatalf("close the first app: %v", err)
			}

			ts2 := startServer(t, cfg)
			t.Run("after the restart", func(t *testing.T) {
				orgs, err := ts2.app.core.store.AllOrganizations(ctx)
				if err != nil {
					t.Fatal(err)
				}
				for _, o := range orgs {
					if o.Status != OrgActive {
						t.Errorf("organization %d (%s) = %q after the restart; want active", o.ID, o.Slug, o.Status)
					}
					if o.SchemaVersion != ts2.app.version {
						t.Errorf("organization %d (%s) schema_version = %d; want %d", o.ID, o.Slug, o.SchemaVersion, ts2.app.version)
					}
				}
				checkStorageMatchesRows(t, ts2)
				getMe(t, ts2, bystander.Slug, byTok)
				for _, c := range cases {
					id := tenantKey(ids[c.slug])
					t.Run(c.name, func(t *testing.T) {
						if !c.survives {
							expectStatus(t, ts2, req{method: "GET", path: "/api/organizations/" + id, token: owner}, http.StatusNotFound)
							expectStatus(t, ts2, req{method: "GET", path: "/api/tenant/users/me", tenant: c.slug}, http.StatusNotFound)
							expectStatus(t, ts2, req{method: "GET", path: "/api/tenant/users/me", tenant: id}, http.StatusNotFound)
							if left := tenantDBLeft(t, cfg, ids[c.slug]); len(left) != 0 {
								t.Errorf("left of the database: %q; want nothing", left)
							}
							return
						}
						doc := checkOrgDoc(t, decodeDoc(t, expectStatus(t, ts2, req{method: "GET", path: "/api/organizations/" + id, token: owner}, http.StatusOK)))
						if doc.Status != "active" {
							t.Errorf("status = %q; want active", doc.Status)
						}
						tok := ts2.tenantUser(t, c.slug, "after@example.com")
						getMe(t, ts2, id, tok)
					})
				}
				// The retry of the request that crashed now answers the
				// organization it made.
				r := expectStatus(t, ts2, createReq("crash-row-only", "crash-key"), http.StatusCreated)
				if o := checkOrgDoc(t, decodeDoc(t, r)); o.ID != ids["crash-row-only"] || o.Status != "active" {
					t.Errorf("retry after the restart = %s; want organization %d, active", r.body, ids["crash-row-only"])
				}
				// Reconciling again finds nothing to do.
				if err := ts2.app.core.Reconcile(ctx); err != nil {
					t.Errorf("Reconcile again: %v", err)
				}
				checkStorageMatchesRows(t, ts2)
			})
		})
	}
}

// ---------------------------------------------------------------------------
// kill -9 during a burst of organization creations.

// serverProcess is the server binary running in a child process.
type serverProcess struct {
	cmd  *exec.Cmd
	base string        // http://host:port
	done chan struct{} // closed once the process has exited and waitErr is set

	waitErr error

	mu   sync.Mutex
	tail []string // the last lines of its log
}

// buildServer builds the server binary of this package into a temporary
// folder.
func buildServer(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is not on PATH: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "server")
	cmd := exec.Command(goBin, "build", "-o", bin, ".") // the test runs in the package folder
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// serverArgs are the flags that run the server on cfg's databases.
func serverArgs(cfg config) []string {
	return []string{
		"-addr", "127.0.0.1:0", "-data", cfg.dataDir,
		"-core-db", cfg.coreDB, "-tenant-db", cfg.tenantDB, "-tenant-db-prefix", cfg.tenantDBPrefix, "-tenant-isolation", cfg.tenantIsolation,
		"-jwt-secret", cfg.jwtSecret, "-log-format", "json", "-log-level", "info",
		"-org-quota", fmt.Sprint(cfg.limits.orgQuota), "-org-rate", fmt.Sprint(cfg.limits.orgRate), // 0: off, as in-process tests
	}
}

// startProcess runs the server binary with args, waits until it listens
// and /healthz answers, and kills it when the test ends if it still runs.
func startProcess(t *testing.T, bin string, args []string) *serverProcess {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &serverProcess{cmd: cmd, done: make(chan struct{})}
	addr := make(chan string, 1)
	// Reads the log until the process exits, then reaps it.
	go func() {
		defer close(p.done)
		dec := json.NewDecoder(stdout)
		for {
			var line map[string]any
			if err := dec.Decode(&line); err != nil {
				break
			}
			if line["msg"] == "listening" {
				if a, ok := line["addr"].(string); ok {
					select {
					case addr <- a:
					default:
					}
				}
			}
			b, _ := json.Marshal(line)
			p.mu.Lock()
			p.tail = append(p.tail, string(b))
			if len(p.tail) > 20 {
				p.tail = p.tail[1:]
			}
			p.mu.Unlock()
		}
		p.waitErr = cmd.Wait()
		if stderr.Len() > 0 {
			p.mu.Lock()
			p.tail = append(p.tail, "stderr: "+stderr.String())
			p.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
	})

	select {
	case a := <-addr:
		p.base = "http://" + a
	case <-p.done:
		t.Fatalf("server exited at start: %v\n%s", p.waitErr, p.log())
	case <-time.After(time.Minute):
		t.Fatalf("server did not listen within a minute\n%s", p.log())
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		r, err := sendTo(http.DefaultClient, p.base, req{method: "GET", path: "/healthz"})
		if err == nil && r.status == http.StatusOK {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET /healthz = %d, %v; want 200\n%s", r.status, err, p.log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// log returns the last lines the process logged.
func (p *serverProcess) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.tail, "\n")
}

// signal sends sig to the process and waits for it to exit.
func (p *serverProcess) signal(t *testing.T, sig syscall.Signal) error {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v: %v", sig, err)
	}
	select {
	case <-p.done:
	case <-time.After(time.Minute):
		t.Fatalf("server did not exit within a minute of %v\n%s", sig, p.log())
	}
	return p.waitErr
}

func TestKillDuringBurst(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the server and runs it in a child process")
	}
	bin := buildServer(t)
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel() // databases of its own (see backends)
			cfg := b.config(t)
			args := serverArgs(cfg)
			p := startProcess(t, bin, args)
			client := &http.Client{Timeout: time.Minute}
			must := func(base string, q req, want int) response {
				t.Helper()
				r, err := sendTo(client, base, q)
				if err != nil {
					t.Fatalf("%s %s: %v", q.method, q.path, err)
				}
				if r.status != want {
					t.Fatalf("%s %s (X-Tenant %q) = %d %s; want %d", q.method, q.path, q.tenant, r.status, r.body, want)
				}
				return r
			}
			creds := map[string]string{"email": "burst@example.com", "password": testPassword}
			must(p.base, req{method: "POST", path: "/api/register", body: creds}, http.StatusCreated)
			var tok struct {
				AccessToken string `json:"access_token"`
			}
			if err := json.Unmarshal(must(p.base, req{method: "POST", path: "/api/login", body: creds}, http.StatusOK).body, &tok); err != nil {
				t.Fatal(err)
			}

			// The burst, killed once the first organization is made.
			const n = 20
			results := make([]response, n)
			errs := make([]error, n)
			firstMade := make(chan struct{})
			var once sync.Once
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					q := req{method: "POST", path: "/api/organizations", token: tok.AccessToken, body: map[string]any{"name": fmt.Sprintf("Burst %02d", i)}}
					results[i], errs[i] = sendTo(client, p.base, q)
					if errs[i] == nil && results[i].status == http.StatusCreated {
						once.Do(func() { close(firstMade) })
					}
				})
			}
			select {
			case <-firstMade:
			case <-time.After(time.Minute):
				t.Errorf("no organization made within a minute\n%s", p.log())
			}
			if err := p.signal(t, syscall.SIGKILL); err == nil {
				t.Errorf("after SIGKILL the server exited cleanly; want it killed")
			}
			wg.Wait()
			var made []int64
			for i, r := range results {
				if errs[i] != nil {
					continue // cut off by the kill
				}
				if r.status != http.StatusCreated {
					t.Errorf("burst request %d = %d %s; want 201 or no answer", i, r.status, r.body)
					continue
				}
				var o struct {
					ID int64 `json:"id"`
				}
				json.Unmarshal(r.body, &o)
				made = append(made, o.ID)
			}
			// What the kill left, for the log: rows by state.
			census := map[string]int{}
			rows, err := otherProcessCoreDB(t, cfg).Query(`SELECT COALESCE(t.status, 'no registry record') FROM organizations o LEFT JOIN tenantkit_tenants t ON t.id = CAST(o.id AS TEXT)`)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var status string
				if err := rows.Scan(&status); err != nil {
					t.Fatal(err)
				}
				census[status]++
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			rows.Close()
			stored, _ := storedTenantIDs(t, cfg)
			t.Logf("%d of %d creations answered 201 before the kill; rows left: %v; tenant databases: %d", len(made), n, census, len(stored))

			p2 := startProcess(t, bin, args)
			var list struct {
				Items []struct {
					ID     int64  `json:"id"`
					Slug   string `json:"slug"`
					Status string `json:"status"`
				} `json:"items"`
			}
			r := must(p2.base, req{method: "GET", path: "/api/organizations", token: tok.AccessToken}, http.StatusOK)
			if err := json.Unmarshal(r.body, &list); err != nil {
				t.Fatal(err)
			}
			var listed []int64
			for _, o := range list.Items {
				listed = append(listed, o.ID)
				if o.Status != "active" {
					t.Errorf("organization %d (%s) = %q after the restart; want active", o.ID, o.Slug, o.Status)
				}
			}
			for _, id := range made {
				if !slices.Contains(listed, id) {
					t.Errorf("organization %d answered 201 before the kill but is not listed after the restart (listed: %v)", id, listed)
				}
			}
			if len(listed) > n {
				t.Errorf("%d organizations listed; want at most %d", len(listed), n)
			}

			// Rows and databases match, one for one.
			rows, err = otherProcessCoreDB(t, cfg).Query(`SELECT o.id, COALESCE(t.status, 'no registry record') FROM organizations o LEFT JOIN tenantkit_tenants t ON t.id = CAST(o.id AS TEXT) ORDER BY o.id`)
			if err != nil {
				t.Fatal(err)
			}
			var rowIDs []int64
			for rows.Next() {
				var id int64
				var status string
				if err := rows.Scan(&id, &status); err != nil {
					t.Fatal(err)
				}
				rowIDs = append(rowIDs, id)
				if status != string(OrgActive) {
					t.Errorf("core row %d status = %q after the restart; want active", id, status)
				}
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			rows.Close()
			if !slices.Equal(rowIDs, listed) {
				t.Errorf("core rows %v; listed %v; want the same", rowIDs, listed)
			}
			stored, strays := storedTenantIDs(t, cfg)
			if len(rowIDs) == 0 {
				t.Errorf("no organization after the restart; want at least the ones answered 201")
			}
			if !slices.Equal(stored, rowIDs) {
				t.Errorf("tenant databases of organizations %v; organization rows %v; want the same", stored, rowIDs)
			}
			if len(strays) > 0 {
				t.Errorf("tenant storage holds %q, no tenant's database", strays)
			}

			for _, id := range listed {
				must(p2.base, req{method: "POST", path: "/api/tenant/auth/register", tenant: tenantKey(id),
					body: map[string]string{"email": "after-kill@example.com", "password": testPassword}}, http.StatusCreated)
			}

			if err := p2.signal(t, syscall.SIGTERM); err != nil {
				t.Errorf("after SIGTERM: %v; want exit status 0\n%s", err, p2.log())
			}
		})
	}
}
