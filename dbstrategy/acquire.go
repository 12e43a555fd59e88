package dbstrategy

import (
	"context"
	"database/sql"
	"fmt"
	"sync/atomic"
)

// Lease is a claim on one tenant's open handle. While a lease is held the
// handle stays open. A Lease is used by one goroutine, but Release is safe
// to call from any goroutine and more than once.
type Lease struct {
	m        *Manager
	c        *stmtCache  // the handle's db and statements
	h        *handle     // nil once released; guarded by m.mu
	conn     *sql.Conn   // the pinned connection of a ConnPinner strategy, or nil
	pin      *pinState   // with conn: what the lease started on it
	released atomic.Bool // set by Release; checked by every method of DB()
}

// DB returns the handle to run the tenant's SQL on. On a strategy with a
// handle per tenant it runs on the tenant's *sql.DB, shared with the
// tenant's other leases; on a [ConnPinner] strategy it runs on the one
// connection the lease pinned, scoped to the tenant. Either way it fails
// with [ErrReleased] once the lease is released: do not keep it, nor
// anything made from it, beyond [Lease.Release].
//
// On a pinned connection, Release closes the rows and statements made
// through DB and rolls back its transactions, then gives the connection
// back; it waits, as sql.Conn.Close does, for a *sql.Row whose Scan was
// never called (always call Scan).
func (l *Lease) DB() DB { return leaseDB{l} }

// Handle returns the tenant's own *sql.DB on a strategy with a handle per
// tenant, for what [DB] does not offer (db.Stats, pgstrategy's
// Strategy.Pool), and nil on a [ConnPinner] strategy, whose tenants have
// no pool of their own. Unlike DB, it is not checked against the lease:
// use it only while the lease is held, and do not close it.
func (l *Lease) Handle() *sql.DB {
	if l.m.pinner != nil {
		return nil
	}
	return l.c.db
}

// Release gives the lease back. The handle stays open for later leases until
// it is evicted, idle for too long, dropped or the Manager is closed. On a
// [ConnPinner] strategy, Release first gives back the pinned connection,
// which the strategy resets (or, if that fails, discards) before it serves
// another tenant; schemastrategy resets it when a lease of another tenant
// takes it, and hands it to a later lease of the same tenant as this one
// left it. Calling Release again does nothing.
func (l *Lease) Release() {
	if l.released.Swap(true) {
		return
	}
	if l.conn != nil {
		l.pin.end()
		_ = l.conn.Close() // the strategy resets or discards it
	}
	m := l.m
	m.mu.Lock()
	h := l.h
	if h == nil {
		m.mu.Unlock()
		return
	}
	l.h = nil
	if h.owned != nil {
		if own := h.owned[l]; own != nil {
			delete(h.owned, l)
			m.mu.Unlock()
			for _, st := range own {
				st.Close()
			}
			m.mu.Lock()
		}
	}
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
		m.evict.park(h)
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
// Under [WithPendingMigrations], the first Acquire of a handle since it
// opened first checks the tenant's schema version (one query), or migrates
// the tenant, under the tenant's migration lock: it waits for a Create,
// Migrate or Drop of the tenant in progress, bounded by ctx.
//
// On a [ConnPinner] strategy, Acquire then pins one connection of the
// shared pool for the lease, scoped to the tenant (schemastrategy sends
// the scope with the lease's first query, or none on a connection the
// tenant's previous lease left: see its package documentation); it waits
// for a free connection, bounded by ctx, when every connection of the
// pool is pinned.
//
// Errors: [ErrInvalidKey]; [ErrClosed]; an error wrapping [ErrNotFound] if
// the tenant's database does not exist (not cached: a later Acquire tries
// again); the error of [Strategy.Open], returned to every Acquire that
// waited for that open; the error of [ConnPinner.PinConn], wrapped; or
// ctx's error, wrapped, if ctx ends first. Under [WithPendingMigrations],
// for a tenant whose schema is behind: a *[SchemaBehindError]
// ([PendingRefuse]) or a *[MigrateError] ([PendingMigrate]).
func (m *Manager) Acquire(ctx context.Context, tenantID string) (*Lease, error) {
	l, err := m.lease(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	if m.checkSchema && !l.h.current.Load() {
		if l, err = m.leaseCurrent(ctx, l); err != nil {
			return nil, err
		}
	}
	if m.pinner == nil {
		return l, nil
	}
	return m.pinLease(ctx, l)
}

// pinLease pins a connection of the lease's handle for l, or releases l.
func (m *Manager) pinLease(ctx context.Context, l *Lease) (*Lease, error) {
	conn, err := m.pinner.PinConn(ctx, l.c.db)
	if err == nil && conn == nil {
		err = fmt.Errorf("strategy pinned a nil *sql.Conn")
	}
	if err != nil {
		id := l.h.id
		l.Release()
		return nil, fmt.Errorf("dbstrategy: acquire %q: %w", id, err)
	}
	l.conn, l.pin = conn, &pinState{}
	return l, nil
}

// lease is Acquire without pinning a connection: the lease of the
// Manager's own work (migrations, versions), which runs on the handle.
func (m *Manager) lease(ctx context.Context, tenantID string) (*Lease, error) {
	if err := ValidateKey(tenantID); err != nil {
		return nil, err
	}
	m.mu.Lock()
	if h := m.handles[tenantID]; h != nil && h.state == stateOpen && !h.dropping && !m.closed {
		m.leaseLocked(h)
		m.mu.Unlock()
		return &Lease{m: m, h: h, c: &h.stmts}, nil
	}
	return m.acquireSlow(ctx, tenantID)
}

// leaseLocked adds a lease to an open handle.
func (m *Manager) leaseLocked(h *handle) {
	if h.refs == 0 {
		m.evict.lease(h)
		m.nLeased++
	}
	h.refs++
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
			return &Lease{m: m, h: h, c: &h.stmts}, nil
		}
		if d := m.dropping[id]; d != nil {
			m.dequeueLocked(w)
			w = nil
			m.mu.Unlock()
			select {
			case <-d.done:
			case <-ctx.Done():
				return nil, fmt.Errorf("dbstrategy: acquire %q: waiting for %s: %w", id, d.op, ctx.Err())
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
	return m.limit - m.used + m.evict.idle()
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
	return &Lease{m: m, h: h, c: &h.stmts}, nil // open counted this lease
}
