// Package sqlitestrategy keeps each tenant in its own SQLite file, using
// the pure Go driver github.com/ncruces/go-sqlite3 (no cgo).
//
// A tenant's database is the file Dir/<Prefix><tenant>.db. Every connection
// runs in WAL mode with synchronous=NORMAL, foreign keys on, a busy timeout,
// and BEGIN IMMEDIATE for write transactions, so concurrent writers queue
// for the write lock instead of failing. Open never creates a file: a
// missing tenant is [dbstrategy.ErrNotFound].
//
// The -wal and -shm files next to a tenant's file stay when its last
// connection closes (SQLITE_FCNTL_PERSIST_WAL): a handle evicted and
// reopened often then reuses them instead of creating and deleting two files
// each time. The WAL is still checkpointed into the database file on close,
// so the .db file alone is a complete copy once no handle is open; copy all
// three while one is.
//
// SQL placeholders: "$1", "$2", ... work as with PostgreSQL as long as each
// first appears in order ($1 before $2), since SQLite numbers named
// parameters by first appearance; a number may be reused anywhere later.
// Columns declared TIMESTAMP, DATETIME or DATE scan into time.Time; Go
// time.Time values are written as RFC 3339 text.
//
// # The driver name "sqlite3"
//
// sqlitestrategy opens every database through the driver's connector
// (driver.Open, then [database/sql.OpenDB]), never by a driver name, so it
// does not depend on any name being registered with database/sql. But
// importing it imports github.com/ncruces/go-sqlite3/driver, whose init
// registers that driver as "sqlite3". An app that also imports another
// driver registering "sqlite3" (github.com/mattn/go-sqlite3 does) panics
// at start-up with "sql: Register called twice for driver sqlite3". Build
// such an app with the ncruces driver registered under another name, or
// under none:
//
//	go build -ldflags="-X github.com/ncruces/go-sqlite3/driver.driverName=" ./cmd/app
//	go build -ldflags="-X github.com/ncruces/go-sqlite3/driver.driverName=ncruces" ./cmd/app
//
// sqlitestrategy works unchanged either way ("sqlite3" remains the goose
// dialect of [Strategy.Dialect], which is not a driver name), and
// sql.Open("sqlite3", ...) then opens the other driver. The -X flag must
// reach every build of the app, its tests included (go test -ldflags=...).
//
// # Usage
//
//	m, err := sqlitestrategy.NewManager(sqlitestrategy.Config{Dir: "data/tenants"},
//		dbstrategy.WithMigrations(migrationsFS))
//	if err != nil {
//		return err
//	}
//	defer m.Close()
//	err = m.Create(ctx, "acme") // data/tenants/tenant_acme.db, migrated
//
// [NewManager] is [New] followed by [dbstrategy.NewManager]; call those
// two to keep the [*Strategy] (for [Strategy.Path]).
package sqlitestrategy
