package schemastrategy

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/tenantkit/tenantkit/dbstrategy"
)

// tenantConnector is the driver.Connector of a tenant's handle: it takes
// a connection from the shared pool and scopes it to the tenant.
type tenantConnector struct {
	s          *Strategy
	tenant     string
	schema     string
	searchPath string // quoted schema, then pg_temp
	role       string // the tenant's role, or "none"
}

// Connect takes a connection of the shared pool, waiting for one until
// ctx ends, and scopes it in one round trip. A connection that fails to
// scope because it is broken (after a server restart, say) is discarded
// and another taken, up to the pool's size; a tenant whose schema is gone
// gets an error wrapping [dbstrategy.ErrNotFound].
func (c *tenantConnector) Connect(ctx context.Context) (driver.Conn, error) {
	if c.s.closed.Load() {
		return nil, ErrClosed
	}
	c.s.mu.Lock()
	connector, tries := c.s.connector, int(c.s.maxConns)+1
	c.s.mu.Unlock()
	for i := 0; ; i++ {
		dc, err := connector.Connect(ctx)
		if err != nil {
			return nil, err
		}
		sc := dc.(*stdlib.Conn)
		var path, role string
		err = sc.Conn().QueryRow(ctx, scopeSQL, c.searchPath, c.role, c.schema).Scan(&path, &role)
		switch {
		case err == nil:
			return &scopedConn{Conn: sc}, nil
		case errors.Is(err, pgx.ErrNoRows):
			_ = sc.Close() // nothing was set: back to the pool as it came
			return nil, fmt.Errorf("schemastrategy: tenant %q: %w", c.tenant, dbstrategy.ErrNotFound)
		case hasCode(err, codeInvalidParameter) && c.role != "none":
			_ = sc.Close() // the statement failed: nothing was set
			return nil, fmt.Errorf("schemastrategy: tenant %q: role: %w", c.tenant, err)
		}
		broken := sc.Conn().IsClosed()
		discard(sc)
		if !broken || i+1 >= tries || ctx.Err() != nil {
			return nil, fmt.Errorf("schemastrategy: scope a connection to tenant %q: %w", c.tenant, err)
		}
	}
}

// Driver returns stdlib's driver, for driver.Connector.
func (c *tenantConnector) Driver() driver.Driver { return stdlib.GetDefaultDriver() }

// discard closes the connection, so that the pool destroys it rather than
// taking it back, then gives it back.
func discard(sc *stdlib.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), resetTimeout)
	defer cancel()
	_ = sc.Conn().Close(ctx)
	_ = sc.Close()
}

// scopedConn is a connection of the shared pool scoped to one tenant.
// Every method but Close, QueryContext and ExecContext is stdlib's.
type scopedConn struct {
	*stdlib.Conn
}

// Close resets the connection's session and gives it back to the shared
// pool, or, if it is broken, in a transaction, or the reset fails,
// closes it so that the pool destroys it: a connection never goes back
// still scoped to a tenant. database/sql calls it when a *sql.Conn (a
// lease) is closed, and for every connection the handle gives back.
func (c *scopedConn) Close() error {
	pc := c.Conn.Conn()
	if pc.IsClosed() || pc.PgConn().IsBusy() || pc.PgConn().TxStatus() != 'I' {
		discard(c.Conn)
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), resetTimeout)
	_, err := pc.Exec(ctx, resetSQL)
	cancel()
	if err != nil {
		discard(c.Conn)
		return nil // the connection is gone, which is what a failed reset asks for
	}
	return c.Conn.Close()
}

// QueryContext is stdlib's, retrying once, outside a transaction, a query
// refused because its cached plan would change result type (pgx has
// dropped the statement from its cache by then, so the retry prepares it
// again); the error of a second refusal wraps [ErrStalePlan].
func (c *scopedConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	rows, err := c.Conn.QueryContext(ctx, query, args)
	if isStalePlan(err) && c.Conn.Conn().PgConn().TxStatus() == 'I' {
		rows, err = c.Conn.QueryContext(ctx, query, args)
	}
	if isStalePlan(err) {
		err = fmt.Errorf("%w: %w", ErrStalePlan, err)
	}
	return rows, err
}

// ExecContext is stdlib's, with the retry of QueryContext.
func (c *scopedConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	res, err := c.Conn.ExecContext(ctx, query, args)
	if isStalePlan(err) && c.Conn.Conn().PgConn().TxStatus() == 'I' {
		res, err = c.Conn.ExecContext(ctx, query, args)
	}
	if isStalePlan(err) {
		err = fmt.Errorf("%w: %w", ErrStalePlan, err)
	}
	return res, err
}

// isStalePlan reports whether err is PostgreSQL's "cached plan must not
// change result type". The SQLSTATE (0A000, feature_not_supported) is
// shared with other errors, so the message is checked too.
func isStalePlan(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == codeFeatureNotSupp && strings.Contains(pgErr.Message, "cached plan must not change result type")
}
