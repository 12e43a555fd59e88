package registry_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tenantkit/tenantkit/dbstrategy"
	"github.com/tenantkit/tenantkit/dbstrategy/sqlitestrategy"
	"github.com/tenantkit/tenantkit/tenancy"
	"github.com/tenantkit/tenantkit/tenancy/registry"
)

func TestMigrateAll(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store := newMemory(t)
	v1 := newManager(t, dir, tenantMigrations(1))
	reg, err := registry.New(store, v1)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "b", "c", "gone"} {
		if _, err := reg.Create(ctx, registry.Record{ID: id}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := reg.Suspend(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	insert(t, store, "p", "", tenancy.StatusProvisioning) // left to provisioning
	if err := v1.Close(); err != nil {
		t.Fatal(err)
	}
	// "gone"'s database vanished behind the registry's back.
	if err := os.Remove(filepath.Join(dir, sqlitestrategy.DefaultPrefix+"gone.db")); err != nil {
		t.Fatal(err)
	}

	v2 := newManager(t, dir, tenantMigrations(2))
	var mu sync.Mutex
	var progressed []string
	err = registry.MigrateAll(ctx, store, v2, registry.MigrateOptions{
		Parallel: 2,
		Progress: func(rec registry.Record, version int64, err error) {
			mu.Lock()
			progressed = append(progressed, rec.ID)
			mu.Unlock()
		},
	})
	var merr *dbstrategy.MigrateError
	if !errors.As(err, &merr) || merr.TenantID != "gone" || !strings.Contains(err.Error(), `"gone"`) {
		t.Fatalf("MigrateAll() error = %v; want one *MigrateError for gone", err)
	}
	slices.Sort(progressed)
	if got := strings.Join(progressed, " "); got != "a b c gone" {
		t.Errorf("Progress saw %q; want the active and suspended tenants", got)
	}
	for id, want := range map[string]int64{"a": 2, "b": 2, "c": 2, "gone": 1, "p": 0} {
		rec, _ := store.Get(ctx, id)
		if rec.Version != want || (rec.MigrationError != "") != (id == "gone") {
			t.Errorf("%s: recorded version %d, error %q; want %d, failed %v", id, rec.Version, rec.MigrationError, want, id == "gone")
		}
	}

	// With Target, only the tenants not known to be current are migrated.
	progressed = nil
	err = registry.MigrateAll(ctx, store, v2, registry.MigrateOptions{
		Target:   2,
		Progress: func(rec registry.Record, version int64, err error) { progressed = append(progressed, rec.ID) },
	})
	if err == nil || len(progressed) != 1 || progressed[0] != "gone" {
		t.Errorf("MigrateAll(Target 2) = %v, migrated %v; want only gone, failing again", err, progressed)
	}
	reg2, err := registry.New(store, v2)
	if err != nil {
		t.Fatal(err)
	}
	if err := reg2.Delete(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if err := registry.MigrateAll(ctx, store, v2, registry.MigrateOptions{Target: 2}); err != nil {
		t.Errorf("MigrateAll() with every tenant current = %v", err)
	}
}

func TestIDsForEach(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	var want []string
	for i := range 7 {
		id := string(rune('a' + i))
		if _, err := f.reg.Create(ctx, registry.Record{ID: id}); err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 {
			if _, err := f.reg.Suspend(ctx, id); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want = append(want, id)
	}
	ids, idsErr := registry.IDs(ctx, f.store, tenancy.StatusActive)
	var mu sync.Mutex
	var got []string
	err := f.dbs.ForEach(ctx, ids, dbstrategy.ForEachOptions{}, func(ctx context.Context, id string, db dbstrategy.DB) error {
		_, err := db.ExecContext(ctx, `INSERT INTO notes (body) VALUES ('hi')`)
		mu.Lock()
		got = append(got, id)
		mu.Unlock()
		return err
	})
	if err = errors.Join(err, idsErr()); err != nil {
		t.Fatalf("ForEach() error = %v", err)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("ForEach visited %v; want the active tenants %v", got, want)
	}

	// A listing error ends the sequence and is reported.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	ids, idsErr = registry.IDs(cctx, f.store)
	n := 0
	for range ids {
		n++
	}
	if n != 0 || !errors.Is(idsErr(), context.Canceled) {
		t.Errorf("IDs(canceled) yielded %d, error %v; want 0, context.Canceled", n, idsErr())
	}
}
