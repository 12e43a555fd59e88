package schemastrategy

import (
	"errors"

	"github.com/tenantkit/tenantkit/dbstrategy"
)

// ErrClosed is returned by every [Strategy] method that needs the server
// after [Strategy.Close].
var ErrClosed = errors.New("schemastrategy: strategy closed")

// ErrStalePlan is wrapped by the error of a statement that PostgreSQL
// refused because its cached plan would change result type ("cached plan
// must not change result type", SQLSTATE 0A000): the same query text, on
// one connection, met tables of another shape, as happens while a fleet
// migration has migrated some schemas and not others. Outside a
// transaction the strategy retries such a statement once, re-prepared, so
// the error only surfaces inside a transaction (which it aborts) or if the
// shape changed again meanwhile. It is also wrapped by the error of a
// statement of pgx's cache that no longer exists on the server (SQLSTATE
// 26000, after a DEALLOCATE ALL or DISCARD ALL on the connection), which
// is retried the same way. It is transient: a server maps it to 503 and
// the client retries. The wrapped *pgconn.PgError stays reachable with
// errors.As.
var ErrStalePlan = errors.New("schemastrategy: statement planned for another table shape")

// errInvalidConfig is [dbstrategy.ErrInvalidConfig], which every
// configuration error of [New] wraps.
var errInvalidConfig = dbstrategy.ErrInvalidConfig
