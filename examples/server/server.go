package main

import (
	"context"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/tenantkit/tenantkit/auth"
	"github.com/tenantkit/tenantkit/dbstrategy"
	"github.com/tenantkit/tenantkit/tenancy"
)

// Server is the assembled API.
type Server struct {
	http.Handler
	core     *CoreService
	patterns []string // every route registered, for tests
}

// NewServer assembles the API on its dependencies: the core store, the
// tenant database manager and the schema version its migrations reach, a
// password hasher, the token service and the tenant lookup cache. It
// returns the handler with every middleware in place.
func NewServer(log *slog.Logger, store CoreStore, dbs *dbstrategy.Manager, tenantVersion int64, hasher *auth.Hasher, tokens *tokenService, lookup *tenancy.Cache) (*Server, error) {
	core := &CoreService{
		store: store, hasher: hasher, tokens: tokens, dbs: dbs, version: tenantVersion,
		invalidate: lookup.Invalidate, log: log, now: time.Now,
	}
	tenant := &TenantService{stores: sqlTenantStores{m: dbs}, hasher: hasher, tokens: tokens, now: time.Now}

	onErr := func(w http.ResponseWriter, r *http.Request, err error) { writeError(w, r, log, err) }
	withTenant, err := tenancy.Middleware(tenancy.Header("X-Tenant"), lookup,
		tenancy.WithValidator(validTenantHint), tenancy.WithErrorHandler(onErr))
	if err != nil {
		return nil, err
	}
	coreToken := auth.RequireToken(tokens.core.verifier, auth.WithErrorHandler(onErr))
	tenantToken := auth.RequireTokenFunc(func(r *http.Request) (*auth.Verifier, error) {
		t, ok := tenancy.FromContext(r.Context())
		if !ok {
			return nil, errNoTenantInContext
		}
		d, err := tokens.tenant(t.ID)
		if err != nil {
			return nil, err
		}
		return d.verifier, nil
	}, auth.WithErrorHandler(onErr))

	mux := http.NewServeMux()
	patterns := addRoutes(mux, log, core, tenant, withTenant, coreToken, tenantToken, store)

	var h http.Handler = recoverer(log, mux)
	h = logRequests(log, h)
	h = securityHeaders(h)
	return &Server{Handler: h, core: core, patterns: patterns}, nil
}

// validTenantHint accepts an X-Tenant value that is an organization id (1
// to 19 digits, no leading zero, at most 2^63-1) or a valid slug. Nothing
// else reaches the registry.
func validTenantHint(hint string) error {
	if _, ok := parseID(hint); ok || validSlug(hint) {
		return nil
	}
	return tenancy.ErrInvalidTenant
}

// lookupTenant finds the organization an X-Tenant hint names.
func lookupTenant(store CoreStore) tenancy.LookupFunc {
	return func(ctx context.Context, hint string) (tenancy.Tenant, error) {
		var o Organization
		var err error
		if id, ok := parseID(hint); ok {
			o, err = store.Organization(ctx, id)
		} else {
			o, err = store.OrganizationBySlug(ctx, hint)
		}
		switch {
		case err == ErrNotFound:
			return tenancy.Tenant{}, tenancy.ErrUnknownTenant
		case err != nil:
			return tenancy.Tenant{}, err
		}
		return tenancy.Tenant{ID: tenantKey(o.ID), Slug: o.Slug, Status: tenancy.Status(o.Status)}, nil
	}
}

// securityHeaders sets the headers every response carries.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		next.ServeHTTP(w, r)
	})
}

// recoverer turns a panic in a handler into a logged 500 without a stack
// trace in the response.
func recoverer(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.LogAttrs(r.Context(), slog.LevelError, "panic", slog.Any("value", v), slog.String("stack", string(debug.Stack())))
				writeProblem(w, problem{Status: http.StatusInternalServerError})
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// respWriter wraps every response once: it remembers the status for the
// request log, and turns the mux's own plain-text 404 and 405 (written
// when no pattern matched, so r.Pattern is still empty) into problems,
// keeping the Allow header of a 405.
type respWriter struct {
	http.ResponseWriter
	r       *http.Request
	status  int
	swallow bool // the mux's plain-text body is replaced by a problem
}

func (w *respWriter) WriteHeader(code int) {
	if w.status != 0 {
		return
	}
	w.status = code
	if w.r.Pattern == "" && (code == http.StatusNotFound || code == http.StatusMethodNotAllowed) {
		w.swallow = true
		w.Header().Del("Content-Type")
		writeProblem(w.ResponseWriter, problem{Status: code})
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *respWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.swallow {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

func (w *respWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// logRequests wraps the response (see respWriter) and writes one line per
// request: method, route pattern, status, duration. Never a body, a header
// value or a query string.
func logRequests(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rw := &respWriter{ResponseWriter: w, r: r}
		next.ServeHTTP(rw, r)
		if log.Enabled(r.Context(), slog.LevelInfo) {
			log.LogAttrs(r.Context(), slog.LevelInfo, "request",
				slog.String("method", r.Method),
				slog.String("route", r.Pattern),
				slog.Int("status", rw.status),
				slog.Duration("took", time.Since(start)))
		}
	})
}
