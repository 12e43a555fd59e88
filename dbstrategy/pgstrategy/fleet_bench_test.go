package pgstrategy_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/tenantkit/tenantkit/dbstrategy"
	"github.com/tenantkit/tenantkit/dbstrategy/dbstrategytest"
	"github.com/tenantkit/tenantkit/dbstrategy/pgstrategy"
)

// firstMigration keeps version 1 of dbstrategytest's migrations.
func firstMigration() fstest.MapFS {
	v1 := fstest.MapFS{}
	for name, f := range dbstrategytest.Migrations() {
		if strings.Contains(name, "/00001") {
			v1[name] = f
		}
	}
	return v1
}

// BenchmarkFleetMigrate rolls one new migration out to 200 PostgreSQL
// tenants (per-tenant roles on) with MigrateAll, then runs it again with
// nothing to do. Setup is outside the timer:
//
//	go test ./dbstrategy/pgstrategy -run '^$' -bench FleetMigrate -benchtime 1x
func BenchmarkFleetMigrate(b *testing.B) {
	const n = 200
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		s := newRoleStrategy(b, pgstrategy.Config{})
		ids := make([]string, n)
		v1, err := dbstrategy.NewManager(s, dbstrategy.WithMigrations(firstMigration()), dbstrategy.WithMaxConns(40))
		if err != nil {
			b.Fatal(err)
		}
		for j := range ids {
			ids[j] = fmt.Sprintf("t%d", j)
			if err := v1.Create(ctx, ids[j]); err != nil {
				b.Fatal(err)
			}
		}
		v1.Close()
		m, err := dbstrategy.NewManager(s, dbstrategy.WithMigrations(dbstrategytest.Migrations()), dbstrategy.WithMaxConns(40))
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()

		start := time.Now()
		for j, err := range m.MigrateAll(ctx, ids, dbstrategy.MigrateAllOptions{Parallel: 4}) {
			if err != nil {
				b.Fatalf("tenant %s: %v", ids[j], err)
			}
		}
		took := time.Since(start)
		start = time.Now()
		for _, err := range m.MigrateAll(ctx, ids, dbstrategy.MigrateAllOptions{Parallel: 4}) {
			if err != nil {
				b.Fatal(err)
			}
		}
		noop := time.Since(start)

		b.StopTimer()
		b.ReportMetric(took.Seconds()*1000, "migrate-ms")
		b.ReportMetric(float64(n)/took.Seconds(), "tenants/s")
		b.ReportMetric(noop.Seconds()*1000, "rerun-ms")
		m.Close()
	}
}
