// Package tenancy answers the first question of a multi-tenant HTTP
// request: which tenant is it for, and may that tenant be served?
//
// A request names its tenant through a hint: a header, a subdomain or a
// path segment. The package reads the hint, checks it strictly, turns it
// into a [Tenant] through the app's registry (behind a cache), refuses
// tenants that are not active, and hands the tenant to the rest of the
// request in its context. It knows nothing of databases or users: the
// tenant's ID is what the app's data layer keys on.
//
// # Resolving
//
// A [Resolver] returns the raw hint of a request. The resolvers of this
// package are values: [Header] reads one header (Header("X-Tenant")),
// [Subdomain] takes the label below a base domain ("acme.example.com"
// under Subdomain{"example.com"} names "acme"), [PathValue] reads a
// [http.ServeMux] wildcard, [Chain] tries several in order and takes the
// first hint, [Agree] asks them all and refuses a request in which two
// name different tenants ([ErrConflictingTenant]), and [ResolverFunc]
// adapts a function:
//
//	resolver := tenancy.Agree{tenancy.Subdomain{"example.com"}, tenancy.Header("X-Tenant")}
//
// A request that names no tenant gives [ErrNoTenant]; malformed input (a
// header sent twice, surrounding whitespace, control characters) gives
// [ErrInvalidTenant].
//
// # Validating
//
// Every hint passes a validator before it reaches the registry. The
// default, [ValidHint], accepts exactly ^[a-z0-9][a-z0-9_-]{0,47}$: 1 to 48
// bytes of a-z, 0-9, '_' and '-', starting with a letter or digit. That is
// the set of tenant keys dbstrategy.ValidateKey accepts, so a hint that
// passes can also name the tenant's database. Hints are never normalized:
// "01", "1_0" and "+1" are not "1", so a registry that matches hints
// exactly cannot be tricked into serving one tenant under another's name.
// [WithValidator] sets a stricter rule.
//
// # Looking up
//
// A [Lookup] turns a valid hint into a [Tenant], or returns an error wrapping
// [ErrUnknownTenant]. [Cache] wraps one with a TTL for found tenants, a
// shorter one for unknown hints, single flight for concurrent misses, a
// bound on its size and [Cache.Invalidate] for tenants that change. A cache
// hit does not allocate. A Lookup that keeps its tenants in memory can
// implement [SharedLookup], as Cache does, to save [Middleware] one
// allocation per request.
//
// For tests and fixed deployments, [Static] is a Lookup of a fixed list
// of active tenants: tenancy.Static{"acme", "globex"}.
//
// # Configuration
//
// [NewCache] and [Middleware] report a configuration mistake when they are
// called, with an error wrapping [ErrInvalidConfig], and never panic; what
// they return never fails a request because of its configuration.
// Middleware also checks its resolver and lookup: a [Header] that is not a
// header name, an empty [Chain] or a [Static] ID that could never be served
// is refused there, at start-up, naming the position of the bad element
// ("tenancy: Agree: resolver 2: Header(\"X Tenant\"): not a valid header
// name"). A nil option is such an error, naming its position ("option 2
// is nil"). An option given a nil function ([WithErrorHandler],
// [WithValidator], [WithNow]) means that option's default.
//
// # Serving
//
// [Middleware] chains the steps. Only [StatusActive] tenants are served: a
// provisioning tenant is [ErrTenantNotReady], a suspended one
// [ErrTenantSuspended], and a deleting one, like any unknown status, is
// [ErrUnknownTenant]. A tenant the registry returned without an ID or a
// Status is a bug in the registry, not an unknown tenant: an
// [*IncompleteTenantError] whose text names the field to set.
// Failures go to an error handler; [DefaultErrorHandler]
// maps them to 400, 403, 404, 500 and 503 without echoing backend errors.
// Handlers read the tenant with [FromContext]. There is no default tenant
// and no global "current tenant": a request that names none is refused.
//
// The function [IDFunc] returns names the request's tenant for code keyed
// by a string, such as the auth package's per-tenant token directories:
// ring.VerifierFunc(tenancy.IDFunc("tenant:")).
//
// # Errors over HTTP
//
// [HTTPStatus] is the mapping of this package's errors to an HTTP status
// and a fixed message, which [DefaultErrorHandler] writes as plain text and
// [ProblemHandler] as application/problem+json (RFC 9457), logging the 5xx
// ones. ProblemHandler passes errors that are not this package's to the
// next handler, so it chains with the auth package's handler of the same
// shape and an app's own, and the whole API answers alike:
//
//	problems := tenancy.ProblemHandler(log, auth.ProblemHandler(log, appErrors))
//	withTenant, err := tenancy.Middleware(resolver, cache, tenancy.WithErrorHandler(problems))
//
// # Usage
//
//	registry := tenancy.LookupFunc(func(ctx context.Context, hint string) (tenancy.Tenant, error) {
//		org, err := store.OrganizationByIDOrSlug(ctx, hint) // exact match only
//		if errors.Is(err, sql.ErrNoRows) {
//			return tenancy.Tenant{}, fmt.Errorf("tenant %q: %w", hint, tenancy.ErrUnknownTenant)
//		}
//		if err != nil {
//			return tenancy.Tenant{}, err
//		}
//		return tenancy.Tenant{ID: org.ID, Slug: org.Slug, Status: tenancy.Status(org.Status)}, nil
//	})
//	cache, err := tenancy.NewCache(registry, tenancy.WithTTL(time.Minute))
//	if err != nil {
//		return err
//	}
//	withTenant, err := tenancy.Middleware(tenancy.Header("X-Tenant"), cache)
//	if err != nil {
//		return err
//	}
//	mux.Handle("GET /api/tenant/users/me", withTenant(handleMe()))
//
//	// in the handler:
//	t, ok := tenancy.FromContext(r.Context())
//
//	// when an organization is created, activated, suspended or deleted:
//	cache.Invalidate(org.ID, org.Slug)
//
// All types of this package are safe for concurrent use, and the package
// starts no goroutines.
package tenancy
