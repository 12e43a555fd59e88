// Package pgstrategy keeps each tenant in its own PostgreSQL database, as a
// [dbstrategy.Strategy] built on github.com/jackc/pgx/v5.
//
// A [Strategy] talks to one server through an admin DSN whose role may
// CREATE DATABASE. A tenant's database is named by a prefix (default
// "tenant_") followed by its key, which [dbstrategy.ValidateKey] has
// checked; names are always quoted. [Strategy.Create] runs CREATE DATABASE,
// [Strategy.Drop] runs DROP DATABASE ... WITH (FORCE), and [Strategy.Open]
// hands out a *sql.DB backed by a pgx pool of its own, small and lazily
// filled. The strategy keeps the server under a [dbstrategy.Manager]'s
// connection budget itself ([dbstrategy.ConnBudgeter],
// [Strategy.SetConnBudget]), counting the connections the pools really
// hold. Pools keep pgx's default exec mode, cache_statement: each query is
// prepared once per connection. With [Config.RoleSecret],
// each tenant database also gets a login role of its own, the only one
// that handles connect as (see "Tenant roles"). PostgreSQL 13 or later is
// needed.
//
// # Templates
//
// With migrations configured, the Manager calls [Strategy.PrepareTemplate]
// before its first Create: the strategy migrates a template database once
// and then creates each tenant as a copy of it, which is faster than
// running the migrations on every new tenant. Advisory locks keep template
// migrations and copies of the template apart, across processes too.
//
// # Tenant roles
//
// By default every handle connects with the DSN's credentials, so a handle
// opened for the wrong tenant (a routing bug) could read any tenant's
// data. With [Config.RoleSecret] set, each tenant also gets its own login
// role, named like its database (roles and databases are separate
// namespaces), and:
//
//   - the tenant's database is owned by its role, and PUBLIC keeps no
//     privilege on it, so only that role (and the DSN's role and
//     superusers) may connect to it: another tenant's role gets
//     "permission denied for database" (SQLSTATE 42501);
//   - [Strategy.Open] connects as the tenant's role, with a password
//     derived from RoleSecret and the role's name (HMAC-SHA256); the
//     server only ever receives its SCRAM-SHA-256 verifier, computed
//     here, never the password, not even in its statement log;
//   - the template is migrated as a shared NOLOGIN role, the prefix
//     followed by "$owner", which therefore owns the objects every tenant
//     database starts with. Tenant roles are members of it (INHERIT), so
//     each may use and alter those objects in its own database, and
//     migrations run through a handle from Open (as the Manager runs them
//     on existing tenants) work as they do on the template. Membership
//     gives no way into another tenant's database: CONNECT is the barrier.
//     The alternative, handing each copy's objects to the tenant's role
//     with REASSIGN OWNED, would cost a connection to every new database
//     and work growing with the schema;
//   - tenant roles are LOGIN INHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE
//     NOREPLICATION NOBYPASSRLS, without a CONNECTION LIMIT: the limit
//     counts the sessions of every process on the server, which one
//     Strategy cannot know; the Manager's connection budget bounds them.
//
// The DSN's role then needs SUPERUSER, or CREATEROLE and CREATEDB; without
// SUPERUSER, the strategy makes it a member of the roles it creates, which
// PostgreSQL requires to create, alter and drop databases those roles
// own. Migrations run without superuser rights: an extension that is not
// trusted must be installed beforehand. The server's pg_hba.conf must let
// tenant roles log in with a password (scram-sha-256, or md5, which uses
// SCRAM for a SCRAM verifier). Creating a tenant costs about 4 ms more
// (roles, verifier, grants). [Strategy.Create] sets an existing role's
// attributes and password again, so after RoleSecret changes, calling
// Create for each tenant brings the roles up to date. Tenants created
// without RoleSecret are not converted: their objects stay owned by the
// DSN's role.
//
// Other databases on the server, such as the maintenance database
// postgres, template1 or an application's own, keep their defaults: PUBLIC
// may connect to them, and so may tenant roles, which could then list every
// database and role and take the advisory locks that provisioning waits
// on (they live in the DSN's database). [Strategy.RestrictConnect] revokes
// CONNECT from PUBLIC on the DSN's database and the databases it is given,
// so that a tenant role connects to its own database and nothing else.
// pg_hba.conf's samerole keyword can add the same rule to the server's
// own configuration, since a tenant's database is named like its role.
//
// # Ownership
//
// The Strategy owns its admin pool, which [Strategy.Close] closes. The
// caller (usually the Manager) owns every handle returned by Open; closing
// a handle closes its pgx pool. [Strategy.Pool] reaches that pool for
// features database/sql lacks; it stays owned by the handle.
//
// # Usage
//
//	cfg := pgstrategy.Config{
//		DSN:        "postgres://app@db.internal:5432/postgres",
//		MaxConns:   4,
//		RoleSecret: roleSecret, // optional: a login role per tenant, 32 random bytes or more
//	}
//	m, err := pgstrategy.NewManager(ctx, cfg,
//		dbstrategy.WithMigrations(migrations), // directory "postgres/" holds the goose migrations
//		dbstrategy.WithMaxConns(80),           // at most 80 tenant connections, however many handles
//	)
//	if err != nil {
//		return err
//	}
//	defer m.Close() // closes the strategy too
//
//	if err := m.Create(ctx, "acme"); err != nil { // a copy of the migrated template
//		return err
//	}
//	lease, err := m.Acquire(ctx, "acme")
//	if err != nil {
//		return err
//	}
//	defer lease.Release()
//	rows, err := lease.DB().QueryContext(ctx, "SELECT id, body FROM notes")
//
// [NewManager] is [New] followed by [dbstrategy.NewManager] with
// [dbstrategy.WithCloseStrategy](true); call those two to keep the
// [*Strategy] (for [Strategy.Pool], or to close it yourself).
package pgstrategy
