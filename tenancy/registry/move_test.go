package registry_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tenantkit/tenantkit/tenancy"
	"github.com/tenantkit/tenantkit/tenancy/registry"
)

// callMover records the calls of a move; the move tests on PostgreSQL
// (move_pg_test.go) run placement's Mover.
type callMover struct {
	mu    sync.Mutex
	calls []string
}

func (m *callMover) call(format string, args ...any) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls = append(m.calls, fmt.Sprintf(format, args...))
	return nil
}

func (m *callMover) log() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := strings.Join(m.calls, ", ")
	m.calls = nil
	return out
}

func (m *callMover) Create(_ context.Context, s, id string) error { return m.call("create %s", s) }
func (m *callMover) Copy(_ context.Context, f, t, id string) error {
	return m.call("copy %s→%s", f, t)
}
func (m *callMover) Pause(_ context.Context, s, id string) error  { return m.call("pause %s", s) }
func (m *callMover) Resume(_ context.Context, s, id string) error { return m.call("resume %s", s) }
func (m *callMover) Evict(_ context.Context, id string) error     { return m.call("evict") }
func (m *callMover) Drop(_ context.Context, s, id string) error   { return m.call("drop %s", s) }

func TestMoveGuards(t *testing.T) {
	ctx := context.Background()
	store := newMemory(t)
	mover := &callMover{}
	reg, err := registry.New(store, noDatabases{}, registry.WithMover(mover), registry.WithSwitchGrace(0))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Create(ctx, registry.Record{ID: "1", Server: "a"}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Insert(ctx, registry.Record{ID: "2", Status: tenancy.StatusProvisioning, Server: "a"}); err != nil {
		t.Fatal(err)
	}
	bare, _ := registry.New(store, noDatabases{})
	if _, err := bare.Move(ctx, "1", "b"); !errors.Is(err, registry.ErrInvalidConfig) {
		t.Errorf("Move() without a Mover = %v; want ErrInvalidConfig", err)
	}
	if err := bare.Drain(ctx, "a", func(context.Context, string) (string, error) { return "b", nil }, registry.DrainOptions{}); !errors.Is(err, registry.ErrInvalidConfig) {
		t.Errorf("Drain() without a Mover = %v; want ErrInvalidConfig", err)
	}
	if _, err := reg.Move(ctx, "2", "b"); !errors.Is(err, registry.ErrWrongStatus) {
		t.Errorf("Move(provisioning) = %v; want ErrWrongStatus", err)
	}
	if _, err := reg.Move(ctx, "3", "b"); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("Move(missing) = %v; want ErrNotFound", err)
	}
	if rec, err := reg.Move(ctx, "1", "a"); err != nil || rec.Server != "a" || mover.log() != "" {
		t.Errorf("Move(to its own server) = %+v, %v; want it as it is, nothing done", rec, err)
	}

	// A move this process left switched (its drop failed) is its own
	// until it times out: another Move is ErrMoving, Reconcile leaves it.
	mv := registry.Move{From: "a", To: "b", Phase: registry.MoveCopying, Until: time.Now().Add(time.Hour)}
	if _, err := store.SetMove(ctx, "1", registry.Move{}, mv); err != nil {
		t.Fatal(err)
	}
	if _, err := store.SwitchServer(ctx, "1", mv); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Move(ctx, "1", "c"); !errors.Is(err, registry.ErrMoving) {
		t.Errorf("Move() during another's move = %v; want ErrMoving", err)
	}
	if err := reg.Reconcile(ctx); err != nil || mover.log() != "" {
		t.Errorf("Reconcile() during another's move = %v; want nothing done", err)
	}
	// Deleting it drops both copies.
	if err := reg.Delete(ctx, "1"); err != nil {
		t.Fatal(err)
	}
	if got, want := mover.log(), "drop a"; got != want {
		t.Errorf("Delete() of a moving tenant: mover calls %q; want %q (then the Provisioner drops it on b)", got, want)
	}

	// After the timeout, a Move to elsewhere settles the old move first.
	if _, err := reg.Create(ctx, registry.Record{ID: "4", Server: "a"}); err != nil {
		t.Fatal(err)
	}
	mv.Until = time.Now().Add(-time.Minute)
	if _, err := store.SetMove(ctx, "4", registry.Move{}, mv); err != nil {
		t.Fatal(err)
	}
	out, err := reg.Move(ctx, "4", "c")
	if err != nil || out.Server != "c" {
		t.Fatalf("Move() after the timeout = %+v, %v; want on c", out, err)
	}
	want := "resume a, drop b, create c, copy a→c, pause a, copy a→c, evict, drop a"
	if got := mover.log(); got != want {
		t.Errorf("mover calls = %q; want %q", got, want)
	}
}
