package pgtest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DropPrefix drops what a test made under prefix on the server of dsn:
// first every database whose name starts with prefix (an exact prefix:
// LIKE's '_' and '%' mean nothing here), ending their sessions (DROP
// DATABASE ... WITH (FORCE)), at most parallel at a time (at least 1); then
// every role whose name starts with prefix, such as pgstrategy's tenant
// roles. It never drops the database dsn names nor the role it logs in
// as. It tries everything and returns the errors joined.
//
// Each DROP DATABASE waits for a checkpoint, which takes long on a busy
// server; drops in parallel share checkpoints, so a test that made
// hundreds of databases cleans up several times faster than one drop at a
// time. Give ctx minutes, not seconds.
func DropPrefix(ctx context.Context, dsn, prefix string, parallel int) error {
	if prefix == "" {
		return errors.New("pgtest: DropPrefix: empty prefix")
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	cfg.MaxConns = int32(max(parallel, 1))
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	defer pool.Close()
	rows, err := pool.Query(ctx, `SELECT datname FROM pg_database
		WHERE starts_with(datname::text, $1) AND datname <> current_database() ORDER BY datname`, prefix)
	if err != nil {
		return fmt.Errorf("pgtest: list databases: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("pgtest: list databases: %w", err)
	}

	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	sem := make(chan struct{}, max(parallel, 1))
	for _, name := range names {
		sem <- struct{}{}
		wg.Add(1)
		go func() { // exits when its database is dropped (or the drop failed)
			defer wg.Done()
			defer func() { <-sem }()
			if _, err := pool.Exec(ctx, `DROP DATABASE IF EXISTS `+quote(name)+` WITH (FORCE)`); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("pgtest: drop %s: %w", quote(name), err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()

	// Roles last: a role that owns a database cannot be dropped before it.
	rows, err = pool.Query(ctx, `SELECT rolname FROM pg_roles
		WHERE starts_with(rolname::text, $1) AND rolname <> current_user ORDER BY rolname`, prefix)
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("pgtest: list roles: %w", err))...)
	}
	roles, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("pgtest: list roles: %w", err))...)
	}
	for _, role := range roles {
		if _, err := pool.Exec(ctx, `DROP ROLE IF EXISTS `+quote(role)); err != nil {
			errs = append(errs, fmt.Errorf("pgtest: drop role %s: %w", quote(role), err))
		}
	}
	return errors.Join(errs...)
}

func quote(ident string) string { return `"` + strings.ReplaceAll(ident, `"`, `""`) + `"` }
