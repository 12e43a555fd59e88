package sqlitestrategy

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/driver"

	"github.com/tenantkit/tenantkit/dbstrategy"
)

// Defaults of [Config].
const (
	DefaultPrefix          = "tenant_"
	DefaultMaxConns        = 4
	DefaultBusyTimeout     = 5 * time.Second
	DefaultConnMaxIdleTime = time.Minute
)

// Config configures the SQLite strategy. Only Dir is required; zero values
// mean the defaults.
type Config struct {
	// Dir holds the tenant database files. It is required, and created
	// (mode 0700) if missing.
	Dir string

	// Prefix starts every tenant's file name: Dir/<Prefix><tenant>.db. It
	// follows [dbstrategy.ValidatePrefix], the rule of every strategy: 1
	// to 15 bytes of a-z, 0-9 and '_', ending with '_'. "" means
	// [DefaultPrefix].
	Prefix string

	// MaxConns is the most connections one tenant handle holds. A handle
	// opens a second connection only while its tenant has concurrent
	// requests: one request at a time reuses one connection. In WAL mode
	// readers run concurrently while writes are serialized by the busy
	// timeout and immediate transactions. 0 means [DefaultMaxConns];
	// negative is invalid.
	MaxConns int

	// MaxOpen is the most tenant handles a [dbstrategy.Manager] keeps open
	// at once (the strategy is a [dbstrategy.HandleLimiter]; WithMaxOpen
	// overrides it). A SQLite handle costs memory, file descriptors and
	// memory mappings, not a server connection, so this limit is the
	// strategy's own and the Manager's connection budget (WithMaxConns)
	// does not apply. Measured on linux/amd64 with ncruces/go-sqlite3
	// (BenchmarkHandleMemory): an open handle holding one connection that
	// has run a statement costs about 0.32 MiB of RSS ([HandleMemory]), 3
	// file descriptors (the database, -wal and -shm files; [HandleFDs])
	// and 4 memory mappings ([HandleMaps]); each further connection,
	// opened only under concurrent requests, is another driver instance
	// and costs roughly as much.
	//
	// 0 means [DefaultMaxOpen](), read once by New: as many handles as the
	// process's descriptor limit, vm.max_map_count and memory leave room
	// for (5,000 on a machine with a descriptor limit of 20,000 and 23
	// GiB); negative is invalid. Set it when the process holds many other
	// descriptors (client connections: each is one) or when tenants read
	// enough to fill their page caches (up to about 2 MiB a connection).
	MaxOpen int

	// ConnMaxIdleTime is how long a connection of a tenant handle may stay
	// unused before it is closed (database/sql's SetConnMaxIdleTime), so a
	// handle that grew under concurrent requests shrinks back when they
	// stop, and the handle of a tenant idle that long holds no connection
	// (its next request opens one, about a millisecond). As for every
	// field of Config, the zero value means the default,
	// [DefaultConnMaxIdleTime]; negative is invalid.
	ConnMaxIdleTime time.Duration

	// BusyTimeout is how long a connection waits for another's write lock
	// before failing with SQLITE_BUSY. As for every field of Config, the
	// zero value means the default, [DefaultBusyTimeout]; negative is
	// invalid.
	BusyTimeout time.Duration
}

// Strategy keeps each tenant in its own SQLite file. It is safe for
// concurrent use, and holds no open resources: the handles it returns
// belong to the caller.
type Strategy struct {
	dir      string
	prefix   string
	maxConns int
	maxOpen  int
	idle     time.Duration
	busy     time.Duration
	creating [16]sync.Mutex // striped by tenant: Creates of one tenant take turns
}

var (
	_ dbstrategy.Strategy        = (*Strategy)(nil)
	_ dbstrategy.HandleLimiter   = (*Strategy)(nil)
	_ dbstrategy.MigrationLocker = (*Strategy)(nil)
)

// New checks cfg, creates cfg.Dir if missing, and returns the strategy.
// Errors in cfg wrap [dbstrategy.ErrInvalidConfig].
func New(cfg Config) (*Strategy, error) {
	if cfg.Dir == "" {
		return nil, fmt.Errorf("sqlitestrategy: %w: Config.Dir is required", dbstrategy.ErrInvalidConfig)
	}
	prefix := cfg.Prefix
	if prefix == "" {
		prefix = DefaultPrefix
	}
	if err := dbstrategy.ValidatePrefix(prefix); err != nil {
		return nil, fmt.Errorf("sqlitestrategy: %w", err)
	}
	if cfg.MaxConns < 0 {
		return nil, fmt.Errorf("sqlitestrategy: %w: Config.MaxConns %d: must not be negative", dbstrategy.ErrInvalidConfig, cfg.MaxConns)
	}
	if cfg.MaxOpen < 0 {
		return nil, fmt.Errorf("sqlitestrategy: %w: Config.MaxOpen %d: must not be negative", dbstrategy.ErrInvalidConfig, cfg.MaxOpen)
	}
	if cfg.ConnMaxIdleTime < 0 {
		return nil, fmt.Errorf("sqlitestrategy: %w: Config.ConnMaxIdleTime %v: must not be negative", dbstrategy.ErrInvalidConfig, cfg.ConnMaxIdleTime)
	}
	if cfg.BusyTimeout < 0 {
		return nil, fmt.Errorf("sqlitestrategy: %w: Config.BusyTimeout %v: must not be negative", dbstrategy.ErrInvalidConfig, cfg.BusyTimeout)
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("sqlitestrategy: Config.Dir: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("sqlitestrategy: Config.Dir: %w", err)
	}
	s := &Strategy{
		dir:      dir,
		prefix:   prefix,
		maxConns: cmp.Or(cfg.MaxConns, DefaultMaxConns),
		maxOpen:  cfg.MaxOpen,
		idle:     cmp.Or(cfg.ConnMaxIdleTime, DefaultConnMaxIdleTime),
		busy:     cfg.BusyTimeout,
	}
	if s.busy == 0 {
		s.busy = DefaultBusyTimeout
	}
	if s.maxOpen == 0 {
		s.maxOpen = DefaultMaxOpen()
	}
	return s, nil
}

// NewManager returns a [dbstrategy.Manager] over a new Strategy for cfg,
// configured by opts: the shortest path to one SQLite database per
// tenant. It is [New] followed by [dbstrategy.NewManager], and returns
// the first error of either. The Manager owns the strategy
// ([dbstrategy.WithCloseStrategy]), so the caller closes the Manager only.
// Use New and dbstrategy.NewManager to reach the Strategy itself (for
// [Strategy.Path]).
func NewManager(cfg Config, opts ...dbstrategy.Option) (*dbstrategy.Manager, error) {
	s, err := New(cfg)
	if err != nil {
		return nil, err
	}
	return dbstrategy.NewManager(s, append(opts[:len(opts):len(opts)], dbstrategy.WithCloseStrategy(true))...)
}

// Path returns the file of the tenant's database, Dir/<Prefix><tenant>.db.
// It fails with an error wrapping [dbstrategy.ErrInvalidKey] for a key
// [dbstrategy.ValidateKey] refuses.
func (s *Strategy) Path(tenantID string) (string, error) {
	if err := dbstrategy.ValidateKey(tenantID); err != nil {
		return "", err
	}
	return filepath.Join(s.dir, s.prefix+tenantID+".db"), nil
}

// dsn returns the driver's URI for a database file: mode is "rw" (never
// create) or "rwc". Write transactions begin with BEGIN IMMEDIATE. The
// other connection settings are made by [Strategy.setup], through the
// driver's API where it has one.
//
// With "rwc" (Create), files SQLite makes get the mode of the database
// (modeof; 0600, see create). The driver applies modeof to every file a
// connection opens, existing or not (a stat, a chmod and a chown each, about
// 3 % of a reopen under load), so Open does without it: it makes the -wal
// and -shm files 0600 itself before the driver opens them.
func (s *Strategy) dsn(path, mode string) string {
	q := url.Values{}
	q.Add("mode", mode)
	q.Add("_txlock", "immediate")
	if mode == "rwc" {
		q.Add("modeof", path)
	}
	// SQLite decodes %XX in a URI, but not '+' as a space.
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(path), RawQuery: strings.ReplaceAll(q.Encode(), "+", "%20")}
	return u.String()
}

// setup runs on every new connection. It forbids ATTACH, so no statement run
// on a tenant's handle can reach another database file, whatever SQL a bug
// lets through; sets the busy timeout, foreign keys and synchronous=NORMAL
// (safe in WAL mode); and keeps the -wal and -shm files when the connection
// closes. Tenant handles are opened and closed often (the Manager evicts
// them), and creating and unlinking those two files on every reopen made a
// reopen about 14% dearer on ext4 (BenchmarkReopen).
func (s *Strategy) setup(c *sqlite3.Conn) error {
	c.Limit(sqlite3.LIMIT_ATTACHED, 0)
	if err := c.BusyTimeout(s.busy); err != nil {
		return err
	}
	if _, err := c.Config(sqlite3.DBCONFIG_ENABLE_FKEY, true); err != nil {
		return err
	}
	if _, err := c.FileControl("main", sqlite3.FCNTL_PERSIST_WAL, true); err != nil {
		return err
	}
	// journal_size_limit=0: a checkpoint leaves an empty -wal file, not
	// stale frames a later opener would have to read back.
	return c.Exec("PRAGMA synchronous=NORMAL; PRAGMA journal_size_limit=0")
}

// Create creates the tenant's database file in WAL mode if it does not
// exist yet. It is idempotent, and safe against concurrent Creates of the
// same tenant, in this process or another.
func (s *Strategy) Create(ctx context.Context, tenantID string) error {
	path, err := s.Path(tenantID)
	if err != nil {
		return err
	}
	// Two connections switching a new file to WAL at once can get
	// SQLITE_BUSY without the busy handler ever running (SQLite refuses to
	// wait where waiting could deadlock). Creates in this process take
	// turns; one racing another process retries until the busy timeout.
	mu := s.stripe(tenantID)
	mu.Lock()
	defer mu.Unlock()
	deadline := time.Now().Add(s.busy)
	for wait := 5 * time.Millisecond; ; wait = min(2*wait, 100*time.Millisecond) {
		err = s.create(ctx, path)
		if err == nil || !isBusy(err) || time.Now().After(deadline) {
			break
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return fmt.Errorf("sqlitestrategy: create tenant %q: %w", tenantID, ctx.Err())
		}
	}
	if err != nil {
		return fmt.Errorf("sqlitestrategy: create tenant %q: %w", tenantID, err)
	}
	return nil
}

// create opens the file at path, creating it, and checks it is in WAL mode.
// The file is made 0600 first: SQLite would create it 0666 less the umask,
// readable by every local user under the usual umask 022. The driver gives
// the -wal the database's mode (modeof, see dsn); Open makes the -shm.
func (s *Strategy) create(ctx context.Context, path string) error {
	if err := createPrivate(path); err != nil {
		return err
	}
	db, err := driver.Open(s.dsn(path, "rwc"), s.setup)
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	// WAL mode is kept in the file's header: set once, here, it holds for
	// every later connection.
	var mode string
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode=WAL").Scan(&mode); err != nil {
		return err
	}
	if mode != "wal" {
		return fmt.Errorf("journal mode is %q, not wal", mode)
	}
	return db.Close()
}

// createPrivate creates an empty file at path with mode 0600, unless one
// exists.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return f.Close()
}

// isBusy reports whether err is SQLite's SQLITE_BUSY ("database is
// locked"), by its error code: extended codes such as SQLITE_BUSY_SNAPSHOT
// match too.
func isBusy(err error) bool {
	return errors.Is(err, sqlite3.BUSY)
}

// stripe picks the Create lock of a tenant.
func (s *Strategy) stripe(tenantID string) *sync.Mutex {
	h := fnv.New32a()
	h.Write([]byte(tenantID))
	return &s.creating[h.Sum32()%uint32(len(s.creating))]
}

// Open returns a handle to the tenant's database holding at most MaxConns
// connections: one while the tenant is served one request at a time, more
// only under concurrent requests, and none once they have all been unused
// for ConnMaxIdleTime. It never creates a file: when the tenant's file does not
// exist, or disappears, it returns an error wrapping
// [dbstrategy.ErrNotFound].
func (s *Strategy) Open(ctx context.Context, tenantID string) (*sql.DB, error) {
	path, err := s.Path(tenantID)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("sqlitestrategy: open tenant %q: %w", tenantID, dbstrategy.ErrNotFound)
	}
	// The driver creates a missing -wal or -shm 0666 less the umask: make
	// them 0600 first. They are kept between opens (see setup), so this is
	// an open(2) that finds them, except on a tenant's first open or after
	// another program removed them (an empty -wal is a valid empty log).
	for _, suffix := range []string{"-wal", "-shm"} {
		if err := createPrivate(path + suffix); err != nil {
			return nil, fmt.Errorf("sqlitestrategy: open tenant %q: %w", tenantID, err)
		}
	}
	db, err := driver.Open(s.dsn(path, "rw"), s.setup)
	if err != nil {
		return nil, fmt.Errorf("sqlitestrategy: open tenant %q: %w", tenantID, err)
	}
	db.SetMaxOpenConns(s.maxConns)
	// database/sql reuses an idle connection before it opens another, so
	// a handle grows past one connection only under concurrency; idle
	// ones close after ConnMaxIdleTime. Keeping them until then (rather
	// than SetMaxIdleConns(1)) spares a tenant with bursts of concurrent
	// requests from opening a connection (~1 ms) per burst.
	db.SetMaxIdleConns(s.maxConns)
	db.SetConnMaxIdleTime(s.idle)
	// The Ping's connection stays idle for the first query.
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		if _, serr := os.Stat(path); errors.Is(serr, fs.ErrNotExist) {
			return nil, fmt.Errorf("sqlitestrategy: open tenant %q: %w", tenantID, dbstrategy.ErrNotFound)
		}
		return nil, fmt.Errorf("sqlitestrategy: open tenant %q: %w", tenantID, err)
	}
	return db, nil
}

// Drop removes the tenant's database file and its -wal, -shm and -journal
// files (those first, so that a stale log can never meet a new database of
// the same name). The caller closes its handles to the database first.
// Dropping a tenant that does not exist returns nil.
func (s *Strategy) Drop(ctx context.Context, tenantID string) error {
	path, err := s.Path(tenantID)
	if err != nil {
		return err
	}
	for _, p := range []string{path + "-wal", path + "-shm", path + "-journal", path, path + migrateLockSuffix} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("sqlitestrategy: drop tenant %q: %w", tenantID, err)
		}
	}
	return nil
}

// Dialect returns "sqlite3".
func (s *Strategy) Dialect() string { return "sqlite3" }

// MaxHandles returns Config.MaxOpen, for [dbstrategy.HandleLimiter]: how
// many tenant handles a Manager keeps open unless told otherwise.
func (s *Strategy) MaxHandles() int { return s.maxOpen }

// MaxConns returns Config.MaxConns, the most connections a handle from Open
// holds. These are not server connections: the strategy is not a
// [dbstrategy.ConnLimiter].
func (s *Strategy) MaxConns() int { return s.maxConns }
