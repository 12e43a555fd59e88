package dbstrategy_test

import (
	"context"
	"errors"
	"testing"

	"github.com/tenantkit/tenantkit/dbstrategy"
)

func TestDo(t *testing.T) {
	ctx := context.Background()
	m, _ := setup(t, 2)
	for _, id := range []string{"t0", "t1"} {
		if err := m.Do(ctx, id, func(ctx context.Context, db dbstrategy.DB) error {
			if st := m.Stats(); st.Leased != 1 {
				t.Errorf("Stats().Leased inside Do = %d, want 1", st.Leased)
			}
			return checkMarker(db, id)
		}); err != nil {
			t.Errorf("Do(%q) error = %v", id, err)
		}
	}
	if st := m.Stats(); st.Leased != 0 || st.Open != 2 {
		t.Errorf("Stats() after Do = %d leased, %d open; want 0, 2", st.Leased, st.Open)
	}
}

func TestDoErrors(t *testing.T) {
	ctx := context.Background()
	m, _ := setup(t, 1)
	errApp := errors.New("app error")
	if err := m.Do(ctx, "t0", func(context.Context, dbstrategy.DB) error { return errApp }); err != errApp {
		t.Errorf("Do with fn failing = %v, want fn's error as is", err)
	}
	tests := []struct {
		id   string
		want error
	}{
		{"ghost", dbstrategy.ErrNotFound},
		{"Bad", dbstrategy.ErrInvalidKey},
	}
	for _, tt := range tests {
		called := false
		err := m.Do(ctx, tt.id, func(context.Context, dbstrategy.DB) error { called = true; return nil })
		if !errors.Is(err, tt.want) || called {
			t.Errorf("Do(%q) = %v, fn called %v; want %v, fn not called", tt.id, err, called, tt.want)
		}
	}
	// A db kept beyond fn refuses work.
	var kept dbstrategy.DB
	if err := m.Do(ctx, "t0", func(_ context.Context, db dbstrategy.DB) error { kept = db; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := kept.ExecContext(ctx, "SELECT 1"); !errors.Is(err, dbstrategy.ErrReleased) {
		t.Errorf("db used after Do returned: error = %v, want ErrReleased", err)
	}
	if st := m.Stats(); st.Leased != 0 {
		t.Errorf("Stats().Leased after failed Do = %d, want 0", st.Leased)
	}
}

// TestDoPanic checks that a panic in fn releases the lease, then goes on
// with the same value.
func TestDoPanic(t *testing.T) {
	m, _ := setup(t, 1)
	type boom struct{ n int }
	var kept dbstrategy.DB
	got := func() (p any) {
		defer func() { p = recover() }()
		_ = m.Do(context.Background(), "t0", func(_ context.Context, db dbstrategy.DB) error {
			kept = db
			panic(boom{42})
		})
		return nil
	}()
	if got != (boom{42}) {
		t.Errorf("recovered %v, want fn's panic value boom{42}", got)
	}
	if st := m.Stats(); st.Leased != 0 {
		t.Errorf("Stats().Leased after a panic in Do = %d, want 0", st.Leased)
	}
	var name string
	if err := kept.QueryRowContext(context.Background(), "SELECT name FROM marker").Scan(&name); !errors.Is(err, dbstrategy.ErrReleased) {
		t.Errorf("db of a panicked Do: %v, want ErrReleased", err)
	}
}
