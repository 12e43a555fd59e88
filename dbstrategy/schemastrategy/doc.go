// Package schemastrategy keeps each tenant in a PostgreSQL schema of its
// own, in one database, and serves every tenant from one shared pool of
// connections, as a [dbstrategy.Strategy] built on github.com/jackc/pgx/v5.
//
// A database per tenant (package pgstrategy) gives each tenant its own
// connections, so a tenant that is not connected costs a backend start
// (about 4 ms of CPU) on its next request, and a few dozen active tenants
// exhaust a connection budget. Here no connection belongs to a tenant: a
// cold tenant costs what a warm one does. This is the model of
// django-tenants, Apartment and Citus's schema-based sharding, for fleets
// of thousands of tenants.
//
// # Usage
//
//	m, err := schemastrategy.NewManager(ctx, schemastrategy.Config{DSN: dsn, Roles: true},
//		dbstrategy.WithMigrations(migrationsFS), // its "postgres/" directory
//		dbstrategy.WithMaxConns(40),             // the shared pool's size
//	)
//	// handle err
//	defer m.Close() // closes the strategy too
//	err = m.Create(ctx, "acme") // CREATE SCHEMA "tenant_acme", then goose in it
//	lease, err := m.Acquire(ctx, "acme")
//	// handle err
//	defer lease.Release()
//	row := lease.DB().QueryRowContext(ctx, "SELECT name FROM users WHERE id = $1", id)
//
// [NewManager] is [New] followed by [dbstrategy.NewManager] with
// [dbstrategy.WithCloseStrategy](true); call those two to keep the
// [*Strategy] (for its stats, or to close it yourself).
//
// Application code is the same as on every other strategy: it runs SQL on
// [dbstrategy.Lease.DB], with unqualified table names.
//
// # Schemas and the pool
//
// A tenant's schema is named by a prefix (default "tenant_") followed by
// its key, which [dbstrategy.ValidateKey] has checked; names are always
// quoted. [Strategy.Create] runs CREATE SCHEMA IF NOT EXISTS, and the
// Manager then runs the goose migrations in it, goose's version table
// included; [Strategy.Drop] runs DROP SCHEMA ... CASCADE.
//
// The strategy owns one pgxpool.Pool, made on first use, whose size is
// the connection budget ([Strategy.SetConnBudget], which
// [dbstrategy.WithMaxConns] calls; [Config.MaxConns] otherwise): the
// process never holds more connections than that, whatever the number of
// tenants. database/sql sits on top of it through pgx's stdlib pool
// connector, because database/sql is the application's API ([dbstrategy.DB],
// *sql.Conn for a pinned lease) and goose's, while pgxpool gives the one
// shared, bounded, health-checked pool that database/sql cannot share
// between the tenants' *sql.DB views; connections keep pgx's statement
// cache (exec mode cache_statement).
//
// # Spares: creating a tenant by a rename
//
// Most of a tenant's creation is its migrations' DDL: each table and
// index a new file and a catalog entry. The strategy is a
// [dbstrategy.Sparer]: with [dbstrategy.WithSpares](n), the Manager keeps
// n schemas made and migrated ahead of time, by a goroutine of its own,
// and [dbstrategy.Manager.Create] renames one to the tenant's schema (with
// Roles, its role too) in one transaction under the tenant's lock,
// instead of running the migrations; it falls back to making the schema
// when none is ready. Spares are named "<prefix>-spare-v<version>-<hex>"
// (while they are migrated, "<prefix>-make-v..."): no tenant key starts
// with '-', so a spare never takes a tenant's name, and a process claims
// only spares of its own newest migration version. Two claims never get
// one spare (a transaction advisory lock per spare, taken without
// waiting). A process that dies while it makes one can leave a
// "-make-" schema behind; [Strategy.DropSpares] removes every spare of
// the prefix, for example when a deployment stops using them. Spares of
// older migration versions are dropped by the Manager of a newer release
// ([Strategy.DropOldSpares]) before it makes its own. As a spare is renamed
// after its migrations ran, migrations must not record the schema's name
// (SET search_path FROM CURRENT on a function, a default built from
// current_schema()).
//
// # Scope and reset
//
// The strategy is a [dbstrategy.ConnPinner]: each lease pins one pooled
// connection for its duration. The scope of a connection is its
// search_path, set to the tenant's schema followed by pg_temp (so a
// temporary table can never shadow a tenant's table), and, with
// [Config.Roles], its role. The reset undoes whatever a session may have
// changed: SET SESSION AUTHORIZATION DEFAULT; RESET ROLE; RESET ALL;
// DISCARD TEMP; DISCARD SEQUENCES; CLOSE ALL; UNLISTEN *;
// pg_advisory_unlock_all(). That is DISCARD ALL but for DEALLOCATE ALL
// (which would drop pgx's cached statements behind pgx's back, so that
// every later query fails) and DISCARD PLANS. Statements prepared by SQL
// (PREPARE, from a lease or a function it called) are checked for
// instead: one could stand in for a statement of pgx's cache, whose name
// follows from its text, and run as the next tenant. So are statements
// with a parameter of a type the new tenant cannot see (another tenant's
// domain or enum, which PostgreSQL keeps from when the statement was
// prepared). Wherever a connection changes tenant, under the new scope
// and before anything of the new taker runs, the check fails if the
// session holds one, and the taker drops every prepared statement
// (DEALLOCATE ALL through pgx, which clears pgx's cache too) and tries
// again. The scope also sets a fresh random token, which the guard
// checks, so a reset that failed half-way never passes for a whole one;
// seeds random() afresh; and drops notifications meant for the last
// taker.
//
// Both happen when a connection is taken from the shared pool, never when
// it is given back, and every taker goes through them (the pool's
// PrepareConn hook), which remembers on each connection what it was last
// scoped to and whether a lease has used it since:
//
//   - a lease of a tenant, on a connection whose last taker was a lease of
//     the same tenant, gets it as that lease left it: no round trip;
//   - a lease on any other connection gets it reset and scoped in the
//     same round trip as the lease's first query (below);
//   - every other use of a tenant's handle (goose's migrations,
//     [dbstrategy.Manager.Version]) gets it reset and scoped in one round
//     trip (one multi-statement query, which also checks that the schema
//     exists: a tenant dropped meanwhile gets [dbstrategy.ErrNotFound]);
//   - the strategy's own work on the pool (Create, Drop, Open's check)
//     gets it reset, in one round trip, unless nothing but that work has
//     used it since its last reset.
//
// So the reset always comes before a connection serves another tenant,
// or anything but a lease of its own tenant. Giving a connection back
// costs nothing; a connection that is broken, busy or still in a
// transaction is closed instead, so the pool destroys it, and so is one
// whose reset or scope fails in a round trip of its own (one that fails
// with a lease's first query stays, with the scope pending again, below):
// after a query error, a cancelled context, a panic in the handler or a
// server restart alike, no connection serves another tenant without the
// reset. A lease costs no round trip of its own: its tenant's previous
// lease left the connection (the common case under a skewed load, and
// for a one-tenant deployment), or its reset and scope go with its first
// query. A lease whose first call may send a simple-protocol message
// (ExecContext with no argument but pgx's options, BeginTx, Ping, a query
// in pgx's simple protocol or through a query rewriter, raw use through
// Unwrap) pays one round trip first, as does every lease over TLS (pgx's
// SCRAM channel binding needs the TLS connection itself, under which the
// scope would have to be written) or with a DSN whose default query mode
// is the simple protocol.
//
// How the scope goes with the first query: the connection's net.Conn,
// under pgx, writes the reset and the scope, as one simple query, in
// front of the lease's first message, then a guard statement that fails
// unless the session's search_path and role are the tenant's, then the
// lease's own extended-protocol messages. The reset and scope are a
// transaction of their own, committed before anything of the lease runs,
// so nothing the lease does (a ROLLBACK included) undoes them. The guard
// is in the lease's implicit transaction: if the scope failed (the schema
// dropped since, the role gone, the context cancelled), the server skips
// the lease's messages up to their Sync, so the lease's query fails, with
// [dbstrategy.ErrNotFound] when the schema is gone, and never runs on
// what the session was before; the scope is then sent again before the
// lease's next call. The responses to the reset, scope and guard are read
// off the stream before pgx sees it. [ConnStats] counts these scopes
// (Pipelined).
//
// What the skip leaves in place: session state that a tenant's lease
// changed (a setting, a temporary table, a session advisory lock never
// unlocked, even search_path or the role) is still there for that
// tenant's next lease on the connection, as on a pool of a database per
// tenant (package pgstrategy), which never resets a session. It never
// reaches another tenant. It gives a tenant's SQL nothing it could not do
// within one lease: SQL that sets search_path, or the role, to another
// tenant's reads that tenant within the same lease, and could instead
// leave lasting effects that no reset undoes (a trigger, a view in place
// of a table). A bug that sets the scope wrongly, though, lasts past its
// own request, for that tenant's leases on that connection, until
// another tenant or the strategy takes it; with [Config.Roles] its reads
// of another tenant's schema keep failing (see "Roles").
//
// # Connections kept per tenant
//
// The pool's idle connections are kept by the tenant they last served,
// and a lease takes, first, an idle connection its tenant's previous
// lease left: that lease's session, with no round trip, and with
// PostgreSQL's plans of the tenant's cached statements still valid (a
// search_path change makes PostgreSQL plan every cached statement again).
// Only when its tenant has none idle does a lease take the connection
// idle longest, of any tenant, reset and scoped, or, with none idle, a new
// connection while the pool has fewer than the budget. A lease that finds every
// connection in use waits, and a connection given back goes to a waiting
// lease of its own tenant before the others, but past the lease first in
// line at most 4 times, so that a busy tenant whose leases always wait
// cannot keep the connections from another tenant. So under a skewed load the
// busy tenants keep connections of their own, while the pool stays one
// budget: with 200 tenants under Zipf(1.1), 64 goroutines and 40
// connections, 0.56 leases in one switch the connection's tenant,
// against 0.93 when every lease takes the connection given back last, as
// pgxpool would (BenchmarkLeaseZipf). [ConnStats] counts the idle
// connections and the round trips that reset or scope one.
//
// The idle connections stay taken from the pgxpool under the strategy,
// so the strategy does the pool's idle work for them: it closes one idle
// for [Config.MaxConnIdleTime], and pings one idle for over a second
// before a lease gets it with no round trip.
//
// # Statement caches
//
// pgx caches prepared statements per connection, by query text, across
// tenants. PostgreSQL plans a cached statement again when search_path has
// changed since it was planned, so the statement reads the tables of the
// tenant the connection now serves, never those it was prepared for. If
// the tables differ in shape (a fleet migration half done), PostgreSQL
// refuses with "cached plan must not change result type", or, since it
// keeps the parameter types it resolved at the prepare, with "operator
// does not exist" (42883) or a type mismatch (42804) where a parameter's
// column has another type: outside a transaction the strategy runs the
// statement once more, prepared afresh; inside one (which the error
// aborts), the error wraps [ErrStalePlan], which a server should answer
// with 503 so the client retries. The type errors count only for a query
// that has run on the connection before; a query's first run fails them
// as its own.
//
// A statement prepared on a lease's handle ([dbstrategy.Lease.Stmt], or
// PrepareContext) sends nothing when prepared: its queries go through
// pgx's statement cache like plain ones, prepared once per connection and
// kept across leases, so it costs nothing over a plain query (an error in
// its SQL shows at its first Exec or Query).
//
// # Roles
//
// With [Config.Roles], each tenant has a NOLOGIN role named like its
// schema, which owns the schema and what the migrations create in it, and
// every lease runs as that role. A query that names another tenant's
// schema, or runs after search_path was changed to one, then fails with
// "permission denied" (SQLSTATE 42501) instead of reading its rows. That
// holds against routing mistakes and injected fragments of SQL that read.
// It cannot hold against SQL that changes the role itself: RESET ROLE,
// SET ROLE or set_config('role', ...) run on a lease make the session the
// pool's login role, or another tenant's, because PostgreSQL lets a
// session take any role its login role is a member of, and the pool's
// login role must be a member of every tenant's role. Only separate
// logins per tenant, that is separate connections, hold there (package
// pgstrategy with RoleSecret). What the reset always holds: whatever a
// lease did to its session, the connection's next use by another tenant,
// or by anything but a lease of the same tenant, starts clean and scoped
// to its own tenant.
//
// The DSN's role needs CREATE on the database and, with Roles, SUPERUSER
// or CREATEROLE (without SUPERUSER, the strategy makes it a member of each
// tenant role, which SET ROLE requires). Roles live in the whole server:
// give each deployment a prefix of its own.
//
// # Poolers and Citus
//
// The strategy keeps session state on a server connection: the scope
// (search_path, role) for a lease's duration, and, between leases, its
// memory of what each connection was scoped to. It needs every client
// connection to keep one server connection: connect it to PostgreSQL
// directly, or through a pooler in session mode (PgBouncer's pool_mode =
// session), with room for the strategy's whole budget. A pooler in
// transaction mode hands each transaction whichever server connection is
// free, so a lease's statements could run on a connection scoped to
// another tenant, or to none; in statement mode, a lease cannot even hold
// a transaction. PostgreSQL 18 reports search_path to the client, which
// lets a transaction pooler carry it from one server connection to the
// next (PgBouncer's track_extra_parameters), but not the role, nor
// temporary tables or locks, nor the strategy's memory of a connection's
// scope: transaction mode stays unsafe there too. pgx's statement cache
// needs session mode as well.
//
// [New] refuses what it can detect. A pooler, or any proxy that answers
// for PostgreSQL, sends the client a process ID of its own (PgBouncer, in
// every mode, a random cancel key) where a direct connection gets its
// backend's pg_backend_pid(): New compares the two, at no extra round
// trip, and refuses a DSN that goes through a pooler unless
// [Config.SessionPooler] is set. With it, New opens a second connection
// and checks that a connection's transactions stay on one backend while
// the other connection's transaction comes and goes between them; a
// pooler in transaction mode (which reuses the backend freed last, or
// first) or statement mode (which refuses the transaction) fails the
// check and is refused. It is checked against PgBouncer in session,
// transaction and statement mode (TestSessionPooler,
// TestTransactionPoolerRefused; they need a PgBouncer in each mode, so
// they run when TENANTKIT_TEST_PGBOUNCER_SESSION_DSN,
// TENANTKIT_TEST_PGBOUNCER_TRANSACTION_DSN and
// TENANTKIT_TEST_PGBOUNCER_STATEMENT_DSN name them, as the repository's
// CI script does). What it cannot see:
// a proxy that passes the server's process ID through (a TCP proxy, which
// is harmless), and a transaction pooler, with SessionPooler wrongly set,
// that hands out backends in another order or is kept busy by other
// clients. The check runs once, in New.
//
// Citus 12 and later shard by schema: with citus.enable_schema_based_sharding
// on (set it for the DSN's role or database, so that the CREATE SCHEMA of
// [Strategy.Create] makes a distributed schema), every table created in a
// schema is a single-shard table placed with the rest of its schema on
// one node, and citus_schema_distribute('tenant_acme') converts a schema
// made before. A query that touches the tables of one schema is routed
// whole to that node, names being resolved by search_path on the
// coordinator as usual, so the scope, the roles (Citus propagates CREATE
// ROLE and GRANT to the nodes) and goose's version table (a table of the
// schema, which moves with it) work unchanged; the rebalancer moves whole
// schemas (citus_rebalance_start, citus_schema_move). A fleet that
// outgrows one server keeps the strategy and points the DSN at the
// coordinator, whose connections the shared pool holds (Citus opens its
// own to the nodes, under citus.max_shared_pool_size). This is Citus's
// documented model, not tested here.
//
// Migrations of one schema are serialized across processes by a session
// advisory lock derived from the schema's name ([Strategy.MigrationLocker]),
// so [dbstrategy.Manager.MigrateAll] migrates different schemas side by
// side. Each migration holds two connections of the pool (goose's lock,
// and its work), hence a budget of at least 2. PostgreSQL 13 or later is
// needed.
package schemastrategy
