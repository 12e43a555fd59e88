package pgstrategy

import (
	"context"
	"fmt"
	"net"
	"slices"
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

// stallLooks is how many looks in a row (reclaimEvery apart: 200 ms) a
// connect waits with no token freed anywhere under the budget before it
// stops waiting for busy connections and closes a resident's idle one:
// connections that free no token for that long are held (a long
// transaction, a lease kept open), not about to be released.
const stallLooks = 4

// connBudget bounds the server connections of every tenant pool of a
// Strategy together: each connection takes a token when it is dialled and
// gives it back when its socket closes. A pool holding no connection takes
// none.
//
// When no token is free, idle connections, not handles, make room, and
// which go is decided by a ranking of the pools by recent use (see
// [Strategy.reclaimIdle]): the best ranked pools, as many as most of the
// budget, are residents whose idle connection stays; the other pools take
// turns through the rest of the budget. So when a few more tenants are
// active than the budget holds, most requests still find their tenant's
// connection open, where closing the least recently used would close
// every connection before its tenant comes back (a rotation).
//
// A connect waits for a busy connection rather than close a resident's
// idle one, but not indefinitely: once no token has been freed for
// [stallLooks] looks while it waits, it closes the worst ranked idle
// connection, a resident's too. So idle connections are reclaimed before
// a connect waits on connections held in long transactions.
type connBudget struct {
	tokens  chan struct{} // one per connection open or being dialled
	waiters atomic.Int32  // connects waiting for a token
	dials   atomic.Int64  // connections dialled, ever
	frees   atomic.Int64  // tokens given back, ever: how a waiting connect sees progress
	uses    atomic.Int64  // connections released, ever: the clock of poolUse's decay
	pools   atomic.Int64  // pools opened under the budget, ever
	reclaim func(wanted *poolUse, mode reclaimMode) reclaimResult
}

func newConnBudget(n int, reclaim func(wanted *poolUse, mode reclaimMode) reclaimResult) *connBudget {
	return &connBudget{tokens: make(chan struct{}, n), reclaim: reclaim}
}

// decayEvery is how many uses, per token of the budget, halve every pool's
// use count, so that the ranking follows a load that moves.
const decayEvery = 16

// period returns the decay period use counts are in now.
func (b *connBudget) period() int64 { return b.uses.Load() / int64(decayEvery*cap(b.tokens)) }

// residents returns how many pools keep their idle connection: the budget
// less an eighth (at least one token) for the other pools to take turns.
func (b *connBudget) residents() int { return cap(b.tokens) - max(1, cap(b.tokens)/8) }

// acquire takes a token for a connection of the pool whose use is wanted,
// waiting until one is free or ctx ends. While it waits it asks for room
// every reclaimEvery; after [stallLooks] looks in a row with no token
// freed, it asks as a stalled connect (see [Strategy.reclaimIdle]).
func (b *connBudget) acquire(ctx context.Context, wanted *poolUse) error {
	select {
	case b.tokens <- struct{}{}:
		b.dials.Add(1)
		return nil
	default:
	}
	b.waiters.Add(1)
	defer b.waiters.Add(-1)
	frees, still := b.frees.Load(), 0 // still: looks since a token was last freed
	b.reclaim(wanted, forConnect)
	t := time.NewTicker(reclaimEvery)
	defer t.Stop()
	for {
		select {
		case b.tokens <- struct{}{}:
			b.dials.Add(1)
			return nil
		case <-ctx.Done():
			return fmt.Errorf("pgstrategy: waiting for the connection budget: %w", ctx.Err())
		case <-t.C:
			mode := forConnect
			if f := b.frees.Load(); f != frees {
				frees, still = f, 0
			} else if still++; still >= stallLooks {
				mode = forStalledConnect
			}
			b.reclaim(wanted, mode)
		}
	}
}

// release gives a token back.
func (b *connBudget) release() {
	<-b.tokens
	b.frees.Add(1)
}

// contended reports whether a connect waits for a token.
func (b *connBudget) contended() bool { return b.waiters.Load() > 0 }

// poolUse counts the uses of a tenant pool's connections (releases to the
// pool), halved every decay period of the budget, and remembers whether
// the pool is a resident.
type poolUse struct {
	seq int64 // order of the pool's opening under the budget: the last tie-break

	mu       sync.Mutex
	count    int64 // uses, as of period
	period   int64
	resident bool
}

// newPoolUse returns the use counter of a pool opened under b.
func (b *connBudget) newPoolUse() *poolUse { return &poolUse{seq: b.pools.Add(1)} }

// used records a release of one of the pool's connections.
func (u *poolUse) used(b *connBudget) {
	p := b.period()
	b.uses.Add(1)
	u.mu.Lock()
	u.count = u.decayed(p) + 1
	u.period = p
	u.mu.Unlock()
}

func (u *poolUse) decayed(p int64) int64 {
	if d := p - u.period; d > 0 {
		if d >= 63 {
			return 0
		}
		return u.count >> d
	}
	return u.count
}

// score returns the pool's rank key as of period p: its recent use count,
// doubled while it is a resident, so that a pool displaces a resident only
// when it is used twice as often, and tenants used alike (a rotation) keep
// the same residents.
func (u *poolUse) score(p int64) (score int64, resident bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	c := u.decayed(p)
	if u.resident {
		c *= 2
	}
	return c, u.resident
}

func (u *poolUse) setResident(r bool) {
	u.mu.Lock()
	u.resident = r
	u.mu.Unlock()
}

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

// budgeted makes the pool of cfg take a token from b for each connection,
// and count its uses in use.
func budgeted(cfg *pgxpool.Config, b *connBudget, use *poolUse) {
	dial := cfg.ConnConfig.DialFunc
	cfg.ConnConfig.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if err := b.acquire(ctx, use); err != nil {
			return nil, err
		}
		c, err := dial(ctx, network, addr)
		if err != nil {
			b.release()
			return nil, err
		}
		return &budgetConn{Conn: c, b: b}, nil
	}
	// pgxpool calls AfterRelease on a goroutine of its own, so closing an
	// idle connection of another pool here, which waits for its backend
	// to exit, does not hold up the query's caller.
	cfg.AfterRelease = func(*pgx.Conn) bool {
		use.used(b)
		if !b.contended() {
			return true
		}
		// A connect waits for a token: hand it this connection's, or that
		// of an idle connection ranked below it, or keep it if the
		// token can come from elsewhere.
		return b.reclaim(use, forRelease) != reclaimSelf
	}
}

// reclaimMode says who asks reclaimIdle for room.
type reclaimMode int

const (
	forConnect        reclaimMode = iota // a connect finds no free token
	forRelease                           // a connection is released while connects wait
	forStalledConnect                    // a connect has seen no token freed for stallLooks looks
)

// reclaimResult says what a reclaim did.
type reclaimResult int

const (
	reclaimedNone  reclaimResult = iota // closed nothing
	reclaimedOther                      // closed an idle connection of another pool
	reclaimSelf                         // the connection being released is the one to close
)

// ranked is a pool as reclaimIdle sees it.
type ranked struct {
	tp          *tenantPool
	score       int64
	resident    bool
	idle, conns int
}

// reclaimIdle makes room under the budget for wanted's pool: a connect of
// that pool asks (forConnect), or a connection of it is being released
// while connects wait (forRelease), and then it competes too: reclaimIdle
// returns reclaimSelf, having closed nothing, when it is the one to close.
//
// The pools are ranked by [poolUse.score] (ties: residents, then the pool
// opened first), and the best ranked, [connBudget.residents] of them, are
// the residents: an idle connection of a non-resident, or a resident's
// second idle connection, is closed first; a resident's connection is
// closed only when no other can free a token soon, or to make room for a
// better ranked resident that holds none. While a connection is busy or
// being dialled, a connect waits for its token rather than close a
// resident's, until it is stalled (forStalledConnect: no token freed for
// [stallLooks] looks): then the worst ranked idle connection goes, a
// resident's too, as a connection busy that long is held, not about to be
// released. Closing it frees a token, which sets the other waiting
// connects counting again: they do not all close one at once.
func (s *Strategy) reclaimIdle(wanted *poolUse, mode reclaimMode) reclaimResult {
	p := s.budget.period()
	s.mu.Lock()
	pools := make([]ranked, 0, len(s.pools))
	for _, tp := range s.pools {
		if tp.use == nil { // opened before the budget: not counted
			continue
		}
		st := tp.pool.Stat()
		score, resident := tp.use.score(p)
		pools = append(pools, ranked{tp: tp, score: score, resident: resident, idle: int(st.IdleConns()), conns: int(st.TotalConns())})
	}
	s.mu.Unlock()
	slices.SortFunc(pools, func(a, b ranked) int { // best ranked first
		switch {
		case a.score != b.score:
			return int(b.score - a.score)
		case a.resident != b.resident:
			if a.resident {
				return -1
			}
			return 1
		}
		return int(a.tp.use.seq - b.tp.use.seq)
	})
	residents := min(s.budget.residents(), len(pools))
	var (
		wantedAt      = len(pools) // wanted's rank; len(pools) if not found
		residentConns int
		idle          int
		victim        = -1 // the worst ranked pool with an idle connection, other than wanted
		spare         = -1 // the same, among non-residents and residents with more than one idle
	)
	for i, r := range pools {
		r.tp.use.setResident(i < residents)
		if i < residents {
			residentConns += r.conns
		}
		idle += r.idle
		switch {
		case r.tp.use == wanted:
			wantedAt = i
		case r.idle > 1 || (r.idle > 0 && i >= residents):
			spare, victim = i, i
		case r.idle > 0:
			victim = i
		}
	}
	// Tokens held by non-residents' connections, busy or dialling: their
	// release will free a token without closing a resident's.
	churning := len(s.budget.tokens) - residentConns
	wantedResident := wantedAt < residents
	switch {
	case spare >= 0:
		victim = spare
	case mode == forRelease && (!wantedResident || pools[wantedAt].idle > 0):
		return reclaimSelf
	case mode == forRelease && churning > 0:
		return reclaimedNone // keep it: a non-resident's token will come
	case mode == forRelease:
		if victim < 0 {
			return reclaimSelf
		}
		// Only residents hold tokens: the worst ranked idle one goes.
	case victim < 0:
		return reclaimedNone
	case wantedResident && wantedAt < victim && pools[wantedAt].conns == 0:
		// A better ranked resident without a connection displaces a worse one.
	case mode == forStalledConnect:
		// No token freed for a while: the busy connections are held, and
		// the worst ranked idle one goes rather than wait for them.
	case len(s.budget.tokens) > idle:
		return reclaimedNone // wait: a connection busy or dialling will free a token
	}
	conns := pools[victim].tp.pool.AcquireAllIdle(context.Background())
	if len(conns) == 0 {
		if mode == forRelease {
			return reclaimSelf
		}
		return reclaimedNone
	}
	c := conns[0].Hijack()
	for _, o := range conns[1:] {
		o.Release()
	}
	awaitBackendExit(c)
	ctx, cancel := context.WithTimeout(context.Background(), backendExitWait)
	_ = c.Close(ctx)
	cancel()
	return reclaimedOther
}

// SetConnBudget makes the tenant handles returned by Open hold at most n
// server connections together, counting the connections they really hold:
// a handle holding none costs nothing, a pool grows past one connection
// only while its tenant has concurrent queries (and up to
// [Config.MaxConns]), and when the budget is used up a new connection
// first closes an idle connection of another tenant, or waits, bounded by
// its context, for one to be released. Which idle connection goes follows
// a ranking of the tenants by recent use: the best ranked, as many as the
// budget less an eighth, keep theirs, so a rotation over a few more
// tenants than the budget still finds most connections open. A new
// connection waits for a busy one rather than close theirs only while
// connections are being closed: after about 200 ms with none closed (4
// looks for room, 50 ms apart), as when the other connections are held in
// long transactions, it closes the worst ranked idle connection, a
// resident's too. It implements [dbstrategy.ConnBudgeter]: a
// [dbstrategy.Manager] given [dbstrategy.WithMaxConns](n) calls it once.
// The admin and template connections are outside the budget. A Strategy
// has one budget, shared by every Manager over it: a second call with the
// same n does nothing, with another n it fails. Handles opened before the
// first call are not counted: give the budget before serving (NewManager
// does).
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
