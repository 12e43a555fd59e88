package schemastrategy_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tenantkit/tenantkit/dbstrategy"
	"github.com/tenantkit/tenantkit/dbstrategy/schemastrategy"
)

// leasePID leases id, checks that the lease reads id's own marker, and
// returns the backend's process ID and the application_name the session
// had when the lease took it; then it sets application_name to mark, so
// that the next lease on that session sees it.
func leasePID(ctx context.Context, t *testing.T, m *dbstrategy.Manager, id, mark string) (pid int, seen string) {
	t.Helper()
	l, err := m.Acquire(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	if got, err := marker(ctx, l.DB()); err != nil || got != id {
		t.Fatalf("lease of %s reads marker %q, %v", id, got, err)
	}
	if err := l.DB().QueryRowContext(ctx, "SELECT pg_backend_pid(), current_setting('application_name')").Scan(&pid, &seen); err != nil {
		t.Fatal(err)
	}
	if _, err := l.DB().ExecContext(ctx, "SELECT set_config('application_name', $1, false)", mark); err != nil {
		t.Fatal(err)
	}
	return pid, seen
}

// leaseAll leases each of ids, holding every lease, and returns them.
func leaseAll(ctx context.Context, t *testing.T, m *dbstrategy.Manager, ids ...string) []*dbstrategy.Lease {
	t.Helper()
	var leases []*dbstrategy.Lease
	for _, id := range ids {
		l, err := m.Acquire(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		leases = append(leases, l)
	}
	return leases
}

// TestLeaseAffinity checks that a lease takes a connection its tenant's
// previous lease left, when one is idle, rather than another tenant's: a
// rotation over as many tenants as the pool has connections keeps one
// backend per tenant, and each lease finds the session as its tenant's
// previous lease left it (no reset, so no scope round trip). Before the
// lot, the pool handed out whichever connection was idle, and every lease
// of the rotation was reset and scoped anew.
func TestLeaseAffinity(t *testing.T) {
	const n = 4
	s := newStrategy(t, schemastrategy.Config{})
	m, ids := newFleet(t, s, n, n)
	ctx := testCtx(t)
	// Give each tenant a connection of its own: n leases at once.
	for _, l := range leaseAll(ctx, t, m, ids...) {
		l.Release()
	}
	pids := make(map[string]int)
	for round := range 5 {
		for _, id := range ids {
			mark := fmt.Sprintf("%s-%d", id, round)
			pid, seen := leasePID(ctx, t, m, id, mark)
			if round == 0 {
				pids[id] = pid
				continue
			}
			if pid != pids[id] {
				t.Errorf("round %d: %s's lease on backend %d, want %d, its own", round, id, pid, pids[id])
			}
			if want := fmt.Sprintf("%s-%d", id, round-1); seen != want {
				t.Errorf("round %d: %s's lease found application_name %q, want %q its previous lease set", round, id, seen, want)
			}
		}
	}
	if st := s.ConnStats(); st.Conns != n || st.InUse != 0 || st.Idle != n {
		t.Errorf("ConnStats() = %+v, want %d connections, all idle", st, n)
	}
}

// TestLotStealsAndWaits checks the lot when tenants have no connection of
// their own: a lease takes the one parked longest ago, reset and scoped to
// it; with none parked, a lease waits until ctx
// ends, and one given back goes to the waiter; a waiter whose ctx ends
// leaves nothing held.
func TestLotStealsAndWaits(t *testing.T) {
	s := newStrategy(t, schemastrategy.Config{})
	m, ids := newFleet(t, s, 2, 4)
	ctx := testCtx(t)
	// Two connections, one left by t0's lease and one by t1's.
	for _, l := range leaseAll(ctx, t, m, ids[:2]...) {
		l.Release()
	}
	p0, _ := leasePID(ctx, t, m, ids[0], "a")
	held, err := m.Acquire(ctx, ids[1]) // the other connection, t1's own
	if err != nil {
		t.Fatal(err)
	}
	// t2 has no connection: it takes t0's, reset (application_name back
	// to its default, "") and scoped to t2 (leasePID checks the marker).
	if pid, seen := leasePID(ctx, t, m, ids[2], "b"); pid != p0 || seen != "" {
		t.Errorf("t2's lease on backend %d with application_name %q; want t0's backend %d, reset", pid, seen, p0)
	}
	// Both connections taken: a lease waits, and gets the one given back.
	l3, err := m.Acquire(ctx, ids[3])
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	_, err = m.Acquire(short, ids[0])
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Acquire with every connection taken: %v, want the context's deadline", err)
	}
	got := make(chan error, 1)
	go func() {
		l, err := m.Acquire(ctx, ids[0])
		if err == nil {
			var name string
			name, err = marker(ctx, l.DB())
			if err == nil && name != ids[0] {
				err = fmt.Errorf("marker %q", name)
			}
			l.Release()
		}
		got <- err
	}()
	l3.Release()
	if err := <-got; err != nil {
		t.Fatalf("waiting lease: %v", err)
	}
	held.Release()
	if st := s.ConnStats(); st.Conns != 2 || st.InUse != 0 || st.Idle != 2 {
		t.Errorf("ConnStats() = %+v, want 2 connections, both idle: the cancelled wait left nothing held", st)
	}
}

// TestLotIdleClosed checks that connections idle in the lot are closed
// after MaxConnIdleTime, as the pool closed its idle connections before.
func TestLotIdleClosed(t *testing.T) {
	s := newStrategy(t, schemastrategy.Config{MaxConnIdleTime: 100 * time.Millisecond})
	m, ids := newFleet(t, s, 3, 3)
	ctx := testCtx(t)
	for _, id := range ids {
		leasePID(ctx, t, m, id, "x")
	}
	for s.ConnStats().Conns > 0 {
		select {
		case <-ctx.Done():
			t.Fatalf("ConnStats() = %+v: idle connections never closed", s.ConnStats())
		case <-time.After(20 * time.Millisecond):
		}
	}
	leasePID(ctx, t, m, ids[0], "y") // and a new one can be made
}

// TestCloseWithIdle checks that Close returns with connections idle in
// the lot (they are taken from the pgxpool, which waits for every taken
// connection to come back), wakes a lease waiting for a connection with
// ErrClosed, and closes the leases' connections when they are given back.
func TestCloseWithIdle(t *testing.T) {
	cfg := schemastrategy.Config{DSN: newDatabase(t), Prefix: "tks_" + randomHex(t, 3) + "_"}
	newStrategy(t, cfg) // drops the schemas when the test ends
	s, err := schemastrategy.New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	m, ids := newFleet(t, s, 3, 3)
	ctx := testCtx(t)
	leasePID(ctx, t, m, ids[2], "x")      // a connection idle in the lot
	leases := leaseAll(ctx, t, m, ids...) // t2's takes the idle one: all three taken
	waiting := make(chan error, 1)
	go func() {
		l, err := m.Acquire(ctx, ids[0]) // waits, or finds the strategy closed
		if err == nil {
			l.Release()
		}
		waiting <- err
	}()
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	select {
	case err := <-waiting:
		if !errors.Is(err, schemastrategy.ErrClosed) {
			t.Errorf("lease waiting as the strategy closes: %v, want ErrClosed", err)
		}
	case <-ctx.Done():
		t.Fatal("a lease waiting as the strategy closes was not woken")
	}
	leases[2].Release() // parked before Close would block it; now closed
	for _, l := range leases[:2] {
		l.Release()
	}
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close() = %v", err)
		}
	case <-ctx.Done():
		t.Fatal("Close() did not return")
	}
	// The pgxpool destroys a connection given back closed in a goroutine
	// of its own (puddle's Destroy), so its count may lag a moment.
	st := s.ConnStats()
	for deadline := time.Now().Add(5 * time.Second); st.Conns != 0 && time.Now().Before(deadline); st = s.ConnStats() {
		time.Sleep(10 * time.Millisecond)
	}
	if st.Conns != 0 || st.InUse != 0 || st.Idle != 0 {
		t.Errorf("ConnStats() after Close = %+v, want nothing", st)
	}
}

// TestLotLifetime checks that a connection older than the pool's
// MaxConnLifetime (the DSN's pool_max_conn_lifetime) is closed when it is
// given back rather than kept (connections kept per tenant never go back
// to the pgxpool, which closed old ones before), while a younger one is
// kept: leases of one tenant in a row, for a few lifetimes, reuse a
// backend and then move to a new one.
func TestLotLifetime(t *testing.T) {
	dsn, err := url.Parse(newDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	q := dsn.Query()
	q.Set("pool_max_conn_lifetime", "300ms")
	dsn.RawQuery = q.Encode()
	s := newStrategy(t, schemastrategy.Config{DSN: dsn.String()})
	m, ids := newFleet(t, s, 2, 1)
	ctx, cancel := context.WithTimeout(testCtx(t), 30*time.Second) // 100 lifetimes
	defer cancel()
	seen := make(map[int]int) // leases per backend
	reused := false
	for i := 0; len(seen) < 3 || !reused; i++ {
		if ctx.Err() != nil {
			t.Fatalf("backends used by leases in a row: %v; want some used twice and three or more in all", seen)
		}
		pid, _ := leasePID(ctx, t, m, ids[0], "x")
		seen[pid]++
		reused = reused || seen[pid] > 1
		time.Sleep(20 * time.Millisecond)
	}
}

// TestLotFairness checks that a tenant whose leases always wait cannot keep
// the connections from another tenant: with one connection free and eight
// goroutines leasing t0 in a loop (so a lease of t0 always waits), a lease
// of t1 still gets the connection. A connection given back goes to a
// waiting lease of its own tenant first, but past the first lease in line
// a bounded number of times.
func TestLotFairness(t *testing.T) {
	s := newStrategy(t, schemastrategy.Config{})
	m, ids := newFleet(t, s, 2, 3)
	ctx := testCtx(t)
	held, err := m.Acquire(ctx, ids[2]) // the other connection, throughout
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release()
	busy, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var leased atomic.Int64 // t0's leases done
	for range 8 {
		wg.Go(func() {
			for busy.Err() == nil {
				l, err := m.Acquire(busy, ids[0])
				if err != nil {
					return
				}
				_, _ = marker(busy, l.DB())
				l.Release()
				leased.Add(1)
			}
		})
	}
	defer func() { stop(); wg.Wait() }()
	for leased.Load() < 20 { // t0's leases queue up
		time.Sleep(time.Millisecond)
	}
	short, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	before := leased.Load()
	l, err := m.Acquire(short, ids[1])
	passed := leased.Load() - before
	if err != nil {
		t.Fatalf("a lease of t1 while t0's leases always wait: %v (after %d of t0's)", err, passed)
	}
	// At most the 7 other leases of t0 in line before t1's, then
	// maxPassed (4) past it, and a few in flight when t1 asked.
	if passed > 20 {
		t.Errorf("%d leases of t0 went before t1's waiting lease, want at most 20", passed)
	}
	if got, err := marker(ctx, l.DB()); err != nil || got != ids[1] {
		t.Errorf("t1's lease reads %q, %v", got, err)
	}
	l.Release()
}
