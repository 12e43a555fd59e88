package auth_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tenantkit/tenantkit/auth"
)

func newKeyring(t testing.TB, masters [][]byte, opts ...auth.KeyringOption) *auth.Keyring {
	t.Helper()
	k, err := auth.NewKeyring(testIss, masters, append([]auth.KeyringOption{auth.WithNow(clock(testNow))}, opts...)...)
	if err != nil {
		t.Fatalf("NewKeyring() error = %v", err)
	}
	return k
}

func ringIssue(t testing.TB, k *auth.Keyring, directory, subject string) string {
	t.Helper()
	tok, _, err := k.Issue(directory, subject)
	if err != nil {
		t.Fatalf("Issue(%q, %q) error = %v", directory, subject, err)
	}
	return tok
}

// kidOf returns the kid in tok's header.
func kidOf(t testing.TB, tok string) string {
	t.Helper()
	var h struct{ Kid string }
	raw, err := b64url.DecodeString(segments(tok)[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := jsonUnmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	return h.Kid
}

// TestKeyringCompatible checks that a Keyring derives exactly the keys an
// app deriving them by hand does (as the reference server does), for both
// algorithms: tokens cross both ways, and the public keys are the same.
func TestKeyringCompatible(t *testing.T) {
	masters := [][]byte{testMaster, testMaster2}
	for _, alg := range []string{"HS256", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			ring := newKeyring(t, masters, auth.WithAlgorithm(alg))
			keys, err := auth.DeriveKeys(masters, "tenant:42")
			if err != nil {
				t.Fatal(err)
			}
			var public []auth.PublicKey
			if alg == "EdDSA" {
				for i, k := range keys {
					keys[i] = must(auth.Ed25519KeyFromSeed(k.Secret))
					pk, _ := keys[i].PublicKey()
					public = append(public, pk)
				}
			}
			byHand := newIssuer(t, keys[0], "tenant:42")
			handVerifier := newVerifier(t, "tenant:42", keys)

			tok, _ := issue(t, byHand, "7")
			if c, err := ring.Verify("tenant:42", tok); err != nil || c.Subject != "7" {
				t.Errorf("ring.Verify(hand-made token) = %+v, %v; want subject 7", c, err)
			}
			// A token signed with the previous master verifies too.
			old, _ := issue(t, newIssuer(t, keys[1], "tenant:42"), "8")
			if _, err := ring.Verify("tenant:42", old); err != nil {
				t.Errorf("ring.Verify(token of the previous master) = %v", err)
			}
			tok = ringIssue(t, ring, "tenant:42", "9")
			if c, err := handVerifier.Verify(tok); err != nil || c.Subject != "9" || c.Audience != "tenant:42" || c.Issuer != testIss {
				t.Errorf("hand verifier on ring token = %+v, %v", c, err)
			}
			if got := kidOf(t, tok); got != keys[0].ID {
				t.Errorf("kid = %q; want the current master's key ID %q", got, keys[0].ID)
			}
			pub, err := ring.PublicKeys("tenant:42")
			if err != nil || len(pub) != len(public) {
				t.Fatalf("PublicKeys() = %v, %v; want %d keys", pub, err, len(public))
			}
			for i := range pub {
				if pub[i].ID != public[i].ID || !pub[i].Key.Equal(public[i].Key) {
					t.Errorf("PublicKeys()[%d] = %v; want %v", i, pub[i], public[i])
				}
			}
		})
	}
}

// TestKeyringDirectoryIsolation tries to get a token of one directory
// accepted by another.
func TestKeyringDirectoryIsolation(t *testing.T) {
	for _, alg := range []string{"HS256", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			ring := newKeyring(t, [][]byte{testMaster}, auth.WithAlgorithm(alg))
			tokA := ringIssue(t, ring, "tenant:1", "u1")
			tokCore := ringIssue(t, ring, "core", "u1")
			keyA := deriveKey(t, testMaster, "tenant:1")
			keyB := deriveKey(t, testMaster, "tenant:2")
			if alg == "EdDSA" {
				keyA = must(auth.Ed25519KeyFromSeed(keyA.Secret))
				keyB = must(auth.Ed25519KeyFromSeed(keyB.Secret))
			}
			// Tokens signed by hand, HS256 with A's secret whatever the
			// ring's algorithm (an attacker holding A's key at most).
			secretA := deriveKey(t, testMaster, "tenant:1").Secret
			forged := map[string]string{
				"A's token":                           tokA,
				"core token":                          tokCore,
				"A's token re-audienced":              reencode(t, tokA, func(m map[string]any) { m["aud"] = []string{"tenant:2"} }),
				"A's key, audience B":                 sign(t, header(keyA.ID), claims("tenant:2"), secretA),
				"B's kid, A's key":                    sign(t, header(keyB.ID), claims("tenant:2"), secretA),
				"B's kid, A's key, A's audience":      sign(t, header(keyB.ID), claims("tenant:1"), secretA),
				"A's token with B's kid":              swapKid(t, tokA, keyB.ID),
				"A's token, audience list with B too": reencode(t, tokA, func(m map[string]any) { m["aud"] = []string{"tenant:1", "tenant:2"} }),
			}
			for name, tok := range forged {
				if c, err := ring.Verify("tenant:2", tok); !errors.Is(err, auth.ErrInvalidToken) {
					t.Errorf("%s: Verify(tenant:2) = %+v, %v; want ErrInvalidToken", name, c, err)
				}
			}
			if _, err := ring.Verify("tenant:1", tokA); err != nil {
				t.Errorf("A's token in A: %v", err)
			}

			// Through the middleware, with the verifier picked per request.
			mw, err := auth.RequireTokenFunc(ring.VerifierFunc(func(r *http.Request) (string, error) {
				return "tenant:" + r.Header.Get("X-Tenant"), nil
			}))
			if err != nil {
				t.Fatal(err)
			}
			h := mw(echoSubject)
			for _, tt := range []struct {
				tenant, token string
				want          int
			}{{"1", tokA, 200}, {"2", tokA, 401}, {"1", tokCore, 401}, {"2", forged["B's kid, A's key"], 401}} {
				r := httptest.NewRequest(http.MethodGet, "/", nil)
				r.Header.Set("X-Tenant", tt.tenant)
				r.Header.Set("Authorization", "Bearer "+tt.token)
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if w.Code != tt.want {
					t.Errorf("tenant %s: status %d; want %d", tt.tenant, w.Code, tt.want)
				}
			}
		})
	}
}

// swapKid replaces the kid of tok, keeping its payload and signature.
func swapKid(t testing.TB, tok, kid string) string {
	t.Helper()
	s := segments(tok)
	var h map[string]any
	raw, err := b64url.DecodeString(s[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := jsonUnmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	h["kid"] = kid
	s[0] = b64url.EncodeToString(jsonMarshal(t, h))
	return join(s)
}

// TestKeyringTampered changes each character of a token in turn: every
// change is refused, with the cache on (the original is cached first).
func TestKeyringTampered(t *testing.T) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	ring := newKeyring(t, [][]byte{testMaster})
	tok := ringIssue(t, ring, "tenant:1", "u1")
	if _, err := ring.Verify("tenant:1", tok); err != nil {
		t.Fatal(err)
	}
	for i := range len(tok) {
		if tok[i] == '.' {
			continue
		}
		j := strings.IndexByte(alphabet, tok[i])
		bad := tok[:i] + string(alphabet[(j+1)%len(alphabet)]) + tok[i+1:]
		if _, err := ring.Verify("tenant:1", bad); !errors.Is(err, auth.ErrInvalidToken) {
			t.Fatalf("token changed at %d verifies: %v", i, err)
		}
	}
	for name, bad := range map[string]string{
		"truncated":          tok[:len(tok)-1],
		"no signature":       tok[:strings.LastIndexByte(tok, '.')+1],
		"non-canonical":      nonCanonical(tok),
		"alg none":           sign(t, map[string]any{"alg": "none", "kid": kidOf(t, tok)}, claims("tenant:1"), nil),
		"subject changed":    reencode(t, tok, func(m map[string]any) { m["sub"] = "admin" }),
		"expiry pushed back": reencode(t, tok, func(m map[string]any) { m["exp"] = testNow.Add(24 * time.Hour).Unix() }),
	} {
		if _, err := ring.Verify("tenant:1", bad); !errors.Is(err, auth.ErrInvalidToken) {
			t.Errorf("%s: verifies (%v)", name, err)
		}
	}
}

// TestKeyringUnknownKid checks tokens whose kid names no key of the
// directory: another master's, a made-up one, none.
func TestKeyringUnknownKid(t *testing.T) {
	ring := newKeyring(t, [][]byte{testMaster})
	other := newKeyring(t, [][]byte{testMaster2})
	tok := ringIssue(t, ring, "core", "u1")
	secret := deriveKey(t, testMaster, "core").Secret
	for name, bad := range map[string]string{
		"another master's":   ringIssue(t, other, "core", "u1"),
		"made up":            swapKid(t, tok, "no-such-key"),
		"made up, re-signed": sign(t, header("no-such-key"), claims("core"), secret),
		"none":               sign(t, map[string]any{"alg": "HS256"}, claims("core"), secret),
	} {
		_, err := ring.Verify("core", bad)
		if !errors.Is(err, auth.ErrInvalidToken) || !strings.Contains(err.Error(), "key id") {
			t.Errorf("%s kid: Verify() = %v; want an invalid token error about the key id", name, err)
		}
	}
}

// TestKeyringRotate rotates at run time: new tokens name the new key,
// tokens of the old master verify until they must have expired, and then
// the old master's kid is unknown.
func TestKeyringRotate(t *testing.T) {
	clk := &fakeClock{}
	const ttl, leeway = 10 * time.Minute, 30 * time.Second
	ring := newKeyring(t, [][]byte{testMaster}, auth.WithNow(clk.now), auth.WithTTL(ttl), auth.WithLeeway(leeway))
	// A process that has not rotated: signs with the old master only.
	lagging := newKeyring(t, [][]byte{testMaster}, auth.WithNow(clk.now), auth.WithTTL(ttl))

	before := ringIssue(t, ring, "tenant:1", "u1")
	v1 := must(ring.Verifier("tenant:1"))
	clk.advance(time.Minute)
	if err := ring.Rotate(testMaster2); err != nil {
		t.Fatalf("Rotate() = %v", err)
	}
	if v2 := must(ring.Verifier("tenant:1")); v2 == v1 {
		t.Errorf("Verifier after Rotate is the old one")
	}
	after := ringIssue(t, ring, "tenant:1", "u1")
	if kidOf(t, after) == kidOf(t, before) {
		t.Errorf("token after Rotate has the old kid %q", kidOf(t, after))
	}
	if kidOf(t, after) != deriveKey(t, testMaster2, "tenant:1").ID {
		t.Errorf("token after Rotate: kid %q; want the new master's key", kidOf(t, after))
	}
	for name, tok := range map[string]string{"before": before, "after": after} {
		if _, err := ring.Verify("tenant:1", tok); err != nil {
			t.Errorf("token %s the rotation: %v", name, err)
		}
	}
	// Just before the old master retires, a token it signed elsewhere
	// (valid for the whole TTL) still verifies; from then on it does not.
	clk.advance(ttl + leeway - time.Second)
	lag := ringIssue(t, lagging, "tenant:1", "u1")
	if _, err := ring.Verify("tenant:1", lag); err != nil {
		t.Errorf("old master's token 1s before retirement: %v", err)
	}
	clk.advance(time.Second)
	_, err := ring.Verify("tenant:1", lag)
	if !errors.Is(err, auth.ErrInvalidToken) || !strings.Contains(err.Error(), "unknown key id") {
		t.Errorf("old master's token after retirement: %v; want unknown key id", err)
	}
	if _, err := ring.Verify("tenant:1", ringIssue(t, ring, "tenant:1", "u1")); err != nil {
		t.Errorf("new token after retirement: %v", err)
	}
	// Rotating back to a retired master is allowed: it is no longer there.
	if err := ring.Rotate(testMaster); err != nil {
		t.Errorf("Rotate(retired master) = %v", err)
	}
}

// TestKeyringRotateKeepsConfiguredMasters checks that masters given to
// NewKeyring are not dropped until a Rotate.
func TestKeyringRotateKeepsConfiguredMasters(t *testing.T) {
	clk := &fakeClock{}
	ring := newKeyring(t, [][]byte{testMaster2, testMaster}, auth.WithNow(clk.now))
	old := newKeyring(t, [][]byte{testMaster}, auth.WithNow(clk.now))
	clk.advance(100 * 24 * time.Hour)
	if _, err := ring.Verify("core", ringIssue(t, old, "core", "u")); err != nil {
		t.Errorf("token of a configured previous master, much later: %v", err)
	}
	if err := ring.Rotate(testMaster3); err != nil {
		t.Fatal(err)
	}
	clk.advance(time.Hour + 30*time.Second)
	for _, m := range []*auth.Keyring{old, newKeyring(t, [][]byte{testMaster2}, auth.WithNow(clk.now))} {
		if _, err := ring.Verify("core", ringIssue(t, m, "core", "u")); !errors.Is(err, auth.ErrInvalidToken) {
			t.Errorf("token of a retired master: %v; want refused", err)
		}
	}
}

func TestKeyringRotateErrors(t *testing.T) {
	ring := newKeyring(t, [][]byte{testMaster, testMaster2})
	tests := []struct {
		name   string
		secret []byte
	}{
		{"short", []byte("short")},
		{"empty", nil},
		{"current", testMaster},
		{"previous", slices.Clone(testMaster2)},
	}
	tok := ringIssue(t, ring, "core", "u")
	for _, tt := range tests {
		if err := ring.Rotate(tt.secret); !errors.Is(err, auth.ErrInvalidConfig) {
			t.Errorf("Rotate(%s) = %v; want ErrInvalidConfig", tt.name, err)
		}
	}
	if kidOf(t, ringIssue(t, ring, "core", "u")) != kidOf(t, tok) {
		t.Errorf("a refused Rotate changed the current key")
	}
	// At most 16 masters verify at once.
	var err error
	for i := range 20 {
		if err = ring.Rotate(bytes.Repeat([]byte{byte(i + 1)}, 32)); err != nil {
			break
		}
	}
	if !errors.Is(err, auth.ErrInvalidConfig) || !strings.Contains(err.Error(), "still verifying") {
		t.Errorf("Rotate past 16 masters = %v; want an error", err)
	}
}

// TestKeyringCacheBound checks that the keyring holds at most
// WithMaxDirectories directories, that an evicted directory comes back
// with the same keys, and that a directory in use is not the one evicted.
func TestKeyringCacheBound(t *testing.T) {
	const max = 8
	ring := newKeyring(t, [][]byte{testMaster}, auth.WithMaxDirectories(max))
	hot := ringIssue(t, ring, "tenant:hot", "u")
	early := ringIssue(t, ring, "tenant:0", "u")
	seen := map[*auth.Verifier]bool{}
	for i := range 200 {
		if _, err := ring.Verifier(fmt.Sprintf("tenant:%d", i)); err != nil {
			t.Fatal(err)
		}
		seen[must(ring.Verifier("tenant:hot"))] = true
		if n := ring.Len(); n > max {
			t.Fatalf("after %d directories the keyring holds %d; want at most %d", i+1, n, max)
		}
	}
	if len(seen) > 2 {
		t.Errorf("the directory used between every other was made %d times; want at most 2", len(seen))
	}
	for name, tok := range map[string]string{"tenant:hot": hot, "tenant:0": early} {
		if _, err := ring.Verify(name, tok); err != nil {
			t.Errorf("token of %s after evictions: %v", name, err)
		}
	}
	ring.Forget("tenant:hot")
	ring.Forget("tenant:never")
	if v := must(ring.Verifier("tenant:hot")); seen[v] {
		t.Errorf("Forget did not drop the directory")
	}
}

func TestKeyringDirectoryNames(t *testing.T) {
	ring := newKeyring(t, [][]byte{testMaster})
	for _, name := range []string{"", " core", "core ", "te nant", "tenant:\x00", "ténant", strings.Repeat("a", 129)} {
		if _, err := ring.Verifier(name); err == nil {
			t.Errorf("Verifier(%q) = nil error; want an invalid name", name)
		}
		if _, _, err := ring.Issue(name, "u"); err == nil {
			t.Errorf("Issue(%q) = nil error; want an invalid name", name)
		}
	}
	for _, name := range []string{"core", "tenant:42", "a", strings.Repeat("a", 128), "~!@#$%^&*()"} {
		if _, err := ring.Verify(name, ringIssue(t, ring, name, "u")); err != nil {
			t.Errorf("directory %q: %v", name, err)
		}
	}
	if ring.Len() != 5 {
		t.Errorf("Len() = %d; want 5 (invalid names are not cached)", ring.Len())
	}

	// Through the middleware, a bad name is a server-side failure: 500.
	mw := must(auth.RequireTokenFunc(ring.VerifierFunc(func(*http.Request) (string, error) { return "bad name", nil })))
	w := serve(mw(echoSubject), "Bearer "+ringIssue(t, ring, "core", "u"))
	if w.Code != http.StatusInternalServerError {
		t.Errorf("bad directory name through RequireTokenFunc: %d; want 500", w.Code)
	}
	// A nil directory function is a start-up error.
	if f := ring.VerifierFunc(nil); f != nil {
		t.Errorf("VerifierFunc(nil) is not nil")
	}
	if _, err := auth.RequireTokenFunc(ring.VerifierFunc(nil)); !errors.Is(err, auth.ErrInvalidConfig) {
		t.Errorf("RequireTokenFunc(VerifierFunc(nil)) = %v; want ErrInvalidConfig", err)
	}
}

func TestNewKeyringErrors(t *testing.T) {
	masters := [][]byte{testMaster}
	many := make([][]byte, 17)
	for i := range many {
		many[i] = bytes.Repeat([]byte{byte(i + 1)}, 32)
	}
	tests := []struct {
		name    string
		issuer  string
		masters [][]byte
		opts    []auth.KeyringOption
		want    string
	}{
		{"no issuer", "", masters, nil, "issuer must not be empty"},
		{"no masters", testIss, nil, nil, "need 1 to 16 master secrets, got 0"},
		{"17 masters", testIss, many, nil, "got 17"},
		{"short master", testIss, [][]byte{testMaster, []byte("short")}, nil, "master 1 must be at least 32 bytes, got 5"},
		{"same master twice", testIss, [][]byte{testMaster, testMaster2, slices.Clone(testMaster)}, nil, "masters 0 and 2 are the same secret"},
		{"nil option", testIss, masters, []auth.KeyringOption{auth.WithTTL(time.Minute), nil}, "option 2 is nil"},
		{"bad algorithm", testIss, masters, []auth.KeyringOption{auth.WithAlgorithm("RS256")}, `WithAlgorithm("RS256")`},
		{"no directories", testIss, masters, []auth.KeyringOption{auth.WithMaxDirectories(0)}, "WithMaxDirectories(0)"},
		{"ttl", testIss, masters, []auth.KeyringOption{auth.WithTTL(0)}, "WithTTL(0s)"},
		{"leeway", testIss, masters, []auth.KeyringOption{auth.WithLeeway(-time.Second)}, "WithLeeway(-1s)"},
		{"cache", testIss, masters, []auth.KeyringOption{auth.WithCache(-1)}, "WithCache(-1)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := auth.NewKeyring(tt.issuer, tt.masters, tt.opts...)
			if k != nil || !errors.Is(err, auth.ErrInvalidConfig) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("NewKeyring() = %v, %v; want an ErrInvalidConfig error containing %q", k, err, tt.want)
			}
		})
	}
}

// TestKeyringOwnsItsMasters checks that changing the caller's slices after
// NewKeyring and Rotate changes nothing.
func TestKeyringOwnsItsMasters(t *testing.T) {
	m1, m2 := slices.Clone(testMaster), slices.Clone(testMaster2)
	ring := newKeyring(t, [][]byte{m1})
	tok := ringIssue(t, ring, "core", "u")
	clear(m1)
	if _, err := ring.Verify("tenant:new", ringIssue(t, ring, "tenant:new", "u")); err != nil {
		t.Fatal(err)
	}
	if err := ring.Rotate(m2); err != nil {
		t.Fatal(err)
	}
	clear(m2)
	if kidOf(t, ringIssue(t, ring, "core", "u")) != deriveKey(t, testMaster2, "core").ID {
		t.Errorf("the keyring uses the caller's slice of the rotated master")
	}
	if _, err := ring.Verify("core", tok); err != nil {
		t.Errorf("token of the first master: %v", err)
	}
}

// TestKeyringConcurrent issues and verifies in many directories from many
// goroutines while others rotate, forget and evict (run with -race).
func TestKeyringConcurrent(t *testing.T) {
	ring := newKeyring(t, [][]byte{testMaster}, auth.WithMaxDirectories(5))
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				dir := fmt.Sprintf("tenant:%d", (g+i)%12)
				tok, _, err := ring.Issue(dir, "u")
				if err != nil {
					errs <- err
					return
				}
				// The clock does not move, so no master retires: every
				// token verifies in its own directory, in no other.
				if _, err := ring.Verify(dir, tok); err != nil {
					errs <- fmt.Errorf("%s: own token: %w", dir, err)
					return
				}
				if _, err := ring.Verify(dir+"x", tok); err == nil {
					errs <- fmt.Errorf("%s: token verifies in %sx", dir, dir)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for i := range 10 {
			if err := ring.Rotate(bytes.Repeat([]byte{byte(i + 1)}, 32)); err != nil {
				errs <- err
				return
			}
			ring.Forget(fmt.Sprintf("tenant:%d", i))
			_ = ring.Len()
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := ring.Len(); n > 5 {
		t.Errorf("Len() = %d; want at most 5", n)
	}
}

func TestKeyringHitAllocs(t *testing.T) {
	ring := newKeyring(t, [][]byte{testMaster})
	tok := ringIssue(t, ring, "tenant:1", "u")
	if _, err := ring.Verify("tenant:1", tok); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = ring.Verifier("tenant:1") }); n != 0 {
		t.Errorf("Verifier() of a cached directory allocates %v times; want 0", n)
	}
	v := must(ring.Verifier("tenant:1"))
	if n := testing.AllocsPerRun(100, func() { _, _ = v.Verify(tok) }); n != 0 {
		t.Errorf("Verify() of a cached token allocates %v times; want 0", n)
	}
}

func ExampleKeyring() {
	// The master secrets: the current one first, then one being retired.
	masters := [][]byte{
		[]byte("load at least 32 random bytes from your secret store"),
		[]byte("the previous master secret, also 32 bytes or more"),
	}
	ring, err := auth.NewKeyring("example-app", masters, auth.WithTTL(15*time.Minute))
	if err != nil {
		fmt.Println(err)
		return
	}
	// At login, in the tenant's directory:
	token, _, err := ring.Issue("tenant:42", "user-7")
	if err != nil {
		fmt.Println(err)
		return
	}
	// On each request, the verifier of the request's directory:
	requireToken, err := auth.RequireTokenFunc(ring.VerifierFunc(func(r *http.Request) (string, error) {
		return "tenant:" + r.Header.Get("X-Tenant"), nil // in an app: tenancy.FromContext
	}))
	if err != nil {
		fmt.Println(err)
		return
	}
	h := requireToken(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := auth.FromContext(r.Context())
		fmt.Fprintf(w, "%s of %s", c.Subject, c.Audience)
	}))
	for _, tenant := range []string{"42", "43"} {
		r := httptest.NewRequest(http.MethodGet, "/me", nil)
		r.Header.Set("X-Tenant", tenant)
		r.Header.Set("Authorization", "Bearer "+token)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		fmt.Println(tenant, w.Code, strings.TrimSpace(w.Body.String()))
	}
	// Output:
	// 42 200 user-7 of tenant:42
	// 43 401 Unauthorized
}

func ExampleKeyring_Rotate() {
	ring, err := auth.NewKeyring("example-app", [][]byte{[]byte("load at least 32 random bytes from your secret store")})
	if err != nil {
		fmt.Println(err)
		return
	}
	before, _, _ := ring.Issue("core", "user-7")
	// A new master signs from now on; the old one verifies until the
	// tokens it signed have expired (the TTL plus the leeway), then goes.
	if err := ring.Rotate([]byte("a new master secret from the secret store, 32+ bytes")); err != nil {
		fmt.Println(err)
		return
	}
	after, _, _ := ring.Issue("core", "user-7")
	_, errBefore := ring.Verify("core", before)
	_, errAfter := ring.Verify("core", after)
	fmt.Println(errBefore, errAfter)
	// Output: <nil> <nil>
}

// FuzzKeyring verifies arbitrary tokens in arbitrary directories: no
// panic, the cache stays bounded, and whatever verifies is checked again
// independently: its audience is the directory, its kid names the key of
// one of the masters for that directory, its signature is that key's HMAC
// of the token, and it verifies in no other directory.
func FuzzKeyring(f *testing.F) {
	masters := [][]byte{testMaster, testMaster2}
	ring := newKeyring(f, masters, auth.WithMaxDirectories(16))
	for _, dir := range []string{"core", "tenant:1", "tenant:2"} {
		tok := ringIssue(f, ring, dir, "u")
		f.Add(dir, tok)
		f.Add("tenant:3", tok)
		f.Add(dir, tok[:len(tok)-1])
		f.Add(dir, swapKid(f, tok, "x"))
	}
	f.Add("", "")
	f.Add("tenant:\x00", "a.b.c")
	f.Fuzz(func(t *testing.T, dir, token string) {
		c, err := ring.Verify(dir, token)
		if ring.Len() > 16 {
			t.Fatalf("Len() = %d", ring.Len())
		}
		if err != nil {
			return
		}
		if c.Audience != dir {
			t.Fatalf("Verify(%q) accepts a token for %q", dir, c.Audience)
		}
		kid := kidOf(t, token)
		var key []byte
		for _, k := range deriveKeys(t, masters, dir) {
			if k.ID == kid {
				key = k.Secret
			}
		}
		if key == nil {
			t.Fatalf("Verify(%q) accepts kid %q, no key of the directory", dir, kid)
		}
		dot := strings.LastIndexByte(token, '.')
		m := hmac.New(sha256.New, key)
		m.Write([]byte(token[:dot]))
		if b64url.EncodeToString(m.Sum(nil)) != token[dot+1:] {
			t.Fatalf("Verify(%q) accepts a token whose signature is not its key's HMAC", dir)
		}
		if _, err := ring.Verify(dir+"x", token); err == nil {
			t.Fatalf("token of %q verifies in %q", dir, dir+"x")
		}
	})
}

// BenchmarkKeyring measures what RequireTokenFunc with a Keyring costs
// over RequireToken with one fixed verifier, for a cached token: the
// directory's name, a map lookup under a read lock.
func BenchmarkKeyring(b *testing.B) {
	ring := newKeyring(b, [][]byte{testMaster})
	tok := ringIssue(b, ring, "tenant:42", "u")
	fixed := must(auth.RequireToken(must(ring.Verifier("tenant:42"))))
	byTenant := must(auth.RequireTokenFunc(ring.VerifierFunc(func(r *http.Request) (string, error) {
		return "tenant:" + r.Header.Get("X-Tenant"), nil
	})))
	next := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("X-Tenant", "42")
	r.Header.Set("Authorization", "Bearer "+tok)
	w := httptest.NewRecorder()
	for _, bc := range []struct {
		name string
		h    http.Handler
	}{{"fixed-verifier", fixed(next)}, {"keyring", byTenant(next)}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				bc.h.ServeHTTP(w, r)
			}
			if w.Code != http.StatusOK {
				b.Fatal(w.Code)
			}
		})
	}
	b.Run("lookup", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ring.Verifier("tenant:42"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("lookup-parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := ring.Verifier("tenant:42"); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("miss", func(b *testing.B) {
		small := newKeyring(b, [][]byte{testMaster}, auth.WithMaxDirectories(1))
		names := []string{"tenant:1", "tenant:2"}
		i := 0
		b.ReportAllocs()
		for b.Loop() {
			i++
			if _, err := small.Verifier(names[i%2]); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func jsonUnmarshal(raw []byte, v any) error { return json.Unmarshal(raw, v) }

func jsonMarshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
