package schemastrategy

import (
	"context"
	crand "crypto/rand"
	"crypto/tls"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/database"
	"github.com/pressly/goose/v3/lock"

	"github.com/tenantkit/tenantkit/dbstrategy"
)

// Config configures a [Strategy]. Only DSN is required; the zero value of
// every other field means its default.
type Config struct {
	// DSN is a pgx URL or key=value string naming the one database that
	// holds every tenant's schema. Its role needs CREATE on that database
	// (to create schemas) and, with Roles, SUPERUSER or CREATEROLE. The
	// pool_* parameters that set the pool's size and idle time are
	// overridden by the fields below. Required.
	DSN string

	// Prefix is put in front of every tenant key to name its schema (and,
	// with Roles, its role). It follows [dbstrategy.ValidatePrefix]: 1 to
	// 15 bytes of a-z, 0-9 and '_', ending with '_'. Roles are shared by
	// every database of a server: give each deployment on a server a
	// prefix of its own, and one that no other prefix starts with.
	// "" means [DefaultPrefix].
	Prefix string

	// MaxConns is the size of the one pool every tenant shares: the most
	// server connections the strategy holds at once. A
	// [dbstrategy.Manager] given [dbstrategy.WithMaxConns] sets it
	// instead ([Strategy.SetConnBudget]). 0 means [DefaultMaxConns];
	// negative is invalid.
	MaxConns int

	// MaxConnIdleTime is how long a pooled connection may stay idle
	// before it is closed. 0 means [DefaultMaxConnIdleTime]; negative is
	// invalid.
	MaxConnIdleTime time.Duration

	// Roles gives every tenant a NOLOGIN role of its own, named like its
	// schema, which owns the schema and everything in it. Each lease then
	// also runs SET ROLE to it (in the same round trip as search_path),
	// so a query that names another tenant's schema, or a search_path
	// changed by mistake, gets "permission denied" (SQLSTATE 42501)
	// instead of the other tenant's rows. See "Roles" in the package
	// documentation for what it cannot stop. Default: false, no roles;
	// schemas are owned by the DSN's role and isolation rests on
	// search_path alone.
	Roles bool

	// SessionPooler says that the DSN reaches PostgreSQL through a
	// connection pooler in session mode (PgBouncer's pool_mode =
	// session), where one client connection keeps one server connection
	// for its life. The strategy keeps session state on a connection
	// for a lease's duration and between leases, so a pooler in
	// transaction or statement mode is unsafe (see "Poolers and Citus" in
	// the package documentation). [New] detects any pooler or proxy on
	// the way (its process ID is not the backend's) and refuses it,
	// wrapping [dbstrategy.ErrInvalidConfig], unless SessionPooler is
	// set; then it checks, with a second connection, that transactions
	// of one connection stay on one backend, and refuses the pooler if
	// they move. Default: false, a direct connection.
	SessionPooler bool
}

// Defaults of [Config], and of the strategy's handle limit.
const (
	DefaultPrefix          = "tenant_"
	DefaultMaxConns        = 10
	DefaultMaxConnIdleTime = 5 * time.Minute

	// DefaultMaxHandles is [Strategy.MaxHandles]: a tenant's handle holds
	// no connection, only a *sql.DB view of the shared pool (about 8 KiB
	// of the reference server's memory a handle, measured, with its
	// goroutine), so a fleet of ten thousand tenants stays open, in about
	// 130 MiB at most: each handle open costs an existence query and, on
	// its first lease, a version check.
	DefaultMaxHandles = 16384
)

const (
	minServerVersion = 130000
	minBudget        = 2 // goose holds one connection for its lock and migrates on another

	// resetTimeout bounds the closing of a connection the strategy
	// discards.
	resetTimeout = 5 * time.Second

	// resetSQL undoes what a lease may have changed in its session: the
	// session and current role, every setting (search_path among them),
	// temporary tables, cursors, LISTEN, advisory locks and the
	// sequences' session values (lastval). It is DISCARD ALL without
	// DEALLOCATE ALL (which would drop pgx's statement cache behind pgx's
	// back) and DISCARD PLANS; DISCARD ALL itself cannot run in a
	// multi-statement string either. It runs with the simple protocol, as
	// one implicit transaction, followed in the same round trip by a
	// tenant's scope when a connection changes tenant
	// (tenantConnector.scopeSQL holds both). Statements prepared by SQL
	// are not dropped but checked for (statementsCheck).
	resetSQL = `SET SESSION AUTHORIZATION DEFAULT; RESET ROLE; RESET ALL; DISCARD TEMP; DISCARD SEQUENCES; CLOSE ALL; UNLISTEN *; SELECT pg_catalog.pg_advisory_unlock_all()`

	// statementsCheck is a statement that fails, with SQLSTATE 2201F
	// (codeStatements: the square root of a negative number), if the
	// session holds a statement prepared by SQL, or one with a parameter
	// of a type not visible in the session's search_path (written
	// schema-qualified, with a dot): statementsExpr over statementsFrom.
	//
	// The first: PREPARE, run by a lease or by a function it called. Such
	// a statement may stand in for one of pgx's cached statements, whose
	// names follow from their text (a lease can DEALLOCATE one and PREPARE
	// its own under that name), and pgx would run it for the next tenant
	// on the connection: as that tenant, in its schema. pgx prepares its
	// statements with the protocol, never with SQL, so they pass.
	//
	// The second: PostgreSQL plans a cached statement again for a new
	// search_path, but keeps the parameter types it resolved when it was
	// prepared, so a statement prepared for one tenant would coerce the
	// next tenant's arguments to the first tenant's domain or enum (whose
	// CHECK may call that tenant's functions). Built-in types, and the
	// new tenant's own, are visible; another tenant's, or an extension's
	// outside search_path, make the session's statements be prepared again
	// after the switch (an application whose queries take each tenant's
	// own enum pays that at every switch between two such tenants).
	//
	// It goes wherever a connection changes tenant, under the new scope
	// and before anything of the new taker runs: last in scopeNow's round
	// trip, and in the pipelined guard. The taker then drops every
	// prepared statement (DEALLOCATE ALL, which clears pgx's cache too) and
	// tries again (dropStatements). It reads the function under the
	// pg_prepared_statements view, in an aggregate rather than a
	// subquery: in pgbench that costs a switch about 22 µs of PostgreSQL's
	// CPU, where the view in an EXISTS cost about 30 and a subquery over
	// the parameter types 15 more.
	statementsCheck = "SELECT " + statementsExpr + statementsFrom
	statementsExpr  = `pg_catalog.sqrt(CASE WHEN pg_catalog.bool_or(p.from_sql OR ` +
		`pg_catalog.strpos(pg_catalog.array_to_string(p.parameter_types, ','), '.') OPERATOR(pg_catalog.>) 0) THEN -1.0 ELSE 1.0 END)`
	statementsFrom = " FROM pg_catalog.pg_prepared_statement() p"
	codeStatements = "2201F"
)

// SQLSTATE codes of statements of pgx's cache that the server refuses
// (isStalePlan).
const (
	codeFeatureNotSupp  = "0A000" // among others, "cached plan must not change result type"
	codeInvalidStmtName = "26000" // prepared statement does not exist
	// isStaleTypes: a parameter type fixed by an earlier prepare
	codeUndefinedFunction = "42883" // among others, "operator does not exist"
	codeDatatypeMismatch  = "42804"
)

// Strategy keeps each tenant in a schema of its own, in one PostgreSQL
// database, and serves every tenant from one shared pool of connections.
//
// Strategy is safe for concurrent use, also by several processes sharing a
// database and prefix. It owns the shared pool, made on first use, which
// [Strategy.Close] closes. The handles [Strategy.Open] returns are views
// of that pool: they own no connection, and closing one closes nothing
// shared.
type Strategy struct {
	base      *pgxpool.Config // parsed DSN
	prefix    string
	roles     bool
	superuser bool // the DSN's role is a superuser: no memberships needed
	idle      time.Duration

	// tokens makes the scopes' tokens (newScopeToken): a generator of
	// cryptographic strength, seeded from crypto/rand, so that a switch
	// costs no system call for them.
	tokensMu sync.Mutex
	tokens   *rand.ChaCha8
	// done is a context ended from the start: dropNotifications' wait,
	// which then returns at once.
	done context.Context

	closed atomic.Bool

	mu       sync.Mutex
	maxConns int32         // pool size; fixed once the pool exists
	pool     *pgxpool.Pool // nil until first use
	// lot holds the connections taken from pool; set with it, read
	// without mu on every take and give-back.
	lot atomic.Pointer[lot]
	// opens numbers the handles Open returns: a handle's scope key holds
	// its number, so a connection a lease of an earlier handle left
	// scoped is scoped again before a lease of a later one. A tenant
	// dropped and made anew (here or in another process: a move back to
	// this server) gets a new handle, and its leases never get a session
	// still scoped to the dropped schema's role.
	opens atomic.Uint64
	// scoped counts the round trips that reset or scoped a connection,
	// and pipelined those of them sent with a lease's first query.
	scoped    atomic.Int64
	pipelined atomic.Int64
	// simpleProtocol reports that the DSN makes pgx's queries use the
	// simple protocol: a lease's scope then takes a round trip of its own.
	simpleProtocol bool
}

var (
	_ dbstrategy.Strategy        = (*Strategy)(nil)
	_ dbstrategy.ConnPinner      = (*Strategy)(nil)
	_ dbstrategy.ConnBudgeter    = (*Strategy)(nil)
	_ dbstrategy.HandleLimiter   = (*Strategy)(nil)
	_ dbstrategy.MigrationLocker = (*Strategy)(nil)
	_ dbstrategy.MigrationStorer = (*Strategy)(nil)
	_ dbstrategy.Sparer          = (*Strategy)(nil)
)

// New checks cfg, connects once to check the server (PostgreSQL 13 or
// later) and, with Roles, the DSN's role, and returns the strategy. The
// shared pool is made on first use, so that [Strategy.SetConnBudget] can
// size it. Errors in cfg wrap [dbstrategy.ErrInvalidConfig]. The caller
// closes the returned Strategy.
func New(ctx context.Context, cfg Config) (*Strategy, error) {
	if cfg.DSN == "" {
		return nil, fmt.Errorf("%w: DSN is required", errInvalidConfig)
	}
	prefix := cfg.Prefix
	if prefix == "" {
		prefix = DefaultPrefix
	}
	if err := dbstrategy.ValidatePrefix(prefix); err != nil {
		return nil, fmt.Errorf("schemastrategy: %w", err)
	}
	maxConns := cfg.MaxConns
	switch {
	case maxConns < 0 || maxConns > math.MaxInt32:
		return nil, fmt.Errorf("%w: MaxConns %d is negative or too large", errInvalidConfig, maxConns)
	case maxConns == 0:
		maxConns = DefaultMaxConns
	}
	idle := cfg.MaxConnIdleTime
	switch {
	case idle < 0:
		return nil, fmt.Errorf("%w: MaxConnIdleTime %v is negative", errInvalidConfig, idle)
	case idle == 0:
		idle = DefaultMaxConnIdleTime
	}
	base, err := pgxpool.ParseConfig(cfg.DSN)
	if err != nil {
		// pgconn redacts the password from parse errors.
		return nil, fmt.Errorf("%w: DSN: %v", errInvalidConfig, err)
	}
	conn, err := pgx.ConnectConfig(ctx, base.ConnConfig.Copy())
	if err != nil {
		return nil, fmt.Errorf("schemastrategy: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var (
		version                  int
		role                     string
		super, createRole, canDB bool
		backendPID               uint32
	)
	// The simple protocol: through a pooler in transaction mode, a
	// statement prepared now might be missing later.
	err = conn.QueryRow(ctx, `SELECT current_setting('server_version_num')::int, rolname, rolsuper, rolcreaterole,
	has_database_privilege(current_database(), 'CREATE'), pg_backend_pid()
FROM pg_catalog.pg_roles WHERE rolname = current_user`, pgx.QueryExecModeSimpleProtocol).Scan(&version, &role, &super, &createRole, &canDB, &backendPID)
	if err != nil {
		return nil, fmt.Errorf("schemastrategy: read the server and the DSN's role: %w", err)
	}
	if behindProxy(conn, backendPID) {
		if !cfg.SessionPooler {
			return nil, fmt.Errorf("%w: the DSN goes through a connection pooler or proxy (the server's process ID %d is not the backend's, %s): "+
				"connect to PostgreSQL directly, or through a pooler in session mode and set SessionPooler", errInvalidConfig, conn.PgConn().PID(), backendPIDString(backendPID))
		}
		if err := checkSessionPooler(ctx, base.ConnConfig, conn); err != nil {
			return nil, err
		}
	}
	if version < minServerVersion {
		return nil, fmt.Errorf("schemastrategy: PostgreSQL %d is too old: need 13 or later", version)
	}
	if !canDB {
		return nil, fmt.Errorf("%w: the DSN's role %q may not create schemas in the DSN's database", errInvalidConfig, role)
	}
	if cfg.Roles {
		if strings.HasPrefix(role, prefix) {
			return nil, fmt.Errorf("%w: the DSN's role %q starts with the prefix %q", errInvalidConfig, role, prefix)
		}
		if !super && !createRole {
			return nil, fmt.Errorf("%w: Roles is set, and the DSN's role %q has neither SUPERUSER nor CREATEROLE", errInvalidConfig, role)
		}
	}
	var seed [32]byte
	_, _ = crand.Read(seed[:]) // never fails
	done, cancel := context.WithCancel(context.Background())
	cancel()
	return &Strategy{
		base:      base,
		prefix:    prefix,
		roles:     cfg.Roles,
		superuser: super,
		idle:      idle,
		maxConns:  int32(maxConns),
		tokens:    rand.NewChaCha8(seed),
		done:      done,
	}, nil
}

// NewManager returns a [dbstrategy.Manager] over a new Strategy for cfg,
// configured by opts: the shortest path to one PostgreSQL schema per tenant, on one shared pool. It is [New]
// (ctx bounds only that) followed by [dbstrategy.NewManager], and
// returns the first error of either, having closed the Strategy if the
// Manager could not be made. The Manager owns the strategy
// ([dbstrategy.WithCloseStrategy]): [dbstrategy.Manager.Close] closes
// it, after the handles, so the caller closes the Manager only, once the
// work that leases has stopped. Use New and dbstrategy.NewManager to
// reach the Strategy itself (for its Stats, or to share it).
func NewManager(ctx context.Context, cfg Config, opts ...dbstrategy.Option) (*dbstrategy.Manager, error) {
	s, err := New(ctx, cfg)
	if err != nil {
		return nil, err
	}
	m, err := dbstrategy.NewManager(s, append(opts[:len(opts):len(opts)], dbstrategy.WithCloseStrategy(true))...)
	if err != nil {
		if cerr := s.Close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
		return nil, err
	}
	return m, nil
}

// Close closes the shared pool, waiting for connections in use to be
// given back. Afterwards every method that needs the server returns
// [ErrClosed], and the handles [Strategy.Open] returned fail. Close may be
// called more than once.
func (s *Strategy) Close() error {
	s.closed.Store(true)
	s.mu.Lock()
	pool, lot := s.pool, s.lot.Load()
	s.mu.Unlock()
	if pool != nil {
		closeConns(lot.close()) // the pool waits for every connection taken
		pool.Close()            // idempotent
	}
	return nil
}

// getLot returns the lot of the shared pool, making both on first use.
func (s *Strategy) getLot() (*lot, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	if l := s.lot.Load(); l != nil {
		return l, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if l := s.lot.Load(); l != nil {
		return l, nil
	}
	cfg := s.base.Copy()
	cfg.MaxConns = s.maxConns
	cfg.MinConns = 0
	cfg.MinIdleConns = 0
	cfg.MaxConnIdleTime = s.idle
	cfg.HealthCheckPeriod = min(time.Minute, s.idle)
	cfg.PrepareConn = s.prepareConn // every connection handed out: scope or reset (conn.go)
	s.simpleProtocol = cfg.ConnConfig.DefaultQueryExecMode == pgx.QueryExecModeSimpleProtocol
	// A pipeConn under pgconn sends a lease's scope with its first query
	// (pipe.go); not over TLS, where pgx's SCRAM channel binding needs the
	// *tls.Conn itself, so a lease's scope takes a round trip of its own.
	after := cfg.ConnConfig.AfterNetConnect
	cfg.ConnConfig.AfterNetConnect = func(ctx context.Context, pc *pgconn.Config, conn net.Conn) (net.Conn, error) {
		if after != nil {
			var err error
			if conn, err = after(ctx, pc, conn); err != nil {
				return nil, err
			}
		}
		if _, ok := conn.(*tls.Conn); ok {
			return conn, nil
		}
		return &pipeConn{Conn: conn, scoped: &s.scoped, pipelined: &s.pipelined}, nil
	}
	cfg.AfterConnect = func(_ context.Context, conn *pgx.Conn) error {
		conn.PgConn().CustomData()[bornKey] = time.Now() // for giveBack's MaxConnLifetime
		return nil
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg) // connects lazily: no I/O
	if err != nil {
		return nil, fmt.Errorf("schemastrategy: make the pool: %w", err)
	}
	s.pool = pool
	l := newLot(stdlib.GetPoolConnector(pool), int(s.maxConns), s.idle, cfg.MaxConnLifetime, closeConns)
	s.lot.Store(l)
	return l, nil
}

// takeConn returns a connection of the shared pool for a taker of scope
// key (a tenantConnector's key, carried in ctx with scopeKey, and a lease
// with leaseKey; "" for the strategy's own work), waiting for one until
// ctx ends. The lot hands out an idle connection of that scope first (see
// lot.go); prepareConn then resets and scopes it as its rules say, in at
// most one round trip (none for a lease of the tenant whose lease left
// it; for another lease, the scope is sent with the lease's first query).
// A connection that fails to scope because it is broken (after a server
// restart, say) is closed and another taken; a tenant whose schema is
// gone gets an error wrapping [dbstrategy.ErrNotFound].
func (s *Strategy) takeConn(ctx context.Context, key string) (*stdlib.Conn, error) {
	lot, err := s.getLot()
	if err != nil {
		return nil, err
	}
	for range maxTakes {
		sc, since, err := lot.take(ctx, key)
		if err != nil {
			return nil, err
		}
		if sc == nil { // a token: a new connection, scoped by PrepareConn
			dc, err := lot.connector.Connect(ctx)
			if err != nil {
				lot.lost()
				return nil, err
			}
			return dc.(*stdlib.Conn), nil
		}
		if since > pingAfter {
			if pc, ok := sc.Conn().PgConn().Conn().(*pipeConn); ok && pc.armed() != nil {
				// A lease left its scope unsent: the ping must not wait
				// for it. The session is whatever an earlier taker left:
				// the next taker resets it, whoever it is.
				pc.arm(nil)
				sc.Conn().PgConn().CustomData()[stateKey] = connState{scope: dirtyScope}
			}
			if err := sc.Conn().PgConn().Ping(ctx); err != nil {
				s.drop(sc)
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				continue
			}
		}
		ok, err := s.prepareConn(ctx, sc.Conn())
		switch {
		case !ok:
			s.drop(sc)
			if err != nil {
				return nil, err
			}
		case err != nil: // reset, not scoped: clean
			s.giveBack(sc)
			return nil, err
		default:
			return sc, nil
		}
	}
	return nil, errors.New("schemastrategy: too many broken connections in a row")
}

// bornKey is the key of a connection's time of connecting in its
// pgconn.CustomData.
const bornKey = "tenantkit/schemastrategy.born"

// maxTakes bounds the broken connections takeConn closes in a row before
// it gives up.
const maxTakes = 64

// giveBack gives a connection takeConn returned back to the lot, or
// closes it if it is broken, busy or in a transaction, older than the
// pool's MaxConnLifetime (pgxpool's, 1 hour unless the DSN's
// pool_max_conn_lifetime says otherwise: connections kept in the lot never
// go back to the pgxpool, which would close them), or if the strategy is
// closed.
func (s *Strategy) giveBack(sc *stdlib.Conn) {
	pc := sc.Conn()
	lot := s.lot.Load()
	born, _ := pc.PgConn().CustomData()[bornKey].(time.Time)
	if pc.IsClosed() || pc.PgConn().IsBusy() || pc.PgConn().TxStatus() != 'I' ||
		(lot.lifetime > 0 && time.Since(born) > lot.lifetime) {
		s.drop(sc)
		return
	}
	if !lot.give(sc) {
		discard(sc)
	}
}

// drop closes a connection takeConn returned, and gives its place in the
// pool to the next taker.
func (s *Strategy) drop(sc *stdlib.Conn) {
	discard(sc)
	s.lot.Load().lost()
}

// closeConns closes connections taken out of the lot for good.
func closeConns(conns []*stdlib.Conn) {
	for _, sc := range conns {
		discard(sc)
	}
}

// withConn runs f on a connection of the shared pool, reset and scoped to
// no tenant, for the strategy's own work, and gives it back. f sends its
// statements with the simple protocol: the connection's last lease may
// have deallocated its prepared statements behind pgx's cache.
func (s *Strategy) withConn(ctx context.Context, f func(*pgx.Conn) error) error {
	sc, err := s.takeConn(ctx, "")
	if err != nil {
		return err
	}
	defer s.giveBack(sc)
	return f(sc.Conn())
}

// SchemaName returns the name of the tenant's schema (and, with
// [Config.Roles], of its role): the prefix followed by the key. It returns
// an error wrapping [dbstrategy.ErrInvalidKey] if [dbstrategy.ValidateKey]
// refuses the key.
func (s *Strategy) SchemaName(tenantID string) (string, error) {
	if err := dbstrategy.ValidateKey(tenantID); err != nil {
		return "", err
	}
	return s.prefix + tenantID, nil
}

// Dialect returns "postgres".
func (s *Strategy) Dialect() string { return "postgres" }

// MaxHandles returns [DefaultMaxHandles], for [dbstrategy.HandleLimiter].
func (s *Strategy) MaxHandles() int { return DefaultMaxHandles }

// SetConnBudget sets the size of the shared pool to n, for
// [dbstrategy.ConnBudgeter]: a [dbstrategy.Manager] given
// [dbstrategy.WithMaxConns](n) calls it once. Every connection the
// strategy makes is in that pool, so the process never holds more than n
// connections to the server. n must be at least 2 (a migration holds one
// connection for its lock and works on another). Once the pool is in use
// its size is fixed: a later call with the same n does nothing, with
// another n it fails.
func (s *Strategy) SetConnBudget(n int) error {
	if n < minBudget || n > math.MaxInt32 {
		return fmt.Errorf("%w: connection budget %d: must be at least %d", errInvalidConfig, n, minBudget)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pool != nil && int(s.maxConns) != n {
		return fmt.Errorf("%w: the shared pool is in use with %d connections", errInvalidConfig, s.maxConns)
	}
	s.maxConns = int32(n)
	return nil
}

// ConnStats counts the connections of the shared pool.
type ConnStats struct {
	MaxConns int // the pool's size
	Conns    int // connections open now, busy or idle
	InUse    int // of Conns, those a lease (or the strategy) holds now
	Idle     int // of Conns, those idle, kept for the tenant that used them last

	// Scoped counts the round trips, ever, that reset a connection or
	// scoped it to a tenant: a lease that gets the connection its
	// tenant's previous lease left adds none.
	Scoped int64
	// Pipelined counts, of Scoped, the scopes sent in the same round trip
	// as a lease's first query rather than in one of their own (see
	// "Scope and reset" in the package documentation).
	Pipelined int64
}

// ConnStats returns the shared pool's connection counts: what the
// strategy holds against the server's max_connections.
func (s *Strategy) ConnStats() ConnStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := ConnStats{MaxConns: int(s.maxConns), Scoped: s.scoped.Load(), Pipelined: s.pipelined.Load()}
	if s.pool != nil {
		held, parked := s.lot.Load().stats()
		st.Conns, st.InUse, st.Idle = int(s.pool.Stat().TotalConns()), held-parked, parked
	}
	return st
}

// tenantLockSQL takes the transaction advisory lock that serializes Create
// and Drop of the schema name across processes.
const tenantLockSQL = `SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('tenantkit/schemastrategy tenant' || $1, 0))`

// Create makes the tenant's schema if it does not exist yet, and with
// [Config.Roles] its role first (or repairs it: attributes, membership,
// ownership of the schema). It is idempotent, also when several goroutines
// or processes create one tenant at once: all of them return nil. A
// transaction advisory lock per tenant serializes the steps across
// processes.
func (s *Strategy) Create(ctx context.Context, tenantID string) error {
	name, err := s.SchemaName(tenantID)
	if err != nil {
		return err
	}
	err = s.withConn(ctx, func(conn *pgx.Conn) error {
		return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			return s.create(ctx, tx, name, name)
		})
	})
	if err != nil {
		return fmt.Errorf("schemastrategy: create tenant %q: %w", tenantID, err)
	}
	return nil
}

// create makes the schema name, and with roles the role role owning it,
// in tx, under the schema's lock. A tenant's role is named like its
// schema; a spare's role keeps its ready name while its schema is made
// under another (spares.go).
func (s *Strategy) create(ctx context.Context, tx pgx.Tx, name, role string) error {
	if _, err := tx.Exec(ctx, tenantLockSQL, pgx.QueryExecModeSimpleProtocol, name); err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	if !s.roles {
		_, err := tx.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+quote(name), pgx.QueryExecModeSimpleProtocol)
		return err
	}
	if err := s.ensureRole(ctx, tx, role); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+quote(name)+" AUTHORIZATION "+quote(role)+
		"; ALTER SCHEMA "+quote(name)+" OWNER TO "+quote(role), pgx.QueryExecModeSimpleProtocol)
	return err
}

// listNames returns the schemas whose names start with prefix and, with
// roles, also the roles that do, on q (a connection or a transaction).
func (s *Strategy) listNames(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, prefix string, roles bool) ([]string, error) {
	sql := "SELECT nspname FROM pg_catalog.pg_namespace WHERE starts_with(nspname::text, $1)"
	if roles {
		sql += " UNION SELECT rolname FROM pg_catalog.pg_roles WHERE starts_with(rolname::text, $1)"
	}
	rows, err := q.Query(ctx, sql, pgx.QueryExecModeSimpleProtocol, prefix)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// dropSQL drops the schema name and everything in it and, with roles, the
// role role.
func (s *Strategy) dropSQL(name, role string) string {
	q := "DROP SCHEMA IF EXISTS " + quote(name) + " CASCADE"
	if s.roles {
		q += "; DROP ROLE IF EXISTS " + quote(role)
	}
	return q
}

// roleAttrs are the attributes of a tenant role. NOINHERIT: the DSN's role,
// a member of each tenant role so that it may SET ROLE to it, does not get
// its privileges by inheritance through it either way.
const roleAttrs = "NOLOGIN NOINHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"

// ensureRole makes the role name, or sets its attributes again, and makes
// the DSN's role a member of it unless it is a superuser (needed for SET
// ROLE, and to give the role a schema).
func (s *Strategy) ensureRole(ctx context.Context, tx pgx.Tx, name string) error {
	var exists, member bool
	err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = $1),
	COALESCE(pg_catalog.pg_has_role(current_user, (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = $1), 'MEMBER'), false)`, pgx.QueryExecModeSimpleProtocol, name).Scan(&exists, &member)
	if err != nil {
		return fmt.Errorf("read role: %w", err)
	}
	q := "ALTER ROLE " + quote(name) + " " + roleAttrs
	if !exists {
		q = "CREATE ROLE " + quote(name) + " " + roleAttrs
	}
	if _, err := tx.Exec(ctx, q, pgx.QueryExecModeSimpleProtocol); err != nil {
		return fmt.Errorf("role: %w", err)
	}
	if !s.superuser && (!exists || !member) {
		if _, err := tx.Exec(ctx, "GRANT "+quote(name)+" TO CURRENT_USER", pgx.QueryExecModeSimpleProtocol); err != nil {
			return fmt.Errorf("grant role: %w", err)
		}
	}
	return nil
}

// Open returns a handle to the tenant's schema: a *sql.DB view of the
// shared pool whose every connection is reset and scoped to the tenant
// when taken (search_path set to the tenant's schema, then pg_temp; with
// [Config.Roles], SET ROLE to the tenant's role), in one round trip or,
// for a lease, with its first query, and goes back to the shared pool as soon as it is given back, never kept
// idle by the view (see "Scope and reset" in the package documentation). Open checks, in one query
// on the shared pool, that the schema exists; if it does not, Open returns
// an error wrapping [dbstrategy.ErrNotFound] and creates nothing. The
// caller closes the handle, which closes nothing shared.
func (s *Strategy) Open(ctx context.Context, tenantID string) (*sql.DB, error) {
	name, err := s.SchemaName(tenantID)
	if err != nil {
		return nil, err
	}
	var exists bool
	err = s.withConn(ctx, func(conn *pgx.Conn) error {
		return conn.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_catalog.pg_namespace WHERE nspname = $1)", pgx.QueryExecModeSimpleProtocol, name).Scan(&exists)
	})
	if err != nil {
		return nil, fmt.Errorf("schemastrategy: open tenant %q: %w", tenantID, err)
	}
	if !exists {
		return nil, fmt.Errorf("schemastrategy: open tenant %q: %w", tenantID, dbstrategy.ErrNotFound)
	}
	role := "none"
	if s.roles {
		role = name
	}
	db := sql.OpenDB(newTenantConnector(s, tenantID, name, role, s.opens.Add(1)))
	// Every connection goes back to the shared pool at once, and every
	// connection is taken from it, through its PrepareConn hook: the view
	// neither keeps idle connections nor hands one from a caller to
	// another (no limit of its own: the shared pool's size is the limit,
	// and callers wait there).
	db.SetMaxIdleConns(0)
	db.SetMaxOpenConns(0)
	return db, nil
}

// PinConn returns one connection of db, a handle returned by Open, scoped
// to its tenant, for [dbstrategy.ConnPinner]: it waits for a free
// connection of the shared pool until ctx ends. If the connection's last
// taker was a lease of the same tenant, it is handed out as that lease
// left it, at no round trip; otherwise it is reset and scoped with the
// lease's first query, or in a round trip of its own before a first call
// of the simple protocol (see "Scope and reset" in the package
// documentation).
func (s *Strategy) PinConn(ctx context.Context, db *sql.DB) (*sql.Conn, error) {
	return db.Conn(context.WithValue(ctx, leaseKey{}, true))
}

// Drop deletes the tenant's schema and everything in it (DROP SCHEMA ...
// CASCADE), and with [Config.Roles] then its role, with whatever else the
// role owns in the database (DROP OWNED BY). It waits for locks
// other sessions hold on the schema's objects. Drop is idempotent:
// dropping a tenant that does not exist returns nil.
//
// A tenant dropped and made anew under the same names, here or by another
// process, is a new tenant to the pool once its handle is opened again:
// connections the previous handle's leases left scoped are scoped again
// before the new handle's first lease (with Roles, to the new role). Close
// the tenant's handle when another process drops it (dbstrategy.Manager's
// Drop or Evict), as a process that follows a registry's change feed does.
func (s *Strategy) Drop(ctx context.Context, tenantID string) error {
	name, err := s.SchemaName(tenantID)
	if err != nil {
		return err
	}
	err = s.withConn(ctx, func(conn *pgx.Conn) error {
		return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, tenantLockSQL, pgx.QueryExecModeSimpleProtocol, name); err != nil {
				return fmt.Errorf("lock: %w", err)
			}
			if _, err := tx.Exec(ctx, "DROP SCHEMA IF EXISTS "+quote(name)+" CASCADE", pgx.QueryExecModeSimpleProtocol); err != nil {
				return err
			}
			if s.roles {
				// What the tenant's role owns outside its schema (a large
				// object, say) would keep the role: it goes too.
				var exists bool
				if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) $1)",
					pgx.QueryExecModeSimpleProtocol, name).Scan(&exists); err != nil {
					return fmt.Errorf("find role: %w", err)
				}
				if exists {
					if _, err := tx.Exec(ctx, "DROP OWNED BY "+quote(name)+"; DROP ROLE "+quote(name), pgx.QueryExecModeSimpleProtocol); err != nil {
						return fmt.Errorf("drop role: %w", err)
					}
				}
			}
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("schemastrategy: drop tenant %q: %w", tenantID, err)
	}
	return nil
}

// MigrationLocker returns a goose session locker that takes a session
// advisory lock per tenant schema, for [dbstrategy.MigrationLocker]: goose
// calls it on a connection of the tenant's handle, scoped to the tenant,
// and the lock's key is derived from current_schema(), so migrations of
// one schema are serialized across processes while different schemas
// migrate side by side (goose's own PostgreSQL locker has one key for the
// whole database).
func (s *Strategy) MigrationLocker() (lock.SessionLocker, error) {
	return schemaLocker{}, nil
}

type schemaLocker struct{}

// MigrationStore returns goose's PostgreSQL store of the version table,
// for [dbstrategy.MigrationStorer], with one change: its check that the
// table exists looks the table up by name in the current schema
// (to_regclass), a catalog cache lookup, where goose's default query
// filters pg_tables by schema name, which makes PostgreSQL read the
// version table of every tenant in the database (45 ms at 10,000
// schemas, against 0.03 ms). goose runs that check on every provider's
// first use, so on each tenant handle's first lease.
func (s *Strategy) MigrationStore() (database.Store, error) {
	st, err := database.NewStore(database.DialectPostgres, goose.DefaultTablename)
	if err != nil {
		return nil, fmt.Errorf("schemastrategy: goose store: %w", err)
	}
	return schemaStore{st}, nil
}

// schemaStore is goose's PostgreSQL store with a TableExists of its own
// (database.StoreExtender).
type schemaStore struct{ database.Store }

// TableExists reports whether the version table exists in the current
// schema: the first schema of search_path, the tenant's.
func (st schemaStore) TableExists(ctx context.Context, db database.DBTxConn) (bool, error) {
	var exists bool
	err := db.QueryRowContext(ctx, "SELECT pg_catalog.to_regclass(pg_catalog.quote_ident(pg_catalog.current_schema()) OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) pg_catalog.quote_ident($1)) IS NOT NULL",
		st.Tablename()).Scan(&exists)
	if err != nil {
		return false, fmt.Errorf("schemastrategy: does the version table exist: %w", err)
	}
	return exists, nil
}

const lockKeySQL = `pg_catalog.hashtextextended('tenantkit/schemastrategy migrate' || pg_catalog.current_schema(), 0)`

func (schemaLocker) SessionLock(ctx context.Context, conn *sql.Conn) error {
	if _, err := conn.ExecContext(ctx, "SELECT pg_catalog.pg_advisory_lock("+lockKeySQL+")"); err != nil {
		return fmt.Errorf("schemastrategy: migration lock: %w", err)
	}
	return nil
}

func (schemaLocker) SessionUnlock(ctx context.Context, conn *sql.Conn) error {
	var released bool
	if err := conn.QueryRowContext(ctx, "SELECT pg_catalog.pg_advisory_unlock("+lockKeySQL+")").Scan(&released); err != nil {
		return fmt.Errorf("schemastrategy: migration unlock: %w", err)
	}
	if !released {
		return errors.New("schemastrategy: migration unlock: the lock was not held")
	}
	return nil
}

// dropAll drops every schema (and with roles, every role) that belongs to
// this prefix: the prefix followed by a valid key, and the spares. Danger: it destroys
// all tenant data under the prefix, of every process, and also that of a
// longer prefix that starts with this one. Tests reach it through
// export_test.go; it is not part of the public API.
func (s *Strategy) dropAll(ctx context.Context) error {
	var names []string
	err := s.withConn(ctx, func(conn *pgx.Conn) (err error) {
		names, err = s.listNames(ctx, conn, s.prefix, s.roles)
		return err
	})
	if err != nil {
		return err
	}
	seen := make(map[string]bool)
	var errs []error
	if _, err := s.DropSpares(ctx); err != nil {
		errs = append(errs, err)
	}
	for _, name := range names {
		id := strings.TrimPrefix(name, s.prefix)
		if seen[id] || dbstrategy.ValidateKey(id) != nil {
			continue
		}
		seen[id] = true
		if err := s.Drop(ctx, id); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// quote quotes a schema or role name built from the validated prefix and
// key.
func quote(name string) string {
	return pgx.Identifier{name}.Sanitize()
}
