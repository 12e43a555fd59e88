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
	// "" is the default one. The registry only stores it.
	Server string
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

// Change is one entry of a Store's change log: a record inserted, a status
// changed, or a record deleted ([StatusDeleted]).
type Change struct {
	// Seq orders the log: it grows with every change, possibly with gaps.
	// It is 0 in the changes a [Registry] reports to [WithOnChange], which
	// come from the Registry rather than from the log.
	Seq    int64
	ID     string
	Slug   string
	Status tenancy.Status // the new status, or StatusDeleted
	At     time.Time      // when the Store made the change
}

// Filter selects the records [Store.List] returns, in ID order (byte-wise).
// The zero Filter selects every record.
type Filter struct {
	// Status, if not empty, keeps only the records in one of these states.
	Status []tenancy.Status
	// After, if not "", keeps only the records whose ID sorts after it:
	// pass the last ID of a page to get the next.
	After string
	// Limit is the most records returned; 0 means no limit.
	Limit int
}
