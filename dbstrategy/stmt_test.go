package dbstrategy_test

import (
	"context"
	"database/sql"
	"fmt"
	"testing"

	"github.com/tenantkit/tenantkit/dbstrategy"
)

// stmtMarker reads the tenant's marker through st.
func stmtMarker(st *sql.Stmt) (string, error) {
	var got string
	err := st.QueryRowContext(context.Background()).Scan(&got)
	return got, err
}

// TestLeaseStmtCached checks that Stmt prepares a query once per handle:
// every lease of the tenant gets the same statement, and it reads that
// tenant's data.
func TestLeaseStmtCached(t *testing.T) {
	m, _ := setup(t, 2)
	ctx := context.Background()
	const q = "SELECT name FROM marker"
	var first *sql.Stmt
	for i := range 3 {
		l := acquire(t, m, "t0")
		st, err := l.Stmt(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = st
		} else if st != first {
			t.Errorf("lease %d got another statement for the same query", i)
		}
		if got, err := stmtMarker(st); err != nil || got != "t0" {
			t.Errorf("statement on t0 read %q, %v; want t0", got, err)
		}
		l.Release()
	}
	l := acquire(t, m, "t1")
	defer l.Release()
	st, err := l.Stmt(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if st == first {
		t.Error("two tenants share a statement")
	}
	if got, err := stmtMarker(st); err != nil || got != "t1" {
		t.Errorf("statement on t1 read %q, %v; want t1", got, err)
	}
	if _, err := l.Stmt(ctx, "SELECT nothing FROM nowhere"); err == nil {
		t.Error("Stmt of invalid SQL: no error")
	}
}

// TestLeaseStmtBounded checks that a handle caches at most StmtCacheSize
// statements, and that a statement beyond them belongs to the lease and is
// closed by Release, while the cached ones stay usable.
func TestLeaseStmtBounded(t *testing.T) {
	m, _ := setup(t, 1)
	ctx := context.Background()
	query := func(i int) string { return fmt.Sprintf("SELECT name FROM marker WHERE %d = %d", i, i) }
	l := acquire(t, m, "t0")
	cached := make([]*sql.Stmt, dbstrategy.StmtCacheSize)
	for i := range cached {
		st, err := l.Stmt(ctx, query(i))
		if err != nil {
			t.Fatal(err)
		}
		cached[i] = st
	}
	extra, err := l.Stmt(ctx, query(dbstrategy.StmtCacheSize))
	if err != nil {
		t.Fatal(err)
	}
	again, err := l.Stmt(ctx, query(dbstrategy.StmtCacheSize))
	if err != nil {
		t.Fatal(err)
	}
	if again == extra {
		t.Error("a statement beyond the cache's size was cached")
	}
	if got, err := stmtMarker(extra); err != nil || got != "t0" {
		t.Errorf("statement beyond the cache read %q, %v; want t0", got, err)
	}
	l.Release()
	if _, err := stmtMarker(extra); err == nil {
		t.Error("a statement beyond the cache still works after Release; want it closed")
	}
	l = acquire(t, m, "t0")
	defer l.Release()
	for i, want := range cached {
		st, err := l.Stmt(ctx, query(i))
		if err != nil || st != want {
			t.Fatalf("Stmt(query %d) after Release = %p, %v; want the cached %p", i, st, err, want)
		}
		if got, err := stmtMarker(st); err != nil || got != "t0" {
			t.Fatalf("cached statement %d after Release read %q, %v", i, got, err)
		}
	}
}

// TestLeaseStmtClosedWithHandle checks that the cached statements close
// with their handle when it is evicted, and not while it is leased: an
// Acquire that needs the only slot waits for the lease instead.
func TestLeaseStmtClosedWithHandle(t *testing.T) {
	m, c := setup(t, 2, dbstrategy.WithMaxOpen(1))
	ctx := context.Background()
	l := acquire(t, m, "t0")
	st, err := l.Stmt(ctx, "SELECT name FROM marker")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan *dbstrategy.Lease)
	go func() { // exits when t1 is leased: after l.Release below
		l1, err := m.Acquire(ctx, "t1")
		if err != nil {
			t.Error(err)
		}
		got <- l1
	}()
	waitFor(t, "Acquire(t1) to wait", func() bool { return m.Stats().Waiting == 1 })
	if name, err := stmtMarker(st); err != nil || name != "t0" {
		t.Fatalf("statement of a leased handle read %q, %v while another tenant waited; want t0", name, err)
	}
	if isClosed(c.Handles("t0")[0]) {
		t.Fatal("a leased handle was closed")
	}
	l.Release() // t1 evicts t0
	l1 := <-got
	if l1 != nil {
		l1.Release()
	}
	if _, err := stmtMarker(st); err == nil {
		t.Error("statement of an evicted handle still works; want it closed")
	}
	if !isClosed(c.Handles("t0")[0]) {
		t.Error("evicted handle is open")
	}
}
