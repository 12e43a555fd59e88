package schemastrategy

import (
	"context"
	"database/sql/driver"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/stdlib"
)

// The shared pool's connections, in short: every connection the
// strategy hands out comes from a lot, and every connection given back
// goes to the lot, not to the pgxpool under it. The lot keeps the idle
// connections by the scope they were last given (connState.scope), so a
// lease of tenant X takes, first, an idle connection a lease of X left:
// no reset, no scope, and PostgreSQL's cached plans of X's statements
// still hold (a search_path change makes PostgreSQL plan every cached
// statement again). Under a skewed load the busy tenants keep
// connections of their own, while the pool stays one budget:
//
//   - a taker of scope X takes X's most recently parked connection;
//   - else the connection parked longest ago, of any scope, scoped anew
//     (one round trip, where a new connection would start a backend);
//   - else, while the lot holds fewer connections than the budget, a new
//     one from the pgxpool (its PrepareConn hook scopes it);
//   - else it waits, in line, for a connection given back, which goes to
//     a waiter of the same scope before the others, but past the first in
//     line at most maxPassed times.
//
// Connections parked in the lot stay acquired from the pgxpool, so the
// lot does the pool's idle work itself: it closes a connection parked
// for longer than the idle time (a timer, running only while connections
// are parked, stopped by close), and pings one parked for more than a
// second before handing it out without a round trip, as pgxpool does.

// pingAfter is how long a connection may stay parked before the lot
// checks it with a ping, when it is handed out with no round trip of its
// own (pgxpool's default).
const pingAfter = time.Second

// lot holds the connections the strategy took from its pgxpool: the
// count of them (held, at most the budget) and the idle ones (parked).
type lot struct {
	connector driver.Connector // stdlib's connector over the pgxpool: new connections
	max       int
	idle      time.Duration
	lifetime  time.Duration // the pgxpool's MaxConnLifetime: giveBack closes older connections
	// anyScope turns the affinity off, for the benchmarks' baseline: a
	// taker takes the connection parked last, whatever its scope, as
	// pgxpool hands out its idle connections.
	anyScope bool

	mu         sync.Mutex
	closed     bool
	held       int                  // connections taken from the pgxpool, busy or parked
	byScope    map[string][]*parked // parked connections by scope key, most recent last
	first      *parked              // the least recently parked; a list through next and prev
	last       *parked              // the most recently parked
	parked     int                  // len of the list
	waiters    []*waiter            // takers waiting for a connection, first come first
	reaper     *time.Timer          // closes connections parked too long; nil while none is
	closeConns func([]*stdlib.Conn) // closes connections taken out of the lot for good
}

// parked is an idle connection in the lot.
type parked struct {
	sc         *stdlib.Conn
	key        string // the scope it was last given: connState.scope
	at         time.Time
	prev, next *parked
}

// waiter is a taker waiting for a connection given back. Its channel
// receives the connection, or nil when the taker should look again (a
// connection closed, so a new one may be made; the lot closed).
type waiter struct {
	key    string
	ch     chan *stdlib.Conn
	passed int // connections given, while it was first in line, to a waiter of their own scope behind it
}

// maxPassed is how many connections given back may go past the first
// waiter in line, each to a waiter of its own scope further back: so a
// busy tenant's leases, always waiting, cannot keep a connection from
// another tenant's lease longer than that many releases.
const maxPassed = 4

func newLot(connector driver.Connector, max int, idle, lifetime time.Duration, closeConns func([]*stdlib.Conn)) *lot {
	return &lot{connector: connector, max: max, idle: idle, lifetime: lifetime, byScope: make(map[string][]*parked), closeConns: closeConns}
}

// take returns a connection for a taker of scope key: one parked with that
// scope, else the connection parked longest ago, else (a nil connection)
// a token to take a new connection from the pgxpool, else one given back
// while it waits. It returns [ErrClosed] once the lot is closed, and
// ctx's error if ctx ends first. since is how long a returned connection
// was parked (0 for one given back while it waited).
func (l *lot) take(ctx context.Context, key string) (sc *stdlib.Conn, since time.Duration, err error) {
	for {
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			return nil, 0, ErrClosed
		}
		if ps := l.byScope[key]; len(ps) > 0 && !l.anyScope {
			p := ps[len(ps)-1]
			l.unpark(p)
			l.mu.Unlock()
			return p.sc, time.Since(p.at), nil
		}
		if p := l.first; p != nil {
			if l.anyScope {
				p = l.last // as pgxpool does: the most recently used
			}
			l.unpark(p)
			l.mu.Unlock()
			return p.sc, time.Since(p.at), nil
		}
		if l.held < l.max {
			l.held++
			l.mu.Unlock()
			return nil, 0, nil // a token: the caller takes a new connection, or calls lost
		}
		w := &waiter{key: key, ch: make(chan *stdlib.Conn, 1)}
		l.waiters = append(l.waiters, w)
		l.mu.Unlock()
		select {
		case sc := <-w.ch:
			if sc != nil {
				return sc, 0, nil
			}
		case <-ctx.Done():
			l.mu.Lock()
			queued := l.dequeue(w)
			l.mu.Unlock()
			if !queued { // handed something as ctx ended: pass it on
				if sc := <-w.ch; sc != nil {
					if !l.give(sc) {
						l.closeConns([]*stdlib.Conn{sc})
					}
				} else {
					l.wake() // the look again it was told: pass it on
				}
			}
			return nil, 0, fmt.Errorf("schemastrategy: waiting for a connection of the shared pool: %w", ctx.Err())
		}
	}
}

// give takes back an idle, reusable connection: it goes to a waiter (one
// of the connection's scope first, unless the first in line has been
// passed maxPassed times), or is parked under its scope. Once the
// lot is closed, give returns false and the caller closes the
// connection.
func (l *lot) give(sc *stdlib.Conn) bool {
	key := scopeOf(sc)
	l.mu.Lock()
	if l.closed {
		l.held--
		l.mu.Unlock()
		return false
	}
	if len(l.waiters) > 0 {
		i := 0
		if head := l.waiters[0]; head.key != key && head.passed < maxPassed && !l.anyScope {
			for j, w := range l.waiters[1:] {
				if w.key == key {
					i = j + 1
					head.passed++
					break
				}
			}
		}
		w := l.waiters[i]
		l.waiters = append(l.waiters[:i], l.waiters[i+1:]...)
		l.mu.Unlock()
		w.ch <- sc
		return true
	}
	p := &parked{sc: sc, key: key, at: time.Now(), prev: l.last}
	if l.last != nil {
		l.last.next = p
	} else {
		l.first = p
	}
	l.last = p
	l.parked++
	l.byScope[key] = append(l.byScope[key], p)
	if l.reaper == nil && l.idle > 0 {
		l.reaper = time.AfterFunc(l.idle, l.reap)
	}
	l.mu.Unlock()
	return true
}

// lost gives back the token of a connection that is closed (broken,
// discarded) or was never made: a waiter looks again, and may make one.
func (l *lot) lost() {
	l.mu.Lock()
	l.held--
	l.mu.Unlock()
	l.wake()
}

// wake tells the first waiter, if any, to look again.
func (l *lot) wake() {
	l.mu.Lock()
	var w *waiter
	if len(l.waiters) > 0 {
		w = l.waiters[0]
		l.waiters = l.waiters[1:]
	}
	l.mu.Unlock()
	if w != nil {
		w.ch <- nil
	}
}

// unpark takes p out of the lot, for a taker: p stays held. l.mu is held.
func (l *lot) unpark(p *parked) {
	if p.prev != nil {
		p.prev.next = p.next
	} else {
		l.first = p.next
	}
	if p.next != nil {
		p.next.prev = p.prev
	} else {
		l.last = p.prev
	}
	p.prev, p.next = nil, nil
	l.parked--
	ps := l.byScope[p.key]
	for i, q := range ps {
		if q == p {
			ps = append(ps[:i], ps[i+1:]...)
			break
		}
	}
	if len(ps) == 0 {
		delete(l.byScope, p.key)
	} else {
		l.byScope[p.key] = ps
	}
}

// dequeue takes w out of the waiters, reporting whether it was there.
// l.mu is held.
func (l *lot) dequeue(w *waiter) bool {
	for i, q := range l.waiters {
		if q == w {
			l.waiters = append(l.waiters[:i], l.waiters[i+1:]...)
			return true
		}
	}
	return false
}

// reap is the reaper timer's function: it takes out of the lot the
// connections parked for the idle time or longer, closes them (through
// l.closeConns), and sets the timer again for the next one, or stops while
// none is parked. It returns at once once the lot is closed.
func (l *lot) reap() {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	var old []*stdlib.Conn
	now := time.Now()
	for p := l.first; p != nil && now.Sub(p.at) >= l.idle; p = l.first {
		l.unpark(p)
		l.held--
		old = append(old, p.sc)
	}
	l.reaper = nil
	if l.first != nil {
		l.reaper = time.AfterFunc(l.idle-now.Sub(l.first.at), l.reap)
	}
	wake := l.waiters
	l.waiters = nil
	l.mu.Unlock()
	for _, w := range wake { // none while connections are parked; for safety
		w.ch <- nil
	}
	if len(old) > 0 {
		l.closeConns(old)
	}
}

// close closes the lot: takers get [ErrClosed], waiters are woken to get
// it, the reaper stops, and the parked connections are returned for the
// caller to close; connections in use are closed when given back (give
// returns false).
func (l *lot) close() []*stdlib.Conn {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	if l.reaper != nil {
		l.reaper.Stop()
		l.reaper = nil
	}
	var out []*stdlib.Conn
	for p := l.first; p != nil; p = l.first {
		l.unpark(p)
		l.held--
		out = append(out, p.sc)
	}
	for _, w := range l.waiters {
		w.ch <- nil
	}
	l.waiters = nil
	return out
}

// stats returns the connections held (busy or parked) and parked.
func (l *lot) stats() (held, parked int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.held, l.parked
}

// scopeOf returns the scope key a connection was last given ("" for
// none): the key it is parked under.
func scopeOf(sc *stdlib.Conn) string {
	st, _ := sc.Conn().PgConn().CustomData()[stateKey].(connState)
	return st.scope
}
