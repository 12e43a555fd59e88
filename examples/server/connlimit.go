package main

import (
	"container/list"
	"net"
	"net/http"
	"sync"
)

// connLimiter is a listener that caps the client connections open at once
// below the process's file descriptor limit, without ever blocking
// accept: at the cap, accepting a connection first closes the connection
// that has been idle longest (a keep-alive connection between requests),
// else the one that has been open longest without sending a request; if
// every connection is busy with a request, the new one is closed at once.
// So idle connections, however many a client leaves open, can never keep
// a fresh client from being served, and accept never fails for want of
// descriptors.
//
// Its track method must be the http.Server's ConnState hook: it is how
// the limiter knows which connections are idle.
type connLimiter struct {
	net.Listener
	max int

	mu      sync.Mutex
	open    int       // connections accepted and not yet closed
	idle    list.List // *limitedConn between requests, longest idle first
	fresh   list.List // *limitedConn not yet sent a request, oldest first
	evicted int       // connections closed to make room
	refused int       // connections closed at once: all others busy
}

// newConnLimiter wraps ln with a cap of max open connections (at least 1).
func newConnLimiter(ln net.Listener, max int) *connLimiter {
	return &connLimiter{Listener: ln, max: max}
}

// limitedConn is a connection the limiter counts. Its fields other than
// Conn are guarded by the limiter's mu.
type limitedConn struct {
	net.Conn
	l      *connLimiter
	in     *list.List // idle or fresh, or nil while serving a request
	elem   *list.Element
	closed bool
}

// Accept returns the next connection, making room for it at the cap.
func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		lc := &limitedConn{Conn: c, l: l}
		l.mu.Lock()
		var victim *limitedConn
		if l.open >= l.max {
			victim = l.oldest()
			if victim == nil {
				l.refused++
				l.mu.Unlock()
				c.Close()
				continue
			}
			l.evicted++
		}
		l.open++
		lc.in, lc.elem = &l.fresh, l.fresh.PushBack(lc)
		l.mu.Unlock()
		if victim != nil {
			victim.Close()
		}
		return lc, nil
	}
}

// oldest unlists and returns the connection to close for room: the
// longest idle, else the oldest that never sent a request; nil if every
// connection is serving a request.
func (l *connLimiter) oldest() *limitedConn {
	for _, q := range []*list.List{&l.idle, &l.fresh} {
		if e := q.Front(); e != nil {
			c := e.Value.(*limitedConn)
			c.unlist()
			return c
		}
	}
	return nil
}

// track is the http.Server's ConnState hook: it lists a connection as
// idle between requests and unlists it while it serves one.
func (l *connLimiter) track(c net.Conn, state http.ConnState) {
	lc, ok := c.(*limitedConn)
	if !ok {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if lc.closed {
		return
	}
	switch state {
	case http.StateNew:
		// Listed as fresh by Accept already.
	case http.StateIdle:
		lc.unlist()
		lc.in, lc.elem = &l.idle, l.idle.PushBack(lc)
	default: // active, hijacked, closed
		lc.unlist()
	}
}

// unlist takes c out of the idle or fresh list; l.mu is held.
func (c *limitedConn) unlist() {
	if c.in != nil {
		c.in.Remove(c.elem)
		c.in, c.elem = nil, nil
	}
}

// Close closes the connection and stops counting it; closing it again
// (the server does, after the limiter closed it for room) only returns
// the connection's own error.
func (c *limitedConn) Close() error {
	l := c.l
	l.mu.Lock()
	if !c.closed {
		c.closed = true
		c.unlist()
		l.open--
	}
	l.mu.Unlock()
	return c.Conn.Close()
}

// stats returns the connections open, closed for room and refused.
func (l *connLimiter) stats() (open, evicted, refused int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open, l.evicted, l.refused
}

// defaultMaxConns is the cap on client connections when -http-max-conns
// is not set: three quarters of the file descriptors the tenant databases
// leave (reserved: what the SQLite handle limit or the PostgreSQL budget
// may hold), but never less than three quarters of a quarter of the limit;
// the rest goes to the core database, files and the connection accepted
// past the cap (it needs a descriptor before an idle one is closed).
// Without a known limit, the common default of 1024 is assumed.
func defaultMaxConns(nofile, reserved uint64) int {
	if nofile == 0 {
		nofile = 1024
	}
	nofile = min(nofile, 1<<24)
	avail := nofile - min(reserved, nofile*3/4)
	return int(max(avail*3/4, 1))
}
