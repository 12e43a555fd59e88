package dbstrategy_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tenantkit/tenantkit/dbstrategy"
	"github.com/tenantkit/tenantkit/dbstrategy/sqlitestrategy"
)

// BenchmarkFleetMigrate rolls one new migration out to a fleet of SQLite
// tenants at version 1 with MigrateAll, and a second run that finds
// nothing to do. Setup is outside the timer. Run it once per size:
//
//	go test ./dbstrategy -run '^$' -bench FleetMigrate -benchtime 1x
func BenchmarkFleetMigrate(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("sqlite/tenants=%d", n), func(b *testing.B) {
			ctx := context.Background()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				s, err := sqlitestrategy.New(sqlitestrategy.Config{Dir: b.TempDir()})
				if err != nil {
					b.Fatal(err)
				}
				ids := make([]string, n)
				v1, err := dbstrategy.NewManager(s, dbstrategy.WithMigrations(migrations(1)))
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
				m, err := dbstrategy.NewManager(s, dbstrategy.WithMigrations(migrations(2)))
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
		})
	}
}
