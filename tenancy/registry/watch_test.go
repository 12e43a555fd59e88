package registry_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tenantkit/tenantkit/tenancy"
	"github.com/tenantkit/tenantkit/tenancy/registry"
)

// watch runs Watch on s until the test ends, and returns the channel of
// the changes it delivers.
func watch(t *testing.T, s registry.Store, opts ...registry.WatchOption) <-chan registry.Change {
	t.Helper()
	ch := make(chan registry.Change, 100)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- registry.Watch(ctx, s, func(c registry.Change) { ch <- c }, opts...) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Watch() = %v; want context.Canceled", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Watch did not return after its context ended")
		}
	})
	// Wait until Watch has started (read the head): a change made now is
	// after its start.
	time.Sleep(100 * time.Millisecond)
	return ch
}

// next returns the next change delivered within d, and how long it took.
func next(t *testing.T, ch <-chan registry.Change, d time.Duration) (registry.Change, time.Duration) {
	t.Helper()
	start := time.Now()
	select {
	case c := <-ch:
		return c, time.Since(start)
	case <-time.After(d):
		t.Fatalf("no change delivered within %v", d)
		return registry.Change{}, 0
	}
}

// none checks that no change is delivered within d.
func none(t *testing.T, ch <-chan registry.Change, d time.Duration) {
	t.Helper()
	select {
	case c := <-ch:
		t.Errorf("unexpected change %+v", c)
	case <-time.After(d):
	}
}

func TestWatchMemory(t *testing.T) {
	s := newMemory(t)
	ctx := context.Background()
	insert(t, s, "old", "", tenancy.StatusActive) // before Watch: not delivered
	ch := watch(t, s, registry.WithPollInterval(time.Hour))
	insert(t, s, "1", "a", tenancy.StatusProvisioning)
	s.SetStatus(ctx, "1", tenancy.StatusProvisioning, tenancy.StatusActive)
	s.Delete(ctx, "1")
	for _, want := range []tenancy.Status{tenancy.StatusProvisioning, tenancy.StatusActive, registry.StatusDeleted} {
		c, _ := next(t, ch, 5*time.Second)
		if c.ID != "1" || c.Slug != "a" || c.Status != want {
			t.Errorf("delivered %+v; want 1 a %s", c, want)
		}
	}
	none(t, ch, 50*time.Millisecond)
}

func TestWatchCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- registry.Watch(ctx, newMemory(t), func(registry.Change) {}) }()
	time.Sleep(20 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Watch() = %v; want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Watch did not return after cancel")
	}
}

func TestWatchSQLite(t *testing.T) {
	dsn := sqliteDSN(t)
	s, _ := openSQL(t, registry.DialectSQLite, dsn)
	other, _ := openSQL(t, registry.DialectSQLite, dsn) // another process's handle
	ch := watch(t, s, registry.WithPollInterval(20*time.Millisecond))
	insert(t, other, "1", "a", tenancy.StatusActive)
	if c, _ := next(t, ch, 5*time.Second); c.ID != "1" || c.Status != tenancy.StatusActive || c.Seq == 0 {
		t.Errorf("delivered %+v; want 1 active", c)
	}
	if err := other.Delete(context.Background(), "1"); err != nil {
		t.Fatal(err)
	}
	if c, _ := next(t, ch, 5*time.Second); c.Status != registry.StatusDeleted {
		t.Errorf("delivered %+v; want deleted", c)
	}
}

func TestWatchPostgresNotify(t *testing.T) {
	dsn := pgDSN(t)
	s, _ := openSQL(t, registry.DialectPostgres, dsn)
	other, _ := openSQL(t, registry.DialectPostgres, dsn)
	// Polling once an hour: only a notification can deliver in time.
	ch := watch(t, s, registry.WithPollInterval(time.Hour))
	for i := range 5 {
		id := string(rune('a' + i))
		insert(t, other, id, "", tenancy.StatusActive)
		c, took := next(t, ch, 5*time.Second)
		if c.ID != id {
			t.Errorf("delivered %+v; want %s", c, id)
		}
		if took > time.Second {
			t.Errorf("change %s took %v to arrive; want milliseconds", id, took)
		}
	}
}

func TestWatchPostgresOutOfOrder(t *testing.T) {
	dsn := pgDSN(t)
	s, _ := openSQL(t, registry.DialectPostgres, dsn)
	other, otherDB := openSQL(t, registry.DialectPostgres, dsn)
	ctx := context.Background()
	ch := watch(t, s, registry.WithPollInterval(20*time.Millisecond))

	// tx takes a Seq, then another transaction takes the next one and
	// commits first.
	tx, err := otherDB.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.InsertTx(ctx, tx, registry.Record{ID: "late", Status: tenancy.StatusActive}); err != nil {
		t.Fatal(err)
	}
	insert(t, other, "early", "", tenancy.StatusActive)
	if c, _ := next(t, ch, 5*time.Second); c.ID != "early" {
		t.Fatalf("delivered %+v; want early", c)
	}
	time.Sleep(100 * time.Millisecond) // several polls pass the gap
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	c, _ := next(t, ch, 5*time.Second)
	if c.ID != "late" {
		t.Errorf("delivered %+v; want late", c)
	}
	cs, _ := s.Changes(ctx, 0, 0)
	if len(cs) != 2 || cs[0].ID != "late" || c.Seq != cs[0].Seq {
		t.Errorf("log = %+v; want late's Seq below early's", cs)
	}
	none(t, ch, 100*time.Millisecond)
}

func TestWatchPostgresLostListen(t *testing.T) {
	dsn := pgDSN(t)
	s, db := openSQL(t, registry.DialectPostgres, dsn)
	other, _ := openSQL(t, registry.DialectPostgres, dsn)
	ch := watch(t, s, registry.WithPollInterval(100*time.Millisecond))
	listeners := func() int {
		var n int
		err := db.QueryRow(`SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query = 'LISTEN ` + registry.NotifyChannel + `'`).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	// Other tests' watchers may listen in the same database: end them all.
	if _, err := db.Exec(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query = 'LISTEN ` + registry.NotifyChannel + `'`); err != nil {
		t.Fatal(err)
	}
	insert(t, other, "1", "", tenancy.StatusActive)
	if c, _ := next(t, ch, 5*time.Second); c.ID != "1" {
		t.Errorf("delivered %+v; want 1", c)
	}
	deadline := time.Now().Add(5 * time.Second)
	for listeners() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("Watch did not listen again after its connection was terminated")
		}
		time.Sleep(20 * time.Millisecond)
	}
	insert(t, other, "2", "", tenancy.StatusActive)
	if c, _ := next(t, ch, 5*time.Second); c.ID != "2" {
		t.Errorf("delivered %+v; want 2", c)
	}
}

// holdStore is a Memory whose log hides the changes of the held tenants,
// as if their transactions had not committed yet.
type holdStore struct {
	*registry.Memory
	mu   sync.Mutex
	held map[string]bool
}

func (h *holdStore) hold(id string, on bool) {
	h.mu.Lock()
	h.held[id] = on
	h.mu.Unlock()
}

func (h *holdStore) Changes(ctx context.Context, after int64, limit int) ([]registry.Change, error) {
	cs, err := h.Memory.Changes(ctx, after, 0)
	h.mu.Lock()
	cs = slices.DeleteFunc(cs, func(c registry.Change) bool { return h.held[c.ID] })
	h.mu.Unlock()
	if limit > 0 && len(cs) > limit {
		cs = cs[:limit]
	}
	return cs, err
}

func TestWatchGap(t *testing.T) {
	h := &holdStore{Memory: newMemory(t), held: map[string]bool{}}
	// A transaction open when Watch starts: its Seq is below the head.
	h.hold("open", true)
	insert(t, h, "open", "", tenancy.StatusActive)
	insert(t, h, "before", "", tenancy.StatusActive)
	ch := watch(t, h, registry.WithPollInterval(10*time.Millisecond), registry.WithGapTimeout(time.Second))
	h.hold("open", false)
	if c, _ := next(t, ch, 5*time.Second); c.ID != "open" {
		t.Errorf("delivered %+v; want the change committed late after the start", c)
	}

	// Gaps in the middle: a held change is delivered when it appears
	// within the gap timeout; the changes after it are not delayed.
	h.hold("slow", true)
	insert(t, h, "slow", "", tenancy.StatusActive)
	insert(t, h, "fast", "", tenancy.StatusActive)
	if c, took := next(t, ch, 5*time.Second); c.ID != "fast" || took > 500*time.Millisecond {
		t.Errorf("delivered %+v after %v; want fast at once", c, took)
	}
	time.Sleep(200 * time.Millisecond)
	h.hold("slow", false)
	if c, _ := next(t, ch, 5*time.Second); c.ID != "slow" {
		t.Errorf("delivered %+v; want slow", c)
	}
	none(t, ch, 50*time.Millisecond)

	// A gap that lasts past the timeout is given up on (a rolled-back
	// transaction): Watch goes on, and does not deliver twice.
	h.hold("never", true)
	insert(t, h, "never", "", tenancy.StatusActive)
	insert(t, h, "after", "", tenancy.StatusActive)
	if c, _ := next(t, ch, 5*time.Second); c.ID != "after" {
		t.Errorf("delivered %+v; want after", c)
	}
	time.Sleep(1500 * time.Millisecond)
	h.hold("never", false)
	insert(t, h, "last", "", tenancy.StatusActive)
	if c, _ := next(t, ch, 5*time.Second); c.ID != "last" {
		t.Errorf("delivered %+v; want last (never given up on)", c)
	}
	none(t, ch, 50*time.Millisecond)
}

// memoryOnly hides Memory's Notifier, so that Watch polls.
type memoryOnly struct{ registry.Store }

func TestWatchPollsWithoutNotifier(t *testing.T) {
	s := newMemory(t)
	ch := watch(t, memoryOnly{s}, registry.WithPollInterval(10*time.Millisecond))
	insert(t, s, "1", "", tenancy.StatusActive)
	if c, _ := next(t, ch, 5*time.Second); c.ID != "1" {
		t.Errorf("delivered %+v; want 1", c)
	}
}
