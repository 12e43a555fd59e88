package dbstrategy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

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
		victim = m.evict.victim()
		m.removeLocked(victim)
		m.evict.ghosts.add(victim.id)
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
	h.stmts.db = db
	h.state = stateOpen
	m.evict.admit(h)
	m.nOpen++
	m.opens++
	h.refs, h.pending = h.pending, 0
	if h.refs > 0 {
		m.nLeased++
	} else if !h.dropping {
		h.lastUsed = m.cfg.now()
		m.evict.park(h)
		m.wakeLocked()
	}
	close(h.ready)
	m.mu.Unlock()
	m.cfg.logger.LogAttrs(ctx, slog.LevelDebug, "tenant handle opened",
		slog.String("tenant", h.id), slog.Duration("took", time.Since(start)))
}
