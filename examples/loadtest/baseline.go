package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"strconv"
	"strings"
	"time"

	_ "github.com/ncruces/go-sqlite3/driver" // database/sql driver "sqlite3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tenantkit/tenantkit/auth"
	"github.com/tenantkit/tenantkit/internal/httpobs"
)

// baselineCommand is the hidden first argument that runs the baseline
// server: the harness starts its own binary with it.
const baselineCommand = "serve-baseline"

// The baseline's token directory: the harness mints its tokens with the
// same secret.
const (
	tokenIssuer       = "tenantkit-server" // as the reference server
	baselineAudience  = "baseline"
	baselineUserQuery = `SELECT id, email, display_name, is_active, created_at FROM users WHERE id = $1`
)

// The reference server's HTTP timeouts (examples/server/app.go), so both
// sides run behind the same HTTP stack.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 60 * time.Second
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 64 << 10
	maxBodyBytes      = 1 << 20
)

// baselineConfig configures serve-baseline.
type baselineConfig struct {
	addr      string
	dbPath    string
	secret    string
	users     int
	password  string
	logLevel  string
	pprofAddr string
	ttl       time.Duration
}

// serveBaseline runs the baseline server until ctx ends: an http.Server
// with the reference server's timeouts, an auth.Verifier checking the same
// kind of token, and the same user query on one pre-opened SQLite database
// (same driver and settings as sqlitestrategy), answering the same JSON,
// behind the server's HTTP layers (security header, request id, request
// metrics, request log, panic recovery). No tenancy: no tenant lookup, no
// per-tenant key, no handle lease.
func serveBaseline(ctx context.Context, args []string, stdout io.Writer) error {
	var c baselineConfig
	fs := flag.NewFlagSet(baselineCommand, flag.ContinueOnError)
	fs.StringVar(&c.addr, "addr", "127.0.0.1:0", "listen address")
	fs.StringVar(&c.dbPath, "db", "", "SQLite file, created with -users users")
	fs.StringVar(&c.secret, "jwt-secret", "", "master secret, at least 32 bytes")
	fs.IntVar(&c.users, "users", 1, "users to create (ids 1..N, emails u<N>@baseline.example.com)")
	fs.StringVar(&c.password, "password", "", "password of every user")
	fs.StringVar(&c.logLevel, "log-level", "info", "request log level")
	fs.StringVar(&c.pprofAddr, "pprof", "", "serve net/http/pprof on this address")
	fs.DurationVar(&c.ttl, "token-ttl", 24*time.Hour, "lifetime of tokens from login")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if c.dbPath == "" || len(c.secret) < 32 || c.users < 1 || len(c.password) < 8 {
		return errors.New("serve-baseline: needs -db, -jwt-secret (32+ bytes), -users >= 1 and -password (8+ chars)")
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.logLevel)); err != nil {
		return fmt.Errorf("serve-baseline: -log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(stdout, &slog.HandlerOptions{Level: level}))

	db, err := openBaselineDB(ctx, c)
	if err != nil {
		return err
	}
	defer db.Close()
	key, err := auth.DeriveKey([]byte(c.secret), baselineAudience)
	if err != nil {
		return err
	}
	v, err := auth.NewVerifier(tokenIssuer, baselineAudience, []auth.Key{key})
	if err != nil {
		return err
	}
	iss, err := auth.NewIssuer(tokenIssuer, baselineAudience, key, auth.WithTTL(c.ttl))
	if err != nil {
		return err
	}
	hasher, err := auth.NewHasher()
	if err != nil {
		return err
	}
	d := &directory{db: db, verifier: v, issuer: iss}
	h, err := baselineHandler(log, func(*http.Request) (*directory, error) { return d, nil }, hasher)
	if err != nil {
		return err
	}
	return serveHandler(ctx, log, h, c.addr, c.pprofAddr)
}

// serveHandler serves h on addr, and the profiles on pprofAddr unless it is
// empty, with the reference server's timeouts, until ctx ends.
func serveHandler(ctx context.Context, log *slog.Logger, h http.Handler, addr, pprofAddr string) error {
	if pprofAddr != "" {
		stop, err := servePprof(pprofAddr)
		if err != nil {
			return err
		}
		defer stop()
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info("listening", slog.String("addr", ln.Addr().String()))
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }() // exits when Shutdown closes the listener
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = srv.Shutdown(sctx)
	<-errc
	return err
}

// openBaselineDB creates the database file with the tenant schema of the
// reference server and c.users users, and returns it opened as
// sqlitestrategy opens a tenant: same pragmas, 4 connections.
func openBaselineDB(ctx context.Context, c baselineConfig) (*sql.DB, error) {
	db, err := sql.Open("sqlite3", sqliteURL(c.dbPath, ""))
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(4)
	db.SetMaxIdleConns(4)
	hasher, err := auth.NewHasher()
	if err != nil {
		db.Close()
		return nil, err
	}
	hash, err := hasher.Hash(ctx, c.password)
	if err != nil {
		db.Close()
		return nil, err
	}
	// The schema of examples/server/migrations/tenant/sqlite3.
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS users (
		id            INTEGER PRIMARY KEY AUTOINCREMENT,
		email         TEXT NOT NULL UNIQUE,
		password_hash TEXT NOT NULL,
		display_name  TEXT,
		is_active     BOOLEAN NOT NULL DEFAULT TRUE,
		created_at    TIMESTAMP NOT NULL)`); err != nil {
		db.Close()
		return nil, fmt.Errorf("serve-baseline: schema: %w", err)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		db.Close()
		return nil, err
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	for i := 1; i <= c.users; i++ {
		if _, err := tx.ExecContext(ctx,
			`INSERT OR IGNORE INTO users (id, email, password_hash, is_active, created_at) VALUES ($1, $2, $3, TRUE, $4)`,
			i, baselineEmail(i), hash, now); err != nil {
			tx.Rollback()
			db.Close()
			return nil, fmt.Errorf("serve-baseline: users: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// sqliteURL is the driver URI of the SQLite file at path with the
// connection settings of sqlitestrategy (immediate transactions, busy
// timeout, WAL, foreign keys, synchronous=normal), and mode if not empty.
func sqliteURL(path, mode string) string {
	q := url.Values{}
	if mode != "" {
		q.Add("mode", mode)
	}
	q.Add("_txlock", "immediate")
	q.Add("_pragma", "busy_timeout(5000)")
	q.Add("_pragma", "journal_mode(wal)")
	q.Add("_pragma", "foreign_keys(on)")
	q.Add("_pragma", "synchronous(normal)")
	return (&url.URL{Scheme: "file", Path: path, RawQuery: q.Encode()}).String()
}

func baselineEmail(i int) string { return "u" + strconv.Itoa(i) + "@baseline.example.com" }

// userJSON is the reference server's user body.
type userJSON struct {
	ID          int64   `json:"id"`
	Email       string  `json:"email"`
	DisplayName *string `json:"display_name"`
	IsActive    bool    `json:"is_active"`
	CreatedAt   string  `json:"created_at"`
}

type tokenJSON struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
}

// directory is what a baseline answers one request from: a user
// directory's database and its token keys.
type directory struct {
	db       *sql.DB
	verifier *auth.Verifier
	issuer   *auth.Issuer
}

// errUnknownTenant is what a tenantOf function returns for a request
// naming no tenant it serves.
var errUnknownTenant = errors.New("unknown tenant")

// baselineHandler is the API of both baselines: the three endpoints of the
// mix, behind the same kind of middleware as the reference server
// (security headers, request log, panic recovery, bearer token), answered
// from the directory tenantOf picks for the request.
func baselineHandler(log *slog.Logger, tenantOf func(*http.Request) (*directory, error), hasher *auth.Hasher) (http.Handler, error) {
	requireToken, err := auth.RequireTokenFunc(func(r *http.Request) (*auth.Verifier, error) {
		d, err := tenantOf(r)
		if err != nil {
			return nil, err
		}
		return d.verifier, nil
	}, auth.WithErrorHandler(func(w http.ResponseWriter, r *http.Request, err error) {
		if errors.Is(err, errUnknownTenant) {
			writeProblem(w, http.StatusNotFound)
			return
		}
		w.Header().Set("WWW-Authenticate", "Bearer")
		writeProblem(w, http.StatusUnauthorized)
	}))
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /api/tenant/users/me", requireToken(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := claimsUser(r)
		if !ok {
			writeProblem(w, http.StatusUnauthorized)
			return
		}
		noteUser(w, id)
		d, err := tenantOf(r)
		if err != nil {
			writeProblem(w, http.StatusNotFound)
			return
		}
		u, err := scanBaselineUser(d.db.QueryRowContext(r.Context(), baselineUserQuery, id))
		if err != nil {
			writeDBError(w, r, log, err)
			return
		}
		writeJSONBody(w, http.StatusOK, u)
	})))
	mux.Handle("PUT /api/tenant/users/me", requireToken(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := claimsUser(r)
		if !ok {
			writeProblem(w, http.StatusUnauthorized)
			return
		}
		noteUser(w, id)
		var body struct {
			DisplayName *string `json:"display_name"`
			Email       *string `json:"email"`
		}
		if status := decodeBody(w, r, &body); status != 0 {
			writeProblem(w, status)
			return
		}
		if body.Email != nil { // the mix changes display names only
			writeProblem(w, http.StatusUnprocessableEntity)
			return
		}
		var dn sql.NullString
		if body.DisplayName != nil {
			dn = sql.NullString{String: strings.TrimSpace(*body.DisplayName), Valid: strings.TrimSpace(*body.DisplayName) != ""}
		}
		d, err := tenantOf(r)
		if err != nil {
			writeProblem(w, http.StatusNotFound)
			return
		}
		u, err := scanBaselineUser(d.db.QueryRowContext(r.Context(),
			`UPDATE users SET display_name = $1 WHERE id = $2 RETURNING id, email, display_name, is_active, created_at`, dn, id))
		if err != nil {
			writeDBError(w, r, log, err)
			return
		}
		writeJSONBody(w, http.StatusOK, u)
	})))
	mux.Handle("POST /api/tenant/auth/login", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Email    *string `json:"email"`
			Password *string `json:"password"`
		}
		if status := decodeBody(w, r, &body); status != 0 {
			writeProblem(w, status)
			return
		}
		if body.Email == nil || body.Password == nil {
			writeProblem(w, http.StatusUnprocessableEntity)
			return
		}
		d, err := tenantOf(r)
		if err != nil {
			writeProblem(w, http.StatusNotFound)
			return
		}
		var id int64
		var hash string
		err = d.db.QueryRowContext(r.Context(), `SELECT id, password_hash FROM users WHERE email = $1`,
			strings.ToLower(strings.TrimSpace(*body.Email))).Scan(&id, &hash)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			writeDBError(w, r, log, err)
			return
		}
		if err := hasher.Verify(r.Context(), hash, *body.Password); err != nil {
			w.Header().Set("WWW-Authenticate", "Bearer")
			writeProblem(w, http.StatusUnauthorized)
			return
		}
		tok, _, err := d.issuer.Issue(strconv.FormatInt(id, 10))
		if err != nil {
			writeDBError(w, r, log, err)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		writeJSONBody(w, http.StatusOK, tokenJSON{AccessToken: tok, TokenType: "bearer", ExpiresIn: int64(d.issuer.TTL() / time.Second)})
	}))
	mux.Handle("GET /healthz", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSONBody(w, http.StatusOK, map[string]string{"status": "ok"})
	}))
	reg := prometheus.NewRegistry()
	// A fresh registry: registering can only fail on a programming error.
	m, _ := httpobs.NewRequestMetrics(reg)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	var h http.Handler = recoverer(log, mux)
	h = instrument(log, m, h)
	return securityHeaders(h), nil
}

func claimsUser(r *http.Request) (int64, bool) {
	c, ok := auth.FromContext(r.Context())
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseInt(c.Subject, 10, 64)
	return id, err == nil && id > 0
}

func scanBaselineUser(row *sql.Row) (userJSON, error) {
	var u userJSON
	var dn sql.NullString
	var created time.Time
	if err := row.Scan(&u.ID, &u.Email, &dn, &u.IsActive, &created); err != nil {
		return u, err
	}
	if dn.Valid && dn.String != "" {
		u.DisplayName = &dn.String
	}
	u.CreatedAt = created.UTC().Format(time.RFC3339Nano)
	return u, nil
}

// decodeBody reads one JSON object of known fields, as strictly as the
// reference server does for the fields of the mix. It returns 0, or the
// status to answer.
func decodeBody(w http.ResponseWriter, r *http.Request, dst any) int {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return http.StatusUnsupportedMediaType
	}
	if r.ContentLength > maxBodyBytes {
		return http.StatusRequestEntityTooLarge
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return http.StatusUnprocessableEntity
	}
	if dec.More() {
		return http.StatusUnprocessableEntity
	}
	return 0
}

func writeJSONBody(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeProblem(w http.ResponseWriter, status int) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"type": "about:blank", "title": http.StatusText(status), "status": status, "detail": http.StatusText(status) + ".",
	})
}

func writeDBError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	if errors.Is(err, sql.ErrNoRows) {
		w.Header().Set("WWW-Authenticate", "Bearer")
		writeProblem(w, http.StatusUnauthorized)
		return
	}
	log.LogAttrs(r.Context(), slog.LevelError, "request failed", slog.String("err", err.Error()))
	writeProblem(w, http.StatusInternalServerError)
}

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		next.ServeHTTP(w, r)
	})
}

func recoverer(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.LogAttrs(r.Context(), slog.LevelError, "panic", slog.Any("value", v))
				writeProblem(w, http.StatusInternalServerError)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// statusWriter remembers the status and the user for the request log, as
// the reference server's respWriter does.
type statusWriter struct {
	http.ResponseWriter
	status int
	user   string
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// noteUser records the user of the request for its log line.
func noteUser(w http.ResponseWriter, id int64) {
	if sw, ok := w.(*statusWriter); ok {
		sw.user = strconv.FormatInt(id, 10)
	}
}

// instrument is the reference server's outer layer: a request id (the
// client's X-Request-ID if it is well formed, else a random one), echoed in
// the response; the request metrics; and one log line per request: id,
// method, route, status, duration and user. The server's line also names
// the tenant, which the baseline does not have.
func instrument(log *slog.Logger, m *httpobs.RequestMetrics, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := httpobs.RequestID(r.Header.Get("X-Request-ID"))
		w.Header().Set("X-Request-ID", id)
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		took := time.Since(start)
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		m.Observe(route, r.Method, sw.status, took)
		if log.Enabled(r.Context(), slog.LevelInfo) {
			log.LogAttrs(r.Context(), slog.LevelInfo, "request",
				slog.String("id", id),
				slog.String("method", r.Method),
				slog.String("route", route),
				slog.Int("status", sw.status),
				slog.Duration("took", took),
				slog.String("user", sw.user))
		}
	})
}

// servePprof serves the runtime profiles on addr until stop is called.
func servePprof(addr string) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("pprof: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: readHeaderTimeout}
	done := make(chan struct{})
	go func() { // exits when Close closes the listener
		defer close(done)
		_ = srv.Serve(ln)
	}()
	return func() {
		srv.Close()
		<-done
	}, nil
}
