package tenancy

import "errors"

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
// [StatusDeleting] or unknown, so a deleted tenant looks like one that never
// existed. [DefaultErrorHandler] answers it with 404 Not Found.
var ErrUnknownTenant = errors.New("tenancy: unknown tenant")

// ErrTenantNotReady is wrapped by the error [Middleware] and [CheckStatus]
// return for a tenant in [StatusProvisioning]. [DefaultErrorHandler] answers
// it with 503 Service Unavailable and Retry-After: 5.
var ErrTenantNotReady = errors.New("tenancy: tenant not ready")

// ErrTenantSuspended is wrapped by the error [Middleware] and [CheckStatus]
// return for a tenant in [StatusSuspended]. [DefaultErrorHandler] answers it
// with 403 Forbidden.
var ErrTenantSuspended = errors.New("tenancy: tenant suspended")

// invalidError is a constant error that wraps [ErrInvalidTenant]. Being a
// string constant, returning one costs no allocation, which keeps a flood
// of garbage hints cheap to refuse.
type invalidError string

func (e invalidError) Error() string { return string(e) }

func (e invalidError) Unwrap() error { return ErrInvalidTenant }

const (
	errHintEmpty    invalidError = "tenancy: invalid tenant: empty hint"
	errHintLong     invalidError = "tenancy: invalid tenant: hint longer than 63 bytes"
	errHintHyphen   invalidError = "tenancy: invalid tenant: hint starts or ends with '-'"
	errHintByte     invalidError = "tenancy: invalid tenant: hint has a byte other than a-z, 0-9 or '-'"
	errRawSpace     invalidError = "tenancy: invalid tenant: value has surrounding whitespace"
	errRawControl   invalidError = "tenancy: invalid tenant: value has a control character"
	errRawLong      invalidError = "tenancy: invalid tenant: value longer than 255 bytes"
	errRawEmpty     invalidError = "tenancy: invalid tenant: empty value"
	errSeveral      invalidError = "tenancy: invalid tenant: header given more than once"
	errHostPort     invalidError = "tenancy: invalid tenant: malformed host"
	errHostNested   invalidError = "tenancy: invalid tenant: more than one label below the base domain"
	errHostEmptyLbl invalidError = "tenancy: invalid tenant: empty label below the base domain"
)
