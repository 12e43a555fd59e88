package pgstrategy

import (
	"context"
	"fmt"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// reclaimEvery is how often a connect waiting for the budget looks again
// for an idle connection to close, should it have missed the release of
// one (a connection returned to its pool between two looks).
const reclaimEvery = 50 * time.Millisecond

// connBudget bounds the server connections of every tenant pool of a
// Strategy together: each connection takes a token when it is dialled and
// gives it back when its socket closes. A pool holding no connection takes
// none. When no token is free, a connect closes an idle connection of
// another pool (the pool with the most idle ones first), and while connects
// wait, connections released by their users are closed instead of kept
// idle, so idle connections, not handles, make room first.
type connBudget struct {
	tokens  chan struct{} // one per connection open or being dialled
	waiters atomic.Int32  // connects waiting for a token
	reclaim func() bool   // closes one idle connection of some pool; false if none
}

func newConnBudget(n int, reclaim func() bool) *connBudget {
	return &connBudget{tokens: make(chan struct{}, n), reclaim: reclaim}
}

// acquire takes a token, waiting until one is free or ctx ends.
func (b *connBudget) acquire(ctx context.Context) error {
	select {
	case b.tokens <- struct{}{}:
		return nil
	default:
	}
	b.reclaim()
	b.waiters.Add(1)
	defer b.waiters.Add(-1)
	t := time.NewTicker(reclaimEvery)
	defer t.Stop()
	for {
		select {
		case b.tokens <- struct{}{}:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("pgstrategy: waiting for the connection budget: %w", ctx.Err())
		case <-t.C:
			b.reclaim()
		}
	}
}

func (b *connBudget) release() { <-b.tokens }

// contended reports whether a connect waits for a token.
func (b *connBudget) contended() bool { return b.waiters.Load() > 0 }

// budgetConn gives its token back when the connection's socket closes.
type budgetConn struct {
	net.Conn
	once sync.Once
	b    *connBudget
}

func (c *budgetConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.b.release)
	return err
}

// budgeted makes the pool of cfg take a token from b for each connection.
func budgeted(cfg *pgxpool.Config, b *connBudget) {
	dial := cfg.ConnConfig.DialFunc
	cfg.ConnConfig.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if err := b.acquire(ctx); err != nil {
			return nil, err
		}
		c, err := dial(ctx, network, addr)
		if err != nil {
			b.release()
			return nil, err
		}
		return &budgetConn{Conn: c, b: b}, nil
	}
	// A connection released while connects wait for the budget is closed
	// rather than kept idle: its token goes to a waiter.
	cfg.AfterRelease = func(*pgx.Conn) bool { return !b.contended() }
}

// reclaimIdle closes one idle connection of the tenant pool with the most
// idle connections, and reports whether it found one.
func (s *Strategy) reclaimIdle() bool {
	s.mu.Lock()
	pools := make([]*pgxpool.Pool, 0, len(s.pools))
	for _, p := range s.pools {
		if p.Stat().IdleConns() > 0 {
			pools = append(pools, p)
		}
	}
	s.mu.Unlock()
	sort.Slice(pools, func(i, j int) bool { return pools[i].Stat().IdleConns() > pools[j].Stat().IdleConns() })
	for _, p := range pools {
		conns := p.AcquireAllIdle(context.Background())
		if len(conns) == 0 {
			continue
		}
		c := conns[0].Hijack()
		for _, o := range conns[1:] {
			o.Release()
		}
		awaitBackendExit(c)
		ctx, cancel := context.WithTimeout(context.Background(), backendExitWait)
		_ = c.Close(ctx)
		cancel()
		return true
	}
	return false
}

// SetConnBudget makes the tenant handles returned by Open hold at most n
// server connections together, counting the connections they really hold:
// a handle holding none costs nothing, a pool grows past one connection
// only while its tenant has concurrent queries (and up to
// [Config.MaxConns]), and when the budget is used up a new connection
// first closes an idle connection of another tenant, or waits, bounded by
// its context, for one to be released. It implements
// [dbstrategy.ConnBudgeter]: a [dbstrategy.Manager] given
// [dbstrategy.WithMaxConns](n) calls it once. The admin and template
// connections are outside the budget. A Strategy has one budget, shared
// by every Manager over it: a second call with the same n does nothing,
// with another n it fails. Handles opened before the first call are not
// counted: give the budget before serving (NewManager does).
func (s *Strategy) SetConnBudget(n int) error {
	if n < 1 {
		return fmt.Errorf("%w: connection budget %d: must be at least 1", errInvalidConfig, n)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.budget != nil {
		if cap(s.budget.tokens) == n {
			return nil // another Manager over the same strategy: one budget
		}
		return fmt.Errorf("%w: the strategy already has a connection budget of %d", errInvalidConfig, cap(s.budget.tokens))
	}
	s.budget = newConnBudget(n, s.reclaimIdle)
	return nil
}
