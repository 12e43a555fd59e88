package main

import (
	"log/slog"
	"net/http"
)

// addRoutes holds the whole API surface of API.md.
func addRoutes(mux *http.ServeMux, log *slog.Logger, core *CoreService, tenant *TenantService,
	withTenant, coreToken, tenantToken func(http.Handler) http.Handler, store CoreStore) {
	// Core directory.
	mux.Handle("POST /api/register", handleRegister(log, core))
	mux.Handle("POST /api/login", handleLogin(log, core))
	mux.Handle("POST /api/organizations", coreToken(handleCreateOrganization(log, core)))
	mux.Handle("GET /api/organizations", coreToken(handleListOrganizations(log, core)))
	mux.Handle("GET /api/organizations/{id}", coreToken(handleGetOrganization(log, core)))

	// Tenant directories: the tenant is resolved first, then the token.
	mux.Handle("POST /api/tenant/auth/register", withTenant(requireTenant(log, handleTenantRegister(log, tenant))))
	mux.Handle("POST /api/tenant/auth/login", withTenant(requireTenant(log, handleTenantLogin(log, tenant))))
	mux.Handle("GET /api/tenant/users/me", withTenant(tenantToken(requireTenant(log, handleGetMe(log, tenant)))))
	mux.Handle("PUT /api/tenant/users/me", withTenant(tenantToken(requireTenant(log, handleUpdateMe(log, tenant)))))

	// Operations.
	mux.Handle("GET /healthz", handleHealthz())
	mux.Handle("GET /readyz", handleReadyz(log, store))
}
