package registry

import (
	"context"
	"time"

	"github.com/tenantkit/tenantkit/tenancy"
)

// Store keeps the tenant records and the log of their changes. Every
// method that changes a record appends the [Change] to the log in the same
// transaction, so the log is never behind the records. Implementations
// must be safe for concurrent use, by several processes where the storage
// is shared. [Memory] and [SQL] are the implementations of this package;
// [Notifier] is the optional interface [Watch] looks for.
type Store interface {
	// Insert adds rec and logs it. CreatedAt and UpdatedAt are set to the
	// Store's clock; the record as stored is returned. It returns an error
	// wrapping ErrExists if a record has rec.ID or (when not "") rec.Slug,
	// and one wrapping ErrInvalidRecord if rec.ID or rec.Status is "".
	Insert(ctx context.Context, rec Record) (Record, error)
	// Get returns the record of id, or an error wrapping ErrNotFound.
	Get(ctx context.Context, id string) (Record, error)
	// BySlug returns the record whose slug is slug, or an error wrapping
	// ErrNotFound ("" never matches).
	BySlug(ctx context.Context, slug string) (Record, error)
	// List returns the records f selects, in ID order.
	List(ctx context.Context, f Filter) ([]Record, error)
	// SetStatus moves id from the state from to the state to, atomically
	// (compare and set), sets UpdatedAt and logs the change. It returns
	// the record as changed; an error wrapping ErrNotFound if id has no
	// record; a *StatusError if it is not in from.
	SetStatus(ctx context.Context, id string, from, to tenancy.Status) (Record, error)
	// SetMove changes id's move from old to move, atomically (compare
	// and set of every field of the [Move], Until to the microsecond),
	// and logs the change; neither Status nor UpdatedAt changes. move is
	// the zero Move (the move ends); one in [MoveCopying] or
	// [MoveAborting] whose From is the record's Server and whose To
	// differs from it; or, in place of an old move in [MoveSwitched],
	// the same move with another Until (a process taking it over).
	// Only SwitchServer enters MoveSwitched. It
	// returns the record as changed; an error wrapping ErrNotFound if id
	// has no record; one wrapping ErrMoveConflict if its move is not old
	// or its Server not move.From; one wrapping ErrInvalidRecord for a
	// move it never accepts.
	SetMove(ctx context.Context, id string, old, move Move) (Record, error)
	// SwitchServer switches id to the server its move goes to, in one
	// transaction: if the record's move is move, in [MoveCopying], and
	// its Server is move.From, Server becomes move.To and the move enters
	// [MoveSwitched] (From, To and Until unchanged), and the change is
	// logged. It returns the record as changed; an error wrapping
	// ErrNotFound; one wrapping ErrMoveConflict otherwise.
	SwitchServer(ctx context.Context, id string, move Move) (Record, error)
	// RecordMigration records that a migration brought id's schema to
	// version (failure == ""), clearing MigrationError, or that it failed
	// (failure is why; Version is left as it was). Not a status change:
	// nothing is logged. An error wrapping ErrNotFound if id has no record.
	RecordMigration(ctx context.Context, id string, version int64, failure string) error
	// Delete removes id's record and logs it with StatusDeleted. It
	// returns nil if there is no such record.
	Delete(ctx context.Context, id string) error
	// Changes returns up to limit changes of the log (0: no limit) with Seq
	// above after, in Seq order. Changes of concurrent transactions may commit out of
	// Seq order: [Watch] handles that.
	Changes(ctx context.Context, after int64, limit int) ([]Change, error)
	// Head returns the highest Seq of the log, 0 if it is empty.
	Head(ctx context.Context) (int64, error)
	// TrimChanges deletes the log entries made before t and returns how
	// many. Keep the log far longer than any watcher's poll interval.
	TrimChanges(ctx context.Context, before time.Time) (int64, error)
}

// Notifier is an optional interface of a [Store] that can tell a watcher
// that a change was committed as soon as it is, rather than at the next
// poll. [Watch] uses it when the Store has it.
type Notifier interface {
	// Notify calls wake once it is ready to notify, then once after each
	// committed change (or batch of them), until ctx is done or its
	// connection fails; it then returns the error (ctx.Err() for the
	// former). It returns an error wrapping errors.ErrUnsupported at once
	// if the Store cannot notify (as [SQL] on SQLite). wake must not block.
	Notify(ctx context.Context, wake func()) error
}

var (
	_ Store    = (*Memory)(nil)
	_ Store    = (*SQL)(nil)
	_ Notifier = (*Memory)(nil)
	_ Notifier = (*SQL)(nil)
)

// statusIn reports whether s is one of ss (true if ss is empty).
func statusIn(s tenancy.Status, ss []tenancy.Status) bool {
	if len(ss) == 0 {
		return true
	}
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
