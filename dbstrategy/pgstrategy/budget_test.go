package pgstrategy_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantkit/tenantkit/dbstrategy"
	"github.com/tenantkit/tenantkit/dbstrategy/pgstrategy"
	"github.com/tenantkit/tenantkit/internal/testenv"
)

// TestConnBudget checks that WithMaxConns counts the connections tenant
// handles really hold: with a budget of 3 connections and pools of 2, 8
// tenants stay open at once (a handle holding no connection costs
// nothing), 16 clients querying them concurrently all succeed, and
// PostgreSQL never sees more than 3 connections to the tenant databases.
func TestConnBudget(t *testing.T) {
	const budget, tenants, clients, perClient = 3, 8, 16, 25
	s := newStrategy(t, pgstrategy.Config{MaxConns: 2})
	m, err := dbstrategy.NewManager(s, dbstrategy.WithMaxConns(budget))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx := t.Context()
	ids := make([]string, tenants)
	for i := range ids {
		ids[i] = fmt.Sprintf("b-%d", i)
		if err := m.Create(ctx, ids[i]); err != nil {
			t.Fatal(err)
		}
	}
	// One query at a time: one connection per pool at most.
	for _, id := range ids {
		l, err := m.Acquire(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if _, err := l.DB().ExecContext(ctx, "SELECT 1"); err != nil {
				t.Fatal(err)
			}
		}
		if n := l.Handle().Stats().OpenConnections; n > 1 {
			t.Errorf("tenant %s: %d connections after sequential queries, want at most 1", id, n)
		}
		l.Release()
	}
	if st := s.ConnStats(); st.Conns > budget {
		t.Errorf("ConnStats() = %+v; want at most %d connections", st, budget)
	}

	admin, err := pgxpool.New(ctx, testenv.PostgresDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	name, _ := s.DatabaseName("x")
	prefix := name[:len(name)-1]
	done := make(chan struct{})
	maxSeen := make(chan int)
	go func() { // exits when done is closed
		most := 0
		for {
			select {
			case <-done:
				maxSeen <- most
				return
			default:
			}
			var n int
			if err := admin.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE starts_with(datname::text, $1)", prefix).Scan(&n); err == nil {
				most = max(most, n)
			}
		}
	}()
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for c := range clients {
		wg.Go(func() {
			for i := range perClient {
				id := ids[(c+i)%tenants]
				l, err := m.Acquire(ctx, id)
				if err != nil {
					errs <- err
					return
				}
				var got string
				err = l.DB().QueryRowContext(ctx, "SELECT current_database() FROM pg_sleep(0.002)").Scan(&got)
				l.Release()
				if err != nil || got != s.MustName(id) {
					errs <- fmt.Errorf("tenant %s: read %q, %v", id, got, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(done)
	most := <-maxSeen
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if most > budget {
		t.Errorf("PostgreSQL saw %d tenant connections; want at most %d", most, budget)
	}
	if st := m.Stats(); st.Open != tenants || st.Evictions != 0 {
		t.Errorf("Stats() = %+v; want all %d tenants open, none evicted", st, tenants)
	}
	t.Logf("at most %d tenant connections seen by PostgreSQL; budget %d; %+v", most, budget, s.ConnStats())
}
