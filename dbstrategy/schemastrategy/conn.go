package schemastrategy

import (
	"context"
	"database/sql/driver"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/tenantkit/tenantkit/dbstrategy"
)

// How a pooled connection is scoped, in short: the shared pool's
// PrepareConn hook (prepareConn) runs on every connection the pool hands
// out, whoever asks for it, and compares what the taker needs, carried in
// the context, with what the connection was last given, kept in its
// pgconn.CustomData:
//
//   - a lease of tenant X (PinConn) on a connection whose last taker was
//     also a lease of X: nothing to do, no round trip;
//   - a lease of X on a connection last used otherwise: reset and scope
//     to X, sent with the lease's first query (pipe.go), or in a round
//     trip of their own before a first call of the simple protocol
//     (scopedConn.scopeFirst);
//   - any other taker for tenant X (goose's migrations, Version, a
//     handle's query outside a lease): reset and scope to X, in one round
//     trip;
//   - a taker with no tenant (Create, Drop, Open's check, dropAll): reset,
//     in one round trip, unless the connection is already unscoped.
//
// Giving a connection back costs nothing: scopedConn.Close only checks
// that it can be reused, and discards it otherwise. Connections are taken
// from, and given back to, the strategy's lot (lot.go), which keeps idle
// connections by scope; the PrepareConn hook scopes the new ones, and
// takeConn calls prepareConn itself on those the lot hands out.

// stateKey is the key of a connState in a connection's
// pgconn.CustomData.
const stateKey = "tenantkit/schemastrategy.state"

// dirtyScope is the scope of a connection whose session is unknown: no
// scope key equals it, so whoever takes the connection next resets it.
const dirtyScope = "\x00dirty"

// connState is what a pooled connection was last scoped to.
type connState struct {
	// scope is the scope key (tenantConnector.key) of the tenant the
	// connection was last scoped to; "" means unscoped: new, or reset.
	scope string
	// lease reports that a lease took the connection after it was
	// scoped: its session may since differ from the scope in any way the
	// lease's SQL chose.
	lease bool
}

// scopeKey and leaseKey are context keys: the tenantConnector that takes
// a connection, and whether it takes it for a lease (PinConn).
type (
	scopeKey struct{}
	leaseKey struct{}
)

// tenantConnector is the driver.Connector of a tenant's handle: it takes
// a connection from the shared pool, scoped to the tenant.
type tenantConnector struct {
	s      *Strategy
	tenant string
	// key identifies the scope: schema, role, and the handle's number
	// (Strategy.opens).
	key string
	// scopeHead and scopeTail make scopeSQL; guardHead and guardTail
	// make the guard (see appendPipe).
	scopeHead, scopeTail string
	guardHead, guardTail string
}

func newTenantConnector(s *Strategy, tenantID, schema, role string, handle uint64) *tenantConnector {
	searchPath := quote(schema) + ", pg_temp"
	// The guard divides by zero unless the session is the tenant's: the
	// divisor is not a constant, so the planner cannot fold it.
	roleCheck := "current_user OPERATOR(pg_catalog.=) session_user"
	if role != "none" {
		roleCheck = "current_user OPERATOR(pg_catalog.=) " + literal(role)
	}
	return &tenantConnector{
		s:      s,
		tenant: tenantID,
		key:    schema + "\x00" + role + "\x00" + strconv.FormatUint(handle, 10),
		// OPERATOR(pg_catalog.=): resolved whatever the search_path.
		scopeHead: resetSQL + "; SELECT pg_catalog.set_config('search_path', " + literal(searchPath) + ", false), " +
			"pg_catalog.set_config('role', " + literal(role) + ", false), ",
		scopeTail: " FROM pg_catalog.pg_namespace WHERE nspname OPERATOR(pg_catalog.=) " + literal(schema),
		guardHead: "SELECT 1 OPERATOR(pg_catalog./) (CASE WHEN pg_catalog.current_setting('search_path') OPERATOR(pg_catalog.=) " +
			literal(searchPath) + " AND " + roleCheck + " AND pg_catalog.current_setting(" + literal(tokenSetting) + ", true) OPERATOR(pg_catalog.=) '",
		guardTail: "' THEN 1 ELSE 0 END), " + statementsExpr + statementsFrom,
	}
}

// tokenSetting is the session setting a scope sets to its token, which
// the guard sent with it checks.
const tokenSetting = "tenantkit.scope"

// A scopeToken makes each scope sent unique: a nonce the scope sets in
// tokenSetting, and a seed for PostgreSQL's random(), both unpredictable
// (Strategy.newScopeToken).
type scopeToken struct {
	nonce string // hexadecimal: no quote
	seed  string // a float in [0, 1)
}

// newScopeToken returns a new token from s.tokens.
func (s *Strategy) newScopeToken() scopeToken {
	var b [24]byte
	s.tokensMu.Lock()
	_, _ = s.tokens.Read(b[:]) // never fails
	s.tokensMu.Unlock()
	return scopeToken{
		nonce: hex.EncodeToString(b[:16]),
		seed:  strconv.FormatFloat(float64(binary.BigEndian.Uint64(b[16:])>>11)/(1<<53), 'g', -1, 64),
	}
}

// scopeSQL is the round trip that scopes a connection: resetSQL, then a
// statement that sets search_path (the quoted schema, then pg_temp), the
// role (the tenant's, or "none": the DSN's role) and tokenSetting to
// tok's nonce, seeds random() from tok, and returns no row, setting
// nothing, if the schema does not exist. Its values are literals (the
// simple protocol has no parameters): names made of the validated prefix
// and key, so with no quote or backslash, and tok's.
func (c *tenantConnector) scopeSQL(tok scopeToken) string {
	return c.scopeHead + "pg_catalog.set_config(" + literal(tokenSetting) + ", '" + tok.nonce + "', false), pg_catalog.setseed(" +
		tok.seed + ")" + c.scopeTail
}

// appendPipe appends to b what a pipeConn armed with this scope writes
// before a lease's first message (see pipe.go): scopeSQL(tok) as a simple
// query, then the guard, whose statement fails unless the session's
// search_path and role are the tenant's and tokenSetting is tok's nonce
// (so the scope ran whole, just now: a reset that failed rolls back
// whatever it set), and statementsCheck.
func (c *tenantConnector) appendPipe(b []byte, tok scopeToken) []byte {
	return appendGuard(appendQuery(b, c.scopeSQL(tok)), c.guardHead+tok.nonce+c.guardTail)
}

// Connect takes a connection of the shared pool for the tenant, waiting
// for one until ctx ends (see [Strategy.takeConn]), scoped to the tenant
// or, for a lease, with the tenant's scope pending, to be sent with its
// first call (pipe.go). A tenant whose schema is gone gets an error
// wrapping [dbstrategy.ErrNotFound], from Connect or from that first call.
func (c *tenantConnector) Connect(ctx context.Context) (driver.Conn, error) {
	sc, err := c.s.takeConn(context.WithValue(ctx, scopeKey{}, c), c.key)
	if err != nil {
		if errors.Is(err, dbstrategy.ErrNotFound) || errors.Is(err, errScope) || errors.Is(err, ErrClosed) {
			return nil, err
		}
		return nil, fmt.Errorf("schemastrategy: tenant %q: take a connection: %w", c.tenant, err)
	}
	pc, _ := sc.Conn().PgConn().Conn().(*pipeConn)
	return &scopedConn{Conn: sc, s: c.s, c: c, pipe: pc}, nil
}

// Driver returns stdlib's driver, for driver.Connector.
func (c *tenantConnector) Driver() driver.Driver { return stdlib.GetDefaultDriver() }

// errScope marks the errors of prepareConn, which Connect does not wrap
// again.
var errScope = errors.New("schemastrategy: scope a connection")

// prepareConn is the shared pool's PrepareConn hook: see the comment at
// the top of this file. It returns true to hand the connection out; false
// to destroy it, with a nil error to take another (a broken connection),
// or with the error to fail the taker. A connection whose schema is gone
// is reset but not scoped, and goes back to the pool unscoped.
func (s *Strategy) prepareConn(ctx context.Context, conn *pgx.Conn) (bool, error) {
	data := conn.PgConn().CustomData()
	st, _ := data[stateKey].(connState)
	c, _ := ctx.Value(scopeKey{}).(*tenantConnector)
	lease := c != nil && ctx.Value(leaseKey{}) != nil
	pc, _ := conn.PgConn().Conn().(*pipeConn)
	q := resetSQL
	switch {
	case c == nil && st.scope == "": // never armed: an armed connection's state is its scope's
		return true, nil // unscoped, and used only by the strategy since
	case c == nil:
	case lease && st.lease && st.scope == c.key:
		return true, nil // this tenant's previous lease left it (its scope perhaps still pending): see "Scope and reset" in doc.go
	case lease && pc != nil && !s.simpleProtocol:
		// Sent with the lease's first query, and counted then: see
		// pipe.go.
		s.dropNotifications(conn)
		pc.arm(c)
		data[stateKey] = connState{scope: c.key, lease: true}
		return true, nil
	default:
		q = c.scopeSQL(s.newScopeToken())
	}
	if pc != nil {
		pc.arm(nil) // this round trip resets whatever was pending
	}
	s.dropNotifications(conn)
	return s.scopeNow(ctx, conn, q, c, lease)
}

// dropNotifications empties pgx's buffer of the notifications the
// connection received: they were sent to a LISTEN of its last taker, not
// to the next one, who could read them through Unwrap. It does no I/O.
func (s *Strategy) dropNotifications(conn *pgx.Conn) {
	for {
		// Buffered ones first; then, with s.done, pgconn returns at once.
		if n, err := conn.WaitForNotification(s.done); n == nil || err != nil {
			return
		}
	}
}

// scopeNow sends q, the reset and, with c, c's scope, then
// statementsCheck, in one round trip, and records the connection's new state; its
// results are prepareConn's. If the check fails, it drops the session's
// prepared statements and tries once more.
func (s *Strategy) scopeNow(ctx context.Context, conn *pgx.Conn, q string, c *tenantConnector, lease bool) (bool, error) {
	data := conn.PgConn().CustomData()
	delete(data, stateKey) // unknown until the round trip succeeds
	s.scoped.Add(1)
	var results []*pgconn.Result
	var err error
	for try := 0; ; try++ {
		// The check last, under the new scope (a type is judged by its
		// visibility there), and in q's implicit transaction: if it
		// fails, nothing of q holds.
		results, err = conn.PgConn().Exec(ctx, q+"; "+statementsCheck).ReadAll()
		for _, r := range results {
			if err == nil {
				err = r.Err
			}
		}
		if try > 0 || !isStatementsErr(err) {
			break
		}
		// The check failed q's implicit transaction: nothing of q holds.
		if err = deallocateAll(ctx, conn); err != nil {
			break
		}
	}
	if err == nil && len(results) < 2 {
		err = errors.New("no result")
	}
	if err != nil {
		if conn.IsClosed() && ctx.Err() == nil {
			return false, nil // broken (a server restart, say): take another
		}
		if c == nil {
			return false, fmt.Errorf("%w: reset: %w", errScope, err)
		}
		return false, fmt.Errorf("%w to tenant %q: %w", errScope, c.tenant, err)
	}
	if c == nil {
		data[stateKey] = connState{}
		return true, nil
	}
	if len(results[len(results)-2].Rows) == 0 { // the scope's, before the check's
		// The reset ran and the scope did not: the connection is clean.
		data[stateKey] = connState{}
		return true, fmt.Errorf("schemastrategy: tenant %q: %w", c.tenant, dbstrategy.ErrNotFound)
	}
	data[stateKey] = connState{scope: c.key, lease: lease}
	return true, nil
}

// literal quotes s as an SQL string literal. s must hold no backslash
// (standard_conforming_strings may be off).
func literal(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// discard closes the connection, so that the pool destroys it rather than
// taking it back, then gives it back.
func discard(sc *stdlib.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), resetTimeout)
	defer cancel()
	_ = sc.Conn().Close(ctx)
	_ = sc.Close()
}

// scopedConn is a connection of the shared pool scoped to one tenant.
// Close, QueryContext, ExecContext, PrepareContext, BeginTx, Ping,
// ResetSession and Unwrap are its own; every other method is stdlib's.
type scopedConn struct {
	*stdlib.Conn
	s      *Strategy
	c      *tenantConnector
	pipe   *pipeConn           // nil if the pool's connections have none
	ranSet map[string]struct{} // ran's, once looked up
}

// scopeFirst sends a scope the connection holds pending (pipe.go) in a
// round trip of its own, for the lease's calls whose first message is of
// the simple protocol. If that fails the scope stays pending: nothing is
// sent unscoped.
func (c *scopedConn) scopeFirst(ctx context.Context) error {
	if c.pipe == nil {
		return nil
	}
	tc := c.pipe.armed()
	if tc == nil {
		return nil
	}
	c.pipe.arm(nil)
	ok, err := c.s.scopeNow(ctx, c.Conn.Conn(), tc.scopeSQL(c.s.newScopeToken()), tc, true)
	if ok && err == nil {
		return nil
	}
	c.pipe.arm(tc)
	c.Conn.Conn().PgConn().CustomData()[stateKey] = connState{scope: tc.key, lease: true}
	if err == nil { // broken
		return driver.ErrBadConn
	}
	return err
}

// pipeErr returns the error of a call that failed because the scope sent
// with it did (pipe.go): the guard made the server skip the call, and the
// scope is pending again. Any other error is returned as it is.
func (c *scopedConn) pipeErr(ctx context.Context, err error) error {
	if err == nil || c.pipe == nil {
		return err
	}
	switch f, scopeErr := c.pipe.takeFailure(); f {
	case scopeStatements:
		return errStatements
	case scopeNotFound:
		return fmt.Errorf("schemastrategy: tenant %q: %w", c.c.tenant, dbstrategy.ErrNotFound)
	case scopeFailed:
		if ctx.Err() != nil {
			return fmt.Errorf("%w to tenant %q: %w", errScope, c.c.tenant, ctx.Err())
		}
		if scopeErr != "" {
			return fmt.Errorf("%w to tenant %q: %s", errScope, c.c.tenant, scopeErr)
		}
		return fmt.Errorf("%w to tenant %q: the session's search_path or role is not the tenant's", errScope, c.c.tenant)
	}
	return err
}

// simpleFirst reports whether pgx may send the call's query in the
// simple protocol, as pgx decides it: an empty query; after the leading
// options, the simple protocol asked for or a query rewriter (which may
// make anything of the call); or, for an exec, no argument left.
func simpleFirst(query string, args []driver.NamedValue, exec bool) bool {
	if query == "" {
		return true
	}
	for ; len(args) > 0; args = args[1:] {
		switch v := args[0].Value.(type) {
		case pgx.QueryExecMode:
			if v == pgx.QueryExecModeSimpleProtocol {
				return true
			}
		case pgx.QueryRewriter:
			return true
		case pgx.QueryResultFormats, pgx.QueryResultFormatsByOID:
		default:
			return false // an argument: the extended protocol
		}
	}
	return exec
}

// PrepareContext returns a statement that sends nothing yet: its queries
// run through the connection's QueryContext and ExecContext, so through
// pgx's statement cache, which prepares each query once per connection
// and keeps it across leases, with the retry of a stale plan and the
// pending scope sent as for any query. stdlib's PrepareContext would
// prepare a statement of its own, which database/sql closes, and pgx
// deallocates, when the lease's connection goes back: a Parse and a Close
// round trip, and a new plan, on every lease that prepares. An error in
// the SQL shows at the statement's first Exec or Query instead, and so
// does a wrong number of arguments (PostgreSQL's error, or pgx's); run
// with no arguments, the statement is sent as plain SQL, as ExecContext
// sends a query without arguments.
func (c *scopedConn) PrepareContext(_ context.Context, query string) (driver.Stmt, error) {
	return &cachedStmt{conn: c, query: query}, nil
}

// cachedStmt is the statement PrepareContext returns: its query text,
// run on its connection.
type cachedStmt struct {
	conn  *scopedConn
	query string
}

// Close does nothing: pgx's statement cache owns what was prepared.
func (s *cachedStmt) Close() error { return nil }

// NumInput returns -1: the argument count is PostgreSQL's to check.
func (s *cachedStmt) NumInput() int { return -1 }

// Exec is the pre-context form, which database/sql does not call on a
// statement that has ExecContext.
func (s *cachedStmt) Exec([]driver.Value) (driver.Result, error) {
	return nil, errors.New("schemastrategy: Stmt.Exec is not implemented: use ExecContext")
}

// Query is the pre-context form, which database/sql does not call on a
// statement that has QueryContext.
func (s *cachedStmt) Query([]driver.Value) (driver.Rows, error) {
	return nil, errors.New("schemastrategy: Stmt.Query is not implemented: use QueryContext")
}

// ExecContext runs the statement's query on its connection.
func (s *cachedStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	return s.conn.ExecContext(ctx, s.query, args)
}

// QueryContext runs the statement's query on its connection.
func (s *cachedStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	return s.conn.QueryContext(ctx, s.query, args)
}

// errStatements is pipeErr's error when the guard found a statement
// prepared by SQL in the session (statementsCheck): the server skipped
// the call, and dropStatements makes it safe to try again.
var errStatements = errors.New("schemastrategy: a statement prepared by SQL in the session")

// dropStatements reports whether *err is errStatements and, if so, drops
// every prepared statement of the session (pgx's cache with them), with
// the tenant's scope still pending, so that the call can be tried again;
// if that fails, *err becomes its error.
func (c *scopedConn) dropStatements(ctx context.Context, err *error) bool {
	if *err != errStatements {
		return false
	}
	tc := c.pipe.armed() // pending again since the guard failed
	c.pipe.arm(nil)
	derr := deallocateAll(ctx, c.Conn.Conn())
	c.pipe.arm(tc)
	if derr != nil {
		*err = fmt.Errorf("%w to tenant %q: drop the session's prepared statements: %w", errScope, c.c.tenant, derr)
		return false
	}
	return true
}

// deallocateAll drops every prepared statement of conn's session, and
// pgx's cache of them with the strategy's record of it (ranKey).
func deallocateAll(ctx context.Context, conn *pgx.Conn) error {
	if m, ok := conn.PgConn().CustomData()[ranKey].(map[string]struct{}); ok {
		clear(m)
	}
	return conn.DeallocateAll(ctx)
}

// isStatementsErr reports whether err is statementsCheck's failure.
func isStatementsErr(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == codeStatements
}

// BeginTx is stdlib's, after a pending scope; an ended ctx fails it
// with ctx's error, as in call.
func (c *scopedConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if err := ctx.Err(); err != nil {
		return nil, err // as in call
	}
	if err := c.scopeFirst(ctx); err != nil {
		return nil, err
	}
	return c.Conn.BeginTx(ctx, opts)
}

// Ping is stdlib's, after a pending scope.
func (c *scopedConn) Ping(ctx context.Context) error {
	if err := c.scopeFirst(ctx); err != nil {
		return err
	}
	return c.Conn.Ping(ctx)
}

// ResetSession is stdlib's, after a pending scope.
func (c *scopedConn) ResetSession(ctx context.Context) error {
	if err := c.scopeFirst(ctx); err != nil {
		return driver.ErrBadConn
	}
	return c.Conn.ResetSession(ctx)
}

// Unwrap returns the pgx connection it wraps, a *stdlib.Conn, for code
// that reaches pgx through (*sql.Conn).Raw, such as package placement's
// COPY: the embedded field hides stdlib.Conn's own Conn method. The
// connection stays scoped to the tenant: do not change its search_path or
// role, nor close it.
func (c *scopedConn) Unwrap() driver.Conn {
	// The caller may send anything: a pending scope goes first. If it
	// fails it stays pending, and the caller's first message fails.
	ctx, cancel := context.WithTimeout(context.Background(), resetTimeout)
	defer cancel()
	_ = c.scopeFirst(ctx)
	return c.Conn
}

// Close gives the connection back to the strategy's lot, still scoped to
// its tenant (the next taker of another tenant, or of no tenant, resets
// it first), or, if it is broken, busy or in a transaction, closes it. It
// does no I/O but that close. database/sql calls it when a *sql.Conn (a
// lease) is closed, and for every connection the handle gives back.
func (c *scopedConn) Close() error {
	c.s.giveBack(c.Conn)
	return nil
}

// QueryContext is stdlib's, with what call adds.
func (c *scopedConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	return call(ctx, c, query, args, false, func() (driver.Rows, error) { return c.Conn.QueryContext(ctx, query, args) })
}

// ExecContext is stdlib's, with what call adds.
func (c *scopedConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	return call(ctx, c, query, args, true, func() (driver.Result, error) { return c.Conn.ExecContext(ctx, query, args) })
}

// call runs do, stdlib's QueryContext (exec false) or ExecContext (exec
// true) of query on c, with what the strategy adds to both:
//   - an ended ctx fails with ctx's error, before pgx, which would call it
//     driver.ErrBadConn, on which database/sql closes the lease's
//     connection;
//   - a pending scope goes first, in a round trip of its own if query goes
//     by the simple protocol (simpleFirst), else with query (pipe.go);
//     if the guard finds statements prepared by SQL, they are dropped and
//     do runs again (dropStatements);
//   - a query that failed on pgx's statement cache (isStale: a statement
//     whose result or parameter types no longer fit, or one dropped) runs
//     once more outside a transaction (pgx has dropped the statement from
//     its cache by then, so the retry prepares it again); the error of a
//     second failure, or of one inside a transaction, wraps [ErrStalePlan].
func call[T any](ctx context.Context, c *scopedConn, query string, args []driver.NamedValue, exec bool, do func() (T, error)) (T, error) {
	var v T
	if err := ctx.Err(); err != nil {
		return v, err
	}
	if simpleFirst(query, args, exec) {
		if err := c.scopeFirst(ctx); err != nil {
			return v, err
		}
	}
	cached := c.cached(query)
	v, err := do()
	if err = c.pipeErr(ctx, err); c.dropStatements(ctx, &err) {
		v, err = do()
		err = c.pipeErr(ctx, err)
		cached = false // dropStatements emptied pgx's cache: prepared again
	}
	if isStale(err, cached) && c.Conn.Conn().PgConn().TxStatus() == 'I' {
		v, err = do()
		cached = false // prepared again
	}
	switch {
	case err == nil:
		c.remember(query)
	case isStale(err, cached):
		err = fmt.Errorf("%w: %w", ErrStalePlan, err)
	}
	return v, err
}

// ranKey is the key, in a pooled connection's pgconn.CustomData, of the
// query texts that have run without error on the connection, under any
// tenant's scope (a map[string]struct{}). pgx keeps a prepared statement
// of each it sent with arguments in its cache, whose contents it does not
// expose; this is what the strategy knows of them.
const ranKey = "tenantkit/schemastrategy.ran"

// maxRan bounds the texts remembered per connection: past it, the
// memory starts afresh (pgx's cache holds 512 by default).
const maxRan = 1024

// ran returns the connection's texts that have run without error. The
// map lives as long as the connection (it is cleared, never replaced), so
// the lease keeps it at hand.
func (c *scopedConn) ran() map[string]struct{} {
	if c.ranSet != nil {
		return c.ranSet
	}
	cd := c.Conn.Conn().PgConn().CustomData()
	m, _ := cd[ranKey].(map[string]struct{})
	if m == nil {
		m = make(map[string]struct{})
		cd[ranKey] = m
	}
	c.ranSet = m
	return m
}

// cached reports whether query has run on the connection before, so that
// pgx prepared it then: perhaps under another tenant's scope, or before a
// migration changed the tables.
func (c *scopedConn) cached(query string) bool {
	_, ok := c.ran()[query]
	return ok
}

// remember records that query ran on the connection without error.
func (c *scopedConn) remember(query string) {
	m := c.ran()
	if _, ok := m[query]; ok {
		return
	}
	if len(m) >= maxRan {
		clear(m)
	}
	m[query] = struct{}{}
}

// isStale reports whether err is a refusal of a statement of pgx's cache
// that a fresh prepare would not meet: isStalePlan; or, when the
// statement had run on the connection before the call, isStaleTypes.
func isStale(err error, cached bool) bool {
	return isStalePlan(err) || cached && isStaleTypes(err)
}

// isStaleTypes reports whether err is PostgreSQL's refusal of a statement
// whose parameter types no longer fit the tables it reads. PostgreSQL
// plans a cached statement again for a new search_path, or after a
// migration, but keeps the parameter types it resolved at the prepare:
// "WHERE id = $1" prepared where id is an integer, then run where it is
// text, finds no operator (42883) or a type mismatch (42804). A
// statement prepared by the failing call itself would have failed its
// Parse the same way, so only an error of one cached before the call is
// taken for this: pgx has dropped it from its cache by then, and a retry
// prepares it under the present scope.
func isStaleTypes(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	return pgErr.Code == codeUndefinedFunction || pgErr.Code == codeDatatypeMismatch
}

// isStalePlan reports whether err is PostgreSQL's refusal of a statement
// of pgx's cache: "cached plan must not change result type" (SQLSTATE
// 0A000, shared with other errors, so the message is checked too), or a
// cached statement that no longer exists on the server (26000), as after
// a lease ran DEALLOCATE ALL or DISCARD ALL: that lease's own tenant, or,
// since the reset keeps prepared statements, the next lease on the
// connection, of any tenant. Statements of pgx's cache are named
// "stmtcache_...", so a missing statement of the application's own is not
// taken for one.
func isStalePlan(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	switch pgErr.Code {
	case codeFeatureNotSupp:
		return strings.Contains(pgErr.Message, "cached plan must not change result type")
	case codeInvalidStmtName:
		return strings.Contains(pgErr.Message, `"stmtcache_`)
	}
	return false
}
