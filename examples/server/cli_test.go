package main

// The admin CLI (cli.go), run through run() exactly as a user runs the
// binary: `server tenants ...`, `server migrate [status]`, `-h` and `help`.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/tenantkit/tenantkit/examples/server/migrations"
)

// noEnv is an empty environment: only the flags configure the commands.
func noEnv(string) string { return "" }

// cliConfigFlags returns cfg as the configuration flags a user passes.
func cliConfigFlags(cfg config) []string {
	args := []string{"-data", cfg.dataDir, "-core-db", cfg.coreDB}
	if len(cfg.tenantServers) > 1 {
		for _, s := range cfg.tenantServers {
			args = append(args, "-tenant-db", s.name+"="+s.url)
		}
	} else {
		args = append(args, "-tenant-db", cfg.tenantDB)
	}
	if len(cfg.tenantClosed) > 0 {
		args = append(args, "-tenant-db-closed", strings.Join(cfg.tenantClosed, ","))
	}
	return append(args, "-tenant-db-prefix", cfg.tenantDBPrefix, "-tenant-isolation", cfg.tenantIsolation,
		"-jwt-secret", cfg.jwtSecret, "-tenant-db-role-secret", testRoleSecret)
}

// runCLI runs `server <words> <config flags> <rest>` and returns what it
// printed and its error.
func runCLI(t testing.TB, cfg config, words []string, rest ...string) (string, error) {
	t.Helper()
	args := append([]string{"server"}, words...)
	args = append(args, cliConfigFlags(cfg)...)
	args = append(args, rest...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	err := run(ctx, args, noEnv, &out)
	return out.String(), err
}

// mustCLI is runCLI for a command that must succeed.
func mustCLI(t testing.TB, cfg config, words []string, rest ...string) string {
	t.Helper()
	out, err := runCLI(t, cfg, words, rest...)
	if err != nil {
		t.Fatalf("server %s %s: %v\noutput:\n%s", strings.Join(words, " "), strings.Join(rest, " "), err, out)
	}
	return out
}

var createdRE = regexp.MustCompile(`(?m)^created organization (\d+) \(([a-z0-9-]+)\), active$`)

// cliCreate runs `tenants create` and returns the new organization's id
// and slug.
func cliCreate(t testing.TB, cfg config, rest ...string) (int64, string) {
	t.Helper()
	out := mustCLI(t, cfg, []string{"tenants", "create"}, rest...)
	m := createdRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("tenants create %s printed %q; want \"created organization ID (SLUG), active\"", strings.Join(rest, " "), out)
	}
	id, _ := strconv.ParseInt(m[1], 10, 64)
	return id, m[2]
}

// listedOrg is one row of `tenants list`.
type listedOrg struct {
	slug, status string
	version      int64
	name         string
	server       string // "" in the wants of one server: "default"
}

// cliList runs `tenants list` and returns its rows by id.
func cliList(t testing.TB, cfg config) map[int64]listedOrg {
	t.Helper()
	out := mustCLI(t, cfg, []string{"tenants", "list"})
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if got := strings.Fields(lines[0]); strings.Join(got, " ") != "ID SLUG STATUS SERVER VERSION CREATED NAME" {
		t.Fatalf("tenants list header = %q; want ID SLUG STATUS SERVER VERSION CREATED NAME", lines[0])
	}
	rows := map[int64]listedOrg{}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) < 7 {
			t.Fatalf("tenants list row %q: want 7 columns", l)
		}
		id, err1 := strconv.ParseInt(f[0], 10, 64)
		v, err2 := strconv.ParseInt(f[4], 10, 64)
		if _, err3 := time.Parse(time.RFC3339Nano, f[5]); err1 != nil || err2 != nil || err3 != nil {
			t.Fatalf("tenants list row %q: bad id, version or created time", l)
		}
		server := f[3]
		if len(cfg.tenantServers) < 2 && server == defaultServer {
			server = ""
		}
		rows[id] = listedOrg{slug: f[1], status: f[2], server: server, version: v, name: strings.Join(f[6:], " ")}
	}
	return rows
}

// tenantLatest is the schema version of this binary's tenant migrations
// on cfg's backend.
func tenantLatest(t testing.TB, cfg config) int64 {
	t.Helper()
	v, err := migrations.Latest(migrations.Tenant(), tenantDialect(cfg))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func tenantDialect(cfg config) string {
	if strings.HasPrefix(cfg.tenantDB, "sqlite:") {
		return "sqlite3"
	}
	return "postgres"
}

// withTenantGoose opens tenant id's database on a strategy of its own, as
// the app builds it (on PostgreSQL as the tenant's role), and calls fn with
// a goose provider of the tenant migrations over it.
func withTenantGoose(t testing.TB, cfg config, id int64, fn func(p *goose.Provider) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, s, closeStrategy, err := openTenantStrategy(ctx, cfg, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer closeStrategy()
	db, err := s.Open(ctx, tenantKey(id))
	if err != nil {
		t.Fatalf("open tenant %d: %v", id, err)
	}
	defer db.Close()
	fsys, err := fs.Sub(migrations.Tenant(), tenantDialect(cfg))
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(goose.Dialect(tenantDialect(cfg)), db, fsys, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	// Never p.Close(): it would close db, closed above.
	if err := fn(p); err != nil {
		t.Fatalf("tenant %d: %v", id, err)
	}
}

// tenantDBVersion is the goose version tenant id's database reports.
func tenantDBVersion(t testing.TB, cfg config, id int64) int64 {
	t.Helper()
	var v int64
	withTenantGoose(t, cfg, id, func(p *goose.Provider) (err error) {
		v, err = p.GetDBVersion(context.Background())
		return err
	})
	return v
}

// rollBackTenant migrates tenant id's database down to version to behind
// the registry's back.
func rollBackTenant(t testing.TB, cfg config, id, to int64) {
	t.Helper()
	withTenantGoose(t, cfg, id, func(p *goose.Provider) error {
		_, err := p.DownTo(context.Background(), to)
		return err
	})
	if v := tenantDBVersion(t, cfg, id); v != to {
		t.Fatalf("tenant %d rolled back to version %d; want %d", id, v, to)
	}
}

// dropTenantBehindRegistry drops tenant id's database (and role) with a
// strategy of its own, leaving the organization's row as it is.
func dropTenantBehindRegistry(t testing.TB, cfg config, id int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, s, closeStrategy, err := openTenantStrategy(ctx, cfg, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer closeStrategy()
	if err := s.Drop(ctx, tenantKey(id)); err != nil {
		t.Fatalf("drop tenant %d: %v", id, err)
	}
	if left := tenantDBLeft(t, cfg, id); len(left) != 0 {
		t.Fatalf("tenant %d still has %q after the drop", id, left)
	}
}

// registerOwner creates a core user on cfg's core database, as the admin
// commands open it.
func registerOwner(t testing.TB, cfg config, email string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a, err := newApp(ctx, cfg, slog.New(slog.DiscardHandler), appOptions{admin: true, hashParams: &testHashParams})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := a.core.Register(ctx, email, testPassword, ""); err != nil {
		t.Fatalf("register %s: %v", email, err)
	}
}

// ---------------------------------------------------------------------------
// tenants create | list | suspend | resume | delete

func TestCLITenants(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel() // databases of its own (see backends)
			cfg := b.config(t)
			ts := startServer(t, cfg)
			ts.coreUser(t, "cli-owner@example.com")
			latest := tenantLatest(t, cfg)

			acmeID, slug := cliCreate(t, cfg, "-owner", "CLI-Owner@Example.com", "-name", "Acme Corp", "-slug", "acme")
			if slug != "acme" {
				t.Errorf("tenants create -slug acme made slug %q; want acme", slug)
			}
			betaID, betaSlug := cliCreate(t, cfg, "-owner", "cli-owner@example.com", "-name", "Beta Works")
			if betaSlug != "beta-works" {
				t.Errorf("tenants create -name \"Beta Works\" made slug %q; want beta-works", betaSlug)
			}
			acme := tenantKey(acmeID)

			want := map[int64]listedOrg{
				acmeID: {slug: "acme", status: "active", version: latest, name: "Acme Corp"},
				betaID: {slug: "beta-works", status: "active", version: latest, name: "Beta Works"},
			}
			if got := cliList(t, cfg); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("tenants list = %+v; want %+v", got, want)
			}

			// The running server serves a tenant the CLI created.
			tok := ts.tenantUser(t, acme, "member@example.com")
			me := req{method: "GET", path: "/api/tenant/users/me", token: tok}
			hints := []string{acme, "acme"}
			for _, h := range hints {
				q := me
				q.tenant = h
				ts.mustStatus(t, q, http.StatusOK)
			}

			// suspend by slug: the server answers 403 once it has polled.
			out := mustCLI(t, cfg, []string{"tenants", "suspend"}, "acme")
			if w := fmt.Sprintf("organization %d (acme) is suspended", acmeID); !strings.Contains(out, w) {
				t.Errorf("tenants suspend acme printed %q; want %q", out, w)
			}
			for _, h := range hints {
				q := me
				q.tenant = h
				awaitStatus(t, ts, q, http.StatusForbidden, crossProcessDeadline)
			}
			if got := cliList(t, cfg)[acmeID].status; got != "suspended" {
				t.Errorf("tenants list: acme is %q; want suspended", got)
			}

			// resume by id: 200 again.
			out = mustCLI(t, cfg, []string{"tenants", "resume"}, acme)
			if w := fmt.Sprintf("organization %d (acme) is active", acmeID); !strings.Contains(out, w) {
				t.Errorf("tenants resume %s printed %q; want %q", acme, out, w)
			}
			for _, h := range hints {
				q := me
				q.tenant = h
				awaitStatus(t, ts, q, http.StatusOK, crossProcessDeadline)
			}

			// Refusals: each a clear error, and none changes anything.
			mustCLI(t, cfg, []string{"tenants", "suspend"}, betaSlug)
			for _, c := range []struct {
				words []string
				rest  []string
				want  string // in the error
			}{
				{[]string{"tenants", "suspend"}, []string{"nosuch"}, `no organization "nosuch"`},
				{[]string{"tenants", "resume"}, []string{"999999"}, `no organization "999999"`},
				{[]string{"tenants", "delete"}, []string{"nosuch"}, `no organization "nosuch"`},
				{[]string{"tenants", "suspend"}, []string{"01"}, `"01" is not an organization id or slug`},
				{[]string{"tenants", "suspend"}, []string{"a b"}, `"a b" is not an organization id or slug`},
				{[]string{"tenants", "delete"}, []string{"-1"}, `flag provided but not defined: -1`},
				{[]string{"tenants", "suspend"}, []string{betaSlug}, "is suspended, not active"},
				{[]string{"tenants", "resume"}, []string{"acme"}, "is active, not suspended"},
				{[]string{"tenants", "suspend"}, nil, "usage: server tenants suspend"},
				{[]string{"tenants", "delete"}, []string{"acme", "beta-works"}, `unexpected argument "beta-works"`},
				{[]string{"tenants", "list"}, []string{"extra"}, `unexpected argument "extra"`},
				{[]string{"tenants", "list"}, []string{"-frob"}, "flag provided but not defined: -frob"},
				{[]string{"tenants", "create"}, []string{"-name", "No Owner"}, "-owner and -name are required"},
				{[]string{"tenants", "create"}, []string{"-owner", "cli-owner@example.com"}, "-owner and -name are required"},
				{[]string{"tenants", "create"}, []string{"-owner", "nobody@example.com", "-name", "Orphan"}, "nobody@example.com"},
				{[]string{"tenants", "create"}, []string{"-owner", "cli-owner@example.com", "-name", "Bad", "-slug", "Bad Slug"}, "slug"},
				{[]string{"tenants", "create"}, []string{"-owner", "cli-owner@example.com", "-name", "Again", "-slug", "acme"}, ""},
				{[]string{"tenants", "create"}, []string{"-owner", "cli-owner@example.com", "-name", "Extra", "positional"}, `unexpected argument "positional"`},
			} {
				out, err := runCLI(t, cfg, c.words, c.rest...)
				if cmd := strings.Join(append(c.words, c.rest...), " "); err == nil || !strings.Contains(err.Error(), c.want) {
					t.Errorf("server %s = %v (output %q); want an error containing %q", cmd, err, out, c.want)
				}
			}
			want[betaID] = listedOrg{slug: "beta-works", status: "suspended", version: latest, name: "Beta Works"}
			if got := cliList(t, cfg); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("after the refused commands, tenants list = %+v; want %+v", got, want)
			}

			// delete by slug: the database goes, the server answers 404.
			out = mustCLI(t, cfg, []string{"tenants", "delete"}, "acme")
			if w := fmt.Sprintf("deleted organization %d (acme)", acmeID); !strings.Contains(out, w) {
				t.Errorf("tenants delete acme printed %q; want %q", out, w)
			}
			for _, h := range hints {
				q := me
				q.tenant = h
				awaitStatus(t, ts, q, http.StatusNotFound, crossProcessDeadline)
				awaitStatus(t, ts, req{method: "POST", path: "/api/tenant/auth/login", tenant: h,
					body: map[string]string{"email": "member@example.com", "password": "correct horse battery"}}, http.StatusNotFound, crossProcessDeadline)
			}
			if left := tenantDBLeft(t, cfg, acmeID); len(left) != 0 {
				t.Errorf("left of the deleted tenant's database: %q; want nothing", left)
			}
			delete(want, acmeID)
			if got := cliList(t, cfg); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("after delete, tenants list = %+v; want %+v", got, want)
			}
			if _, err := runCLI(t, cfg, []string{"tenants", "delete"}, "acme"); err == nil || !strings.Contains(err.Error(), `no organization "acme"`) {
				t.Errorf("tenants delete acme again = %v; want no organization \"acme\"", err)
			}

			// A suspended tenant can be deleted too, by id.
			mustCLI(t, cfg, []string{"tenants", "delete"}, tenantKey(betaID))
			if left := tenantDBLeft(t, cfg, betaID); len(left) != 0 {
				t.Errorf("left of the deleted suspended tenant's database: %q; want nothing", left)
			}
			if got := cliList(t, cfg); len(got) != 0 {
				t.Errorf("after deleting both, tenants list = %+v; want none", got)
			}
			if ids, strays := storedTenantIDs(t, cfg); len(ids) != 0 || len(strays) != 0 {
				t.Errorf("tenant storage holds %v and strays %q; want nothing", ids, strays)
			}
		})
	}
}

// ---------------------------------------------------------------------------
// migrate, migrate status

var statusSummaryRE = regexp.MustCompile(`(?m)^(\d+) tenants at version (\d+), (\d+) drifted \(checked in [^)]+\)$`)

// cliStatus runs `migrate status` and returns its rows by id (the state
// column) and its summary numbers.
func cliStatus(t testing.TB, cfg config) (rows map[int64]string, atLatest, drifted int) {
	t.Helper()
	out := mustCLI(t, cfg, []string{"migrate", "status"})
	m := statusSummaryRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("migrate status printed %q; want a summary \"N tenants at version V, D drifted (checked in X)\"", out)
	}
	if m[2] != strconv.FormatInt(tenantLatest(t, cfg), 10) {
		t.Errorf("migrate status summary names version %s; want %d", m[2], tenantLatest(t, cfg))
	}
	atLatest, _ = strconv.Atoi(m[1])
	drifted, _ = strconv.Atoi(m[3])
	rows = map[int64]string{}
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) < 4 || f[0] == "ID" || statusSummaryRE.MatchString(l) {
			continue
		}
		id, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			continue // the summary
		}
		rows[id] = strings.Join(f[3:], " ")
	}
	if len(rows) != drifted {
		t.Errorf("migrate status lists %d tenants (%q) but says %d drifted", len(rows), out, drifted)
	}
	return rows, atLatest, drifted
}

var (
	migratePlanRE    = regexp.MustCompile(`(?m)^(\d+) tenants, (\d+) to migrate to version (\d+)$`)
	migrateProgress  = regexp.MustCompile(`(?m)^migrate: (\d+)/(\d+) done, (\d+) failed, [0-9.]+ tenants/s, \S+ left$`)
	migrateSummaryRE = regexp.MustCompile(`(?m)^migrated (\d+) of (\d+) tenants to version (\d+) in \S+; (\d+) failed$`)
)

// migrateRun is what one `migrate` printed and returned.
type migrateRun struct {
	out                 string
	err                 error
	fleet, todo         int
	migrated, attempted int // from the summary; -1 without one
	failed              int
}

// cliMigrate runs `migrate` with flags and parses its output.
func cliMigrate(t testing.TB, cfg config, flags ...string) migrateRun {
	t.Helper()
	out, err := runCLI(t, cfg, []string{"migrate"}, flags...)
	r := migrateRun{out: out, err: err, migrated: -1, attempted: -1, failed: -1}
	latest := strconv.FormatInt(tenantLatest(t, cfg), 10)
	m := migratePlanRE.FindStringSubmatch(out)
	if m == nil || m[3] != latest {
		t.Fatalf("migrate %s printed %q (error %v); want \"N tenants, T to migrate to version %s\"", strings.Join(flags, " "), out, err, latest)
	}
	r.fleet, _ = strconv.Atoi(m[1])
	r.todo, _ = strconv.Atoi(m[2])
	if r.todo == 0 {
		if migrateProgress.MatchString(out) || migrateSummaryRE.MatchString(out) {
			t.Errorf("migrate with nothing to do printed progress or a summary: %q", out)
		}
		return r
	}
	s := migrateSummaryRE.FindStringSubmatch(out)
	if s == nil || s[3] != latest {
		t.Fatalf("migrate %s printed %q; want a summary \"migrated N of M tenants to version %s in X; F failed\"", strings.Join(flags, " "), out, latest)
	}
	r.migrated, _ = strconv.Atoi(s[1])
	r.attempted, _ = strconv.Atoi(s[2])
	r.failed, _ = strconv.Atoi(s[4])
	if r.attempted != r.todo || r.migrated+r.failed != r.attempted {
		t.Errorf("migrate summary %q does not add up with %d to migrate", s[0], r.todo)
	}
	// Progress: at least the final line, counts never going backwards.
	prog := migrateProgress.FindAllStringSubmatch(out, -1)
	if len(prog) == 0 {
		t.Fatalf("migrate printed no progress line: %q", out)
	}
	prev := 0
	for _, p := range prog {
		done, _ := strconv.Atoi(p[1])
		if p[2] != strconv.Itoa(r.todo) || done < prev || done > r.todo {
			t.Errorf("progress line %q: want done counts rising to %d/%d", p[0], r.todo, r.todo)
		}
		prev = done
	}
	if last := prog[len(prog)-1]; last[1] != strconv.Itoa(r.todo) || last[3] != strconv.Itoa(r.failed) {
		t.Errorf("last progress line %q; want %d/%d done, %d failed", last[0], r.todo, r.todo, r.failed)
	}
	switch {
	case r.failed == 0 && err != nil:
		t.Errorf("migrate with 0 failed = %v; want nil", err)
	case r.failed > 0 && (err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%d tenant(s) failed", r.failed))):
		t.Errorf("migrate with %d failed = %v; want an error saying %d tenant(s) failed", r.failed, err, r.failed)
	}
	return r
}

// failureLine matches the line `migrate` prints for a failed tenant.
func failureLine(id int64, slug string) *regexp.Regexp {
	return regexp.MustCompile(`(?m)^  tenant ` + tenantKey(id) + ` \(` + regexp.QuoteMeta(slug) + `\): \S.*$`)
}

func TestCLIMigrate(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel() // databases of its own (see backends)
			cfg := b.config(t)
			latest := tenantLatest(t, cfg)
			if latest < 2 {
				t.Fatalf("the tenant migrations reach version %d; this test rolls one back and needs 2 or more", latest)
			}
			registerOwner(t, cfg, "fleet-owner@example.com")
			const n = 5
			var ids [n]int64
			var slugs [n]string
			for i := range n {
				ids[i], slugs[i] = cliCreate(t, cfg, "-owner", "fleet-owner@example.com", "-name", fmt.Sprintf("Fleet %d", i))
			}

			// A fresh fleet: nothing drifted, nothing to do.
			if rows, at, drifted := cliStatus(t, cfg); at != n || drifted != 0 {
				t.Errorf("fresh fleet: migrate status = %d at latest, %d drifted, rows %v; want %d, 0", at, drifted, rows, n)
			}
			if r := cliMigrate(t, cfg); r.fleet != n || r.todo != 0 || r.err != nil {
				t.Errorf("fresh fleet: migrate = %d tenants, %d to migrate, %v; want %d, 0, nil\n%s", r.fleet, r.todo, r.err, n, r.out)
			}

			// Tenant 0 stays as it is; tenant 1's database goes behind the
			// registry's back; tenant 2's is really one migration behind;
			// the registry says 3 is ahead; 4 is suspended and behind.
			broken, rolled, ahead, suspended := ids[1], ids[2], ids[3], ids[4]
			mustCLI(t, cfg, []string{"tenants", "suspend"}, slugs[4])
			dropTenantBehindRegistry(t, cfg, broken)
			rollBackTenant(t, cfg, rolled, latest-1)
			core := otherProcessCoreDB(t, cfg)
			ctx := context.Background()
			for _, u := range []struct {
				id int64
				v  int64
			}{{broken, 0}, {rolled, latest - 1}, {ahead, latest + 1}, {suspended, 0}} {
				if _, err := core.ExecContext(ctx, `UPDATE tenantkit_tenants SET version = $1 WHERE id = $2`, u.v, tenantKey(u.id)); err != nil {
					t.Fatalf("set schema_version of %d: %v", u.id, err)
				}
			}
			rows, at, drifted := cliStatus(t, cfg)
			wantRows := map[int64]string{broken: "behind", rolled: "behind", ahead: "ahead", suspended: "behind"}
			if fmt.Sprint(rows) != fmt.Sprint(wantRows) || at != 1 || drifted != 4 {
				t.Errorf("before migrate: migrate status = rows %v, %d at latest, %d drifted; want %v, 1, 4", rows, at, drifted, wantRows)
			}

			// First run: four to do, one fails.
			r := cliMigrate(t, cfg, "-parallel", "2")
			if r.fleet != n || r.todo != 4 || r.migrated != 3 || r.failed != 1 {
				t.Errorf("migrate = %d tenants, %d to migrate, %d migrated, %d failed; want %d, 4, 3, 1\n%s", r.fleet, r.todo, r.migrated, r.failed, n, r.out)
			}
			if !failureLine(broken, slugs[1]).MatchString(r.out) {
				t.Errorf("migrate output %q does not list the failed tenant %d (%s)", r.out, broken, slugs[1])
			}
			for i, id := range ids {
				if id != broken && failureLine(id, slugs[i]).MatchString(r.out) {
					t.Errorf("migrate output %q lists tenant %d as failed", r.out, id)
				}
			}
			if v := tenantDBVersion(t, cfg, rolled); v != latest {
				t.Errorf("after migrate, tenant %d's database is at version %d; want %d", rolled, v, latest)
			}
			list := cliList(t, cfg)
			for i, id := range ids {
				wantV, wantStatus := latest, "active"
				if id == broken {
					wantV = 0 // a failure leaves the recorded version alone
				}
				if id == suspended {
					wantStatus = "suspended"
				}
				if got := list[id]; got.version != wantV || got.status != wantStatus || got.slug != slugs[i] {
					t.Errorf("after migrate, tenants list row %d = %+v; want %s at version %d", id, got, wantStatus, wantV)
				}
			}
			rows, at, drifted = cliStatus(t, cfg)
			if len(rows) != 1 || !strings.HasPrefix(rows[broken], "failed: ") || at != n-1 || drifted != 1 {
				t.Errorf("after migrate: migrate status = rows %v, %d at latest, %d drifted; want only %d failed, %d, 1", rows, at, drifted, broken, n-1)
			}

			// Again: only what is left, failing again.
			r = cliMigrate(t, cfg)
			if r.fleet != n || r.todo != 1 || r.migrated != 0 || r.failed != 1 || !failureLine(broken, slugs[1]).MatchString(r.out) {
				t.Errorf("migrate again = %d tenants, %d to migrate, %d migrated, %d failed; want %d, 1, 0, 1 listing %d\n%s", r.fleet, r.todo, r.migrated, r.failed, n, broken, r.out)
			}

			// -all checks every tenant.
			r = cliMigrate(t, cfg, "-all")
			if r.fleet != n || r.todo != n || r.migrated != n-1 || r.failed != 1 {
				t.Errorf("migrate -all = %d tenants, %d to migrate, %d migrated, %d failed; want %d, %d, %d, 1\n%s", r.fleet, r.todo, r.migrated, r.failed, n, n, n-1, r.out)
			}

			// Repaired (the broken tenant deleted): nothing left to do.
			mustCLI(t, cfg, []string{"tenants", "delete"}, slugs[1])
			if r := cliMigrate(t, cfg); r.fleet != n-1 || r.todo != 0 || r.err != nil {
				t.Errorf("after repair: migrate = %d tenants, %d to migrate, %v; want %d, 0, nil\n%s", r.fleet, r.todo, r.err, n-1, r.out)
			}
			if rows, at, drifted := cliStatus(t, cfg); at != n-1 || drifted != 0 {
				t.Errorf("after repair: migrate status = rows %v, %d at latest, %d drifted; want %d, 0", rows, at, drifted, n-1)
			}

			// The registry and a database disagree: only -all finds it.
			rollBackTenant(t, cfg, ids[0], latest-1)
			if r := cliMigrate(t, cfg); r.todo != 0 || r.err != nil {
				t.Errorf("registry at latest: migrate = %d to migrate, %v; want 0, nil\n%s", r.todo, r.err, r.out)
			}
			if v := tenantDBVersion(t, cfg, ids[0]); v != latest-1 {
				t.Fatalf("plain migrate touched tenant %d: version %d; want still %d", ids[0], v, latest-1)
			}
			r = cliMigrate(t, cfg, "-all", "-parallel", "3")
			if r.fleet != n-1 || r.todo != n-1 || r.migrated != n-1 || r.failed != 0 || r.err != nil {
				t.Errorf("migrate -all = %d tenants, %d to migrate, %d migrated, %d failed, %v; want %d, %d, %d, 0, nil\n%s", r.fleet, r.todo, r.migrated, r.failed, r.err, n-1, n-1, n-1, r.out)
			}
			if v := tenantDBVersion(t, cfg, ids[0]); v != latest {
				t.Errorf("after migrate -all, tenant %d's database is at version %d; want %d", ids[0], v, latest)
			}

			for _, p := range []string{"0", "-1"} {
				if out, err := runCLI(t, cfg, []string{"migrate"}, "-parallel", p); err == nil || !strings.Contains(err.Error(), "-parallel") {
					t.Errorf("migrate -parallel %s = %v (output %q); want an error about -parallel", p, err, out)
				}
			}
		})
	}
}

// ---------------------------------------------------------------------------
// -h, help and unknown commands

func TestCLIHelp(t *testing.T) {
	cfg := sqliteConfig(t)
	cfg.dataDir = filepath.Join(cfg.dataDir, "unused")
	dir := filepath.Dir(strings.TrimPrefix(cfg.coreDB, "sqlite:"))
	cfg.coreDB = "sqlite:" + filepath.Join(dir, "unused-core.db")
	cfg.tenantDB = "sqlite:" + filepath.Join(dir, "unused-tenants")
	for _, c := range []struct {
		words    []string
		synopsis string
		flags    []string // besides the configuration flags
	}{
		{nil, "server [serve] [flags]", nil},
		{[]string{"serve"}, "server [serve] [flags]", nil},
		{[]string{"migrate"}, "server migrate [flags]", []string{"-parallel", "-all"}},
		{[]string{"migrate", "status"}, "server migrate status [flags]", nil},
		{[]string{"tenants", "list"}, "server tenants list [flags]", nil},
		{[]string{"tenants", "create"}, "server tenants create -owner EMAIL -name NAME [-slug SLUG] [flags]", []string{"-owner", "-name", "-slug"}},
		{[]string{"tenants", "suspend"}, "server tenants suspend [flags] ID|SLUG", nil},
		{[]string{"tenants", "resume"}, "server tenants resume [flags] ID|SLUG", nil},
		{[]string{"tenants", "delete"}, "server tenants delete [flags] ID|SLUG", nil},
	} {
		for _, h := range []string{"-h", "-help", "--help"} {
			name := strings.Join(append(c.words, h), " ")
			// -h alone, and after the configuration flags.
			for _, args := range [][]string{
				append(append([]string{"server"}, c.words...), h),
				append(append(append([]string{"server"}, c.words...), cliConfigFlags(cfg)...), h),
			} {
				var out bytes.Buffer
				err := run(context.Background(), args, noEnv, &out)
				if !errors.Is(err, errHelp) {
					t.Errorf("server %s = %v; want errHelp", name, err)
				}
				if !strings.HasPrefix(out.String(), "Usage: "+c.synopsis+"\n") {
					t.Errorf("server %s printed %q; want it to start with %q", name, out.String(), "Usage: "+c.synopsis)
				}
				for _, f := range append([]string{"-data", "-core-db", "-tenant-db", "-tenant-db-prefix", "-jwt-secret"}, c.flags...) {
					if !strings.Contains(out.String(), "  "+f+" ") && !strings.Contains(out.String(), "  "+f+"\n") {
						t.Errorf("server %s usage does not list %s:\n%s", name, f, out.String())
					}
				}
			}
		}
	}
	for _, p := range []string{cfg.dataDir, strings.TrimPrefix(cfg.coreDB, "sqlite:"), strings.TrimPrefix(cfg.tenantDB, "sqlite:")} {
		if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("-h made %s (stat: %v); want it to open nothing", p, err)
		}
	}

	var out bytes.Buffer
	if err := run(context.Background(), []string{"server", "help"}, noEnv, &out); err != nil {
		t.Errorf("server help = %v; want nil", err)
	}
	for _, cmd := range []string{"serve", "migrate", "migrate status", "tenants list", "tenants create", "tenants suspend", "tenants resume", "tenants delete"} {
		if !regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(cmd) + `\b`).MatchString(out.String()) {
			t.Errorf("server help does not list %q:\n%s", cmd, out.String())
		}
	}

	for _, c := range []struct {
		args       []string
		want, hint string // both in the error
	}{
		{[]string{"server", "tenants", "frob"}, `unknown command "tenants frob"`, "server help"},
		{[]string{"server", "migrate", "frob"}, `unknown command "migrate frob"`, "server help"},
		{[]string{"server", "frob"}, `unknown command "frob"`, "server help"},
		{[]string{"server", "tenants", "frob", "-h"}, `unknown command "tenants frob"`, "server help"},
		{[]string{"server", "tenants"}, "usage: server tenants list|create|suspend|resume|delete", "-h"},
	} {
		var out bytes.Buffer
		err := run(context.Background(), append(c.args, cliConfigFlags(cfg)...), noEnv, &out)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.hint) {
			t.Errorf("%s = %v; want an error containing %q and %q", strings.Join(c.args, " "), err, c.want, c.hint)
		}
	}
}
