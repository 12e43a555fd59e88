package dbstrategytest_test

import (
	"fmt"
	"io/fs"
	"log"

	"github.com/tenantkit/tenantkit/dbstrategy/dbstrategytest"
)

func ExampleMigrations() {
	names, err := fs.Glob(dbstrategytest.Migrations(), "*/*.sql")
	if err != nil {
		log.Fatal(err)
	}
	for _, n := range names {
		fmt.Println(n)
	}
	// Output:
	// postgres/00001_notes.sql
	// postgres/00002_tag.sql
	// sqlite3/00001_notes.sql
	// sqlite3/00002_tag.sql
}
