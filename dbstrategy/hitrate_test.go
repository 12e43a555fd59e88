package dbstrategy_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/tenantkit/tenantkit/dbstrategy"
)

// nothingStrategy hands out *sql.DB values that never connect: enough to
// count what the Manager opens and evicts, with no database behind it.
type nothingStrategy struct{}

type nothingConnector struct{}

func (nothingConnector) Connect(context.Context) (driver.Conn, error) {
	return nil, errors.New("nothingStrategy: no database")
}
func (nothingConnector) Driver() driver.Driver { return nil }

func (nothingStrategy) Create(context.Context, string) error { return nil }
func (nothingStrategy) Drop(context.Context, string) error   { return nil }
func (nothingStrategy) Dialect() string                      { return "sqlite3" }
func (nothingStrategy) Open(context.Context, string) (*sql.DB, error) {
	return sql.OpenDB(nothingConnector{}), nil
}

// BenchmarkZipfHitRate replays a Zipf(1.1) stream of leases over 10,000
// tenants through a Manager holding 1,000 handles, the shape of the load
// test, and reports the share of leases that found their handle open
// ("hit%"), next to two references computed in the same run: a plain LRU of
// the same size over the same stream ("lru-hit%") and the best any policy
// can do on average, keeping the 1,000 most popular tenants open
// ("oracle-hit%"). Run it with -benchtime 1x; one op is the whole stream.
func BenchmarkZipfHitRate(b *testing.B) {
	const tenants, handles, warm, measured = 10_000, 1_000, 100_000, 300_000
	const s = 1.1
	ids := make([]string, tenants)
	for i := range ids {
		ids[i] = "t" + strconv.Itoa(i)
	}
	for b.Loop() {
		r := rand.New(rand.NewPCG(1, 2))
		z := rand.NewZipf(r, s, 1, tenants-1)
		stream := make([]int, warm+measured)
		for i := range stream {
			stream[i] = int(z.Uint64())
		}
		m, err := dbstrategy.NewManager(nothingStrategy{}, dbstrategy.WithMaxOpen(handles), dbstrategy.WithIdleTimeout(0))
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		var opensBefore int64
		for i, t := range stream {
			if i == warm {
				opensBefore = m.Stats().Opens
			}
			l, err := m.Acquire(ctx, ids[t])
			if err != nil {
				b.Fatal(err)
			}
			l.Release()
		}
		hits := 1 - float64(m.Stats().Opens-opensBefore)/measured
		m.Close()

		// A plain LRU over the same stream, as a reference.
		lru := newLRU(handles)
		lruHits := 0
		for i, t := range stream {
			if lru.touch(t) && i >= warm {
				lruHits++
			}
		}
		// The oracle: the top `handles` ranks' share of the Zipf mass. NewZipf's
		// weights are (v+k)^-s for k = 0..imax, with v = 1.
		var top, all float64
		for k := range tenants {
			w := math.Pow(float64(1+k), -s)
			all += w
			if k < handles {
				top += w
			}
		}
		b.ReportMetric(100*hits, "hit%")
		b.ReportMetric(100*float64(lruHits)/measured, "lru-hit%")
		b.ReportMetric(100*top/all, "oracle-hit%")
	}
}

// lru is a plain least-recently-used set of ints, the reference policy.
type lru struct {
	max   int
	pos   map[int]*lruNode
	head  lruNode // sentinel: head.next is the most recent
	count int
}

type lruNode struct {
	key        int
	prev, next *lruNode
}

func newLRU(max int) *lru {
	l := &lru{max: max, pos: make(map[int]*lruNode)}
	l.head.prev, l.head.next = &l.head, &l.head
	return l
}

// touch marks key used and reports whether it was in the set.
func (l *lru) touch(key int) bool {
	if n := l.pos[key]; n != nil {
		n.prev.next, n.next.prev = n.next, n.prev
		l.pushFront(n)
		return true
	}
	if l.count == l.max {
		old := l.head.prev
		old.prev.next, old.next.prev = old.next, old.prev
		delete(l.pos, old.key)
		l.count--
	}
	n := &lruNode{key: key}
	l.pos[key] = n
	l.pushFront(n)
	l.count++
	return false
}

func (l *lru) pushFront(n *lruNode) {
	n.prev, n.next = &l.head, l.head.next
	l.head.next.prev = n
	l.head.next = n
}

// BenchmarkRotationHitRate replays the worst case of an LRU: a rotation
// over 50 tenants (each request the next tenant) through a Manager holding
// 40 handles, and reports the share of leases that found their handle open
// ("hit%"), next to a plain LRU of the same size over the same stream
// ("lru-hit%", 0) and the best any policy can do on a cycle, keeping 39 of
// the 50 fixed and cycling the rest through one slot ("opt-hit%"). Run it
// with -benchtime 1x; one op is the whole stream.
func BenchmarkRotationHitRate(b *testing.B) {
	const tenants, handles, warm, measured = 50, 40, 20 * 50, 200 * 50
	ids := make([]string, tenants)
	for i := range ids {
		ids[i] = "t" + strconv.Itoa(i)
	}
	for b.Loop() {
		m, err := dbstrategy.NewManager(nothingStrategy{}, dbstrategy.WithMaxOpen(handles), dbstrategy.WithIdleTimeout(0))
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		var opensBefore int64
		for i := range warm + measured {
			if i == warm {
				opensBefore = m.Stats().Opens
			}
			l, err := m.Acquire(ctx, ids[i%tenants])
			if err != nil {
				b.Fatal(err)
			}
			l.Release()
		}
		hits := 1 - float64(m.Stats().Opens-opensBefore)/measured
		m.Close()
		lru := newLRU(handles)
		lruHits := 0
		for i := range warm + measured {
			if lru.touch(i%tenants) && i >= warm {
				lruHits++
			}
		}
		b.ReportMetric(100*hits, "hit%")
		b.ReportMetric(100*float64(lruHits)/measured, "lru-hit%")
		b.ReportMetric(100*float64(handles-1)/tenants, "opt-hit%")
	}
}
