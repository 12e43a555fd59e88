package sqlitestrategy

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// TestIsBusy checks that isBusy recognizes a real SQLITE_BUSY by its code,
// and nothing else, whatever the message says.
func TestIsBusy(t *testing.T) {
	s, err := New(Config{Dir: t.TempDir(), BusyTimeout: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Create(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	a, err := s.Open(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := s.Open(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	tx, err := a.BeginTx(ctx, nil) // BEGIN IMMEDIATE: holds the write lock
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	_, err = b.ExecContext(ctx, "CREATE TABLE t (x)")
	if err == nil {
		t.Fatal("a second writer got the write lock")
	}
	if !isBusy(err) || !isBusy(fmt.Errorf("wrapped: %w", err)) {
		t.Errorf("isBusy(%v) = false; want true", err)
	}
	if isBusy(errors.New("database is locked")) {
		t.Error(`isBusy(errors.New("database is locked")) = true; want false: match the code, not the message`)
	}
}
