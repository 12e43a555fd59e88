package main

// Moving tenants between two PostgreSQL servers with the admin CLI while
// a server serves them, for both isolations: `tenants move` under
// concurrent reads and writes (reads never refused, writes refused only
// with 503 and Retry-After, every acknowledged write found afterwards, the
// tenant on exactly one server), then `tenants drain` of a server.

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tenantkit/tenantkit/dbstrategy"
	"github.com/tenantkit/tenantkit/internal/pgtest"
)

func TestMoveTwoServers(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL cluster; skipped with -short")
	}
	second := pgtest.StartCluster(t).DSN()
	for _, b := range postgresIsolations() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			cfg := placementConfig(t, b.config(t), second)
			ts := startServer(t, cfg)
			owner := ts.coreUser(t, "mover@example.com")
			id, _ := ts.org(t, owner, "Moving Co")
			tok := ts.tenantUser(t, id, "member@example.com")
			on := placeTenantsOn(t, cfg, id)
			if len(on) != 1 {
				t.Fatalf("tenant %s on servers %v; want one", id, on)
			}
			to := map[string]string{"a": "b", "b": "a"}[on[0]]

			// Readers and one writer run through the move.
			var stop atomic.Bool
			var wg sync.WaitGroup
			var mu sync.Mutex
			var acked []string // display names a 200 acknowledged, in order
			var paused, reads atomic.Int64
			me := req{method: "GET", path: "/api/tenant/users/me", tenant: id, token: tok}
			for range 3 {
				wg.Go(func() {
					for !stop.Load() {
						r := ts.do(t, me)
						if r.status != http.StatusOK {
							t.Errorf("read during the move = %d %s; want 200", r.status, r.body)
							return
						}
						reads.Add(1)
					}
				})
			}
			wg.Go(func() {
				for i := 0; !stop.Load(); i++ {
					name := fmt.Sprintf("write %d", i)
					r := ts.do(t, req{method: "PUT", path: "/api/tenant/users/me", tenant: id, token: tok, body: map[string]any{"display_name": name}})
					switch {
					case r.status == http.StatusOK:
						mu.Lock()
						acked = append(acked, name)
						mu.Unlock()
					case r.status == http.StatusServiceUnavailable && r.header.Get("Retry-After") != "":
						paused.Add(1)
						time.Sleep(20 * time.Millisecond)
					default:
						t.Errorf("write during the move = %d %s; want 200, or 503 with Retry-After", r.status, r.body)
						return
					}
				}
			})
			time.Sleep(300 * time.Millisecond)
			out, err := runCLI(t, cfg, []string{"tenants", "move"}, "-to", to, id)
			time.Sleep(300 * time.Millisecond) // writes after the switch land on the new server
			stop.Store(true)
			wg.Wait()
			if err != nil {
				t.Fatalf("tenants move: %v\n%s", err, out)
			}
			t.Logf("%s; %d reads, %d writes acknowledged, %d refused while paused", strings.TrimSpace(out), reads.Load(), len(acked), paused.Load())
			if got := placeTenantsOn(t, cfg, id); !slices.Equal(got, []string{to}) {
				t.Errorf("after the move the tenant is on %v; want [%s]", got, to)
			}
			if len(acked) == 0 {
				t.Fatal("no write was acknowledged")
			}
			// The last acknowledged write is what the tenant holds, on the
			// new server.
			doc := decodeDoc(t, ts.mustStatus(t, me, http.StatusOK))
			if want := acked[len(acked)-1]; doc["display_name"] != want {
				t.Errorf("display name after the move = %v; want the last acknowledged write %q", doc["display_name"], want)
			}
			if list, err := runCLI(t, cfg, []string{"tenants", "list"}); err != nil || !strings.Contains(list, to) {
				t.Errorf("tenants list = %v\n%s; want the tenant on %s", err, list, to)
			}

			// Drain the server the tenant is on now: it and a second tenant
			// go back, and both are served throughout.
			id2, _ := ts.org(t, owner, "Second Co")
			tok2 := ts.tenantUser(t, id2, "member@example.com")
			// Both tenants are read throughout the drain.
			stop.Store(false)
			for _, c := range []struct{ id, tok string }{{id, tok}, {id2, tok2}} {
				wg.Go(func() {
					for !stop.Load() {
						if r := ts.do(t, req{method: "GET", path: "/api/tenant/users/me", tenant: c.id, token: c.tok}); r.status != http.StatusOK {
							t.Errorf("tenant %s read during the drain = %d %s; want 200", c.id, r.status, r.body)
							return
						}
					}
				})
			}
			out, err = runCLI(t, cfg, []string{"tenants", "drain"}, to)
			time.Sleep(300 * time.Millisecond)
			stop.Store(true)
			wg.Wait()
			if err != nil {
				t.Fatalf("tenants drain %s: %v\n%s", to, err, out)
			}
			t.Logf("%s", strings.TrimSpace(out))
			for _, c := range []struct{ id, tok string }{{id, tok}, {id2, tok2}} {
				if got := placeTenantsOn(t, cfg, c.id); !slices.Equal(got, []string{on[0]}) {
					t.Errorf("after the drain tenant %s is on %v; want [%s]", c.id, got, on[0])
				}
				awaitStatus(t, ts, req{method: "GET", path: "/api/tenant/users/me", tenant: c.id, token: c.tok}, http.StatusOK, crossProcessDeadline)
			}
		})
	}
}

// BenchmarkDrain times `tenants drain` of a server holding drainTenants
// small tenants (one user each) to a second server, with the server
// serving them (every tenant read in turn throughout, each read must
// answer 200), and reports the drain's wall time, the time per tenant and
// the reads made.
//
//	go test ./examples/server -run '^$' -bench Drain -benchtime 1x
func BenchmarkDrain(b *testing.B) {
	const drainTenants = 200
	second := pgtest.StartCluster(b).DSN()
	for _, bk := range []backend{{name: "schema", config: postgresSchemaConfig}, {name: "database", config: postgresConfig}} {
		b.Run(bk.name, func(b *testing.B) {
			for range b.N {
				cfg := placementConfig(b, bk.config(b), second)
				cfg.tenantClosed = []string{"b"} // every tenant on a first
				ts := startServer(b, cfg)
				owner := ts.coreUser(b, "drain@example.com")
				var ids, toks []string
				for i := range drainTenants {
					id, _ := ts.org(b, owner, fmt.Sprintf("Small %d", i))
					ids, toks = append(ids, id), append(toks, ts.tenantUser(b, id, "member@example.com"))
				}
				// Every tenant is read, in turn, throughout the drain.
				var stop atomic.Bool
				var reads, refused atomic.Int64
				var wg sync.WaitGroup
				for c := range 4 {
					wg.Go(func() {
						for i := c; !stop.Load(); i++ {
							k := i % drainTenants
							if r := ts.do(b, req{method: "GET", path: "/api/tenant/users/me", tenant: ids[k], token: toks[k]}); r.status != http.StatusOK {
								refused.Add(1)
								b.Errorf("tenant %s read during the drain = %d %s; want 200", ids[k], r.status, r.body)
							}
							reads.Add(1)
						}
					})
				}
				cfg.tenantClosed = []string{"a"} // the drain: a closed, b open
				start := time.Now()
				// runCLI's two minutes are too short for a drain under reads.
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
				var buf strings.Builder
				args := append([]string{"server", "tenants", "drain"}, cliConfigFlags(cfg)...)
				err := run(ctx, append(args, "-parallel", "8", "a"), noEnv, &buf)
				cancel()
				out := buf.String()
				took := time.Since(start)
				stop.Store(true)
				wg.Wait()
				if err != nil {
					b.Fatalf("tenants drain a: %v\n%s", err, out)
				}
				b.ReportMetric(took.Seconds(), "s/drain")
				b.ReportMetric(took.Seconds()/drainTenants, "s/tenant")
				b.ReportMetric(float64(reads.Load()), "reads")
				b.ReportMetric(float64(refused.Load()), "refused")
			}
		})
	}
}

// TestMoveKilled kills the process running `tenants move` (kill -9) of a
// tenant of 100,000 rows at a different moment of the move in each of 3
// runs per isolation, while a
// server serves the tenant's reads and writes; after the killed move's
// lease, a rerun of the command finishes or rolls back the move. The
// tenant is then on exactly one server, every read was answered, and the
// last acknowledged write is what the tenant holds.
func TestMoveKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL cluster and runs the server binary; skipped with -short")
	}
	bin := buildServer(t)
	second := pgtest.StartCluster(t).DSN()
	const lease = 4 * time.Second
	for _, b := range postgresIsolations() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			cfg := placementConfig(t, b.config(t), second)
			ts := startServer(t, cfg)
			owner := ts.coreUser(t, "killed-mover@example.com")
			id, _ := ts.org(t, owner, "Killed Move Co")
			tok := ts.tenantUser(t, id, "member@example.com")
			// A tenant of 100,000 rows, as the target has it.
			err := ts.app.dbs.Do(t.Context(), id, func(ctx context.Context, db dbstrategy.DB) error {
				_, err := db.ExecContext(ctx, `INSERT INTO users (email, password_hash, created_at)
					SELECT 'bulk' || g || '@example.com', 'x', now() FROM generate_series(1, 100000) g`)
				return err
			})
			if err != nil {
				t.Fatalf("seed 100,000 users: %v", err)
			}
			me := req{method: "GET", path: "/api/tenant/users/me", tenant: id, token: tok}
			for run, killAfter := range []time.Duration{700 * time.Millisecond, 1500 * time.Millisecond, 2500 * time.Millisecond} {
				on := placeTenantsOn(t, cfg, id)
				if len(on) != 1 {
					t.Fatalf("run %d: tenant on %v; want one server", run, on)
				}
				to := map[string]string{"a": "b", "b": "a"}[on[0]]
				var stop atomic.Bool
				var wg sync.WaitGroup
				var mu sync.Mutex
				var last string // the last write a 200 acknowledged
				wg.Go(func() {
					for !stop.Load() {
						if r := ts.do(t, me); r.status != http.StatusOK {
							t.Errorf("run %d: read = %d %s; want 200", run, r.status, r.body)
							return
						}
					}
				})
				wg.Go(func() {
					for i := 0; !stop.Load(); i++ {
						name := fmt.Sprintf("run %d write %d", run, i)
						r := ts.do(t, req{method: "PUT", path: "/api/tenant/users/me", tenant: id, token: tok, body: map[string]any{"display_name": name}})
						switch {
						case r.status == http.StatusOK:
							mu.Lock()
							last = name
							mu.Unlock()
						case r.status == http.StatusServiceUnavailable && r.header.Get("Retry-After") != "":
							time.Sleep(20 * time.Millisecond)
						default:
							t.Errorf("run %d: write = %d %s; want 200, or 503 with Retry-After", run, r.status, r.body)
							return
						}
					}
				})
				args := append([]string{"tenants", "move"}, cliConfigFlags(cfg)...)
				args = append(args, "-lease", lease.String(), "-to", to, id)
				cmd := exec.Command(bin, args...)
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				time.Sleep(killAfter)
				cmd.Process.Signal(syscall.SIGKILL)
				cmd.Wait()
				time.Sleep(lease + 500*time.Millisecond) // the killed process's move is free to take over
				out, err := runCLI(t, cfg, []string{"tenants", "move"}, "-to", to, id)
				if err != nil {
					t.Fatalf("run %d: the rerun: %v\n%s", run, err, out)
				}
				time.Sleep(200 * time.Millisecond)
				stop.Store(true)
				wg.Wait()
				if got := placeTenantsOn(t, cfg, id); !slices.Equal(got, []string{to}) {
					t.Fatalf("run %d: after the rerun the tenant is on %v; want [%s]", run, got, to)
				}
				doc := decodeDoc(t, awaitStatus(t, ts, me, http.StatusOK, crossProcessDeadline))
				mu.Lock()
				want := last
				mu.Unlock()
				if want == "" || doc["display_name"] != want {
					t.Errorf("run %d (killed after %v): display name = %v; want the last acknowledged write %q", run, killAfter, doc["display_name"], want)
				}
			}
		})
	}
}
