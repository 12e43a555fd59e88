package main

import (
	"log/slog"
	"net/http"

	"github.com/tenantkit/tenantkit/tenancy"
)

// routeDeps are what the routes of addRoutes are built from.
type routeDeps struct {
	log    *slog.Logger
	core   *CoreService
	tenant *TenantService
	// withTenant resolves the tenant of a request; coreToken and
	// tenantToken require a token of the core directory and of the
	// request's tenant.
	withTenant, coreToken, tenantToken func(http.Handler) http.Handler
	store                              CoreStore      // for /readyz
	metrics                            *metrics       // nil: no /metrics
	tokens                             *tokenService  // the signers, for the JWKS
	lookup                             tenancy.Lookup // the tenants of the JWKS
}

// addRoutes holds the whole API surface of API.md. It returns the patterns
// it registered, so tests can hold the OpenAPI document to them.
func addRoutes(mux *http.ServeMux, d routeDeps) []string {
	log, core, tenant, tokens := d.log, d.core, d.tenant, d.tokens
	withTenant, coreToken, tenantToken := d.withTenant, d.coreToken, d.tenantToken
	var patterns []string
	handle := func(pattern string, h http.Handler) {
		mux.Handle(pattern, h)
		patterns = append(patterns, pattern)
	}

	// Core directory.
	handle("POST /api/register", handleRegister(log, core))
	handle("POST /api/login", handleLogin(log, func(r *http.Request, email, password string) (Token, error) {
		return core.Login(r.Context(), email, password, clientAddr(r))
	}))
	handle("POST /api/token/refresh", handleRefresh(log, func(r *http.Request, token string) (Token, error) {
		return core.Refresh(r.Context(), token)
	}))
	handle("POST /api/logout", handleLogout(log, func(r *http.Request, token string) error {
		return core.Logout(r.Context(), token)
	}))
	handle("POST /api/organizations", coreToken(withUser(handleCreateOrganization(log, core))))
	handle("GET /api/organizations", coreToken(withUser(handleListOrganizations(log, core))))
	handle("GET /api/organizations/{id}", coreToken(withUser(handleGetOrganization(log, core))))
	handle("DELETE /api/organizations/{id}", coreToken(withUser(handleDeleteOrganization(log, core))))

	// Tenant directories: the tenant is resolved (and noted for the log)
	// first, then the token.
	handle("POST /api/tenant/auth/register", withTenant(requireTenant(log, handleTenantRegister(log, tenant))))
	handle("POST /api/tenant/auth/login", withTenant(requireTenant(log, handleLogin(log, func(r *http.Request, email, password string) (Token, error) {
		return tenant.Login(r.Context(), tenantID(r), email, password, clientAddr(r))
	}))))
	handle("POST /api/tenant/auth/refresh", withTenant(requireTenant(log, handleRefresh(log, func(r *http.Request, token string) (Token, error) {
		return tenant.Refresh(r.Context(), tenantID(r), token)
	}))))
	handle("POST /api/tenant/auth/logout", withTenant(requireTenant(log, handleLogout(log, func(r *http.Request, token string) error {
		return tenant.Logout(r.Context(), tenantID(r), token)
	}))))
	handle("GET /api/tenant/users/me", withTenant(requireTenant(log, tenantToken(withUser(handleGetMe(log, tenant))))))
	handle("PUT /api/tenant/users/me", withTenant(requireTenant(log, tenantToken(withUser(handleUpdateMe(log, tenant))))))

	// Public keys of the token signers (EdDSA).
	handle("GET /.well-known/jwks.json", handleJWKS(log, tokens, d.lookup))

	// Operations.
	handle("GET /healthz", handleHealthz())
	handle("GET /readyz", handleReadyz(log, d.store))
	if d.metrics != nil {
		handle("GET /metrics", d.metrics.handler())
	}
	addDocsRoutes(handle)
	return patterns
}
