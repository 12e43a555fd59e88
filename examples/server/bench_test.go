package main

// Benchmarks of the reference server over HTTP, on each strategy. They run
// only with -bench; the PostgreSQL ones need TENANTKIT_TEST_POSTGRES_DSN
// (they skip without it). docs/benchmarks.md has the figures and the
// commands.
//
//	go test -run '^$' -bench . -benchtime 50x ./examples/server
//
// Setup (servers, organizations, users, tokens) happens inside the
// benchmark functions, so `go test` without -bench does none of it.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// benchMinSamples is the fewest organizations BenchmarkCreateOrganization
// creates per run, so that its median and p95 are over at least that many
// even when b.N is smaller (the creations beyond b.N are not timed into
// ns/op).
const benchMinSamples = 50

// benchTenantCounts are the tenant counts of BenchmarkTenantMe.
var benchTenantCounts = []int{1, 100, 1000}

// benchParallelism multiplies GOMAXPROCS into the client goroutines of
// BenchmarkTenantMe: 8 per core, 16 on the 2-core machine.
const benchParallelism = 8

type benchBackend struct {
	name   string
	config func(tb testing.TB) config
}

func benchBackends() []benchBackend {
	return []benchBackend{
		{name: "sqlite", config: sqliteConfig},
		{name: "postgres", config: postgresConfig},
		{name: "postgres-schema", config: postgresSchemaConfig},
	}
}

// BenchmarkCreateOrganization measures POST /api/organizations end to end:
// the core rows, the tenant database created (from the migrated template
// on PostgreSQL) and migrated, the organization activated. Besides ns/op
// (the mean over b.N) it reports the median and 95th percentile over at
// least benchMinSamples creations, and the first creation of the process
// (which also prepares the template) as first-ms.
func BenchmarkCreateOrganization(b *testing.B) {
	for _, be := range benchBackends() {
		b.Run(be.name, func(b *testing.B) {
			ts := benchServer(b, be.config(b))
			token := ts.coreUser(b, "bench-owner@example.com")
			create := func(i int) time.Duration {
				start := time.Now()
				ts.mustStatus(b, req{method: "POST", path: "/api/organizations", token: token,
					body: map[string]string{"name": fmt.Sprintf("Bench %d", i)}}, http.StatusCreated)
				return time.Since(start)
			}
			first := create(0)

			n := max(b.N, benchMinSamples)
			lat := make([]time.Duration, 0, n)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range n {
				if i == b.N {
					b.StopTimer() // samples beyond b.N: for the percentiles only
				}
				lat = append(lat, create(i+1))
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(ms(percentile(lat, 50)), "median-ms")
			b.ReportMetric(ms(percentile(lat, 95)), "p95-ms")
			b.ReportMetric(ms(first), "first-ms")
			b.ReportMetric(float64(len(lat)), "samples")
		})
	}
}

// BenchmarkTenantMe measures GET /api/tenant/users/me throughput with
// requests spread uniformly at random over 1, 100 or 1000 tenants, under
// the default connection budget (40: ten PostgreSQL handles of 4
// connections, forty SQLite handles). Tenants, users and tokens are made
// before the timer starts, once per backend, and reused by the larger
// counts.
func BenchmarkTenantMe(b *testing.B) {
	for _, be := range benchBackends() {
		b.Run(be.name, func(b *testing.B) {
			parent := b
			var env *benchEnv
			for _, n := range benchTenantCounts {
				b.Run(fmt.Sprintf("tenants=%d", n), func(b *testing.B) {
					if env == nil {
						env = newBenchEnv(outliving{TB: b, parent: parent}, be)
					}
					env.grow(b, n)
					tenants := env.tenants[:n]
					var seed atomic.Uint64
					var failed atomic.Bool
					b.SetParallelism(benchParallelism)
					b.ReportAllocs()
					b.ResetTimer()
					b.RunParallel(func(pb *testing.PB) {
						rnd := mrand.New(mrand.NewPCG(seed.Add(1), 0x7e4a))
						for pb.Next() {
							tn := tenants[rnd.IntN(len(tenants))]
							status, err := env.getMe(tn)
							if (err != nil || status != http.StatusOK) && !failed.Swap(true) {
								b.Errorf("GET /api/tenant/users/me on tenant %s = %d, %v; want 200", tn.key, status, err)
							}
						}
					})
					b.StopTimer()
					b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
				})
			}
		})
	}
}

// benchEnv is one server with tenants that BenchmarkTenantMe grows as the
// tenant counts go up.
type benchEnv struct {
	ts      *testServer
	core    string // core token
	client  *http.Client
	tenants []budgetTenant
}

func newBenchEnv(tb testing.TB, be benchBackend) *benchEnv {
	tb.Helper()
	ts := benchServer(tb, be.config(tb))
	tr := ts.Client().Transport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 256
	tb.Cleanup(tr.CloseIdleConnections)
	return &benchEnv{ts: ts, core: ts.coreUser(tb, "bench-owner@example.com"), client: &http.Client{Transport: tr}}
}

// grow creates organizations, each with a user and its token, until there
// are n, budgetSetupBy at a time.
func (e *benchEnv) grow(b *testing.B, n int) {
	b.Helper()
	if len(e.tenants) >= n {
		return
	}
	start, from := time.Now(), len(e.tenants)
	e.tenants = append(e.tenants, make([]budgetTenant, n-from)...)
	if err := budgetCreateTenants(e.ts, e.core, e.tenants, from); err != nil {
		b.Fatalf("set up tenants: %v", err)
	}
	b.Logf("set up tenants %d to %d in %v", from+1, n, time.Since(start).Round(time.Millisecond))
}

// getMe sends GET /api/tenant/users/me for tn and drains the response.
func (e *benchEnv) getMe(tn budgetTenant) (int, error) {
	r, err := http.NewRequest("GET", e.ts.URL+"/api/tenant/users/me", nil)
	if err != nil {
		return 0, err
	}
	r.Header.Set("X-Tenant", tn.key)
	r.Header.Set("Authorization", "Bearer "+tn.token)
	res, err := e.client.Do(r)
	if err != nil {
		return 0, err
	}
	_, err = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode, err
}

// outliving is a testing.TB whose cleanups, temporary folders, logs and
// errors belong to parent, so that what it sets up outlives one benchmark
// run and serves the runs and sub-benchmarks after it (its cleanups report
// to parent, which is still running then). Fatal, Skip and FailNow stay
// with the current benchmark, whose goroutine calls them.
type outliving struct {
	testing.TB
	parent testing.TB
}

func (o outliving) Cleanup(f func())                  { o.parent.Cleanup(f) }
func (o outliving) TempDir() string                   { return o.parent.TempDir() }
func (o outliving) Error(args ...any)                 { o.parent.Error(args...) }
func (o outliving) Errorf(format string, args ...any) { o.parent.Errorf(format, args...) }
func (o outliving) Log(args ...any)                   { o.parent.Log(args...) }
func (o outliving) Logf(format string, args ...any)   { o.parent.Logf(format, args...) }

// benchServer is startServer for any testing.TB.
func benchServer(tb testing.TB, cfg config) *testServer {
	tb.Helper()
	return serveApp(tb, cfg, slog.New(slog.DiscardHandler))
}

// serveApp is startServer for any testing.TB, with the app logging to log.
func serveApp(tb testing.TB, cfg config, log *slog.Logger) *testServer {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a, err := newApp(ctx, cfg, log, appOptions{hashParams: &testHashParams, throttle: &testThrottle})
	if err != nil {
		tb.Fatalf("newApp: %v", err)
	}
	srv := httptest.NewServer(a.handler)
	tb.Cleanup(func() {
		srv.Close()
		if err := a.Close(); err != nil {
			tb.Errorf("close app: %v", err)
		}
	})
	return &testServer{Server: srv, app: a, cfg: cfg}
}

// percentile returns the p-th percentile (nearest rank) of sorted.
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p + 99) / 100 // ceil(n*p/100), 1-based
	return sorted[max(i, 1)-1]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// BenchmarkHandlerMe measures the server's own cost of GET
// /api/tenant/users/me for one tenant, with no network: the whole handler
// chain (security headers, request id, metrics, a text request log to
// io.Discard, tenancy, token check, lease, query, JSON) called directly,
// from GOMAXPROCS goroutines. examples/loadtest's BenchmarkBaselineHandlerMe
// is the same for the load test's no-tenancy baseline; run both in one
// command to compare them:
//
//	go test -run '^$' -bench 'HandlerMe' -benchmem ./examples/server ./examples/loadtest
func BenchmarkHandlerMe(b *testing.B) {
	ts := serveApp(b, sqliteConfig(b), slog.New(slog.NewTextHandler(io.Discard, nil)))
	core := ts.coreUser(b, "owner@example.com")
	id, _ := ts.org(b, core, "Acme")
	tok := ts.tenantUser(b, id, "user@example.com")
	h := ts.app.handler
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		r := httptest.NewRequest("GET", "/api/tenant/users/me", nil)
		r.Header.Set("X-Tenant", id)
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
