package dbstrategy

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// minSpareBudget is the smallest [WithMaxConns] budget [WithSpares] takes:
// making a spare holds two connections, and the tenants need one.
const minSpareBudget = 3

// spares is the Manager's state for [WithSpares]: the goroutine that makes
// spares in the background. Its fields are guarded by Manager.mu.
type spares struct {
	s       Sparer
	want    int
	running bool // a filler goroutine is running
	again   bool // a kick came while it ran: it looks once more before it exits
	ctx     context.Context
	cancel  context.CancelFunc // called by Close: stops the filler
}

// FillSpares drops the spares of older migration versions (a process of
// an older release may still claim them until then; it then creates its
// tenants without), then makes spares, in the caller's goroutine, until
// [WithSpares] of them are ready for the newest migration's version, and
// reports how many are ready. It returns at once, with 0 and no error, without
// WithSpares. It may run alongside the Manager's own background filler,
// so more than n spares may be made, and more than n reported; none is
// lost. [Manager.Close] cancels it and waits for it.
//
// Errors: [ErrClosed]; the strategy's error, wrapped.
func (m *Manager) FillSpares(ctx context.Context) (int, error) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return 0, ErrClosed
	}
	if m.spares == nil {
		m.mu.Unlock()
		return 0, nil
	}
	// Close waits for it, and cancels it, as it does the filler: a spare
	// half made is dropped before the strategy closes.
	m.wg.Add(1)
	m.mu.Unlock()
	defer m.wg.Done()
	ctx, cancel := context.WithCancel(ctx)
	defer context.AfterFunc(m.spares.ctx, cancel)()
	defer cancel()
	return m.fillSpares(ctx)
}

func (m *Manager) fillSpares(ctx context.Context) (int, error) {
	sp := m.spares
	if n, err := sp.s.DropOldSpares(ctx, m.target); err != nil {
		return 0, fmt.Errorf("dbstrategy: drop spares of older versions: %w", err)
	} else if n > 0 {
		m.cfg.logger.LogAttrs(ctx, slog.LevelInfo, "spares of older versions dropped", slog.Int("spares", n), slog.Int64("version", m.target))
	}
	for {
		if m.isClosed() {
			return 0, ErrClosed
		}
		n, err := sp.s.Spares(ctx, m.target)
		if err != nil {
			return 0, fmt.Errorf("dbstrategy: count spares: %w", err)
		}
		if n >= sp.want {
			return n, nil
		}
		start := time.Now()
		if err := sp.s.MakeSpare(ctx, m.target, m.migrateDB); err != nil {
			return n, fmt.Errorf("dbstrategy: make a spare: %w", err)
		}
		m.sparesMade.Add(1)
		m.cfg.logger.LogAttrs(ctx, slog.LevelDebug, "spare made", slog.Int64("version", m.target), slog.Duration("took", time.Since(start)))
	}
}

// kickSpares starts the background filler, or asks the running one to
// look again before it exits. The filler exits once WithSpares spares
// are ready, on its first error (logged; the next kick retries), or when
// Close cancels its context; Close waits for it.
func (m *Manager) kickSpares() {
	sp := m.spares
	if sp == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	if sp.running {
		sp.again = true
		return
	}
	sp.running = true
	m.wg.Add(1)
	go m.spareFiller()
}

func (m *Manager) spareFiller() {
	defer m.wg.Done()
	sp := m.spares
	for {
		if _, err := m.fillSpares(sp.ctx); err != nil && sp.ctx.Err() == nil {
			m.cfg.logger.LogAttrs(sp.ctx, slog.LevelWarn, "making spares failed", slog.String("err", err.Error()))
		}
		m.mu.Lock()
		if !sp.again || m.closed {
			sp.running = false
			m.mu.Unlock()
			return
		}
		sp.again = false
		m.mu.Unlock()
	}
}

// claimSpare hands the tenant a spare if one is ready. A failed claim is
// logged and reported as no claim: Create then makes the database itself,
// and reports that path's error if there is one.
func (m *Manager) claimSpare(ctx context.Context, tenantID string) bool {
	sp := m.spares
	if sp == nil {
		return false
	}
	claimed, err := sp.s.ClaimSpare(ctx, tenantID, m.target)
	if err != nil {
		m.cfg.logger.LogAttrs(ctx, slog.LevelWarn, "claiming a spare failed", slog.String("tenant", tenantID), slog.String("err", err.Error()))
		claimed = false
	}
	if claimed {
		m.sparesClaimed.Add(1)
	}
	m.kickSpares()
	return claimed
}
