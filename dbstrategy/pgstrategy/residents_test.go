package pgstrategy_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tenantkit/tenantkit/dbstrategy"
	"github.com/tenantkit/tenantkit/dbstrategy/pgstrategy"
)

// TestBudgetRotationHits checks that a rotation over a few more tenants
// than the connection budget holds keeps most of its hits: with a budget
// of 8 connections and 10 tenants queried in turn, the residents (the
// budget less an eighth: 7 tenants) keep their connections and the other
// 3 take turns through the last one, so 3 of every 10 queries start a new
// backend, where closing an idle connection of the pool with the most idle
// ones, as before, started 4 to 5.
func TestBudgetRotationHits(t *testing.T) {
	const budget, tenants, rounds = 8, 10, 12
	s := newStrategy(t, pgstrategy.Config{MaxConns: 2})
	m, err := dbstrategy.NewManager(s, dbstrategy.WithMaxConns(budget))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx := t.Context()
	ids := make([]string, tenants)
	for i := range ids {
		ids[i] = fmt.Sprintf("h-%d", i)
		if err := m.Create(ctx, ids[i]); err != nil {
			t.Fatal(err)
		}
	}
	pids := make(map[string]int) // each tenant's last backend
	dials := 0                   // queries that ran on a new backend
	query := func(id string) {
		t.Helper()
		l, err := m.Acquire(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Release()
		var pid int
		if err := l.DB().QueryRowContext(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
			t.Fatal(err)
		}
		if pids[id] != pid {
			dials++
		}
		pids[id] = pid
	}
	for range 2 { // warm up: open every handle, rank the pools
		for _, id := range ids {
			query(id)
		}
	}
	dials = 0
	for range rounds {
		for _, id := range ids {
			query(id)
		}
	}
	t.Logf("%d dials for %d queries", dials, rounds*tenants)
	// 3 per round, and one in two rounds of slack for a release that races
	// the next connect (pgxpool returns connections asynchronously).
	// Before the residents, 50 dials.
	if limit := rounds*(tenants-budget+1) + rounds/2; dials > limit {
		t.Errorf("%d dials for %d queries over %d tenants with a budget of %d; want at most %d", dials, rounds*tenants, tenants, budget, limit)
	}
	if st := s.ConnStats(); st.Conns > budget {
		t.Errorf("ConnStats() = %+v; want at most %d connections", st, budget)
	}
}

// TestBudgetIdleBeforeBusy checks that a connect which finds the budget
// used up by residents' idle connections and by connections held in long
// transactions does not wait for those transactions: with a budget of 8
// (7 residents, 1 turn), 7 tenants used repeatedly each keep an idle
// connection, an 8th holds the last connection in an open transaction,
// and a 9th tenant's first query must still succeed, by closing a
// resident's idle connection, well before its 30 s context ends. Before,
// it waited for the transaction until the context ended.
func TestBudgetIdleBeforeBusy(t *testing.T) {
	const budget, residents = 8, 7
	// Pools of one connection: pgxpool gives a connection back on a
	// goroutine of its own, and a pool of two would dial a second one for
	// a query that follows the release too closely.
	s := newStrategy(t, pgstrategy.Config{MaxConns: 1})
	m, err := dbstrategy.NewManager(s, dbstrategy.WithMaxConns(budget))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx := t.Context()
	for _, id := range []string{"holder", "late"} {
		if err := s.Create(ctx, id); err != nil { // the strategy's: opens no handle
			t.Fatal(err)
		}
	}
	ids := make([]string, residents)
	for i := range ids {
		ids[i] = fmt.Sprintf("res-%d", i)
		if err := s.Create(ctx, ids[i]); err != nil {
			t.Fatal(err)
		}
	}
	for range 4 { // one idle connection each, and a use count to rank them
		for _, id := range ids {
			l, err := m.Acquire(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			_, err = l.DB().ExecContext(ctx, "SELECT 1")
			l.Release()
			if err != nil {
				t.Fatal(err)
			}
		}
	}

	// The last connection of the budget, held in a transaction by a tenant
	// used less than the residents.
	hl, err := m.Acquire(ctx, "holder")
	if err != nil {
		t.Fatal(err)
	}
	defer hl.Release()
	tx, err := hl.Handle().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	// pgxpool gives connections back on a goroutine of its own: wait for
	// the residents' to be idle, so that the budget is used up by 7 idle
	// connections and the transaction's.
	settle, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for st := s.ConnStats(); st.Conns != budget || st.InUse != 1; st = s.ConnStats() {
		if settle.Err() != nil {
			t.Fatalf("ConnStats() = %+v; want %d connections, 1 in use (the transaction's)", st, budget)
		}
		time.Sleep(10 * time.Millisecond)
	}
	dialled := s.ConnStats().Dialled

	// A generous bound: the connect must not wait for the transaction.
	qctx, qcancel := context.WithTimeout(ctx, 30*time.Second)
	defer qcancel()
	l, err := m.Acquire(qctx, "late")
	if err != nil {
		t.Fatalf("Acquire(late) with %d idle connections of residents and 1 in a transaction: %v", residents, err)
	}
	var got string
	err = l.DB().QueryRowContext(qctx, "SELECT current_database()").Scan(&got)
	l.Release()
	if err != nil || got != s.MustName("late") {
		t.Fatalf("query of late: %q, %v; want %q", got, err, s.MustName("late"))
	}
	if d := s.ConnStats().Dialled - dialled; d != 1 {
		t.Errorf("%d connections dialled for late's first query; want 1", d)
	}
	// The room came from a resident's idle connection: exactly one of them
	// is gone, and the transaction's is still open and usable.
	closed := 0
	for _, id := range ids {
		rl, err := m.Acquire(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		pool, ok := s.Pool(rl.Handle())
		if !ok {
			t.Fatalf("Pool(%s) not found", id)
		}
		if pool.Stat().TotalConns() == 0 {
			closed++
		}
		rl.Release()
	}
	if closed != 1 {
		t.Errorf("%d residents lost their idle connection; want 1", closed)
	}
	if _, err := tx.ExecContext(ctx, "SELECT 1"); err != nil {
		t.Errorf("the transaction after late's query: %v", err)
	}
	if err := tx.Commit(); err != nil {
		t.Error(err)
	}
	if st := s.ConnStats(); st.Conns > budget {
		t.Errorf("ConnStats() = %+v; want at most %d connections", st, budget)
	}
}
