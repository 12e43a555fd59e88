package pgstrategy_test

import (
	"fmt"
	"testing"

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
