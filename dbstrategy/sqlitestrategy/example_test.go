package sqlitestrategy_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"testing/fstest"

	"github.com/tenantkit/tenantkit/dbstrategy"
	"github.com/tenantkit/tenantkit/dbstrategy/sqlitestrategy"
)

func ExampleNew() {
	dir, err := os.MkdirTemp("", "tenants")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	s, err := sqlitestrategy.New(sqlitestrategy.Config{Dir: dir, Prefix: "org_"})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Create(ctx, "acme"); err != nil {
		log.Fatal(err)
	}
	db, err := s.Open(ctx, "acme") // usually through a dbstrategy.Manager
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	var mode string
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		log.Fatal(err)
	}
	path, _ := s.Path("acme")
	fmt.Println(filepath.Base(path), mode, s.Dialect())
	// Output: org_acme.db wal sqlite3
}

func ExampleNewManager() {
	dir, err := os.MkdirTemp("", "tenants")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// Usually an embed.FS holding a sqlite3/ directory.
	migrations := fstest.MapFS{"sqlite3/00001_notes.sql": &fstest.MapFile{Data: []byte(
		"-- +goose Up\nCREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);\n")}}
	m, err := sqlitestrategy.NewManager(sqlitestrategy.Config{Dir: dir}, dbstrategy.WithMigrations(migrations))
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close() // the Manager owns the strategy

	ctx := context.Background()
	if err := m.Create(ctx, "acme"); err != nil { // creates and migrates
		log.Fatal(err)
	}
	var n int
	err = m.Do(ctx, "acme", func(ctx context.Context, db dbstrategy.DB) error {
		return db.QueryRowContext(ctx, "SELECT count(*) FROM notes").Scan(&n)
	})
	fmt.Println(n, err)
	// Output: 0 <nil>
}
