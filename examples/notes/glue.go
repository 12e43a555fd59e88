package main

// glue.go is all of this app's wiring of tenantkit, and nothing else: the
// lines between the two fences below are the ones the README counts
// (every line but blank ones and comments).

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/tenantkit/tenantkit/auth"
	"github.com/tenantkit/tenantkit/dbstrategy"
	"github.com/tenantkit/tenantkit/dbstrategy/sqlitestrategy"
	"github.com/tenantkit/tenantkit/examples/notes/migrations"
	"github.com/tenantkit/tenantkit/tenancy"
)

// ---- glue begins ----

// openTenants opens one SQLite database per tenant under c.dataDir, and
// creates and migrates those that are new. The caller closes the manager.
func openTenants(ctx context.Context, log *slog.Logger, c config) (*dbstrategy.Manager, error) {
	dbs, err := sqlitestrategy.NewManager(sqlitestrategy.Config{Dir: c.dataDir}, dbstrategy.WithMigrations(migrations.FS), dbstrategy.WithLogger(log))
	if err != nil {
		return nil, err
	}
	for _, id := range c.tenants {
		if err := dbs.Create(ctx, id); err != nil { // idempotent: creates and migrates
			return nil, errors.Join(err, dbs.Close())
		}
	}
	return dbs, nil
}

// newHandler serves the API: the tenant from the subdomain or X-Tenant
// (both may name it, but not two different ones), a token of that
// tenant's users on /notes, and every error as application/problem+json.
func newHandler(log *slog.Logger, c config, dbs *dbstrategy.Manager) (http.Handler, error) {
	problems := tenancy.ProblemHandler(log, auth.ProblemHandler(log, dbstrategy.ProblemHandler(log, appErrors(log))))
	resolver := tenancy.Agree{tenancy.Subdomain{c.domain}, tenancy.Header("X-Tenant")}
	withTenant, err := tenancy.Middleware(resolver, tenancy.Static(c.tenants), tenancy.WithErrorHandler(problems))
	if err != nil {
		return nil, err
	}
	ring, err := auth.NewKeyring("notes", [][]byte{c.secret})
	if err != nil {
		return nil, err
	}
	// The token directory of the request's tenant: its users' tokens
	// verify there and nowhere else.
	dir := tenancy.IDFunc("tenant:")
	requireToken, err := auth.RequireTokenFunc(ring.VerifierFunc(dir), auth.WithErrorHandler(problems))
	if err != nil {
		return nil, err
	}
	hasher, err := auth.NewHasher(c.hasherOptions...)
	if err != nil {
		return nil, err
	}
	a := &app{dbs: dbs, hasher: hasher, ring: ring, dir: dir, fail: problems}
	mux := http.NewServeMux()
	mux.Handle("POST /signup", withTenant(a.signup()))
	mux.Handle("POST /login", withTenant(a.login()))
	mux.Handle("POST /notes", withTenant(requireToken(a.createNote())))
	mux.Handle("GET /notes", withTenant(requireToken(a.listNotes())))
	return mux, nil
}

// ---- glue ends ----
