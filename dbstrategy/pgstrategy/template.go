package pgstrategy

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
)

// PrepareTemplate makes sure the template database exists and is migrated,
// so that [Strategy.Create] can copy it instead of leaving the migrations to
// run on every new tenant. It creates the template (from template0) if it
// is missing, opens it, calls migrate on it (migrate may be nil), and
// closes it: every connection to the template is closed before
// PrepareTemplate returns, because PostgreSQL refuses to copy a database
// others are connected to. migrate must not use db after it returns.
//
// The template is named after the prefix followed by "$template" (for the
// default prefix, "tenant_$template"); no tenant key can produce that
// name. PrepareTemplate may be called again, for instance after new
// migrations were added: it migrates the existing template forward.
//
// PrepareTemplate holds an exclusive advisory lock (on the admin database)
// while it works, and Create from the template holds the same lock shared,
// so template migrations never run while a tenant is copied, across
// processes too. Concurrent calls are safe: they run one after another.
// Until one call succeeds, Create makes empty databases.
func (s *Strategy) PrepareTemplate(ctx context.Context, migrate func(ctx context.Context, db *sql.DB) error) error {
	if s.closed.Load() {
		return ErrClosed
	}
	err := s.withLock(ctx, false, func(conn *pgxpool.Conn) error {
		if err := createDatabase(ctx, conn, s.template, emptyTemplate); err != nil {
			return fmt.Errorf("create template: %w", err)
		}
		// Migrations may use more than one connection at a time (goose
		// can hold one for its lock and run migrations on another).
		db, err := s.open(ctx, s.template, max(s.maxConns, 2))
		if err != nil {
			return fmt.Errorf("open template: %w", err)
		}
		if migrate != nil {
			err = migrate(ctx, db)
		}
		// Closing the handle closes the pool and every connection in it.
		if cerr := db.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("close template: %w", cerr)
		}
		if err != nil {
			return fmt.Errorf("migrate template: %w", err)
		}
		s.templateReady.Store(true)
		return nil
	})
	if err != nil {
		return fmt.Errorf("pgstrategy: prepare template %q: %w", s.template, err)
	}
	return nil
}

// withLock runs fn on an admin connection that holds the strategy's
// advisory lock, shared or exclusive. The lock is a session lock, so it is
// released when fn returns, or with the session if releasing fails.
func (s *Strategy) withLock(ctx context.Context, shared bool, fn func(*pgxpool.Conn) error) error {
	lock, unlock := "SELECT pg_advisory_lock($1)", "SELECT pg_advisory_unlock($1)"
	if shared {
		lock, unlock = "SELECT pg_advisory_lock_shared($1)", "SELECT pg_advisory_unlock_shared($1)"
	}
	conn, err := s.admin.Acquire(ctx)
	if err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, lock, s.lockKey); err != nil {
		// After a failed or cancelled wait it is unclear whether the lock
		// was granted: end the session, which releases it in any case.
		discard(conn)
		return fmt.Errorf("lock template: %w", err)
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), unlockTimeout)
		defer cancel()
		var released bool
		if err := conn.QueryRow(uctx, unlock, s.lockKey).Scan(&released); err != nil || !released {
			discard(conn)
			return
		}
		conn.Release()
	}()
	return fn(conn)
}

// discard closes an admin connection instead of returning it to the pool.
func discard(conn *pgxpool.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), unlockTimeout)
	defer cancel()
	_ = conn.Hijack().Close(ctx) // the session ends either way
}
