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
//	s, err := schemastrategy.New(ctx, schemastrategy.Config{DSN: dsn, Roles: true})
//	// handle err
//	defer s.Close()
//	m, err := dbstrategy.NewManager(s,
//		dbstrategy.WithMigrations(migrationsFS), // its "postgres/" directory
//		dbstrategy.WithMaxConns(40),             // the shared pool's size
//	)
//	// handle err
//	defer m.Close()
//	err = m.Create(ctx, "acme") // CREATE SCHEMA "tenant_acme", then goose in it
//	lease, err := m.Acquire(ctx, "acme")
//	// handle err
//	defer lease.Release()
//	row := lease.DB().QueryRowContext(ctx, "SELECT name FROM users WHERE id = $1", id)
//
// Application code is the same as on every other strategy: it runs SQL on
// [dbstrategy.Lease.DB], with unqualified table names.
//
// # Schemas, the pool and the scope
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
// The strategy is a [dbstrategy.ConnPinner]: each lease pins one pooled
// connection for its duration. Taking it costs one round trip, a prepared
// statement that sets search_path to the tenant's schema followed by
// pg_temp (so a temporary table can never shadow a tenant's table) and,
// with [Config.Roles], the role; the same statement checks that the
// schema exists (a tenant dropped meanwhile gets [dbstrategy.ErrNotFound]).
// Releasing the lease closes what it left open (rows, statements, a
// transaction), then resets the session in one more round trip: SET
// SESSION AUTHORIZATION DEFAULT; RESET ROLE; RESET ALL; DISCARD TEMP;
// CLOSE ALL; UNLISTEN *; pg_advisory_unlock_all(). That is DISCARD ALL
// but for DEALLOCATE ALL (which would drop pgx's cached statements behind
// pgx's back, so that every later query fails), DISCARD PLANS and DISCARD
// SEQUENCES. A connection that is broken, still in a transaction, or
// whose reset fails is closed instead, so the pool destroys it: no
// connection goes back to the pool scoped to a tenant, after a query
// error, a cancelled context, a panic in the handler or a server restart
// alike. A lease therefore costs two round trips of its own; the scope is
// also set at the start of every connection, so even a connection that
// escaped the reset would be re-scoped before serving.
//
// # Statement caches
//
// pgx caches prepared statements per connection, by query text, across
// tenants. PostgreSQL plans a cached statement again when search_path has
// changed since it was planned, so the statement reads the tables of the
// tenant the connection now serves, never those it was prepared for. If
// the tables differ in shape (a fleet migration half done), PostgreSQL
// refuses with "cached plan must not change result type": outside a
// transaction the strategy runs the statement once more, prepared afresh;
// inside one (which the error aborts), the error wraps [ErrStalePlan],
// which a server should answer with 503 so the client retries.
// [dbstrategy.Lease.Stmt] works, preparing on the pinned connection, but
// saves nothing over plain queries here.
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
// pgstrategy with RoleSecret). What the reset on release always holds:
// whatever a lease did to its session, the next lease on that connection
// starts clean and scoped to its own tenant.
//
// The DSN's role needs CREATE on the database and, with Roles, SUPERUSER
// or CREATEROLE (without SUPERUSER, the strategy makes it a member of each
// tenant role, which SET ROLE requires). Roles live in the whole server:
// give each deployment a prefix of its own.
//
// # Poolers and Citus
//
// A lease keeps session state (search_path, role) on its connection for
// its duration, so the strategy needs session-level connections: connect
// it to PostgreSQL directly, or through PgBouncer in session pooling mode.
// PgBouncer in transaction (or statement) mode could run a lease's
// queries on different server connections, some scoped to another tenant,
// and is unsafe; PostgreSQL 18's search_path reporting lets a pooler track
// it, but not the role. Citus's schema-based sharding
// (citus.enable_schema_based_sharding = on, or citus_schema_distribute for
// existing schemas) distributes exactly these schemas, each tenant's
// tables placed together on one worker, with queries routed by
// search_path: a fleet that outgrows one server can move to Citus without
// changing the strategy, keeping the DSN on the coordinator.
//
// Migrations of one schema are serialized across processes by a session
// advisory lock derived from the schema's name ([Strategy.MigrationLocker]),
// so [dbstrategy.Manager.MigrateAll] migrates different schemas side by
// side. Each migration holds two connections of the pool (goose's lock,
// and its work), hence a budget of at least 2. PostgreSQL 13 or later is
// needed.
package schemastrategy
