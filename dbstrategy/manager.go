package dbstrategy

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

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
// without closing the busy tenants' handles.
//
// # Ownership and concurrency
//
// A Manager is safe for concurrent use. It owns every handle it opens:
// callers must not close the *sql.DB of a lease, nor use it after
// [Lease.Release]. The strategy belongs to the caller; the Manager never
// closes it. [Manager.Close] stops the reaper and closes every handle,
// leased ones as their last lease is released.
//
// A goroutine holding a lease that acquires a second tenant can wait forever
// (bounded by its context) if every handle is leased by goroutines doing the
// same; hold one lease at a time, or size [WithMaxOpen] for the nesting.
type Manager struct {
	s          Strategy
	cfg        config
	limit      int    // most handles open, opening or closing at once
	migrations fs.FS  // fs.Sub(cfg.migrations, dialect), nil without migrations
	dialect    string // s.Dialect(), read once
	pgLocker   lock.SessionLocker

	mu       sync.Mutex
	handles  map[string]*handle    // opening and open handles
	cold     list[handle, *handle] // open, unleased, not dropping, not hot; least recently released first
	hot      list[handle, *handle] // the same for hot handles
	nHot     int                   // hot handles, leased or not
	hotCap   int                   // most hot handles: 4/5 of limit
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

	migrated, migrateFailed atomic.Int64 // tenant migrations run, by outcome

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

// dropMark makes Acquires of a tenant wait while it is being dropped.
type dropMark struct {
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
// disabled, it starts a reaper goroutine that [Manager.Close] stops.
func NewManager(s Strategy, opts ...Option) (*Manager, error) {
	if s == nil {
		return nil, errors.New("dbstrategy: NewManager: strategy must not be nil")
	}
	cfg := defaultConfig()
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("dbstrategy: NewManager: nil option")
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
	if cfg.maxConns > 0 {
		per := 1
		if cl, ok := s.(ConnLimiter); ok {
			per = cl.MaxConnsPerHandle()
			if per < 1 {
				return nil, fmt.Errorf("dbstrategy: NewManager: strategy reports %d connections per handle", per)
			}
		}
		if cfg.maxConns < per {
			return nil, fmt.Errorf("dbstrategy: WithMaxConns(%d): below the %d connections of one handle", cfg.maxConns, per)
		}
		m.limit = min(m.limit, cfg.maxConns/per)
	}
	m.hotCap = m.limit * 4 / 5
	if cfg.migrations != nil {
		sub, err := migrationsFor(cfg.migrations, m.dialect)
		if err != nil {
			return nil, err
		}
		m.migrations = sub
		if m.dialect == "postgres" {
			// Cross-process: advisory locks are per database, so this
			// serializes migrations of one tenant database only.
			l, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 600))
			if err != nil {
				return nil, fmt.Errorf("dbstrategy: NewManager: %w", err)
			}
			m.pgLocker = l
		}
	}
	if cfg.idleTimeout > 0 {
		every := min(max(cfg.idleTimeout/2, time.Millisecond), time.Minute)
		m.wg.Add(1)
		go m.reaper(every)
	}
	return m, nil
}

// Lease is a claim on one tenant's open handle. While a lease is held the
// handle stays open. A Lease is used by one goroutine, but Release is safe
// to call from any goroutine and more than once.
type Lease struct {
	m  *Manager
	db *sql.DB
	h  *handle // nil once released; guarded by m.mu
}

// DB returns the tenant's handle. It is shared with the other leases of the
// tenant; do not close it, and do not use it after [Lease.Release].
func (l *Lease) DB() *sql.DB { return l.db }

// Release gives the lease back. The handle stays open for later leases until
// it is evicted, idle for too long, dropped or the Manager is closed.
// Calling Release again does nothing.
func (l *Lease) Release() {
	m := l.m
	m.mu.Lock()
	h := l.h
	if h == nil {
		m.mu.Unlock()
		return
	}
	l.h = nil
	h.refs--
	if h.refs > 0 {
		m.mu.Unlock()
		return
	}
	m.nLeased--
	switch {
	case h.dropping:
		if h.drained != nil {
			close(h.drained)
			h.drained = nil
		}
	case m.closed:
		m.removeLocked(h)
		m.mu.Unlock()
		m.closeDB(h, "manager closed")
		m.mu.Lock()
		m.used--
	default:
		h.lastUsed = m.cfg.now()
		m.parkLocked(h)
		if m.queue.n > 0 {
			m.wakeLocked()
		}
	}
	m.mu.Unlock()
}

// Acquire returns a lease on the tenant's handle, opening the handle if it
// is not open yet. Release the lease when done with it. Leasing an open
// handle never waits (and does not look at ctx): it is a map lookup under
// a mutex and one small allocation.
//
// When the tenant's handle is not open and the Manager is at its limit, an
// unleased handle is closed to make room (see Manager); if every
// handle is leased, Acquire waits, first come first served, until a lease is
// released or ctx ends. Acquire also waits while the tenant is being
// dropped.
//
// Errors: [ErrInvalidKey]; [ErrClosed]; an error wrapping [ErrNotFound] if
// the tenant's database does not exist (not cached: a later Acquire tries
// again); the error of [Strategy.Open], returned to every Acquire that
// waited for that open; or ctx's error, wrapped, if ctx ends first.
func (m *Manager) Acquire(ctx context.Context, tenantID string) (*Lease, error) {
	if err := ValidateKey(tenantID); err != nil {
		return nil, err
	}
	m.mu.Lock()
	if h := m.handles[tenantID]; h != nil && h.state == stateOpen && !h.dropping && !m.closed {
		m.leaseLocked(h)
		m.mu.Unlock()
		return &Lease{m: m, h: h, db: h.db}, nil
	}
	return m.acquireSlow(ctx, tenantID)
}

// leaseLocked adds a lease to an open handle. Leasing it again after a
// release makes it hot.
func (m *Manager) leaseLocked(h *handle) {
	if h.refs == 0 {
		m.unparkLocked(h)
		m.nLeased++
		if !h.hot && m.hotCap > 0 {
			h.hot = true
			m.nHot++
			if m.nHot > m.hotCap && m.hot.head != nil {
				// Too many hot: the least recently released turns cold,
				// as the most recently released cold one.
				v := m.hot.head
				m.hot.remove(v)
				v.hot = false
				m.nHot--
				m.cold.pushBack(v)
			}
		}
	}
	h.refs++
}

// parkLocked puts an unleased open handle in its idle list.
func (m *Manager) parkLocked(h *handle) {
	if h.hot {
		m.hot.pushBack(h)
	} else {
		m.cold.pushBack(h)
	}
}

// unparkLocked takes a handle out of its idle list, if it is in one.
func (m *Manager) unparkLocked(h *handle) {
	if h.hot {
		m.hot.remove(h)
	} else {
		m.cold.remove(h)
	}
}

// acquireSlow is Acquire when the handle is not open and free to lease. It
// is called with m.mu held and returns with it released.
func (m *Manager) acquireSlow(ctx context.Context, id string) (*Lease, error) {
	var w *waiter // non-nil while queued for room
	for {
		if m.closed {
			m.dequeueLocked(w)
			m.mu.Unlock()
			return nil, ErrClosed
		}
		h := m.handles[id]
		if h != nil && h.state == stateOpen && !h.dropping {
			m.dequeueLocked(w)
			m.leaseLocked(h)
			m.mu.Unlock()
			return &Lease{m: m, h: h, db: h.db}, nil
		}
		if d := m.dropping[id]; d != nil {
			m.dequeueLocked(w)
			w = nil
			m.mu.Unlock()
			select {
			case <-d.done:
			case <-ctx.Done():
				return nil, fmt.Errorf("dbstrategy: acquire %q: waiting for drop: %w", id, ctx.Err())
			}
			m.mu.Lock()
			continue
		}
		if h != nil { // opening: share it
			m.dequeueLocked(w)
			h.pending++
			return m.awaitOpen(ctx, h)
		}
		// A new handle needs room. Waiters go first, oldest first: a
		// newcomer takes room only when nobody waits, a waiter only when
		// its turn was signaled.
		if (w == nil && m.queue.n == 0) || (w != nil && w.signaled) {
			if m.roomLocked() > 0 {
				h := m.startOpenLocked(ctx, id)
				m.dequeueLocked(w) // passes on any room left
				return m.awaitOpen(ctx, h)
			}
		}
		if w == nil {
			w = &waiter{tenant: id, ch: make(chan struct{}, 1)}
			m.queue.pushBack(w)
			m.waits++
			m.wakeLocked()
			if w.signaled {
				continue
			}
		} else {
			w.signaled = false
		}
		m.mu.Unlock()
		select {
		case <-w.ch:
			m.mu.Lock()
		case <-ctx.Done():
			m.mu.Lock()
			m.dequeueLocked(w)
			m.mu.Unlock()
			return nil, fmt.Errorf("dbstrategy: acquire %q: waiting for a free handle: %w", id, ctx.Err())
		}
	}
}

// roomLocked reports how many handles could be opened now: free slots plus
// unleased handles that may be evicted.
func (m *Manager) roomLocked() int {
	return m.limit - m.used + m.cold.n + m.hot.n
}

// wakeLocked signals as many waiters, oldest first, as there is room.
func (m *Manager) wakeLocked() {
	room := m.roomLocked()
	for w := m.queue.head; w != nil && room > 0; w = w.next {
		if !w.signaled {
			w.signaled = true
			w.wake()
		}
		room--
	}
}

// dequeueLocked takes w out of the queue, handing its turn on if it had one.
func (m *Manager) dequeueLocked(w *waiter) {
	if w == nil || !w.in {
		return
	}
	m.queue.remove(w)
	if w.signaled {
		w.signaled = false
		m.wakeLocked()
	}
}

// startOpenLocked takes room for a new handle of id, evicting the least
// recently released unleased handle if there is no free slot, and starts
// opening it. The caller counts as its first pending Acquire.
func (m *Manager) startOpenLocked(ctx context.Context, id string) *handle {
	var victim *handle
	if m.used < m.limit {
		m.used++
	} else {
		// The victim's slot passes to the new handle; the open goroutine
		// closes the victim before opening, so the budget always holds.
		victim = m.cold.head
		if victim == nil {
			victim = m.hot.head
		}
		m.removeLocked(victim)
		m.evicted++
	}
	openCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	h := &handle{
		id:         id,
		state:      stateOpening,
		pending:    1,
		ready:      make(chan struct{}),
		cancelOpen: cancel,
	}
	m.handles[id] = h
	for w := m.queue.head; w != nil; w = w.next {
		if w.tenant == id {
			w.wake() // it will share this open
		}
	}
	m.wg.Add(1)
	go m.open(openCtx, h, victim)
	return h
}

// open closes victim, if any, then opens h. It runs in its own goroutine, so
// that an Acquire whose ctx ends leaves the open to the others waiting for
// it; it exits when Strategy.Open returns (cancelled by Close).
func (m *Manager) open(ctx context.Context, h *handle, victim *handle) {
	defer m.wg.Done()
	defer h.cancelOpen()
	if victim != nil {
		m.closeDB(victim, "evicted")
	}
	start := time.Now()
	db, err := m.s.Open(ctx, h.id)
	if err == nil && db == nil {
		err = errors.New("strategy returned a nil *sql.DB")
	}
	if err != nil {
		err = fmt.Errorf("dbstrategy: open tenant %q: %w", h.id, err)
	}
	m.mu.Lock()
	if m.closed { // Close may have cancelled the open: say why
		err = ErrClosed
	}
	if err != nil {
		if m.handles[h.id] == h {
			delete(m.handles, h.id)
		}
		h.state = stateFailed
		h.err = err
		h.pending = 0
		m.used--
		close(h.ready)
		m.wakeLocked()
		m.mu.Unlock()
		if db != nil {
			m.closeDB(&handle{id: h.id, db: db}, "manager closed")
		}
		return
	}
	h.db = db
	h.state = stateOpen
	m.nOpen++
	m.opens++
	h.refs, h.pending = h.pending, 0
	if h.refs > 0 {
		m.nLeased++
	} else if !h.dropping {
		h.lastUsed = m.cfg.now()
		m.parkLocked(h)
		m.wakeLocked()
	}
	close(h.ready)
	m.mu.Unlock()
	m.cfg.logger.LogAttrs(ctx, slog.LevelDebug, "tenant handle opened",
		slog.String("tenant", h.id), slog.Duration("took", time.Since(start)))
}

// awaitOpen waits for h, counted as pending, to open. It is called with m.mu
// held and returns with it released.
func (m *Manager) awaitOpen(ctx context.Context, h *handle) (*Lease, error) {
	m.mu.Unlock()
	select {
	case <-h.ready:
	case <-ctx.Done():
		m.mu.Lock()
		if h.state == stateOpening {
			h.pending--
			m.mu.Unlock()
			return nil, fmt.Errorf("dbstrategy: acquire %q: waiting for open: %w", h.id, ctx.Err())
		}
		m.mu.Unlock() // it finished meanwhile: take the result
	}
	if h.err != nil {
		return nil, h.err
	}
	return &Lease{m: m, h: h, db: h.db}, nil // open counted this lease
}

// removeLocked takes an open handle out of the cache; the caller closes its
// db and then gives back its slot (m.used--), or hands the slot on.
func (m *Manager) removeLocked(h *handle) {
	m.unparkLocked(h)
	if h.hot {
		h.hot = false
		m.nHot--
	}
	if m.handles[h.id] == h {
		delete(m.handles, h.id)
	}
	h.state = stateClosing
	m.nOpen--
}

// closeDB closes a handle's db, logging the error: nobody waits for it.
func (m *Manager) closeDB(h *handle, reason string) {
	if err := h.db.Close(); err != nil {
		m.cfg.logger.LogAttrs(context.Background(), slog.LevelWarn, "closing tenant handle failed",
			slog.String("tenant", h.id), slog.String("reason", reason), slog.Any("err", err))
		return
	}
	m.cfg.logger.LogAttrs(context.Background(), slog.LevelDebug, "tenant handle closed",
		slog.String("tenant", h.id), slog.String("reason", reason))
}

// reaper closes idle handles every period until Close.
func (m *Manager) reaper(every time.Duration) {
	defer m.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-m.done:
			return
		case <-t.C:
			m.reapIdle()
		}
	}
}

// reapIdle closes the handles unleased for longer than the idle timeout and
// reports how many it closed.
func (m *Manager) reapIdle() int {
	if m.cfg.idleTimeout <= 0 {
		return 0
	}
	now := m.cfg.now()
	var victims []*handle
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return 0
	}
	for _, l := range []*list[handle, *handle]{&m.cold, &m.hot} {
		for h := l.head; h != nil; {
			next := h.next
			if now.Sub(h.lastUsed) >= m.cfg.idleTimeout {
				m.removeLocked(h)
				m.reaped++
				victims = append(victims, h)
			}
			h = next
		}
	}
	m.mu.Unlock()
	if len(victims) == 0 {
		return 0
	}
	for _, h := range victims {
		m.closeDB(h, "idle")
	}
	m.mu.Lock()
	m.used -= len(victims)
	m.wakeLocked()
	m.mu.Unlock()
	return len(victims)
}

// Stats is a snapshot of a Manager's handles, from [Manager.Stats].
type Stats struct {
	MaxOpen    int   // most handles open at once: WithMaxOpen, lowered by the WithMaxConns budget
	Open       int   // handles open now, leased or not
	Leased     int   // open handles with at least one lease
	Waiting    int   // Acquires waiting now for room to open a handle
	Opens      int64 // handles opened so far
	Evictions  int64 // unleased handles closed so far to make room for another tenant
	IdleCloses int64 // handles closed so far by the idle reaper
	Waits      int64 // Acquires so far that had to wait for room

	Migrations        int64 // tenant migrations (goose up) that succeeded so far, nothing to do included
	MigrationFailures int64 // tenant migrations that failed so far
}

// Stats returns a snapshot of the Manager's handles and counters.
func (m *Manager) Stats() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return Stats{
		MaxOpen:    m.limit,
		Open:       m.nOpen,
		Leased:     m.nLeased,
		Waiting:    m.queue.n,
		Opens:      m.opens,
		Evictions:  m.evicted,
		IdleCloses: m.reaped,
		Waits:      m.waits,

		Migrations:        m.migrated.Load(),
		MigrationFailures: m.migrateFailed.Load(),
	}
}

// Close stops the idle reaper, cancels opens in flight and waits for them,
// and closes every unleased handle, returning their close errors joined.
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
		m.mu.Unlock()
		m.wg.Wait()
		var errs []error
		for _, h := range victims {
			if err := h.db.Close(); err != nil {
				errs = append(errs, fmt.Errorf("dbstrategy: close tenant %q: %v", h.id, err))
			}
		}
		m.mu.Lock()
		m.used -= len(victims)
		m.mu.Unlock()
		m.closeErr = errors.Join(errs...)
	})
	return m.closeErr
}

// lockTenant serializes Create, Migrate and Drop of one tenant in this
// Manager. It returns the unlock function.
func (m *Manager) lockTenant(ctx context.Context, id string) (func(), error) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil, ErrClosed
	}
	tl := m.locks[id]
	if tl == nil {
		tl = &tenantLock{ch: make(chan struct{}, 1)}
		m.locks[id] = tl
	}
	tl.refs++
	m.mu.Unlock()
	put := func() {
		m.mu.Lock()
		tl.refs--
		if tl.refs == 0 {
			delete(m.locks, id)
		}
		m.mu.Unlock()
	}
	select {
	case tl.ch <- struct{}{}:
		return func() { <-tl.ch; put() }, nil
	case <-ctx.Done():
		put()
		return nil, fmt.Errorf("dbstrategy: waiting for another operation on tenant %q: %w", id, ctx.Err())
	}
}

// Drop deletes the tenant's database. New Acquires of the tenant wait until
// Drop returns (then fail with [ErrNotFound] unless the tenant was created
// again). Drop waits, bounded by ctx, for Create and Migrate of the tenant
// and for its leases to be released, closes its handle and calls
// [Strategy.Drop]. If ctx ends first, nothing is dropped and ctx's error is
// returned wrapped. Dropping a tenant that does not exist returns nil.
func (m *Manager) Drop(ctx context.Context, tenantID string) error {
	if err := ValidateKey(tenantID); err != nil {
		return err
	}
	unlock, err := m.lockTenant(ctx, tenantID)
	if err != nil {
		return err
	}
	defer unlock()
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return ErrClosed
	}
	d := &dropMark{done: make(chan struct{})}
	m.dropping[tenantID] = d
	finish := func() {
		m.mu.Lock()
		delete(m.dropping, tenantID)
		close(d.done)
		m.mu.Unlock()
	}
	for {
		h := m.handles[tenantID]
		if h == nil {
			break
		}
		h.dropping = true
		m.unparkLocked(h)
		if h.state == stateOpening || h.refs > 0 {
			wait := h.ready
			if h.state == stateOpen {
				if h.drained == nil {
					h.drained = make(chan struct{})
				}
				wait = h.drained
			}
			m.mu.Unlock()
			select {
			case <-wait:
				m.mu.Lock()
				continue
			case <-ctx.Done():
				m.mu.Lock()
				if h.state == stateOpen && h.refs == 0 {
					continue // drained meanwhile: go on
				}
				m.undropLocked(h)
				m.mu.Unlock()
				finish()
				return fmt.Errorf("dbstrategy: drop %q: waiting for leases: %w", tenantID, ctx.Err())
			}
		}
		m.removeLocked(h)
		m.mu.Unlock()
		m.closeDB(h, "dropped")
		m.mu.Lock()
		m.used--
		m.wakeLocked()
		break
	}
	m.mu.Unlock()
	err = m.s.Drop(ctx, tenantID)
	finish()
	if err != nil {
		return fmt.Errorf("dbstrategy: drop tenant %q: %w", tenantID, err)
	}
	return nil
}

// undropLocked gives a handle back to Acquire after a Drop gave up.
func (m *Manager) undropLocked(h *handle) {
	h.dropping = false
	h.drained = nil
	if h.state == stateOpen && h.refs == 0 && m.handles[h.id] == h {
		h.lastUsed = m.cfg.now()
		m.parkLocked(h)
		m.wakeLocked()
	}
}
