package auth

import (
	"encoding/binary"
	"sync"
	"time"
)

// cacheKey is the SHA-256 of a whole token.
type cacheKey [32]byte

// tokenCache is the bounded cache of accepted tokens of one Verifier (see
// "Cache" on Verifier). It is a fixed number of shards, each a map under its
// own lock holding at most perShard entries, so the whole holds at most
// the size it was made with. It starts no goroutine: expired entries are
// dropped when they are read or when room is needed.
type tokenCache struct {
	perShard int
	mask     uint64
	shards   []cacheShard
}

// cacheShard is one part of the cache, with its own lock.
type cacheShard struct {
	mu sync.RWMutex
	m  map[cacheKey]cacheEntry
	_  [40]byte // keep shards on separate cache lines
}

// cacheEntry is one accepted token: its claims, shared and never modified,
// and its exp in Unix nanoseconds, after which the entry is not used.
type cacheEntry struct {
	claims  *Claims
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
	c := &tokenCache{perShard: size / n, mask: uint64(n - 1), shards: make([]cacheShard, n)}
	for i := range c.shards {
		c.shards[i].m = make(map[cacheKey]cacheEntry)
	}
	return c
}

// shard returns the shard of k. SHA-256 output is uniform, so its first
// bytes pick a shard as well as any hash would.
func (c *tokenCache) shard(k cacheKey) *cacheShard {
	return &c.shards[binary.LittleEndian.Uint64(k[:8])&c.mask]
}

// get returns the claims cached under k, or nil if there are none or they
// have expired at now.
func (c *tokenCache) get(k cacheKey, now time.Time) *Claims {
	s := c.shard(k)
	s.mu.RLock()
	e, ok := s.m[k]
	s.mu.RUnlock()
	if !ok {
		return nil
	}
	if now.UnixNano() >= e.expires {
		s.mu.Lock()
		if cur, ok := s.m[k]; ok && cur == e {
			delete(s.m, k)
		}
		s.mu.Unlock()
		return nil
	}
	return e.claims
}

// put caches claims under k until their exp, unless they have expired at
// now already.
func (c *tokenCache) put(k cacheKey, claims *Claims, now time.Time) {
	expires := claims.ExpiresAt.UnixNano()
	nowNs := now.UnixNano()
	if nowNs >= expires {
		return
	}
	s := c.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[k]; !ok && len(s.m) >= c.perShard {
		s.evict(nowNs)
	}
	s.m[k] = cacheEntry{claims: claims, expires: expires}
}

// evict drops the expired entries among a few (Go randomizes where map
// iteration starts), or else the first one looked at. s.mu must be held.
func (s *cacheShard) evict(now int64) {
	var first cacheKey
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
