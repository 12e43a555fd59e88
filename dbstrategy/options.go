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

// WithMaxConns sets a budget of server connections over all open handles,
// for a strategy that implements [ConnLimiter] (pgstrategy does): at most
// n / MaxConnsPerHandle() handles are open at once (and at most
// [WithMaxOpen]). [NewManager] fails when n is below MaxConnsPerHandle().
// A strategy without ConnLimiter holds no server connections (sqlitestrategy
// opens files), so the budget does not apply to it: its handles are bounded
// by [WithMaxOpen] alone. Default: 0, no budget beyond [WithMaxOpen].
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
