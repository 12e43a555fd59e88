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

// DropDatabases drops every database on the server of dsn whose name
// starts with prefix (an exact prefix: LIKE's '_' and '%' mean nothing
// here), ending their sessions (DROP DATABASE ... WITH (FORCE)), at most
// parallel at a time (at least 1). It never drops the database dsn names.
// It tries every database and returns the errors joined.
//
// Each DROP DATABASE waits for a checkpoint, which takes long on a busy
// server; drops in parallel share checkpoints, so a test that made
// hundreds of databases cleans up several times faster than one drop at a
// time. Give ctx minutes, not seconds.
func DropDatabases(ctx context.Context, dsn, prefix string, parallel int) error {
	if prefix == "" {
		return errors.New("pgtest: DropDatabases: empty prefix")
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
			quoted := `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
			if _, err := pool.Exec(ctx, `DROP DATABASE IF EXISTS `+quoted+` WITH (FORCE)`); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("pgtest: drop %s: %w", quoted, err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
