package pgstrategy

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/jackc/pgx/v5"
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
// With [Config.RoleSecret], the template is owned by the DSN's role, PUBLIC
// may not connect to it, and migrate runs as the owner role (the prefix
// followed by "$owner", SET ROLE through the connection's role parameter),
// which may create objects in the template's database and schema public
// and so owns what the migrations make; every tenant role is a member of
// it.
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
	err := s.withLocks(ctx, func(conn *pgxpool.Conn) error {
		if s.roles != nil {
			if err := s.roles.ensureOwnerRole(ctx, conn); err != nil {
				return err
			}
		}
		if err := createDatabase(ctx, conn, s.template, emptyTemplate, ""); err != nil {
			return fmt.Errorf("create template: %w", err)
		}
		var as func(*pgxpool.Config)
		if s.roles != nil {
			if err := s.grantTemplate(ctx, conn); err != nil {
				return err
			}
			as = func(cfg *pgxpool.Config) { cfg.ConnConfig.RuntimeParams["role"] = s.roles.owner }
		}
		// Migrations may use more than one connection at a time (goose
		// can hold one for its lock and run migrations on another).
		db, err := s.open(ctx, s.template, max(s.maxConns, 2), as, nil)
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
	}, s.templateLock(false))
	if err != nil {
		return fmt.Errorf("pgstrategy: prepare template %q: %w", s.template, err)
	}
	return nil
}

// grantTemplate lets the owner role, and no one else but the template's
// owner, use the template: PUBLIC loses CONNECT and TEMPORARY, the owner
// role gets CREATE and TEMPORARY on the database (as a tenant role has on
// the database it owns, so that migrations that pass on the template pass
// on tenants too) and CREATE on schema public. Database privileges are not
// copied into tenant databases; the schema privilege is, harmlessly, since
// every tenant role is a member of the owner role anyway.
func (s *Strategy) grantTemplate(ctx context.Context, admin *pgxpool.Conn) error {
	tpl, owner := quote(s.template), quote(s.roles.owner)
	q := "REVOKE ALL ON DATABASE " + tpl + " FROM PUBLIC; GRANT CREATE, TEMPORARY ON DATABASE " + tpl + " TO " + owner
	if _, err := admin.Exec(ctx, q); err != nil {
		return fmt.Errorf("grant template: %w", err)
	}
	cfg := s.base.ConnConfig.Copy()
	cfg.Database = s.template
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("grant template: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), unlockTimeout)
		defer cancel()
		conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, "GRANT USAGE, CREATE ON SCHEMA public TO "+owner); err != nil {
		return fmt.Errorf("grant template: %w", err)
	}
	return nil
}

// advisoryLock names one advisory lock on the admin database.
type advisoryLock struct {
	key    int64
	shared bool
	what   string // for errors: "template", "tenant"
}

// templateLock is the lock that keeps template migrations and copies of
// the template apart.
func (s *Strategy) templateLock(shared bool) advisoryLock {
	return advisoryLock{key: s.lockKey, shared: shared, what: "template"}
}

// tenantLock is the lock that serializes the role and database setup of
// the tenant database name.
func (s *Strategy) tenantLock(name string) advisoryLock {
	return advisoryLock{key: tenantLockKey(name), what: "tenant"}
}

// withLocks runs fn on an admin connection that holds the advisory locks,
// taken in order. They are session locks, released when fn returns, or
// with the session if releasing fails. Callers take a tenant lock before
// the template lock, never after, so that no two callers wait on each
// other.
func (s *Strategy) withLocks(ctx context.Context, fn func(*pgxpool.Conn) error, locks ...advisoryLock) error {
	conn, err := s.admin.Acquire(ctx)
	if err != nil {
		return err
	}
	for _, l := range locks {
		q := "SELECT pg_advisory_lock($1)"
		if l.shared {
			q = "SELECT pg_advisory_lock_shared($1)"
		}
		if _, err := conn.Exec(ctx, q, l.key); err != nil {
			// After a failed or cancelled wait it is unclear whether the
			// lock was granted: end the session, which releases it, and
			// the ones taken before, in any case.
			discard(conn)
			return fmt.Errorf("lock %s: %w", l.what, err)
		}
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), unlockTimeout)
		defer cancel()
		for i := len(locks) - 1; i >= 0; i-- {
			q := "SELECT pg_advisory_unlock($1)"
			if locks[i].shared {
				q = "SELECT pg_advisory_unlock_shared($1)"
			}
			var released bool
			if err := conn.QueryRow(uctx, q, locks[i].key).Scan(&released); err != nil || !released {
				discard(conn)
				return
			}
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
