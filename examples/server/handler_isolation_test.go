package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tenantkit/tenantkit/internal/pgtest"
	"github.com/tenantkit/tenantkit/tenancy/tenancytest"
)

// TestHandlerIsolation points the library's adopter check,
// tenancytest.Isolation, at the whole API on every backend: each of eight
// organizations gets a user whose display name is that tenant's marker,
// then concurrent GET /api/tenant/users/me for all of them, half naming
// the tenant by id and half by slug, must each answer its own marker and
// no other tenant's. Every tenant's user has the same email, so user id 1
// exists in every tenant database.
func TestHandlerIsolation(t *testing.T) {
	forEachBackend(t, handlerIsolation)
}

// TestHandlerIsolationTwoServers is TestHandlerIsolation with the tenants
// placed on two PostgreSQL servers (the test server and a private
// cluster), for both isolations.
func TestHandlerIsolationTwoServers(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL cluster; skipped with -short")
	}
	second := pgtest.StartCluster(t).DSN()
	for _, b := range postgresIsolations() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			handlerIsolation(t, startServer(t, placementConfig(t, b.config(t), second)))
		})
	}
}

// handlerIsolation runs tenancytest.Isolation over ts's whole API.
func handlerIsolation(t *testing.T, ts *testServer) {
	owner := ts.coreUser(t, "isolation-owner@example.com")
	var tenants []string
	hint := map[string]string{} // how requests name the tenant
	for i := range 8 {
		id, slug := ts.org(t, owner, fmt.Sprintf("Isolated %d", i))
		tenants = append(tenants, id)
		hint[id] = id
		if i%2 == 1 {
			hint[id] = slug
		}
	}
	tokens := map[string]string{} // written by seed, read by request: one goroutine
	seed := func(_ context.Context, tenant, marker string) error {
		creds := map[string]string{"email": "same@example.com", "password": testPassword}
		r := ts.do(t, req{method: "POST", path: "/api/tenant/auth/register", tenant: tenant,
			body: map[string]any{"email": creds["email"], "password": creds["password"], "display_name": marker}})
		if r.status != http.StatusCreated {
			return fmt.Errorf("register in tenant %s = %d %s", tenant, r.status, r.body)
		}
		tokens[tenant] = login(t, ts, tenant, creds["email"], creds["password"])
		return nil
	}
	request := func(tenant, _ string) *http.Request {
		r := httptest.NewRequest("GET", "/api/tenant/users/me", nil)
		r.Header.Set("X-Tenant", hint[tenant])
		r.Header.Set("Authorization", "Bearer "+tokens[tenant])
		return r
	}
	tenancytest.Isolation(t, ts.app.handler, tenants, seed, request, tenancytest.WithClients(8), tenancytest.WithRequests(20))
}
