package dbstrategy

import (
	"slices"
	"strconv"
	"testing"
)

// sim drives a policy the way the Manager does, for a cache of at most
// limit handles where every use is an Acquire followed at once by a Release.
type sim struct {
	p      policy
	limit  int
	open   map[string]*handle
	hits   int
	misses int
}

func newSim(limit int) *sim {
	return &sim{p: newPolicy(limit), limit: limit, open: make(map[string]*handle)}
}

// use leases and releases id, and reports whether its handle was open.
func (s *sim) use(id string) bool {
	if h := s.open[id]; h != nil {
		s.p.lease(h)
		s.p.park(h)
		s.hits++
		return true
	}
	s.misses++
	if len(s.open) == s.limit {
		v := s.p.victim()
		s.p.remove(v)
		s.p.ghosts.add(v.id)
		delete(s.open, v.id)
	}
	h := &handle{id: id}
	s.open[id] = h
	s.p.admit(h)
	s.p.park(h)
	return false
}

// order lists the parked handles in the order the policy would evict them.
func (p *policy) order() []string {
	var ids []string
	p.each(func(h *handle) { ids = append(ids, h.id) })
	return ids
}

func TestPolicyVictimOrder(t *testing.T) {
	p := newPolicy(10)
	hs := make([]*handle, 4)
	for i := range hs {
		hs[i] = &handle{id: "t" + strconv.Itoa(i)}
		p.park(hs[i])
	}
	if got := p.victim(); got != hs[0] {
		t.Fatalf("victim = %s, want t0: the least recently released", got.id)
	}
	// t0 leased again and released: hot, so it goes after every cold one.
	p.lease(hs[0])
	if !hs[0].hot || p.nHot != 1 {
		t.Fatalf("t0 hot = %v, nHot = %d after a second lease; want true, 1", hs[0].hot, p.nHot)
	}
	if p.idle() != 3 {
		t.Fatalf("idle() = %d while t0 is leased, want 3", p.idle())
	}
	p.park(hs[0])
	if got, want := p.order(), []string{"t1", "t2", "t3", "t0"}; !slices.Equal(got, want) {
		t.Fatalf("eviction order %v, want %v", got, want)
	}
	for _, want := range []string{"t1", "t2", "t3", "t0"} {
		v := p.victim()
		if v == nil || v.id != want {
			t.Fatalf("victim = %v, want %s", v, want)
		}
		p.remove(v)
	}
	if p.victim() != nil || p.idle() != 0 || p.nHot != 0 {
		t.Fatalf("after removing all: victim %v, idle %d, nHot %d; want nil, 0, 0", p.victim(), p.idle(), p.nHot)
	}
}

// TestPolicyHotCap checks that at most 4/5 of the handles are hot: one more
// turns the least recently released hot handle cold, as the most recently
// released cold one.
func TestPolicyHotCap(t *testing.T) {
	p := newPolicy(5) // hotCap 4
	hs := make([]*handle, 6)
	for i := range hs {
		hs[i] = &handle{id: "t" + strconv.Itoa(i)}
		p.park(hs[i])
	}
	for _, h := range hs[:4] {
		p.lease(h)
		p.park(h)
	}
	if p.nHot != 4 {
		t.Fatalf("nHot = %d, want 4", p.nHot)
	}
	p.lease(hs[4]) // the fifth hot one: t0 turns cold
	p.park(hs[4])
	if p.nHot != 4 || hs[0].hot {
		t.Fatalf("nHot = %d, t0 hot = %v; want 4, false", p.nHot, hs[0].hot)
	}
	if got, want := p.order(), []string{"t5", "t0", "t1", "t2", "t3", "t4"}; !slices.Equal(got, want) {
		t.Fatalf("eviction order %v, want %v", got, want)
	}
	// Leasing a hot handle again changes nothing but its place.
	p.lease(hs[1])
	p.park(hs[1])
	if got, want := p.order(), []string{"t5", "t0", "t2", "t3", "t4", "t1"}; !slices.Equal(got, want) {
		t.Fatalf("eviction order %v, want %v", got, want)
	}
}

// TestPolicyOneHandle checks that a cache of one handle has no hot segment.
func TestPolicyOneHandle(t *testing.T) {
	p := newPolicy(1)
	h := &handle{id: "t0"}
	p.park(h)
	p.lease(h)
	p.park(h)
	if h.hot || p.nHot != 0 {
		t.Fatalf("hot = %v, nHot = %d with a limit of 1; want false, 0", h.hot, p.nHot)
	}
	if p.victim() != h {
		t.Fatal("victim is not the only handle")
	}
}

// TestPolicyUnparkKeepsSegment checks that a handle taken out for a drop
// and parked again (a Drop that gave up) keeps its segment.
func TestPolicyUnparkKeepsSegment(t *testing.T) {
	p := newPolicy(10)
	a, b := &handle{id: "a"}, &handle{id: "b"}
	p.park(a)
	p.park(b)
	p.lease(a)
	p.park(a)
	p.unpark(a)
	if p.idle() != 1 || !a.hot {
		t.Fatalf("idle %d, hot %v after unpark; want 1, true", p.idle(), a.hot)
	}
	p.unpark(a) // not parked: nothing
	p.park(a)
	if got, want := p.order(), []string{"b", "a"}; !slices.Equal(got, want) {
		t.Fatalf("eviction order %v, want %v", got, want)
	}
}

// TestPolicyEachRemove checks that each tolerates fn removing the handle it
// is given, as the idle reaper does.
func TestPolicyEachRemove(t *testing.T) {
	p := newPolicy(10)
	for i := range 6 {
		h := &handle{id: "t" + strconv.Itoa(i)}
		p.park(h)
		if i%2 == 0 {
			p.lease(h)
			p.park(h)
		}
	}
	var seen []string
	p.each(func(h *handle) {
		seen = append(seen, h.id)
		p.remove(h)
	})
	if want := []string{"t1", "t3", "t5", "t0", "t2", "t4"}; !slices.Equal(seen, want) {
		t.Fatalf("each visited %v, want %v", seen, want)
	}
	if p.idle() != 0 || p.nHot != 0 {
		t.Fatalf("idle %d, nHot %d after removing all; want 0, 0", p.idle(), p.nHot)
	}
}

// TestPolicyScanResistant checks that a tenant used again keeps its handle
// through any number of tenants seen once.
func TestPolicyScanResistant(t *testing.T) {
	s := newSim(10)
	s.use("busy")
	s.use("busy")
	for i := range 1000 {
		s.use("once" + strconv.Itoa(i))
		if i%100 == 0 && !s.use("busy") {
			t.Fatalf("busy tenant evicted after %d one-off tenants", i)
		}
	}
}

// TestPolicyRotation checks the worst case of an LRU, a rotation over a set
// a little larger than the cache: tenants evicted and back are admitted
// hot while there is room, so most of them stay, where an LRU never hits.
func TestPolicyRotation(t *testing.T) {
	const tenants, limit = 50, 40
	s := newSim(limit)
	for i := range 20 * tenants {
		s.use("t" + strconv.Itoa(i%tenants))
	}
	s.hits, s.misses = 0, 0
	for i := range 100 * tenants {
		s.use("t" + strconv.Itoa(i%tenants))
	}
	// The hot segment (4/5 of 40) holds 32 tenants for good; the other 18
	// cycle through 8 cold handles and miss: 32/50 hits.
	if got := float64(s.hits) / float64(s.hits+s.misses); got != 0.64 {
		t.Errorf("hit rate on a rotation over %d tenants through %d handles = %.3f, want 0.64", tenants, limit, got)
	}
}

// TestPolicyAdmit checks where a new handle goes: hot only if its tenant
// was evicted lately and the hot segment has room.
func TestPolicyAdmit(t *testing.T) {
	p := newPolicy(5) // hotCap 4, remembers 5 evictions
	fresh := &handle{id: "fresh"}
	p.admit(fresh)
	if fresh.hot {
		t.Error("a tenant never seen was admitted hot")
	}
	p.ghosts.add("back")
	back := &handle{id: "back"}
	p.admit(back)
	if !back.hot || p.nHot != 1 {
		t.Errorf("a tenant evicted lately: hot %v, nHot %d; want true, 1", back.hot, p.nHot)
	}
	for i := range 3 {
		h := &handle{id: "back"}
		p.admit(h)
		if !h.hot {
			t.Fatalf("admission %d with room: not hot", i)
		}
	}
	full := &handle{id: "back"}
	p.admit(full)
	if full.hot || p.nHot != 4 {
		t.Errorf("with the hot segment full: hot %v, nHot %d; want false, 4", full.hot, p.nHot)
	}
}

// TestGhostsBounded checks that the ghosts remember the last n tenants
// evicted, and no more.
func TestGhostsBounded(t *testing.T) {
	g := newGhosts(3)
	for _, id := range []string{"a", "b", "a", "c", "d"} {
		g.add(id)
	}
	// The ring holds a, c, d: b fell out, a is still in once.
	for id, want := range map[string]bool{"a": true, "b": false, "c": true, "d": true, "e": false} {
		if got := g.has(id); got != want {
			t.Errorf("has(%q) = %v, want %v", id, got, want)
		}
	}
	for i := range 100 {
		g.add("x" + strconv.Itoa(i))
	}
	if len(g.count) != 3 {
		t.Errorf("%d keys remembered after 100 adds to a ring of 3, want 3", len(g.count))
	}
	var none ghosts // a Manager of 0 handles cannot exist, but stay safe
	none.add("a")
	if none.has("a") {
		t.Error("an empty ring remembered a key")
	}
}
