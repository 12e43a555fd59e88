package tenancy

import (
	"errors"
	"fmt"
	"strings"
)

// ErrNoTenant is returned by a [Resolver] when the request names no tenant,
// and passed to the error handler of [Middleware] for such a request.
// [DefaultErrorHandler] answers it with 400 Bad Request.
var ErrNoTenant = errors.New("tenancy: no tenant in request")

// ErrInvalidTenant is wrapped by the errors of [ValidHint], of the
// resolvers ([Header], [PathValue], [Subdomain]) for malformed input, and by
// [Middleware] for every hint its validator refuses.
// [DefaultErrorHandler] answers it with 400 Bad Request.
var ErrInvalidTenant = errors.New("tenancy: invalid tenant")

// ErrUnknownTenant is wrapped by the error a [Lookup] returns when no tenant
// matches a hint. [Cache] caches such results for its negative TTL, and
// [Middleware] also uses it for tenants whose [Status] is
// [StatusDeleting] or a status this package does not know, so a deleted
// tenant looks like one that never existed (an empty status is
// [ErrIncompleteTenant] instead). [DefaultErrorHandler] answers it with 404
// Not Found.
var ErrUnknownTenant = errors.New("tenancy: unknown tenant")

// ErrTenantNotReady is wrapped by the error [Middleware] and [CheckStatus]
// return for a tenant in [StatusProvisioning]. [DefaultErrorHandler] answers
// it with 503 Service Unavailable and Retry-After: 5.
var ErrTenantNotReady = errors.New("tenancy: tenant not ready")

// ErrTenantSuspended is wrapped by the error [Middleware] and [CheckStatus]
// return for a tenant in [StatusSuspended]. [DefaultErrorHandler] answers it
// with 403 Forbidden.
var ErrTenantSuspended = errors.New("tenancy: tenant suspended")

// ErrInvalidConfig is wrapped by every configuration error of this
// package: the errors [NewCache] and [Middleware] return at start-up for a
// nil argument, a nil option, an option out of range, or a resolver
// ([Header], [PathValue], [Subdomain], [Chain], [Agree]) or [Static] lookup
// whose value is wrong. These constructors never panic, and a value they
// return never fails a request because of its configuration. The same
// mistakes found later also wrap it: Resolve on a resolver that Middleware
// would refuse, and the function of [IDFunc] on a request that did not go
// through Middleware. [HTTPStatus] does not classify it.
var ErrInvalidConfig = errors.New("tenancy: invalid configuration")

// configError is a configuration error: its own message, matching
// ErrInvalidConfig.
type configError struct{ msg string }

func (e *configError) Error() string { return e.msg }

func (e *configError) Unwrap() error { return ErrInvalidConfig }

// configErrorf returns a configError with a formatted message, which
// should start with "tenancy: " and the constructor or option at fault.
func configErrorf(format string, args ...any) error {
	return &configError{msg: fmt.Sprintf(format, args...)}
}

// invalidError is a constant error that wraps [ErrInvalidTenant]. Being a
// string constant, returning one costs no allocation, which keeps a flood
// of garbage hints cheap to refuse.
type invalidError string

func (e invalidError) Error() string { return string(e) }

func (e invalidError) Unwrap() error { return ErrInvalidTenant }

const (
	errHintEmpty    invalidError = "tenancy: invalid tenant: empty hint"
	errHintLong     invalidError = "tenancy: invalid tenant: hint longer than 48 bytes"
	errHintFirst    invalidError = "tenancy: invalid tenant: hint starts with '-' or '_'"
	errHintByte     invalidError = "tenancy: invalid tenant: hint has a byte other than a-z, 0-9, '_' or '-'"
	errRawSpace     invalidError = "tenancy: invalid tenant: value has surrounding whitespace"
	errRawControl   invalidError = "tenancy: invalid tenant: value has a control character"
	errRawLong      invalidError = "tenancy: invalid tenant: value longer than 255 bytes"
	errRawEmpty     invalidError = "tenancy: invalid tenant: empty value"
	errSeveral      invalidError = "tenancy: invalid tenant: header given more than once"
	errHostPort     invalidError = "tenancy: invalid tenant: malformed host"
	errHostNested   invalidError = "tenancy: invalid tenant: more than one label below the base domain"
	errHostEmptyLbl invalidError = "tenancy: invalid tenant: empty label below the base domain"
)

// ErrIncompleteTenant is wrapped by the error [Middleware] hands its error
// handler when the [Lookup] returned a tenant without an ID or without a
// Status, and by the error [CheckStatus] returns for a tenant without a
// Status. It is a bug in the app's registry, not the client's fault: the
// request is refused (never served, never taken for an unknown tenant), and
// [DefaultErrorHandler] and [HTTPStatus] answer it with 500 Internal Server
// Error. The error is an [*IncompleteTenantError] whose text names the
// hint, the tenant and the missing field, for the log.
var ErrIncompleteTenant = errors.New("tenancy: lookup returned an incomplete tenant")

// IncompleteTenantError reports a [Tenant] that a [Lookup] returned without
// a field every tenant must have. It matches [ErrIncompleteTenant].
type IncompleteTenantError struct {
	// Hint is the hint that was looked up; empty when the error comes
	// from CheckStatus, which sees no hint.
	Hint string
	// Tenant is the tenant as the Lookup returned it.
	Tenant Tenant
	// Field is the name of the empty field: "ID" or "Status".
	Field string
}

// Error names the tenant and the field its Lookup left empty.
func (e *IncompleteTenantError) Error() string {
	var b strings.Builder
	b.WriteString("tenancy: ")
	if e.Hint != "" {
		fmt.Fprintf(&b, "lookup of %q returned ", e.Hint)
	}
	fmt.Fprintf(&b, "tenant %q (slug %q) with an empty %s: the Lookup must set Tenant.%s", e.Tenant.ID, e.Tenant.Slug, e.Field, e.Field)
	if e.Field == "Status" {
		fmt.Fprintf(&b, " (%s, %s, %s or %s)", StatusActive, StatusProvisioning, StatusSuspended, StatusDeleting)
	}
	return b.String()
}

// Unwrap returns [ErrIncompleteTenant].
func (e *IncompleteTenantError) Unwrap() error { return ErrIncompleteTenant }

// ErrConflictingTenant is wrapped by the error an [Agree] resolver returns
// when two of its resolvers name different tenants, say a subdomain and a
// header. The error is a [*ConflictError]; it also matches
// [ErrInvalidTenant], so handlers that know only that answer 400 Bad
// Request too, as [DefaultErrorHandler] does.
var ErrConflictingTenant = errors.New("tenancy: request names different tenants")

// ConflictError reports a request in which two resolvers of an [Agree]
// resolver named different tenants. It matches [ErrConflictingTenant] and
// [ErrInvalidTenant].
type ConflictError struct {
	// Hints are the two hints, in the order of the resolvers that found
	// them.
	Hints [2]string
	// Resolvers are the positions of those resolvers in the list given to
	// Agree, counted from 1.
	Resolvers [2]int
}

// Error names the two resolvers and the tenants they named, quoted and
// cut short.
func (e *ConflictError) Error() string {
	// The hints come from the request: quoted, and cut short.
	return fmt.Sprintf("tenancy: request names different tenants: resolver %d names %.64q, resolver %d names %.64q",
		e.Resolvers[0], e.Hints[0], e.Resolvers[1], e.Hints[1])
}

// Unwrap returns [ErrConflictingTenant] and [ErrInvalidTenant].
func (e *ConflictError) Unwrap() []error { return []error{ErrConflictingTenant, ErrInvalidTenant} }
