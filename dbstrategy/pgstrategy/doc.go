// Package pgstrategy keeps each tenant in its own PostgreSQL database, as a
// [dbstrategy.Strategy] built on github.com/jackc/pgx/v5.
//
// A [Strategy] talks to one server through an admin DSN whose role may
// CREATE DATABASE. A tenant's database is named by a prefix (default
// "tenant_") followed by its key, which [dbstrategy.ValidateKey] has
// checked; names are always quoted. [Strategy.Create] runs CREATE DATABASE,
// [Strategy.Drop] runs DROP DATABASE ... WITH (FORCE), and [Strategy.Open]
// hands out a *sql.DB backed by a pgx pool of its own, small and lazily
// filled, so that the [dbstrategy.Manager] can keep the server under its
// connection budget ([dbstrategy.ConnLimiter]). PostgreSQL 13 or later is
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
// # Ownership
//
// The Strategy owns its admin pool, which [Strategy.Close] closes. The
// caller (usually the Manager) owns every handle returned by Open; closing
// a handle closes its pgx pool. [Strategy.Pool] reaches that pool for
// features database/sql lacks; it stays owned by the handle.
//
// # Usage
//
//	s, err := pgstrategy.New(ctx, pgstrategy.Config{
//		DSN:      "postgres://app@db.internal:5432/postgres",
//		MaxConns: 4,
//	})
//	if err != nil {
//		return err
//	}
//	defer s.Close()
//
//	m, err := dbstrategy.NewManager(s,
//		dbstrategy.WithMigrations(migrations), // directory "postgres/" holds the goose migrations
//		dbstrategy.WithMaxConns(80),           // at most 20 tenant handles of 4 connections
//	)
//	if err != nil {
//		return err
//	}
//	defer m.Close()
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
package pgstrategy
