// Package dbstrategy opens, caches, budgets and migrates one database
// handle per tenant.
//
// A [Strategy] decides where a tenant's data lives: one SQLite file per
// tenant (package sqlitestrategy) or one PostgreSQL database per tenant
// (package pgstrategy). It creates, opens and drops tenant databases and
// names their SQL dialect; that is all a new backend writes.
//
// A [Manager] sits on top and is what an application uses: it hands out
// leases on a tenant's *sql.DB, keeps a bounded set of handles open (least
// recently used first out, never a leased one), keeps the process under a
// total connection budget, closes idle handles, single-flights concurrent
// opens of one tenant, and applies goose migrations per tenant.
//
// Tenant keys are checked by [ValidateKey] (^[a-z0-9][a-z0-9_-]{0,47}$, the
// same set as package tenancy's default hint validator) before any of them
// reaches a strategy, since they become file names and database
// identifiers.
//
// # Configuration
//
// Every configuration error, of [NewManager]'s options and of the
// strategies' constructors, wraps [ErrInvalidConfig], and is returned at
// construction, never later. Duration options follow one rule: 0 turns the
// feature off, a negative duration is invalid. In a strategy's Config
// struct, the zero value of a field means its default (the strategies'
// Default* constants).
//
// # Usage
//
//	m, err := sqlitestrategy.NewManager(sqlitestrategy.Config{Dir: "data/tenants"},
//		dbstrategy.WithMigrations(migrationsFS), // embed.FS with sqlite3/ and postgres/
//		dbstrategy.WithMaxOpen(256),
//	)
//	// handle err
//	defer m.Close()
//
//	err = m.Create(ctx, "acme") // once, when the tenant signs up: create + migrate
//
//	// Per request, around the queries (not around password hashing):
//	err = m.Do(ctx, "acme", func(ctx context.Context, db dbstrategy.DB) error {
//		return db.QueryRowContext(ctx, "SELECT name FROM users WHERE id = $1", id).Scan(&name)
//	}) // errors.Is(err, dbstrategy.ErrNotFound) for an unknown tenant
//
// [Manager.Do] acquires a [Lease], runs the function with the lease's
// [DB] and releases the lease, even on a panic. For more control, take
// the lease yourself:
//
//	lease, err := m.Acquire(ctx, "acme")
//	if err != nil {
//		return err
//	}
//	defer lease.Release()
//	row := lease.DB().QueryRowContext(ctx, "SELECT name FROM users WHERE id = $1", id)
//
// A query run on every request can use a statement prepared once per
// handle connection: lease.Stmt(ctx, query) (see [Lease.Stmt]). Work for
// every tenant (jobs, maintenance) runs through [Manager.ForEach], with
// bounded parallelism, progress and an error per tenant.
// [Manager.Evict] closes one tenant's handle, once its leases are
// released, so that the next Acquire opens it anew: after a move changed
// where a routing strategy (package placement) opens the tenant.
//
// Each strategy package has a NewManager function (sqlitestrategy,
// pgstrategy, schemastrategy): its New followed by [NewManager], with
// [WithCloseStrategy](true) so that closing the Manager closes the
// strategy. Call New and NewManager yourself to keep the strategy.
//
// dbstrategy does not import package tenancy: a handler passes the ID of
// the tenant that tenancy's middleware resolved (tenancy.FromContext), which
// is a key [ValidateKey] accepts.
//
// # Errors over HTTP
//
// [HTTPStatus] maps this package's errors to an HTTP status and a fixed
// message (404 for a tenant without a database, 503 with Retry-After for
// a schema behind its migrations, a closed Manager or a wait that ran out
// of time, 500 for bugs), and [ProblemHandler] answers them as
// application/problem+json, passing other errors on, in the shape of the
// tenancy and auth packages' handlers:
//
//	problems := tenancy.ProblemHandler(log, auth.ProblemHandler(log, dbstrategy.ProblemHandler(log, appErrors)))
//
// # Budgets and waiting
//
// [WithMaxOpen] bounds the open handles (by default the strategy's own
// limit, [HandleLimiter]: sqlitestrategy sizes it by memory);
// [WithMaxConns] bounds the server connections they may hold together, for
// a strategy whose handles hold some ([ConnLimiter]: pgstrategy). A tenant whose
// handle is open is leased at once, whatever the load. A tenant whose
// handle is not open takes a free slot, or closes an unleased handle
// (segmented LRU: tenants used once go before tenants used again, and a
// tenant evicted lately comes back among the busy ones; see [Manager]), or
// waits first come first served until a lease is released:
// so a request never fails because of the budget, it waits until its
// context ends.
//
// # Migrations
//
// Migrations are goose v3 SQL files in an fs.FS with one directory per
// dialect ("sqlite3/", "postgres/"). Each Manager builds its goose
// providers with the global registry disabled and never lets goose close a
// handle. [NewManager] checks the files as goose will read them, and fails
// naming the file and the rule. [Manager.Migrate] migrates one tenant,
// [Manager.MigrateAll] the fleet with bounded parallelism and an error per
// tenant. [WithPendingMigrations] decides what Acquire does about a tenant
// whose schema is behind: lease it anyway (the default), refuse it with a
// *[SchemaBehindError], or migrate it first; the check runs once per
// handle open.
package dbstrategy
