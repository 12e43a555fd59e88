package auth_test

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tenantkit/tenantkit/auth"
)

// TestVerifyCacheHit checks that a cached token gives the same claims as
// its first, full verification and as Issue, and costs no allocation.
func TestVerifyCacheHit(t *testing.T) {
	key := deriveKey(t, testMaster, "core")
	tok, issued := issue(t, newIssuer(t, key, "core"), "42")
	v := newVerifier(t, "core", []auth.Key{key})
	first, err := v.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if n := auth.CacheLen(v); n != 1 {
		t.Fatalf("cache holds %d tokens after one verification; want 1", n)
	}
	second, err := v.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if first != second || !claimsEqual(second, issued) {
		t.Errorf("cached Verify() = %+v; want %+v, as the first time (%+v)", second, issued, first)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = v.Verify(tok) }); n != 0 {
		t.Errorf("cached Verify() allocates %v times; want 0", n)
	}
	off := newVerifier(t, "core", []auth.Key{key}, auth.WithCache(0))
	if c, err := off.Verify(tok); err != nil || c != first {
		t.Errorf("Verify() without a cache = %+v, %v; want %+v", c, err, first)
	}
	if n := auth.CacheLen(off); n != 0 {
		t.Errorf("WithCache(0) cache holds %d tokens; want 0", n)
	}
}

// TestVerifyCacheBounded checks that the cache never holds more tokens
// than WithCache allows, however many valid tokens are verified.
func TestVerifyCacheBounded(t *testing.T) {
	key := deriveKey(t, testMaster, "core")
	i := newIssuer(t, key, "core")
	for _, size := range []int{1, 7, 100} {
		v := newVerifier(t, "core", []auth.Key{key}, auth.WithCache(size))
		for n := range 3 * size {
			tok, _ := issue(t, i, fmt.Sprint(n))
			if _, err := v.Verify(tok); err != nil {
				t.Fatal(err)
			}
			if got := auth.CacheLen(v); got > size {
				t.Fatalf("WithCache(%d): cache holds %d tokens after %d verifications", size, got, n+1)
			}
		}
		if got := auth.CacheLen(v); got == 0 {
			t.Errorf("WithCache(%d): cache is empty after %d verifications", size, 3*size)
		}
	}
}

// TestVerifyCacheExpiry checks that a cached token is refused once the
// verifier's clock passes its exp plus the leeway, exactly as an uncached
// one, and that the entry is not used past exp.
func TestVerifyCacheExpiry(t *testing.T) {
	key := deriveKey(t, testMaster, "core")
	clk := &fakeClock{}
	tok, c := issue(t, newIssuer(t, key, "core", auth.WithTTL(time.Minute)), "42")
	v := newVerifier(t, "core", []auth.Key{key}, auth.WithNow(clk.now), auth.WithLeeway(0))
	if _, err := v.Verify(tok); err != nil {
		t.Fatal(err)
	}
	clk.advance(c.ExpiresAt.Sub(testNow) - time.Second)
	if _, err := v.Verify(tok); err != nil {
		t.Fatalf("Verify() a second before exp = %v; want nil", err)
	}
	clk.advance(time.Second)
	if _, err := v.Verify(tok); !errors.Is(err, auth.ErrTokenExpired) {
		t.Fatalf("Verify() at exp of a cached token = %v; want ErrTokenExpired", err)
	}
	if n := auth.CacheLen(v); n != 0 {
		t.Errorf("cache holds %d tokens after the only one expired; want 0", n)
	}
}

// TestVerifyCacheRotation checks that a token cached by the verifier of
// a key set is refused by the verifier made when its key is removed, and
// still accepted by one that keeps the key.
func TestVerifyCacheRotation(t *testing.T) {
	keys := deriveKeys(t, [][]byte{testMaster, []byte(strings.Repeat("o", 32))}, "core")
	oldTok, _ := issue(t, newIssuer(t, keys[1], "core"), "42")
	during := newVerifier(t, "core", keys)
	for range 2 { // the second time from the cache
		if _, err := during.Verify(oldTok); err != nil {
			t.Fatalf("Verify(old token) during rotation = %v; want nil", err)
		}
	}
	after := newVerifier(t, "core", keys[:1])
	if _, err := after.Verify(oldTok); !errors.Is(err, auth.ErrInvalidToken) {
		t.Errorf("Verify(old token) after the old key was removed = %v; want ErrInvalidToken", err)
	}
}

// TestVerifyCacheTampered checks that no change to a cached token hits
// its entry: every one-byte change and every re-signed variant goes
// through the full checks and is refused.
func TestVerifyCacheTampered(t *testing.T) {
	key := deriveKey(t, testMaster, "core")
	other := deriveKey(t, testMaster, "other")
	tok, _ := issue(t, newIssuer(t, key, "core"), "42")
	v := newVerifier(t, "core", []auth.Key{key})
	if _, err := v.Verify(tok); err != nil {
		t.Fatal(err)
	}
	refused := 0
	for i := range len(tok) {
		for _, c := range []byte{'A', 'x', '0', '-', '.'} {
			if tok[i] == c {
				continue
			}
			bad := tok[:i] + string(c) + tok[i+1:]
			got, err := v.Verify(bad)
			if err == nil {
				// Base64 of the last character may carry unused bits:
				// only accept a change that decodes to the same token.
				if got.Subject != "42" {
					t.Fatalf("Verify(token with byte %d = %q) = %+v; want refused", i, c, got)
				}
				continue
			}
			if !errors.Is(err, auth.ErrInvalidToken) {
				t.Fatalf("Verify(tampered) error %v does not wrap ErrInvalidToken", err)
			}
			refused++
		}
	}
	if refused < len(tok) {
		t.Errorf("only %d of the tampered tokens were refused", refused)
	}
	// The same claims signed by another key, and the token with its
	// subject swapped, are refused.
	forged := sign(t, header(key.ID), claims("core"), other.Secret)
	swapped := reencode(t, tok, func(m map[string]any) { m["sub"] = "1" })
	for name, bad := range map[string]string{"other key": forged, "subject swapped": swapped} {
		if _, err := v.Verify(bad); !errors.Is(err, auth.ErrInvalidToken) {
			t.Errorf("Verify(%s) with the original cached = %v; want ErrInvalidToken", name, err)
		}
	}
}

// TestWithNowIsOneOption checks that one WithNow value configures every
// constructor that reads a clock.
func TestWithNowIsOneOption(t *testing.T) {
	key := deriveKey(t, testMaster, "core")
	now := auth.WithNow(clock(testNow.Add(-2 * time.Hour)))
	i, err := auth.NewIssuer(testIss, "core", key, now)
	if err != nil {
		t.Fatal(err)
	}
	v, err := auth.NewVerifier(testIss, "core", []auth.Key{key}, now)
	if err != nil {
		t.Fatal(err)
	}
	th, err := auth.NewThrottle(now, auth.WithBurst(1))
	if err != nil {
		t.Fatal(err)
	}
	tok, c, err := i.Issue("42")
	if err != nil || !c.IssuedAt.Equal(testNow.Add(-2*time.Hour)) {
		t.Fatalf("Issue() = %+v, %v; want it dated by the WithNow clock", c, err)
	}
	if _, err := v.Verify(tok); err != nil {
		t.Errorf("Verify() with the same clock = %v; want nil", err)
	}
	if ok, _ := th.Allow("k"); !ok {
		t.Fatal("first Allow refused")
	}
	th.Fail("k")
	if ok, retry := th.Allow("k"); ok || retry <= 0 {
		t.Errorf("Allow after the burst = %v, %v; want refused with a wait", ok, retry)
	}
}

// TestRequireTokenCachedAllocs checks the per-request cost of the
// middleware for a cached token: the context value and the request copy.
func TestRequireTokenCachedAllocs(t *testing.T) {
	key := deriveKey(t, testMaster, "core")
	tok, _ := issue(t, newIssuer(t, key, "core"), "42")
	v := newVerifier(t, "core", []auth.Key{key})
	var got auth.Claims
	h := must(auth.RequireToken(v))(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		got, _ = auth.FromContext(r.Context())
	}))
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	w := nopWriter{h: http.Header{}}
	h.ServeHTTP(w, r)
	if got.Subject != "42" {
		t.Fatalf("handler got claims %+v; want subject 42", got)
	}
	if n := testing.AllocsPerRun(100, func() { h.ServeHTTP(w, r) }); n > 2 {
		t.Errorf("RequireToken with a cached token allocates %v times per request; want at most 2", n)
	}
}

// nopWriter is a ResponseWriter that costs nothing.
type nopWriter struct{ h http.Header }

func (w nopWriter) Header() http.Header       { return w.h }
func (nopWriter) Write(p []byte) (int, error) { return len(p), nil }
func (nopWriter) WriteHeader(int)             {}

// TestNilOptionNamesPosition checks the one rule for nil options, in every
// constructor that takes options: an error wrapping ErrInvalidConfig that
// names the position.
func TestNilOptionNamesPosition(t *testing.T) {
	key := deriveKey(t, testMaster, "core")
	v := newVerifier(t, "core", []auth.Key{key})
	now := auth.WithNow(nil)
	errs := map[string]error{}
	_, errs["NewHasher"] = auth.NewHasher(auth.WithMaxConcurrent(1), nil)
	_, errs["NewIssuer"] = auth.NewIssuer(testIss, "core", key, now, nil)
	_, errs["NewVerifier"] = auth.NewVerifier(testIss, "core", []auth.Key{key}, now, nil)
	_, errs["NewThrottle"] = auth.NewThrottle(now, nil)
	_, errs["RequireToken"] = auth.RequireToken(v, auth.WithErrorHandler(nil), nil)
	_, errs["RequireTokenFunc"] = auth.RequireTokenFunc(func(*http.Request) (*auth.Verifier, error) { return v, nil }, auth.WithErrorHandler(nil), nil)
	for fn, err := range errs {
		if !errors.Is(err, auth.ErrInvalidConfig) || !strings.Contains(err.Error(), "auth: "+fn+": option 2 is nil") {
			t.Errorf("%s(..., nil) = %v; want ErrInvalidConfig naming option 2", fn, err)
		}
	}
}

// TestVerifyCacheClockSetBack checks that a cached token is not accepted
// from the cache at a time the full check would refuse it: a clock set
// back before its nbf, beyond the leeway.
func TestVerifyCacheClockSetBack(t *testing.T) {
	key := deriveKey(t, testMaster, "core")
	clk := &fakeClock{}
	tok, _ := issue(t, newIssuer(t, key, "core"), "42")
	v := newVerifier(t, "core", []auth.Key{key}, auth.WithNow(clk.now), auth.WithLeeway(time.Second))
	if _, err := v.Verify(tok); err != nil {
		t.Fatal(err)
	}
	clk.advance(-time.Minute)
	if _, err := v.Verify(tok); !errors.Is(err, auth.ErrInvalidToken) {
		t.Errorf("Verify() a minute before the cached token's nbf = %v; want ErrInvalidToken", err)
	}
}
