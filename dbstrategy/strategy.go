package dbstrategy

import (
	"context"
	"database/sql"

	"github.com/pressly/goose/v3/database"
	"github.com/pressly/goose/v3/lock"
)

// Strategy decides where a tenant's data lives and how to reach it. A
// Strategy is the only piece a new database backend has to write; the
// [Manager] adds caching, leases, budgets and migrations on top.
//
// Tenant keys passed to a Strategy have already been checked by
// [ValidateKey]; implementations must check them again before building a
// file name or an identifier from them, and quote identifiers anyway.
//
// Implementations must be safe for concurrent use.
//
// # Optional interfaces
//
// The [Manager] looks for these by type assertion:
//
//   - [ConnLimiter]: how many server connections one open handle may hold,
//     so the Manager can keep the process under a total connection budget
//     ([WithMaxConns]). Only strategies whose handles hold connections to a
//     server implement it; the budget does not apply to the others.
//   - [ConnBudgeter]: the strategy counts the connections its handles really
//     hold against the [WithMaxConns] budget itself; preferred to
//     ConnLimiter when a strategy implements both.
//   - [HandleLimiter]: how many handles of the strategy may be open at once,
//     by the strategy's own measure of what a handle costs (memory for
//     SQLite); the default of [WithMaxOpen].
//   - [Templater]: the strategy creates tenant databases by copying a
//     migrated template, which the Manager prepares before its first
//     [Manager.Create] when migrations are configured.
//   - [Sparer]: the strategy can make tenant databases ahead of time,
//     migrated, and hand one to a new tenant by renaming it; with
//     [WithSpares] the Manager keeps some ready so that [Manager.Create]
//     costs a rename instead of the migrations (schemastrategy).
//   - [MigrationStorer]: the strategy gives goose a version store of its
//     own, where goose's default one does not suit its databases.
//   - [MigrationLocker]: the strategy's databases need goose to take a
//     lock across processes while it migrates one (PostgreSQL's advisory
//     locks).
//   - [ConnPinner]: the strategy's tenants share one pool of connections,
//     so each lease pins one connection of it, scoped to the tenant, and
//     gives it back reset on release (schemastrategy).
type Strategy interface {
	// Create makes the tenant's database if it does not exist yet. It is
	// idempotent: creating a database that exists returns nil.
	Create(ctx context.Context, tenantID string) error

	// Open returns a new handle to the tenant's database. The caller owns
	// the handle and closes it. Open returns an error wrapping
	// [ErrNotFound] when the tenant's database does not exist; it never
	// creates one.
	Open(ctx context.Context, tenantID string) (*sql.DB, error)

	// Drop deletes the tenant's database and everything in it. It is
	// idempotent: dropping a database that does not exist returns nil.
	// Callers close their own handles to the database first.
	Drop(ctx context.Context, tenantID string) error

	// Dialect names the SQL dialect of the tenant databases, as goose
	// spells it: "sqlite3" or "postgres". Migrations for the strategy are
	// read from the directory of that name.
	Dialect() string
}

// ConnLimiter is implemented by strategies whose handles hold a bounded
// number of server connections. The [Manager] uses it to keep the sum over
// all open handles within the budget set by [WithMaxConns].
type ConnLimiter interface {
	// MaxConnsPerHandle reports the most connections one handle returned
	// by Open may hold at once. It is at least 1.
	MaxConnsPerHandle() int
}

// ConnBudgeter is implemented by strategies that enforce the [WithMaxConns]
// budget themselves, counting the server connections their handles really
// hold rather than each handle at its pool's maximum (pgstrategy does). A
// handle holding no connection then costs nothing against the budget, so
// the Manager does not lower its handle limit by the budget: [NewManager]
// calls SetConnBudget(n) once instead, and fails if it returns an error.
// Waiting for the budget happens inside the handle, when a query needs a
// new connection, bounded by the query's context.
type ConnBudgeter interface {
	SetConnBudget(n int) error
}

// HandleLimiter is implemented by strategies that know how many of their
// handles a process can keep open, such as sqlitestrategy, whose handles
// cost memory rather than server connections. Unless [WithMaxOpen] is
// given, a [Manager] keeps at most MaxHandles() handles open (lowered by
// the [WithMaxConns] budget for a [ConnLimiter]).
type HandleLimiter interface {
	// MaxHandles reports the most handles returned by Open that should be
	// open at once. It is at least 1.
	MaxHandles() int
}

// Templater is implemented by strategies that create tenant databases by copying a migrated template.
// The Manager calls PrepareTemplate once (retrying on a later Create if it failed) before its first Create when
// migrations are configured: the strategy makes sure the template exists, opens it, calls migrate on it, closes it.
//
// migrate applies the Manager's migrations for the strategy's dialect to db
// and returns the first error; it neither keeps nor closes db. Calls to
// PrepareTemplate from one Manager never overlap; the strategy guards
// against other processes itself.
type Templater interface {
	PrepareTemplate(ctx context.Context, migrate func(ctx context.Context, db *sql.DB) error) error
}

// Sparer is implemented by strategies that can make a tenant database
// before its tenant exists: a spare, made and migrated under a name no
// tenant key can take, then handed to a new tenant by a rename. With
// [WithSpares] and migrations, [Manager.Create] claims a spare when one is
// ready and only then falls back to creating and migrating the database,
// and a goroutine of the Manager makes new spares in the background.
//
// version is the newest migration's version: spares are kept by version,
// so that a process claims only spares migrated exactly as far as its own
// migrations go, and processes of two releases never hand each other a
// database at the wrong version. Implementations must be safe across
// processes: two claims never get one spare, and a spare being made is
// never claimed before migrate has returned nil on it.
type Sparer interface {
	// MakeSpare makes one spare for version: it creates the database,
	// opens a handle to it, calls migrate on it (see [Templater] for
	// what migrate does), closes the handle and only then makes the spare
	// claimable. On error it removes what it made, as far as it can.
	MakeSpare(ctx context.Context, version int64, migrate func(ctx context.Context, db *sql.DB) error) error

	// ClaimSpare makes a ready spare of version the database of
	// tenantID, atomically, and reports true. It reports false, changing
	// nothing, when no spare of version is ready or when the tenant's
	// database exists already (so that Create stays idempotent).
	ClaimSpare(ctx context.Context, tenantID string, version int64) (bool, error)

	// Spares reports how many spares of version are ready to claim.
	Spares(ctx context.Context, version int64) (int, error)

	// DropOldSpares removes the ready spares of versions below version,
	// which no process of this release claims, skipping any a claim
	// holds, and reports how many it removed. It leaves spares being made
	// alone.
	DropOldSpares(ctx context.Context, version int64) (int, error)
}

// MigrationStorer is implemented by strategies that give goose the store
// of its version table themselves, instead of goose's default store for
// the strategy's [Strategy.Dialect]: for example one whose check that the
// version table exists stays cheap when one database holds thousands of
// tenants' version tables (schemastrategy). [NewManager] calls it once,
// when migrations are configured, fails if it returns an error, and hands
// the store to every goose provider it builds (goose's DialectCustom with
// WithStore). A nil store, with a nil error, means goose's own store for
// the dialect.
type MigrationStorer interface {
	MigrationStore() (database.Store, error)
}

// MigrationLocker is implemented by strategies whose tenant databases offer
// a lock that serializes goose migrations of one database across processes,
// such as PostgreSQL's session advisory locks. When migrations are
// configured, [NewManager] calls MigrationLocker once, fails if it returns
// an error, and hands the locker to every goose provider it builds. Without
// it, migrations of a tenant are serialized within one Manager only.
type MigrationLocker interface {
	MigrationLocker() (lock.SessionLocker, error)
}

// ConnPinner is implemented by strategies whose tenants share one pool of
// server connections, such as schemastrategy (a PostgreSQL schema per
// tenant). For such a strategy, the *sql.DB that [Strategy.Open] returns
// for a tenant is a view of the shared pool, not a pool of its own:
//
//   - its connector takes a connection from the shared pool and scopes it
//     to the tenant (for schemastrategy: search_path and role) before
//     database/sql sees it, and fails with an error wrapping [ErrNotFound]
//     if the tenant no longer exists;
//   - the scope, and everything else a tenant may have changed in the
//     session, is reset before the connection serves another tenant, or
//     anything but a lease of the same tenant (schemastrategy resets when
//     a connection is taken, in the round trip that scopes it, and skips
//     both when the connection's last taker was a lease of the same
//     tenant); a connection whose reset fails is closed, never handed out;
//   - the view keeps no idle connections (SetMaxIdleConns(0)), so each
//     connection it gives back goes back to the shared pool at once, and
//     closing the view closes nothing shared.
//
// [Manager.Acquire] then calls PinConn with the tenant's view, and the
// lease runs all its SQL on the returned connection ([Lease.DB]); Release
// closes it, after closing what the lease left open on it. So a lease
// holds exactly one connection of the shared pool for its duration, a
// connection serves one lease at a time, and the scope is set at most
// once per lease. The Manager's own work (migrations through goose, which needs a
// *sql.DB) runs on the view, whose every connection is scoped the same
// way.
type ConnPinner interface {
	// PinConn returns one connection of db, a handle returned by Open,
	// scoped to its tenant: typically db.Conn(ctx), waiting for a free
	// connection of the shared pool until ctx ends. The Manager closes
	// the connection on [Lease.Release].
	PinConn(ctx context.Context, db *sql.DB) (*sql.Conn, error)
}
