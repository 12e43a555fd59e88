package pgstrategy_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/tenantkit/tenantkit/dbstrategy"
	"github.com/tenantkit/tenantkit/dbstrategy/pgstrategy"
)

// BenchmarkBudgetRotation leases tenants in rotation from 32 goroutines
// through a Manager with a budget of 40 connections and pools of 2, one
// "SELECT 1" per lease: the shape of issue 13's "50 tenants in rotation"
// on PostgreSQL. tenants=1 is the one-tenant reference. Run it with
// -benchtime 2000x.
func BenchmarkBudgetRotation(b *testing.B) {
	for _, tenants := range []int{1, 50} {
		b.Run(fmt.Sprintf("tenants=%d", tenants), func(b *testing.B) {
			s := newStrategy(b, pgstrategy.Config{MaxConns: 2})
			m, err := dbstrategy.NewManager(s, dbstrategy.WithMaxConns(40))
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			ctx := b.Context()
			ids := make([]string, tenants)
			for i := range ids {
				ids[i] = fmt.Sprintf("r%d", i)
				if err := s.Create(ctx, ids[i]); err != nil {
					b.Fatal(err)
				}
			}
			var next atomic.Int64
			dialled := s.ConnStats().Dialled
			b.ResetTimer()
			var wg sync.WaitGroup
			per := b.N/32 + 1
			for range 32 {
				wg.Go(func() {
					for range per {
						id := ids[int(next.Add(1))%tenants]
						l, err := m.Acquire(ctx, id)
						if err != nil {
							b.Error(err)
							return
						}
						_, err = l.DB().ExecContext(ctx, "SELECT 1")
						l.Release()
						if err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			// A dial is a miss: the share of leases that started a backend.
			b.ReportMetric(float64(s.ConnStats().Dialled-dialled)/float64(32*per), "misses/op")
		})
	}
}
