package registry

import (
	"context"
	"log/slog"
	"time"
)

// Defaults of the options.
const (
	DefaultTimeout      = 2 * time.Minute
	DefaultMoveTimeout  = 10 * time.Minute
	DefaultSwitchGrace  = 2 * time.Second
	DefaultPollInterval = time.Second
	DefaultGapTimeout   = 30 * time.Second
)

// configure applies opts in order; a nil option is an error naming its
// position (from 1) and the constructor fn.
func configure[O any](fn string, opts []O, apply func(O) error) error {
	for i, o := range opts {
		if any(o) == nil {
			return configErrorf("%s: option %d is nil", fn, i+1)
		}
		if err := apply(o); err != nil {
			return err
		}
	}
	return nil
}

// Option configures a [Registry] (see [New]). When an option is given
// twice, the last one wins.
type Option interface {
	applyRegistry(*config) error
}

type optionFunc func(*config) error

func (f optionFunc) applyRegistry(c *config) error { return f(c) }

type config struct {
	timeout     time.Duration
	version     func(ctx context.Context, id string) (int64, error)
	onChange    func(Change)
	logger      *slog.Logger
	now         func() time.Time
	mover       Mover
	moveTimeout time.Duration
	switchGrace time.Duration
}

// WithTimeout bounds each lifecycle operation of the [Registry] (creating,
// provisioning, deleting one tenant), which goes on even if the caller's
// context is canceled, so that a client going away never leaves a tenant
// half made. It must be positive. Default: [DefaultTimeout].
func WithTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if d <= 0 {
			return configErrorf("WithTimeout(%v): must be positive", d)
		}
		c.timeout = d
		return nil
	})
}

// WithVersion sets how the [Registry] learns the schema version a tenant's
// database has after provisioning, to record it with
// [Store.RecordMigration]. A nil f records no version. Default: the
// Provisioner's own Version(ctx, id) (int64, error) method if it has one
// (a *dbstrategy.Manager does; its dbstrategy.ErrNoMigrations records
// nothing), else none.
func WithVersion(f func(ctx context.Context, id string) (int64, error)) Option {
	return optionFunc(func(c *config) error {
		c.version = f
		if f == nil {
			c.version = noVersion
		}
		return nil
	})
}

// noVersion marks "record no version", as opposed to the default.
func noVersion(context.Context, string) (int64, error) { return 0, errNoVersion }

// WithOnChange sets a function the [Registry] calls after each change it
// makes to a record (insert, status change, delete), in the goroutine that
// made it, before the method returns: for example to invalidate a
// [tenancy.Cache] or forget a tenant's cached tokens. Changes made by other
// processes reach it only through [Watch]. fn must be quick and safe for
// concurrent use. A nil fn means none. Default: none.
func WithOnChange(fn func(Change)) Option {
	return optionFunc(func(c *config) error {
		c.onChange = fn
		return nil
	})
}

// WithMover sets the [Mover] that does the data work of moving tenants
// between servers: [Registry.Move] and [Registry.Drain] need one, and
// with one [Registry.Reconcile] settles the moves a crash interrupted and
// [Registry.Delete] drops both copies of a tenant deleted while it moves.
// A nil m means none. Default: none.
func WithMover(m Mover) Option {
	return optionFunc(func(c *config) error {
		c.mover = m
		return nil
	})
}

// WithMoveTimeout bounds a move, and is how long other processes leave a
// move to the process that runs it. [Registry.Move] records the move as
// its own until d from its start (Move.Until): it copies and switches
// within the first half of d, or rolls the move back, and ends its
// rollback or the steps after the switch within three quarters of d.
// After d, another process's Reconcile, Move or Drain may take the move
// over (roll it back, or finish it); the last quarter allows for the
// processes' clocks to differ. Make d far longer than a final copy of the
// largest tenant. It must be positive. Default: [DefaultMoveTimeout].
func WithMoveTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if d <= 0 {
			return configErrorf("WithMoveTimeout(%v): must be positive", d)
		}
		c.moveTimeout = d
		return nil
	})
}

// WithSwitchGrace sets how long a move waits after switching a tenant's
// placement, and closing this process's handle to its old copy, before it
// drops the old copy: the time other processes need to learn of the
// switch ([Watch]) and close theirs, whose reads would fail once the copy
// is dropped. Until then the old copy serves reads and refuses writes. 0
// drops it at once, for a single process. It must not be negative.
// Default: [DefaultSwitchGrace].
func WithSwitchGrace(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if d < 0 {
			return configErrorf("WithSwitchGrace(%v): must not be negative", d)
		}
		c.switchGrace = d
		return nil
	})
}

// StoreOption configures [NewMemory] and [OpenSQL].
type StoreOption interface {
	applyStore(*storeConfig) error
}

type storeConfig struct {
	now func() time.Time
}

// NowOption is both a [StoreOption] and an [Option].
type NowOption interface {
	Option
	StoreOption
}

type nowOption struct{ now func() time.Time }

func (o nowOption) applyStore(c *storeConfig) error { c.now = o.now; return nil }
func (o nowOption) applyRegistry(c *config) error   { c.now = o.now; return nil }

// WithNow sets the clock of this package: the one a Store stamps records
// and changes with, and the one a [Registry] dates its moves by
// (Move.Until). A nil now means the default. Default: time.Now.
func WithNow(now func() time.Time) NowOption {
	if now == nil {
		now = time.Now
	}
	return nowOption{now}
}

// stamp is the clock's time as stores keep it: UTC, whole microseconds.
func (c *storeConfig) stamp() time.Time { return c.now().UTC().Truncate(time.Microsecond) }

// WatchOption configures [Watch].
type WatchOption interface {
	applyWatch(*watchConfig) error
}

type watchOptionFunc func(*watchConfig) error

func (f watchOptionFunc) applyWatch(c *watchConfig) error { return f(c) }

type watchConfig struct {
	poll   time.Duration
	gap    time.Duration
	logger *slog.Logger
}

// WithPollInterval sets how often [Watch] reads the change log when no
// notification woke it sooner. It bounds the delay of a change on a Store
// that cannot notify (SQLite) or whose notifying connection is lost, and
// how soon Watch tries to listen again. It must be positive. Default:
// [DefaultPollInterval].
func WithPollInterval(d time.Duration) WatchOption {
	return watchOptionFunc(func(c *watchConfig) error {
		if d <= 0 {
			return configErrorf("WithPollInterval(%v): must be positive", d)
		}
		c.poll = d
		return nil
	})
}

// WithGapTimeout sets how long [Watch] keeps waiting for a change whose
// sequence number was skipped: on PostgreSQL, a transaction that took a
// number can commit after one that took a later number, and the gap it
// leaves may also be for good (a rolled-back transaction). Changes after a
// gap are delivered at once; only the gap is waited for. Make it longer
// than the longest transaction that writes to the registry (such as an
// app's own one around [SQL.InsertTx]). It must be positive. Default:
// [DefaultGapTimeout].
func WithGapTimeout(d time.Duration) WatchOption {
	return watchOptionFunc(func(c *watchConfig) error {
		if d <= 0 {
			return configErrorf("WithGapTimeout(%v): must be positive", d)
		}
		c.gap = d
		return nil
	})
}

// LoggerOption is both an [Option] and a [WatchOption].
type LoggerOption interface {
	Option
	WatchOption
}

type loggerOption struct{ l *slog.Logger }

func (o loggerOption) applyRegistry(c *config) error   { c.logger = o.l; return nil }
func (o loggerOption) applyWatch(c *watchConfig) error { c.logger = o.l; return nil }

// WithLogger sets where a [Registry] logs the lifecycle steps it takes,
// and where [Watch] logs the errors it retries past (a failed poll, a lost
// notification connection). Errors that are returned are not also logged.
// A nil l means the default. Default: a logger that discards everything.
func WithLogger(l *slog.Logger) LoggerOption {
	if l == nil {
		l = discard()
	}
	return loggerOption{l}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
