package registry_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"       // database/sql driver "pgx"
	_ "github.com/ncruces/go-sqlite3/driver" // database/sql driver "sqlite3"

	"github.com/tenantkit/tenantkit/dbstrategy"
	"github.com/tenantkit/tenantkit/dbstrategy/sqlitestrategy"
	"github.com/tenantkit/tenantkit/internal/pgtest"
	"github.com/tenantkit/tenantkit/internal/testenv"
	"github.com/tenantkit/tenantkit/tenancy/registry"
)

// The PostgreSQL database of this test run: made on first use, dropped by
// TestMain. Each test gets a schema of its own in it.
var pgRun struct {
	once   sync.Once
	prefix string
	dsn    string // of the run's database
	err    error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if pgRun.prefix != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		if err := pgtest.DropPrefix(ctx, os.Getenv(testenv.PostgresDSNEnv), pgRun.prefix, 1); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
		cancel()
	}
	os.Exit(code)
}

func randomHex(tb testing.TB, n int) string {
	tb.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		tb.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// pgDSN returns the DSN of a fresh schema in the run's database (its
// search_path), dropped when tb ends; it skips without a server.
func pgDSN(tb testing.TB) string {
	tb.Helper()
	admin := testenv.PostgresDSN(tb)
	pgRun.once.Do(func() {
		prefix := "tkreg_" + randomHex(tb, 4) + "_"
		name := prefix + "run"
		db, err := sql.Open("pgx", admin)
		if err != nil {
			pgRun.err = err
			return
		}
		defer db.Close()
		if _, err := db.Exec(`CREATE DATABASE "` + name + `"`); err != nil {
			pgRun.err = err
			return
		}
		pgRun.prefix = prefix
		u, err := url.Parse(admin)
		if err != nil {
			pgRun.err = err
			return
		}
		u.Path = "/" + name
		pgRun.dsn = u.String()
	})
	if pgRun.err != nil {
		tb.Fatalf("create the test database: %v", pgRun.err)
	}
	schema := "t_" + randomHex(tb, 6)
	db := openDB(tb, "pgx", pgRun.dsn)
	if _, err := db.Exec(`CREATE SCHEMA ` + schema); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if _, err := db.Exec(`DROP SCHEMA ` + schema + ` CASCADE`); err != nil {
			tb.Errorf("drop schema: %v", err)
		}
	})
	u, _ := url.Parse(pgRun.dsn)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// openDB opens a *sql.DB closed when tb ends.
func openDB(tb testing.TB, driver, dsn string) *sql.DB {
	tb.Helper()
	db, err := sql.Open(driver, dsn)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// sqliteDSN returns the DSN of an SQLite file in a fresh directory.
func sqliteDSN(tb testing.TB) string {
	tb.Helper()
	return "file:" + filepath.Join(tb.TempDir(), "core.db") + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(wal)&_txlock=immediate"
}

// openSQL opens a SQL store on a new handle to dsn.
func openSQL(tb testing.TB, dialect, dsn string) (*registry.SQL, *sql.DB) {
	tb.Helper()
	driver := "sqlite3"
	if dialect == registry.DialectPostgres {
		driver = "pgx"
	}
	db := openDB(tb, driver, dsn)
	s, err := registry.OpenSQL(context.Background(), db, dialect)
	if err != nil {
		tb.Fatalf("OpenSQL() error = %v", err)
	}
	return s, db
}

func newMemory(tb testing.TB) *registry.Memory {
	tb.Helper()
	m, err := registry.NewMemory()
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// tenantMigrations are the migrations of the tenants' databases, up to
// version n (1 or 2).
func tenantMigrations(n int) fstest.MapFS {
	fs := fstest.MapFS{
		"sqlite3/00001_notes.sql": {Data: []byte("-- +goose Up\nCREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);\n")},
	}
	if n >= 2 {
		fs["sqlite3/00002_tags.sql"] = &fstest.MapFile{Data: []byte("-- +goose Up\nCREATE TABLE tags (id INTEGER PRIMARY KEY);\n")}
	}
	return fs
}

// badMigrations fail on every tenant.
var badMigrations = fstest.MapFS{
	"sqlite3/00001_bad.sql": {Data: []byte("-- +goose Up\nCREATE TABLE broken (;\n")},
}

// newManager returns a Manager on SQLite files in dir, closed when tb ends.
func newManager(tb testing.TB, dir string, migrations fstest.MapFS) *dbstrategy.Manager {
	tb.Helper()
	s, err := sqlitestrategy.New(sqlitestrategy.Config{Dir: dir})
	if err != nil {
		tb.Fatal(err)
	}
	m, err := dbstrategy.NewManager(s, dbstrategy.WithMigrations(migrations))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { m.Close() })
	return m
}

// tenantFile reports whether the tenant's SQLite file exists in dir.
func tenantFile(tb testing.TB, dir, id string) bool {
	tb.Helper()
	_, err := os.Stat(filepath.Join(dir, sqlitestrategy.DefaultPrefix+id+".db"))
	return err == nil
}

// stores lists the Store implementations every store test runs against.
func stores() []struct {
	name string
	open func(t *testing.T) registry.Store
} {
	return []struct {
		name string
		open func(t *testing.T) registry.Store
	}{
		{"Memory", func(t *testing.T) registry.Store { return newMemory(t) }},
		{"SQLite", func(t *testing.T) registry.Store {
			s, _ := openSQL(t, registry.DialectSQLite, sqliteDSN(t))
			return s
		}},
		{"PostgreSQL", func(t *testing.T) registry.Store {
			s, _ := openSQL(t, registry.DialectPostgres, pgDSN(t))
			return s
		}},
	}
}
