package sqlitestrategy_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3/driver"

	"github.com/tenantkit/tenantkit/dbstrategy"
	"github.com/tenantkit/tenantkit/dbstrategy/dbstrategytest"
	"github.com/tenantkit/tenantkit/dbstrategy/sqlitestrategy"
)

func newStrategy(t *testing.T, cfg sqlitestrategy.Config) *sqlitestrategy.Strategy {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	s, err := sqlitestrategy.New(cfg)
	if err != nil {
		t.Fatalf("New(%+v) error = %v", cfg, err)
	}
	return s
}

func TestConformance(t *testing.T) {
	dbstrategytest.Run(t, func(t *testing.T) dbstrategy.Strategy {
		return newStrategy(t, sqlitestrategy.Config{})
	})
}

func TestNew(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		cfg     sqlitestrategy.Config
		wantErr bool
	}{
		{"defaults", sqlitestrategy.Config{Dir: dir}, false},
		{"all set", sqlitestrategy.Config{Dir: dir, Prefix: "t_", MaxConns: 2, BusyTimeout: time.Second}, false},
		{"prefix at limit", sqlitestrategy.Config{Dir: dir, Prefix: strings.Repeat("a", 14) + "_"}, false},
		{"missing dir is created", sqlitestrategy.Config{Dir: filepath.Join(dir, "a", "b")}, false},
		{"no dir", sqlitestrategy.Config{}, true},
		{"prefix too long", sqlitestrategy.Config{Dir: dir, Prefix: strings.Repeat("a", 15) + "_"}, true},
		{"prefix without trailing underscore", sqlitestrategy.Config{Dir: dir, Prefix: "tenant"}, true},
		{"prefix upper case", sqlitestrategy.Config{Dir: dir, Prefix: "T_"}, true},
		{"prefix with dot", sqlitestrategy.Config{Dir: dir, Prefix: "../"}, true},
		{"prefix with dash", sqlitestrategy.Config{Dir: dir, Prefix: "t-"}, true},
		{"negative max conns", sqlitestrategy.Config{Dir: dir, MaxConns: -1}, true},
		{"negative busy timeout", sqlitestrategy.Config{Dir: dir, BusyTimeout: -time.Second}, true},
		{"dir is a file", sqlitestrategy.Config{Dir: writeFile(t, filepath.Join(dir, "file"))}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := sqlitestrategy.New(tt.cfg)
			if gotErr := err != nil; gotErr != tt.wantErr || (s == nil) == (err == nil) {
				t.Fatalf("New(%+v) = %v, %v; want error %v", tt.cfg, s, err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, dbstrategy.ErrInvalidConfig) && tt.name != "dir is a file" {
				t.Errorf("New(%+v) error = %v; want it to wrap ErrInvalidConfig", tt.cfg, err)
			}
			if err == nil {
				if fi, err := os.Stat(tt.cfg.Dir); err != nil || !fi.IsDir() {
					t.Errorf("Dir %q after New: %v", tt.cfg.Dir, err)
				}
			}
		})
	}
}

func writeFile(t *testing.T, path string) string {
	t.Helper()
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestPath(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		prefix, id, want string
		wantErr          error
	}{
		{"", "acme", filepath.Join(dir, "tenant_acme.db"), nil},
		{"t_", "42", filepath.Join(dir, "t_42.db"), nil},
		{"", "acme-eu", filepath.Join(dir, "tenant_acme-eu.db"), nil},
		{"", "-acme", "", dbstrategy.ErrInvalidKey},
		{"", "../etc", "", dbstrategy.ErrInvalidKey},
		{"", "", "", dbstrategy.ErrInvalidKey},
		{"", "Acme", "", dbstrategy.ErrInvalidKey},
	}
	for _, tt := range tests {
		s := newStrategy(t, sqlitestrategy.Config{Dir: dir, Prefix: tt.prefix})
		got, err := s.Path(tt.id)
		if got != tt.want || !errors.Is(err, tt.wantErr) {
			t.Errorf("Path(%q) with prefix %q = %q, %v; want %q, %v", tt.id, tt.prefix, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestOpenDoesNotCreate(t *testing.T) {
	s := newStrategy(t, sqlitestrategy.Config{})
	path, _ := s.Path("ghost")
	if _, err := s.Open(t.Context(), "ghost"); !errors.Is(err, dbstrategy.ErrNotFound) {
		t.Fatalf("Open(ghost) error = %v, want ErrNotFound", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Stat(%q) after Open = %v, want not exist", path, err)
	}
}

// TestOpenAfterFileRemoved checks that a handle whose file disappeared
// fails instead of creating a new empty database.
func TestOpenAfterFileRemoved(t *testing.T) {
	s := newStrategy(t, sqlitestrategy.Config{})
	ctx := t.Context()
	if err := s.Create(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	db, err := s.Open(ctx, "gone")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxIdleConns(0) // every query opens a new connection
	if err := s.Drop(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "CREATE TABLE x (a INTEGER)"); err == nil {
		t.Errorf("query on a dropped tenant's handle succeeded")
	}
	path, _ := s.Path("gone")
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Stat(%q) = %v, want not exist", path, err)
	}
}

func TestCreateFile(t *testing.T) {
	dir := t.TempDir()
	s := newStrategy(t, sqlitestrategy.Config{Dir: dir})
	if err := s.Create(t.Context(), "acme"); err != nil {
		t.Fatal(err)
	}
	path, _ := s.Path("acme")
	fi, err := os.Stat(path)
	if err != nil || fi.Size() == 0 {
		t.Fatalf("Stat(%q) = %v, %v; want a non-empty file", path, fi, err)
	}
	// The file's header says WAL (bytes 18 and 19 are 2), so the mode
	// persists for any reader.
	b, err := os.ReadFile(path)
	if err != nil || len(b) < 20 || b[18] != 2 || b[19] != 2 {
		t.Errorf("header of %q: read/write versions not 2 (WAL): %v", path, err)
	}
}

func TestPragmas(t *testing.T) {
	s := newStrategy(t, sqlitestrategy.Config{BusyTimeout: 1500 * time.Millisecond})
	ctx := t.Context()
	if err := s.Create(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	db, err := s.Open(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tests := []struct{ pragma, want string }{
		{"journal_mode", "wal"},
		{"busy_timeout", "1500"},
		{"foreign_keys", "1"},
		{"synchronous", "1"}, // NORMAL
	}
	for _, tt := range tests {
		var got string
		if err := db.QueryRowContext(ctx, "PRAGMA "+tt.pragma).Scan(&got); err != nil || got != tt.want {
			t.Errorf("PRAGMA %s = %q, %v; want %q", tt.pragma, got, err, tt.want)
		}
	}
	if got := db.Stats().MaxOpenConnections; got != sqlitestrategy.DefaultMaxConns {
		t.Errorf("MaxOpenConnections = %d, want %d", got, sqlitestrategy.DefaultMaxConns)
	}
	if got := s.MaxConns(); got != sqlitestrategy.DefaultMaxConns {
		t.Errorf("MaxConns() = %d, want %d", got, sqlitestrategy.DefaultMaxConns)
	}
	// Foreign keys are enforced.
	for _, q := range []string{
		"CREATE TABLE parent (id INTEGER PRIMARY KEY)",
		"CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER NOT NULL REFERENCES parent (id))",
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.ExecContext(ctx, "INSERT INTO child (id, parent_id) VALUES (1, 99)"); err == nil {
		t.Errorf("insert violating a foreign key succeeded")
	}
}

// TestPlaceholdersAndTime checks what the reference server relies on: $1..$n
// placeholders, reused ones included (SQLite numbers "$N" parameters in order
// of first appearance, so $1 must appear before $2, and so on),
// and TIMESTAMP columns scanning into time.Time whether written by Go or by
// CURRENT_TIMESTAMP.
func TestPlaceholdersAndTime(t *testing.T) {
	s := newStrategy(t, sqlitestrategy.Config{})
	ctx := t.Context()
	if err := s.Create(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	db, err := s.Open(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `CREATE TABLE users (
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		email TEXT NOT NULL UNIQUE,
		display_name TEXT,
		created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
		updated_at TIMESTAMP
	)`); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)
	var id int64
	err = db.QueryRowContext(ctx,
		"INSERT INTO users (email, display_name, updated_at) VALUES ($1, $2, $3) RETURNING id",
		"a@example.com", nil, at).Scan(&id)
	if err != nil || id != 1 {
		t.Fatalf("insert = %d, %v; want 1, nil", id, err)
	}
	var (
		email     string
		name      sql.NullString
		created   time.Time
		updated   time.Time
		sameEmail bool
	)
	err = db.QueryRowContext(ctx,
		"SELECT email, display_name, created_at, updated_at, id = $1 FROM users WHERE id = $1 AND email = $2 AND $1 > 0",
		id, "a@example.com").Scan(&email, &name, &created, &updated, &sameEmail)
	if err != nil {
		t.Fatalf("select: %v", err)
	}
	if email != "a@example.com" || name.Valid || !sameEmail {
		t.Errorf("select = %q, %v, %v; want a@example.com, NULL, true", email, name, sameEmail)
	}
	if !updated.Equal(at) {
		t.Errorf("updated_at = %v, want %v", updated, at)
	}
	if created.IsZero() || created.Location() != time.UTC || time.Since(created) > time.Hour || time.Since(created) < -time.Hour {
		t.Errorf("created_at = %v, want about now in UTC", created)
	}
}

// TestConcurrentWrites checks that writers on one handle serialize instead
// of failing with SQLITE_BUSY: immediate transactions plus the busy timeout.
func TestConcurrentWrites(t *testing.T) {
	s := newStrategy(t, sqlitestrategy.Config{})
	ctx := t.Context()
	if err := s.Create(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	db, err := s.Open(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "INSERT INTO counter (id, n) VALUES (1, 0)"); err != nil {
		t.Fatal(err)
	}
	const writers, each = 8, 20
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for range writers {
		wg.Go(func() {
			for range each {
				if err := increment(ctx, db); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("increment: %v", err)
	}
	var n int
	if err := db.QueryRowContext(ctx, "SELECT n FROM counter WHERE id = 1").Scan(&n); err != nil || n != writers*each {
		t.Errorf("counter = %d, %v; want %d", n, err, writers*each)
	}
}

// increment reads then writes in one transaction: with deferred
// transactions two of these would deadlock into SQLITE_BUSY.
func increment(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT n FROM counter WHERE id = 1").Scan(&n); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "UPDATE counter SET n = $1 WHERE id = 1", n+1); err != nil {
		return err
	}
	return tx.Commit()
}

func TestDropRemovesFiles(t *testing.T) {
	dir := t.TempDir()
	s := newStrategy(t, sqlitestrategy.Config{Dir: dir})
	ctx := t.Context()
	if err := s.Create(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, "other"); err != nil {
		t.Fatal(err)
	}
	path, _ := s.Path("acme")
	for _, suffix := range []string{"-wal", "-shm", "-journal"} {
		writeFile(t, path+suffix) // as a crash might leave them
	}
	if err := s.Drop(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if got, want := strings.Join(names, ","), "tenant_other.db"; got != want {
		t.Errorf("files after Drop = %q, want %q", got, want)
	}
}

func TestSpecialDir(t *testing.T) {
	// A directory whose name needs escaping in a URI.
	dir := filepath.Join(t.TempDir(), "a dir?with#odd%chars")
	s := newStrategy(t, sqlitestrategy.Config{Dir: dir})
	ctx := t.Context()
	if err := s.Create(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	db, err := s.Open(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "CREATE TABLE x (a INTEGER)"); err != nil {
		t.Fatal(err)
	}
	path, _ := s.Path("acme")
	if _, err := os.Stat(path); err != nil {
		t.Errorf("Stat(%q) = %v", path, err)
	}
}

func FuzzPath(f *testing.F) {
	for _, s := range []string{"acme", "", "../x", "a/b", "A", "a\x00b", strings.Repeat("a", 49), "tenant_1"} {
		f.Add(s)
	}
	dir := f.TempDir()
	s, err := sqlitestrategy.New(sqlitestrategy.Config{Dir: dir})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, key string) {
		path, err := s.Path(key)
		if err != nil {
			if !errors.Is(err, dbstrategy.ErrInvalidKey) || path != "" {
				t.Fatalf("Path(%q) = %q, %v; want \"\", ErrInvalidKey", key, path, err)
			}
			return
		}
		if filepath.Dir(path) != dir || filepath.Base(path) != "tenant_"+key+".db" {
			t.Fatalf("Path(%q) = %q, want %s/tenant_%s.db", key, path, dir, key)
		}
	})
}

// TestAttachRefused proves that a statement on a tenant's handle cannot
// reach another database file: ATTACH fails on every connection.
func TestAttachRefused(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := sqlitestrategy.New(sqlitestrategy.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "b"} {
		if err := s.Create(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	db, err := s.Open(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	other, _ := s.Path("b")
	for i := 0; i < 3; i++ { // several connections of the pool
		conn, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		_, err = conn.ExecContext(ctx, `ATTACH DATABASE $1 AS other`, other)
		conn.Close()
		if err == nil || !strings.Contains(err.Error(), "too many attached databases") {
			t.Fatalf("ATTACH of another tenant's file = %v; want it refused by the attached-databases limit", err)
		}
	}
}

// TestReopenKeepsWAL checks that closing the last connection leaves the -wal
// and -shm files in place, that what was written is in the database file
// itself after the close (the WAL was checkpointed), and that reopening sees
// it.
func TestReopenKeepsWAL(t *testing.T) {
	ctx := context.Background()
	s := newStrategy(t, sqlitestrategy.Config{})
	if err := s.Create(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	path, _ := s.Path("acme")
	db, err := s.Open(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "CREATE TABLE t (v TEXT); INSERT INTO t VALUES ('kept')"); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		if _, err := os.Stat(path + suffix); err != nil {
			t.Errorf("after close: %v, want the %s file kept", err, suffix)
		}
	}
	if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size() != 0 {
		t.Errorf("after close: -wal holds %d bytes, want 0 (checkpointed and truncated)", fi.Size())
	}
	db, err = s.Open(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v string
	if err := db.QueryRowContext(ctx, "SELECT v FROM t").Scan(&v); err != nil || v != "kept" {
		t.Errorf("after reopen: SELECT = %q, %v; want kept", v, err)
	}
}

// BenchmarkReopen measures what a handle cache miss costs: open a tenant's
// handle, run one query, close it, over 64 tenants in turn. The baseline
// sub-benchmark does the same through the driver with the usual settings
// given as "_pragma" parameters of the URI (WAL files created and deleted
// on each open). cpu-ns/op is the process's CPU time per operation, which
// other work on the machine disturbs less than ns/op.
func BenchmarkReopen(b *testing.B) {
	ctx := context.Background()
	s, err := sqlitestrategy.New(sqlitestrategy.Config{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	const tenants = 64
	var paths []string
	for i := range tenants {
		id := "t" + strconv.Itoa(i)
		if err := s.Create(ctx, id); err != nil {
			b.Fatal(err)
		}
		db, err := s.Open(ctx, id)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT UNIQUE, display_name TEXT); INSERT INTO users VALUES (1, 'a@example.com', 'A')"); err != nil {
			b.Fatal(err)
		}
		db.Close()
		p, _ := s.Path(id)
		paths = append(paths, p)
	}
	query := func(b *testing.B, db *sql.DB) {
		var email string
		if err := db.QueryRowContext(ctx, "SELECT email FROM users WHERE id = $1", 1).Scan(&email); err != nil {
			b.Fatal(err)
		}
		if err := db.Close(); err != nil {
			b.Fatal(err)
		}
	}
	cpuPerOp := func(b *testing.B) func() {
		start := cpuTime()
		return func() { b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op") }
	}
	b.Run("baseline", func(b *testing.B) {
		b.ReportAllocs()
		defer cpuPerOp(b)()
		for i := 0; b.Loop(); i++ {
			dsn := "file:" + paths[i%tenants] + "?mode=rw&_txlock=immediate&_pragma=busy_timeout(5000)&_pragma=journal_mode(wal)&_pragma=foreign_keys(on)&_pragma=synchronous(normal)"
			db, err := driver.Open(dsn) // by connector: the name "sqlite3" may be another driver's
			if err != nil {
				b.Fatal(err)
			}
			query(b, db)
		}
	})
	b.Run("strategy", func(b *testing.B) {
		b.ReportAllocs()
		defer cpuPerOp(b)()
		for i := 0; b.Loop(); i++ {
			db, err := s.Open(ctx, "t"+strconv.Itoa(i%tenants))
			if err != nil {
				b.Fatal(err)
			}
			query(b, db)
		}
	})
}

// TestDashKeys checks that a key with '-', which dbstrategy.ValidateKey and
// tenancy's hints accept, makes a working tenant file of its own.
func TestDashKeys(t *testing.T) {
	s := newStrategy(t, sqlitestrategy.Config{})
	ctx := t.Context()
	m, err := dbstrategy.NewManager(s)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	keys := []string{"acme-eu", "acme_eu", "acme--eu", "a-", "0-0"}
	for _, k := range keys {
		if err := m.Create(ctx, k); err != nil {
			t.Fatalf("Create(%q): %v", k, err)
		}
		l, err := m.Acquire(ctx, k)
		if err != nil {
			t.Fatalf("Acquire(%q): %v", k, err)
		}
		_, err = l.DB().ExecContext(ctx, "CREATE TABLE who (k TEXT)")
		if err == nil {
			_, err = l.DB().ExecContext(ctx, "INSERT INTO who VALUES ($1)", k)
		}
		l.Release()
		if err != nil {
			t.Fatalf("%q: %v", k, err)
		}
	}
	for _, k := range keys {
		path, _ := s.Path(k)
		if filepath.Base(path) != "tenant_"+k+".db" {
			t.Errorf("Path(%q) = %q", k, path)
		}
		l, err := m.Acquire(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		var got string
		err = l.DB().QueryRowContext(ctx, "SELECT group_concat(k) FROM who").Scan(&got)
		l.Release()
		if err != nil || got != k {
			t.Errorf("tenant %q reads %q, %v; want only its own row", k, got, err)
		}
	}
	if err := m.Drop(ctx, "acme-eu"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Acquire(ctx, "acme-eu"); !errors.Is(err, dbstrategy.ErrNotFound) {
		t.Errorf("Acquire after Drop: %v; want ErrNotFound", err)
	}
}

// TestHandleGrowsUnderConcurrency checks that a handle holds one connection
// while its tenant is served one request at a time, grows only while
// requests overlap, keeps its connections for the next burst, and closes
// them once idle for ConnMaxIdleTime.
func TestHandleGrowsUnderConcurrency(t *testing.T) {
	s := newStrategy(t, sqlitestrategy.Config{MaxConns: 3, ConnMaxIdleTime: time.Millisecond})
	ctx := t.Context()
	if err := s.Create(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	db, err := s.Open(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for range 20 {
		var n int
		if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&n); err != nil {
			t.Fatal(err)
		}
	}
	if got := db.Stats().OpenConnections; got != 1 {
		t.Fatalf("after 20 sequential statements the handle holds %d connections, want 1", got)
	}
	// Three overlapping requests: three connections, never more.
	var conns []*sql.Conn
	for range 3 {
		c, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	if got := db.Stats(); got.OpenConnections != 3 || got.MaxOpenConnections != 3 {
		t.Fatalf("with 3 overlapping requests: %d connections open, max %d; want 3, 3", got.OpenConnections, got.MaxOpenConnections)
	}
	for _, c := range conns {
		c.Close()
	}
	// database/sql gives no signal when its cleaner runs (at most every
	// second): poll its counters until the idle connections are closed,
	// bounded by the test's deadline.
	for db.Stats().OpenConnections != 0 {
		select {
		case <-ctx.Done():
			t.Fatalf("idle connections never closed: %+v", db.Stats())
		case <-time.After(10 * time.Millisecond):
		}
	}
	if got := db.Stats().MaxIdleTimeClosed; got != 3 {
		t.Errorf("MaxIdleTimeClosed = %d, want 3", got)
	}
	// The handle still works: it opens one connection again.
	var n int
	if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if got := db.Stats().OpenConnections; got != 1 {
		t.Errorf("after the handle shrank, one statement opened %d connections, want 1", got)
	}
}

func TestNewManager(t *testing.T) {
	if _, err := sqlitestrategy.NewManager(sqlitestrategy.Config{}); !errors.Is(err, dbstrategy.ErrInvalidConfig) {
		t.Errorf("NewManager(no Dir) = %v; want ErrInvalidConfig", err)
	}
	if _, err := sqlitestrategy.NewManager(sqlitestrategy.Config{Dir: t.TempDir()}, nil); !errors.Is(err, dbstrategy.ErrInvalidConfig) {
		t.Errorf("NewManager(nil option) = %v; want ErrInvalidConfig", err)
	}
	opts := make([]dbstrategy.Option, 1, 2)
	opts[0] = dbstrategy.WithMaxOpen(2)
	m, err := sqlitestrategy.NewManager(sqlitestrategy.Config{Dir: t.TempDir()}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if opts[:2][1] != nil {
		t.Errorf("NewManager wrote into the caller's options: %v", opts[:2])
	}
	ctx := context.Background()
	if err := m.Create(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if err := m.Do(ctx, "acme", func(ctx context.Context, db dbstrategy.DB) error {
		_, err := db.ExecContext(ctx, "SELECT 1")
		return err
	}); err != nil {
		t.Errorf("Do() = %v", err)
	}
}
