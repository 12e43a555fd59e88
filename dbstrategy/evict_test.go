package dbstrategy_test

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tenantkit/tenantkit/dbstrategy"
	"github.com/tenantkit/tenantkit/dbstrategy/sqlitestrategy"
)

func TestEvictWaitsForLeases(t *testing.T) {
	m, c := setup(t, 2)
	ctx := context.Background()
	l := acquire(t, m, "t0")
	evicted := make(chan error, 1)
	go func() { evicted <- m.Evict(ctx, "t0") }()
	waitFor(t, "Evict to wait for the lease", func() bool { return m.Dropping("t0") })
	// The lease still works: a leased handle is never closed.
	if err := checkMarker(l.DB(), "t0"); err != nil {
		t.Error(err)
	}
	select {
	case err := <-evicted:
		t.Fatalf("Evict returned %v while a lease was held", err)
	default:
	}
	// New Acquires of the tenant wait; other tenants are unaffected.
	_, err := m.Acquire(shortCtx(t), "t0")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Acquire(t0) during Evict error = %v, want DeadlineExceeded", err)
	}
	acquire(t, m, "t1").Release()
	waiting := make(chan error, 1)
	go func() {
		l, err := m.Acquire(ctx, "t0")
		if err == nil {
			err = checkMarker(l.DB(), "t0")
			l.Release()
		}
		waiting <- err
	}()
	l.Release()
	if err := <-evicted; err != nil {
		t.Fatalf("Evict(t0) error = %v", err)
	}
	if err := <-waiting; err != nil {
		t.Errorf("Acquire(t0) waiting on the Evict error = %v", err)
	}
	hs := c.Handles("t0")
	if len(hs) != 2 || !isClosed(hs[0]) || isClosed(hs[1]) {
		t.Fatalf("t0 handles = %d, first closed %v; want 2, the first closed and the second open", len(hs), len(hs) > 0 && isClosed(hs[0]))
	}
	if st := m.Stats(); st.Open != 2 || st.Evictions != 0 || m.Used() != 2 {
		t.Errorf("Stats() = %+v, Used() = %d; want Open 2, Evictions 0, Used 2", st, m.Used())
	}
}

func TestEvictTimeout(t *testing.T) {
	m, c := setup(t, 1)
	l := acquire(t, m, "t0")
	if err := m.Evict(shortCtx(t), "t0"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Evict(t0) with a lease held error = %v, want DeadlineExceeded", err)
	}
	if m.DropMarked("t0") {
		t.Errorf("Evict mark left behind")
	}
	if err := checkMarker(l.DB(), "t0"); err != nil {
		t.Error(err)
	}
	l.Release()
	acquire(t, m, "t0").Release()
	if c.Opens("t0") != 1 {
		t.Errorf("Opens(t0) = %d, want 1: a failed Evict leaves the handle serving", c.Opens("t0"))
	}
}

func TestEvictIdleAndUnopened(t *testing.T) {
	m, c := setup(t, 2)
	ctx := context.Background()
	acquire(t, m, "t0").Release()
	for _, id := range []string{"t0", "t1", "never"} {
		if err := m.Evict(ctx, id); err != nil {
			t.Errorf("Evict(%s) error = %v", id, err)
		}
	}
	if !isClosed(c.Handles("t0")[0]) {
		t.Errorf("t0 handle open after Evict")
	}
	if st := m.Stats(); st.Open != 0 || m.Used() != 0 {
		t.Errorf("Stats() = %+v, Used() = %d; want nothing open", st, m.Used())
	}
	if c.Opens("t1") != 0 || c.Opens("never") != 0 {
		t.Errorf("Evict opened a handle: Opens(t1) = %d, Opens(never) = %d", c.Opens("t1"), c.Opens("never"))
	}
	acquire(t, m, "t0").Release() // opened anew
	if c.Opens("t0") != 2 {
		t.Errorf("Opens(t0) = %d, want 2", c.Opens("t0"))
	}
	if err := m.Evict(ctx, "../t0"); !errors.Is(err, dbstrategy.ErrInvalidKey) {
		t.Errorf("Evict(../t0) error = %v, want ErrInvalidKey", err)
	}
	m.Close()
	if err := m.Evict(ctx, "t0"); !errors.Is(err, dbstrategy.ErrClosed) {
		t.Errorf("Evict after Close error = %v, want ErrClosed", err)
	}
}

// TestEvictDuringOpen: an Evict arriving while the handle is being opened
// waits for the open and for the lease it produced, then closes it.
func TestEvictDuringOpen(t *testing.T) {
	m, c := setup(t, 1)
	ctx := context.Background()
	open := c.SetGate()
	leased := make(chan *dbstrategy.Lease, 1)
	go func() {
		l, err := m.Acquire(ctx, "t0")
		if err != nil {
			t.Error(err)
		}
		leased <- l
	}()
	waitFor(t, "the open to start", func() bool { return m.PendingOpens("t0") == 1 })
	evicted := make(chan error, 1)
	go func() { evicted <- m.Evict(ctx, "t0") }()
	waitFor(t, "Evict to start", func() bool { return m.DropMarked("t0") })
	open()
	l := <-leased
	if l == nil {
		t.FailNow()
	}
	waitFor(t, "Evict to wait for the lease", func() bool { return m.Dropping("t0") })
	if err := checkMarker(l.DB(), "t0"); err != nil {
		t.Error(err)
	}
	l.Release()
	if err := <-evicted; err != nil {
		t.Fatalf("Evict error = %v", err)
	}
	if !isClosed(c.Handles("t0")[0]) || m.Used() != 0 {
		t.Errorf("after Evict: handle closed = %v, Used() = %d; want true, 0", isClosed(c.Handles("t0")[0]), m.Used())
	}
}

// switching is a strategy that routes every tenant to one of two SQLite
// directories, as a placement router sends a tenant to its server: Move
// switches the route, as a move switches the placement.
type switching struct {
	from, to *sqlitestrategy.Strategy
	moved    atomic.Bool
}

func (s *switching) route() *sqlitestrategy.Strategy {
	if s.moved.Load() {
		return s.to
	}
	return s.from
}

func (s *switching) Create(ctx context.Context, id string) error { return s.route().Create(ctx, id) }
func (s *switching) Open(ctx context.Context, id string) (*sql.DB, error) {
	return s.route().Open(ctx, id)
}
func (s *switching) Drop(ctx context.Context, id string) error { return s.route().Drop(ctx, id) }
func (s *switching) Dialect() string                           { return "sqlite3" }

// newPlaced returns a directory's strategy holding tenant t0 with a marker
// table holding name.
func newPlaced(t *testing.T, name string) *sqlitestrategy.Strategy {
	t.Helper()
	s, err := sqlitestrategy.New(sqlitestrategy.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Create(ctx, "t0"); err != nil {
		t.Fatal(err)
	}
	db, err := s.Open(ctx, "t0")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "CREATE TABLE marker (name TEXT NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "INSERT INTO marker (name) VALUES ($1)", name); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestEvictConcurrentAcquire: goroutines lease the tenant in a loop while
// its route switches and Evict runs: every lease's handle works while it
// is held (no leased handle is closed), and once Evict returns after the
// switch, every new lease is on the new route.
func TestEvictConcurrentAcquire(t *testing.T) {
	s := &switching{from: newPlaced(t, "old"), to: newPlaced(t, "new")}
	m := newManager(t, s, dbstrategy.WithMaxOpen(2))
	ctx := context.Background()
	var evicted atomic.Bool // set once Evict returned after the switch
	stop := make(chan struct{})
	var leases, stale atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { // exits when stop is closed
			for {
				select {
				case <-stop:
					return
				default:
				}
				after := evicted.Load()
				l, err := m.Acquire(ctx, "t0")
				if err != nil {
					t.Errorf("Acquire(t0) error = %v", err)
					return
				}
				var got string
				// Hold the lease across a yield so that Evict meets leases.
				err = l.DB().QueryRowContext(ctx, "SELECT name FROM marker").Scan(&got)
				time.Sleep(50 * time.Microsecond)
				if err == nil {
					err = l.DB().QueryRowContext(ctx, "SELECT name FROM marker").Scan(&got)
				}
				l.Release()
				if err != nil {
					t.Errorf("query on a held lease: %v", err)
					return
				}
				leases.Add(1)
				if after && got != "new" {
					stale.Add(1)
				}
			}
		})
	}
	waitFor(t, "leases on the old route", func() bool { return leases.Load() > 50 })
	for range 20 { // Evict without a switch reopens on the same route
		if err := m.Evict(ctx, "t0"); err != nil {
			t.Fatalf("Evict(t0) error = %v", err)
		}
	}
	s.moved.Store(true)
	if err := m.Evict(ctx, "t0"); err != nil {
		t.Fatalf("Evict(t0) after the switch error = %v", err)
	}
	evicted.Store(true)
	n := leases.Load()
	waitFor(t, "leases on the new route", func() bool { return leases.Load() > n+50 })
	close(stop)
	wg.Wait()
	if stale.Load() != 0 {
		t.Errorf("%d leases after Evict were on the old route", stale.Load())
	}
	if st := m.Stats(); st.Open != 1 || st.Leased != 0 || m.Used() != 1 {
		t.Errorf("Stats() = %+v, Used() = %d; want Open 1, Leased 0, Used 1", st, m.Used())
	}
}
