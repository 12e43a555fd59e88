package auth

import (
	"testing"
	"time"
)

// TestTokenCacheCollision checks that an entry found under a token's hash
// is used only for that very token: a colliding token (simulated by
// filing one token's entry under another's hash) misses.
func TestTokenCacheCollision(t *testing.T) {
	c := newTokenCache(16)
	now := time.Unix(1_700_000_000, 0)
	claims := &Claims{Subject: "victim", ExpiresAt: now.Add(time.Hour)}
	c.put("token-a", claims, now, 0)
	if got := c.get("token-a", now); got != claims {
		t.Fatalf("get(token-a) = %v; want the cached claims", got)
	}
	ka, sa := c.key("token-a")
	kb, sb := c.key("token-b")
	sa.mu.Lock()
	e := sa.m[ka]
	sa.mu.Unlock()
	sb.mu.Lock()
	sb.m[kb] = e // token-b now hashes to token-a's entry
	sb.mu.Unlock()
	if got := c.get("token-b", now); got != nil {
		t.Errorf("get(token-b) with token-a's entry under its hash = %+v; want a miss", got)
	}
}
