package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tenantkit/tenantkit/internal/pgtest"
	"github.com/tenantkit/tenantkit/internal/testenv"
)

// TestMain lets the test binary stand in for the harness binary: the
// harness starts os.Executable() as the baseline and map servers.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && (os.Args[1] == baselineCommand || os.Args[1] == mapCommand) {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err := run(ctx, os.Args, os.Stdout, os.Stderr)
		stop()
		if err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

var (
	buildOnce sync.Once
	serverBin string
	buildErr  error
	buildDir  string
)

// testServerBin builds the reference server once for the package's tests.
func testServerBin(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "loadtest-test-")
		if buildErr == nil {
			serverBin, buildErr = buildServer(context.Background(), "github.com/tenantkit/tenantkit/examples/server", buildDir)
		}
	})
	if buildErr != nil {
		t.Fatalf("build server: %v", buildErr)
	}
	return serverBin
}

// runHarness runs the harness with args and returns its JSON result.
func runHarness(t *testing.T, args ...string) result {
	t.Helper()
	path := filepath.Join(t.TempDir(), "result.json")
	args = append([]string{"loadtest", "-server-bin", testServerBin(t), "-json", path, "-q"}, args...)
	var stdout, stderr bytes.Buffer
	if err := run(t.Context(), args, &stdout, &stderr); err != nil {
		t.Fatalf("run(%q) = %v\nstderr:\n%s\nstdout:\n%s", args, err, stderr.String(), stdout.String())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read -json output: %v", err)
	}
	var r result
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("parse -json output: %v", err)
	}
	if !bytes.Contains(stdout.Bytes(), []byte("req/s")) {
		t.Errorf("stdout has no table:\n%s", stdout.String())
	}
	return r
}

// checkSane checks the figures every phase must have.
func checkSane(t *testing.T, r result, wantPhases ...string) {
	t.Helper()
	if len(r.Phases) != len(wantPhases) {
		t.Fatalf("got %d phases, want %v", len(r.Phases), wantPhases)
	}
	for i, p := range r.Phases {
		if p.Name != wantPhases[i] {
			t.Errorf("phase %d is %q, want %q", i, p.Name, wantPhases[i])
		}
		if p.Errors != 0 || len(p.ErrorsByStatus) != 0 {
			t.Errorf("phase %s: %d errors %v, want 0", p.Name, p.Errors, p.ErrorsByStatus)
		}
		if p.Requests <= 0 || p.RPS <= 0 || p.Seconds <= 0 {
			t.Errorf("phase %s: %d requests, %.1f req/s in %.2fs; want positive figures", p.Name, p.Requests, p.RPS, p.Seconds)
		}
		if l := p.Latency; l == nil || l.N != int(p.Requests) || !(0 < l.P50 && l.P50 <= l.P95 && l.P95 <= l.P99 && l.P99 <= l.Max) {
			t.Errorf("phase %s: latency %+v; want n = requests and 0 < p50 <= p95 <= p99 <= max", p.Name, l)
		}
		if p.PeakRSSMiB == nil || *p.PeakRSSMiB <= 0 {
			t.Errorf("phase %s: peak RSS %v, want a positive figure", p.Name, p.PeakRSSMiB)
		}
		if p.CPUPerReqUS == nil || *p.CPUPerReqUS < 0 {
			t.Errorf("phase %s: CPU per request %v, want a figure", p.Name, p.CPUPerReqUS)
		}
		if p.TenantsHit < 1 || p.TenantsHit > p.Tenants {
			t.Errorf("phase %s: %d of %d tenants hit", p.Name, p.TenantsHit, p.Tenants)
		}
	}
}

func TestSQLite(t *testing.T) {
	r := runHarness(t, "-tenants", "3", "-users-per-tenant", "2", "-clients", "4",
		"-duration", "2s", "-warmup", "300ms", "-org-probe", "2", "-mix", "read=80,update=15,login=5",
		"-phases", "baseline,map-one,one,map-dist,dist", "-dist", "rotate")
	checkSane(t, r, phaseBaseline, phaseMapOne, phaseOne, phaseMapDist, phaseDist)
	if p := r.Provision; p == nil || p.NewTenants != 3 || p.NewUsers != 6 || p.TokenMode != "mint" ||
		p.OrgCreateProbe == nil || p.OrgCreateProbe.N != 2 || p.OrgCreateAll == nil || p.OrgCreateAll.N != 3 {
		t.Errorf("provision = %+v; want 3 new tenants, 6 new users, minted tokens, 2 probed of 3 organizations", p)
	}
	for _, k := range []string{"one/map-one", "dist/map-dist", "map-dist/map-one", "one/baseline", "dist/baseline", "dist/one"} {
		if v, ok := r.Ratios[k]; !ok || v <= 0 {
			t.Errorf("ratio %s = %v, %v; want a positive ratio", k, v, ok)
		}
	}
	for _, p := range r.Phases {
		if !tenantkitPhase(p.Name) && p.PeakHandles != nil {
			t.Errorf("%s reports %v open handles, want n/a", p.Name, *p.PeakHandles)
		}
		if p.Name == phaseDist || p.Name == phaseMapDist {
			if p.TenantsHit != 3 {
				t.Errorf("phase %s: %d tenants hit, want all 3 (rotation)", p.Name, p.TenantsHit)
			}
		}
		for _, op := range opNames {
			if o, ok := p.Ops[op]; !ok || o.Requests == 0 {
				t.Errorf("phase %s: no %s requests in the mix", p.Name, op)
			}
		}
	}
	if r.ServerHWM == nil || r.BaselineHWM == nil {
		t.Errorf("VmHWM of server, baseline = %v, %v; want both", r.ServerHWM, r.BaselineHWM)
	}
}

func TestReuse(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "reuse")
	common := []string{"-reuse", dir, "-users-per-tenant", "1", "-clients", "2", "-duration", "500ms",
		"-warmup", "0s", "-phases", "one,dist", "-dist", "uniform", "-mix", "read=1", "-tokens", "login"}
	r1 := runHarness(t, append([]string{"-tenants", "2"}, common...)...)
	checkSane(t, r1, phaseOne, phaseDist)
	r2 := runHarness(t, append([]string{"-tenants", "3"}, common...)...)
	checkSane(t, r2, phaseOne, phaseDist)
	if r2.Provision.NewTenants != 1 || r2.Provision.NewUsers != 1 {
		t.Errorf("second run provisioned %d tenants, %d users; want 1, 1", r2.Provision.NewTenants, r2.Provision.NewUsers)
	}
	r3 := runHarness(t, append([]string{"-tenants", "3", "-clean"}, common...)...)
	if r3.Provision.NewTenants != 0 || r3.Provision.NewUsers != 0 {
		t.Errorf("third run provisioned %d tenants, %d users; want none", r3.Provision.NewTenants, r3.Provision.NewUsers)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("-clean left %s: %v", dir, err)
	}
}

func TestPostgres(t *testing.T) {
	dsn := testenv.PostgresDSN(t)
	for _, isolation := range []string{"database", "schema"} {
		t.Run(isolation, func(t *testing.T) {
			r := runHarness(t, "-db", "postgres", "-tenant-isolation", isolation, "-pg-dsn", dsn, "-db-max-conns", "8", "-tenants", "3",
				"-users-per-tenant", "1", "-clients", "4", "-duration", "2s", "-warmup", "300ms", "-phases", "one,dist", "-mix", "read=90,update=10")
			checkSane(t, r, phaseOne, phaseDist)
			if r.Isolation != isolation {
				t.Errorf("result's isolation %q, want %q", r.Isolation, isolation)
			}
			for _, p := range r.Phases {
				if p.PeakPGConns == nil || *p.PeakPGConns < 1 || *p.PeakPGConns > 8 {
					t.Errorf("phase %s: peak tenant connections %v, want 1 to 8 (the budget)", p.Name, p.PeakPGConns)
				}
			}
			conn, err := pgx.Connect(t.Context(), dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(context.Background())
			var left int
			if err := conn.QueryRow(t.Context(), `SELECT (SELECT count(*) FROM pg_database WHERE datname LIKE $1) + (SELECT count(*) FROM pg_roles WHERE rolname LIKE $1)`,
				likePrefix(r.Prefix)).Scan(&left); err != nil {
				t.Fatal(err)
			}
			if left != 0 || r.Prefix == "" {
				t.Errorf("%d databases and roles with prefix %q left after the run, want 0", left, r.Prefix)
			}
		})
	}
}

// TestPostgresPlacement runs the harness with the tenants placed on two
// servers, the test server and a private cluster: no errors, each
// server's peak of tenant connections within its own budget, nothing left
// behind on either.
func TestPostgresPlacement(t *testing.T) {
	dsn := testenv.PostgresDSN(t)
	second := pgtest.StartCluster(t).DSN()
	for _, isolation := range []string{"database", "schema"} {
		t.Run(isolation, func(t *testing.T) {
			r := runHarness(t, "-db", "postgres", "-tenant-isolation", isolation, "-pg-dsn", dsn,
				"-pg-servers", "a="+dsn+",b="+second, "-db-max-conns", "4", "-tenants", "4",
				"-users-per-tenant", "1", "-clients", "4", "-duration", "2s", "-warmup", "300ms", "-phases", "dist", "-dist", "rotate", "-mix", "read=90,update=10")
			checkSane(t, r, phaseDist)
			if !slices.Equal(r.Servers, []string{"a", "b"}) {
				t.Errorf("result's servers %q, want [a b]", r.Servers)
			}
			for _, p := range r.Phases {
				for _, name := range []string{"a", "b"} {
					if n, ok := p.PeakPGByServer[name]; !ok || n < 1 || n > 4 {
						t.Errorf("phase %s: server %s peak tenant connections %d (%v), want 1 to 4 (its budget)", p.Name, name, n, ok)
					}
				}
			}
			for _, d := range []string{dsn, second} {
				conn, err := pgx.Connect(t.Context(), d)
				if err != nil {
					t.Fatal(err)
				}
				var left int
				err = conn.QueryRow(t.Context(), `SELECT (SELECT count(*) FROM pg_database WHERE datname LIKE $1) + (SELECT count(*) FROM pg_roles WHERE rolname LIKE $1)`,
					likePrefix(r.Prefix)).Scan(&left)
				conn.Close(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				if left != 0 {
					t.Errorf("%d databases and roles with prefix %q left on a server after the run, want 0", left, r.Prefix)
				}
			}
		})
	}
}
