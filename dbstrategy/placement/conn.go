package placement

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/tenantkit/tenantkit/dbstrategy"
)

// cleanupTimeout bounds a rollback, or a close, after the caller's context
// has ended.
const cleanupTimeout = 5 * time.Second

// withConn opens the tenant's handle on s, takes one connection of it (the
// way a lease does: through PinConn for a ConnPinner), and runs fn on the
// pgx connection behind it. fn must leave the connection outside a
// transaction. The handle is closed before withConn returns.
func withConn(ctx context.Context, s dbstrategy.Strategy, tenantID string, fn func(*pgx.Conn) error) error {
	db, err := s.Open(ctx, tenantID)
	if err != nil {
		return err
	}
	defer db.Close()
	var c *sql.Conn
	if p, ok := s.(dbstrategy.ConnPinner); ok {
		c, err = p.PinConn(ctx, db)
	} else {
		c, err = db.Conn(ctx)
	}
	if err != nil {
		return fmt.Errorf("take a connection: %w", err)
	}
	defer c.Close()
	return c.Raw(func(dc any) error {
		pc := pgxConn(dc)
		if pc == nil {
			return fmt.Errorf("the strategy's connections are %T, not pgx connections", dc)
		}
		return fn(pc)
	})
}

// pgxConn returns the pgx connection behind dc, a driver connection of
// pgx's database/sql driver (*stdlib.Conn), or of a strategy that wraps
// one: by an Unwrap method returning the wrapped driver connection, or,
// failing that, as a struct embedding a *stdlib.Conn (schemastrategy's
// connections, whose embedded field hides stdlib.Conn's Conn method). It
// returns nil for anything else.
func pgxConn(dc any) *pgx.Conn {
	for range 8 { // wrappers of wrappers, but never a cycle
		switch c := dc.(type) {
		case interface{ Conn() *pgx.Conn }:
			return c.Conn()
		case interface{ Unwrap() driver.Conn }:
			dc = c.Unwrap()
			continue
		}
		v := reflect.ValueOf(dc)
		if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
			return nil
		}
		f, ok := v.Elem().Type().FieldByName("Conn")
		if !ok || !f.Anonymous || f.Type != reflect.TypeFor[*stdlib.Conn]() {
			return nil
		}
		dc = v.Elem().FieldByIndex(f.Index).Interface()
	}
	return nil
}

// pinned reports whether s keeps its tenants in schemas of one shared
// database (a ConnPinner), rather than a database each.
func pinned(s dbstrategy.Strategy) bool {
	_, ok := s.(dbstrategy.ConnPinner)
	return ok
}

// scopeFilter returns the condition on pg_namespace n that selects the
// tenant's schemas: the current schema for a tenant in a schema of its
// own, every schema but the system's for a tenant in a database of its
// own.
func scopeFilter(pinned bool) string {
	if pinned {
		return "n.nspname OPERATOR(pg_catalog.=) pg_catalog.current_schema()"
	}
	return "n.nspname OPERATOR(pg_catalog.<>) 'information_schema' AND n.nspname OPERATOR(pg_catalog.!~) '^pg_'"
}

// notExtension is the condition that pg_class c is no extension's member.
const notExtension = `NOT EXISTS (SELECT FROM pg_catalog.pg_depend d
	WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objid OPERATOR(pg_catalog.=) c.oid AND d.deptype OPERATOR(pg_catalog.=) 'e')`

// execAll runs sql, which may hold several statements, with the simple
// protocol.
func execAll(ctx context.Context, c *pgx.Conn, sql string) error {
	_, err := c.PgConn().Exec(ctx, sql).ReadAll()
	return err
}

// rollback ends tx, also after ctx has ended.
func rollback(ctx context.Context, tx pgx.Tx) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	_ = tx.Rollback(ctx)
}

// hasCode reports whether err carries the SQLSTATE code.
func hasCode(err error, code string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == code
}

func quoteIdent(parts ...string) string { return pgx.Identifier(parts).Sanitize() }
