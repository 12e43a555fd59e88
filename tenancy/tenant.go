package tenancy

import "fmt"

// Status is the lifecycle state of a tenant. Only [StatusActive] tenants
// receive traffic through [Middleware].
type Status string

// The states a tenant goes through. A tenant is created in
// StatusProvisioning, becomes StatusActive once its database is ready, may be
// StatusSuspended by an operator, and is StatusDeleting while it is removed.
const (
	StatusProvisioning Status = "provisioning"
	StatusActive       Status = "active"
	StatusSuspended    Status = "suspended"
	StatusDeleting     Status = "deleting"
)

// Tenant is the tenant a request is for. It is a small value: the app's
// registry owns the full record, and code that needs more looks it up by ID.
type Tenant struct {
	// ID is the stable identifier of the tenant, the key its database is
	// found by (the organization id in the reference server).
	ID string
	// Slug is the human name of the tenant, as used in URLs and headers.
	Slug string
	// Status is the lifecycle state of the tenant.
	Status Status
}

// CheckStatus reports whether t may be served, by the rule [Middleware]
// applies: nil for [StatusActive]; an error wrapping [ErrTenantNotReady] for
// [StatusProvisioning]; wrapping [ErrTenantSuspended] for [StatusSuspended];
// and wrapping [ErrUnknownTenant] for [StatusDeleting] and for any other
// status, so a deleted tenant looks like one that never existed. An empty
// status is not taken for an unknown tenant: the registry forgot to set it,
// and CheckStatus returns an [*IncompleteTenantError] (wrapping
// [ErrIncompleteTenant]) that says so.
func CheckStatus(t Tenant) error {
	switch t.Status {
	case StatusActive:
		return nil
	case "":
		return &IncompleteTenantError{Tenant: t, Field: "Status"}
	case StatusProvisioning:
		return fmt.Errorf("tenant %q: %w", t.ID, ErrTenantNotReady)
	case StatusSuspended:
		return fmt.Errorf("tenant %q: %w", t.ID, ErrTenantSuspended)
	default:
		return fmt.Errorf("tenant %q (status %q): %w", t.ID, t.Status, ErrUnknownTenant)
	}
}
