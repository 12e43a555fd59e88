package dbstrategy

import (
	"context"
	"fmt"
)

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
	finish, err := m.retire(ctx, tenantID, "drop", "dropped")
	if err != nil {
		return err
	}
	err = m.s.Drop(ctx, tenantID)
	finish()
	if err != nil {
		return fmt.Errorf("dbstrategy: drop tenant %q: %w", tenantID, err)
	}
	return nil
}

// retire closes the tenant's handle, for Drop and Evict (op, in errors and
// in what Acquire waits for) with the tenant lock held. It marks the
// tenant so that new Acquires wait, waits (bounded by ctx) for an open in
// flight and for the handle's leases, takes the handle out of the cache
// and closes it, logging reason. It returns finish, which lifts the mark
// and lets the waiting Acquires go on: the caller calls it when done. If
// ctx ends first, it gives the handle back to Acquire, lifts the mark and
// returns ctx's error, wrapped; nothing was closed.
func (m *Manager) retire(ctx context.Context, id, op, reason string) (finish func(), err error) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil, ErrClosed
	}
	d := &dropMark{op: op, done: make(chan struct{})}
	m.dropping[id] = d
	finish = func() {
		m.mu.Lock()
		delete(m.dropping, id)
		close(d.done)
		m.mu.Unlock()
	}
	for {
		h := m.handles[id]
		if h == nil {
			break
		}
		h.dropping = true
		m.evict.unpark(h)
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
				return nil, fmt.Errorf("dbstrategy: %s %q: waiting for leases: %w", op, id, ctx.Err())
			}
		}
		m.removeLocked(h)
		m.mu.Unlock()
		m.closeDB(h, reason)
		m.mu.Lock()
		m.used--
		m.wakeLocked()
		break
	}
	m.mu.Unlock()
	return finish, nil
}

// undropLocked gives a handle back to Acquire after a Drop gave up.
func (m *Manager) undropLocked(h *handle) {
	h.dropping = false
	h.drained = nil
	if h.state == stateOpen && h.refs == 0 && m.handles[h.id] == h {
		h.lastUsed = m.cfg.now()
		m.evict.park(h)
		m.wakeLocked()
	}
}
