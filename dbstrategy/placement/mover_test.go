package placement_test

import (
	"context"
	"errors"
	"testing"
	"testing/fstest"

	"github.com/tenantkit/tenantkit/dbstrategy"
	"github.com/tenantkit/tenantkit/dbstrategy/placement"
)

func noEvict(context.Context, string) error { return nil }

// The Mover's checks, and Create and Drop on named servers (on SQLite
// folders: Copy, Pause and Resume need PostgreSQL, and run in the move
// tests of package tenancy/registry).
func TestMover(t *testing.T) {
	servers := sqliteServers(t, "a", "b")
	r, err := placement.New(servers, byHash("a", "b"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := placement.NewMover(nil, noEvict); !errors.Is(err, dbstrategy.ErrInvalidConfig) {
		t.Errorf("NewMover(nil Router) = %v; want ErrInvalidConfig", err)
	}
	if _, err := placement.NewMover(r, nil); !errors.Is(err, dbstrategy.ErrInvalidConfig) {
		t.Errorf("NewMover(nil evict) = %v; want ErrInvalidConfig", err)
	}
	if _, err := placement.NewMover(r, noEvict, dbstrategy.WithMaxOpen(0)); !errors.Is(err, dbstrategy.ErrInvalidConfig) {
		t.Errorf("NewMover(bad option) = %v; want ErrInvalidConfig", err)
	}
	evicted := ""
	m, err := placement.NewMover(r, func(_ context.Context, id string) error { evicted = id; return nil },
		dbstrategy.WithMigrations(fstest.MapFS{"sqlite3/00001_notes.sql": {Data: []byte("-- +goose Up\nCREATE TABLE notes (id INTEGER PRIMARY KEY);\n")}}))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for name, err := range map[string]error{
		"Create": m.Create(ctx, "c", "t1"),
		"Copy":   m.Copy(ctx, "a", "c", "t1"),
		"Pause":  m.Pause(ctx, "c", "t1"),
		"Resume": m.Resume(ctx, "c", "t1"),
	} {
		if !errors.Is(err, placement.ErrUnknownServer) {
			t.Errorf("%s(unknown server) = %v; want ErrUnknownServer", name, err)
		}
	}
	if err := m.Drop(ctx, "c", "t1"); err != nil {
		t.Errorf("Drop(unknown server) = %v; want nil: nothing there to drop", err)
	}
	for range 2 { // idempotent
		if err := m.Create(ctx, "b", "t1"); err != nil {
			t.Fatalf("Create(b) = %v", err)
		}
	}
	if !exists(t, servers["b"], "t1") || exists(t, servers["a"], "t1") {
		t.Errorf("after Create on b: want t1 on b only")
	}
	db, err := servers["b"].Open(ctx, "t1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "INSERT INTO notes (id) VALUES (1)"); err != nil {
		t.Errorf("the tenant made by Create is not migrated: %v", err)
	}
	db.Close()
	if err := m.Evict(ctx, "t1"); err != nil || evicted != "t1" {
		t.Errorf("Evict() = %v, evicted %q; want the function given to NewMover called", err, evicted)
	}
	for range 2 {
		if err := m.Drop(ctx, "b", "t1"); err != nil {
			t.Fatalf("Drop(b) = %v", err)
		}
	}
	if exists(t, servers["b"], "t1") {
		t.Errorf("t1 on b after Drop")
	}
	if err := m.Drop(ctx, "b", "Bad Key"); !errors.Is(err, dbstrategy.ErrInvalidKey) {
		t.Errorf("Drop(bad key) = %v; want ErrInvalidKey", err)
	}
}
