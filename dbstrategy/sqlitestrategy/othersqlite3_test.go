//go:build tenantkit_othersqlite3

package sqlitestrategy_test

// This file is built only by TestDriverNameUnregistered, which also sets
// -ldflags="-X github.com/ncruces/go-sqlite3/driver.driverName=": without
// that flag, the init below would panic (the name would be registered
// twice).

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"testing"
	"testing/fstest"

	"github.com/tenantkit/tenantkit/dbstrategy"
	"github.com/tenantkit/tenantkit/dbstrategy/sqlitestrategy"
)

// otherDriver stands for another SQLite driver registered as "sqlite3".
type otherDriver struct{}

var errOtherDriver = errors.New("the other sqlite3 driver")

func (otherDriver) Open(string) (driver.Conn, error) { return nil, errOtherDriver }

func init() { sql.Register("sqlite3", otherDriver{}) }

func TestOtherSQLite3Driver(t *testing.T) {
	ctx := context.Background()
	db, err := sql.Open("sqlite3", "file:unused.db")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := db.Driver().(otherDriver); !ok {
		t.Fatalf(`sql.Open("sqlite3") driver = %T; want the other driver`, db.Driver())
	}
	db.Close()

	s, err := sqlitestrategy.New(sqlitestrategy.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	m, err := dbstrategy.NewManager(s, dbstrategy.WithMigrations(fstest.MapFS{
		"sqlite3/00001_notes.sql": {Data: []byte("-- +goose Up\nCREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);\n")},
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Create(ctx, "acme"); err != nil {
		t.Fatalf("Create: %v", err)
	}
	var body string
	err = m.Do(ctx, "acme", func(ctx context.Context, db dbstrategy.DB) error {
		if _, err := db.ExecContext(ctx, "INSERT INTO notes (body) VALUES ($1)", "hello"); err != nil {
			return err
		}
		return db.QueryRowContext(ctx, "SELECT body FROM notes").Scan(&body)
	})
	if err != nil || body != "hello" {
		t.Fatalf("Do = %v, body %q; want nil, %q", err, body, "hello")
	}
	if err := m.Drop(ctx, "acme"); err != nil {
		t.Fatalf("Drop: %v", err)
	}
}
