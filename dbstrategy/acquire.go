package dbstrategy

import (
	"context"
	"database/sql"
	"fmt"
)

// Lease is a claim on one tenant's open handle. While a lease is held the
// handle stays open. A Lease is used by one goroutine, but Release is safe
// to call from any goroutine and more than once.
type Lease struct {
	m *Manager
	c *stmtCache // the handle's db and statements
	h *handle    // nil once released; guarded by m.mu
}

// DB returns the tenant's handle. It is shared with the other leases of the
// tenant; do not close it, and do not use it after [Lease.Release].
func (l *Lease) DB() *sql.DB { return l.c.db }

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
