package schemastrategy

import (
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"sync/atomic"
)

// A lease's scope, sent in its first query's round trip.
//
// When a lease takes a connection last scoped otherwise, prepareConn does
// not scope it at once: it arms the connection's pipeConn with the
// tenant's scope, and the pipeConn writes it in front of the first
// message the lease sends, in the same write, as two parts:
//
//  1. a simple-protocol query: the tenant's scopeSQL (resetSQL, then the
//     scope). It is
//     an implicit transaction of its own, committed before anything of the
//     lease runs, so nothing the lease does (a ROLLBACK included) can undo
//     it;
//  2. the tenant's guard (see newTenantConnector), in the extended
//     protocol with no Sync: it fails unless the session's search_path and
//     current role are the tenant's. It runs in the same implicit
//     transaction as the lease's own extended-protocol messages, so if the
//     scope failed (a schema dropped since, a role gone, a cancel), the
//     server skips the lease's messages up to their Sync, and the lease's
//     query fails; it never runs under another scope.
//
// The pipeConn then reads the responses to both parts off the stream
// before pgconn sees it: pgconn reads only the responses to its own
// messages, and the guard's error where it failed. Only a write that
// begins with an extended-protocol message is pipelined this way (pgx
// sends those for every query with arguments, and for the statements it
// prepares), and only if nothing follows its Sync (guarded); the lease's
// simple-protocol paths (Exec without arguments, BeginTx, Ping) scope the
// connection first in a round trip of their own (scopedConn.scopeFirst),
// and a write of any other kind while the scope is pending fails rather
// than go out unscoped.

// errUnscopedWrite is the error of a write that would reach the server
// before a pending scope could guard it.
var errUnscopedWrite = errors.New("schemastrategy: a message of the simple protocol while a tenant's scope is pending")

// The phases of pipeConn's reading.
const (
	readPass  = iota // everything goes to pgconn
	readScope        // the responses to the scope's simple query, up to its ReadyForQuery
	readGuard        // the responses to the guard, up to its CommandComplete or error
)

// pipeConn is the net.Conn of a connection of the shared pool, under
// pgconn (installed by pgconn's AfterNetConnect): see the comment above.
// pgconn reads and writes it from one goroutine at a time, but its
// background reader may read while another goroutine writes, so its state
// is guarded by mu.
type pipeConn struct {
	net.Conn

	mu      sync.Mutex
	pending *tenantConnector // armed: the scope to send before the next write
	phase   int
	rows    int // DataRows after the scope query's last RowDescription
	// scopeErr is the scope query's error, "SQLSTATE: message"; "" if it
	// ran without one.
	scopeErr string
	// scoped and pipelined are the Strategy's counters of scopes sent.
	scoped, pipelined *atomic.Int64
	failure           int // the outcome of the last pipelined scope: see takeFailure
	in, out           []byte
	sent              *tenantConnector // the scope of the last pipelined write
	wbuf              []byte
}

// Outcomes of a pipelined scope that failed, for takeFailure.
const (
	scopeFine     = iota
	scopeNotFound // the schema is gone: the scope query returned no row
	scopeFailed   // the scope query failed, or the guard did for another reason
	// scopeStatements: the guard's statementsCheck failed, the scope
	// having held.
	scopeStatements
)

// arm makes c the scope to send before the next write; nil disarms.
func (w *pipeConn) arm(c *tenantConnector) {
	w.mu.Lock()
	w.pending = c
	w.mu.Unlock()
}

// armed returns the pending scope, or nil.
func (w *pipeConn) armed() *tenantConnector {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pending
}

// takeFailure returns and clears the outcome of the last pipelined scope
// if the guard refused the write behind it (so the server skipped the
// rest of that write), with the scope query's error if it had one; else
// scopeFine.
func (w *pipeConn) takeFailure() (int, string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	f, msg := w.failure, w.scopeErr
	w.failure, w.scopeErr = scopeFine, ""
	return f, msg
}

// isExtended reports whether b is the type of a message of the extended
// query protocol, which the guard's failure makes the server skip up to
// the next Sync.
func isExtended(b byte) bool {
	switch b {
	case 'P', 'B', 'D', 'E', 'C', 'H', 'S': // Parse, Bind, Describe, Execute, Close, Flush, Sync
		return true
	}
	return false
}

// guarded reports whether the guard covers all of p: p is whole messages
// of the extended protocol, of which a Sync, if any, is the last. The
// server skips the messages after a failed guard only up to the next
// Sync, so anything behind that Sync would run under whatever scope the
// session has: pgconn never writes that in one go on the paths that
// reach an armed connection (a query, an exec or a prepare of
// database/sql), and the write is refused if it ever does.
func guarded(p []byte) bool {
	for len(p) > 0 {
		if len(p) < 5 || !isExtended(p[0]) {
			return false
		}
		size := int(binary.BigEndian.Uint32(p[1:5]))
		if size < 4 || size > len(p)-1 {
			return false
		}
		if p[0] == 'S' && size+1 != len(p) {
			return false
		}
		p = p[1+size:]
	}
	return true
}

// Write writes p, preceded by the pending scope if the connection is
// armed (see the comment above).
func (w *pipeConn) Write(p []byte) (int, error) {
	w.mu.Lock()
	c := w.pending
	w.failure = scopeFine
	if c == nil || len(p) == 0 || p[0] == 'X' { // Terminate runs nothing, and lets the server close
		w.mu.Unlock()
		return w.Conn.Write(p)
	}
	if !guarded(p) {
		w.mu.Unlock()
		return 0, errUnscopedWrite
	}
	w.pending, w.sent = nil, c
	w.phase, w.rows, w.scopeErr = readScope, 0, ""
	w.scoped.Add(1)
	w.pipelined.Add(1)
	w.mu.Unlock()
	// A buffer of its own: pgconn writes from one goroutine at a time.
	b := c.appendPipe(w.wbuf[:0], c.s.newScopeToken())
	head := len(b)
	b = append(b, p...)
	n, err := w.Conn.Write(b)
	if cap(b) <= 4096 {
		clear(b) // keeps no lease's arguments
		w.wbuf = b[:0]
	} else {
		w.wbuf = nil // nor a large buffer
	}
	return max(0, n-head), err
}

// Read reads what the server sent, less the responses to a pipelined
// scope.
func (w *pipeConn) Read(p []byte) (int, error) {
	for {
		w.mu.Lock()
		if len(w.out) > 0 {
			n := copy(p, w.out)
			w.out = w.out[n:]
			w.mu.Unlock()
			return n, nil
		}
		w.mu.Unlock()
		n, err := w.Conn.Read(p)
		w.mu.Lock()
		// The phase is read after the read: a write that armed the
		// filter during it sent the scope before these bytes came.
		if w.phase == readPass && len(w.in) == 0 {
			w.mu.Unlock()
			return n, err
		}
		w.in = append(w.in, p[:n]...)
		ferr := w.filter()
		has := len(w.out) > 0
		w.mu.Unlock()
		if ferr != nil {
			return 0, ferr
		}
		if err != nil && !has {
			return 0, err
		}
	}
}

// filter moves the whole messages of w.in either to w.out or, in the
// scope's and guard's phases, off the stream. w.mu is held.
func (w *pipeConn) filter() error {
	for len(w.in) > 0 {
		if w.phase == readPass {
			w.out = append(w.out, w.in...)
			w.in = w.in[:0]
			return nil
		}
		if len(w.in) < 5 {
			return nil
		}
		size := int(binary.BigEndian.Uint32(w.in[1:5]))
		if size < 4 {
			return errors.New("schemastrategy: malformed message from the server")
		}
		if len(w.in) < 1+size {
			return nil
		}
		msg := w.in[:1+size]
		pass := false
		switch typ := msg[0]; {
		case typ == 'S' || typ == 'N': // ParameterStatus, notice: pgconn's
			pass = true
		case typ == 'A':
			// A notification to a LISTEN of the session's last taker,
			// which the reset ends: not this lease's.
		case typ == 'E' && fatal(msg):
			// The session ends (a server shutdown, a terminated
			// backend): pgconn reports the server's error and closes.
			w.failure = scopeFine
			w.phase = readPass
			pass = true
		case w.phase == readScope:
			switch typ {
			case 'T': // RowDescription: a new result
				w.rows = 0
			case 'D':
				w.rows++
			case 'E':
				w.scopeErr = errorText(msg)
			case 'Z': // ReadyForQuery: the scope query is done
				w.phase = readGuard
			}
		default: // readGuard
			switch typ {
			case '1', '2', 'D': // ParseComplete, BindComplete, the guard's row
			case 'C': // CommandComplete: the guard held
				w.phase = readPass
			case 'E': // the guard failed: pgconn gets the error; the server skips to its Sync
				w.failure = scopeFailed
				switch {
				case w.scopeErr == "" && w.rows == 0:
					w.failure = scopeNotFound
				case w.scopeErr == "" && errorCode(msg) == codeStatements:
					w.failure = scopeStatements
				}
				// Whatever the session is now, the next write sends
				// the scope again.
				w.pending = w.sent
				w.phase = readPass
				pass = true
			default:
				return errors.New("schemastrategy: unexpected message from the server after a tenant's scope")
			}
		}
		if pass {
			w.out = append(w.out, msg...)
		}
		w.in = w.in[len(msg):]
	}
	if len(w.in) == 0 && cap(w.in) > 64<<10 {
		w.in = nil // drop a large buffer
	}
	return nil
}

// errorFields calls f with each field of the ErrorResponse msg.
func errorFields(msg []byte, f func(code byte, value string)) {
	body := msg[5:]
	for len(body) > 1 {
		code := body[0]
		end := 1
		for end < len(body) && body[end] != 0 {
			end++
		}
		f(code, string(body[1:end]))
		if end >= len(body) {
			return
		}
		body = body[end+1:]
	}
}

// fatal reports whether the ErrorResponse msg ends the session.
func fatal(msg []byte) bool {
	var sev string
	errorFields(msg, func(code byte, value string) {
		if code == 'V' || (code == 'S' && sev == "") {
			sev = value
		}
	})
	return sev == "FATAL" || sev == "PANIC"
}

// errorCode returns the SQLSTATE of the ErrorResponse msg.
func errorCode(msg []byte) string {
	var state string
	errorFields(msg, func(code byte, value string) {
		if code == 'C' {
			state = value
		}
	})
	return state
}

// errorText returns "SQLSTATE: message" of the ErrorResponse msg.
func errorText(msg []byte) string {
	var state, text string
	errorFields(msg, func(code byte, value string) {
		switch code {
		case 'C':
			state = value
		case 'M':
			text = value
		}
	})
	return state + ": " + text
}

// appendQuery appends a simple-protocol Query message of sql to b.
func appendQuery(b []byte, sql string) []byte {
	return appendMsg(b, 'Q', func(b []byte) []byte { return append(append(b, sql...), 0) })
}

// appendGuard appends the extended-protocol messages that run sql (no
// parameters, no Sync) on the unnamed statement and portal to b: Parse,
// Bind, Execute.
func appendGuard(b []byte, sql string) []byte {
	b = appendMsg(b, 'P', func(b []byte) []byte {
		b = append(b, 0)                 // unnamed statement
		b = append(append(b, sql...), 0) // query
		return append(b, 0, 0)           // no parameter types
	})
	b = appendMsg(b, 'B', func(b []byte) []byte {
		b = append(b, 0, 0)    // unnamed portal, unnamed statement
		b = append(b, 0, 0)    // no parameter formats
		b = append(b, 0, 0)    // no parameters
		return append(b, 0, 0) // no result formats: text
	})
	return appendMsg(b, 'E', func(b []byte) []byte {
		b = append(b, 0)             // unnamed portal
		return append(b, 0, 0, 0, 0) // no row limit
	})
}

// appendMsg appends a message of type typ whose body body appends.
func appendMsg(b []byte, typ byte, body func([]byte) []byte) []byte {
	b = append(b, typ, 0, 0, 0, 0)
	start := len(b) - 4
	b = body(b)
	binary.BigEndian.PutUint32(b[start:], uint32(len(b)-start))
	return b
}
