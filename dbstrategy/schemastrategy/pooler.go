package schemastrategy

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// poolerCheckTimeout bounds each step of checkSessionPooler.
const poolerCheckTimeout = 5 * time.Second

// behindProxy reports whether conn reaches PostgreSQL through a pooler or
// another proxy: the process ID in the server's BackendKeyData message is
// then the proxy's cancel key, not the backend's pg_backend_pid(), which
// a direct connection always has. PgBouncer, in every pool mode, sends a
// random key of its own.
func behindProxy(conn *pgx.Conn, backendPID uint32) bool {
	return conn.PgConn().PID() != backendPID
}

// checkSessionPooler checks, through a pooler, that one client connection
// keeps one backend from a transaction to the next while another client
// connection works between them: a holds a transaction, b begins one, the
// two commit in one order and then the other, and a's next transaction
// must run on a's backend. A pooler in transaction mode hands a's next
// transaction the backend it has most (PgBouncer's default) or least
// (server_round_robin) recently freed, which one of the two orders makes
// b's; in statement mode the transactions fail. It is a best effort: a
// transaction pooler that hands out backends otherwise, or that other
// clients keep busy, may pass it. It needs two server connections of the
// pooler, and each step fails after poolerCheckTimeout.
// Every error it returns wraps [dbstrategy.ErrInvalidConfig]: a pooler
// that fails the check (statement mode refuses transactions) is refused.
func checkSessionPooler(ctx context.Context, cfg *pgx.ConnConfig, a *pgx.Conn) error {
	if err := probeSessionPooler(ctx, cfg, a); err != nil {
		if errors.Is(err, errInvalidConfig) {
			return err
		}
		return fmt.Errorf("%w: the DSN goes through a pooler that failed the check for session mode (one in transaction or statement mode fails it): %w", errInvalidConfig, err)
	}
	return nil
}

func probeSessionPooler(ctx context.Context, cfg *pgx.ConnConfig, a *pgx.Conn) error {
	b, err := connectTimeout(ctx, cfg)
	if err != nil {
		return fmt.Errorf("a second connection: %w", err)
	}
	defer b.Close(context.WithoutCancel(ctx))
	for round, aFirst := range []bool{true, false} {
		before, err := simpleValue(ctx, a.PgConn(), "BEGIN; SELECT pg_catalog.pg_backend_pid()")
		if err != nil {
			return err
		}
		if _, err := simpleValue(ctx, b.PgConn(), "BEGIN; SELECT 1"); err != nil {
			return err
		}
		first, second := a, b
		if !aFirst {
			first, second = b, a
		}
		for _, c := range []*pgx.Conn{first, second} {
			if _, err := simpleValue(ctx, c.PgConn(), "COMMIT; SELECT 1"); err != nil {
				return err
			}
		}
		after, err := simpleValue(ctx, a.PgConn(), "SELECT pg_catalog.pg_backend_pid()")
		if err != nil {
			return err
		}
		if after != before {
			return fmt.Errorf("%w: the DSN goes through a pooler in transaction or statement mode, not session mode: one connection's transactions ran on backends %s and then %s (round %d)",
				errInvalidConfig, before, after, round+1)
		}
	}
	return nil
}

func connectTimeout(ctx context.Context, cfg *pgx.ConnConfig) (*pgx.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, poolerCheckTimeout)
	defer cancel()
	return pgx.ConnectConfig(ctx, cfg.Copy())
}

// simpleValue runs q with the simple protocol (a pooler in transaction
// mode may not keep prepared statements) and returns the one value of the
// last statement's result.
func simpleValue(ctx context.Context, conn *pgconn.PgConn, q string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, poolerCheckTimeout)
	defer cancel()
	results, err := conn.Exec(ctx, q).ReadAll()
	for _, r := range results {
		if err == nil {
			err = r.Err
		}
	}
	if err != nil {
		return "", fmt.Errorf("check the pooler: %q: %w", q, err)
	}
	if len(results) == 0 || len(results[len(results)-1].Rows) != 1 {
		return "", fmt.Errorf("check the pooler: %q: no value", q)
	}
	return string(results[len(results)-1].Rows[0][0]), nil
}

// backendPIDString formats a process ID as PostgreSQL prints it.
func backendPIDString(pid uint32) string { return strconv.FormatUint(uint64(pid), 10) }
