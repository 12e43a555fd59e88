package registry

import (
	"errors"
	"fmt"

	"github.com/tenantkit/tenantkit/tenancy"
)

// ErrNotFound is returned by [Store.Get], [Store.BySlug], [Store.SetStatus]
// and [Store.RecordMigration], and by the [Registry] methods that read a
// record, when no record has the ID or slug asked for.
var ErrNotFound = errors.New("registry: tenant not found")

// ErrExists is returned by [Store.Insert] (and [SQL.InsertTx],
// [Registry.Create]) when a record already has the new record's ID or slug.
var ErrExists = errors.New("registry: tenant exists")

// ErrWrongStatus is matched by errors.Is for a *[StatusError]: a state
// change asked of a tenant that is not in the state it starts from.
var ErrWrongStatus = errors.New("registry: tenant in the wrong status")

// ErrMoveConflict is wrapped by the errors of [Store.SetMove] and
// [Store.SwitchServer] when the tenant's move, or its server, is not the
// one the change starts from: another process changed it first.
var ErrMoveConflict = errors.New("registry: tenant's move changed")

// ErrMoving is wrapped by the error of [Registry.Move] (and
// [Registry.Drain]) for a tenant another process is moving: its move's
// Until has not passed.
var ErrMoving = errors.New("registry: tenant is being moved")

// ErrInvalidConfig is wrapped by every configuration error: a nil or
// out-of-range option or a nil argument given to [New], [NewMemory],
// [OpenSQL], [NewLookup], [Watch] or [MigrateAll]. These are returned
// before any work starts.
var ErrInvalidConfig = errors.New("registry: invalid configuration")

// ErrInvalidRecord is wrapped by the error of [Store.Insert] and
// [Registry.Create] for a record without an ID, or with a status
// [Registry.Create] does not start from.
var ErrInvalidRecord = errors.New("registry: invalid record")

// StatusError reports a compare-and-set state change refused because the
// tenant is not in the state it was to start from. errors.Is(err,
// [ErrWrongStatus]) matches it; errors.As gives the states.
type StatusError struct {
	ID     string         // the tenant
	Status tenancy.Status // the state it is in
	Want   tenancy.Status // the state the change starts from
}

// Error names the tenant, its status and the status the operation needs.
func (e *StatusError) Error() string {
	return fmt.Sprintf("registry: tenant %q is %s, not %s", e.ID, e.Status, e.Want)
}

// Is reports whether target is [ErrWrongStatus].
func (e *StatusError) Is(target error) bool { return target == ErrWrongStatus }

func configErrorf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...)
}

func notFound(id string) error {
	return fmt.Errorf("%w: %q", ErrNotFound, id)
}

func moveConflict(id string, rec Record, want Move) error {
	return fmt.Errorf("%w: tenant %q is on server %q with move %+v, not %+v", ErrMoveConflict, id, rec.Server, rec.Move, want)
}

func exists(id, slug string) error {
	return fmt.Errorf("%w: id %q or slug %q taken", ErrExists, id, slug)
}
