package placement

import (
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"
)

// ErrUnknownServer is wrapped by the errors of a [Router] whose placement
// names a server it was not given, and by [New] for an option that names
// one.
var ErrUnknownServer = errors.New("placement: unknown server")

// ErrNoServer is returned by a [Policy] that finds no server open to new
// tenants.
var ErrNoServer = errors.New("placement: no server open to new tenants")

// ErrSchemaMismatch is wrapped by the errors of [Copy] and [Verify] when
// the source and destination do not have the same tables, columns,
// sequences or migration version.
var ErrSchemaMismatch = errors.New("placement: source and destination schemas differ")

// ErrMismatch is matched by errors.Is for the *[MismatchError] of [Copy]
// and [Verify].
var ErrMismatch = errors.New("placement: copy differs from the source")

// ServerError reports an error of one server's strategy, as a [Router]
// met it while serving a tenant, or while forwarding an optional
// interface. Err keeps the strategy's error: errors.Is(err,
// dbstrategy.ErrNotFound) still reports a missing tenant.
type ServerError struct {
	Server string
	Err    error
}

// Error names the server and its error.
func (e *ServerError) Error() string {
	return fmt.Sprintf("placement: server %q: %v", e.Server, e.Err)
}

// Unwrap returns Err.
func (e *ServerError) Unwrap() error { return e.Err }

// MismatchError reports the tables whose row count or checksum differ
// between the source and the destination of a [Copy] or [Verify].
// errors.Is(err, [ErrMismatch]) reports it.
type MismatchError struct {
	TenantID string
	Tables   []Table // the tables that differ
}

// Error names the tenant and the first table that differs, with both
// sides' row counts and checksums.
func (e *MismatchError) Error() string {
	t := e.Tables[0]
	more := ""
	if len(e.Tables) > 1 {
		more = fmt.Sprintf(" (and %d more tables)", len(e.Tables)-1)
	}
	return fmt.Sprintf("placement: tenant %q: table %s differs: %d rows, checksum %s on the source; %d rows, checksum %s on the destination%s",
		e.TenantID, t.Name, t.Source.Rows, t.Source.Checksum, t.Dest.Rows, t.Dest.Checksum, more)
}

// Is reports whether target is [ErrMismatch].
func (e *MismatchError) Is(target error) bool { return target == ErrMismatch }

// CodePaused is the SQLSTATE of a write refused because its tenant is
// paused by [Pause]: read_only_sql_transaction, the code PostgreSQL also
// gives a write in a read-only transaction.
const CodePaused = "25006"

// IsPaused reports whether err is a write refused because the tenant is
// paused for a move ([Pause]), or any write refused as read-only
// (SQLSTATE 25006, [CodePaused]). It is transient: a server answers 503
// Service Unavailable with Retry-After, and the client retries once the
// move has switched the tenant to its new server.
func IsPaused(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == CodePaused
}
