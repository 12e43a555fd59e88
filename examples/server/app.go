package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib"       // database/sql driver "pgx"
	_ "github.com/ncruces/go-sqlite3/driver" // database/sql driver "sqlite3"
	"github.com/pressly/goose/v3"

	"github.com/tenantkit/tenantkit/auth"
	"github.com/tenantkit/tenantkit/dbstrategy"
	"github.com/tenantkit/tenantkit/dbstrategy/pgstrategy"
	"github.com/tenantkit/tenantkit/dbstrategy/placement"
	"github.com/tenantkit/tenantkit/dbstrategy/schemastrategy"
	"github.com/tenantkit/tenantkit/dbstrategy/sqlitestrategy"
	"github.com/tenantkit/tenantkit/examples/server/migrations"
	"github.com/tenantkit/tenantkit/tenancy"
	"github.com/tenantkit/tenantkit/tenancy/registry"
)

// Server timeouts and limits.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 60 * time.Second // creating an organization migrates a database
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 64 << 10
	shutdownTimeout   = 20 * time.Second
	startTimeout      = 30 * time.Second
)

// run is the whole program: it parses the configuration, opens the
// databases, serves until ctx is done, then shuts down gracefully.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) > 0 {
		args = args[1:]
	}
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		return runCommand(ctx, args, getenv, stdout)
	}
	return serve(ctx, args, getenv, stdout)
}

// serve runs the HTTP server until ctx is done.
func serve(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cfg, err := parseConfig(args, getenv, stdout)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stdout)
	startCtx, cancel := context.WithTimeout(ctx, startTimeout)
	a, err := newApp(startCtx, cfg, log, appOptions{})
	cancel()
	if err != nil {
		return err
	}
	defer a.Close()

	// Descriptors: as many as allowed, and client connections capped
	// below them, idle ones closed first (see connLimiter).
	nofile, err := raiseFileLimit()
	if err != nil {
		log.LogAttrs(ctx, slog.LevelWarn, "raise the file descriptor limit", slog.String("err", err.Error()))
	}
	maxConns := cfg.httpMaxConns
	if maxConns == 0 {
		maxConns = defaultMaxConns(nofile, tenantFDs(cfg))
	}
	inner, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %v", cfg.addr, err)
	}
	ln := newConnLimiter(inner, maxConns)
	srv := newHTTPServer(a.handler, log)
	srv.ConnState = ln.track
	if cfg.pprofAddr != "" {
		stop, err := servePprof(cfg.pprofAddr, log)
		if err != nil {
			ln.Close()
			return err
		}
		defer stop()
	}
	log.LogAttrs(ctx, slog.LevelInfo, "connection limit", slog.Int("max_conns", maxConns), slog.Uint64("fd_limit", nofile))
	if nofile > 0 && uint64(maxConns) >= nofile {
		log.LogAttrs(ctx, slog.LevelWarn, "-http-max-conns is not below the file descriptor limit: accept may fail for want of descriptors",
			slog.Int("max_conns", maxConns), slog.Uint64("fd_limit", nofile))
	}
	log.LogAttrs(ctx, slog.LevelInfo, "listening", slog.String("addr", ln.Addr().String()))
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }() // exits when Shutdown closes the listener
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.LogAttrs(context.Background(), slog.LevelInfo, "shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	<-errc
	return nil
}

// servePprof serves the runtime profiles on a loopback address until stop
// is called.
func servePprof(addr string, log *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on -pprof %s: %v", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: readHeaderTimeout}
	done := make(chan struct{})
	go func() { // exits when stop closes the server
		defer close(done)
		_ = srv.Serve(ln)
	}()
	log.LogAttrs(context.Background(), slog.LevelInfo, "pprof listening", slog.String("addr", ln.Addr().String()))
	return func() { srv.Close(); <-done }, nil
}

func newHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

func newLogger(cfg config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.logLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// appOptions are knobs for the admin commands and tests.
type appOptions struct {
	hashParams *auth.Params        // cheaper password hashing
	hasherOpts []auth.HasherOption // more hasher options, after the others
	throttle   *throttleLimits     // other login throttle limits
	// admin leaves out what only a serving process does: reconciling
	// tenants left between states and watching for state changes.
	admin bool
	// moveLease, if not 0, is how long a move this process starts is its
	// own (registry.WithMoveTimeout); a killed mover's move can be taken
	// over after it.
	moveLease time.Duration
	// provisioner, if set, wraps what the registry creates and drops
	// tenant databases with (tests inject faults there).
	provisioner func(registry.Provisioner) registry.Provisioner
}

// app is the assembled server and everything it owns.
type app struct {
	handler http.Handler
	srv     *Server
	core    *CoreService
	dbs     *dbstrategy.Manager
	store   CoreStore
	coreDB  *sql.DB        // the core database
	reg     registry.Store // the tenant registry's store
	servers *tenantServers // the tenant servers
	lookup  *tenancy.Cache // cached tenant lookups
	version int64          // the tenant schema version of this binary's migrations
	closers []func() error // in reverse order of opening
}

// Close closes what newApp opened, last opened first.
func (a *app) Close() error {
	var errs []error
	for i := len(a.closers) - 1; i >= 0; i-- {
		errs = append(errs, a.closers[i]())
	}
	a.closers = nil
	return errors.Join(errs...)
}

// newApp opens the core database (migrating it), the tenant strategy and
// manager, the token keys and the password hasher, reconciles tenants a
// crash left between states, and builds the handler.
func newApp(ctx context.Context, cfg config, log *slog.Logger, opts appOptions) (_ *app, err error) {
	a := &app{}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	coreDB, dialect, err := openCoreDB(ctx, cfg)
	if err != nil {
		return nil, err
	}
	a.closers = append(a.closers, coreDB.Close)
	// The registry's tables first: the core migrations move the
	// organizations' state into them.
	store, err := openCoreStore(ctx, coreDB, dialect)
	if err != nil {
		return nil, err
	}
	if err := migrateCore(ctx, coreDB, dialect); err != nil {
		return nil, err
	}

	servers, strategy, closeStrategy, err := openTenantStrategy(ctx, cfg, log, store.reg)
	if err != nil {
		return nil, err
	}
	a.closers = append(a.closers, closeStrategy)
	if err := servers.check(ctx, coreDB); err != nil {
		return nil, err
	}
	if err := servers.name(ctx, coreDB); err != nil {
		return nil, err
	}
	store.servers = servers
	managerOpts := []dbstrategy.Option{
		dbstrategy.WithMigrations(migrations.Tenant()),
		// A tenant whose schema this binary's migrations are ahead of is
		// refused (503) until `migrate` brings it up to date.
		dbstrategy.WithPendingMigrations(dbstrategy.PendingRefuse),
		dbstrategy.WithMaxConns(cfg.dbMaxConns),
		dbstrategy.WithLogger(log),
	}
	_, sparer := strategy.(dbstrategy.Sparer)
	switch {
	case cfg.tenantSpares == 0 || opts.admin:
		// Only a serving process keeps spares; the admin commands
		// neither make nor claim any.
	case sparer && cfg.dbMaxConns >= minSpareConns:
		managerOpts = append(managerOpts, dbstrategy.WithSpares(cfg.tenantSpares))
	default: // parseConfig refuses both; a config built otherwise
		log.Warn("-tenant-spares is off: spares are kept only for one schema server with -db-max-conns 3 or more", slog.Int("tenant_spares", cfg.tenantSpares))
	}
	// PostgreSQL counts the connections handles really hold against
	// -db-max-conns (pgstrategy is a ConnBudgeter), so handles are capped
	// by the Manager's default of 128, not by the budget; SQLite handles by
	// -db-sqlite-max-open.
	dbs, err := dbstrategy.NewManager(strategy, managerOpts...)
	if err != nil {
		return nil, fmt.Errorf("tenant databases: %w", err)
	}
	a.closers = append(a.closers, dbs.Close)
	version, err := migrations.Latest(migrations.Tenant(), strategy.Dialect())
	if err != nil {
		return nil, fmt.Errorf("tenant migrations: %w", err)
	}

	secret, err := jwtSecret(cfg, log)
	if err != nil {
		return nil, err
	}
	masters := [][]byte{secret}
	for _, p := range cfg.jwtPrevious {
		masters = append(masters, []byte(p))
	}
	tokens, err := newTokenService(masters, cfg.jwtAlg, cfg.tokenTTL)
	if err != nil {
		return nil, err
	}
	var hopts []auth.HasherOption
	if opts.hashParams != nil {
		hopts = append(hopts, auth.WithParams(*opts.hashParams))
	}
	if cfg.hashQueue > 0 {
		hopts = append(hopts, auth.WithMaxQueue(cfg.hashQueue))
	}
	hopts = append(hopts, opts.hasherOpts...)
	hasher, err := auth.NewHasher(hopts...)
	if err != nil {
		return nil, err
	}
	lookup, err := tenancy.NewCache(lookupTenant(store.reg))
	if err != nil {
		return nil, err
	}
	// The lifecycle of organizations: what this process changes is
	// forgotten at once by its caches; what others change, by the watch
	// below.
	forget := func(c registry.Change) {
		lookup.Invalidate(c.ID, c.Slug)
		if c.Status == registry.StatusDeleted {
			tokens.forget(c.ID)
		}
	}
	var prov registry.Provisioner = dbs
	if opts.provisioner != nil {
		prov = opts.provisioner(prov)
	}
	regOpts := []registry.Option{registry.WithVersion(dbs.Version),
		registry.WithOnChange(forget), registry.WithTimeout(lifecycleTimeout), registry.WithLogger(log)}
	if servers.placed() {
		// Moves between servers (tenants move, tenants drain): each
		// server's copy is created and migrated as the serving Manager
		// would, and this process's handle of a moved tenant is closed.
		mover, err := placement.NewMover(servers.router, dbs.Evict, dbstrategy.WithMigrations(migrations.Tenant()), dbstrategy.WithLogger(log))
		if err != nil {
			return nil, err
		}
		regOpts = append(regOpts, registry.WithMover(mover))
		if opts.moveLease > 0 {
			regOpts = append(regOpts, registry.WithMoveTimeout(opts.moveLease))
		}
	}
	reg, err := registry.New(store.reg, prov, regOpts...)
	if err != nil {
		return nil, err
	}
	limits := defaultThrottleLimits
	if opts.throttle != nil {
		limits = *opts.throttle
	}
	limits.registerLimit, limits.registerWindow = cfg.registerLimit, cfg.registerWindow
	var tstore throttleStore
	if cfg.loginThrottle != throttleLocal {
		tstore = throttleStore{db: coreDB, dialect: dialect}
	}
	guard, err := newLoginGuard(limits, tstore)
	if err != nil {
		return nil, err
	}
	var ol orgLimits // the admin commands are not limited
	if !opts.admin {
		if ol, err = newOrgLimits(cfg.limits.orgQuota, cfg.limits.orgRate); err != nil {
			return nil, err
		}
	}
	a.srv, err = NewServer(serverDeps{
		guard: guard,
		log:   log, store: store, reg: reg, dbs: dbs, tenantStmts: strategy.Dialect() == "sqlite3", tenantVersion: version, hasher: hasher, tokens: tokens, lookup: lookup,
		metrics: newMetrics(dbs, strategy, servers, connsPerHandle(servers.first()), cfg.dbMaxConns, cfg.metricsPerTenant),

		orgLimits: ol,
	})
	if err != nil {
		return nil, err
	}
	a.handler, a.core = a.srv, a.srv.core
	a.dbs, a.store, a.reg, a.lookup, a.version, a.servers = dbs, store, store.reg, lookup, version, servers
	a.coreDB = coreDB
	if opts.admin {
		return a, nil
	}
	servers.logBudgets(ctx, log, cfg.dbMaxConns)
	if err := a.core.Reconcile(ctx); err != nil {
		return nil, fmt.Errorf("reconcile tenants: %w", err)
	}
	a.closers = append(a.closers, watch(store.reg, func(c registry.Change) {
		forget(c)
		if servers.placed() && c.Status != registry.StatusDeleted {
			// The tenant may have moved to another server (a move's
			// switch): close this process's handle, once its leases are
			// given back, so that the next request opens it where the
			// registry now places it. Other changes only cost a reopen.
			ctx, cancel := context.WithTimeout(context.Background(), lifecycleTimeout)
			defer cancel()
			if err := dbs.Evict(ctx, c.ID); err != nil {
				log.LogAttrs(ctx, slog.LevelWarn, "close moved tenant's handle", slog.String("tenant", c.ID), slog.String("err", err.Error()))
			}
		}
		if c.Status == registry.StatusDeleted {
			// Another process dropped the database: close our handle.
			ctx, cancel := context.WithTimeout(context.Background(), lifecycleTimeout)
			defer cancel()
			if err := dbs.Drop(ctx, c.ID); err != nil {
				log.LogAttrs(ctx, slog.LevelWarn, "close deleted tenant", slog.String("tenant", c.ID), slog.String("err", err.Error()))
			}
		}
	}, log))
	purger := newPurger(coreDB, store.reg, dbs, cfg.limits)
	purger.throttle = guard.purge()
	a.closers = append(a.closers, startPurge(purger, purgeInterval, log))
	return a, nil
}

// changePollInterval is how often the server reads the registry's change
// log for tenants whose state another process (the admin CLI, another
// replica) changed. On PostgreSQL the registry's notifications wake it at
// once; the poll is the fallback after a lost connection, and SQLite's
// only way.
const changePollInterval = time.Second

// watch runs registry.Watch over store in a goroutine until the returned
// stop function is called; stop waits for it to exit.
func watch(store registry.Store, onChange func(registry.Change), log *slog.Logger) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		err := registry.Watch(ctx, store, onChange, registry.WithPollInterval(changePollInterval), registry.WithLogger(log))
		if err != nil && ctx.Err() == nil {
			log.LogAttrs(ctx, slog.LevelError, "tenant change feed stopped", slog.String("err", err.Error()))
		}
	}()
	return func() error {
		cancel()
		<-exited
		return nil
	}
}

// connsPerHandle is how many connections one tenant handle may hold.
func connsPerHandle(s dbstrategy.Strategy) int {
	if l, ok := s.(dbstrategy.ConnLimiter); ok {
		return l.MaxConnsPerHandle()
	}
	return 1
}

// coreMaxConns bounds the core database's pool, on SQLite and PostgreSQL.
const coreMaxConns = 10

// openCoreDB opens and pings the core database named by cfg.coreDB.
func openCoreDB(ctx context.Context, cfg config) (*sql.DB, string, error) {
	var db *sql.DB
	var dialect string
	var err error
	if path, ok := strings.CutPrefix(cfg.coreDB, "sqlite:"); ok {
		if path == "" {
			return nil, "", errors.New("invalid -core-db: sqlite: needs a file path")
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, "", fmt.Errorf("core database: %w", err)
		}
		dialect = "sqlite3"
		db, err = openPrivateSQLite(path,
			"_pragma=journal_mode(wal)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(on)&_pragma=synchronous(normal)&_pragma=journal_size_limit(0)&_txlock=immediate")
		if err == nil {
			// Bounded as on PostgreSQL: each SQLite connection is a driver
			// instance of a few MiB, and a login flood runs the shared
			// throttle's statements before any hashing slot bounds it.
			db.SetMaxOpenConns(coreMaxConns)
			db.SetMaxIdleConns(coreMaxConns)
		}
	} else {
		dialect = "postgres"
		db, err = sql.Open("pgx", cfg.coreDB)
		if err == nil {
			db.SetMaxOpenConns(coreMaxConns)
			db.SetMaxIdleConns(coreMaxConns)
			db.SetConnMaxIdleTime(5 * time.Minute)
		}
	}
	if err != nil {
		return nil, "", fmt.Errorf("core database: %v", redact(err))
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, "", fmt.Errorf("core database unreachable: %v", redact(err))
	}
	return db, dialect, nil
}

// redact keeps a driver error's message from carrying a DSN's password
// into logs or stderr, and folds it onto one line.
func redact(err error) string {
	msg := strings.Join(strings.Fields(err.Error()), " ")
	if i := strings.Index(msg, "://"); i >= 0 {
		if j := strings.Index(msg[i:], "@"); j >= 0 {
			msg = msg[:i+3] + "***" + msg[i+j:]
		}
	}
	return msg
}

// migrateCore brings the core database to the newest migration.
func migrateCore(ctx context.Context, db *sql.DB, dialect string) error {
	fsys, err := fs.Sub(migrations.Core(), dialect)
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(goose.Dialect(dialect), db, fsys, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("core migrations: %w", err)
	}
	// Never p.Close(): it would close db, which the app owns.
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate core database: %w", err)
	}
	return nil
}

// tenantFDs is how many file descriptors the tenant databases may hold:
// every SQLite handle open with one connection, or the PostgreSQL budget
// of every server.
func tenantFDs(cfg config) uint64 {
	if strings.HasPrefix(cfg.tenantDB, "sqlite:") {
		return uint64(cfg.sqliteMaxOpen) * sqlitestrategy.HandleFDs
	}
	return uint64(cfg.dbMaxConns) * uint64(len(cfg.servers()))
}

// openTenantStrategy builds the strategy of each -tenant-db server and,
// when there are several, the placement.Router over them, which finds
// each tenant's server in reg.
func openTenantStrategy(ctx context.Context, cfg config, log *slog.Logger, reg *registry.SQL) (_ *tenantServers, _ dbstrategy.Strategy, _ func() error, err error) {
	servers := cfg.servers()
	ts := &tenantServers{strategies: make(map[string]dbstrategy.Strategy, len(servers)), closed: make(map[string]bool), reg: reg}
	for _, name := range cfg.tenantClosed {
		ts.closed[name] = true
	}
	var closers []func() error
	closeAll := func() error {
		var errs []error
		for i := len(closers) - 1; i >= 0; i-- {
			errs = append(errs, closers[i]())
		}
		return errors.Join(errs...)
	}
	defer func() {
		if err != nil {
			closeAll()
		}
	}()
	var roleSecret []byte
	if cfg.tenantDBRoleSecret != "off" && cfg.tenantIsolation == isolationDatabase && isPostgresURL(cfg.tenantDB) {
		// Each tenant database is owned by its own role, and reached
		// only as that role.
		if roleSecret, err = secret(cfg.tenantDBRoleSecret, cfg.dataDir, "tenant-db-role.secret", "-tenant-db-role-secret", "TENANT_DB_ROLE_SECRET", log); err != nil {
			return nil, nil, nil, err
		}
	}
	for _, srv := range servers {
		s, closeS, err := openServerStrategy(ctx, cfg, srv, roleSecret, len(servers) > 1)
		if err != nil {
			return nil, nil, nil, err
		}
		closers = append(closers, closeS)
		ts.names = append(ts.names, srv.name)
		ts.strategies[srv.name] = s
	}
	if !ts.placed() {
		return ts, ts.first(), closeAll, nil
	}
	if cfg.tenantIsolation == isolationSchema {
		pinned, err := placement.NewPinned(ts.strategies, ts.locate, placement.WithLogger(log))
		if err != nil {
			return nil, nil, nil, fmt.Errorf("tenant servers: %w", err)
		}
		ts.router = pinned.Router
		return ts, pinned, closeAll, nil
	}
	if ts.router, err = placement.New(ts.strategies, ts.locate, placement.WithLogger(log)); err != nil {
		return nil, nil, nil, fmt.Errorf("tenant servers: %w", err)
	}
	return ts, ts.router, closeAll, nil
}

// openServerStrategy builds the strategy of one tenant server: SQLite
// files, a PostgreSQL database per tenant, or a schema per tenant. named
// puts the server's name in errors, when there are several.
func openServerStrategy(ctx context.Context, cfg config, srv tenantServer, roleSecret []byte, named bool) (dbstrategy.Strategy, func() error, error) {
	if dir, ok := strings.CutPrefix(srv.url, "sqlite:"); ok {
		if dir == "" {
			return nil, nil, errors.New("invalid -tenant-db: sqlite: needs a folder")
		}
		s, err := sqlitestrategy.New(sqlitestrategy.Config{Dir: dir, Prefix: cfg.tenantDBPrefix, MaxConns: cfg.tenantConns, MaxOpen: cfg.sqliteMaxOpen})
		if err != nil {
			return nil, nil, fmt.Errorf("tenant databases: %w", err)
		}
		return s, func() error { return nil }, nil
	}
	what := ""
	if named {
		what = fmt.Sprintf(" on server %q", srv.name)
	}
	if cfg.tenantIsolation == isolationSchema {
		return openSchemaStrategy(ctx, cfg, srv.url, what)
	}
	pc := pgstrategy.Config{DSN: srv.url, Prefix: cfg.tenantDBPrefix, MaxConns: cfg.tenantConns, RoleSecret: roleSecret}
	s, err := pgstrategy.New(ctx, pc)
	if err != nil {
		return nil, nil, fmt.Errorf("tenant databases%s: %v", what, redact(err))
	}
	if pc.RoleSecret != nil {
		// A tenant role connects to its own database and nothing else:
		// not the admin database (where provisioning takes its locks),
		// the maintenance databases or the core database.
		restrict := append([]string{"postgres", "template1"}, sameServerDatabase(cfg.coreDB, srv.url)...)
		if err := s.RestrictConnect(ctx, restrict...); err != nil {
			s.Close()
			return nil, nil, fmt.Errorf("tenant databases%s: %v (run as a superuser or the databases' owner, or -tenant-db-role-secret off)", what, redact(err))
		}
	}
	return s, s.Close, nil
}

// openSchemaStrategy builds the schema-per-tenant strategy: every tenant a
// schema of the dsn database, served from one pool of -db-max-conns
// connections (the Manager's WithMaxConns sets its size). Unless
// -tenant-db-role-secret is off, each tenant also has a role of its own,
// which owns its schema and which every request runs as: those roles
// cannot log in, so they need no password and reach no other database.
func openSchemaStrategy(ctx context.Context, cfg config, dsn, what string) (dbstrategy.Strategy, func() error, error) {
	sc := schemastrategy.Config{DSN: dsn, Prefix: cfg.tenantDBPrefix, MaxConns: cfg.dbMaxConns, Roles: cfg.tenantDBRoleSecret != "off", SessionPooler: cfg.sessionPooler}
	s, err := schemastrategy.New(ctx, sc)
	if err != nil {
		hint := ""
		if sc.Roles {
			hint = " (the -tenant-db role needs CREATE on its database and SUPERUSER or CREATEROLE for the tenant roles, or -tenant-db-role-secret off)"
		}
		return nil, nil, fmt.Errorf("tenant schemas%s: %v%s", what, redact(err), hint)
	}
	return s, s.Close, nil
}

// sameServerDatabase returns the database of the PostgreSQL URL dsn when it
// is on the server of the PostgreSQL URL other, and nothing otherwise.
func sameServerDatabase(dsn, other string) []string {
	if !strings.HasPrefix(dsn, "postgres") {
		return nil
	}
	a, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil
	}
	b, err := pgx.ParseConfig(other)
	if err != nil || a.Host != b.Host || a.Port != b.Port {
		return nil
	}
	return []string{a.Database}
}

// jwtSecret returns the configured master secret, or the one generated
// into <data>/jwt.secret on first start.
func jwtSecret(cfg config, log *slog.Logger) ([]byte, error) {
	return secret(cfg.jwtSecret, cfg.dataDir, "jwt.secret", "-jwt-secret", "JWT_SECRET", log)
}

// secret returns a configured secret, or one generated into <data>/file on
// first start (mode 0600) and read from there on later starts.
func secret(configured, dataDir, file, flagName, envName string, log *slog.Logger) ([]byte, error) {
	if configured != "" {
		return []byte(configured), nil
	}
	path := filepath.Join(dataDir, file)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		s := strings.TrimSpace(string(b))
		if len(s) < 32 {
			return nil, fmt.Errorf("%s holds fewer than 32 bytes", path)
		}
		return []byte(s), nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("read %s: %w", file, err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, err
	}
	s := hex.EncodeToString(raw)
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data folder: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", file, err)
	}
	if _, err := f.WriteString(s + "\n"); err != nil {
		f.Close()
		return nil, fmt.Errorf("write %s: %w", file, err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("write %s: %w", file, err)
	}
	log.Warn("no "+flagName+" set: generated one and kept it for later starts; set "+envName+" in production", slog.String("path", path))
	return []byte(s), nil
}
