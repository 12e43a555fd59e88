package schemastrategy

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Spares (dbstrategy.Sparer): a spare is a schema made and migrated before
// its tenant exists, then renamed to the tenant's schema by ClaimSpare.
// Its names start with the prefix and a '-', which no tenant key can start
// with (dbstrategy.ValidateKey), so no tenant's name is ever a spare's:
//
//	<prefix>-make-v<version>-<hex>   the schema while it is made and migrated
//	<prefix>-spare-v<version>-<hex>  the schema once ready; with Roles, also
//	                                 its role from the start, owner of the
//	                                 schema and of what the migrations made
//
// A schema gets its ready name, the only one ClaimSpare looks for, in one
// rename after its migrations returned, so a claim never sees a spare
// half migrated.

// spareLockSQL takes a transaction advisory lock on a spare's name without
// waiting: two claims never rename one spare, and a claim skips a spare
// another claim holds.
const spareLockSQL = `SELECT pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtextextended('tenantkit/schemastrategy spare' || $1, 0))`

// lockSpare takes the spare's lock in tx without waiting, then looks for
// the spare afresh, and reports whether it holds a spare that still
// exists: a claim that held it and committed has renamed it by then.
func lockSpare(ctx context.Context, tx pgx.Tx, spare string) (bool, error) {
	var locked, exists bool
	if err := tx.QueryRow(ctx, spareLockSQL, pgx.QueryExecModeSimpleProtocol, spare).Scan(&locked); err != nil {
		return false, fmt.Errorf("lock a spare: %w", err)
	}
	if !locked {
		return false, nil
	}
	err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_catalog.pg_namespace WHERE nspname = $1)",
		pgx.QueryExecModeSimpleProtocol, spare).Scan(&exists)
	return exists, err
}

// spareBase returns the start of the ready names of version's spares.
func (s *Strategy) spareBase(version int64) string {
	return s.prefix + "-spare-v" + strconv.FormatInt(version, 10) + "-"
}

// MakeSpare makes one spare schema for [dbstrategy.Sparer]: with
// [Config.Roles] its role first, then the schema under a name of its own
// that no claim looks at, then it opens a handle to it, calls migrate on
// it, and renames the schema to a name ClaimSpare looks for. On error it
// drops what it made, with a context of its own if ctx is done.
func (s *Strategy) MakeSpare(ctx context.Context, version int64, migrate func(ctx context.Context, db *sql.DB) error) error {
	if migrate == nil {
		return errors.New("schemastrategy: make a spare: nil migrate")
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return fmt.Errorf("schemastrategy: make a spare: %w", err)
	}
	suffix := strconv.FormatInt(version, 10) + "-" + hex.EncodeToString(b[:])
	making, ready := s.prefix+"-make-v"+suffix, s.prefix+"-spare-v"+suffix
	role := "none"
	if s.roles {
		role = ready
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("schemastrategy: make a spare: %w", err)
	}
	// Once it has a connection, the schema is made whole or not at all,
	// whatever ctx does: a cancel closes the connection, and one closed
	// after its COMMIT went out leaves the server to commit it after
	// dropSpare below has looked for the schema, which would then stay
	// half made. Waiting for the connection still ends with ctx.
	sent := false
	err := s.withConn(ctx, func(conn *pgx.Conn) error {
		sent = true
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), resetTimeout)
		defer cancel()
		return pgx.BeginFunc(cctx, conn, func(tx pgx.Tx) error {
			return s.create(cctx, tx, making, role)
		})
	})
	if err != nil && !sent { // nothing was made
		return fmt.Errorf("schemastrategy: make a spare: %w", err)
	}
	if err == nil {
		db := sql.OpenDB(newTenantConnector(s, "spare "+ready, making, role, s.opens.Add(1)))
		db.SetMaxIdleConns(0)
		err = migrate(ctx, db)
		if cerr := db.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("close: %w", cerr)
		}
	}
	if err == nil {
		err = s.withConn(ctx, func(conn *pgx.Conn) error {
			_, err := conn.Exec(ctx, "ALTER SCHEMA "+quote(making)+" RENAME TO "+quote(ready), pgx.QueryExecModeSimpleProtocol)
			return err
		})
	}
	if err != nil {
		s.dropSpare(ctx, making, role)
		return fmt.Errorf("schemastrategy: make a spare: %w", err)
	}
	return nil
}

// dropSpare drops the schema name and, with roles, the role role,
// ignoring errors: it cleans up after a spare that failed.
func (s *Strategy) dropSpare(ctx context.Context, name, role string) {
	if ctx.Err() != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), resetTimeout)
		defer cancel()
	}
	_ = s.withConn(ctx, func(conn *pgx.Conn) error {
		_, err := conn.Exec(ctx, s.dropSQL(name, role), pgx.QueryExecModeSimpleProtocol)
		return err
	})
}

// ClaimSpare renames a ready spare of version to the tenant's schema (and,
// with [Config.Roles], its role to the tenant's role), in one transaction
// under the tenant's lock, for [dbstrategy.Sparer]. It reports false,
// changing nothing, if the tenant's schema (with Roles, or its role) exists already or no
// spare of version is ready; spares that other claims hold are skipped.
func (s *Strategy) ClaimSpare(ctx context.Context, tenantID string, version int64) (bool, error) {
	name, err := s.SchemaName(tenantID)
	if err != nil {
		return false, err
	}
	claimed := false
	err = s.withConn(ctx, func(conn *pgx.Conn) error {
		return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, tenantLockSQL, pgx.QueryExecModeSimpleProtocol, name); err != nil {
				return fmt.Errorf("lock: %w", err)
			}
			q := "SELECT EXISTS (SELECT FROM pg_catalog.pg_namespace WHERE nspname = $1)"
			if s.roles {
				q += " OR EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = $1)"
			}
			var taken bool
			err := tx.QueryRow(ctx, q, pgx.QueryExecModeSimpleProtocol, name).Scan(&taken)
			if err != nil || taken {
				return err
			}
			candidates, err := s.listNames(ctx, tx, s.spareBase(version), false)
			if err != nil {
				return err
			}
			for _, spare := range candidates {
				ok, err := lockSpare(ctx, tx, spare)
				if err != nil {
					return err
				}
				if !ok {
					continue
				}
				q := "ALTER SCHEMA " + quote(spare) + " RENAME TO " + quote(name)
				if s.roles {
					q += "; ALTER ROLE " + quote(spare) + " RENAME TO " + quote(name)
				}
				if _, err := tx.Exec(ctx, q, pgx.QueryExecModeSimpleProtocol); err != nil {
					return fmt.Errorf("rename spare %q: %w", spare, err)
				}
				claimed = true
				return nil
			}
			return nil
		})
	})
	if err != nil {
		return false, fmt.Errorf("schemastrategy: claim a spare for tenant %q: %w", tenantID, err)
	}
	return claimed, nil
}

// Spares reports how many spares of version are ready to claim, for
// [dbstrategy.Sparer].
func (s *Strategy) Spares(ctx context.Context, version int64) (int, error) {
	var n int
	err := s.withConn(ctx, func(conn *pgx.Conn) error {
		return conn.QueryRow(ctx, "SELECT count(*) FROM pg_catalog.pg_namespace WHERE starts_with(nspname::text, $1)",
			pgx.QueryExecModeSimpleProtocol, s.spareBase(version)).Scan(&n)
	})
	if err != nil {
		return 0, fmt.Errorf("schemastrategy: count spares: %w", err)
	}
	return n, nil
}

// DropOldSpares drops the ready spares of versions below version (with
// [Config.Roles], their roles too), for [dbstrategy.Sparer], each in a
// transaction under the spare's lock taken without waiting, so a spare
// that a claim holds is skipped, and reports how many it dropped. Spares
// being made ("-make-") are left alone.
func (s *Strategy) DropOldSpares(ctx context.Context, version int64) (int, error) {
	base := s.prefix + "-spare-v"
	var names []string
	err := s.withConn(ctx, func(conn *pgx.Conn) (err error) {
		names, err = s.listNames(ctx, conn, base, false)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("schemastrategy: drop old spares: %w", err)
	}
	dropped := 0
	for _, name := range names {
		digits, _, ok := strings.Cut(strings.TrimPrefix(name, base), "-")
		v, err := strconv.ParseInt(digits, 10, 64)
		if !ok || err != nil || v >= version {
			continue
		}
		err = s.withConn(ctx, func(conn *pgx.Conn) error {
			return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
				if ok, err := lockSpare(ctx, tx, name); err != nil || !ok {
					return err
				}
				if _, err := tx.Exec(ctx, s.dropSQL(name, name), pgx.QueryExecModeSimpleProtocol); err != nil {
					return err
				}
				dropped++
				return nil
			})
		})
		if err != nil {
			return dropped, fmt.Errorf("schemastrategy: drop old spare %q: %w", name, err)
		}
	}
	return dropped, nil
}

// DropSpares drops every spare of this prefix, of every version, ready or
// being made (with [Config.Roles], their roles too), and reports how many
// names (schemas and roles) it dropped. Run it when a deployment stops using spares
// ([dbstrategy.WithSpares]), while no process of the prefix makes any: a
// spare being made that it drops fails its maker.
func (s *Strategy) DropSpares(ctx context.Context) (int, error) {
	var names []string
	err := s.withConn(ctx, func(conn *pgx.Conn) (err error) {
		names, err = s.listNames(ctx, conn, s.prefix+"-", s.roles)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("schemastrategy: drop spares: %w", err)
	}
	// "-make-" sorts before "-spare-": a schema being made goes before
	// the role that owns it.
	slices.Sort(names)
	dropped := 0
	var errs []error
	for _, name := range names {
		err := s.withConn(ctx, func(conn *pgx.Conn) error {
			_, err := conn.Exec(ctx, s.dropSQL(name, name), pgx.QueryExecModeSimpleProtocol)
			return err
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("schemastrategy: drop spare %q: %w", name, err))
			continue
		}
		dropped++
	}
	return dropped, errors.Join(errs...)
}
