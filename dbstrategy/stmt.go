package dbstrategy

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
)

// StmtCacheSize is how many prepared statements [Lease.Stmt] keeps per
// tenant handle.
const StmtCacheSize = 64

// stmtCache holds a handle's *sql.DB and the statements prepared on it by
// [Lease.Stmt]. It is part of the handle, set when the handle opens, and
// its statements are closed when the handle closes (never while it is
// leased).
type stmtCache struct {
	db     *sql.DB
	mu     sync.Mutex
	stmts  map[string]*sql.Stmt // at most StmtCacheSize; nil until the first
	closed bool
}

// get returns the cached statement for query, preparing and caching it if
// there is room. own is true when the cache is full: the caller owns the
// statement and closes it.
func (c *stmtCache) get(ctx context.Context, query string) (st *sql.Stmt, own bool, err error) {
	c.mu.Lock()
	if st := c.stmts[query]; st != nil {
		c.mu.Unlock()
		return st, false, nil
	}
	c.mu.Unlock()
	// Prepare outside the lock: it is I/O. Two leases preparing the same
	// query at once keep the first one cached.
	st, err = c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, false, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if cached := c.stmts[query]; cached != nil {
		st.Close()
		return cached, false, nil
	}
	if c.closed || len(c.stmts) >= StmtCacheSize {
		return st, true, nil
	}
	if c.stmts == nil {
		c.stmts = make(map[string]*sql.Stmt)
	}
	c.stmts[query] = st
	return st, false, nil
}

// close closes every cached statement; later statements are not cached.
func (c *stmtCache) close() error {
	c.mu.Lock()
	stmts := c.stmts
	c.stmts, c.closed = nil, true
	c.mu.Unlock()
	var errs []error
	for _, st := range stmts {
		if err := st.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Stmt returns a prepared statement for query on the lease's handle, for
// queries an application runs on every request. The handle keeps up to
// [StmtCacheSize] statements, shared by every lease of the tenant, and
// closes them when it closes (evicted, idle, dropped, Manager closed),
// which never happens while it is leased. database/sql prepares a
// statement on each connection of the handle the first time it runs there,
// so each query is prepared once per connection, not once per request.
// Once the cache is full, Stmt prepares a statement that belongs to this
// lease and is closed by [Lease.Release].
//
// Do not close the returned statement, and do not use it after
// [Lease.Release]. Stmt pays where the driver does not cache statements
// itself, as on SQLite. On PostgreSQL, pgx's own statement cache already
// prepares every query once per connection (pgstrategy keeps pgx's default
// exec mode, cache_statement), and pgstrategy's handles keep no idle
// database/sql connections, so a *sql.Stmt is prepared again, and closed,
// on each use: run plain queries there instead.
//
// On a [ConnPinner] strategy the statement is prepared on the lease's
// pinned connection, kept for the lease's later Stmt calls and closed by
// Release; schemastrategy's statements run through pgx's statement cache,
// prepared once per connection, so they cost no more than a plain query
// and code written for Stmt runs unchanged.
//
// Errors: [ErrReleased] after Release; the database's error, wrapped.
func (l *Lease) Stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if l.released.Load() {
		return nil, ErrReleased
	}
	if l.conn != nil {
		st, err := l.pin.stmt(ctx, l.conn, query)
		if err != nil {
			return nil, fmt.Errorf("dbstrategy: prepare: %w", err)
		}
		return st, nil
	}
	st, own, err := l.c.get(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("dbstrategy: prepare: %w", err)
	}
	if own {
		l.m.mu.Lock()
		h := l.h
		released := h == nil
		if !released {
			if h.owned == nil {
				h.owned = make(map[*Lease][]*sql.Stmt)
			}
			h.owned[l] = append(h.owned[l], st)
		}
		l.m.mu.Unlock()
		if released {
			st.Close()
			return nil, ErrReleased
		}
	}
	return st, nil
}
