package schemastrategy_test

import (
	"context"
	"testing"

	"github.com/tenantkit/tenantkit/dbstrategy"
	"github.com/tenantkit/tenantkit/dbstrategy/pgstrategy"
	"github.com/tenantkit/tenantkit/dbstrategy/schemastrategy"
	"github.com/tenantkit/tenantkit/internal/testenv"
)

// BenchmarkLeaseQuery measures one request's database work on one warm
// tenant: Acquire, one point query, Release. "database" is pgstrategy (a
// database per tenant: the lease costs nothing, the query one round
// trip), the baseline; "schema" is schemastrategy, whose lease adds the
// scope and the reset (two round trips).
//
//	go test ./dbstrategy/schemastrategy -run '^$' -bench LeaseQuery -benchtime 3s
func BenchmarkLeaseQuery(b *testing.B) {
	ctx := context.Background()
	run := func(b *testing.B, m *dbstrategy.Manager) {
		if err := m.Create(ctx, "t0"); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			l, err := m.Acquire(ctx, "t0")
			if err != nil {
				b.Fatal(err)
			}
			var one int
			if err := l.DB().QueryRowContext(ctx, "SELECT count(*) FROM marker WHERE id = $1", 1).Scan(&one); err != nil {
				b.Fatal(err)
			}
			l.Release()
		}
	}
	b.Run("database", func(b *testing.B) {
		s, err := pgstrategy.New(ctx, pgstrategy.Config{DSN: testenv.PostgresDSN(b), Prefix: "tks_" + randomHex(b, 3) + "_"})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() {
			_ = s.Drop(context.Background(), "t0")
			s.Close()
		})
		m, err := dbstrategy.NewManager(s, dbstrategy.WithMigrations(markerMigrations()), dbstrategy.WithMaxConns(4))
		if err != nil {
			b.Fatal(err)
		}
		defer m.Close()
		run(b, m)
	})
	b.Run("schema", func(b *testing.B) {
		s := newStrategy(b, schemastrategy.Config{})
		m, err := dbstrategy.NewManager(s, dbstrategy.WithMigrations(markerMigrations()), dbstrategy.WithMaxConns(4))
		if err != nil {
			b.Fatal(err)
		}
		defer m.Close()
		run(b, m)
	})
}
