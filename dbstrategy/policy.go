package dbstrategy

// policy is the eviction policy of a Manager: a segmented LRU over the open
// handles that nobody leases.
//
// A handle leased again after a release is hot; the others are cold. The
// victim is the least recently released cold handle, or, if every unleased
// handle is hot, the least recently released hot one. At most hotCap
// handles, leased or not, are hot: beyond that the least recently released
// hot handle turns cold, as the most recently released cold one. So a
// stream of tenants seen once (a scan, the long tail of a skewed load)
// cycles through the cold handles without closing the busy tenants' ones.
//
// The policy knows nothing of leases, slots or closing: the Manager tells it
// when a handle has just opened ([policy.admit]), is leased for the first
// time after a release ([policy.lease]), released by its last lease
// ([policy.park]), or taken out of the cache ([policy.remove]; and, for a
// victim, ghosts.add), and asks it for a victim. Every method is O(1) and
// allocates nothing; the Manager calls them with its mutex held.
type policy struct {
	cold   list[handle, *handle] // unleased, not hot; least recently released first
	hot    list[handle, *handle] // unleased hot handles, in the same order
	nHot   int                   // hot handles, leased or not
	hotCap int                   // most hot handles
	ghosts ghosts                // tenants whose handle was evicted lately
}

// newPolicy returns the policy for a Manager of at most limit handles: at
// most 4/5 of them are hot, and it remembers the last limit evictions.
func newPolicy(limit int) policy {
	return policy{hotCap: limit * 4 / 5, ghosts: newGhosts(limit)}
}

// admit decides the segment of a handle just opened: hot if its tenant's
// handle was evicted lately (it was used again after a release, so it is
// not a one-off) and the hot segment has room; cold otherwise. Without it
// an active set a little larger than the cache (a rotation over 50
// tenants through 40 handles) never hits: every handle is evicted, cold,
// before its tenant comes back. With it, the hot segment fills with
// returning tenants and keeps them, and the rest cycle through the cold
// handles. A returning tenant never demotes a hot handle (that would bring
// the rotation back to LRU); hot handles leave the segment when a cold hit
// is promoted, or when they are closed (idle reaper, drop).
func (p *policy) admit(h *handle) {
	if p.nHot < p.hotCap && p.ghosts.has(h.id) {
		h.hot = true
		p.nHot++
	}
}

// idle reports how many unleased handles the policy holds: the handles a
// new tenant may evict.
func (p *policy) idle() int { return p.cold.n + p.hot.n }

// park puts a handle that nobody leases any more among the candidates for
// eviction, as the most recently released of its segment.
func (p *policy) park(h *handle) {
	if h.hot {
		p.hot.pushBack(h)
	} else {
		p.cold.pushBack(h)
	}
}

// unpark takes h out of the candidates for eviction, if it is one, without
// changing its segment.
func (p *policy) unpark(h *handle) {
	if h.hot {
		p.hot.remove(h)
	} else {
		p.cold.remove(h)
	}
}

// lease takes a parked handle that is leased again out of the candidates
// and makes it hot, turning the least recently released hot handle cold if
// there are too many.
func (p *policy) lease(h *handle) {
	p.unpark(h)
	if h.hot || p.hotCap == 0 {
		return
	}
	h.hot = true
	p.nHot++
	if p.nHot > p.hotCap && p.hot.head != nil {
		v := p.hot.head
		p.hot.remove(v)
		v.hot = false
		p.nHot--
		p.cold.pushBack(v)
	}
}

// remove forgets h, which is being closed.
func (p *policy) remove(h *handle) {
	p.unpark(h)
	if h.hot {
		h.hot = false
		p.nHot--
	}
}

// victim returns the handle to evict, still parked, or nil if every handle
// is leased.
func (p *policy) victim() *handle {
	if p.cold.head != nil {
		return p.cold.head
	}
	return p.hot.head
}

// each calls fn for every parked handle, cold ones first, each segment
// least recently released first. fn may remove the handle it is given.
func (p *policy) each(fn func(h *handle)) {
	for _, l := range []*list[handle, *handle]{&p.cold, &p.hot} {
		for h := l.head; h != nil; {
			next := h.next
			fn(h)
			h = next
		}
	}
}

// ghosts is a bounded set of tenant keys, the last n added: a FIFO ring
// with a count per key (a key may be in the ring more than once).
type ghosts struct {
	ring  []string
	next  int
	count map[string]int
}

func newGhosts(n int) ghosts {
	return ghosts{ring: make([]string, n), count: make(map[string]int, n)}
}

func (g *ghosts) has(id string) bool { return g.count[id] > 0 }

func (g *ghosts) add(id string) {
	if len(g.ring) == 0 {
		return
	}
	if old := g.ring[g.next]; old != "" {
		if g.count[old]--; g.count[old] == 0 {
			delete(g.count, old)
		}
	}
	g.ring[g.next] = id
	g.count[id]++
	g.next = (g.next + 1) % len(g.ring)
}
