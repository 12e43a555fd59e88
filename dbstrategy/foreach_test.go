package dbstrategy_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/tenantkit/tenantkit/dbstrategy"
)

type tenantKey struct{}

func TestForEach(t *testing.T) {
	const n, parallel = 10, 3
	m, _ := setup(t, n, dbstrategy.WithMaxOpen(4))
	ids := make([]string, n)
	for i := range ids {
		ids[i] = tenant(i)
	}
	var running, most atomic.Int32
	var reported []string
	err := m.ForEach(context.Background(), slices.Values(ids), dbstrategy.ForEachOptions{
		Parallel: parallel,
		Context: func(ctx context.Context, id string) context.Context {
			return context.WithValue(ctx, tenantKey{}, id)
		},
		Progress: func(id string, err error) {
			if err != nil {
				t.Errorf("Progress(%q, %v), want no error", id, err)
			}
			reported = append(reported, id) // calls never overlap
		},
	}, func(ctx context.Context, id string, db dbstrategy.DB) error {
		now := running.Add(1)
		defer running.Add(-1)
		for {
			if old := most.Load(); now <= old || most.CompareAndSwap(old, now) {
				break
			}
		}
		if got := ctx.Value(tenantKey{}); got != id {
			t.Errorf("tenant in fn's context = %v, want %q", got, id)
		}
		return checkMarker(db, id)
	})
	if err != nil {
		t.Errorf("ForEach() = %v, want nil", err)
	}
	if most.Load() > parallel {
		t.Errorf("ForEach ran %d tenants at once, want at most %d", most.Load(), parallel)
	}
	slices.Sort(reported)
	if want := slices.Sorted(slices.Values(ids)); !slices.Equal(reported, want) {
		t.Errorf("Progress reported %v, want each tenant once: %v", reported, want)
	}
	if st := m.Stats(); st.Leased != 0 {
		t.Errorf("Stats().Leased after ForEach = %d, want 0", st.Leased)
	}
}

func TestForEachErrors(t *testing.T) {
	m, _ := setup(t, 3)
	errApp := errors.New("app error")
	ids := []string{"t0", "ghost", "t1", "Bad", "t2"}
	progress := map[string]error{}
	err := m.ForEach(context.Background(), slices.Values(ids), dbstrategy.ForEachOptions{
		Progress: func(id string, err error) { progress[id] = err },
	}, func(ctx context.Context, id string, db dbstrategy.DB) error {
		if id == "t1" {
			return errApp
		}
		return nil
	})
	want := map[string]error{"t0": nil, "ghost": dbstrategy.ErrNotFound, "t1": errApp, "Bad": dbstrategy.ErrInvalidKey, "t2": nil}
	for id, w := range want {
		got, ok := progress[id]
		if !ok || !errors.Is(got, w) || (w == nil) != (got == nil) {
			t.Errorf("Progress for %q = %v (reported %v), want %v", id, got, ok, w)
		}
	}
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("ForEach() = %v, want errors joined", err)
	}
	var failed []string
	for _, e := range joined.Unwrap() {
		var te *dbstrategy.TenantError
		if !errors.As(e, &te) || !errors.Is(e, want[te.TenantID]) {
			t.Errorf("joined error %v, want a *TenantError wrapping its tenant's error", e)
			continue
		}
		failed = append(failed, te.TenantID)
	}
	slices.Sort(failed)
	if !slices.Equal(failed, []string{"Bad", "ghost", "t1"}) {
		t.Errorf("ForEach failed tenants = %v, want [Bad ghost t1]", failed)
	}
	if !errors.Is(err, errApp) || !errors.Is(err, dbstrategy.ErrNotFound) {
		t.Errorf("ForEach() = %v, want errors.Is for each tenant's error", err)
	}
}

// TestForEachCancel checks that once ctx ends, ForEach starts no more
// tenants, pulls no more IDs, and returns ctx's error.
func TestForEachCancel(t *testing.T) {
	m, _ := setup(t, 3)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pulled := 0
	ids := func(yield func(string) bool) {
		for i := range 100 {
			pulled++
			if !yield(tenant(i % 3)) {
				return
			}
		}
	}
	var started []string
	var reported int
	err := m.ForEach(ctx, ids, dbstrategy.ForEachOptions{
		Parallel: 1,
		Progress: func(string, error) { reported++ },
	}, func(ctx context.Context, id string, db dbstrategy.DB) error {
		started = append(started, id) // Parallel 1: one at a time
		if len(started) == 3 {
			cancel()
			return ctx.Err() // work that notices the end
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("ForEach() after cancel = %v, want context.Canceled", err)
	}
	var te *dbstrategy.TenantError
	if !errors.As(err, &te) || te.TenantID != "t2" {
		t.Errorf("ForEach() = %v, want the interrupted tenant t2's error joined too", err)
	}
	if len(started) != 3 || reported != 3 || pulled != 4 {
		t.Errorf("after cancel: %d started, %d reported, %d pulled; want 3, 3, 4 (the 4th pulled is not started)", len(started), reported, pulled)
	}
	// A ctx ended before the start starts nothing.
	started = nil
	err = m.ForEach(ctx, ids, dbstrategy.ForEachOptions{}, func(context.Context, string, dbstrategy.DB) error {
		started = append(started, "x")
		return nil
	})
	if err != context.Canceled || len(started) != 0 {
		t.Errorf("ForEach(ended ctx) = %v, %d started; want context.Canceled alone, 0", err, len(started))
	}
}

func TestForEachPanic(t *testing.T) {
	m, _ := setup(t, 3)
	var mu sync.Mutex
	var started []string
	got := func() (p any) {
		defer func() { p = recover() }()
		_ = m.ForEach(context.Background(), slices.Values([]string{"t0", "t1", "t2", "t0", "t1", "t2"}),
			dbstrategy.ForEachOptions{Parallel: 1},
			func(ctx context.Context, id string, db dbstrategy.DB) error {
				mu.Lock()
				started = append(started, id)
				mu.Unlock()
				if id == "t1" {
					panic("boom")
				}
				return nil
			})
		return nil
	}()
	if got != "boom" {
		t.Errorf("ForEach recovered %v, want fn's panic value boom", got)
	}
	if !slices.Equal(started, []string{"t0", "t1"}) {
		t.Errorf("ForEach started %v after a panic, want [t0 t1]: no tenant after it", started)
	}
	if st := m.Stats(); st.Leased != 0 {
		t.Errorf("Stats().Leased after a panic = %d, want 0", st.Leased)
	}
}

func TestForEachConfig(t *testing.T) {
	m, _ := setup(t, 1)
	ids := slices.Values([]string{"t0"})
	noop := func(context.Context, string, dbstrategy.DB) error { return nil }
	if err := m.ForEach(context.Background(), ids, dbstrategy.ForEachOptions{Parallel: -1}, noop); !errors.Is(err, dbstrategy.ErrInvalidConfig) {
		t.Errorf("ForEach(Parallel: -1) = %v, want ErrInvalidConfig", err)
	}
	if err := m.ForEach(context.Background(), ids, dbstrategy.ForEachOptions{}, nil); !errors.Is(err, dbstrategy.ErrInvalidConfig) {
		t.Errorf("ForEach(nil fn) = %v, want ErrInvalidConfig", err)
	}
}
