package schemastrategy_test

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"math/rand"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tenantkit/tenantkit/dbstrategy"
	"github.com/tenantkit/tenantkit/dbstrategy/schemastrategy"
)

// leaseQuery is one request's database work: Acquire, one point query,
// Release.
func leaseQuery(b *testing.B, ctx context.Context, m *dbstrategy.Manager, id string) {
	if err := leaseOnce(ctx, m, id); err != nil {
		b.Fatal(err)
	}
}

// leaseOnce is leaseQuery returning its error.
func leaseOnce(ctx context.Context, m *dbstrategy.Manager, id string) error {
	l, err := m.Acquire(ctx, id)
	if err != nil {
		return err
	}
	defer l.Release()
	var one int
	return l.DB().QueryRowContext(ctx, "SELECT count(*) FROM marker WHERE id = $1", 1).Scan(&one)
}

// benchManagers returns a Manager on pgstrategy (a database per tenant)
// and one on schemastrategy, each with a budget of 4 connections and the
// tenants t0 and t1; the schema strategy's affinity is off, so that its
// leases alternating tenants switch the scope every time.
func benchManagers(b *testing.B) (database, schema *dbstrategy.Manager) {
	ctx := context.Background()
	ids := []string{"t0", "t1"}
	ps := newDatabaseStrategy(b, &ids)
	database, err := dbstrategy.NewManager(ps, dbstrategy.WithMigrations(markerMigrations()), dbstrategy.WithMaxConns(4))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { database.Close() })
	ss := newStrategy(b, schemastrategy.Config{})
	schema, err = dbstrategy.NewManager(ss, dbstrategy.WithMigrations(markerMigrations()), dbstrategy.WithMaxConns(4))
	if err != nil {
		b.Fatal(err)
	}
	// Every lease takes the connection given back last, as pgxpool
	// would: alternating tenants then switches the scope every time (the
	// worst case), where the strategy would keep a connection per tenant.
	if err := ss.NoAffinity(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { schema.Close() })
	for _, m := range []*dbstrategy.Manager{database, schema} {
		for _, id := range []string{"t0", "t1"} {
			if err := m.Create(ctx, id); err != nil {
				b.Fatal(err)
			}
			leaseQuery(b, ctx, m, id) // warm
		}
	}
	return database, schema
}

// BenchmarkLeaseQuery measures one request's database work (Acquire, one
// point query, Release) from one goroutine. "database" is pgstrategy (a
// database per tenant: the lease costs nothing, the query one round
// trip), the baseline; "schema" is schemastrategy, whose lease costs no
// round trip when its connection's last lease was of the same tenant
// ("one"), and one round trip (reset and scope) when every lease switches
// tenant ("alternating", the worst case).
//
//	go test ./dbstrategy/schemastrategy -run '^$' -bench 'LeaseQuery$' -benchtime 2s
//
// The figures of separate sub-benchmarks run at different moments of a
// shared machine; BenchmarkLeaseQueryPaired interleaves them.
func BenchmarkLeaseQuery(b *testing.B) {
	ctx := context.Background()
	database, schema := benchManagers(b)
	for _, c := range []struct {
		name string
		m    *dbstrategy.Manager
		ids  []string
	}{
		{"database/one", database, []string{"t0"}},
		{"schema/one", schema, []string{"t0"}},
		{"database/alternating", database, []string{"t0", "t1"}},
		{"schema/alternating", schema, []string{"t0", "t1"}},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				leaseQuery(b, ctx, c.m, c.ids[i%len(c.ids)])
				i++
			}
		})
	}
}

// BenchmarkLeaseStmt compares, on one schema tenant from one goroutine, a
// request whose point query is a plain query with one whose query comes
// from Lease.Stmt: both should cost one round trip once the connection
// has prepared the query.
//
//	go test ./dbstrategy/schemastrategy -run '^$' -bench LeaseStmt -benchtime 2s -count 3
func BenchmarkLeaseStmt(b *testing.B) {
	ctx := context.Background()
	_, schema := benchManagers(b)
	const query = "SELECT count(*) FROM marker WHERE id = $1"
	for _, c := range []struct {
		name string
		row  func(l *dbstrategy.Lease) (*sql.Row, error)
	}{
		{"plain", func(l *dbstrategy.Lease) (*sql.Row, error) {
			return l.DB().QueryRowContext(ctx, query, 1), nil
		}},
		{"stmt", func(l *dbstrategy.Lease) (*sql.Row, error) {
			st, err := l.Stmt(ctx, query)
			if err != nil {
				return nil, err
			}
			return st.QueryRowContext(ctx, 1), nil
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				l, err := schema.Acquire(ctx, "t0")
				if err != nil {
					b.Fatal(err)
				}
				var n int
				row, err := c.row(l)
				if err == nil {
					err = row.Scan(&n)
				}
				l.Release()
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkLeaseQueryPaired runs, in every iteration, one request of
// BenchmarkLeaseQuery on each of database/one, schema/one and
// schema/alternating, timing each, so that the three share the machine's
// moments; it reports each one's median time, which a shared machine's
// stalls move less than the mean, and the ratios of the medians of schema
// to database (above 1: schema is slower).
//
//	go test ./dbstrategy/schemastrategy -run '^$' -bench LeaseQueryPaired -benchtime 3000x -count 5
func BenchmarkLeaseQueryPaired(b *testing.B) {
	ctx := context.Background()
	database, schema := benchManagers(b)
	var tDB, tOne, tAlt []time.Duration
	for b.Loop() {
		t0 := time.Now()
		leaseQuery(b, ctx, database, "t0")
		t1 := time.Now()
		// schema/one: the previous schema lease was t0's too (below). The
		// pool hands out its most recently used connection, so this lease
		// gets the connection t0's lease left.
		leaseQuery(b, ctx, schema, "t0")
		t2 := time.Now()
		// schema/alternating: t1 after t0, then t0 after t1, on that
		// connection: each switches its tenant.
		leaseQuery(b, ctx, schema, "t1")
		t3 := time.Now()
		leaseQuery(b, ctx, schema, "t0")
		t4 := time.Now()
		tDB = append(tDB, t1.Sub(t0))
		tOne = append(tOne, t2.Sub(t1))
		tAlt = append(tAlt, t3.Sub(t2), t4.Sub(t3))
	}
	db, one, alt := median(tDB), median(tOne), median(tAlt)
	b.ReportMetric(float64(db.Nanoseconds()), "database-p50-ns")
	b.ReportMetric(float64(one.Nanoseconds()), "schema-one-p50-ns")
	b.ReportMetric(float64(alt.Nanoseconds()), "schema-alt-p50-ns")
	b.ReportMetric(float64(one)/float64(db), "one/database")
	b.ReportMetric(float64(alt)/float64(db), "alt/database")
}

func median(d []time.Duration) time.Duration {
	slices.Sort(d)
	return d[len(d)/2]
}

// zipfWarm is BenchmarkLeaseZipf's -zipf-warm flag.
var zipfWarm = flag.Int("zipf-warm", 0, "BenchmarkLeaseZipf: leases before the timer starts, so that the backends' catalog caches are warm")

// BenchmarkLeaseZipf measures the shared pool under many tenants: 1,000
// tenants, a budget of 40 connections, 64 goroutines each leasing a tenant
// drawn from Zipf(1.1) and running one point query, as the reference
// server's requests do. "one" leases one tenant only, the baseline of the
// ratio. "affinity" is the strategy as it is: a lease takes an idle
// connection its tenant's previous lease left, if any; "lifo" turns that
// off and takes the connection idle last, whatever its tenant, as pgxpool
// does (the strategy before the lot). It reports the round trips that
// reset or scope a connection per lease (scoped/op). Each
// sub-benchmark starts on new connections, whose catalog caches are cold,
// as a server does after a restart; -zipf-warm N runs N leases first, for
// the steady state:
//
//	go test ./dbstrategy/schemastrategy -run '^$' -bench LeaseZipf -benchtime 50000x -count 2
//	go test ./dbstrategy/schemastrategy -run '^$' -bench LeaseZipf -benchtime 50000x -count 2 -zipf-warm 200000
func BenchmarkLeaseZipf(b *testing.B) {
	const tenants, budget = 1000, 40
	ctx := context.Background()
	ids := make([]string, tenants)
	for i := range ids {
		ids[i] = fmt.Sprintf("z%d", i)
	}
	dsn := newDatabase(b)
	prefix := "tks_" + randomHex(b, 3) + "_"
	fleet := newStrategy(b, schemastrategy.Config{DSN: dsn, Prefix: prefix}) // drops the schemas at the end
	fm, err := dbstrategy.NewManager(fleet, dbstrategy.WithMigrations(markerMigrations()), dbstrategy.WithMaxConns(8))
	if err != nil {
		b.Fatal(err)
	}
	defer fm.Close()
	for _, id := range ids {
		if err := fm.Create(ctx, id); err != nil {
			b.Fatal(err)
		}
	}
	for _, name := range []string{"one", "affinity", "lifo"} {
		b.Run(name, func(b *testing.B) {
			s, err := schemastrategy.New(ctx, schemastrategy.Config{DSN: dsn, Prefix: prefix})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			m, err := dbstrategy.NewManager(s, dbstrategy.WithMigrations(markerMigrations()), dbstrategy.WithMaxConns(budget))
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			if name == "lifo" {
				if err := s.NoAffinity(); err != nil {
					b.Fatal(err)
				}
			}
			var seed atomic.Int64
			if *zipfWarm > 0 {
				var wg sync.WaitGroup
				errs := make(chan error, 64)
				for g := range 64 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						z := rand.NewZipf(rand.New(rand.NewSource(int64(1000+g))), 1.1, 1, tenants-1)
						for range *zipfWarm / 64 {
							if err := leaseOnce(ctx, m, ids[z.Uint64()]); err != nil {
								errs <- err
								return
							}
						}
					}()
				}
				wg.Wait()
				close(errs)
				if err := <-errs; err != nil {
					b.Fatal(err)
				}
			}
			before := s.ConnStats().Scoped
			b.SetParallelism(32) // 64 goroutines on 2 cores
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				z := rand.NewZipf(rand.New(rand.NewSource(seed.Add(1))), 1.1, 1, tenants-1)
				for pb.Next() {
					i := z.Uint64()
					if name == "one" {
						i = 0
					}
					leaseQuery(b, ctx, m, ids[i])
				}
			})
			b.ReportMetric(float64(s.ConnStats().Scoped-before)/float64(b.N), "scoped/op")
		})
	}
}
