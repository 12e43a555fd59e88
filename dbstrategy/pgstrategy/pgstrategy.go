package pgstrategy

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pressly/goose/v3/lock"

	"github.com/tenantkit/tenantkit/dbstrategy"
)

// Config configures a [Strategy]. Only DSN is required; the zero value of
// every other field means its default.
type Config struct {
	// DSN is the admin DSN, as a pgx URL or key=value string: a server and
	// database where the role may CREATE DATABASE (and CREATE ROLE, with
	// RoleSecret). Tenant databases are reached on the same server with
	// the same credentials, or, with RoleSecret, as the tenant's role with
	// its password; other connection parameters (host, TLS, runtime
	// parameters such as search_path) are the DSN's. The pool_*
	// parameters that set pool sizes and idle time are overridden by the
	// fields below; other pool_* parameters apply to the tenant pools.
	// Required.
	DSN string

	// Prefix is put in front of every tenant key to name its database. It
	// follows [dbstrategy.ValidatePrefix], the rule of every strategy: 1 to
	// 15 bytes of a-z, 0-9 and '_', ending with '_', so that a database
	// name is at most 63 bytes (PostgreSQL would silently cut a longer one)
	// and never names a database outside the prefix, such as postgres or
	// template1. The database of DSN may not start with it. "" means
	// [DefaultPrefix].
	Prefix string

	// MaxConns is the size of each tenant pool: the most server
	// connections one handle returned by [Strategy.Open] holds at once.
	// 0 means [DefaultMaxConns]; negative is invalid.
	MaxConns int

	// MaxConnIdleTime is how long a connection of a tenant pool may stay
	// idle before it is closed (checked every minute, or every
	// MaxConnIdleTime when that is shorter). As for every field of Config,
	// the zero value means the default, [DefaultMaxConnIdleTime];
	// negative is invalid.
	MaxConnIdleTime time.Duration

	// RoleSecret, when set, gives every tenant database its own login
	// role, which owns it and is the only role besides the admin that may
	// connect to it, and makes [Strategy.Open] connect as that role, so
	// that even a handle opened for the wrong tenant by mistake cannot
	// reach another tenant's database. Each role's password is derived
	// from RoleSecret and the role's name, and only its SCRAM-SHA-256
	// verifier is sent to the server. See "Tenant roles" in the package
	// documentation for what the DSN's role then needs.
	//
	// RoleSecret is at least 32 bytes, from a cryptographic random source,
	// and kept as secret as the admin DSN's password. Every process on a
	// prefix must use the same one. New copies it. nil (or empty) means no
	// tenant roles: tenant databases are reached with the DSN's
	// credentials, as the admin role.
	RoleSecret []byte
}

// Defaults of [Config].
const (
	DefaultPrefix          = "tenant_"
	DefaultMaxConns        = 4
	DefaultMaxConnIdleTime = time.Minute
)

const (
	defaultHealthCheck = time.Minute
	adminMaxConns      = 2
	minServerVersion   = 130000 // DROP DATABASE ... WITH (FORCE)

	// templateSuffix names the template database after the prefix. '$' is
	// not in the key alphabet, so no tenant key can produce this name.
	templateSuffix = "$template"

	// emptyTemplate is what a database is copied from when there is no
	// migrated template. template0 never accepts connections, so a session
	// left on template1 cannot make CREATE DATABASE fail.
	emptyTemplate = "template0"

	// unlockTimeout bounds releasing an advisory lock after the caller's
	// context has ended.
	unlockTimeout = 5 * time.Second
)

// SQLSTATE codes the strategy reacts to.
const (
	codeInvalidCatalogName = "3D000" // database does not exist
	codeDuplicateDatabase  = "42P04" // database exists
	codeUniqueViolation    = "23505" // concurrent CREATE DATABASE of one name
)

// Strategy keeps each tenant in its own PostgreSQL database on one server.
//
// Strategy is safe for concurrent use, also by several processes sharing a
// server and prefix, provided their DSNs name the same admin database
// (advisory locks are scoped to it). It owns a small admin pool (2
// connections to the DSN's database), which [Strategy.Close] closes. Each
// handle returned by [Strategy.Open] owns its own pgx pool, which closing
// the handle closes.
//
// Connections outside the handles, and so outside a [dbstrategy.Manager]'s
// budget ([dbstrategy.WithMaxConns]): the 2 admin connections, and while
// [Strategy.PrepareTemplate] runs, up to max(MaxConns, 2) connections to
// the template (plus one, briefly, with [Config.RoleSecret]).
type Strategy struct {
	admin       *pgxpool.Pool
	base        *pgxpool.Config // parsed DSN; copied for every tenant pool
	prefix      string
	template    string
	lockKey     int64
	roles       *roleMode // nil without Config.RoleSecret
	maxConns    int32
	idle        time.Duration
	healthCheck time.Duration

	templateReady atomic.Bool
	closed        atomic.Bool
	closeOnce     sync.Once

	mu     sync.Mutex
	pools  map[*sql.DB]*tenantPool // open handles and their pools
	budget *connBudget             // nil without SetConnBudget
}

var (
	_ dbstrategy.Strategy        = (*Strategy)(nil)
	_ dbstrategy.ConnLimiter     = (*Strategy)(nil)
	_ dbstrategy.Templater       = (*Strategy)(nil)
	_ dbstrategy.MigrationLocker = (*Strategy)(nil)
	_ dbstrategy.ConnBudgeter    = (*Strategy)(nil)
)

// New checks cfg, opens the admin pool to the DSN's database and pings it.
// It needs PostgreSQL 13 or later. Errors in cfg wrap
// [dbstrategy.errInvalidConfig].
// The caller closes the returned Strategy.
func New(ctx context.Context, cfg Config) (*Strategy, error) {
	if cfg.DSN == "" {
		return nil, fmt.Errorf("%w: DSN is required", errInvalidConfig)
	}
	prefix := cfg.Prefix
	if prefix == "" {
		prefix = DefaultPrefix
	}
	if err := dbstrategy.ValidatePrefix(prefix); err != nil {
		return nil, fmt.Errorf("pgstrategy: %w", err)
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
	var roles *roleMode
	if len(cfg.RoleSecret) > 0 {
		if len(cfg.RoleSecret) < minRoleSecretLen {
			return nil, fmt.Errorf("%w: RoleSecret is %d bytes, fewer than %d", errInvalidConfig, len(cfg.RoleSecret), minRoleSecretLen)
		}
		roles = &roleMode{secret: bytes.Clone(cfg.RoleSecret), owner: prefix + ownerSuffix}
	}
	base, err := pgxpool.ParseConfig(cfg.DSN)
	if err != nil {
		// pgconn redacts the password from parse errors.
		return nil, fmt.Errorf("%w: DSN: %v", errInvalidConfig, err)
	}

	adminCfg := base.Copy()
	adminCfg.MaxConns = adminMaxConns
	adminCfg.MinConns = 0
	adminCfg.MinIdleConns = 0
	admin, err := pgxpool.NewWithConfig(ctx, adminCfg)
	if err != nil {
		return nil, fmt.Errorf("pgstrategy: open admin pool: %w", err)
	}
	var adminDB string
	var version int
	err = admin.QueryRow(ctx, "SELECT current_database(), current_setting('server_version_num')::int").Scan(&adminDB, &version)
	if err != nil {
		admin.Close()
		return nil, fmt.Errorf("pgstrategy: connect: %w", err)
	}
	if version < minServerVersion {
		admin.Close()
		return nil, fmt.Errorf("pgstrategy: PostgreSQL %d is too old: need 13 or later", version)
	}
	if strings.HasPrefix(adminDB, prefix) {
		admin.Close()
		return nil, fmt.Errorf("%w: the DSN's database %q starts with the prefix %q", errInvalidConfig, adminDB, prefix)
	}
	if roles != nil {
		if err := checkAdminRole(ctx, admin, prefix, roles); err != nil {
			admin.Close()
			return nil, err
		}
	}

	healthCheck := defaultHealthCheck
	if idle < healthCheck {
		healthCheck = idle
	}
	template := prefix + templateSuffix
	h := fnv.New64a()
	h.Write([]byte("tenantkit/pgstrategy template\x00" + template))
	return &Strategy{
		admin:       admin,
		base:        base,
		prefix:      prefix,
		template:    template,
		lockKey:     int64(h.Sum64()),
		roles:       roles,
		maxConns:    int32(maxConns),
		idle:        idle,
		healthCheck: healthCheck,
		pools:       make(map[*sql.DB]*tenantPool),
	}, nil
}

// NewManager returns a [dbstrategy.Manager] over a new Strategy for cfg,
// configured by opts: the shortest path to one PostgreSQL database per tenant. It is [New]
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

// checkAdminRole checks that the DSN's role can manage tenant roles, and
// that its name is not one the strategy could create or drop.
func checkAdminRole(ctx context.Context, admin *pgxpool.Pool, prefix string, roles *roleMode) error {
	name, super, createRole, createDB, err := adminRole(ctx, admin)
	if err != nil {
		return fmt.Errorf("pgstrategy: read the DSN's role: %w", err)
	}
	if strings.HasPrefix(name, prefix) {
		return fmt.Errorf("%w: the DSN's role %q starts with the prefix %q", errInvalidConfig, name, prefix)
	}
	if !super && (!createRole || !createDB) {
		return fmt.Errorf("%w: RoleSecret is set, and the DSN's role %q has neither SUPERUSER nor both CREATEROLE and CREATEDB", errInvalidConfig, name)
	}
	roles.superuser = super
	return nil
}

// Close closes the admin pool, waiting for calls that use it to finish. It
// does not close handles returned by [Strategy.Open]: their owners do.
// Afterwards every method that needs the server returns [ErrClosed]. Close
// may be called more than once.
func (s *Strategy) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.admin.Close()
	})
	return nil
}

// DatabaseName returns the name of the tenant's database: the prefix
// followed by the key. It returns an error wrapping
// [dbstrategy.ErrInvalidKey] if [dbstrategy.ValidateKey] refuses the key.
func (s *Strategy) DatabaseName(tenantID string) (string, error) {
	if err := dbstrategy.ValidateKey(tenantID); err != nil {
		return "", err
	}
	return s.prefix + tenantID, nil
}

// Dialect returns "postgres".
func (s *Strategy) Dialect() string { return "postgres" }

// MaxConnsPerHandle returns [Config.MaxConns]: a handle returned by
// [Strategy.Open] never holds more server connections than this.
func (s *Strategy) MaxConnsPerHandle() int { return int(s.maxConns) }

// MigrationLocker returns goose's PostgreSQL session locker, for
// [dbstrategy.MigrationLocker]: a session advisory lock in the tenant's
// database (so it serializes migrations of that one database across
// processes), retried every second for up to ten minutes.
func (s *Strategy) MigrationLocker() (lock.SessionLocker, error) {
	return lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 600))
}

// Create makes the tenant's database if it does not exist yet. After a
// successful [Strategy.PrepareTemplate] it copies the migrated template;
// before, it makes an empty database from template0. Create is idempotent,
// also when several goroutines or processes create the same tenant at once:
// all of them return nil.
//
// With [Config.RoleSecret], Create first makes the tenant's role (or, if
// it exists, sets its attributes and password again, so Create also
// repairs a role, for instance after RoleSecret changed), creates the
// database owned by it, and revokes every privilege of PUBLIC on the
// database. An advisory lock per tenant serializes these steps across
// processes.
func (s *Strategy) Create(ctx context.Context, tenantID string) error {
	if s.closed.Load() {
		return ErrClosed
	}
	name, err := s.DatabaseName(tenantID)
	if err != nil {
		return err
	}
	switch {
	case s.roles != nil:
		err = s.createWithRole(ctx, name)
	case !s.templateReady.Load():
		err = createDatabase(ctx, s.admin, name, emptyTemplate, "")
	default:
		// Shared: tenants may be copied side by side, but not while
		// PrepareTemplate migrates the template.
		err = s.withLocks(ctx, func(conn *pgxpool.Conn) error {
			return createDatabase(ctx, conn, name, s.template, "")
		}, s.templateLock(true))
	}
	if err != nil {
		return fmt.Errorf("pgstrategy: create tenant %q: %w", tenantID, err)
	}
	return nil
}

// createWithRole makes the role name and the database name owned by it.
// The role and database have the same name: PostgreSQL keeps roles and
// databases apart.
func (s *Strategy) createWithRole(ctx context.Context, name string) error {
	template := emptyTemplate
	locks := []advisoryLock{s.tenantLock(name)}
	if s.templateReady.Load() {
		template = s.template
		locks = append(locks, s.templateLock(true))
	}
	return s.withLocks(ctx, func(conn *pgxpool.Conn) error {
		if err := s.roles.ensureTenantRole(ctx, conn, name); err != nil {
			return err
		}
		if err := createDatabase(ctx, conn, name, template, name); err != nil {
			return err
		}
		// Also for a database that existed: it may come from a Create
		// that stopped here, or from before RoleSecret was set. Both
		// statements change nothing when there is nothing to change.
		// Until this point a new database is an empty copy of the
		// template, which PUBLIC could connect to but hold no data.
		q := "ALTER DATABASE " + quote(name) + " OWNER TO " + quote(name) + "; REVOKE ALL ON DATABASE " + quote(name) + " FROM PUBLIC"
		if _, err := conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("restrict database: %w", err)
		}
		return nil
	}, locks...)
}

// Open returns a new handle to the tenant's database, backed by a pgx pool
// of [Config.MaxConns] connections that connects lazily and closes
// connections idle for [Config.MaxConnIdleTime]. Open connects once to
// check that the database exists; if it does not, Open returns an error
// wrapping [dbstrategy.ErrNotFound] and creates nothing. With
// [Config.RoleSecret], the handle connects as the tenant's role, with the
// password derived for it.
//
// The caller owns the handle: closing it closes the pool and its
// connections, waiting for connections still in use (by a [sql.Conn],
// [sql.Tx] or [sql.Rows]) to be released. The handle never holds idle
// connections of its own; [Strategy.Pool] reaches the pgx pool behind it.
func (s *Strategy) Open(ctx context.Context, tenantID string) (*sql.DB, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	name, err := s.DatabaseName(tenantID)
	if err != nil {
		return nil, err
	}
	var as func(*pgxpool.Config)
	if s.roles != nil {
		password := s.roles.rolePassword(name)
		as = func(cfg *pgxpool.Config) {
			cfg.ConnConfig.User = name
			cfg.ConnConfig.Password = password
			delete(cfg.ConnConfig.RuntimeParams, "role") // the admin's SET ROLE, if any
		}
	}
	s.mu.Lock()
	budget := s.budget
	s.mu.Unlock()
	db, err := s.open(ctx, name, s.maxConns, as, budget)
	if err != nil && s.roles != nil && (hasCode(err, codeInvalidPassword) || hasCode(err, codeInvalidAuthSpec)) {
		// The server authenticates the role before it looks for the
		// database, and Drop drops both: tell a dropped tenant apart
		// from a refused login.
		var exists bool
		if qerr := s.admin.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)", name).Scan(&exists); qerr == nil && !exists {
			return nil, fmt.Errorf("pgstrategy: open tenant %q: %w", tenantID, dbstrategy.ErrNotFound)
		}
	}
	if hasCode(err, codeInvalidCatalogName) {
		return nil, fmt.Errorf("pgstrategy: open tenant %q: %w", tenantID, dbstrategy.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("pgstrategy: open tenant %q: %w", tenantID, err)
	}
	return db, nil
}

// Drop deletes the tenant's database, ending every session still connected
// to it (DROP DATABASE ... WITH (FORCE)); handles to it stop working. With
// [Config.RoleSecret], Drop then drops the tenant's role. Drop is
// idempotent: dropping a database that does not exist returns nil.
func (s *Strategy) Drop(ctx context.Context, tenantID string) error {
	if s.closed.Load() {
		return ErrClosed
	}
	name, err := s.DatabaseName(tenantID)
	if err != nil {
		return err
	}
	if s.roles == nil {
		err = dropDatabase(ctx, s.admin, name)
	} else {
		err = s.withLocks(ctx, func(conn *pgxpool.Conn) error {
			if err := dropDatabase(ctx, conn, name); err != nil {
				return err
			}
			if err := dropRole(ctx, conn, name); err != nil {
				return fmt.Errorf("drop role: %w", err)
			}
			return nil
		}, s.tenantLock(name))
	}
	if err != nil {
		return fmt.Errorf("pgstrategy: drop tenant %q: %w", tenantID, err)
	}
	return nil
}

// dropAll drops every database that belongs to this prefix, tenants and
// template alike, ending their sessions: the prefix followed by a valid
// key, and the template. With [Config.RoleSecret], it then drops the roles
// of the prefix the same way: the prefix followed by a valid key, and the
// owner role. It is meant for tests and for tearing down a deployment.
//
// Danger: it destroys all tenant data under the prefix, on this server, of
// every process. It also drops the databases (and roles) of a longer
// prefix that starts with this one ("tenant_" covers "tenant_eu_"), so
// give separate deployments prefixes where neither starts with the other.
// It tries every database and role and returns the errors joined. Tests
// reach it through export_test.go; it is not part of the public API.
func (s *Strategy) dropAll(ctx context.Context) error {
	if s.closed.Load() {
		return ErrClosed
	}
	return s.withLocks(ctx, func(conn *pgxpool.Conn) error {
		names, err := s.ours(ctx, conn, s.template, "SELECT datname FROM pg_database WHERE starts_with(datname::text, $1)", s.prefix)
		if err != nil {
			return fmt.Errorf("pgstrategy: list databases: %w", err)
		}
		var errs []error
		for _, name := range names {
			if name == s.template {
				s.templateReady.Store(false)
			}
			if err := dropDatabase(ctx, conn, name); err != nil {
				errs = append(errs, fmt.Errorf("pgstrategy: drop %q: %w", name, err))
			}
		}
		if s.roles == nil {
			return errors.Join(errs...)
		}
		// ORDER BY: the owner role last, once no tenant database (whose
		// objects it owns) is left.
		roles, err := s.ours(ctx, conn, s.roles.owner,
			"SELECT rolname FROM pg_roles WHERE starts_with(rolname::text, $1) ORDER BY rolname = $2, rolname", s.prefix, s.roles.owner)
		if err != nil {
			return errors.Join(append(errs, fmt.Errorf("pgstrategy: list roles: %w", err))...)
		}
		for _, name := range roles {
			if err := dropRole(ctx, conn, name); err != nil {
				errs = append(errs, fmt.Errorf("pgstrategy: drop role %q: %w", name, err))
			}
		}
		return errors.Join(errs...)
	}, s.templateLock(false))
}

// ours runs q, which lists names starting with the prefix, and keeps those
// that are the prefix followed by a valid key, and special, the one name
// under the prefix that the strategy makes and no key can.
func (s *Strategy) ours(ctx context.Context, conn *pgxpool.Conn, special, q string, args ...any) ([]string, error) {
	rows, err := conn.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	kept := names[:0]
	for _, name := range names {
		if name == special || dbstrategy.ValidateKey(strings.TrimPrefix(name, s.prefix)) == nil {
			kept = append(kept, name)
		}
	}
	return kept, nil
}

// execer is what *pgxpool.Pool and *pgxpool.Conn have in common here.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// createDatabase runs CREATE DATABASE name TEMPLATE template, with OWNER
// owner unless owner is "", treating a database that exists, or that a
// concurrent session just created, as success. It leaves the copy strategy
// to the server: on PostgreSQL 15 the default, WAL_LOG, copied a small
// migrated template in 20 to 90 ms on a loaded 2-core machine, where
// FILE_COPY, which forces two checkpoints, took 95 to 650 ms.
func createDatabase(ctx context.Context, e execer, name, template, owner string) error {
	q := "CREATE DATABASE " + quote(name) + " TEMPLATE " + quote(template)
	if owner != "" {
		q += " OWNER " + quote(owner)
	}
	_, err := e.Exec(ctx, q)
	if hasCode(err, codeDuplicateDatabase) || hasCode(err, codeUniqueViolation) {
		return nil
	}
	return err
}

// dropDatabase runs DROP DATABASE IF EXISTS name WITH (FORCE), treating a
// database that a concurrent session just dropped as success.
func dropDatabase(ctx context.Context, e execer, name string) error {
	_, err := e.Exec(ctx, "DROP DATABASE IF EXISTS "+quote(name)+" WITH (FORCE)")
	if hasCode(err, codeInvalidCatalogName) {
		return nil
	}
	return err
}

// quote quotes a database or role name built from the validated prefix
// and key (or one of the special suffixes).
func quote(name string) string {
	return pgx.Identifier{name}.Sanitize()
}

// hasCode reports whether err carries the SQLSTATE code.
func hasCode(err error, code string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == code
}
