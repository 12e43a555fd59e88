package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/tenantkit/tenantkit/auth"
	"github.com/tenantkit/tenantkit/dbstrategy"
	"github.com/tenantkit/tenantkit/internal/httpobs"
	"github.com/tenantkit/tenantkit/tenancy"
	"github.com/tenantkit/tenantkit/tenancy/registry"
)

// Server is the assembled API.
type Server struct {
	http.Handler
	core     *CoreService
	patterns []string // every route registered, for tests
}

// serverDeps is what NewServer assembles the API from.
type serverDeps struct {
	log           *slog.Logger
	store         CoreStore
	reg           *registry.Registry // the organizations' lifecycle
	dbs           *dbstrategy.Manager
	tenantStmts   bool  // tenant reads through Lease.Stmt (SQLite; see sqlTenantStores)
	tenantVersion int64 // the schema version the tenant migrations reach
	hasher        *auth.Hasher
	tokens        *tokenService
	lookup        *tenancy.Cache
	metrics       *metrics
	guard         *loginGuard
	orgLimits     orgLimits // the zero value limits nothing
}

// NewServer assembles the API on its dependencies and returns the handler
// with every middleware in place.
func NewServer(d serverDeps) (*Server, error) {
	log := d.log
	core := &CoreService{
		store: d.store, reg: d.reg, hasher: d.hasher, tokens: d.tokens,
		metrics: d.metrics, log: log, now: time.Now,
		sessions: sessions{now: time.Now}, guard: d.guard, limits: d.orgLimits,
	}
	tenant := &TenantService{stores: sqlTenantStores{m: d.dbs, stmts: d.tenantStmts}, hasher: d.hasher, tokens: d.tokens,
		sessions: sessions{now: time.Now}, guard: d.guard, now: time.Now}

	onErr := func(w http.ResponseWriter, r *http.Request, err error) { writeError(w, r, log, err) }
	withTenant, err := tenancy.Middleware(tenancy.Header("X-Tenant"), d.lookup,
		tenancy.WithValidator(validTenantHint), tenancy.WithErrorHandler(onErr))
	if err != nil {
		return nil, err
	}
	coreVerifier, err := d.tokens.ring.Verifier(coreDirectory)
	if err != nil {
		return nil, err
	}
	coreToken, err := auth.RequireToken(coreVerifier, auth.WithErrorHandler(onErr))
	if err != nil {
		return nil, err
	}
	tenantToken, err := auth.RequireTokenFunc(d.tokens.ring.VerifierFunc(func(r *http.Request) (string, error) {
		t, ok := tenancy.FromContext(r.Context())
		if !ok {
			return "", errNoTenantInContext
		}
		return tenantDirectory(t.ID), nil
	}), auth.WithErrorHandler(onErr))
	if err != nil {
		return nil, err
	}

	mux := http.NewServeMux()
	patterns := addRoutes(mux, routeDeps{log: log, core: core, tenant: tenant,
		withTenant: withTenant, coreToken: coreToken, tenantToken: tenantToken,
		store: d.store, metrics: d.metrics, tokens: d.tokens, lookup: d.lookup})

	var h http.Handler = recoverer(log, mux)
	h = instrument(log, d.metrics, h)
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
func lookupTenant(reg registry.Store) tenancy.LookupFunc {
	return func(ctx context.Context, hint string) (tenancy.Tenant, error) {
		var rec registry.Record
		var err error
		if id, ok := parseID(hint); ok {
			rec, err = reg.Get(ctx, tenantKey(id))
		} else {
			rec, err = reg.BySlug(ctx, hint)
		}
		switch {
		case errors.Is(err, registry.ErrNotFound):
			return tenancy.Tenant{}, tenancy.ErrUnknownTenant
		case err != nil:
			return tenancy.Tenant{}, storeErr("tenant lookup", err)
		}
		return rec.Tenant(), nil
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

// respWriter wraps every response once: it remembers the status and the
// caller for the request log and metrics, and turns the mux's own
// plain-text 404 and 405 (written when no pattern matched, so r.Pattern is
// still empty) into problems, keeping the Allow header of a 405.
type respWriter struct {
	http.ResponseWriter
	r       *http.Request
	status  int
	swallow bool   // the mux's plain-text body is replaced by a problem
	tenant  string // set by noteTenant once the tenant is known
	user    string // set by withUser once the token is verified
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

// noteTenant records the request's tenant for its log line; requireTenant
// calls it as soon as the tenancy middleware has run.
func noteTenant(w http.ResponseWriter, id string) {
	if rw, ok := w.(*respWriter); ok {
		rw.tenant = id
	}
}

// withUser records the user of a verified token for the request's log
// line. It runs after the token middleware, which, like the tenancy
// middleware, passes the respWriter down unchanged.
func withUser(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rw, ok := w.(*respWriter); ok {
			if c, ok := auth.FromContext(r.Context()); ok {
				rw.user = c.Subject
			}
		}
		next.ServeHTTP(w, r)
	})
}

// instrument wraps the response (see respWriter), gives the request an id
// (X-Request-ID, kept from the client when it is well formed), and when
// the request is done records its metrics and writes one log line: id,
// method, route pattern, status, duration, tenant and user. Never a body,
// another header, a query string or a token.
func instrument(log *slog.Logger, m *metrics, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := httpobs.RequestID(r.Header.Get("X-Request-ID"))
		w.Header().Set("X-Request-ID", id)
		rw := &respWriter{ResponseWriter: w, r: r}
		next.ServeHTTP(rw, r)
		took := time.Since(start)
		route := r.Pattern
		if route == "" {
			route = "unmatched" // 404s and 405s: never the raw path
		}
		if m != nil {
			m.observe(route, r.Method, rw.status, rw.tenant, took)
		}
		if log.Enabled(r.Context(), slog.LevelInfo) {
			log.LogAttrs(r.Context(), slog.LevelInfo, "request",
				slog.String("id", id),
				slog.String("method", r.Method),
				slog.String("route", route),
				slog.Int("status", rw.status),
				slog.Duration("took", took),
				slog.String("tenant", rw.tenant),
				slog.String("user", rw.user))
		}
	})
}
