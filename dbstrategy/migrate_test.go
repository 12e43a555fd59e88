package dbstrategy_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/tenantkit/tenantkit/dbstrategy"
	"github.com/tenantkit/tenantkit/dbstrategy/sqlitestrategy"
)

var migrationSQL = []string{
	`-- +goose Up
CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);
-- +goose Down
DROP TABLE notes;
`,
	`-- +goose Up
ALTER TABLE notes ADD COLUMN tag TEXT;
-- +goose Down
ALTER TABLE notes DROP COLUMN tag;
`,
	`-- +goose Up
CREATE TABLE tags (name TEXT PRIMARY KEY);
-- +goose Down
DROP TABLE tags;
`,
}

// migrations returns the first n migrations for both dialects.
func migrations(n int) fstest.MapFS {
	fsys := fstest.MapFS{}
	for _, dir := range []string{"sqlite3", "postgres"} {
		for i := range n {
			fsys[fmt.Sprintf("%s/%05d_m%d.sql", dir, i+1, i+1)] = &fstest.MapFile{Data: []byte(migrationSQL[i])}
		}
	}
	return fsys
}

func onlyPostgres() fstest.MapFS {
	return fstest.MapFS{"postgres/00001_a.sql": &fstest.MapFile{Data: []byte(migrationSQL[0])}}
}

func withGoMigration() fstest.MapFS {
	fsys := migrations(1)
	fsys["sqlite3/00002_code.go"] = &fstest.MapFile{Data: []byte("package migrations\n")}
	return fsys
}

func emptyDialectDir() fstest.MapFS {
	return fstest.MapFS{"sqlite3/README.md": &fstest.MapFile{Data: []byte("nothing here")}}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestMigrateAndVersion(t *testing.T) {
	ctx := context.Background()
	c := newCounting(t, 0)
	m1 := newManager(t, c, dbstrategy.WithMigrations(migrations(1)))
	if err := m1.Create(ctx, "acme"); err != nil {
		t.Fatalf("Create error = %v", err)
	}
	if v, err := m1.Version(ctx, "acme"); v != 1 || err != nil {
		t.Errorf("Version = %d, %v; want 1, nil", v, err)
	}
	// A later release of the app brings two more migrations: Migrate
	// resumes from where the tenant is.
	m2 := newManager(t, c, dbstrategy.WithMigrations(migrations(3)))
	if v, err := m2.Version(ctx, "acme"); v != 1 || err != nil {
		t.Errorf("Version before Migrate = %d, %v; want 1, nil", v, err)
	}
	var wg sync.WaitGroup
	for range 8 { // concurrent Migrates of one tenant serialize
		wg.Go(func() {
			if err := m2.Migrate(ctx, "acme"); err != nil {
				t.Errorf("Migrate error = %v", err)
			}
		})
	}
	wg.Wait()
	if v, err := m2.Version(ctx, "acme"); v != 3 || err != nil {
		t.Errorf("Version after Migrate = %d, %v; want 3, nil", v, err)
	}
	l := acquire2(t, m2, "acme")
	if _, err := l.DB().ExecContext(ctx, "INSERT INTO notes (id, body, tag) VALUES ($1, $2, $3)", 1, "b", "t"); err != nil {
		t.Errorf("insert into migrated schema: %v", err)
	}
	l.Release()
	if st := m2.Stats(); st.Leased != 0 {
		t.Errorf("Stats().Leased after migrations = %d, want 0", st.Leased)
	}
}

func acquire2(t *testing.T, m *dbstrategy.Manager, id string) *dbstrategy.Lease {
	t.Helper()
	l, err := m.Acquire(context.Background(), id)
	if err != nil {
		t.Fatalf("Acquire(%q) error = %v", id, err)
	}
	return l
}

func TestMigrateErrors(t *testing.T) {
	ctx := context.Background()
	c := newCounting(t, 1)
	broken := migrations(1)
	broken["sqlite3/00002_broken.sql"] = &fstest.MapFile{Data: []byte("-- +goose Up\nCREATE TABLEX nope;\n")}
	m := newManager(t, c, dbstrategy.WithMigrations(broken))

	var merr *dbstrategy.MigrateError
	err := m.Migrate(ctx, "t0")
	if !errors.As(err, &merr) || merr.TenantID != "t0" {
		t.Fatalf("Migrate with a broken migration error = %v, want a *MigrateError for t0", err)
	}
	var perr *goose.PartialError
	if !errors.As(err, &perr) || len(perr.Applied) != 1 {
		t.Errorf("Migrate error = %v, want a *goose.PartialError with 1 applied", err)
	}
	if v, err := m.Version(ctx, "t0"); v != 1 || err != nil {
		t.Errorf("Version after partial migration = %d, %v; want 1, nil", v, err)
	}
	// Create of a new tenant reports the failure, too.
	if err := m.Create(ctx, "t1"); !errors.As(err, &merr) || merr.TenantID != "t1" {
		t.Errorf("Create with a broken migration error = %v, want a *MigrateError for t1", err)
	}
	// A missing tenant.
	if err := m.Migrate(ctx, "ghost"); !errors.As(err, &merr) || !errors.Is(err, dbstrategy.ErrNotFound) {
		t.Errorf("Migrate(ghost) error = %v, want a *MigrateError wrapping ErrNotFound", err)
	}
	if _, err := m.Version(ctx, "ghost"); !errors.Is(err, dbstrategy.ErrNotFound) {
		t.Errorf("Version(ghost) error = %v, want ErrNotFound", err)
	}
	if st := m.Stats(); st.Leased != 0 {
		t.Errorf("Stats().Leased = %d, want 0", st.Leased)
	}
}

func TestWithoutMigrations(t *testing.T) {
	ctx := context.Background()
	m, _ := setup(t, 1)
	if err := m.Migrate(ctx, "t0"); err != nil {
		t.Errorf("Migrate without migrations error = %v, want nil", err)
	}
	if _, err := m.Version(ctx, "t0"); !errors.Is(err, dbstrategy.ErrNoMigrations) {
		t.Errorf("Version without migrations error = %v, want ErrNoMigrations", err)
	}
	if err := m.Create(ctx, "fresh"); err != nil {
		t.Fatalf("Create error = %v", err)
	}
	l := acquire2(t, m, "fresh")
	var n int
	if err := l.DB().QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema").Scan(&n); err != nil || n != 0 {
		t.Errorf("tables in a tenant created without migrations = %d, %v; want 0", n, err)
	}
	l.Release()
}

func TestMigrateAll(t *testing.T) {
	ctx := context.Background()
	c := newCounting(t, 5)
	m := newManager(t, c, dbstrategy.WithMigrations(migrations(2)), dbstrategy.WithMaxOpen(2))
	ids := []string{"t0", "t1", "ghost", "t2", "t3", "t4", "Bad"}
	var reported []string
	versions := map[string]int64{}
	errs := m.MigrateAll(ctx, ids, dbstrategy.MigrateAllOptions{Parallel: 3, Progress: func(id string, v int64, err error) {
		reported = append(reported, id)
		versions[id] = v
	}})
	if len(errs) != len(ids) {
		t.Fatalf("MigrateAll returned %d errors, want %d", len(errs), len(ids))
	}
	if st := m.Stats(); st.Migrations != 5 || st.MigrationFailures != 1 {
		t.Errorf("Stats() migrations = %d ok, %d failed; want 5 ok (t0..t4), 1 failed (ghost; Bad never starts)", st.Migrations, st.MigrationFailures)
	}
	slices.Sort(reported)
	if want := slices.Sorted(slices.Values(ids)); !slices.Equal(reported, want) {
		t.Errorf("progress reported %v, want each tenant once: %v", reported, want)
	}
	for i, id := range ids {
		var want error
		switch id {
		case "ghost":
			want = dbstrategy.ErrNotFound
		case "Bad":
			want = dbstrategy.ErrInvalidKey
		}
		if !errors.Is(errs[i], want) || (want == nil) != (errs[i] == nil) {
			t.Errorf("MigrateAll error for %q = %v, want %v", id, errs[i], want)
		}
		if want == nil {
			if versions[id] != 2 {
				t.Errorf("MigrateAll reported %q at version %d; want 2", id, versions[id])
			}
			if v, err := m.Version(ctx, id); v != 2 || err != nil {
				t.Errorf("Version(%q) = %d, %v; want 2, nil", id, v, err)
			}
		}
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	for i, err := range m.MigrateAll(cancelled, ids[:2], dbstrategy.MigrateAllOptions{Parallel: 1}) {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("MigrateAll with a cancelled context, error %d = %v, want context.Canceled", i, err)
		}
	}
	if errs := m.MigrateAll(ctx, nil, dbstrategy.MigrateAllOptions{}); len(errs) != 0 {
		t.Errorf("MigrateAll(nil) = %v, want none", errs)
	}
	for i, err := range m.MigrateAll(ctx, ids[:2], dbstrategy.MigrateAllOptions{Parallel: -1}) {
		if !errors.Is(err, dbstrategy.ErrInvalidConfig) {
			t.Errorf("MigrateAll with Parallel -1, error %d = %v, want ErrInvalidConfig", i, err)
		}
	}
}

// templating wraps the SQLite strategy as a Templater: its template is a
// tenant named "template"; the first PrepareTemplate fails.
type templating struct {
	*sqlitestrategy.Strategy
	mu       sync.Mutex
	prepares int
}

func (s *templating) PrepareTemplate(ctx context.Context, migrate func(context.Context, *sql.DB) error) error {
	s.mu.Lock()
	s.prepares++
	n := s.prepares
	s.mu.Unlock()
	if n == 1 {
		return errors.New("template server unreachable")
	}
	if err := s.Create(ctx, "template"); err != nil {
		return err
	}
	db, err := s.Open(ctx, "template")
	if err != nil {
		return err
	}
	defer db.Close()
	return migrate(ctx, db)
}

func (s *templating) Prepares() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.prepares
}

func TestTemplater(t *testing.T) {
	ctx := context.Background()
	s, err := sqlitestrategy.New(sqlitestrategy.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ts := &templating{Strategy: s}
	// Without migrations, the template is never prepared.
	plain := newManager(t, ts)
	if err := plain.Create(ctx, "plain"); err != nil {
		t.Fatalf("Create without migrations error = %v", err)
	}
	if ts.Prepares() != 0 {
		t.Errorf("PrepareTemplate calls without migrations = %d, want 0", ts.Prepares())
	}

	m := newManager(t, ts, dbstrategy.WithMigrations(migrations(2)))
	if err := m.Create(ctx, "a"); err == nil {
		t.Fatalf("Create with a failing template error = nil, want an error")
	}
	if _, err := s.Open(ctx, "a"); !errors.Is(err, dbstrategy.ErrNotFound) {
		t.Errorf("tenant created although its template failed: %v", err)
	}
	var wg sync.WaitGroup
	for _, id := range []string{"a", "b", "c", "d"} {
		wg.Go(func() {
			if err := m.Create(ctx, id); err != nil {
				t.Errorf("Create(%s) error = %v", id, err)
			}
		})
	}
	wg.Wait()
	if got := ts.Prepares(); got != 2 {
		t.Errorf("PrepareTemplate calls = %d, want 2 (one failure, one success)", got)
	}
	db, err := s.Open(ctx, "template")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var tag sql.NullString
	if err := db.QueryRowContext(ctx, "SELECT tag FROM notes").Scan(&tag); !errors.Is(err, sql.ErrNoRows) {
		t.Errorf("template not migrated: %v", err)
	}
	if v, err := m.Version(ctx, "d"); v != 2 || err != nil {
		t.Errorf("Version(d) = %d, %v; want 2, nil", v, err)
	}
}

// lockingStrategy is a SQLite strategy that is a MigrationLocker, whose
// locker counts the locks goose takes, or fails to be made.
type lockingStrategy struct {
	*counting
	locker *countingLocker
	err    error
}

func (s *lockingStrategy) MigrationLocker() (lock.SessionLocker, error) {
	if s.err != nil {
		return nil, s.err
	}
	return s.locker, nil
}

type countingLocker struct {
	mu             sync.Mutex
	locks, unlocks int
}

func (l *countingLocker) SessionLock(context.Context, *sql.Conn) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.locks++
	return nil
}

func (l *countingLocker) SessionUnlock(context.Context, *sql.Conn) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.unlocks++
	return nil
}

// TestMigrationLocker checks that a strategy's MigrationLocker is used
// around every migration, and that an error making it fails NewManager.
func TestMigrationLocker(t *testing.T) {
	ctx := context.Background()
	s := &lockingStrategy{counting: newCounting(t, 2), locker: &countingLocker{}}
	m := newManager(t, s, dbstrategy.WithMigrations(migrations(2)))
	for _, id := range []string{"t0", "t1"} {
		if err := m.Migrate(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	// goose locks around Up, and again around reading the version.
	if s.locker.locks < 2 || s.locker.unlocks != s.locker.locks {
		t.Errorf("locker took %d locks, %d unlocks for 2 migrations; want at least 2, as many unlocks", s.locker.locks, s.locker.unlocks)
	}

	bad := &lockingStrategy{counting: newCounting(t, 0), err: errors.New("no locks here")}
	if _, err := dbstrategy.NewManager(bad, dbstrategy.WithMigrations(migrations(1))); !errors.Is(err, dbstrategy.ErrInvalidConfig) {
		t.Errorf("NewManager with a failing MigrationLocker: %v; want ErrInvalidConfig", err)
	}
	// Without migrations the locker is not needed, nor asked for.
	m2, err := dbstrategy.NewManager(bad)
	if err != nil {
		t.Fatalf("NewManager without migrations: %v", err)
	}
	m2.Close()
}

// TestGooseErrorAtNewManager checks that a migration set goose refuses (two
// files of one version) fails NewManager, not the first Create.
func TestGooseErrorAtNewManager(t *testing.T) {
	fsys := migrations(1)
	fsys["sqlite3/00001_again.sql"] = &fstest.MapFile{Data: []byte("-- +goose Up\nSELECT 1;\n")}
	_, err := dbstrategy.NewManager(newCounting(t, 0), dbstrategy.WithMigrations(fsys))
	if !errors.Is(err, dbstrategy.ErrInvalidConfig) {
		t.Errorf("NewManager with duplicate migration versions: %v; want ErrInvalidConfig", err)
	}
}
