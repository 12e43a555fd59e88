// Package sqlitestrategy keeps each tenant in its own SQLite file, using
// the pure Go driver github.com/ncruces/go-sqlite3 (no cgo). Importing the
// package registers that driver as "sqlite3" with database/sql.
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
