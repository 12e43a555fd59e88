package placement

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantkit/tenantkit/dbstrategy"
)

// pauseName names the trigger, and its function, that [Pause] adds.
const pauseName = "tenantkit_paused"

// pauseFunctionSQL makes the trigger function, in the current schema, that
// refuses every write with SQLSTATE 25006.
const pauseFunctionSQL = `CREATE OR REPLACE FUNCTION %s() RETURNS trigger LANGUAGE plpgsql AS $tenantkit$
BEGIN
	RAISE EXCEPTION USING ERRCODE = 'read_only_sql_transaction',
		MESSAGE = 'tenantkit: tenant paused for a move: writes resume on its new server',
		HINT = 'Retry shortly.';
END
$tenantkit$`

// Resume drops its triggers while waiting at most dropLockTimeout for each
// attempt's locks, so that reads never queue behind it for longer.
const (
	dropLockTimeout = 50 * time.Millisecond
	dropAttempts    = 20
)

// Pause stops every write to the tenant on s, at once and in every session
// (already open ones too, of every process and role), while reads go on:
// the final step of a move runs [Copy] again while the tenant is paused,
// switches the placement, and drops the tenant on s; a move rolled back
// calls [Resume].
//
// A write to a paused tenant fails with SQLSTATE 25006
// (read_only_sql_transaction, [CodePaused]; [IsPaused] reports it), the
// error PostgreSQL gives a write in a read-only transaction: a server
// answers it 503 with Retry-After, and the client's retry reaches the
// tenant's new server once the move has switched it. A paused tenant stays
// paused until Resume, also across restarts of the application and of
// PostgreSQL: after a crash, the move is resumed or rolled back, never
// left to accept writes on two servers.
//
// Pause adds, in one transaction, a statement trigger BEFORE INSERT OR
// UPDATE OR DELETE OR TRUNCATE to each of the tenant's tables (including
// partitioned ones), enabled ALWAYS so that session_replication_role
// cannot skip it, calling a function that raises the error, made in the
// tenant's current schema. Adding a trigger takes a SHARE ROW EXCLUSIVE
// lock, which waits for the transactions writing to the table and does
// not conflict with reads: when Pause returns, every write that committed
// before it is in the source, and every later one fails. Writes that
// reach a table while Pause waits for its lock wait too. Pause may fail
// with a deadlock (SQLSTATE 40P01) against a transaction writing to
// several tables; call it again.
//
// Why triggers, not default_transaction_read_only: ALTER DATABASE ... SET
// reaches only new sessions, so the sessions already open (the pools of
// every replica) would go on writing unless they were terminated, which
// fails the reads they are running; and a tenant in a schema of a shared
// database has no setting of its own at all (ALTER ROLE ... SET applies
// at login, and every tenant logs in as the same role). Triggers are
// checked by every statement in every session.
//
// Pause is idempotent. The connection's role must own the tables (or have
// the TRIGGER privilege) and may create the function in the current
// schema: the admin role of pgstrategy, and a tenant's own role with
// schemastrategy's Roles, may. Tables created after Pause are not paused:
// run no migration during a move.
func Pause(ctx context.Context, s dbstrategy.Strategy, tenantID string) error {
	if err := dbstrategy.ValidateKey(tenantID); err != nil {
		return err
	}
	err := withConn(ctx, s, tenantID, func(c *pgx.Conn) error {
		return pgx.BeginFunc(ctx, c, func(tx pgx.Tx) error {
			var schema *string
			if err := tx.QueryRow(ctx, "SELECT pg_catalog.current_schema()").Scan(&schema); err != nil {
				return err
			}
			if schema == nil {
				return fmt.Errorf("no current schema to make the function %s in", pauseName)
			}
			fn := quoteIdent(*schema, pauseName)
			if _, err := tx.Exec(ctx, fmt.Sprintf(pauseFunctionSQL, fn)); err != nil {
				return fmt.Errorf("make the function %s: %w", fn, err)
			}
			tables, err := pausable(ctx, tx, pinned(s))
			if err != nil {
				return err
			}
			if len(tables) == 0 {
				return nil
			}
			idents := make([]string, len(tables))
			for i, t := range tables {
				idents[i] = t.ident
			}
			if _, err := tx.Exec(ctx, "LOCK TABLE "+strings.Join(idents, ", ")+" IN SHARE ROW EXCLUSIVE MODE"); err != nil {
				return fmt.Errorf("lock the tables: %w", err)
			}
			var b strings.Builder
			for _, t := range tables {
				if !t.trigger {
					fmt.Fprintf(&b, "CREATE TRIGGER %s BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION %s();\n",
						quoteIdent(pauseName), t.ident, fn)
				}
				fmt.Fprintf(&b, "ALTER TABLE %s ENABLE ALWAYS TRIGGER %s;\n", t.ident, quoteIdent(pauseName))
			}
			if err := execAll(ctx, tx.Conn(), b.String()); err != nil {
				return fmt.Errorf("add the triggers: %w", err)
			}
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("placement: pause tenant %q: %w", tenantID, err)
	}
	return nil
}

// Resume undoes [Pause]: writes to the tenant on s work again at once. It
// first disables the triggers (a lock that does not conflict with reads),
// then drops them and their function; dropping a trigger takes an ACCESS
// EXCLUSIVE lock, so Resume waits at most 50 ms for it per attempt and
// tries again, for a few attempts, and leaves disabled triggers behind if
// the tenant's reads never leave a gap (a later Pause enables them
// again). Resume of a tenant that is not paused does nothing.
func Resume(ctx context.Context, s dbstrategy.Strategy, tenantID string) error {
	if err := dbstrategy.ValidateKey(tenantID); err != nil {
		return err
	}
	err := withConn(ctx, s, tenantID, func(c *pgx.Conn) error {
		var tables []pausedTable
		err := pgx.BeginFunc(ctx, c, func(tx pgx.Tx) error {
			var err error
			if tables, err = pausable(ctx, tx, pinned(s)); err != nil {
				return err
			}
			var b strings.Builder
			for _, t := range tables {
				if t.trigger {
					fmt.Fprintf(&b, "ALTER TABLE %s DISABLE TRIGGER %s;\n", t.ident, quoteIdent(pauseName))
				}
			}
			if b.Len() == 0 {
				return nil
			}
			if err := execAll(ctx, tx.Conn(), b.String()); err != nil {
				return fmt.Errorf("disable the triggers: %w", err)
			}
			return nil
		})
		if err != nil {
			return err
		}
		var b strings.Builder
		fmt.Fprintf(&b, "SET LOCAL lock_timeout = %d;\n", dropLockTimeout.Milliseconds())
		for _, t := range tables {
			if t.trigger {
				fmt.Fprintf(&b, "DROP TRIGGER IF EXISTS %s ON %s;\n", quoteIdent(pauseName), t.ident)
			}
		}
		fmt.Fprintf(&b, "DROP FUNCTION IF EXISTS %s();\n", pauseName)
		for attempt := 1; ; attempt++ {
			err := pgx.BeginFunc(ctx, c, func(tx pgx.Tx) error { return execAll(ctx, tx.Conn(), b.String()) })
			if err == nil || !hasCode(err, codeLockNotAvailable) || attempt == dropAttempts {
				if hasCode(err, codeLockNotAvailable) {
					return nil // disabled, left in place
				}
				return err
			}
		}
	})
	if err != nil {
		return fmt.Errorf("placement: resume tenant %q: %w", tenantID, err)
	}
	return nil
}

// codeLockNotAvailable is the SQLSTATE of a lock_timeout.
const codeLockNotAvailable = "55P03"

// Paused reports whether the tenant on s is paused: whether one of its
// tables has [Pause]'s trigger enabled. A move resumed after a crash asks
// it.
func Paused(ctx context.Context, s dbstrategy.Strategy, tenantID string) (bool, error) {
	if err := dbstrategy.ValidateKey(tenantID); err != nil {
		return false, err
	}
	var paused bool
	err := withConn(ctx, s, tenantID, func(c *pgx.Conn) error {
		return c.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_catalog.pg_trigger t
	JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) t.tgrelid
	JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
WHERE t.tgname OPERATOR(pg_catalog.=) $1 AND t.tgenabled OPERATOR(pg_catalog.<>) 'D' AND `+scopeFilter(pinned(s))+`)`, pauseName).Scan(&paused)
	})
	if err != nil {
		return false, fmt.Errorf("placement: tenant %q: read whether it is paused: %w", tenantID, err)
	}
	return paused, nil
}

// pausedTable is a table Pause covers.
type pausedTable struct {
	ident   string
	trigger bool // has Pause's trigger, enabled or not
}

// pausable lists the tenant's tables, partitioned ones included, and
// whether each has Pause's trigger.
func pausable(ctx context.Context, tx pgx.Tx, pinned bool) ([]pausedTable, error) {
	rows, err := tx.Query(ctx, `SELECT n.nspname, c.relname,
	EXISTS (SELECT FROM pg_catalog.pg_trigger t WHERE t.tgrelid OPERATOR(pg_catalog.=) c.oid AND t.tgname OPERATOR(pg_catalog.=) $1)
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
WHERE c.relkind IN ('r', 'p') AND `+scopeFilter(pinned)+` AND `+notExtension+`
ORDER BY n.nspname, c.relname`, pauseName)
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	defer rows.Close()
	var tables []pausedTable
	for rows.Next() {
		var schema, name string
		var t pausedTable
		if err := rows.Scan(&schema, &name, &t.trigger); err != nil {
			return nil, fmt.Errorf("list tables: %w", err)
		}
		t.ident = quoteIdent(schema, name)
		tables = append(tables, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	return tables, nil
}
