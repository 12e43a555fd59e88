package dbstrategy

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"sync"
)

// DB is what a [Lease] hands to application code: the methods that
// *sql.DB, *sql.Conn and (but for BeginTx) *sql.Tx have in common. Code
// written against DB runs unchanged on every strategy: on a handle of its
// own (sqlitestrategy, pgstrategy), DB is the tenant's *sql.DB; on a
// strategy whose tenants share one pool ([ConnPinner], schemastrategy), it
// is the one connection the lease pinned, scoped to the tenant.
//
// The DB of [Lease.DB] checks its lease on every call: once the lease is
// released, every method fails with [ErrReleased] (QueryRowContext returns
// a *sql.Row whose Scan does), so a late use can never run on a connection
// that now serves another tenant.
type DB interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	PrepareContext(ctx context.Context, query string) (*sql.Stmt, error)
	BeginTx(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, error)
}

var (
	_ DB = (*sql.DB)(nil)
	_ DB = (*sql.Conn)(nil)
	_ DB = leaseDB{}
)

// leaseDB is the DB of a lease. It is one pointer, so storing it in a DB
// interface does not allocate.
type leaseDB struct{ l *Lease }

func (d leaseDB) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	l := d.l
	if l.released.Load() {
		return nil, ErrReleased
	}
	if l.conn != nil {
		return l.conn.ExecContext(ctx, query, args...)
	}
	return l.c.db.ExecContext(ctx, query, args...)
}

func (d leaseDB) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	l := d.l
	if l.released.Load() {
		return nil, ErrReleased
	}
	if l.conn == nil {
		return l.c.db.QueryContext(ctx, query, args...)
	}
	rows, err := l.conn.QueryContext(ctx, query, args...)
	if err == nil {
		l.pin.track(rows, nil, nil)
	}
	return rows, err
}

func (d leaseDB) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	l := d.l
	if l.released.Load() {
		return releasedRow(ctx)
	}
	if l.conn != nil {
		return l.conn.QueryRowContext(ctx, query, args...)
	}
	return l.c.db.QueryRowContext(ctx, query, args...)
}

func (d leaseDB) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	l := d.l
	if l.released.Load() {
		return nil, ErrReleased
	}
	if l.conn == nil {
		return l.c.db.PrepareContext(ctx, query)
	}
	st, err := l.conn.PrepareContext(ctx, query)
	if err == nil {
		l.pin.track(nil, st, nil)
	}
	return st, err
}

func (d leaseDB) BeginTx(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, error) {
	l := d.l
	if l.released.Load() {
		return nil, ErrReleased
	}
	if l.conn == nil {
		return l.c.db.BeginTx(ctx, opts)
	}
	tx, err := l.conn.BeginTx(ctx, opts)
	if err == nil {
		l.pin.track(nil, nil, tx)
	}
	return tx, err
}

// releasedRow returns a *sql.Row whose Scan returns ErrReleased. A Row
// can only be made by database/sql, so it comes from a throwaway handle
// whose connector refuses to connect; this is the error path only.
func releasedRow(ctx context.Context) *sql.Row {
	db := sql.OpenDB(releasedConnector{})
	defer db.Close()
	return db.QueryRowContext(ctx, "")
}

type releasedConnector struct{}

func (releasedConnector) Connect(context.Context) (driver.Conn, error) { return nil, ErrReleased }
func (releasedConnector) Driver() driver.Driver                        { return releasedConnector{} }
func (releasedConnector) Open(string) (driver.Conn, error)             { return nil, ErrReleased }

// pinState is what a lease on a pinned connection started on it and must
// end before the connection goes back: database/sql's Conn.Close waits
// for open rows and transactions, so Release closes them first (a handler
// that panicked, or forgot a Close, cannot hold the connection forever).
type pinState struct {
	mu    sync.Mutex
	rows  []*sql.Rows
	stmts []*sql.Stmt
	txs   []*sql.Tx
	cache map[string]*sql.Stmt // Lease.Stmt's statements, also in stmts
}

func (p *pinState) track(rows *sql.Rows, st *sql.Stmt, tx *sql.Tx) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case rows != nil:
		p.rows = append(p.rows, rows)
	case st != nil:
		p.stmts = append(p.stmts, st)
	case tx != nil:
		p.txs = append(p.txs, tx)
	}
}

// stmt returns the lease's statement for query, preparing it on conn.
func (p *pinState) stmt(ctx context.Context, conn *sql.Conn, query string) (*sql.Stmt, error) {
	p.mu.Lock()
	st := p.cache[query]
	p.mu.Unlock()
	if st != nil {
		return st, nil
	}
	st, err := conn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cache == nil {
		p.cache = make(map[string]*sql.Stmt)
	}
	p.cache[query] = st
	p.stmts = append(p.stmts, st)
	return st, nil
}

// end closes the rows and statements and rolls back the transactions the
// lease left open. Errors do not matter: the connection's reset, or its
// discarding, follows.
func (p *pinState) end() {
	p.mu.Lock()
	rows, stmts, txs := p.rows, p.stmts, p.txs
	p.rows, p.stmts, p.txs, p.cache = nil, nil, nil, nil
	p.mu.Unlock()
	for _, r := range rows {
		_ = r.Close()
	}
	for _, tx := range txs {
		_ = tx.Rollback() // ErrTxDone if it ended already
	}
	for _, st := range stmts {
		_ = st.Close()
	}
}
