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

// MigrateError reports a failed migration run for one tenant. It is returned
// by [Manager.Migrate], [Manager.Create] and [Manager.MigrateAll]; Err may
// wrap [ErrNotFound], a context error, or goose's own errors such as
// *goose.PartialError.
type MigrateError struct {
	TenantID string
	Err      error
}

func (e *MigrateError) Error() string {
	return fmt.Sprintf("dbstrategy: migrate %q: %v", e.TenantID, e.Err)
}

// Unwrap returns Err.
func (e *MigrateError) Unwrap() error { return e.Err }
