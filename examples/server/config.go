package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tenantkit/tenantkit/dbstrategy/sqlitestrategy"
)

// config is the server's configuration: every setting is a flag with an
// environment fallback (API.md, "Configuration").
type config struct {
	addr           string
	dataDir        string
	coreDB         string // sqlite:PATH or postgres://...
	tenantDB       string // sqlite:DIR or postgres://...; of several servers, the first one's
	tenantDBPrefix string
	// tenantServers are the PostgreSQL tenant servers of -tenant-db, in
	// the order given; the first is the default one, which holds the
	// tenants the registry places nowhere (Server ""). Empty means one
	// server, "default", at tenantDB (see config.servers).
	tenantServers []tenantServer
	tenantClosed  []string // names of the servers closed to new tenants
	// tenantIsolation is how PostgreSQL tenants are kept apart:
	// isolationDatabase (a database each, pgstrategy) or isolationSchema
	// (a schema each in the -tenant-db database, schemastrategy).
	tenantIsolation string
	// sessionPooler tells schemastrategy that -tenant-db goes through a
	// pooler in session mode (schemastrategy.Config.SessionPooler).
	sessionPooler bool
	// tenantSpares is how many tenant schemas are kept made and migrated
	// ahead of time (dbstrategy.WithSpares), with isolationSchema on one
	// server; 0 with any other setup.
	tenantSpares int
	// tenantDBRoleSecret derives the passwords of per-tenant PostgreSQL
	// roles; "" means generated, "off" turns the roles off.
	tenantDBRoleSecret string
	dbMaxConns         int
	tenantConns        int // connections one tenant's handle may hold
	sqliteMaxOpen      int // SQLite tenant handles open at once; 0: sqlitestrategy.DefaultMaxOpen()
	jwtSecret          string
	jwtPrevious        []string // retiring secrets: they verify, never sign
	jwtAlg             string   // HS256 or EdDSA
	tokenTTL           time.Duration
	logFormat          string // text or json
	logLevel           string
	pprofAddr          string // "" disables the profiling listener
	// metricsPerTenant adds a per-tenant request counter to /metrics:
	// one series per tenant, so for small fleets only.
	metricsPerTenant bool
	limits           limitsConfig // organizations per user, retentions
	// registerLimit registrations per registerWindow are allowed per
	// (directory, client address); 0 turns the throttle off.
	registerLimit  int
	registerWindow time.Duration
	// loginThrottle is where the login and registration throttles keep
	// their buckets: throttleShared (the core database, so replicas share
	// them) or throttleLocal (this process's memory).
	loginThrottle string
	hashQueue     int // callers that may wait for a hashing slot, per class; 0: auth's default
	// httpMaxConns caps the open client connections; 0: three quarters
	// of the file descriptor limit.
	httpMaxConns int
}

// The values of -login-throttle.
const (
	throttleShared = "shared"
	throttleLocal  = "local"
)

// minSpareConns is the least -db-max-conns that keeps spares: making one
// holds two connections of the pool while it migrates, and requests need
// one (dbstrategy.WithSpares refuses a smaller budget).
const minSpareConns = 3

// defaultSpares is the default of -tenant-spares with a schema per tenant:
// enough for a few creations in a row at the speed of a rename, while the
// Manager makes new ones (about 20 ms each) behind them.
const defaultSpares = 4

// The values of -tenant-isolation.
const (
	isolationDatabase = "database"
	isolationSchema   = "schema"
)

// errHelp is returned by parseConfig for -h: usage was printed, exit 0.
var errHelp = flag.ErrHelp

// configFlags registers the configuration flags on fs, with defaults from
// getenv, and returns a function that checks them once fs is parsed.
func configFlags(fs *flag.FlagSet, getenv func(string) string) func() (config, error) {
	var c config
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	fs.StringVar(&c.addr, "addr", env("ADDR", ":8000"), "listen `address` (env ADDR)")
	fs.StringVar(&c.dataDir, "data", env("DATA_DIR", "./data"), "`folder` for SQLite files and generated secrets (env DATA_DIR)")
	fs.StringVar(&c.coreDB, "core-db", getenv("CORE_DATABASE_URL"), "core database: sqlite:PATH or postgres:// `URL` (env CORE_DATABASE_URL; default sqlite:<data>/core.db)")
	var tenantDBs tenantDBFlag
	fs.Var(&tenantDBs, "tenant-db", "tenant databases: sqlite:DIR or postgres:// `URL`; with -tenant-isolation schema, the database that holds the tenant schemas. Several PostgreSQL servers: give NAME=postgres://... once per server (the first one holds the tenants placed before it had company); new tenants go to the open server with the fewest (env TENANT_DATABASE_URL, the URLs separated by commas or spaces; default sqlite:<data>/tenants)")
	closed := fs.String("tenant-db-closed", getenv("TENANT_DB_CLOSED"), "comma-separated `names` of -tenant-db servers closed to new tenants; their tenants are served as before (env TENANT_DB_CLOSED)")
	fs.StringVar(&c.tenantDBPrefix, "tenant-db-prefix", env("TENANT_DB_PREFIX", "tenant_"), "`prefix` of tenant database, schema and file names (env TENANT_DB_PREFIX)")
	fs.StringVar(&c.tenantIsolation, "tenant-isolation", env("TENANT_ISOLATION", isolationDatabase), "PostgreSQL: `how` tenants are kept apart: database (a database and connection pool each) or schema (a schema each in the -tenant-db database, one shared pool of -db-max-conns connections; for thousands of tenants) (env TENANT_ISOLATION)")
	fs.BoolVar(&c.sessionPooler, "tenant-db-session-pooler", getenv("TENANT_DB_SESSION_POOLER") == "true", "with -tenant-isolation schema: the -tenant-db URL goes through a pooler in session mode (PgBouncer's pool_mode = session); without it a pooler is refused at start, and with it a pooler in transaction or statement mode still is (env TENANT_DB_SESSION_POOLER=true)")
	fs.StringVar(&c.tenantDBRoleSecret, "tenant-db-role-secret", getenv("TENANT_DB_ROLE_SECRET"), "PostgreSQL only: `secret` (32+ bytes) the passwords of per-tenant database roles derive from; 'off' reaches every tenant database as the -tenant-db role instead. With -tenant-isolation schema the tenant roles have no password (each request runs SET ROLE to its tenant's role), so only 'off' matters: it turns them off (env TENANT_DB_ROLE_SECRET; default generated into <data>/tenant-db-role.secret)")
	spares := fs.String("tenant-spares", getenv("TENANT_SPARES"), fmt.Sprintf("with -tenant-isolation schema on one server: how many tenant `schemas` to keep made and migrated ahead of time, so that creating an organization renames one instead of running the migrations; 0 turns it off (env TENANT_SPARES; default %d with a schema per tenant on one server and -db-max-conns 3 or more, else 0)", defaultSpares))
	tenantConns := fs.String("db-tenant-conns", env("DB_TENANT_CONNS", "2"), "most `connections` one tenant's handle holds: a handle holds one, and more only while its tenant has concurrent queries; on PostgreSQL every connection counts against -db-max-conns, a handle holding none costs nothing; unused with -tenant-isolation schema (env DB_TENANT_CONNS)")
	maxConns := fs.String("db-max-conns", env("DB_MAX_CONNS", "40"), "PostgreSQL: most `connections` held to tenant databases at once; with -tenant-isolation schema, the size of the one pool every tenant shares (env DB_MAX_CONNS)")
	sqliteMaxOpen := fs.String("db-sqlite-max-open", env("DB_SQLITE_MAX_OPEN", strconv.Itoa(sqlitestrategy.DefaultMaxOpen())), "SQLite: most tenant `handles` open at once, each about 0.32 MiB, 3 file descriptors and 4 memory mappings (more while it serves concurrent requests); the default is what this machine leaves room for: 3/4 of the descriptor limit, half of vm.max_map_count, 1/4 of memory at 1 MiB a handle (env DB_SQLITE_MAX_OPEN)")
	fs.StringVar(&c.jwtSecret, "jwt-secret", getenv("JWT_SECRET"), "master `secret` for token keys, at least 32 bytes (env JWT_SECRET; default generated into <data>/jwt.secret)")
	previous := fs.String("jwt-previous-secrets", getenv("JWT_PREVIOUS_SECRETS"), "comma-separated retiring `secrets`: tokens they signed stay valid; remove one once its tokens have expired (env JWT_PREVIOUS_SECRETS)")
	fs.StringVar(&c.jwtAlg, "jwt-alg", env("JWT_ALG", algHS256), "token signing `algorithm`: HS256, or EdDSA to publish public keys at /.well-known/jwks.json (env JWT_ALG)")
	ttl := fs.String("token-ttl", env("TOKEN_TTL", "1h"), "access-token `lifetime` (env TOKEN_TTL)")
	fs.StringVar(&c.logFormat, "log-format", env("LOG_FORMAT", "text"), "log `format`: text or json (env LOG_FORMAT)")
	fs.StringVar(&c.logLevel, "log-level", env("LOG_LEVEL", "info"), "log `level`: debug, info, warn or error (env LOG_LEVEL)")
	fs.BoolVar(&c.metricsPerTenant, "metrics-per-tenant", getenv("METRICS_PER_TENANT") == "true", "count requests per tenant in /metrics; one series per tenant, for small fleets (env METRICS_PER_TENANT=true)")
	regLimit := fs.String("register-limit", env("REGISTER_LIMIT", strconv.Itoa(registerLimit)), "most `registrations` per client address and directory in each -register-window; 0 turns the limit off (env REGISTER_LIMIT)")
	regWindow := fs.String("register-window", env("REGISTER_WINDOW", registerWindow.String()), "the `window` of -register-limit (env REGISTER_WINDOW)")
	hashQueue := fs.String("hash-queue", getenv("HASH_QUEUE"), "most logins, and separately most registrations, that wait for a password hashing slot; beyond it they get 503 (env HASH_QUEUE; default 32 per slot, one slot per CPU)")
	maxClientConns := fs.String("http-max-conns", getenv("HTTP_MAX_CONNS"), "most open client `connections`; near it the oldest idle ones are closed to serve new ones (env HTTP_MAX_CONNS; default three quarters of the file descriptors the tenant databases leave: 3 per SQLite handle, or the PostgreSQL budget)")
	fs.StringVar(&c.pprofAddr, "pprof", getenv("PPROF_ADDR"), "serve net/http/pprof on this loopback `address`, e.g. 127.0.0.1:6060 (env PPROF_ADDR; default off)")
	fs.StringVar(&c.loginThrottle, "login-throttle", env("LOGIN_THROTTLE", throttleShared), "`where` the login and registration throttles count failures: shared (in the core database, so replicas behind one load balancer allow together what one allows) or local (in this process's memory: no query per login, but N replicas allow N times the failures) (env LOGIN_THROTTLE)")
	checkLimits := limitFlags(fs, getenv, &c.limits)

	return func() (config, error) {
		n, err := strconv.Atoi(*maxConns)
		if err != nil || n < 1 {
			return c, fmt.Errorf("invalid -db-max-conns %q: must be a positive integer", *maxConns)
		}
		c.dbMaxConns = n
		if c.loginThrottle != throttleShared && c.loginThrottle != throttleLocal {
			return c, fmt.Errorf("invalid -login-throttle %q: must be shared or local", c.loginThrottle)
		}
		if c.tenantConns, err = strconv.Atoi(*tenantConns); err != nil || c.tenantConns < 1 || c.tenantConns > c.dbMaxConns {
			return c, fmt.Errorf("invalid -db-tenant-conns %q: must be from 1 to -db-max-conns", *tenantConns)
		}
		if c.sqliteMaxOpen, err = strconv.Atoi(*sqliteMaxOpen); err != nil || c.sqliteMaxOpen < 1 {
			return c, fmt.Errorf("invalid -db-sqlite-max-open %q: must be a positive integer", *sqliteMaxOpen)
		}
		if c.tokenTTL, err = time.ParseDuration(*ttl); err != nil || c.tokenTTL < time.Minute || c.tokenTTL > 24*time.Hour {
			return c, fmt.Errorf("invalid -token-ttl %q: must be a Go duration from 1m to 24h", *ttl)
		}
		if c.registerLimit, err = strconv.Atoi(*regLimit); err != nil || c.registerLimit < 0 || c.registerLimit > 10_000 {
			return c, fmt.Errorf("invalid -register-limit %q: must be an integer from 0 to 10000", *regLimit)
		}
		if c.registerWindow, err = time.ParseDuration(*regWindow); err != nil || c.registerWindow < time.Second || c.registerWindow > 24*time.Hour {
			return c, fmt.Errorf("invalid -register-window %q: must be a Go duration from 1s to 24h", *regWindow)
		}
		if *hashQueue != "" {
			if c.hashQueue, err = strconv.Atoi(*hashQueue); err != nil || c.hashQueue < 1 || c.hashQueue > 1<<20 {
				return c, fmt.Errorf("invalid -hash-queue %q: must be an integer from 1 to 1048576", *hashQueue)
			}
		}
		if *maxClientConns != "" {
			if c.httpMaxConns, err = strconv.Atoi(*maxClientConns); err != nil || c.httpMaxConns < 1 {
				return c, fmt.Errorf("invalid -http-max-conns %q: must be a positive integer", *maxClientConns)
			}
		}
		if c.coreDB == "" {
			c.coreDB = "sqlite:" + c.dataDir + "/core.db"
		}
		entries := []string(tenantDBs)
		if len(entries) == 0 {
			entries = splitURLList(getenv("TENANT_DATABASE_URL"))
		}
		if c.tenantServers, err = parseTenantServers(entries); err != nil {
			return c, err
		}
		if len(c.tenantServers) > 0 {
			c.tenantDB = c.tenantServers[0].url
		} else {
			c.tenantDB = "sqlite:" + c.dataDir + "/tenants"
		}
		if c.tenantClosed, err = parseClosed(*closed, c.servers()); err != nil {
			return c, err
		}
		for _, u := range []struct{ flag, v string }{{"-core-db", c.coreDB}, {"-tenant-db", c.tenantDB}} {
			if !strings.HasPrefix(u.v, "sqlite:") && !isPostgresURL(u.v) {
				return c, fmt.Errorf("invalid %s: must start with sqlite: or postgres://", u.flag)
			}
		}
		switch c.tenantIsolation {
		case isolationDatabase:
		case isolationSchema:
			if !isPostgresURL(c.tenantDB) {
				return c, errors.New("invalid -tenant-isolation schema: needs a PostgreSQL -tenant-db (postgres://), the database that holds the schemas")
			}
			if c.dbMaxConns < 2 {
				return c, fmt.Errorf("invalid -db-max-conns %d with -tenant-isolation schema: must be at least 2 (a migration holds two connections)", c.dbMaxConns)
			}
		default:
			return c, fmt.Errorf("invalid -tenant-isolation %q: must be database or schema", c.tenantIsolation)
		}
		if c.sessionPooler && c.tenantIsolation != isolationSchema {
			return c, errors.New("invalid -tenant-db-session-pooler: only with -tenant-isolation schema")
		}
		spareable := c.tenantIsolation == isolationSchema && len(c.servers()) <= 1 && c.dbMaxConns >= minSpareConns
		switch {
		case *spares == "" && spareable:
			c.tenantSpares = defaultSpares
		case *spares == "":
		default:
			if c.tenantSpares, err = strconv.Atoi(*spares); err != nil || c.tenantSpares < 0 || c.tenantSpares > 1000 {
				return c, fmt.Errorf("invalid -tenant-spares %q: must be an integer from 0 to 1000", *spares)
			}
			if c.tenantSpares > 0 && !spareable {
				return c, errors.New("invalid -tenant-spares: only with -tenant-isolation schema, one -tenant-db server and -db-max-conns 3 or more")
			}
		}
		if c.jwtSecret != "" && len(c.jwtSecret) < 32 {
			return c, errors.New("invalid -jwt-secret: must be at least 32 bytes")
		}
		if s := c.tenantDBRoleSecret; s != "" && s != "off" && len(s) < 32 {
			return c, errors.New("invalid -tenant-db-role-secret: must be at least 32 bytes, or off")
		}
		if c.jwtAlg != algHS256 && c.jwtAlg != algEdDSA {
			return c, fmt.Errorf("invalid -jwt-alg %q: must be HS256 or EdDSA", c.jwtAlg)
		}
		if *previous != "" {
			for _, p := range strings.Split(*previous, ",") {
				if len(p) < 32 {
					return c, errors.New("invalid -jwt-previous-secrets: each must be at least 32 bytes")
				}
				c.jwtPrevious = append(c.jwtPrevious, p)
			}
		}
		if c.logFormat != "text" && c.logFormat != "json" {
			return c, fmt.Errorf("invalid -log-format %q: must be text or json", c.logFormat)
		}
		if c.pprofAddr != "" {
			host, _, err := net.SplitHostPort(c.pprofAddr)
			if ip := net.ParseIP(host); err != nil || (host != "localhost" && (ip == nil || !ip.IsLoopback())) {
				return c, fmt.Errorf("invalid -pprof %q: must be a loopback host:port", c.pprofAddr)
			}
		}
		switch c.logLevel {
		case "debug", "info", "warn", "error":
		default:
			return c, fmt.Errorf("invalid -log-level %q: must be debug, info, warn or error", c.logLevel)
		}
		if err := checkLimits(); err != nil {
			return c, err
		}
		return c, nil
	}
}

// parseFlags parses args into fs, printing usage (with synopsis) to usage
// for -h and returning errHelp. Positional arguments are refused unless
// fs's caller takes them (maxArgs).
func parseFlags(fs *flag.FlagSet, args []string, synopsis string, maxArgs int, usage io.Writer) error {
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(usage, "Usage:", synopsis)
			fs.SetOutput(usage)
			fs.PrintDefaults()
			return errHelp
		}
		return err
	}
	if fs.NArg() > maxArgs {
		return fmt.Errorf("unexpected argument %q", fs.Arg(maxArgs))
	}
	return nil
}

// parseConfig reads the server's flags from args (without the program
// name), falling back to getenv for each flag not given, then to defaults.
func parseConfig(args []string, getenv func(string) string, usage io.Writer) (config, error) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	finish := configFlags(fs, getenv)
	if err := parseFlags(fs, args, "server [serve] [flags]\n\n"+commandList+"\nFlags of serve:", 0, usage); err != nil {
		return config{}, err
	}
	return finish()
}

func isPostgresURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// tenantServer is one PostgreSQL tenant server of -tenant-db.
type tenantServer struct {
	name string // as the registry records it (registry.Record.Server)
	url  string
}

// defaultServer is the name of the one tenant server a -tenant-db URL
// without a name configures.
const defaultServer = "default"

// servers returns the tenant servers: tenantServers, or the one server
// "default" at tenantDB (SQLite too), for a config made without
// parseConfig.
func (c config) servers() []tenantServer {
	if len(c.tenantServers) > 0 {
		return c.tenantServers
	}
	return []tenantServer{{name: defaultServer, url: c.tenantDB}}
}

// tenantDBFlag is -tenant-db, which may be given several times.
type tenantDBFlag []string

func (f *tenantDBFlag) String() string {
	if f == nil {
		return ""
	}
	return strings.Join(*f, ",")
}

func (f *tenantDBFlag) Set(v string) error {
	*f = append(*f, splitURLList(v)...)
	return nil
}

// urlStart matches where an entry of a -tenant-db list starts: a URL, or
// a name and a URL.
var urlStart = regexp.MustCompile(`^([a-z0-9][a-z0-9_-]*=)?(postgres://|postgresql://|sqlite:)`)

// splitURLList splits a list of -tenant-db entries at white space and at
// commas followed by another entry, so that the commas of a multi-host
// PostgreSQL URL (postgres://h1,h2/db) stay in it.
func splitURLList(v string) []string {
	var out []string
	for _, field := range strings.Fields(v) {
		start := 0
		for i := 0; i < len(field); i++ {
			if field[i] == ',' && urlStart.MatchString(field[i+1:]) {
				if part := field[start:i]; part != "" {
					out = append(out, part)
				}
				start = i + 1
			}
		}
		if part := strings.TrimSuffix(field[start:], ","); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// serverName is what a tenant server may be called: it is stored in the
// registry and shown in logs and metrics.
var serverName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

// parseTenantServers reads the -tenant-db entries: nothing (SQLite under
// -data), one URL (the server "default", or SQLite), or NAME=URL entries,
// one per PostgreSQL server.
func parseTenantServers(entries []string) ([]tenantServer, error) {
	if len(entries) == 0 {
		return nil, nil
	}
	servers := make([]tenantServer, 0, len(entries))
	for _, e := range entries {
		ts := tenantServer{url: e}
		if name, url, ok := strings.Cut(e, "="); ok && !strings.Contains(name, ":") {
			if !serverName.MatchString(name) {
				return nil, fmt.Errorf("invalid -tenant-db %q: a server name is 1 to 32 of a-z, 0-9, _ and -, starting with a letter or digit", name)
			}
			ts = tenantServer{name: name, url: url}
		}
		switch {
		case strings.HasPrefix(ts.url, "sqlite:"):
			if len(entries) > 1 || ts.name != "" {
				return nil, errors.New("invalid -tenant-db: SQLite tenant databases are one sqlite:DIR, without a name; several servers are PostgreSQL ones")
			}
		case !isPostgresURL(ts.url):
			return nil, errors.New("invalid -tenant-db: must start with sqlite: or postgres://")
		case ts.name == "" && len(entries) > 1:
			return nil, errors.New("invalid -tenant-db: with several servers, name each one (NAME=postgres://URL)")
		}
		if ts.name == "" {
			ts.name = defaultServer
		}
		if slices.ContainsFunc(servers, func(o tenantServer) bool { return o.name == ts.name }) {
			return nil, fmt.Errorf("invalid -tenant-db: server %q is named twice", ts.name)
		}
		servers = append(servers, ts)
	}
	return servers, nil
}

// parseClosed reads -tenant-db-closed: names of servers, not all of them.
func parseClosed(v string, servers []tenantServer) ([]string, error) {
	var closed []string
	for _, name := range strings.Split(v, ",") {
		if name = strings.TrimSpace(name); name == "" || slices.Contains(closed, name) {
			continue
		}
		if !slices.ContainsFunc(servers, func(s tenantServer) bool { return s.name == name }) {
			return nil, fmt.Errorf("invalid -tenant-db-closed: no -tenant-db server is named %q", name)
		}
		closed = append(closed, name)
	}
	if len(closed) > 0 && len(closed) == len(servers) {
		return nil, errors.New("invalid -tenant-db-closed: every tenant server is closed: new organizations would have nowhere to go")
	}
	return closed, nil
}
