package registry

import (
	"time"

	"github.com/tenantkit/tenantkit/tenancy"
)

// StatusDeleted is the Status of a [Change] that removed a tenant's record.
// No [Record] is ever in it; [tenancy.CheckStatus] treats it as an unknown
// tenant.
const StatusDeleted tenancy.Status = "deleted"

// Record is what the registry keeps of one tenant.
type Record struct {
	// ID is the stable key of the tenant: its database's key in
	// dbstrategy, and what requests are routed by. Required. IDs should
	// never be reused after a tenant is deleted.
	ID string
	// Slug is the tenant's human name, unique among the records; "" means
	// none (several records may have none).
	Slug string
	// Status is where the tenant is in its lifecycle.
	Status tenancy.Status
	// Server names the database server that holds the tenant's data;
	// "" is the default one. [Registry.Move] changes it; the Store only
	// stores it.
	Server string
	// Move is the tenant's move to another server while one is in
	// progress ([Registry.Move]); the zero Move otherwise.
	Move Move
	// Version is the tenant schema version recorded by the last successful
	// migration (see [Store.RecordMigration]); 0 if none was recorded.
	Version int64
	// MigrationError is why the last migration failed; "" if it did not.
	MigrationError string
	// CreatedAt and UpdatedAt are set by the Store: when the record was
	// inserted, and when its status last changed.
	CreatedAt, UpdatedAt time.Time
}

// Tenant returns the part of r that travels with a request.
func (r Record) Tenant() tenancy.Tenant {
	return tenancy.Tenant{ID: r.ID, Slug: r.Slug, Status: r.Status}
}

// MovePhase is where a [Move] is.
type MovePhase string

// The phases of a move. A Move whose Phase is "" is no move.
const (
	// MoveCopying: the tenant is served by Move.From (Record.Server),
	// being copied to Move.To; writes may be paused for the final copy.
	// A move interrupted here is rolled back.
	MoveCopying MovePhase = "copying"
	// MoveSwitched: the placement was switched (Record.Server is
	// Move.To); the old copy on Move.From, paused, is yet to be dropped.
	// A move interrupted here is finished.
	MoveSwitched MovePhase = "switched"
	// MoveAborting: the move is being rolled back: writes resume on
	// Move.From (Record.Server), the copy on Move.To is dropped.
	MoveAborting MovePhase = "aborting"
)

// Move is a tenant's move from one server to another, as the [Store]
// records it while it is in progress (see [Registry.Move]).
type Move struct {
	From, To string    // the servers: Record.Server is From until the switch, To after it
	Phase    MovePhase // "" (no move), MoveCopying, MoveSwitched or MoveAborting
	// Until is when the process running the move gives up on it: after
	// Until, another process may take the move over (finish it or roll
	// it back). Stores keep it to the microsecond, in UTC.
	Until time.Time
}

// Active reports whether m is a move in progress (its Phase is not "").
func (m Move) Active() bool { return m.Phase != "" }

// server returns the server that holds a tenant during m: From, or To
// once m is switched.
func (m Move) server() string {
	if m.Phase == MoveSwitched {
		return m.To
	}
	return m.From
}

// equal reports whether m and o are the same move, Until to the
// microsecond.
func (m Move) equal(o Move) bool {
	return m.From == o.From && m.To == o.To && m.Phase == o.Phase && untilMicros(m.Until) == untilMicros(o.Until)
}

// untilMicros is how stores keep Move.Until: microseconds since the Unix
// epoch, 0 for the zero time.
func untilMicros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// untilTime undoes untilMicros.
func untilTime(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}

// normal returns m as stores keep it.
func (m Move) normal() Move {
	m.Until = untilTime(untilMicros(m.Until))
	return m
}

// Change is one entry of a Store's change log: a record inserted, a status
// changed, a move begun, switched or ended ([Store.SetMove],
// [Store.SwitchServer]), or a record deleted ([StatusDeleted]).
type Change struct {
	// Seq orders the log: it grows with every change, possibly with gaps.
	// It is 0 in the changes a [Registry] reports to [WithOnChange], which
	// come from the Registry rather than from the log.
	Seq    int64
	ID     string
	Slug   string
	Status tenancy.Status // the new status, or StatusDeleted
	// Server is the server that holds the tenant after the change: a
	// process that caches placements (or handles opened through one)
	// forgets the tenant's when it differs. "" is the default server,
	// and the server of changes logged before it was recorded.
	Server string
	At     time.Time // when the Store made the change
}

// Filter selects the records [Store.List] returns, in ID order (byte-wise).
// The zero Filter selects every record.
type Filter struct {
	// Status, if not empty, keeps only the records in one of these states.
	Status []tenancy.Status
	// Moving, if true, keeps only the records with a move in progress
	// (Move.Phase not "").
	Moving bool
	// After, if not "", keeps only the records whose ID sorts after it:
	// pass the last ID of a page to get the next.
	After string
	// Limit is the most records returned; 0 means no limit.
	Limit int
}
