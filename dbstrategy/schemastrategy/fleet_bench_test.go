package schemastrategy_test

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantkit/tenantkit/dbstrategy"
	"github.com/tenantkit/tenantkit/dbstrategy/dbstrategytest"
	"github.com/tenantkit/tenantkit/dbstrategy/pgstrategy"
	"github.com/tenantkit/tenantkit/dbstrategy/schemastrategy"
	"github.com/tenantkit/tenantkit/internal/testenv"
)

// firstMigration keeps version 1 of dbstrategytest's migrations (a notes
// table); version 2 is one ALTER TABLE.
func firstMigration() fstest.MapFS {
	v1 := fstest.MapFS{}
	for name, f := range dbstrategytest.Migrations() {
		if strings.Contains(name, "/00001") {
			v1[name] = f
		}
	}
	return v1
}

// newDatabaseStrategy returns a pgstrategy (a database per tenant, no
// roles) on the test server with a fresh prefix, which drops the
// databases of ids and the template a Manager with migrations made, and
// closes, when the benchmark ends.
func newDatabaseStrategy(b *testing.B, ids *[]string) *pgstrategy.Strategy {
	b.Helper()
	dsn := testenv.PostgresDSN(b)
	prefix := "tks_" + randomHex(b, 3) + "_"
	s, err := pgstrategy.New(context.Background(), pgstrategy.Config{DSN: dsn, Prefix: prefix})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx := context.Background()
		for _, id := range *ids {
			if err := s.Drop(ctx, id); err != nil {
				b.Error(err)
			}
		}
		s.Close()
		admin, err := pgx.Connect(ctx, dsn)
		if err != nil {
			b.Error(err)
			return
		}
		defer admin.Close(ctx)
		template := pgx.Identifier{prefix + "$template"}.Sanitize()
		for _, q := range []string{"ALTER DATABASE " + template + " IS_TEMPLATE false", "DROP DATABASE " + template + " WITH (FORCE)"} {
			if _, err := admin.Exec(ctx, q); err != nil && !strings.Contains(err.Error(), "does not exist") {
				b.Errorf("%s: %v", q, err)
			}
		}
	})
	return s
}

// BenchmarkCreateTenant creates tenants, each with dbstrategytest's two
// migrations, through a Manager: in every iteration one on each of
// "database" (pgstrategy: CREATE DATABASE from a migrated template),
// "schema" (CREATE SCHEMA, then goose in it) and "roles" (schema with
// Config.Roles: a role, then the schema, then goose as the role), and
// "spares" (roles with dbstrategy.WithSpares(2): Create renames a spare
// made ahead of time; FillSpares, outside the timing, makes sure one is
// ready), timing each, so that the four share the machine's moments. It
// reports each one's median and the ratios to database. A first tenant of
// each, before the timer, warms the pools (and pgstrategy's template).
//
//	go test ./dbstrategy/schemastrategy -run '^$' -bench CreateTenant -benchtime 40x
func BenchmarkCreateTenant(b *testing.B) {
	ctx := context.Background()
	var dbIDs []string
	managers := make([]*dbstrategy.Manager, 4)
	for i, s := range []dbstrategy.Strategy{
		newDatabaseStrategy(b, &dbIDs),
		newStrategy(b, schemastrategy.Config{}),
		newStrategy(b, schemastrategy.Config{Roles: true}),
		newStrategy(b, schemastrategy.Config{Roles: true}),
	} {
		opts := []dbstrategy.Option{dbstrategy.WithMigrations(dbstrategytest.Migrations()), dbstrategy.WithMaxConns(8)}
		if i == 3 {
			opts = append(opts, dbstrategy.WithSpares(2))
		}
		m, err := dbstrategy.NewManager(s, opts...)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { m.Close() })
		managers[i] = m
	}
	create := func(m *dbstrategy.Manager, id string) time.Duration {
		start := time.Now()
		if err := m.Create(ctx, id); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	dbIDs = append(dbIDs, "warm")
	for _, m := range managers {
		create(m, "warm")
	}
	took := make([][]time.Duration, len(managers))
	n := 0
	for b.Loop() {
		id := fmt.Sprintf("c%d", n)
		n++
		dbIDs = append(dbIDs, id)
		b.StopTimer()
		if _, err := managers[3].FillSpares(ctx); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		for i, m := range managers {
			took[i] = append(took[i], create(m, id))
		}
	}
	db, schema, roles, spares := median(took[0]), median(took[1]), median(took[2]), median(took[3])
	b.ReportMetric(db.Seconds()*1000, "database-p50-ms")
	b.ReportMetric(schema.Seconds()*1000, "schema-p50-ms")
	b.ReportMetric(roles.Seconds()*1000, "roles-p50-ms")
	b.ReportMetric(float64(schema)/float64(db), "schema/database")
	b.ReportMetric(float64(roles)/float64(db), "roles/database")
	b.ReportMetric(spares.Seconds()*1000, "spares-p50-ms")
	b.ReportMetric(float64(spares)/float64(roles), "spares/roles")
}

// BenchmarkFleetMigrate rolls one new migration (an ALTER TABLE) out to a
// fleet of tenants at version 1 with MigrateAll, then runs MigrateAll
// again with nothing to do (it opens every tenant and reads its version).
// Setup (creating the fleet, 8 at a time) is outside the timer. The
// shared pool has 40 connections; a schema migration holds 2 (goose's
// lock and its work). "database/200" is pgstrategy (a database per
// tenant, no roles) for comparison, as its own BenchmarkFleetMigrate.
//
//	go test ./dbstrategy/schemastrategy -run '^$' -bench FleetMigrate -benchtime 1x -timeout 30m
func BenchmarkFleetMigrate(b *testing.B) {
	for _, c := range []struct {
		name          string
		n, parallel   int
		roles, schema bool
	}{
		{"database/200/p4", 200, 4, false, false},
		{"schema/200/p4", 200, 4, false, true},
		{"schema/1000/p4", 1000, 4, false, true},
		{"schema/1000/p16", 1000, 16, false, true},
		{"roles/1000/p16", 1000, 16, true, true},
	} {
		b.Run(c.name, func(b *testing.B) {
			for range b.N { // not b.Loop: the setup stops the timer
				b.StopTimer()
				ids := make([]string, c.n)
				for j := range ids {
					ids[j] = fmt.Sprintf("t%d", j)
				}
				var s dbstrategy.Strategy
				if c.schema {
					s = newStrategy(b, schemastrategy.Config{Roles: c.roles})
				} else {
					s = newDatabaseStrategy(b, &ids)
				}
				createFleet(b, s, ids)
				m, err := dbstrategy.NewManager(s, dbstrategy.WithMigrations(dbstrategytest.Migrations()), dbstrategy.WithMaxConns(40))
				if err != nil {
					b.Fatal(err)
				}
				ctx := context.Background()
				b.StartTimer()

				start := time.Now()
				for j, err := range m.MigrateAll(ctx, ids, dbstrategy.MigrateAllOptions{Parallel: c.parallel}) {
					if err != nil {
						b.Fatalf("tenant %s: %v", ids[j], err)
					}
				}
				took := time.Since(start)
				start = time.Now()
				for j, err := range m.MigrateAll(ctx, ids, dbstrategy.MigrateAllOptions{Parallel: c.parallel}) {
					if err != nil {
						b.Fatalf("tenant %s, again: %v", ids[j], err)
					}
				}
				noop := time.Since(start)

				b.StopTimer()
				b.ReportMetric(took.Seconds()*1000, "migrate-ms")
				b.ReportMetric(float64(c.n)/took.Seconds(), "tenants/s")
				b.ReportMetric(noop.Seconds()*1000, "rerun-ms")
				m.Close()
			}
		})
	}
}

// createFleet creates the tenants ids at version 1, 8 at a time.
func createFleet(b *testing.B, s dbstrategy.Strategy, ids []string) {
	b.Helper()
	m, err := dbstrategy.NewManager(s, dbstrategy.WithMigrations(firstMigration()), dbstrategy.WithMaxConns(40))
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	next := make(chan string)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for range 8 {
		wg.Go(func() {
			for id := range next {
				if err := m.Create(ctx, id); err != nil {
					mu.Lock()
					first = cmp.Or(first, fmt.Errorf("create %s: %w", id, err))
					mu.Unlock()
				}
			}
		})
	}
	for _, id := range ids {
		next <- id
	}
	close(next)
	wg.Wait()
	if first != nil {
		b.Fatal(first)
	}
}
