package sqlitestrategy_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/tenantkit/tenantkit/dbstrategy"
	"github.com/tenantkit/tenantkit/dbstrategy/sqlitestrategy"
)

// TestMigrationLockAcrossManagers has two Managers over one folder, as two
// processes on one machine, create and migrate the same tenants at once:
// each tenant's migrations run once, in turn, and neither Manager fails
// with "table already exists"; no lock file is left.
func TestMigrationLockAcrossManagers(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	migrations := fstest.MapFS{
		"sqlite3/00001_notes.sql": {Data: []byte("-- +goose Up\nCREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);\n")},
		"sqlite3/00002_tags.sql":  {Data: []byte("-- +goose Up\nCREATE TABLE tags (id INTEGER PRIMARY KEY, name TEXT NOT NULL);\n")},
	}
	var ms []*dbstrategy.Manager
	var strategies []*sqlitestrategy.Strategy
	for range 2 {
		s, err := sqlitestrategy.New(sqlitestrategy.Config{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		m, err := dbstrategy.NewManager(s, dbstrategy.WithMigrations(migrations))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		ms = append(ms, m)
		strategies = append(strategies, s)
	}
	for i := range 8 {
		id := fmt.Sprintf("t%d", i)
		var wg sync.WaitGroup
		errs := make([]error, len(ms))
		for j, m := range ms {
			wg.Go(func() { errs[j] = m.Create(ctx, id) })
		}
		wg.Wait()
		for j, err := range errs {
			if err != nil {
				t.Fatalf("tenant %s: Manager %d: Create: %v", id, j, err)
			}
		}
		for j, m := range ms {
			if v, err := m.Version(ctx, id); err != nil || v != 2 {
				t.Errorf("tenant %s: Manager %d: Version = %d, %v; want 2", id, j, v, err)
			}
		}
	}
	// The lock files go when the migrations end: nothing but the
	// databases (and their -wal, -shm) is left in the folder.
	for i := range 8 {
		path, err := strategies[0].Path(fmt.Sprintf("t%d", i))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(path + "-migrate-lock"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("lock file of t%d after the migrations: %v; want it gone", i, err)
		}
	}
}
