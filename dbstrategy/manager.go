package dbstrategy

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/database"
	"github.com/pressly/goose/v3/lock"
)

// Manager opens, caches, leases, budgets and migrates one database handle
// per tenant on top of a [Strategy].
//
// # Handles and leases
//
// [Manager.Acquire] returns a [Lease] on the tenant's handle, opening it on
// first use; the caller releases the lease when done, typically at the end
// of a request. Concurrent first Acquires of a tenant share one
// [Strategy.Open]. A leased handle is never closed. At most [WithMaxOpen]
// handles (and at most the [WithMaxConns] budget) are open at once: a new
// tenant closes an unleased handle, or waits, first come first served, until
// a lease is released, bounded only by its context. Handles nobody leases
// for [WithIdleTimeout] are closed by a reaper goroutine.
//
// Eviction is a segmented LRU. A handle leased again after a release is hot;
// the others are cold. The victim is the least recently released cold
// handle, or if every unleased handle is hot, the least recently released
// hot one. At most 4/5 of the handles are hot: beyond that the least
// recently released hot handle turns cold. So a stream of tenants seen once
// (a scan, the long tail of a skewed load) cycles through the cold handles
// without closing the busy tenants' handles. A handle opened for a tenant
// whose handle was evicted lately starts hot while there is room, so an
// active set a little larger than the cache (a rotation) still mostly
// hits.
//
// # Ownership and concurrency
//
// A Manager is safe for concurrent use. It owns every handle it opens:
// callers must not close the *sql.DB of a lease, nor use it after
// [Lease.Release]. The strategy belongs to the caller, and the Manager
// never closes it, unless made with [WithCloseStrategy](true) (as the
// NewManager functions of the strategy packages do). [Manager.Close] stops the reaper and closes every handle,
// leased ones as their last lease is released.
//
// A goroutine holding a lease that acquires a second tenant can wait forever
// (bounded by its context) if every handle is leased by goroutines doing the
// same; hold one lease at a time, or size [WithMaxOpen] for the nesting.
type Manager struct {
	s           Strategy
	cfg         config
	limit       int                // most handles open, opening or closing at once
	migrations  fs.FS              // fs.Sub(cfg.migrations, dialect), nil without migrations
	dialect     string             // s.Dialect(), read once
	locker      lock.SessionLocker // from a MigrationLocker strategy, or nil
	store       database.Store     // from a MigrationStorer strategy, or nil: goose's for the dialect
	versions    database.Store     // reads the version for checkVersion: store, or goose's for the dialect; set with migrations
	pinner      ConnPinner         // s, if leases pin a connection; else nil
	target      int64              // the newest migration's version, 0 without migrations
	checkSchema bool               // cfg.pending != PendingIgnore: Acquire checks new handles

	mu       sync.Mutex
	handles  map[string]*handle    // opening and open handles
	evict    policy                // open, unleased handles not being dropped: the candidates for eviction
	queue    list[waiter, *waiter] // Acquires waiting for room, oldest first
	dropping map[string]*dropMark
	locks    map[string]*tenantLock
	used     int // handles opening, open or closing
	nOpen    int
	nLeased  int
	closed   bool
	opens    int64
	evicted  int64
	reaped   int64
	waits    int64

	tmplSem   chan struct{} // serializes PrepareTemplate
	tmplReady atomic.Bool

	migrated, migrateFailed   atomic.Int64 // tenant migrations run, by outcome
	sparesMade, sparesClaimed atomic.Int64

	spares *spares // WithSpares; nil without

	done      chan struct{} // closed by Close: stops the reaper
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

type handleState uint8

const (
	stateOpening handleState = iota
	stateOpen
	stateFailed
	stateClosing
)

// handle is one tenant's *sql.DB and its bookkeeping. Every field but id is
// guarded by Manager.mu; db and err are also safe to read once ready is
// closed.
type handle struct {
	id           string
	db           *sql.DB
	stmts        stmtCache              // db and the statements of Lease.Stmt; set with db
	owned        map[*Lease][]*sql.Stmt // statements of Lease.Stmt beyond the cache, by lease
	err          error
	state        handleState
	refs         int                // leases
	pending      int                // Acquires waiting for this handle to open
	dropping     bool               // Drop is waiting for the leases to go
	hot          bool               // leased again after a release: evicted after the cold ones
	link[handle]                    // in the cold or hot list while unleased
	ready        chan struct{}      // closed when the open finished, successfully or not
	drained      chan struct{}      // closed when refs reaches 0 while dropping
	cancelOpen   context.CancelFunc // cancels the open in flight
	lastUsed     time.Time          // when the last lease was released
	current      atomic.Bool        // its schema was found current, or migrated, since it opened
}

// waiter is one Acquire waiting for room to open a handle.
type waiter struct {
	tenant       string
	ch           chan struct{} // buffered: a token wakes the waiter to look again
	signaled     bool          // granted a turn at the room available
	link[waiter]               // in the queue
}

func (w *waiter) wake() {
	select {
	case w.ch <- struct{}{}:
	default:
	}
}

// dropMark makes Acquires of a tenant wait while it is being dropped or
// evicted.
type dropMark struct {
	op   string // "drop" or "evict", for Acquire's error
	done chan struct{}
}

// tenantLock serializes Create, Migrate and Drop of one tenant.
type tenantLock struct {
	ch   chan struct{} // holds a token while locked
	refs int           // holders and waiters; the entry goes at 0
}

// NewManager returns a Manager over s, configured by opts. It fails if an
// option is invalid, if the migrations hold nothing for s.Dialect(), or if
// the [WithMaxConns] budget cannot hold one handle. Unless idle closing is
// disabled, it starts a reaper goroutine that [Manager.Close] stops; with
// [WithSpares], a goroutine that makes spares, which Close stops too.
func NewManager(s Strategy, opts ...Option) (*Manager, error) {
	if s == nil {
		return nil, fmt.Errorf("%w: NewManager: strategy must not be nil", ErrInvalidConfig)
	}
	cfg := defaultConfig()
	for i, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("%w: NewManager: option %d is nil", ErrInvalidConfig, i+1)
		}
		if err := o.apply(&cfg); err != nil {
			return nil, err
		}
	}
	m := &Manager{
		s:        s,
		cfg:      cfg,
		limit:    cfg.maxOpen,
		dialect:  s.Dialect(),
		handles:  make(map[string]*handle),
		dropping: make(map[string]*dropMark),
		locks:    make(map[string]*tenantLock),
		tmplSem:  make(chan struct{}, 1),
		done:     make(chan struct{}),
	}
	if p, ok := s.(ConnPinner); ok {
		m.pinner = p
	}
	// WithSpares is checked before anything is set on the strategy (the
	// budget below), so that a refused Manager leaves it as it was.
	var sp Sparer
	if cfg.spares > 0 {
		var ok bool
		sp, ok = s.(Sparer)
		switch {
		case !ok:
			return nil, fmt.Errorf("%w: WithSpares(%d): the strategy (%T) cannot make spares", ErrInvalidConfig, cfg.spares, s)
		case cfg.migrations == nil:
			return nil, fmt.Errorf("%w: WithSpares(%d) needs WithMigrations", ErrInvalidConfig, cfg.spares)
		case cfg.maxConns > 0 && cfg.maxConns < minSpareBudget:
			// Making a spare holds two connections (goose's lock and its
			// work) for the spare's migrations; with a budget of 2, a
			// Create without a spare waits for them, or the maker for it.
			return nil, fmt.Errorf("%w: WithSpares(%d) needs a WithMaxConns budget of at least %d, not %d", ErrInvalidConfig, cfg.spares, minSpareBudget, cfg.maxConns)
		}
	}
	if m.limit == 0 {
		m.limit = DefaultMaxOpen
		if hl, ok := s.(HandleLimiter); ok {
			m.limit = hl.MaxHandles()
			if m.limit < 1 {
				return nil, fmt.Errorf("%w: NewManager: strategy reports a limit of %d handles", ErrInvalidConfig, m.limit)
			}
		}
	}
	if cb, ok := s.(ConnBudgeter); ok && cfg.maxConns > 0 {
		if err := cb.SetConnBudget(cfg.maxConns); err != nil {
			return nil, fmt.Errorf("%w: WithMaxConns(%d): %w", ErrInvalidConfig, cfg.maxConns, err)
		}
	} else if cl, ok := s.(ConnLimiter); ok && cfg.maxConns > 0 {
		per := cl.MaxConnsPerHandle()
		if per < 1 {
			return nil, fmt.Errorf("%w: NewManager: strategy reports %d connections per handle", ErrInvalidConfig, per)
		}
		if cfg.maxConns < per {
			return nil, fmt.Errorf("%w: WithMaxConns(%d): below the %d connections of one handle", ErrInvalidConfig, cfg.maxConns, per)
		}
		m.limit = min(m.limit, cfg.maxConns/per)
	}
	m.evict = newPolicy(m.limit)
	if cfg.migrations != nil {
		sub, err := migrationsFor(cfg.migrations, m.dialect)
		if err != nil {
			return nil, err
		}
		m.migrations = sub
		if ms, ok := s.(MigrationStorer); ok {
			st, err := ms.MigrationStore()
			if err != nil {
				return nil, fmt.Errorf("%w: NewManager: strategy's migration store: %w", ErrInvalidConfig, err)
			}
			m.store = st
		}
		if ml, ok := s.(MigrationLocker); ok {
			l, err := ml.MigrationLocker()
			if err != nil {
				return nil, fmt.Errorf("%w: NewManager: strategy's migration locker: %w", ErrInvalidConfig, err)
			}
			m.locker = l
		}
		if err := m.checkProvider(); err != nil {
			return nil, err
		}
		m.versions = m.store
		if m.versions == nil {
			// The store goose's provider builds for the dialect, which
			// checkProvider has just accepted.
			st, err := database.NewStore(database.Dialect(m.dialect), goose.DefaultTablename)
			if err != nil {
				return nil, fmt.Errorf("%w: WithMigrations: goose: %w", ErrInvalidConfig, err)
			}
			m.versions = st
		}
	}
	if cfg.pending != PendingIgnore {
		if m.migrations == nil {
			return nil, fmt.Errorf("%w: WithPendingMigrations(%v) needs WithMigrations", ErrInvalidConfig, cfg.pending)
		}
		m.checkSchema = true
	}
	if sp != nil {
		ctx, cancel := context.WithCancel(context.Background())
		m.spares = &spares{s: sp, want: cfg.spares, ctx: ctx, cancel: cancel}
		m.kickSpares()
	}
	if cfg.idleTimeout > 0 {
		every := min(max(cfg.idleTimeout/2, time.Millisecond), time.Minute)
		m.wg.Add(1)
		go m.reaper(every)
	}
	return m, nil
}

// Close stops the idle reaper and the goroutine that makes spares
// ([WithSpares]; a spare half made is dropped), cancels opens in flight
// and waits for them,
// and closes every unleased handle, returning their close errors joined;
// under [WithCloseStrategy](true) it then closes the strategy too.
// Close does not wait for leases: a leased handle stays usable until its
// last lease is released, which closes it. Every other method returns
// [ErrClosed] after Close (a Drop in progress completes). Close may be
// called more than once; later calls return the first call's result.
func (m *Manager) Close() error {
	m.closeOnce.Do(func() {
		var victims []*handle
		m.mu.Lock()
		m.closed = true
		close(m.done)
		for _, h := range m.handles {
			switch {
			case h.state == stateOpening:
				h.cancelOpen()
			case h.refs == 0 && !h.dropping:
				m.removeLocked(h)
				victims = append(victims, h)
			}
		}
		for w := m.queue.head; w != nil; w = w.next {
			w.wake()
		}
		if m.spares != nil {
			m.spares.cancel()
		}
		m.mu.Unlock()
		m.wg.Wait()
		var errs []error
		for _, h := range victims {
			if err := h.close(); err != nil {
				errs = append(errs, fmt.Errorf("dbstrategy: close tenant %q: %v", h.id, err))
			}
		}
		m.mu.Lock()
		m.used -= len(victims)
		m.mu.Unlock()
		if c, ok := m.s.(io.Closer); ok && m.cfg.ownStrategy {
			if err := c.Close(); err != nil {
				errs = append(errs, fmt.Errorf("dbstrategy: close strategy: %v", err))
			}
		}
		m.closeErr = errors.Join(errs...)
	})
	return m.closeErr
}
