package auth

import (
	"hash/maphash"
	"math"
	"strings"
	"sync"
	"time"
)

// tokenCache is the bounded cache of accepted tokens of one Verifier (see
// "Cache" on Verifier). It is a fixed number of shards, each a map under its
// own lock holding at most perShard entries, so the whole holds at most
// the size it was made with. It starts no goroutine: expired entries are
// dropped when they are read or when room is needed.
//
// An entry is found by the 64-bit maphash of the token under a seed of
// its own (random, made with the cache: nobody outside the process knows
// it), and used only if the token it holds is equal, byte for byte, to the
// token presented. So a hash collision, found by chance or by an attacker
// who somehow learned the seed, can never make a token other than the one
// that was verified pass: it only costs the full check. maphash is used
// rather than SHA-256 because it is about ten times faster on a token of a
// few hundred bytes, and this runs on every request.
type tokenCache struct {
	seed     maphash.Seed
	perShard int
	mask     uint64
	shards   []cacheShard
}

// cacheShard is one part of the cache, with its own lock.
type cacheShard struct {
	mu sync.RWMutex
	m  map[uint64]cacheEntry
	_  [40]byte // keep shards on separate cache lines
}

// cacheEntry is one accepted token: the token itself, its claims (shared
// and never modified), and the span in Unix nanoseconds in which the entry
// may be used: from the time nbf and iat allow (less the leeway, as the
// full check does) to exp. Before it (a clock set back) or after it, the
// token goes through the full check.
type cacheEntry struct {
	token   string
	claims  *Claims
	from    int64
	expires int64
}

// cacheEvictSample is how many entries a full shard looks at to find an
// expired one to drop before it drops an arbitrary one.
const cacheEvictSample = 8

// newTokenCache returns a cache of at most size entries, size >= 1.
func newTokenCache(size int) *tokenCache {
	// Up to 16 shards, with at least 16 entries each when size allows.
	n := 1
	for n < 16 && n*2*16 <= size {
		n *= 2
	}
	c := &tokenCache{seed: maphash.MakeSeed(), perShard: size / n, mask: uint64(n - 1), shards: make([]cacheShard, n)}
	for i := range c.shards {
		c.shards[i].m = make(map[uint64]cacheEntry)
	}
	return c
}

// key returns the hash of token, and its shard. The top bits pick the
// shard, so that the map, which uses the low bits, sees them all.
func (c *tokenCache) key(token string) (uint64, *cacheShard) {
	k := maphash.String(c.seed, token)
	return k, &c.shards[(k>>56)&c.mask]
}

// get returns the claims cached for token, or nil if there are none or
// they have expired at now.
func (c *tokenCache) get(token string, now time.Time) *Claims {
	k, s := c.key(token)
	s.mu.RLock()
	e, ok := s.m[k]
	s.mu.RUnlock()
	if !ok || e.token != token {
		return nil
	}
	if t := now.UnixNano(); t < e.from {
		return nil
	} else if t >= e.expires {
		s.mu.Lock()
		if cur, ok := s.m[k]; ok && cur == e {
			delete(s.m, k)
		}
		s.mu.Unlock()
		return nil
	}
	return e.claims
}

// put caches the claims of token, accepted at now with the given leeway,
// until their exp, unless they have expired at now already. If another
// token has the same hash, the newer one replaces it.
func (c *tokenCache) put(token string, claims *Claims, now time.Time, leeway time.Duration) {
	expires := claims.ExpiresAt.UnixNano()
	nowNs := now.UnixNano()
	if nowNs >= expires {
		return
	}
	from := claims.NotBefore
	if claims.IssuedAt.After(from) {
		from = claims.IssuedAt
	}
	fromNs := int64(math.MinInt64)
	if !from.IsZero() {
		fromNs = from.Add(-leeway).UnixNano()
	}
	k, s := c.key(token)
	// Clone so the cache does not pin the request the token came in.
	e := cacheEntry{token: strings.Clone(token), claims: claims, from: fromNs, expires: expires}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[k]; !ok && len(s.m) >= c.perShard {
		s.evict(nowNs)
	}
	s.m[k] = e
}

// evict drops the expired entries among a few (Go randomizes where map
// iteration starts), or else the first one looked at. s.mu must be held.
func (s *cacheShard) evict(now int64) {
	var first uint64
	seen, dropped := 0, false
	for k, e := range s.m {
		if seen == 0 {
			first = k
		}
		if now >= e.expires {
			delete(s.m, k)
			dropped = true
		}
		if seen++; seen >= cacheEvictSample {
			break
		}
	}
	if !dropped && seen > 0 {
		delete(s.m, first)
	}
}

// len returns the number of entries, expired ones not yet dropped
// included.
func (c *tokenCache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}
