package dbstrategy_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/tenantkit/tenantkit/dbstrategy"
)

// dropVersionTable removes goose's version table from the tenant's
// database behind the Manager's back, through a handle of its own, so that
// a version check that runs again sees the tenant at version 0.
func dropVersionTable(t *testing.T, c *counting, id string) {
	t.Helper()
	db, err := c.Strategy.Open(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(context.Background(), "DROP TABLE goose_db_version"); err != nil {
		t.Fatal(err)
	}
}

func TestPendingRefuse(t *testing.T) {
	ctx := context.Background()
	c := newCounting(t, 0)
	v1 := newManager(t, c, dbstrategy.WithMigrations(migrations(1)))
	if err := v1.Create(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	// The next release brings two migrations and refuses tenants behind.
	v3 := newManager(t, c, dbstrategy.WithMigrations(migrations(3)),
		dbstrategy.WithPendingMigrations(dbstrategy.PendingRefuse))
	for range 2 { // refused again: a refusal is not cached
		_, err := v3.Acquire(ctx, "acme")
		var behind *dbstrategy.SchemaBehindError
		if !errors.As(err, &behind) || !errors.Is(err, dbstrategy.ErrSchemaBehind) ||
			*behind != (dbstrategy.SchemaBehindError{TenantID: "acme", Have: 1, Want: 3}) {
			t.Fatalf("Acquire of a tenant behind = %v, want *SchemaBehindError{acme, 1, 3} matching ErrSchemaBehind", err)
		}
	}
	called := false
	err := v3.Do(ctx, "acme", func(context.Context, dbstrategy.DB) error { called = true; return nil })
	if !errors.Is(err, dbstrategy.ErrSchemaBehind) || called {
		t.Errorf("Do of a tenant behind = %v, fn called %v; want ErrSchemaBehind, not called", err, called)
	}
	if st := v3.Stats(); st.Leased != 0 {
		t.Errorf("Stats().Leased after refusals = %d, want 0", st.Leased)
	}
	// Another process migrates it: the open handle's next Acquire sees it.
	other := newManager(t, c, dbstrategy.WithMigrations(migrations(3)))
	if err := other.Migrate(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	l, err := v3.Acquire(ctx, "acme")
	if err != nil {
		t.Fatalf("Acquire after another process migrated = %v", err)
	}
	if _, err := l.DB().ExecContext(ctx, "INSERT INTO tags (name) VALUES ($1)", "x"); err != nil {
		t.Errorf("query on the migrated schema: %v", err)
	}
	l.Release()
	// The handle is known current now: no more checks while it is open,
	// even if the version table went away...
	dropVersionTable(t, c, "acme")
	l = acquire2(t, v3, "acme")
	l.Release()
	// ...until the handle closes and a new one opens.
	v3.Close()
	v3b := newManager(t, c, dbstrategy.WithMigrations(migrations(3)),
		dbstrategy.WithPendingMigrations(dbstrategy.PendingRefuse))
	var behind *dbstrategy.SchemaBehindError
	if _, err := v3b.Acquire(ctx, "acme"); !errors.As(err, &behind) || behind.Have != 0 {
		t.Errorf("Acquire on a new handle without version table = %v, want *SchemaBehindError at version 0", err)
	}
}

// TestPendingRefuseCreateMarks checks that tenants created, or migrated,
// by the Manager itself are not checked again on Acquire.
func TestPendingRefuseCreateMarks(t *testing.T) {
	ctx := context.Background()
	c := newCounting(t, 0)
	m := newManager(t, c, dbstrategy.WithMigrations(migrations(2)),
		dbstrategy.WithPendingMigrations(dbstrategy.PendingRefuse))
	for _, id := range []string{"created", "migrated"} {
		if err := m.Create(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Migrate(ctx, "migrated"); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"created", "migrated"} {
		dropVersionTable(t, c, id) // a check would now fail
		l, err := m.Acquire(ctx, id)
		if err != nil {
			t.Errorf("Acquire(%q) after the Manager migrated it = %v, want no check", id, err)
			continue
		}
		l.Release()
	}
}

func TestPendingMigrate(t *testing.T) {
	ctx := context.Background()
	c := newCounting(t, 0)
	v1 := newManager(t, c, dbstrategy.WithMigrations(migrations(1)))
	for _, id := range []string{"acme", "beta"} {
		if err := v1.Create(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	v3 := newManager(t, c, dbstrategy.WithMigrations(migrations(3)),
		dbstrategy.WithPendingMigrations(dbstrategy.PendingMigrate))
	var wg sync.WaitGroup
	for range 8 { // concurrent first Acquires: one migrates, the others wait
		wg.Go(func() {
			err := v3.Do(ctx, "acme", func(ctx context.Context, db dbstrategy.DB) error {
				var n int
				return db.QueryRowContext(ctx, "SELECT count(*) FROM tags").Scan(&n)
			})
			if err != nil {
				t.Errorf("Do on a tenant behind under PendingMigrate = %v", err)
			}
		})
	}
	wg.Wait()
	if st := v3.Stats(); st.Migrations != 1 || st.Leased != 0 {
		t.Errorf("Stats() = %d migrations, %d leased; want 1 (one Acquire migrated, the others found it current), 0", st.Migrations, st.Leased)
	}
	if v, err := v3.Version(ctx, "acme"); v != 3 || err != nil {
		t.Errorf("Version after Acquire = %d, %v; want 3, nil", v, err)
	}
	if v, err := v3.Version(ctx, "beta"); v != 1 || err != nil {
		t.Errorf("Version of a tenant nobody acquired = %d, %v; want 1, nil", v, err)
	}
}

func TestPendingMigrateFails(t *testing.T) {
	ctx := context.Background()
	c := newCounting(t, 0)
	v1 := newManager(t, c, dbstrategy.WithMigrations(migrations(1)))
	if err := v1.Create(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	broken := migrations(1)
	broken["sqlite3/00002_broken.sql"] = &fstest.MapFile{Data: []byte("-- +goose Up\nCREATE TABLEX nope;\n")}
	m := newManager(t, c, dbstrategy.WithMigrations(broken),
		dbstrategy.WithPendingMigrations(dbstrategy.PendingMigrate))
	for range 2 { // each Acquire tries again
		var merr *dbstrategy.MigrateError
		if _, err := m.Acquire(ctx, "acme"); !errors.As(err, &merr) || merr.TenantID != "acme" {
			t.Errorf("Acquire with a broken migration = %v, want a *MigrateError for acme", err)
		}
	}
	if st := m.Stats(); st.MigrationFailures != 2 || st.Leased != 0 {
		t.Errorf("Stats() = %d failures, %d leased; want 2, 0", st.MigrationFailures, st.Leased)
	}
	if _, err := m.Acquire(ctx, "ghost"); !errors.Is(err, dbstrategy.ErrNotFound) {
		t.Errorf("Acquire(ghost) = %v, want ErrNotFound", err)
	}
}

func TestPendingConfig(t *testing.T) {
	c := newCounting(t, 0)
	tests := []struct {
		name string
		opts []dbstrategy.Option
	}{
		{"refuse without migrations", []dbstrategy.Option{dbstrategy.WithPendingMigrations(dbstrategy.PendingRefuse)}},
		{"migrate without migrations", []dbstrategy.Option{dbstrategy.WithPendingMigrations(dbstrategy.PendingMigrate)}},
		{"unknown policy", []dbstrategy.Option{dbstrategy.WithMigrations(migrations(1)), dbstrategy.WithPendingMigrations(7)}},
	}
	for _, tt := range tests {
		if _, err := dbstrategy.NewManager(c, tt.opts...); !errors.Is(err, dbstrategy.ErrInvalidConfig) {
			t.Errorf("%s: NewManager() error = %v, want ErrInvalidConfig", tt.name, err)
		}
	}
	newManager(t, c, dbstrategy.WithPendingMigrations(dbstrategy.PendingIgnore)) // the default needs nothing
}

// TestPendingDropDoesNotDeadlock checks that an Acquire checking a
// tenant's schema and a Drop of that tenant do not wait for each other.
func TestPendingDropDoesNotDeadlock(t *testing.T) {
	ctx := context.Background()
	c := newCounting(t, 0)
	m := newManager(t, c, dbstrategy.WithMigrations(migrations(1)),
		dbstrategy.WithPendingMigrations(dbstrategy.PendingRefuse))
	for range 20 {
		if err := m.Create(ctx, "acme"); err != nil {
			t.Fatal(err)
		}
		m.Close() // a fresh Manager: its handle needs a check
		m = newManager(t, c, dbstrategy.WithMigrations(migrations(1)),
			dbstrategy.WithPendingMigrations(dbstrategy.PendingRefuse))
		var wg sync.WaitGroup
		wg.Go(func() {
			if l, err := m.Acquire(ctx, "acme"); err == nil {
				l.Release()
			} else if !errors.Is(err, dbstrategy.ErrNotFound) {
				t.Errorf("Acquire racing Drop = %v, want nil or ErrNotFound", err)
			}
		})
		if err := m.Drop(ctx, "acme"); err != nil {
			t.Errorf("Drop racing Acquire = %v", err)
		}
		wg.Wait()
	}
}
