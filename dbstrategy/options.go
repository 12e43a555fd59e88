package dbstrategy

import (
	"fmt"
	"io/fs"
	"log/slog"
	"time"
)

// Defaults of the [Manager] options.
const (
	DefaultMaxOpen     = 128
	DefaultIdleTimeout = 5 * time.Minute
)

// Option configures a [Manager]. Options are checked by [NewManager], which
// returns the first error, wrapping [ErrInvalidConfig]; a nil Option is such
// an error too. When an option is given twice, the last one wins. Duration
// options follow one rule: 0 turns the feature off, a negative duration is
// invalid.
type Option interface {
	apply(*config) error
}

type optionFunc func(*config) error

func (f optionFunc) apply(c *config) error { return f(c) }

type config struct {
	migrations  fs.FS
	maxOpen     int           // 0: the strategy's HandleLimiter, or DefaultMaxOpen
	idleTimeout time.Duration // 0: never close idle handles
	maxConns    int
	logger      *slog.Logger
	now         func() time.Time
	pending     PendingPolicy
	ownStrategy bool // Close closes the strategy too
	spares      int  // spares to keep ready, for a Sparer strategy
}

func defaultConfig() config {
	return config{
		idleTimeout: DefaultIdleTimeout,
		logger:      slog.New(slog.DiscardHandler),
		now:         time.Now,
	}
}

// WithMigrations sets the goose migrations the Manager applies on
// [Manager.Create] and [Manager.Migrate]. fsys holds one directory per
// dialect ("sqlite3/", "postgres/"), each of goose SQL migration files
// (NNNNN_name.sql); Go migrations are not supported. The Manager reads
// fs.Sub(fsys, strategy.Dialect()). [NewManager] checks the files as goose
// will read them, and fails, naming the file and the rule, if the dialect's
// directory is missing (saying what fsys holds instead, as when fs.Sub was
// given one directory too many or too few), holds no .sql migration, holds
// a .sql file goose would skip for its name (not NNNNN_description.sql, or
// .SQL) or whose goose annotations do not parse (no "-- +goose Up" first,
// an unknown or indented annotation, unpaired StatementBegin), or holds a
// Go migration.
// Default: none ([Manager.Create] only creates; [Manager.Migrate] does
// nothing; [Manager.Version] returns [ErrNoMigrations]).
func WithMigrations(fsys fs.FS) Option {
	return optionFunc(func(c *config) error {
		if fsys == nil {
			return fmt.Errorf("%w: WithMigrations(nil): fsys must not be nil", ErrInvalidConfig)
		}
		c.migrations = fsys
		return nil
	})
}

// PendingPolicy is what [Manager.Acquire] does about a tenant whose schema
// is behind the Manager's migrations, as when a new release of the app,
// bringing a migration, starts before the fleet is migrated. See
// [WithPendingMigrations].
type PendingPolicy uint8

const (
	// PendingIgnore neither checks nor migrates: a tenant whose schema is
	// behind is leased, and the app's queries fail on the missing table or
	// column. The app migrates tenants itself ([Manager.Migrate],
	// [Manager.MigrateAll]).
	PendingIgnore PendingPolicy = iota

	// PendingRefuse refuses a tenant whose schema is behind: Acquire
	// returns a *[SchemaBehindError], which errors.Is matches with
	// [ErrSchemaBehind], until the tenant is migrated by [Manager.Migrate],
	// [Manager.MigrateAll] or another process. A server answers 503 with
	// Retry-After, and logs it.
	PendingRefuse

	// PendingMigrate migrates a tenant whose schema is behind on the first
	// Acquire after its handle opens, as [Manager.Migrate] does, under the
	// tenant's migration lock (and, on PostgreSQL, goose's advisory lock
	// across processes); concurrent Acquires of the tenant wait for it,
	// bounded by their context. A failed migration is returned as a
	// *[MigrateError], and tried again by the next Acquire.
	PendingMigrate
)

// String returns the constant's name.
func (p PendingPolicy) String() string {
	switch p {
	case PendingIgnore:
		return "PendingIgnore"
	case PendingRefuse:
		return "PendingRefuse"
	case PendingMigrate:
		return "PendingMigrate"
	}
	return fmt.Sprintf("PendingPolicy(%d)", uint8(p))
}

// WithPendingMigrations sets what [Manager.Acquire] (and so [Manager.Do]
// and [Manager.ForEach]) does about a tenant whose schema is behind the
// migrations of [WithMigrations]: lease it anyway ([PendingIgnore]),
// refuse it with a *[SchemaBehindError] ([PendingRefuse]), or migrate it
// ([PendingMigrate]). "Behind" means the tenant's goose version is below
// the newest migration; a tenant ahead of them, migrated by a newer
// release, is leased (its migrations are expected to keep older code
// working).
//
// The check costs one query on the tenant's database once per handle open
// (a handle stays open across requests), not per Acquire: once a handle
// was found current, or migrated by [Manager.Create], [Manager.Migrate] or
// [Manager.MigrateAll], its leases go straight through. A tenant found
// behind is checked again by every Acquire until it is migrated, so a
// migration by another process is seen at once.
//
// [NewManager] fails if a policy other than PendingIgnore is given without
// WithMigrations. Default: [PendingIgnore].
func WithPendingMigrations(p PendingPolicy) Option {
	return optionFunc(func(c *config) error {
		if p > PendingMigrate {
			return fmt.Errorf("%w: WithPendingMigrations(%v): unknown policy", ErrInvalidConfig, p)
		}
		c.pending = p
		return nil
	})
}

// WithMaxOpen caps how many tenant handles are open at once, leased or not.
// A new tenant beyond the cap closes an unleased handle, chosen by a
// segmented LRU (see [Manager]), or waits for one (see [Manager.Acquire]).
// Handles being opened or closed count against the cap. Default: the
// strategy's [HandleLimiter].MaxHandles() if it implements it (sqlitestrategy
// does), else 128 ([DefaultMaxOpen]); the [WithMaxConns] budget may lower
// it.
func WithMaxOpen(n int) Option {
	return optionFunc(func(c *config) error {
		if n < 1 {
			return fmt.Errorf("%w: WithMaxOpen(%d): must be at least 1", ErrInvalidConfig, n)
		}
		c.maxOpen = n
		return nil
	})
}

// WithSpares keeps n tenant databases made and migrated ahead of time, for
// a strategy that implements [Sparer] (schemastrategy does), so that
// [Manager.Create] renames one instead of running the migrations: a few
// milliseconds instead of the migrations' DDL. [NewManager] starts a
// goroutine that makes spares until n are ready; each Create starts it
// again (it exits at once when n are ready), and [Manager.Close] stops it
// (a spare half made is removed). When no spare is ready, as in a burst of creations, Create
// makes and migrates the database itself, as without spares.
// [Manager.FillSpares] makes them in the caller's goroutine instead.
//
// Spares are databases (schemas) like any tenant's: they count against
// nothing but the server's disk, and each is kept for the newest
// migration's version, so spares a process of another release made are
// not claimed by this one; the Manager drops spares of older versions
// than its own before it makes new ones, and leaves newer ones. A spare is migrated under a name of its own and renamed to
// the tenant's when claimed, so migrations must not record their schema's
// name (a function's SET search_path FROM CURRENT, a default or a
// trigger built from current_schema()): use search_path at run time, as
// unqualified names do. NewManager fails with an error
// wrapping [ErrInvalidConfig] if n > 0 and the strategy is not a Sparer,
// [WithMigrations] is not given, or a [WithMaxConns] budget below 3 is
// (making a spare holds two connections while it migrates). Default: 0, no spares.
func WithSpares(n int) Option {
	return optionFunc(func(c *config) error {
		if n < 0 {
			return fmt.Errorf("%w: WithSpares(%d): must not be negative", ErrInvalidConfig, n)
		}
		c.spares = n
		return nil
	})
}

// WithIdleTimeout closes handles that nobody has leased for d, as told by
// the [WithNow] clock. A reaper goroutine started by [NewManager] checks
// every d/2, or every minute if that is shorter, and stops on
// [Manager.Close]. As for every duration option of this package, 0 means
// off: no idle closing and no reaper (handles then close only to make
// room, on [Manager.Drop] and on [Manager.Close]); a negative d is an error
// wrapping [ErrInvalidConfig]. Default: 5m ([DefaultIdleTimeout]).
func WithIdleTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if d < 0 {
			return fmt.Errorf("%w: WithIdleTimeout(%v): must not be negative (0 turns idle closing off)", ErrInvalidConfig, d)
		}
		c.idleTimeout = d
		return nil
	})
}

// WithMaxConns sets a budget of server connections over all open handles.
// A strategy that implements [ConnBudgeter] (pgstrategy and schemastrategy
// do) enforces it itself, counting the connections its handles really
// hold: [NewManager] calls SetConnBudget(n) and the handle limit stays as
// it is, since a handle holding no connection costs nothing. Otherwise,
// for a strategy that implements [ConnLimiter], each handle is counted at
// its pool's maximum: at most n / MaxConnsPerHandle() handles are open at
// once (and at most [WithMaxOpen]), and [NewManager] fails when n is below
// MaxConnsPerHandle(). A strategy with neither holds no server connections
// (sqlitestrategy opens files), so the budget does not apply to it: its
// handles are bounded by [WithMaxOpen] alone. Default: 0, no budget beyond
// [WithMaxOpen].
func WithMaxConns(n int) Option {
	return optionFunc(func(c *config) error {
		if n < 0 {
			return fmt.Errorf("%w: WithMaxConns(%d): must not be negative", ErrInvalidConfig, n)
		}
		c.maxConns = n
		return nil
	})
}

// WithLogger sets the logger for handle opens and closes, close errors that
// no caller receives, and applied migrations. Attributes use the keys
// "tenant", "took", "reason" and "err". Default: a logger that discards
// everything; WithLogger(nil) means the default, as a nil function or
// logger given to an option does in every package of this module.
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(c *config) error {
		if l == nil {
			l = slog.New(slog.DiscardHandler)
		}
		c.logger = l
		return nil
	})
}

// WithNow sets the clock the Manager uses to decide which handles are idle.
// Default: time.Now; WithNow(nil) means the default, as in packages auth
// and tenancy.
func WithNow(now func() time.Time) Option {
	return optionFunc(func(c *config) error {
		if now == nil {
			now = time.Now
		}
		c.now = now
		return nil
	})
}

// WithCloseStrategy(true) makes the Manager own its strategy: once
// [Manager.Close] has closed the handles, it closes the strategy too, if
// the strategy has a Close method (as io.Closer), and returns its error
// with theirs. Use it when nothing else holds the strategy; the NewManager
// functions of sqlitestrategy, pgstrategy and schemastrategy, which open
// the strategy themselves, set it. A lease still held at Close may fail
// once the strategy is closed (schemastrategy's shared pool is), so close
// the Manager after the work that leases (for a server, after Shutdown).
// Default: false: the strategy belongs to the caller, who closes it after
// the Manager.
func WithCloseStrategy(b bool) Option {
	return optionFunc(func(c *config) error {
		c.ownStrategy = b
		return nil
	})
}
