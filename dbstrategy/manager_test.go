package dbstrategy_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tenantkit/tenantkit/dbstrategy"
	"github.com/tenantkit/tenantkit/dbstrategy/sqlitestrategy"
)

// counting wraps the real SQLite strategy to count and hold its Opens and
// keep the handles it returned, to check later whether they were closed.
type counting struct {
	*sqlitestrategy.Strategy

	mu    sync.Mutex
	gate  chan struct{} // when non-nil, Open waits for it to be closed
	opens map[string]int
	dbs   map[string][]*sql.DB
}

// MaxConnsPerHandle makes counting a ConnLimiter, as a server-backed
// strategy is, so that tests can exercise the WithMaxConns budget.
func (c *counting) MaxConnsPerHandle() int { return c.Strategy.MaxConns() }

func (c *counting) Open(ctx context.Context, id string) (*sql.DB, error) {
	c.mu.Lock()
	c.opens[id]++
	gate := c.gate
	c.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	db, err := c.Strategy.Open(ctx, id)
	if err == nil {
		c.mu.Lock()
		c.dbs[id] = append(c.dbs[id], db)
		c.mu.Unlock()
	}
	return db, err
}

// Opens reports how many times Open was called for the tenant.
func (c *counting) Opens(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.opens[id]
}

// Handles returns the handles Open returned for the tenant, oldest first.
func (c *counting) Handles(id string) []*sql.DB {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.dbs[id])
}

// SetGate makes later Opens wait until the returned function is called.
func (c *counting) SetGate() (open func()) {
	ch := make(chan struct{})
	c.mu.Lock()
	c.gate = ch
	c.mu.Unlock()
	return sync.OnceFunc(func() {
		c.mu.Lock()
		c.gate = nil
		c.mu.Unlock()
		close(ch)
	})
}

// isClosed reports whether db was closed: Ping on a closed *sql.DB fails,
// on an open SQLite handle it succeeds.
func isClosed(db *sql.DB) bool {
	return db.PingContext(context.Background()) != nil
}

func tenant(i int) string { return fmt.Sprintf("t%d", i) }

// newCounting returns a counting strategy over a fresh directory holding
// tenants t0..t<n-1>, each with a marker table naming it.
func newCounting(t testing.TB, n int) *counting {
	t.Helper()
	s, err := sqlitestrategy.New(sqlitestrategy.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range n {
		id := tenant(i)
		if err := s.Create(ctx, id); err != nil {
			t.Fatal(err)
		}
		db, err := s.Open(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		_, err = db.ExecContext(ctx, "CREATE TABLE marker (name TEXT NOT NULL)")
		if err == nil {
			_, err = db.ExecContext(ctx, "INSERT INTO marker (name) VALUES ($1)", id)
		}
		db.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	return &counting{Strategy: s, opens: map[string]int{}, dbs: map[string][]*sql.DB{}}
}

func newManager(t testing.TB, s dbstrategy.Strategy, opts ...dbstrategy.Option) *dbstrategy.Manager {
	t.Helper()
	m, err := dbstrategy.NewManager(s, opts...)
	if err != nil {
		t.Fatalf("NewManager() error = %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// setup returns a Manager over n tenants t0..t<n-1>, and its strategy.
func setup(t testing.TB, n int, opts ...dbstrategy.Option) (*dbstrategy.Manager, *counting) {
	t.Helper()
	c := newCounting(t, n)
	return newManager(t, c, opts...), c
}

// acquire leases a tenant and checks that the lease's handle is that
// tenant's.
func acquire(t testing.TB, m *dbstrategy.Manager, id string) *dbstrategy.Lease {
	t.Helper()
	l, err := m.Acquire(context.Background(), id)
	if err != nil {
		t.Fatalf("Acquire(%q) error = %v", id, err)
	}
	if err := checkMarker(l.DB(), id); err != nil {
		t.Fatal(err)
	}
	return l
}

func checkMarker(db dbstrategy.DB, id string) error {
	var got string
	if err := db.QueryRowContext(context.Background(), "SELECT name FROM marker").Scan(&got); err != nil || got != id {
		return fmt.Errorf("marker of %q = %q, %v; want %q", id, got, err, id)
	}
	return nil
}

// waitFor polls cond until it holds; the test's deadline bounds it.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func shortCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	t.Cleanup(cancel)
	return ctx
}

func TestNewManagerOptions(t *testing.T) {
	s := newCounting(t, 0)
	tests := []struct {
		name    string
		opts    []dbstrategy.Option
		wantErr bool
		wantMax int
	}{
		{"defaults", nil, false, sqlitestrategy.DefaultMaxOpen()},
		{"max open", []dbstrategy.Option{dbstrategy.WithMaxOpen(7)}, false, 7},
		{"last wins", []dbstrategy.Option{dbstrategy.WithMaxOpen(7), dbstrategy.WithMaxOpen(9)}, false, 9},
		{"budget lowers max open", []dbstrategy.Option{dbstrategy.WithMaxConns(10)}, false, 2},
		{"max open below budget", []dbstrategy.Option{dbstrategy.WithMaxOpen(1), dbstrategy.WithMaxConns(100)}, false, 1},
		{"budget of one handle", []dbstrategy.Option{dbstrategy.WithMaxConns(4)}, false, 1},
		{"idle timeout disabled", []dbstrategy.Option{dbstrategy.WithIdleTimeout(0)}, false, sqlitestrategy.DefaultMaxOpen()},
		{"all", []dbstrategy.Option{
			dbstrategy.WithMigrations(migrations(2)), dbstrategy.WithIdleTimeout(time.Second),
			dbstrategy.WithLogger(discard()), dbstrategy.WithNow(time.Now),
		}, false, sqlitestrategy.DefaultMaxOpen()},
		{"max open 0", []dbstrategy.Option{dbstrategy.WithMaxOpen(0)}, true, 0},
		{"max open negative", []dbstrategy.Option{dbstrategy.WithMaxOpen(-1)}, true, 0},
		{"idle timeout negative", []dbstrategy.Option{dbstrategy.WithIdleTimeout(-time.Second)}, true, 0},
		{"max conns negative", []dbstrategy.Option{dbstrategy.WithMaxConns(-1)}, true, 0},
		{"budget below one handle", []dbstrategy.Option{dbstrategy.WithMaxConns(3)}, true, 0},
		{"nil logger means the default", []dbstrategy.Option{dbstrategy.WithLogger(nil)}, false, sqlitestrategy.DefaultMaxOpen()},
		{"nil clock means the default", []dbstrategy.Option{dbstrategy.WithNow(nil)}, false, sqlitestrategy.DefaultMaxOpen()},
		{"nil migrations", []dbstrategy.Option{dbstrategy.WithMigrations(nil)}, true, 0},
		{"nil option", []dbstrategy.Option{nil}, true, 0},
		{"migrations without dialect dir", []dbstrategy.Option{dbstrategy.WithMigrations(onlyPostgres())}, true, 0},
		{"go migration", []dbstrategy.Option{dbstrategy.WithMigrations(withGoMigration())}, true, 0},
		{"no sql migration", []dbstrategy.Option{dbstrategy.WithMigrations(emptyDialectDir())}, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := dbstrategy.NewManager(s, tt.opts...)
			if (err != nil) != tt.wantErr {
				t.Fatalf("NewManager() error = %v, want error %v", err, tt.wantErr)
			}
			if err != nil {
				if !errors.Is(err, dbstrategy.ErrInvalidConfig) {
					t.Errorf("NewManager() error = %v; want it to wrap ErrInvalidConfig", err)
				}
				return
			}
			defer m.Close()
			if got := m.Stats().MaxOpen; got != tt.wantMax {
				t.Errorf("Stats().MaxOpen = %d, want %d", got, tt.wantMax)
			}
		})
	}
	if _, err := dbstrategy.NewManager(s, dbstrategy.WithMaxOpen(4), nil); err == nil || !strings.Contains(err.Error(), "option 2 is nil") {
		t.Errorf("NewManager(s, WithMaxOpen(4), nil) error = %v; want one naming option 2", err)
	}
	if _, err := dbstrategy.NewManager(nil); err == nil {
		t.Errorf("NewManager(nil) error = nil, want an error")
	}
}

func TestAcquireRelease(t *testing.T) {
	m, c := setup(t, 2)
	l1 := acquire(t, m, "t0")
	l2 := acquire(t, m, "t0")
	if l1.Handle() != l2.Handle() {
		t.Errorf("two leases of one tenant have different handles")
	}
	l3 := acquire(t, m, "t1")
	want := dbstrategy.Stats{MaxOpen: sqlitestrategy.DefaultMaxOpen(), Open: 2, Leased: 2, Opens: 2}
	if got := m.Stats(); got != want {
		t.Errorf("Stats() = %+v, want %+v", got, want)
	}
	l1.Release()
	l1.Release() // harmless
	if got := m.Stats().Leased; got != 2 {
		t.Errorf("Stats().Leased after a double Release of one of two leases = %d, want 2", got)
	}
	l2.Release()
	l3.Release()
	if got := m.Stats(); got.Leased != 0 || got.Open != 2 {
		t.Errorf("Stats() after releasing all = %+v, want Leased 0, Open 2", got)
	}
	// Cached: no new Open.
	acquire(t, m, "t0").Release()
	if got := c.Opens("t0"); got != 1 {
		t.Errorf("Opens(t0) = %d, want 1", got)
	}
}

func TestReleaseConcurrentDouble(t *testing.T) {
	m, _ := setup(t, 1)
	keep := acquire(t, m, "t0")
	for range 50 {
		l := acquire(t, m, "t0")
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(l.Release)
		}
		wg.Wait()
	}
	if got := m.Stats().Leased; got != 1 {
		t.Errorf("Stats().Leased = %d, want 1", got)
	}
	if err := checkMarker(keep.DB(), "t0"); err != nil {
		t.Error(err)
	}
	keep.Release()
}

func TestAcquireNotFound(t *testing.T) {
	m, c := setup(t, 0)
	ctx := context.Background()
	for i := range 2 {
		l, err := m.Acquire(ctx, "ghost")
		if l != nil || !errors.Is(err, dbstrategy.ErrNotFound) {
			t.Fatalf("Acquire(ghost) #%d = %v, %v; want nil, ErrNotFound", i+1, l, err)
		}
	}
	if got := c.Opens("ghost"); got != 2 {
		t.Errorf("Opens(ghost) = %d, want 2 (errors are not cached)", got)
	}
	if err := m.Create(ctx, "ghost"); err != nil {
		t.Fatal(err)
	}
	l, err := m.Acquire(ctx, "ghost")
	if err != nil {
		t.Fatalf("Acquire(ghost) after Create error = %v", err)
	}
	l.Release()
	if st := m.Stats(); st.Open != 1 || st.Opens != 1 || m.Used() != 1 {
		t.Errorf("Stats() = %+v, Used() = %d; want Open 1, Opens 1, Used 1", st, m.Used())
	}
}

func TestMoreTenantsThanMaxOpen(t *testing.T) {
	const tenants, maxOpen = 10, 3
	m, c := setup(t, tenants, dbstrategy.WithMaxOpen(maxOpen))
	for round := range 3 {
		for i := range tenants {
			acquire(t, m, tenant(i)).Release()
			if st := m.Stats(); st.Open > maxOpen || m.Used() > maxOpen {
				t.Fatalf("round %d: Stats() = %+v, Used() = %d; want at most %d open", round, st, m.Used(), maxOpen)
			}
		}
	}
	st := m.Stats()
	if st.Opens != 3*tenants || st.Evictions != 3*tenants-maxOpen || st.Open != maxOpen || st.Waits != 0 {
		t.Errorf("Stats() = %+v, want Opens %d, Evictions %d, Open %d, Waits 0", st, 3*tenants, 3*tenants-maxOpen, maxOpen)
	}
	// Evicted handles were closed; the last three are open.
	for i := range tenants {
		hs := c.Handles(tenant(i))
		for j, db := range hs {
			wantClosed := j < len(hs)-1 || i < tenants-maxOpen
			if got := isClosed(db); got != wantClosed {
				t.Errorf("tenant %s handle %d closed = %v, want %v", tenant(i), j, got, wantClosed)
			}
		}
	}
}

func TestLRUOrder(t *testing.T) {
	m, c := setup(t, 4, dbstrategy.WithMaxOpen(3))
	for _, id := range []string{"t0", "t1", "t2", "t0"} { // t1 is now the least recently used
		acquire(t, m, id).Release()
	}
	acquire(t, m, "t3").Release()
	for _, tt := range []struct {
		id         string
		wantClosed bool
	}{{"t0", false}, {"t1", true}, {"t2", false}, {"t3", false}} {
		if got := isClosed(c.Handles(tt.id)[0]); got != tt.wantClosed {
			t.Errorf("tenant %s closed = %v, want %v", tt.id, got, tt.wantClosed)
		}
	}
}

// TestHotSurvivesOneOffs checks the segmented LRU: a tenant leased again
// after a release is hot, and a run of tenants used once each, however long,
// evicts only cold handles, never it.
func TestHotSurvivesOneOffs(t *testing.T) {
	const tenants = 20
	m, c := setup(t, tenants, dbstrategy.WithMaxOpen(5)) // at most 4 hot
	for range 2 {
		acquire(t, m, "t0").Release() // t0 is hot
	}
	for i := 1; i < tenants; i++ {
		acquire(t, m, tenant(i)).Release()
	}
	if got := c.Opens("t0"); got != 1 {
		t.Fatalf("t0 opened %d times, want 1: a one-off tenant evicted a hot one", got)
	}
	if isClosed(c.Handles("t0")[0]) {
		t.Fatal("t0's handle is closed")
	}
	// Hot handles beyond 4/5 of the limit turn cold again, the least recently
	// released first, so one-offs keep room: making t1..t5 hot turns t0 cold
	// (and t5's open evicts it), then t1.
	for i := 1; i <= 5; i++ {
		acquire(t, m, tenant(i)).Release()
		acquire(t, m, tenant(i)).Release()
	}
	if st := m.Stats(); st.Open != 5 {
		t.Fatalf("Stats().Open = %d, want 5", st.Open)
	}
	acquire(t, m, tenant(10)).Release() // evicts the oldest cold handle
	for _, tt := range []struct {
		id         string
		wantClosed bool
	}{{"t0", true}, {"t1", true}, {"t2", false}, {"t5", false}, {"t10", false}} {
		hs := c.Handles(tt.id)
		if got := isClosed(hs[len(hs)-1]); got != tt.wantClosed {
			t.Errorf("tenant %s closed = %v, want %v", tt.id, got, tt.wantClosed)
		}
	}
}

func TestEvictionNeverClosesLeased(t *testing.T) {
	const tenants, maxOpen = 10, 3
	m, c := setup(t, tenants, dbstrategy.WithMaxOpen(maxOpen))
	held := []*dbstrategy.Lease{acquire(t, m, "t0"), acquire(t, m, "t1")}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	// Keep using the leased handles while other tenants churn through the
	// one remaining slot.
	for i, l := range held {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := checkMarker(l.DB(), tenant(i)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	var churn sync.WaitGroup
	for g := range 3 {
		churn.Go(func() {
			for i := range 20 {
				id := tenant(2 + (g+i)%(tenants-2))
				l, err := m.Acquire(context.Background(), id)
				if err != nil {
					errs <- err
					return
				}
				if err := checkMarker(l.DB(), id); err != nil {
					errs <- err
				}
				l.Release()
			}
		})
	}
	churn.Wait()
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for i := range 2 {
		hs := c.Handles(tenant(i))
		if len(hs) != 1 || isClosed(hs[0]) {
			t.Errorf("leased tenant %s: %d opens, closed = %v; want 1 open handle", tenant(i), len(hs), len(hs) > 0 && isClosed(hs[0]))
		}
	}
	if st := m.Stats(); st.Evictions == 0 || st.Open > maxOpen {
		t.Errorf("Stats() = %+v, want evictions and at most %d open", st, maxOpen)
	}
	for _, l := range held {
		l.Release()
	}
}

func TestSingleFlightOpen(t *testing.T) {
	m, c := setup(t, 1)
	open := c.SetGate()
	const n = 16
	leases := make(chan *dbstrategy.Lease, n)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			l, err := m.Acquire(context.Background(), "t0")
			if err != nil {
				errs <- err
				return
			}
			leases <- l
		})
	}
	waitFor(t, "all Acquires to wait for the open", func() bool { return m.PendingOpens("t0") == n })
	open()
	wg.Wait()
	close(errs)
	close(leases)
	for err := range errs {
		t.Errorf("Acquire(t0) error = %v", err)
	}
	if got := c.Opens("t0"); got != 1 {
		t.Errorf("Opens(t0) = %d, want 1", got)
	}
	if st := m.Stats(); st.Leased != 1 || st.Open != 1 {
		t.Errorf("Stats() = %+v, want Leased 1, Open 1", st)
	}
	var db *sql.DB
	for l := range leases {
		if db != nil && l.Handle() != db {
			t.Errorf("leases of t0 have different handles")
		}
		db = l.Handle()
		l.Release()
	}
	if st := m.Stats(); st.Leased != 0 {
		t.Errorf("Stats().Leased after release = %d, want 0", st.Leased)
	}
}

func TestSingleFlightOpenError(t *testing.T) {
	m, c := setup(t, 0)
	open := c.SetGate()
	const n = 8
	errs := make(chan error, n)
	for range n {
		go func() {
			l, err := m.Acquire(context.Background(), "ghost")
			if l != nil {
				l.Release()
			}
			errs <- err
		}()
	}
	waitFor(t, "all Acquires to wait for the open", func() bool { return m.PendingOpens("ghost") == n })
	open()
	for range n {
		if err := <-errs; !errors.Is(err, dbstrategy.ErrNotFound) {
			t.Errorf("Acquire(ghost) error = %v, want ErrNotFound", err)
		}
	}
	if got := c.Opens("ghost"); got != 1 {
		t.Errorf("Opens(ghost) = %d, want 1", got)
	}
	if m.Used() != 0 {
		t.Errorf("Used() = %d after a failed open, want 0", m.Used())
	}
}

// TestOpenOutlivesCancelledCaller: the Acquire that started an open gives
// up; another one waiting for the same open still gets the handle.
func TestOpenOutlivesCancelledCaller(t *testing.T) {
	m, c := setup(t, 1)
	open := c.SetGate()
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() {
		_, err := m.Acquire(ctx, "t0")
		first <- err
	}()
	waitFor(t, "the first Acquire to wait", func() bool { return m.PendingOpens("t0") == 1 })
	second := make(chan *dbstrategy.Lease, 1)
	go func() {
		l, err := m.Acquire(context.Background(), "t0")
		if err != nil {
			t.Error(err)
		}
		second <- l
	}()
	waitFor(t, "the second Acquire to wait", func() bool { return m.PendingOpens("t0") == 2 })
	cancel()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Acquire error = %v, want context.Canceled", err)
	}
	open()
	l := <-second
	if l == nil {
		t.Fatal("second Acquire failed")
	}
	if err := checkMarker(l.DB(), "t0"); err != nil {
		t.Error(err)
	}
	l.Release()
	if st := m.Stats(); st.Leased != 0 || st.Open != 1 || c.Opens("t0") != 1 {
		t.Errorf("Stats() = %+v, Opens = %d; want Leased 0, Open 1, 1 open", st, c.Opens("t0"))
	}
}

func TestWaitWhenAllLeased(t *testing.T) {
	m, c := setup(t, 3, dbstrategy.WithMaxOpen(2))
	l0 := acquire(t, m, "t0")
	l1 := acquire(t, m, "t1")
	if _, err := m.Acquire(shortCtx(t), "t2"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Acquire(t2) with every handle leased error = %v, want DeadlineExceeded", err)
	}
	if st := m.Stats(); st.Waits != 1 || st.Waiting != 0 || c.Opens("t2") != 0 {
		t.Errorf("Stats() = %+v, Opens(t2) = %d; want Waits 1, Waiting 0, no open", st, c.Opens("t2"))
	}
	// An already open tenant never waits.
	acquire(t, m, "t1").Release()
	got := make(chan *dbstrategy.Lease)
	go func() {
		l, err := m.Acquire(context.Background(), "t2")
		if err != nil {
			t.Error(err)
		}
		got <- l
	}()
	waitFor(t, "Acquire(t2) to wait", func() bool { return m.Stats().Waiting == 1 })
	l0.Release()
	l2 := <-got
	if l2 == nil {
		t.FailNow()
	}
	if err := checkMarker(l2.DB(), "t2"); err != nil {
		t.Error(err)
	}
	if !isClosed(c.Handles("t0")[0]) || isClosed(c.Handles("t1")[0]) {
		t.Errorf("after the wait: t0 closed = %v, t1 closed = %v; want true, false",
			isClosed(c.Handles("t0")[0]), isClosed(c.Handles("t1")[0]))
	}
	l1.Release()
	l2.Release()
}

func TestWaitersFIFO(t *testing.T) {
	m, _ := setup(t, 6, dbstrategy.WithMaxOpen(1))
	l0 := acquire(t, m, "t0")
	var (
		mu    sync.Mutex
		order []string
		wg    sync.WaitGroup
	)
	cancelled, cancel := context.WithCancel(context.Background())
	for i := 1; i <= 5; i++ {
		id := tenant(i)
		ctx := context.Background()
		if id == "t3" {
			ctx = cancelled // gives up while queued
		}
		wg.Go(func() {
			l, err := m.Acquire(ctx, id)
			if err != nil {
				if id != "t3" || !errors.Is(err, context.Canceled) {
					t.Errorf("Acquire(%s) error = %v", id, err)
				}
				return
			}
			if err := checkMarker(l.DB(), id); err != nil {
				t.Error(err)
			}
			mu.Lock()
			order = append(order, id)
			mu.Unlock()
			l.Release()
		})
		waitFor(t, id+" to queue", func() bool { return m.Stats().Waiting == i })
	}
	cancel()
	waitFor(t, "t3 to leave the queue", func() bool { return m.Stats().Waiting == 4 })
	l0.Release()
	wg.Wait()
	if want := []string{"t1", "t2", "t4", "t5"}; !slices.Equal(order, want) {
		t.Errorf("order = %q, want %q", order, want)
	}
	if st := m.Stats(); st.Waits != 5 || st.Waiting != 0 {
		t.Errorf("Stats() = %+v, want Waits 5, Waiting 0", st)
	}
}

// TestNewcomerQueuesBehindWaiters: room that appears goes to the oldest
// waiter, not to an Acquire arriving at that moment.
func TestNewcomerQueuesBehindWaiters(t *testing.T) {
	m, _ := setup(t, 3, dbstrategy.WithMaxOpen(1))
	l0 := acquire(t, m, "t0")
	first := make(chan *dbstrategy.Lease)
	go func() {
		l, err := m.Acquire(context.Background(), "t1")
		if err != nil {
			t.Error(err)
		}
		first <- l
	}()
	waitFor(t, "t1 to queue", func() bool { return m.Stats().Waiting == 1 })
	// A newcomer must queue even though no room is taken yet.
	if _, err := m.Acquire(shortCtx(t), "t2"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("newcomer Acquire(t2) error = %v, want DeadlineExceeded", err)
	}
	l0.Release()
	l1 := <-first
	if l1 == nil {
		t.FailNow()
	}
	if err := checkMarker(l1.DB(), "t1"); err != nil {
		t.Error(err)
	}
	l1.Release()
}

func TestWaitersOfOneTenantShareTheOpen(t *testing.T) {
	m, c := setup(t, 2, dbstrategy.WithMaxOpen(1))
	l0 := acquire(t, m, "t0")
	const n = 4
	leases := make(chan *dbstrategy.Lease, n)
	for i := range n {
		go func() {
			l, err := m.Acquire(context.Background(), "t1")
			if err != nil {
				t.Error(err)
			}
			leases <- l
		}()
		waitFor(t, "waiter to queue", func() bool { return m.Stats().Waiting == i+1 })
	}
	l0.Release()
	var got []*dbstrategy.Lease
	for range n {
		got = append(got, <-leases)
	}
	if c.Opens("t1") != 1 {
		t.Errorf("Opens(t1) = %d, want 1", c.Opens("t1"))
	}
	for _, l := range got {
		if l == nil {
			t.FailNow()
		}
		l.Release()
	}
}

func TestMaxConnsBudget(t *testing.T) {
	c := newCounting(t, 6) // 4 connections per handle
	m := newManager(t, c, dbstrategy.WithMaxConns(8))
	if got := m.Stats().MaxOpen; got != 2 {
		t.Fatalf("Stats().MaxOpen = %d, want 2", got)
	}
	l0 := acquire(t, m, "t0")
	l1 := acquire(t, m, "t1")
	if _, err := m.Acquire(shortCtx(t), "t2"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Acquire(t2) over budget error = %v, want DeadlineExceeded", err)
	}
	l0.Release()
	l1.Release()
	// Under churn, no more than two handles ever exist, closing ones
	// included.
	var wg sync.WaitGroup
	var over atomic.Int64
	for g := range 6 {
		wg.Go(func() {
			for i := range 15 {
				id := tenant((g + i) % 6)
				l, err := m.Acquire(context.Background(), id)
				if err != nil {
					t.Error(err)
					return
				}
				if m.Used() > 2 {
					over.Add(1)
				}
				if err := checkMarker(l.DB(), id); err != nil {
					t.Error(err)
				}
				l.Release()
			}
		})
	}
	wg.Wait()
	if over.Load() != 0 {
		t.Errorf("handles in use exceeded the budget %d times", over.Load())
	}
	open := 0
	for i := range 6 {
		for _, db := range c.Handles(tenant(i)) {
			if !isClosed(db) {
				open++
			}
		}
	}
	if open > 2 {
		t.Errorf("%d handles left open, want at most 2", open)
	}
}

func TestDropWaitsForLeases(t *testing.T) {
	m, c := setup(t, 2)
	ctx := context.Background()
	l := acquire(t, m, "t0")
	dropped := make(chan error, 1)
	go func() { dropped <- m.Drop(ctx, "t0") }()
	waitFor(t, "Drop to wait for the lease", func() bool { return m.Dropping("t0") })
	// The lease still works, nothing is dropped yet.
	if err := checkMarker(l.DB(), "t0"); err != nil {
		t.Error(err)
	}
	select {
	case err := <-dropped:
		t.Fatalf("Drop returned %v while a lease was held", err)
	default:
	}
	// New Acquires of the tenant wait; other tenants are unaffected.
	if _, err := m.Acquire(shortCtx(t), "t0"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Acquire(t0) during Drop error = %v, want DeadlineExceeded", err)
	}
	acquire(t, m, "t1").Release()
	waiting := make(chan error, 1)
	go func() {
		l, err := m.Acquire(ctx, "t0")
		if l != nil {
			l.Release()
		}
		waiting <- err
	}()
	l.Release()
	if err := <-dropped; err != nil {
		t.Fatalf("Drop(t0) error = %v", err)
	}
	if err := <-waiting; !errors.Is(err, dbstrategy.ErrNotFound) {
		t.Errorf("Acquire(t0) waiting on the Drop error = %v, want ErrNotFound", err)
	}
	if !isClosed(c.Handles("t0")[0]) {
		t.Errorf("dropped tenant's handle is open")
	}
	if _, err := c.Strategy.Open(ctx, "t0"); !errors.Is(err, dbstrategy.ErrNotFound) {
		t.Errorf("Strategy.Open(t0) after Drop error = %v, want ErrNotFound", err)
	}
	if err := m.Drop(ctx, "t0"); err != nil {
		t.Errorf("second Drop(t0) error = %v, want nil", err)
	}
	if st := m.Stats(); st.Open != 1 || m.Used() != 1 {
		t.Errorf("Stats() = %+v, Used() = %d; want Open 1, Used 1", st, m.Used())
	}
}

func TestDropTimeout(t *testing.T) {
	m, c := setup(t, 1)
	l := acquire(t, m, "t0")
	if err := m.Drop(shortCtx(t), "t0"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Drop(t0) with a lease held error = %v, want DeadlineExceeded", err)
	}
	if m.DropMarked("t0") {
		t.Errorf("Drop mark left behind")
	}
	if err := checkMarker(l.DB(), "t0"); err != nil {
		t.Error(err)
	}
	l.Release()
	acquire(t, m, "t0").Release()
	if c.Opens("t0") != 1 {
		t.Errorf("Opens(t0) = %d, want 1", c.Opens("t0"))
	}
}

func TestDropIdleAndUnopened(t *testing.T) {
	m, c := setup(t, 2)
	ctx := context.Background()
	acquire(t, m, "t0").Release()
	for _, id := range []string{"t0", "t1", "never"} {
		if err := m.Drop(ctx, id); err != nil {
			t.Errorf("Drop(%s) error = %v", id, err)
		}
		if _, err := m.Acquire(ctx, id); !errors.Is(err, dbstrategy.ErrNotFound) {
			t.Errorf("Acquire(%s) after Drop error = %v, want ErrNotFound", id, err)
		}
	}
	if !isClosed(c.Handles("t0")[0]) {
		t.Errorf("t0 handle open after Drop")
	}
	if st := m.Stats(); st.Open != 0 || m.Used() != 0 {
		t.Errorf("Stats() = %+v, Used() = %d; want nothing open", st, m.Used())
	}
}

// TestDropDuringOpen: a Drop arriving while the handle is being opened
// waits for the open and for the lease it produced.
func TestDropDuringOpen(t *testing.T) {
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
	dropped := make(chan error, 1)
	go func() { dropped <- m.Drop(ctx, "t0") }()
	waitFor(t, "Drop to start", func() bool { return m.DropMarked("t0") })
	open()
	l := <-leased
	if l == nil {
		t.FailNow()
	}
	waitFor(t, "Drop to wait for the lease", func() bool { return m.Dropping("t0") })
	l.Release()
	if err := <-dropped; err != nil {
		t.Fatalf("Drop error = %v", err)
	}
	if !isClosed(c.Handles("t0")[0]) || m.Used() != 0 {
		t.Errorf("after Drop: handle closed = %v, Used() = %d; want true, 0", isClosed(c.Handles("t0")[0]), m.Used())
	}
}

func TestClose(t *testing.T) {
	m, c := setup(t, 4, dbstrategy.WithMigrations(migrations(1)))
	ctx := context.Background()
	for i := range 3 {
		acquire(t, m, tenant(i)).Release()
	}
	held := acquire(t, m, "t3")
	if err := m.Close(); err != nil {
		t.Fatalf("Close() error = %v", err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("second Close() error = %v", err)
	}
	for i := range 3 {
		if !isClosed(c.Handles(tenant(i))[0]) {
			t.Errorf("tenant %s open after Close", tenant(i))
		}
	}
	// A leased handle stays usable until released.
	if err := checkMarker(held.DB(), "t3"); err != nil {
		t.Errorf("leased handle after Close: %v", err)
	}
	if st := m.Stats(); st.Open != 1 || st.Leased != 1 {
		t.Errorf("Stats() = %+v, want Open 1, Leased 1", st)
	}
	held.Release()
	if !isClosed(c.Handles("t3")[0]) {
		t.Errorf("leased handle open after its release")
	}
	if st := m.Stats(); st.Open != 0 || m.Used() != 0 {
		t.Errorf("Stats() = %+v, Used() = %d; want nothing open", st, m.Used())
	}
	ops := []struct {
		name string
		err  func() error
	}{
		{"Acquire", func() error { _, err := m.Acquire(ctx, "t0"); return err }},
		{"Create", func() error { return m.Create(ctx, "t0") }},
		{"Migrate", func() error { return m.Migrate(ctx, "t0") }},
		{"Version", func() error { _, err := m.Version(ctx, "t0"); return err }},
		{"Drop", func() error { return m.Drop(ctx, "t0") }},
	}
	for _, op := range ops {
		if err := op.err(); !errors.Is(err, dbstrategy.ErrClosed) {
			t.Errorf("%s after Close error = %v, want ErrClosed", op.name, err)
		}
	}
}

func TestCloseWakesWaitersAndOpens(t *testing.T) {
	m, c := setup(t, 3, dbstrategy.WithMaxOpen(2))
	l0 := acquire(t, m, "t0")
	open := c.SetGate()
	defer open()
	opening := make(chan error, 1)
	go func() {
		_, err := m.Acquire(context.Background(), "t1")
		opening <- err
	}()
	waitFor(t, "the open of t1", func() bool { return m.PendingOpens("t1") == 1 })
	waiting := make(chan error, 1)
	go func() {
		_, err := m.Acquire(context.Background(), "t2")
		waiting <- err
	}()
	waitFor(t, "t2 to queue", func() bool { return m.Stats().Waiting == 1 })
	if err := m.Close(); err != nil {
		t.Errorf("Close() error = %v", err)
	}
	if err := <-waiting; !errors.Is(err, dbstrategy.ErrClosed) {
		t.Errorf("waiting Acquire error = %v, want ErrClosed", err)
	}
	if err := <-opening; !errors.Is(err, dbstrategy.ErrClosed) {
		t.Errorf("Acquire opening during Close error = %v, want ErrClosed", err)
	}
	l0.Release()
	if m.Used() != 0 {
		t.Errorf("Used() = %d after Close and release, want 0", m.Used())
	}
}

// clock is a settable clock for WithNow.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestIdleReaper(t *testing.T) {
	clk := newClock()
	m, c := setup(t, 3, dbstrategy.WithNow(clk.Now), dbstrategy.WithIdleTimeout(time.Minute))
	acquire(t, m, "t0").Release()
	acquire(t, m, "t1").Release()
	held := acquire(t, m, "t2")
	clk.Advance(30 * time.Second)
	acquire(t, m, "t1").Release() // t1 is used again
	clk.Advance(40 * time.Second) // t0 idle 70s, t1 40s, t2 leased
	if got := m.ReapIdle(); got != 1 {
		t.Errorf("ReapIdle() = %d, want 1", got)
	}
	for _, tt := range []struct {
		id         string
		wantClosed bool
	}{{"t0", true}, {"t1", false}, {"t2", false}} {
		if got := isClosed(c.Handles(tt.id)[0]); got != tt.wantClosed {
			t.Errorf("tenant %s closed = %v, want %v", tt.id, got, tt.wantClosed)
		}
	}
	clk.Advance(time.Hour)
	if got := m.ReapIdle(); got != 1 { // t1; t2 is leased, however long
		t.Errorf("second ReapIdle() = %d, want 1", got)
	}
	held.Release()
	if st := m.Stats(); st.Open != 1 || st.IdleCloses != 2 {
		t.Errorf("Stats() = %+v, want Open 1, IdleCloses 2", st)
	}
	// A reaped tenant opens again on demand.
	acquire(t, m, "t0").Release()
	if c.Opens("t0") != 2 {
		t.Errorf("Opens(t0) = %d, want 2", c.Opens("t0"))
	}
}

func TestIdleReaperGoroutine(t *testing.T) {
	clk := newClock()
	m, c := setup(t, 1, dbstrategy.WithNow(clk.Now), dbstrategy.WithIdleTimeout(time.Millisecond))
	acquire(t, m, "t0").Release()
	clk.Advance(time.Hour)
	waitFor(t, "the reaper to close t0", func() bool { return m.Stats().Open == 0 })
	if !isClosed(c.Handles("t0")[0]) {
		t.Errorf("reaped handle is open")
	}
}

func TestIdleTimeoutDisabled(t *testing.T) {
	clk := newClock()
	m, _ := setup(t, 1, dbstrategy.WithNow(clk.Now), dbstrategy.WithIdleTimeout(0))
	acquire(t, m, "t0").Release()
	clk.Advance(24 * time.Hour)
	if got := m.ReapIdle(); got != 0 {
		t.Errorf("ReapIdle() with idle closing disabled = %d, want 0", got)
	}
}

func TestInvalidKeyNeverReachesStrategy(t *testing.T) {
	m, c := setup(t, 0, dbstrategy.WithMigrations(migrations(1)))
	ctx := context.Background()
	for _, key := range []string{"", "T0", "-t0", "_t0", "../t0", "t0 ", "t0\n"} {
		if _, err := m.Acquire(ctx, key); !errors.Is(err, dbstrategy.ErrInvalidKey) {
			t.Errorf("Acquire(%q) error = %v, want ErrInvalidKey", key, err)
		}
		if err := m.Create(ctx, key); !errors.Is(err, dbstrategy.ErrInvalidKey) {
			t.Errorf("Create(%q) error = %v, want ErrInvalidKey", key, err)
		}
		if err := m.Drop(ctx, key); !errors.Is(err, dbstrategy.ErrInvalidKey) {
			t.Errorf("Drop(%q) error = %v, want ErrInvalidKey", key, err)
		}
		if err := m.Migrate(ctx, key); !errors.Is(err, dbstrategy.ErrInvalidKey) {
			t.Errorf("Migrate(%q) error = %v, want ErrInvalidKey", key, err)
		}
		if _, err := m.Version(ctx, key); !errors.Is(err, dbstrategy.ErrInvalidKey) {
			t.Errorf("Version(%q) error = %v, want ErrInvalidKey", key, err)
		}
		if n := c.Opens(key); n != 0 {
			t.Errorf("Opens(%q) = %d, want 0", key, n)
		}
	}
}

// TestStress mixes everything under -race: leases on many tenants through
// few handles, drops and re-creates, reads that must see their own tenant.
func TestStress(t *testing.T) {
	const tenants = 12
	m, _ := setup(t, tenants, dbstrategy.WithMaxOpen(4), dbstrategy.WithIdleTimeout(time.Millisecond))
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 60 {
				id := tenant((g*7 + i*5) % tenants)
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				l, err := m.Acquire(ctx, id)
				cancel()
				if err != nil {
					t.Errorf("Acquire(%s) error = %v", id, err)
					return
				}
				if err := checkMarker(l.DB(), id); err != nil {
					t.Error(err)
				}
				l.Release()
				if m.Used() > 4 {
					t.Errorf("Used() = %d, want at most 4", m.Used())
				}
			}
		})
	}
	wg.Wait()
	if st := m.Stats(); st.Leased != 0 || st.Waiting != 0 || st.Open > 4 {
		t.Errorf("Stats() = %+v", st)
	}
}

// TestHandleLimit checks where the handle limit comes from: WithMaxOpen if
// given; else the strategy's HandleLimiter; else DefaultMaxOpen; and that the
// connection budget applies only to a ConnLimiter, so that SQLite handles
// are not limited by a PostgreSQL budget.
func TestHandleLimit(t *testing.T) {
	sq, err := sqlitestrategy.New(sqlitestrategy.Config{Dir: t.TempDir(), MaxOpen: 1000})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		s    dbstrategy.Strategy
		opts []dbstrategy.Option
		want int
	}{
		{"no HandleLimiter", nothingStrategy{}, nil, dbstrategy.DefaultMaxOpen},
		{"HandleLimiter", sq, nil, 1000},
		{"WithMaxOpen overrides HandleLimiter", sq, []dbstrategy.Option{dbstrategy.WithMaxOpen(5000)}, 5000},
		{"budget ignored without ConnLimiter", sq, []dbstrategy.Option{dbstrategy.WithMaxConns(40)}, 1000},
		{"budget ignored without ConnLimiter, no HandleLimiter", nothingStrategy{}, []dbstrategy.Option{dbstrategy.WithMaxConns(1)}, dbstrategy.DefaultMaxOpen},
		{"budget applies to a ConnLimiter", newCounting(t, 0), []dbstrategy.Option{dbstrategy.WithMaxConns(40)}, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := dbstrategy.NewManager(tt.s, tt.opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if got := m.Stats().MaxOpen; got != tt.want {
				t.Errorf("Stats().MaxOpen = %d, want %d", got, tt.want)
			}
		})
	}
}

// TestHandleConns: HandleConns counts the connections of the open handles,
// those in use among them, and nothing once the handles are closed.
func TestHandleConns(t *testing.T) {
	m, _ := setup(t, 3, dbstrategy.WithMaxOpen(3))
	ctx := context.Background()
	if got := m.HandleConns(); got != (dbstrategy.HandleConns{}) {
		t.Fatalf("HandleConns() before any lease = %+v; want zero", got)
	}
	var leases []*dbstrategy.Lease
	for _, id := range []string{"t0", "t1", "t2"} {
		leases = append(leases, acquire(t, m, id)) // each runs a query
	}
	tx, err := leases[0].DB().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := m.HandleConns()
	if got.Open < 3 || got.InUse != 1 {
		t.Errorf("HandleConns() with 3 handles, one transaction open = %+v; want Open >= 3, InUse 1", got)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	for _, l := range leases {
		l.Release()
	}
	if got := m.HandleConns(); got.InUse != 0 {
		t.Errorf("HandleConns() after the releases = %+v; want InUse 0", got)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if got := m.HandleConns(); got != (dbstrategy.HandleConns{}) {
		t.Errorf("HandleConns() after Close = %+v; want zero", got)
	}
}
