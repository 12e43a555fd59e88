package dbstrategy

import (
	"errors"
	"fmt"
)

// ErrInvalidKey is returned by [ValidateKey], and by every [Manager] method
// and strategy given a tenant key that [ValidateKey] refuses.
var ErrInvalidKey = errors.New("dbstrategy: invalid tenant key")

// ErrInvalidConfig is wrapped by every configuration error: a [NewManager]
// option out of range, and a strategy's configuration refused by its
// constructor (sqlitestrategy.New, pgstrategy.New). Check it with
// errors.Is.
var ErrInvalidConfig = errors.New("dbstrategy: invalid config")

// ErrNotFound is returned by [Strategy.Open] and by [Manager.Acquire] when
// the tenant's database does not exist.
var ErrNotFound = errors.New("dbstrategy: tenant database not found")

// ErrClosed is returned by [Manager] methods called after [Manager.Close].
var ErrClosed = errors.New("dbstrategy: manager closed")

// ErrReleased is returned by every method of a [Lease]'s [DB], and by
// [Lease.Stmt], once the lease is released.
var ErrReleased = errors.New("dbstrategy: lease released")

// ErrNoMigrations is returned by [Manager.Version] when the Manager was made
// without [WithMigrations].
var ErrNoMigrations = errors.New("dbstrategy: no migrations configured")

// ErrSchemaBehind is matched by errors.Is for the *[SchemaBehindError] of
// [Manager.Acquire] under [PendingRefuse].
var ErrSchemaBehind = errors.New("dbstrategy: tenant schema behind the migrations")

// SchemaBehindError reports a tenant whose schema is behind the Manager's
// migrations, refused by [Manager.Acquire] (and [Manager.Do],
// [Manager.ForEach]) under [PendingRefuse]. errors.Is(err,
// [ErrSchemaBehind]) reports it; errors.As gives the versions, to log.
type SchemaBehindError struct {
	TenantID string
	Have     int64 // the tenant's goose version
	Want     int64 // the newest migration's version
}

// Error names the tenant and both versions.
func (e *SchemaBehindError) Error() string {
	return fmt.Sprintf("dbstrategy: tenant %q: schema at version %d, behind the migrations (%d): migrate it", e.TenantID, e.Have, e.Want)
}

// Is reports whether target is [ErrSchemaBehind].
func (e *SchemaBehindError) Is(target error) bool { return target == ErrSchemaBehind }

// MigrateError reports a failed migration run for one tenant. It is returned
// by [Manager.Migrate], [Manager.Create] and [Manager.MigrateAll], and by
// [Manager.Acquire] under [PendingMigrate]; Err may
// wrap [ErrNotFound], a context error, or goose's own errors such as
// *goose.PartialError.
type MigrateError struct {
	TenantID string
	Err      error
}

// Error names the tenant and the migration's error.
func (e *MigrateError) Error() string {
	return fmt.Sprintf("dbstrategy: migrate %q: %v", e.TenantID, e.Err)
}

// Unwrap returns Err.
func (e *MigrateError) Unwrap() error { return e.Err }
