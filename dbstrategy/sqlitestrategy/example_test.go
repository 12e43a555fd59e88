package sqlitestrategy_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

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
