package dbstrategytest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/tenantkit/tenantkit/dbstrategy"
)

// Migrations returns the small goose migration set the suite applies: a
// "sqlite3/" and a "postgres/" directory, each with two versions creating
// a notes table (id INTEGER PRIMARY KEY, body TEXT, created_at TIMESTAMP
// defaulting to CURRENT_TIMESTAMP, then a tag TEXT column). Strategies'
// own tests may use it too.
func Migrations() fstest.MapFS {
	const v1 = `-- +goose Up
CREATE TABLE notes (
	id INTEGER PRIMARY KEY,
	body TEXT NOT NULL,
	created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- +goose Down
DROP TABLE notes;
`
	const v2 = `-- +goose Up
ALTER TABLE notes ADD COLUMN tag TEXT;

-- +goose Down
ALTER TABLE notes DROP COLUMN tag;
`
	fsys := fstest.MapFS{}
	for _, dir := range []string{"sqlite3", "postgres"} {
		fsys[dir+"/00001_notes.sql"] = &fstest.MapFile{Data: []byte(v1)}
		fsys[dir+"/00002_tag.sql"] = &fstest.MapFile{Data: []byte(v2)}
	}
	return fsys
}

// Run runs the conformance suite against strategies made by newStrategy (called once per subtest, each with fresh
// state; it must register its own cleanup). It tests Create idempotency (incl. concurrent Create of one tenant),
// Open of a missing tenant -> ErrNotFound and creates nothing, data isolation between tenants (keys with '_' and '-'), Drop idempotency and
// that a dropped tenant's Open fails with ErrNotFound, invalid keys refused by a Manager over the strategy, Dialect
// is "sqlite3" or "postgres", ConnLimiter sanity if implemented, migrations applied via a Manager with a small
// in-memory fstest.MapFS migration set for the strategy's dialect, WithPendingMigrations (a tenant behind the
// migrations refused with a SchemaBehindError under PendingRefuse, migrated on Acquire under PendingMigrate, then
// leased under PendingRefuse on the handle that refused it), a Manager stress (many tenants, MaxOpen small,
// concurrent Acquire/Release with -race, every read sees its own tenant's rows), and, for a ConnPinner, that a lease
// holds one connection of the shared pool (a budget of 2 serves 2 leases at once, a third waits until one is released
// or its context ends) and that its DB fails with ErrReleased after Release.
//
// The suite uses tenant keys of at most 12 bytes, so a strategy may add a
// prefix of up to 36 bytes of its own; it closes every handle it opens.
func Run(t *testing.T, newStrategy func(t *testing.T) dbstrategy.Strategy) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s dbstrategy.Strategy)
	}{
		{"Dialect", testDialect},
		{"CreateIdempotent", testCreateIdempotent},
		{"CreateConcurrent", testCreateConcurrent},
		{"OpenMissing", testOpenMissing},
		{"Isolation", testIsolation},
		{"Drop", testDrop},
		{"InvalidKeys", testInvalidKeys},
		{"ConnLimiter", testConnLimiter},
		{"ConnPinner", testConnPinner},
		{"Migrations", testMigrations},
		{"PendingMigrations", testPendingMigrations},
		{"ManagerStress", testManagerStress},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStrategy(t)
			if s == nil {
				t.Fatal("newStrategy returned nil")
			}
			tt.fn(t, s)
		})
	}
}

// ctx returns a context that ends with the test, bounded so that a hang
// fails instead of stalling the run.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

// use opens a tenant, runs fn on the handle and closes it.
func use(t *testing.T, s dbstrategy.Strategy, id string, fn func(db *sql.DB)) {
	t.Helper()
	db, err := s.Open(ctx(t), id)
	if err != nil {
		t.Fatalf("Open(%q) error = %v", id, err)
	}
	defer db.Close()
	fn(db)
}

func create(t *testing.T, s dbstrategy.Strategy, id string) {
	t.Helper()
	if err := s.Create(ctx(t), id); err != nil {
		t.Fatalf("Create(%q) error = %v", id, err)
	}
}

func drop(t *testing.T, s dbstrategy.Strategy, id string) {
	t.Helper()
	if err := s.Drop(ctx(t), id); err != nil {
		t.Fatalf("Drop(%q) error = %v", id, err)
	}
}

func newManager(t *testing.T, s dbstrategy.Strategy, opts ...dbstrategy.Option) *dbstrategy.Manager {
	t.Helper()
	m, err := dbstrategy.NewManager(s, opts...)
	if err != nil {
		t.Fatalf("NewManager() error = %v", err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("Manager.Close() error = %v", err)
		}
	})
	return m
}

// mark creates a one-row table naming the tenant, on a handle the caller
// closes.
func mark(t *testing.T, db *sql.DB, id string) {
	t.Helper()
	c := ctx(t)
	if _, err := db.ExecContext(c, "CREATE TABLE marker (id INTEGER PRIMARY KEY, name TEXT NOT NULL)"); err != nil {
		t.Fatalf("create marker table in %q: %v", id, err)
	}
	if _, err := db.ExecContext(c, "INSERT INTO marker (id, name) VALUES ($1, $2)", 1, id); err != nil {
		t.Fatalf("insert marker in %q: %v", id, err)
	}
}

// markers returns the names in the marker table of db.
func markers(ctx context.Context, db dbstrategy.DB) ([]string, error) {
	rows, err := db.QueryContext(ctx, "SELECT name FROM marker ORDER BY id")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		names = append(names, n)
	}
	return names, rows.Err()
}

func testDialect(t *testing.T, s dbstrategy.Strategy) {
	if got := s.Dialect(); got != "sqlite3" && got != "postgres" {
		t.Errorf("Dialect() = %q, want \"sqlite3\" or \"postgres\"", got)
	}
}

func testCreateIdempotent(t *testing.T, s dbstrategy.Strategy) {
	const id = "idem"
	create(t, s, id)
	use(t, s, id, func(db *sql.DB) { mark(t, db, id) })
	create(t, s, id) // must keep the data
	use(t, s, id, func(db *sql.DB) {
		got, err := markers(ctx(t), db)
		if err != nil || len(got) != 1 || got[0] != id {
			t.Errorf("markers after second Create = %q, %v; want [%q], nil", got, err, id)
		}
	})
	drop(t, s, id)
}

func testCreateConcurrent(t *testing.T, s dbstrategy.Strategy) {
	const id = "concurrent"
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = s.Create(ctx(t), id)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("concurrent Create #%d error = %v, want nil", i, err)
		}
	}
	use(t, s, id, func(db *sql.DB) { mark(t, db, id) })
	drop(t, s, id)
}

func testOpenMissing(t *testing.T, s dbstrategy.Strategy) {
	const id = "missing"
	for i := range 2 { // the first Open must not have created anything
		db, err := s.Open(ctx(t), id)
		if db != nil {
			db.Close()
		}
		if !errors.Is(err, dbstrategy.ErrNotFound) || db != nil {
			t.Fatalf("Open(%q) #%d = %v, %v; want nil, ErrNotFound", id, i+1, db, err)
		}
	}
	// Drop of a tenant never created is nil too, and Create still works.
	drop(t, s, id)
	create(t, s, id)
	use(t, s, id, func(db *sql.DB) { mark(t, db, id) })
	drop(t, s, id)
}

func testIsolation(t *testing.T, s dbstrategy.Strategy) {
	// Keys with '-' (valid, and what tenancy's hints allow) are tenants of
	// their own: "iso-a" and "iso_a" must not share a database.
	ids := []string{"iso_a", "iso_b", "iso-a", "iso--b", "0-iso-"}
	for _, id := range ids {
		create(t, s, id)
	}
	for _, id := range ids {
		use(t, s, id, func(db *sql.DB) { mark(t, db, id) })
	}
	for _, id := range ids {
		use(t, s, id, func(db *sql.DB) {
			got, err := markers(ctx(t), db)
			if err != nil || len(got) != 1 || got[0] != id {
				t.Errorf("tenant %q markers = %q, %v; want [%q], nil", id, got, err, id)
			}
		})
	}
	// A table made in one tenant does not exist in another.
	use(t, s, "iso_a", func(db *sql.DB) {
		if _, err := db.ExecContext(ctx(t), "CREATE TABLE only_a (x INTEGER)"); err != nil {
			t.Fatalf("create only_a: %v", err)
		}
	})
	use(t, s, "iso_b", func(db *sql.DB) {
		var n int
		if err := db.QueryRowContext(ctx(t), "SELECT count(*) FROM only_a").Scan(&n); err == nil {
			t.Errorf("tenant iso_b sees table only_a of tenant iso_a")
		}
	})
	for _, id := range ids {
		drop(t, s, id)
	}
}

func testDrop(t *testing.T, s dbstrategy.Strategy) {
	const id = "dropme"
	drop(t, s, id) // never created
	create(t, s, id)
	db, err := s.Open(ctx(t), id)
	if err != nil {
		t.Fatalf("Open(%q) error = %v", id, err)
	}
	mark(t, db, id)
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	drop(t, s, id)
	drop(t, s, id) // again
	db, err = s.Open(ctx(t), id)
	if db != nil {
		db.Close()
	}
	if !errors.Is(err, dbstrategy.ErrNotFound) {
		t.Fatalf("Open(%q) after Drop error = %v, want ErrNotFound", id, err)
	}
	// Created again, it is empty.
	create(t, s, id)
	use(t, s, id, func(db *sql.DB) {
		if _, err := markers(ctx(t), db); err == nil {
			t.Errorf("tenant %q created after Drop still has its marker table", id)
		}
	})
	drop(t, s, id)
}

// counting wraps a Strategy and counts the calls that reach it.
type counting struct {
	dbstrategy.Strategy
	calls atomic.Int64
}

func (c *counting) Create(ctx context.Context, id string) error {
	c.calls.Add(1)
	return c.Strategy.Create(ctx, id)
}

func (c *counting) Open(ctx context.Context, id string) (*sql.DB, error) {
	c.calls.Add(1)
	return c.Strategy.Open(ctx, id)
}

func (c *counting) Drop(ctx context.Context, id string) error {
	c.calls.Add(1)
	return c.Strategy.Drop(ctx, id)
}

func testInvalidKeys(t *testing.T, s dbstrategy.Strategy) {
	cs := &counting{Strategy: s}
	m := newManager(t, cs, dbstrategy.WithMigrations(Migrations()))
	keys := []string{
		"", "A", "Acme", "-ab", "_ab", "-", "a.b", "a b", "../x", "x/y", `x\y`, "a\x00", "é", "1_0;DROP",
		"\"q\"", "a'b", strings.Repeat("a", dbstrategy.MaxKeyLen+1),
	}
	c := ctx(t)
	for _, key := range keys {
		ops := []struct {
			name string
			err  func() error
		}{
			{"Acquire", func() error {
				l, err := m.Acquire(c, key)
				if l != nil {
					l.Release()
				}
				return err
			}},
			{"Create", func() error { return m.Create(c, key) }},
			{"Migrate", func() error { return m.Migrate(c, key) }},
			{"Version", func() error { _, err := m.Version(c, key); return err }},
			{"Drop", func() error { return m.Drop(c, key) }},
		}
		for _, op := range ops {
			if err := op.err(); !errors.Is(err, dbstrategy.ErrInvalidKey) {
				t.Errorf("%s(%q) error = %v, want ErrInvalidKey", op.name, key, err)
			}
		}
		// The strategy itself refuses it too.
		if db, err := s.Open(c, key); err == nil {
			db.Close()
			t.Errorf("Strategy.Open(%q) error = nil, want an error", key)
		}
	}
	if n := cs.calls.Load(); n != 0 {
		t.Errorf("strategy calls after invalid keys = %d, want 0", n)
	}
}

func testConnLimiter(t *testing.T, s dbstrategy.Strategy) {
	cl, ok := s.(dbstrategy.ConnLimiter)
	if !ok {
		t.Skip("strategy does not implement dbstrategy.ConnLimiter")
	}
	per := cl.MaxConnsPerHandle()
	if per < 1 {
		t.Fatalf("MaxConnsPerHandle() = %d, want at least 1", per)
	}
	const id = "limited"
	create(t, s, id)
	use(t, s, id, func(db *sql.DB) {
		if got := db.Stats().MaxOpenConnections; got < 1 || got > per {
			t.Errorf("handle MaxOpenConnections = %d, want 1..%d", got, per)
		}
	})
	drop(t, s, id)
	if _, ok := s.(dbstrategy.ConnBudgeter); ok {
		testConnBudgeter(t, s)
		return
	}
	// A budget below one handle is refused; one handle's worth works.
	if _, err := dbstrategy.NewManager(s, dbstrategy.WithMaxConns(per-1)); per > 1 && err == nil {
		t.Errorf("NewManager(WithMaxConns(%d)) error = nil, want an error", per-1)
	}
	m := newManager(t, s, dbstrategy.WithMaxConns(per))
	if got := m.Stats().MaxOpen; got != 1 {
		t.Errorf("Stats().MaxOpen with WithMaxConns(%d) = %d, want 1", per, got)
	}
}

// testConnBudgeter checks a strategy that counts the connections its
// handles really hold: a budget of 2 connections serves more than 2 open
// handles (an idle connection of one makes room for another), one query at
// a time each, and a budget given twice with another size is refused.
func testConnBudgeter(t *testing.T, s dbstrategy.Strategy) {
	const budget, tenants = 2, 4
	m := newManager(t, s, dbstrategy.WithMaxConns(budget))
	if got := m.Stats().MaxOpen; got < tenants {
		t.Fatalf("Stats().MaxOpen with a connection budget of %d = %d; want the handle limit, not the budget", budget, got)
	}
	ids := make([]string, tenants)
	for i := range ids {
		ids[i] = fmt.Sprintf("budget%d", i)
		create(t, s, ids[i])
	}
	leases := make([]*dbstrategy.Lease, tenants)
	for round := range 2 {
		for i, id := range ids {
			l, err := m.Acquire(ctx(t), id)
			if err != nil {
				t.Fatalf("Acquire(%q): %v", id, err)
			}
			leases[i] = l
			var one int
			if err := l.DB().QueryRowContext(ctx(t), "SELECT 1").Scan(&one); err != nil {
				t.Fatalf("round %d, tenant %q: query with a budget of %d connections over %d tenants: %v", round, id, budget, tenants, err)
			}
		}
		for _, l := range leases {
			l.Release()
		}
	}
	if got := m.Stats(); got.Open != tenants || got.Evictions != 0 {
		t.Errorf("Stats() = %+v; want %d handles open, none evicted: handles holding no connection cost nothing", got, tenants)
	}
	if _, err := dbstrategy.NewManager(s, dbstrategy.WithMaxConns(budget+1)); err == nil {
		t.Errorf("a second budget of another size: NewManager error = nil, want an error")
	}
	for _, id := range ids {
		if err := m.Drop(ctx(t), id); err != nil {
			t.Fatal(err)
		}
	}
}

func testMigrations(t *testing.T, s dbstrategy.Strategy) {
	const id = "migrated"
	m := newManager(t, s, dbstrategy.WithMigrations(Migrations()))
	c := ctx(t)
	if err := m.Create(c, id); err != nil {
		t.Fatalf("Create(%q) error = %v", id, err)
	}
	if v, err := m.Version(c, id); v != 2 || err != nil {
		t.Errorf("Version(%q) = %d, %v; want 2, nil", id, v, err)
	}
	if err := m.Migrate(c, id); err != nil {
		t.Errorf("Migrate(%q) again error = %v, want nil", id, err)
	}
	if err := m.Create(c, id); err != nil {
		t.Errorf("Create(%q) again error = %v, want nil", id, err)
	}
	l, err := m.Acquire(c, id)
	if err != nil {
		t.Fatalf("Acquire(%q) error = %v", id, err)
	}
	db := l.DB()
	// $n placeholders, in order of first appearance, work in every dialect.
	if _, err := db.ExecContext(c, "INSERT INTO notes (id, body, tag) VALUES ($1, $2, $3)", 1, "hello", "t"); err != nil {
		t.Fatalf("insert note: %v", err)
	}
	var (
		body, tag string
		created   time.Time
	)
	err = db.QueryRowContext(c, "SELECT body, tag, created_at FROM notes WHERE id = $1 AND body = $2", 1, "hello").
		Scan(&body, &tag, &created)
	if err != nil || body != "hello" || tag != "t" || created.IsZero() {
		t.Errorf("select note = %q, %q, %v, %v; want hello, t, a time, nil", body, tag, created, err)
	}
	l.Release()
	if err := m.Drop(c, id); err != nil {
		t.Errorf("Drop(%q) error = %v", id, err)
	}
	if _, err := m.Version(c, id); !errors.Is(err, dbstrategy.ErrNotFound) {
		t.Errorf("Version(%q) after Drop error = %v, want ErrNotFound", id, err)
	}
	var merr *dbstrategy.MigrateError
	if err := m.Migrate(c, id); !errors.As(err, &merr) || merr.TenantID != id || !errors.Is(err, dbstrategy.ErrNotFound) {
		t.Errorf("Migrate(%q) after Drop error = %v, want a *MigrateError wrapping ErrNotFound", id, err)
	}
}

// firstMigration is Migrations() without its second version.
func firstMigration() fstest.MapFS {
	fsys := Migrations()
	for name := range fsys {
		if strings.Contains(name, "00002_") {
			delete(fsys, name)
		}
	}
	return fsys
}

func testPendingMigrations(t *testing.T, s dbstrategy.Strategy) {
	const id = "behind"
	c := ctx(t)
	old := newManager(t, s, dbstrategy.WithMigrations(firstMigration()))
	if err := old.Create(c, id); err != nil {
		t.Fatalf("Create(%q) error = %v", id, err)
	}
	refuse := newManager(t, s, dbstrategy.WithMigrations(Migrations()),
		dbstrategy.WithPendingMigrations(dbstrategy.PendingRefuse))
	_, err := refuse.Acquire(c, id)
	var behind *dbstrategy.SchemaBehindError
	if !errors.As(err, &behind) || !errors.Is(err, dbstrategy.ErrSchemaBehind) ||
		*behind != (dbstrategy.SchemaBehindError{TenantID: id, Have: 1, Want: 2}) {
		t.Fatalf("Acquire(%q) behind under PendingRefuse = %v, want *SchemaBehindError{%s, 1, 2}", id, err, id)
	}
	migrate := newManager(t, s, dbstrategy.WithMigrations(Migrations()),
		dbstrategy.WithPendingMigrations(dbstrategy.PendingMigrate))
	err = migrate.Do(c, id, func(ctx context.Context, db dbstrategy.DB) error {
		_, err := db.ExecContext(ctx, "INSERT INTO notes (id, body, tag) VALUES ($1, $2, $3)", 1, "b", "t")
		return err
	})
	if err != nil {
		t.Fatalf("Do(%q) behind under PendingMigrate = %v, want migrated and leased", id, err)
	}
	// The handle that refused the tenant checks again, and finds it current.
	if err := refuse.Do(c, id, func(context.Context, dbstrategy.DB) error { return nil }); err != nil {
		t.Errorf("Do(%q) under PendingRefuse once migrated = %v", id, err)
	}
	if err := migrate.Drop(c, id); err != nil {
		t.Errorf("Drop(%q) error = %v", id, err)
	}
}

func testManagerStress(t *testing.T, s dbstrategy.Strategy) {
	const (
		tenants    = 8
		maxOpen    = 3
		goroutines = 8
		iterations = 30
	)
	ids := make([]string, tenants)
	for i := range ids {
		ids[i] = fmt.Sprintf("stress_%d", i)
		create(t, s, ids[i])
		use(t, s, ids[i], func(db *sql.DB) { mark(t, db, ids[i]) })
	}
	m := newManager(t, s, dbstrategy.WithMaxOpen(maxOpen))
	c := ctx(t)
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			for i := range iterations {
				id := ids[(g*5+i*3)%tenants]
				if err := stressOnce(c, m, id, maxOpen); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if st := m.Stats(); st.Open > maxOpen || st.Leased != 0 || st.Waiting != 0 {
		t.Errorf("Stats() after stress = %+v, want Open <= %d, Leased 0, Waiting 0", st, maxOpen)
	}
	for _, id := range ids {
		if err := m.Drop(c, id); err != nil {
			t.Errorf("Drop(%q) error = %v", id, err)
		}
	}
}

func stressOnce(ctx context.Context, m *dbstrategy.Manager, id string, maxOpen int) error {
	l, err := m.Acquire(ctx, id)
	if err != nil {
		return fmt.Errorf("Acquire(%q) error = %v", id, err)
	}
	defer l.Release()
	if st := m.Stats(); st.Open > maxOpen {
		return fmt.Errorf("Stats().Open = %d, want at most %d", st.Open, maxOpen)
	}
	got, err := markers(ctx, l.DB())
	if err != nil || len(got) != 1 || got[0] != id {
		return fmt.Errorf("tenant %q markers = %q, %v; want [%q], nil", id, got, err, id)
	}
	return nil
}

// testConnPinner checks a strategy whose leases pin a connection of one
// shared pool: with a budget of 2, two leases (of different tenants) hold
// both connections, a third Acquire waits until its context ends, and gets
// a connection once a lease is released; a released lease's DB fails with
// ErrReleased, and the next lease on its connection sees its own tenant.
func testConnPinner(t *testing.T, s dbstrategy.Strategy) {
	if _, ok := s.(dbstrategy.ConnPinner); !ok {
		t.Skip("strategy does not implement dbstrategy.ConnPinner")
	}
	if _, ok := s.(dbstrategy.ConnBudgeter); !ok {
		t.Fatal("a ConnPinner must implement dbstrategy.ConnBudgeter: its shared pool is the budget")
	}
	// The budget sizes the shared pool: give it before the first use.
	m := newManager(t, s, dbstrategy.WithMaxConns(2))
	ids := []string{"pin_a", "pin_b", "pin_c"}
	for _, id := range ids {
		create(t, s, id)
		use(t, s, id, func(db *sql.DB) { mark(t, db, id) })
	}
	c := ctx(t)
	la, err := m.Acquire(c, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	lb, err := m.Acquire(c, ids[1])
	if err != nil {
		t.Fatal(err)
	}
	if la.Handle() != nil {
		t.Errorf("Lease.Handle() = non-nil on a ConnPinner: the tenants have no pool of their own")
	}
	short, cancel := context.WithCancel(c)
	cancel()
	if l, err := m.Acquire(short, ids[2]); err == nil {
		l.Release()
		t.Errorf("a third Acquire with both connections pinned: error = nil, want its context's error")
	} else if !errors.Is(err, context.Canceled) {
		t.Errorf("a third Acquire with both connections pinned: error = %v, want context.Canceled", err)
	}
	db := la.DB()
	la.Release()
	if _, err := db.ExecContext(c, "SELECT 1"); !errors.Is(err, dbstrategy.ErrReleased) {
		t.Errorf("DB of a released lease: error = %v, want ErrReleased", err)
	}
	lc, err := m.Acquire(c, ids[2])
	if err != nil {
		t.Fatalf("Acquire after a release: %v", err)
	}
	for _, l := range []struct {
		l  *dbstrategy.Lease
		id string
	}{{lb, ids[1]}, {lc, ids[2]}} {
		got, err := markers(c, l.l.DB())
		if err != nil || len(got) != 1 || got[0] != l.id {
			t.Errorf("tenant %q markers = %q, %v; want [%q], nil", l.id, got, err, l.id)
		}
		l.l.Release()
	}
	for _, id := range ids {
		if err := m.Drop(c, id); err != nil {
			t.Error(err)
		}
	}
}
