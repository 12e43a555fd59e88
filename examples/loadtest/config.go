package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Operations of the request mix.
const (
	opRead   = iota // GET /api/tenant/users/me
	opUpdate        // PUT /api/tenant/users/me
	opLogin         // POST /api/tenant/auth/login
	numOps
)

var opNames = [numOps]string{"read", "update", "login"}

// Phase names.
const (
	phaseBaseline = "baseline" // the one-database baseline server, one tenant's load
	phaseMapOne   = "map-one"  // the map-of-handles server, one tenant
	phaseOne      = "one"      // tenantkit, one tenant
	phaseMapDist  = "map-dist" // the map-of-handles server, the dist phase's tenants
	phaseDist     = "dist"     // tenantkit, tenants drawn by -dist
)

// tenantkitPhase reports whether phase measures the reference server.
func tenantkitPhase(phase string) bool { return phase == phaseOne || phase == phaseDist }

// config is the harness's configuration, from flags.
type config struct {
	url         string // existing server; empty: start one
	serverBin   string // prebuilt server binary; empty: go build
	serverPkg   string // package to build
	serverPID   int    // with -url: a process to read RSS from
	jwtSecret   string // with -url: lets the harness mint tokens
	tenants     int
	users       int // per tenant
	clients     int
	duration    time.Duration
	warmup      time.Duration
	dist        string // uniform, zipf or rotate
	zipfS       float64
	mix         [numOps]int
	db          string // sqlite or postgres
	isolation   string // with postgres: database or schema (the server's -tenant-isolation)
	pgDSN       string
	pgServers   []pgServer // tenant servers to place tenants on; empty: the tenants live on -pg-dsn's server
	prefix      string     // tenant database prefix; empty: generated
	maxConns    int
	tenantConns int
	sqliteOpen  int    // the server's -db-sqlite-max-open; 0: its default
	freshServer bool   // restart the started server before each of its phases
	logLevel    string // server and baseline log level
	phases      []string
	workers     int           // provisioning
	orgProbe    int           // organizations created one at a time, timed
	orgProbeGap time.Duration // pause before each of them
	tokens      string
	jsonPath    string
	reuse       string
	clean       bool
	profileDir  string
	seed        uint64
	progress    time.Duration
	quiet       bool
	restart     bool
	rounds      int
	args        []string
}

// parseConfig parses the harness flags (args without the program name).
func parseConfig(args []string, usage io.Writer) (config, error) {
	c := config{args: args}
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&c.url, "url", "", "base `URL` of an existing server (default: build and start one)")
	fs.StringVar(&c.serverBin, "server-bin", "", "server `binary` to start (default: go build -server-pkg into a temporary folder)")
	fs.StringVar(&c.serverPkg, "server-pkg", "github.com/tenantkit/tenantkit/examples/server", "`package` to build the server from")
	fs.IntVar(&c.serverPID, "server-pid", 0, "with -url: `pid` of the server, to read its RSS")
	fs.StringVar(&c.jwtSecret, "jwt-secret", "", "with -url: the server's master `secret`, to mint tokens instead of logging in")
	fs.IntVar(&c.tenants, "tenants", 100, "`number` of tenants")
	fs.IntVar(&c.users, "users-per-tenant", 1, "`number` of users in each tenant")
	fs.IntVar(&c.clients, "clients", 32, "concurrent `clients`")
	fs.DurationVar(&c.duration, "duration", 20*time.Second, "measured `time` of each phase")
	fs.DurationVar(&c.warmup, "warmup", 3*time.Second, "unmeasured `time` before each phase")
	fs.StringVar(&c.dist, "dist", "zipf", "tenant distribution of the dist phase: uniform, zipf, or rotate (each request the next tenant)")
	fs.Float64Var(&c.zipfS, "zipf-s", 1.1, "Zipf `exponent`, greater than 1")
	mix := fs.String("mix", "read=90,update=9,login=1", "request `mix`: weights of read, update and login")
	fs.StringVar(&c.db, "db", "sqlite", "tenant databases of the started server: sqlite or postgres")
	fs.StringVar(&c.isolation, "tenant-isolation", "database", "with -db postgres, the started server's -tenant-isolation: database (a database per tenant) or schema (a schema per tenant, in a database <prefix>schemas)")
	fs.StringVar(&c.pgDSN, "pg-dsn", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", "PostgreSQL admin `DSN` (-db postgres; also used to sample connections)")
	servers := fs.String("pg-servers", "", "with -db postgres, place the tenants on several PostgreSQL `servers`: NAME=DSN admin URLs separated by commas or spaces, passed to the started server as -tenant-db NAME=... each (the core database stays on -pg-dsn); connections are then also counted per server")
	fs.StringVar(&c.prefix, "tenant-db-prefix", "", "tenant database `prefix` (default: lt<random>_ for postgres, tenant_ for sqlite)")
	fs.IntVar(&c.maxConns, "db-max-conns", 0, "the server's -db-max-conns `budget` (0: the server's default)")
	fs.IntVar(&c.tenantConns, "db-tenant-conns", 0, "the server's -db-tenant-conns: most `connections` per tenant handle (0: the server's default)")
	fs.IntVar(&c.sqliteOpen, "db-sqlite-max-open", 0, "the server's -db-sqlite-max-open: most SQLite tenant `handles` open at once (0: the server's default)")
	fs.StringVar(&c.logLevel, "server-log-level", "info", "`level` of the started server's log, and of the baseline's request log")
	phases := fs.String("phases", "", "`phases` to run, in order: baseline, map-one, one, map-dist, dist (default: map-one,one,map-dist,dist with a SQLite server started here, else one,dist)")
	baseline := fs.Bool("baseline", true, "run the baseline phase (false drops it from -phases)")
	fs.IntVar(&c.workers, "provision-workers", 8, "concurrent `workers` while provisioning")
	fs.IntVar(&c.orgProbe, "org-probe", 20, "`number` of the organizations created one at a time, for an uncontended latency")
	fs.DurationVar(&c.orgProbeGap, "org-probe-gap", 0, "`pause` before each of the -org-probe creations (0: back to back), so that work a creation leaves to the background (the server's spare schemas) is done before the next")
	fs.StringVar(&c.tokens, "tokens", "auto", "how tenant tokens are made: mint (needs the secret), login, or auto")
	fs.StringVar(&c.jsonPath, "json", "", "write the results as JSON to `file`")
	fs.StringVar(&c.reuse, "reuse", "", "keep the data and a manifest in `folder`, and reuse them on the next run")
	fs.BoolVar(&c.clean, "clean", false, "with -reuse: delete the folder (and PostgreSQL databases) at the end")
	fs.StringVar(&c.profileDir, "profile", "", "write a CPU profile of the server per phase into `folder` (uses the server's -pprof)")
	fs.Uint64Var(&c.seed, "seed", 1, "random `seed` of the clients")
	fs.DurationVar(&c.progress, "progress", time.Second, "`interval` of the progress line; 0: none")
	fs.BoolVar(&c.quiet, "q", false, "no progress or provisioning messages")
	fs.IntVar(&c.rounds, "rounds", 1, "run the phases this many `times`, interleaved; figures are merged, ratios are the median of the rounds'")
	fs.BoolVar(&c.restart, "restart", true, "restart the started server between provisioning and the phases")
	fs.BoolVar(&c.freshServer, "fresh-server", true, "restart the started server before each of its phases, as the baseline is, so no phase inherits another's open handles")

	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(usage, "Usage: go run ./examples/loadtest [flags]")
			fs.SetOutput(usage)
			fs.PrintDefaults()
		}
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	var err error
	if c.mix, err = parseMix(*mix); err != nil {
		return c, err
	}
	mapOK := c.db == "sqlite" && c.url == ""
	if *phases == "" {
		*phases = "one,dist"
		if mapOK {
			*phases = "map-one,one,map-dist,dist"
		}
	}
	if c.phases, err = parsePhases(*phases, *baseline); err != nil {
		return c, err
	}
	if !mapOK && (slices.Contains(c.phases, phaseMapOne) || slices.Contains(c.phases, phaseMapDist)) {
		return c, errors.New("-phases: map-one and map-dist serve the SQLite files of a server started here: need -db sqlite and no -url")
	}
	switch {
	case c.tenants < 1:
		return c, errors.New("-tenants must be at least 1")
	case c.users < 1:
		return c, errors.New("-users-per-tenant must be at least 1")
	case c.clients < 1:
		return c, errors.New("-clients must be at least 1")
	case c.duration <= 0:
		return c, errors.New("-duration must be positive")
	case c.warmup < 0:
		return c, errors.New("-warmup must not be negative")
	case c.dist != "uniform" && c.dist != "zipf" && c.dist != "rotate":
		return c, fmt.Errorf("-dist %q: must be uniform, zipf or rotate", c.dist)
	case c.dist == "zipf" && !(c.zipfS > 1):
		return c, fmt.Errorf("-zipf-s %v: must be greater than 1", c.zipfS)
	case c.db != "sqlite" && c.db != "postgres":
		return c, fmt.Errorf("-db %q: must be sqlite or postgres", c.db)
	case c.isolation != "database" && c.isolation != "schema":
		return c, fmt.Errorf("-tenant-isolation %q: must be database or schema", c.isolation)
	case c.isolation == "schema" && c.db != "postgres":
		return c, errors.New("-tenant-isolation schema needs -db postgres")
	case c.sqliteOpen < 0:
		return c, errors.New("-db-sqlite-max-open must not be negative")
	case c.maxConns < 0:
		return c, errors.New("-db-max-conns must not be negative")
	case c.tenantConns < 0 || (c.maxConns > 0 && c.tenantConns > c.maxConns):
		return c, errors.New("-db-tenant-conns must be from 0 to -db-max-conns")
	case c.workers < 1:
		return c, errors.New("-provision-workers must be at least 1")
	case c.orgProbe < 0:
		return c, errors.New("-org-probe must not be negative")
	case c.orgProbeGap < 0:
		return c, errors.New("-org-probe-gap must not be negative")
	case c.tokens != "auto" && c.tokens != "mint" && c.tokens != "login":
		return c, fmt.Errorf("-tokens %q: must be auto, mint or login", c.tokens)
	case c.jwtSecret != "" && len(c.jwtSecret) < 32:
		return c, errors.New("-jwt-secret must be at least 32 bytes")
	case c.clean && c.reuse == "":
		return c, errors.New("-clean needs -reuse")
	case c.rounds < 1:
		return c, errors.New("-rounds must be at least 1")
	case c.progress < 0:
		return c, errors.New("-progress must not be negative")
	}
	switch c.logLevel {
	case "debug", "info", "warn", "error":
	default:
		return c, fmt.Errorf("-server-log-level %q: must be debug, info, warn or error", c.logLevel)
	}
	if c.url != "" {
		u, err := url.Parse(c.url)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return c, fmt.Errorf("-url %q: must be an http:// or https:// URL", c.url)
		}
		c.url = strings.TrimRight(c.url, "/")
		if c.serverBin != "" {
			return c, errors.New("-url and -server-bin exclude each other")
		}
		if c.profileDir != "" {
			return c, errors.New("-profile needs a server this harness starts (no -url)")
		}
	}
	if c.pgServers, err = parsePGServers(*servers); err != nil {
		return c, err
	}
	if len(c.pgServers) > 0 {
		switch {
		case c.db != "postgres":
			return c, errors.New("-pg-servers needs -db postgres")
		case c.url != "":
			return c, errors.New("-pg-servers needs a server this harness starts (no -url)")
		case c.reuse != "":
			return c, errors.New("-pg-servers does not combine with -reuse: the data set does not record the servers")
		}
	}
	if c.tokens == "mint" && c.url != "" && c.jwtSecret == "" {
		return c, errors.New("-tokens mint with -url needs -jwt-secret")
	}
	if c.tenants == 1 {
		c.phases = slices.DeleteFunc(c.phases, func(p string) bool { return p == phaseDist || p == phaseMapDist })
	}
	return c, nil
}

// parseMix reads "read=90,update=9,login=1"; missing operations weigh 0.
func parseMix(s string) ([numOps]int, error) {
	var mix [numOps]int
	total := 0
	for part := range strings.SplitSeq(s, ",") {
		name, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		i := slices.Index(opNames[:], name)
		n, err := strconv.Atoi(val)
		if !ok || i < 0 || err != nil || n < 0 {
			return mix, fmt.Errorf("-mix %q: want read=N,update=N,login=N with N >= 0", s)
		}
		mix[i] = n
		total += n
	}
	if total == 0 {
		return mix, fmt.Errorf("-mix %q: the weights add up to 0", s)
	}
	return mix, nil
}

// parsePhases reads the -phases list.
func parsePhases(s string, baseline bool) ([]string, error) {
	var out []string
	for p := range strings.SplitSeq(s, ",") {
		p = strings.TrimSpace(p)
		switch p {
		case phaseBaseline, phaseMapOne, phaseOne, phaseMapDist, phaseDist:
		default:
			return nil, fmt.Errorf("-phases: unknown phase %q (want baseline, map-one, one, map-dist, dist)", p)
		}
		if slices.Contains(out, p) {
			return nil, fmt.Errorf("-phases: %q given twice", p)
		}
		if p == phaseBaseline && !baseline {
			continue
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return nil, errors.New("-phases: nothing to run")
	}
	return out, nil
}

// mixString is the mix as given, for the report.
func mixString(mix [numOps]int) string {
	var parts []string
	for i, n := range mix {
		if n > 0 {
			parts = append(parts, opNames[i]+"="+strconv.Itoa(n))
		}
	}
	return strings.Join(parts, ",")
}

// pgServer is one tenant server of -pg-servers.
type pgServer struct {
	name string // the server's -tenant-db NAME
	dsn  string // admin URL: creates the schemas' database, samples, drops
}

// serverName is what the reference server accepts as a -tenant-db NAME.
var serverName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

// parsePGServers reads -pg-servers: NAME=postgres://... entries separated
// by commas or white space.
func parsePGServers(s string) ([]pgServer, error) {
	var out []pgServer
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || unicode.IsSpace(r) }) {
		name, dsn, ok := strings.Cut(f, "=")
		if !ok || !serverName.MatchString(name) {
			return nil, fmt.Errorf("-pg-servers: %q: want NAME=postgres://..., NAME of a-z, 0-9, _ and -", f)
		}
		if _, err := dsnWithDB(dsn, "postgres"); err != nil {
			return nil, fmt.Errorf("-pg-servers: server %s: must be a postgres:// URL", name)
		}
		if slices.ContainsFunc(out, func(o pgServer) bool { return o.name == name }) {
			return nil, fmt.Errorf("-pg-servers: server %s given twice", name)
		}
		out = append(out, pgServer{name: name, dsn: dsn})
	}
	return out, nil
}
