package pgstrategy

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"io"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
)

// open makes a pool of maxConns connections to the database name, checks
// that it can connect, and wraps the pool in a *sql.DB that closes it. as,
// if not nil, changes the pool's config before use, for instance to log in
// as another role. budget, if not nil, counts the pool's connections.
func (s *Strategy) open(ctx context.Context, name string, maxConns int32, as func(*pgxpool.Config), budget *connBudget) (*sql.DB, error) {
	cfg := s.base.Copy()
	cfg.ConnConfig.Database = name
	if cfg.ConnConfig.RuntimeParams == nil {
		cfg.ConnConfig.RuntimeParams = make(map[string]string)
	}
	if as != nil {
		as(cfg)
	}
	cfg.MaxConns = maxConns
	cfg.MinConns = 0
	cfg.MinIdleConns = 0
	cfg.MaxConnIdleTime = s.idle
	cfg.HealthCheckPeriod = s.healthCheck
	cfg.BeforeClose = awaitBackendExit
	tp := &tenantPool{}
	if budget != nil {
		tp.use = budget.newPoolUse()
		budgeted(cfg, budget, tp.use)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	// The pool connects lazily: connect once so that a missing database is
	// reported now. The connection stays in the pool for the first query.
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	tp.pool = pool
	c := &poolConnector{Connector: stdlib.GetPoolConnector(pool), pool: pool, s: s}
	db := sql.OpenDB(c)
	// As stdlib.OpenDBFromPool does: database/sql keeps no idle connections,
	// so every idle connection sits in the pgx pool, where MaxConnIdleTime
	// closes it and Pool users can take it. Open ones are capped like the pool.
	db.SetMaxIdleConns(0)
	db.SetMaxOpenConns(int(maxConns))
	c.db = db
	s.mu.Lock()
	s.pools[db] = tp
	s.mu.Unlock()
	return db, nil
}

// backendExitWait bounds how long closing a connection waits for the
// server to end its session.
const backendExitWait = time.Second

// awaitBackendExit ends a connection's session and waits, briefly, until
// the server has closed its side. pgconn's Close sends Terminate and closes
// the socket at once, while the server keeps the backend, and its slot in
// max_connections, a few milliseconds longer: a pool closed to make room
// for another tenant would otherwise still count against the server's
// limit when the next pool connects, and the budget would be exceeded
// from the server's point of view.
func awaitBackendExit(c *pgx.Conn) {
	pc := c.PgConn()
	if pc.IsClosed() {
		return
	}
	fe := pc.Frontend()
	fe.Send(&pgproto3.Terminate{})
	if fe.Flush() != nil {
		return
	}
	nc := pc.Conn()
	_ = nc.SetReadDeadline(time.Now().Add(backendExitWait))
	_, _ = io.Copy(io.Discard, nc) // EOF: the backend has exited
}

// poolConnector is stdlib's connector for a pgx pool, plus io.Closer:
// database/sql calls Close from [sql.DB.Close], which closes the pool that
// stdlib.OpenDBFromPool would leave open.
type poolConnector struct {
	driver.Connector
	pool *pgxpool.Pool
	s    *Strategy
	db   *sql.DB
}

// Close forgets the handle and closes its pool, waiting for connections in
// use to be released. [sql.DB.Close] calls it once.
func (c *poolConnector) Close() error {
	c.s.mu.Lock()
	delete(c.s.pools, c.db)
	c.s.mu.Unlock()
	c.pool.Close()
	return nil
}

// Pool returns the pgx pool behind db, a handle returned by [Strategy.Open],
// for what database/sql cannot express (COPY, batches, LISTEN). ok is false
// if db did not come from Open of s, or has been closed.
//
// The handle owns the pool: closing db (as the [dbstrategy.Manager] does
// when it evicts the tenant) closes the pool. Never close the pool
// yourself, and do not use it once db may have been closed; with a
// Manager, use it only while holding a lease on the tenant.
func (s *Strategy) Pool(db *sql.DB) (pool *pgxpool.Pool, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tp, ok := s.pools[db]
	if !ok {
		return nil, false
	}
	return tp.pool, true
}

// ConnStats counts the connections of the tenant pools open now.
type ConnStats struct {
	Pools int // tenant handles open
	Conns int // connections those pools hold, busy or idle
	InUse int // of Conns, those running a query now

	// Dialled counts the connections tenant handles have opened under the
	// connection budget since it was set ([Strategy.SetConnBudget]); 0
	// without a budget. Each is a backend started on the server, the cost
	// of a miss: its rate against the query rate is the miss rate.
	Dialled int64
}

// tenantPool is an open tenant handle's pool and its use clock.
type tenantPool struct {
	pool *pgxpool.Pool
	use  *poolUse
}

// ConnStats sums the connection counts of every tenant pool the strategy
// has open: what it holds against the server's max_connections. The admin
// pool is not included.
func (s *Strategy) ConnStats() ConnStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := ConnStats{Pools: len(s.pools)}
	if s.budget != nil {
		st.Dialled = s.budget.dials.Load()
	}
	for _, tp := range s.pools {
		ps := tp.pool.Stat()
		st.Conns += int(ps.TotalConns())
		st.InUse += int(ps.AcquiredConns())
	}
	return st
}
