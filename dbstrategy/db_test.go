package dbstrategy_test

import (
	"context"
	"errors"
	"testing"

	"github.com/tenantkit/tenantkit/dbstrategy"
)

// TestDBAfterRelease checks that every method of a lease's DB, and Stmt,
// fail with ErrReleased once the lease is released, also when the DB was
// taken before the release, while a later lease of the same tenant works.
func TestDBAfterRelease(t *testing.T) {
	m, _ := setup(t, 1)
	ctx := context.Background()
	l := acquire(t, m, "t0")
	db := l.DB()
	l.Release()
	l.Release() // again: nothing
	const q = "SELECT name FROM marker"
	tests := []struct {
		name string
		err  func() error
	}{
		{"ExecContext", func() error { _, err := db.ExecContext(ctx, q); return err }},
		{"QueryContext", func() error { _, err := db.QueryContext(ctx, q); return err }},
		{"QueryRowContext", func() error { var s string; return db.QueryRowContext(ctx, q).Scan(&s) }},
		{"PrepareContext", func() error { _, err := db.PrepareContext(ctx, q); return err }},
		{"BeginTx", func() error { _, err := db.BeginTx(ctx, nil); return err }},
		{"Lease.DB().ExecContext", func() error { _, err := l.DB().ExecContext(ctx, q); return err }},
		{"Lease.Stmt", func() error { _, err := l.Stmt(ctx, q); return err }},
	}
	for _, tt := range tests {
		if err := tt.err(); !errors.Is(err, dbstrategy.ErrReleased) {
			t.Errorf("%s after Release: error = %v, want ErrReleased", tt.name, err)
		}
	}
	l2 := acquire(t, m, "t0")
	defer l2.Release()
	if err := checkMarker(l2.DB(), "t0"); err != nil {
		t.Errorf("a new lease after a late use: %v", err)
	}
}

// TestLeaseDBMethods runs each method of a live lease's DB.
func TestLeaseDBMethods(t *testing.T) {
	m, _ := setup(t, 1)
	ctx := context.Background()
	l := acquire(t, m, "t0")
	defer l.Release()
	db := l.DB()
	if _, err := db.ExecContext(ctx, "CREATE TABLE kv (k TEXT)"); err != nil {
		t.Fatal(err)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO kv VALUES ($1)", "a"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	st, err := db.PrepareContext(ctx, "SELECT k FROM kv")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rows, err := db.QueryContext(ctx, "SELECT k FROM kv")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for rows.Next() {
		n++
	}
	if err := rows.Err(); err != nil || n != 1 {
		t.Errorf("rows = %d, %v; want 1, nil", n, err)
	}
	if l.Handle() == nil {
		t.Errorf("Handle() = nil on a strategy with a handle per tenant")
	}
}
