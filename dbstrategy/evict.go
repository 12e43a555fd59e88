package dbstrategy

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// removeLocked takes an open handle out of the cache; the caller closes its
// db and then gives back its slot (m.used--), or hands the slot on.
func (m *Manager) removeLocked(h *handle) {
	m.evict.remove(h)
	if m.handles[h.id] == h {
		delete(m.handles, h.id)
	}
	h.state = stateClosing
	m.nOpen--
}

// close closes the handle's cached statements, then its db.
func (h *handle) close() error {
	return errors.Join(h.stmts.close(), h.db.Close())
}

// closeDB closes a handle's db, logging the error: nobody waits for it.
func (m *Manager) closeDB(h *handle, reason string) {
	if err := h.close(); err != nil {
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
	m.evict.each(func(h *handle) {
		if now.Sub(h.lastUsed) >= m.cfg.idleTimeout {
			m.removeLocked(h)
			m.reaped++
			victims = append(victims, h)
		}
	})
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

// Evict closes the tenant's handle, so that the next Acquire opens it anew
// through the strategy: after a move changed the server a routing strategy
// sends the tenant to, the handle open on the old server must go. New
// Acquires of the tenant wait until Evict returns. Evict waits, bounded by
// ctx, for a Create, Migrate or Drop of the tenant in progress, for an
// open in flight and for the tenant's leases to be released; it never
// closes a leased handle. If ctx ends first, nothing is closed, the handle
// serves on, and ctx's error is returned wrapped. A tenant with no handle
// open is left alone: Evict returns nil. Evict does not count in
// [Stats].Evictions, which are the closes made for room.
//
// Errors: [ErrInvalidKey]; [ErrClosed]; ctx's error, wrapped.
func (m *Manager) Evict(ctx context.Context, tenantID string) error {
	if err := ValidateKey(tenantID); err != nil {
		return err
	}
	unlock, err := m.lockTenant(ctx, tenantID)
	if err != nil {
		return err
	}
	defer unlock()
	finish, err := m.retire(ctx, tenantID, "evict", "evicted")
	if err != nil {
		return err
	}
	finish()
	return nil
}
