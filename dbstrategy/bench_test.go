package dbstrategy_test

import (
	"context"
	"sync"
	"testing"

	"github.com/tenantkit/tenantkit/dbstrategy"
)

// BenchmarkAcquireRelease measures the hot path: a lease on a handle that
// is already open. The baseline is an uncontended mutex lock and unlock,
// the floor of any lease bookkeeping.
func BenchmarkAcquireRelease(b *testing.B) {
	m, _ := setup(b, 1)
	ctx := context.Background()
	acquire(b, m, "t0").Release() // open it
	b.Run("baseline", func(b *testing.B) {
		// Two lock/unlock pairs around a map lookup and a counter, and one
		// small allocation: the least an Acquire+Release pair can cost.
		var (
			mu   sync.Mutex
			refs = map[string]*int{"t0": new(int)}
			sink *[3]uintptr
		)
		b.ReportAllocs()
		for b.Loop() {
			mu.Lock()
			r := refs["t0"]
			*r++
			mu.Unlock()
			sink = new([3]uintptr)
			mu.Lock()
			*r--
			mu.Unlock()
		}
		_ = sink
	})
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			l, err := m.Acquire(ctx, "t0")
			if err != nil {
				b.Fatal(err)
			}
			l.Release()
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				l, err := m.Acquire(ctx, "t0")
				if err != nil {
					b.Error(err)
					return
				}
				l.Release()
			}
		})
	})
	// The same under WithPendingMigrations: the schema is checked once per
	// handle open, so a lease on an open handle costs the same.
	mp, _ := setup(b, 1, dbstrategy.WithMigrations(migrations(1)),
		dbstrategy.WithPendingMigrations(dbstrategy.PendingRefuse))
	if err := mp.Migrate(ctx, "t0"); err != nil {
		b.Fatal(err)
	}
	acquire(b, mp, "t0").Release()
	b.Run("serial_pending_refuse", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			l, err := mp.Acquire(ctx, "t0")
			if err != nil {
				b.Fatal(err)
			}
			l.Release()
		}
	})
	m8, _ := setup(b, 8)
	ids := make([]string, 8)
	for i := range ids {
		ids[i] = tenant(i)
		acquire(b, m8, ids[i]).Release()
	}
	b.Run("parallel_8_tenants", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				l, err := m8.Acquire(ctx, ids[i%8])
				if err != nil {
					b.Error(err)
					return
				}
				l.Release()
				i++
			}
		})
	})
}

// BenchmarkValidateKey measures the key check every method starts with.
func BenchmarkValidateKey(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if err := dbstrategy.ValidateKey("tenant_0123456789"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLeaseStmt measures a point query on a leased SQLite handle,
// lease included: prepared on every request by database/sql ("query"),
// against the statement Lease.Stmt keeps per handle ("stmt").
func BenchmarkLeaseStmt(b *testing.B) {
	m, _ := setup(b, 1)
	ctx := context.Background()
	const q = "SELECT name FROM marker WHERE name = $1"
	b.Run("query", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			l, err := m.Acquire(ctx, "t0")
			if err != nil {
				b.Fatal(err)
			}
			var name string
			if err := l.DB().QueryRowContext(ctx, q, "t0").Scan(&name); err != nil {
				b.Fatal(err)
			}
			l.Release()
		}
	})
	b.Run("stmt", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			l, err := m.Acquire(ctx, "t0")
			if err != nil {
				b.Fatal(err)
			}
			st, err := l.Stmt(ctx, q)
			if err != nil {
				b.Fatal(err)
			}
			var name string
			if err := st.QueryRowContext(ctx, "t0").Scan(&name); err != nil {
				b.Fatal(err)
			}
			l.Release()
		}
	})
}
