package auth_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/tenantkit/tenantkit/auth"
)

var (
	testNow    = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	testMaster = []byte("an example master secret of 32+ bytes, for tests only")
)

const testIss = "tenantkit-test"

func clock(t time.Time) func() time.Time { return func() time.Time { return t } }

func deriveKey(t testing.TB, master []byte, directory string) auth.Key {
	t.Helper()
	k, err := auth.DeriveKey(master, directory)
	if err != nil {
		t.Fatalf("DeriveKey(%q) error = %v", directory, err)
	}
	return k
}

func newIssuer(t testing.TB, key auth.Key, audience string, opts ...auth.IssuerOption) *auth.Issuer {
	t.Helper()
	i, err := auth.NewIssuer(testIss, audience, key, append([]auth.IssuerOption{auth.WithNow(clock(testNow))}, opts...)...)
	if err != nil {
		t.Fatalf("NewIssuer() error = %v", err)
	}
	return i
}

func newVerifier(t testing.TB, audience string, keys []auth.Key, opts ...auth.VerifierOption) *auth.Verifier {
	t.Helper()
	v, err := auth.NewVerifier(testIss, audience, keys, append([]auth.VerifierOption{auth.WithNow(clock(testNow))}, opts...)...)
	if err != nil {
		t.Fatalf("NewVerifier() error = %v", err)
	}
	return v
}

func issue(t testing.TB, i *auth.Issuer, subject string) (string, auth.Claims) {
	t.Helper()
	tok, c, err := i.Issue(subject)
	if err != nil {
		t.Fatalf("Issue(%q) error = %v", subject, err)
	}
	return tok, c
}

var b64url = base64.RawURLEncoding

// sign builds a compact JWS by hand, so tests can make tokens the Issuer
// never would. alg names the algorithm in the header; the signature is
// HMAC with secret under the matching hash for HS256/384/512, empty for
// "none", and HMAC-SHA256 with secret for anything else (an attacker
// "signing" an RS256 token with the HMAC secret).
func sign(t testing.TB, header, claims map[string]any, secret []byte) string {
	t.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	c, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	input := b64url.EncodeToString(h) + "." + b64url.EncodeToString(c)
	alg, _ := header["alg"].(string)
	var newHash func() hash.Hash
	switch alg {
	case "none":
		return input + "."
	case "HS384":
		newHash = sha512.New384
	case "HS512":
		newHash = sha512.New
	default:
		newHash = sha256.New
	}
	m := hmac.New(newHash, secret)
	m.Write([]byte(input))
	return input + "." + b64url.EncodeToString(m.Sum(nil))
}

func header(kid string) map[string]any {
	return map[string]any{"alg": "HS256", "typ": "JWT", "kid": kid}
}

func claims(audience string) map[string]any {
	return map[string]any{
		"iss": testIss,
		"sub": "42",
		"aud": []string{audience},
		"exp": testNow.Add(time.Hour).Unix(),
		"nbf": testNow.Unix(),
		"iat": testNow.Unix(),
		"jti": "abc",
		"typ": "access",
	}
}

// with returns a copy of m with k set to v, or removed if v is nil.
func with(m map[string]any, kv ...any) map[string]any {
	m = maps.Clone(m)
	for i := 0; i < len(kv); i += 2 {
		k := kv[i].(string)
		if kv[i+1] == nil {
			delete(m, k)
		} else {
			m[k] = kv[i+1]
		}
	}
	return m
}

// segments splits a token, and join puts it back.
func segments(tok string) []string { return strings.Split(tok, ".") }
func join(s []string) string       { return strings.Join(s, ".") }

// reencode replaces the payload of tok with f(payload), keeping the
// header and signature.
func reencode(t testing.TB, tok string, f func(map[string]any)) string {
	t.Helper()
	s := segments(tok)
	raw, err := b64url.DecodeString(s[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	f(m)
	raw, err = json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	s[1] = b64url.EncodeToString(raw)
	return join(s)
}

// nonCanonical changes the unused low bits of the last base64 character
// of tok, which a lax decoder would ignore.
func nonCanonical(tok string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.IndexByte(alphabet, tok[len(tok)-1])
	return tok[:len(tok)-1] + string(alphabet[i^1])
}

func TestVerifierRefuses(t *testing.T) {
	core := deriveKey(t, testMaster, "core")
	tenant := deriveKey(t, testMaster, "tenant:42")
	v := newVerifier(t, "core", []auth.Key{core})
	good, _ := issue(t, newIssuer(t, core, "core"), "42")
	other, _ := issue(t, newIssuer(t, core, "core"), "43")
	h, c := header(core.ID), claims("core")

	tests := []struct {
		name        string
		token       string
		wantExpired bool
	}{
		// Algorithm.
		{"alg none", sign(t, with(h, "alg", "none"), c, nil), false},
		{"alg none with signature", strings.TrimSuffix(sign(t, with(h, "alg", "none"), c, nil), ".") + "." + segments(good)[2], false},
		{"alg None", sign(t, with(h, "alg", "None"), c, core.Secret), false},
		{"alg RS256 signed with the secret", sign(t, with(h, "alg", "RS256"), c, core.Secret), false},
		{"alg ES256 signed with the secret", sign(t, with(h, "alg", "ES256"), c, core.Secret), false},
		{"alg HS384 with the secret", sign(t, with(h, "alg", "HS384"), c, core.Secret), false},
		{"alg HS512 with the secret", sign(t, with(h, "alg", "HS512"), c, core.Secret), false},
		{"alg hs256", sign(t, with(h, "alg", "hs256"), c, core.Secret), false},
		{"alg missing", sign(t, with(h, "alg", nil), c, core.Secret), false},
		{"alg not a string", sign(t, with(h, "alg", 256), c, core.Secret), false},
		// Key id.
		{"kid missing", sign(t, with(h, "kid", nil), c, core.Secret), false},
		{"kid empty", sign(t, with(h, "kid", ""), c, core.Secret), false},
		{"kid not a string", sign(t, with(h, "kid", 1), c, core.Secret), false},
		{"kid unknown", sign(t, with(h, "kid", "nope"), c, core.Secret), false},
		{"kid of another directory", sign(t, header(tenant.ID), c, tenant.Secret), false},
		{"kid right, key of another directory", sign(t, h, c, tenant.Secret), false},
		{"crit header", sign(t, with(h, "crit", []string{"exp"}), c, core.Secret), false},
		// Claims.
		{"iss wrong", sign(t, h, with(c, "iss", "someone-else"), core.Secret), false},
		{"iss missing", sign(t, h, with(c, "iss", nil), core.Secret), false},
		{"iss differs in case", sign(t, h, with(c, "iss", strings.ToUpper(testIss)), core.Secret), false},
		{"aud wrong", sign(t, h, with(c, "aud", "tenant:42"), core.Secret), false},
		{"aud missing", sign(t, h, with(c, "aud", nil), core.Secret), false},
		{"aud empty list", sign(t, h, with(c, "aud", []string{}), core.Secret), false},
		{"aud with another", sign(t, h, with(c, "aud", []string{"core", "tenant:42"}), core.Secret), false},
		{"aud not a string", sign(t, h, with(c, "aud", 7), core.Secret), false},
		{"exp missing", sign(t, h, with(c, "exp", nil), core.Secret), false},
		{"exp not a number", sign(t, h, with(c, "exp", "tomorrow"), core.Secret), false},
		{"exp an array", sign(t, h, with(c, "exp", []any{}), core.Secret), false},
		{"expired beyond leeway", sign(t, h, with(c, "exp", testNow.Add(-31*time.Second).Unix()), core.Secret), true},
		{"expired long ago", sign(t, h, with(c, "exp", int64(1), "nbf", nil, "iat", nil), core.Secret), true},
		{"expired at leeway", sign(t, h, with(c, "exp", testNow.Add(-30*time.Second).Unix()), core.Secret), true},
		{"expired and wrong aud", sign(t, h, with(c, "exp", testNow.Add(-time.Hour).Unix(), "aud", "x"), core.Secret), false},
		{"nbf in the future", sign(t, h, with(c, "nbf", testNow.Add(31*time.Second).Unix()), core.Secret), false},
		{"iat in the future", sign(t, h, with(c, "iat", testNow.Add(31*time.Second).Unix()), core.Secret), false},
		{"sub missing", sign(t, h, with(c, "sub", nil), core.Secret), false},
		{"sub empty", sign(t, h, with(c, "sub", ""), core.Secret), false},
		{"sub not a string", sign(t, h, with(c, "sub", 42), core.Secret), false},
		{"typ missing", sign(t, h, with(c, "typ", nil), core.Secret), false},
		{"typ refresh", sign(t, h, with(c, "typ", "refresh"), core.Secret), false},
		{"typ Access", sign(t, h, with(c, "typ", "Access"), core.Secret), false},
		// Tampering.
		{"payload tampered", reencode(t, good, func(m map[string]any) { m["sub"] = "1" }), false},
		{"payload expiry extended", reencode(t, good, func(m map[string]any) { m["exp"] = testNow.Add(1000 * time.Hour).Unix() }), false},
		{"header tampered", join([]string{b64url.EncodeToString([]byte(`{"alg":"HS256","kid":"` + core.ID + `","x":1}`)), segments(good)[1], segments(good)[2]}), false},
		{"signature flipped", good[:len(good)-10] + strings.Map(func(r rune) rune {
			if r == 'A' {
				return 'B'
			}
			return 'A'
		}, good[len(good)-10:len(good)-9]) + good[len(good)-9:], false},
		{"signature of another token", join(append(segments(good)[:2], segments(other)[2])), false},
		{"signature truncated", good[:len(good)-2], false},
		{"signature empty", join(append(segments(good)[:2], "")), false},
		{"signature non-canonical base64", nonCanonical(good), false},
		{"signature padded", good + "=", false},
		// Shape.
		{"empty", "", false},
		{"garbage", "garbage", false},
		{"dots only", "..", false},
		{"two segments", join(segments(good)[:2]), false},
		{"extra segment", good + ".", false},
		{"extra segment with data", good + "." + segments(good)[2], false},
		{"leading space", " " + good, false},
		{"trailing newline", good + "\n", false},
		{"newline inside", good[:10] + "\n" + good[10:], false},
		{"bearer prefix", "Bearer " + good, false},
		{"huge garbage", strings.Repeat("a", 1<<20), false},
		{"huge but signed", sign(t, h, with(c, "pad", strings.Repeat("x", 8<<10)), core.Secret), false},
		{"header not json", b64url.EncodeToString([]byte("{")) + "." + segments(good)[1] + "." + segments(good)[2], false},
		{"header json array", b64url.EncodeToString([]byte("[]")) + "." + segments(good)[1] + "." + segments(good)[2], false},
		{"payload not json", segments(good)[0] + "." + b64url.EncodeToString([]byte("nope")) + "." + segments(good)[2], false},
		{"payload std base64", segments(good)[0] + "." + base64.StdEncoding.EncodeToString([]byte(`{"sub":"42"}`)) + "." + segments(good)[2], false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := v.Verify(tt.token)
			if c != (auth.Claims{}) || !errors.Is(err, auth.ErrInvalidToken) {
				t.Fatalf("Verify() = %+v, %v; want nil and an error wrapping ErrInvalidToken", c, err)
			}
			if got := errors.Is(err, auth.ErrTokenExpired); got != tt.wantExpired {
				t.Errorf("Verify() error %q: errors.Is(err, ErrTokenExpired) = %v; want %v", err, got, tt.wantExpired)
			}
			if msg := err.Error(); len(tt.token) > 8 && strings.Contains(msg, tt.token) {
				t.Errorf("Verify() error %q quotes the token", msg)
			}
		})
	}
}

func TestVerifierAccepts(t *testing.T) {
	core := deriveKey(t, testMaster, "core")
	v := newVerifier(t, "core", []auth.Key{core})
	h, c := header(core.ID), claims("core")
	tests := []struct {
		name  string
		token string
	}{
		{"hand-made", sign(t, h, c, core.Secret)},
		{"aud as a string", sign(t, h, with(c, "aud", "core"), core.Secret)},
		{"no typ header", sign(t, with(h, "typ", nil), c, core.Secret)},
		{"expired within leeway", sign(t, h, with(c, "exp", testNow.Add(-29*time.Second).Unix()), core.Secret)},
		{"nbf within leeway", sign(t, h, with(c, "nbf", testNow.Add(29*time.Second).Unix()), core.Secret)},
		{"iat within leeway", sign(t, h, with(c, "iat", testNow.Add(29*time.Second).Unix()), core.Secret)},
		{"no nbf, iat or jti", sign(t, h, with(c, "nbf", nil, "iat", nil, "jti", nil), core.Secret)},
		{"fractional exp", sign(t, h, with(c, "exp", float64(testNow.Add(time.Hour).Unix())+0.5), core.Secret)},
		{"extra claims", sign(t, h, with(c, "role", "admin"), core.Secret)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := v.Verify(tt.token)
			if err != nil {
				t.Fatalf("Verify() error = %v; want nil", err)
			}
			if got.Subject != "42" || got.Audience != "core" || got.Issuer != testIss || got.Type != "access" {
				t.Errorf("Verify() = %+v; want sub 42, aud core, iss %s, typ access", got, testIss)
			}
		})
	}
}

func TestVerifierLeeway(t *testing.T) {
	core := deriveKey(t, testMaster, "core")
	tok := sign(t, header(core.ID), with(claims("core"), "exp", testNow.Add(-5*time.Second).Unix()), core.Secret)
	tests := []struct {
		leeway  time.Duration
		wantErr error
	}{
		{0, auth.ErrTokenExpired},
		{5 * time.Second, auth.ErrTokenExpired},
		{6 * time.Second, nil},
		{5 * time.Minute, nil},
	}
	for _, tt := range tests {
		t.Run(tt.leeway.String(), func(t *testing.T) {
			v := newVerifier(t, "core", []auth.Key{core}, auth.WithLeeway(tt.leeway))
			if _, err := v.Verify(tok); !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Errorf("Verify(expired 5s ago) = %v; want %v", err, tt.wantErr)
			}
		})
	}
}

func claimsEqual(a, b auth.Claims) bool {
	return a.Issuer == b.Issuer && a.Subject == b.Subject && a.Audience == b.Audience &&
		a.ID == b.ID && a.Type == b.Type && a.IssuedAt.Equal(b.IssuedAt) &&
		a.NotBefore.Equal(b.NotBefore) && a.ExpiresAt.Equal(b.ExpiresAt)
}

func TestIssue(t *testing.T) {
	core := deriveKey(t, testMaster, "core")
	now := testNow.Add(700 * time.Millisecond)
	i, err := auth.NewIssuer(testIss, "core", core, auth.WithTTL(90*time.Second+500*time.Millisecond), auth.WithNow(clock(now)))
	if err != nil {
		t.Fatalf("NewIssuer() error = %v", err)
	}
	if got, want := i.TTL(), 90*time.Second+500*time.Millisecond; got != want {
		t.Errorf("TTL() = %v; want %v", got, want)
	}
	tok, c := issue(t, i, "user-7")
	want := auth.Claims{
		Issuer: testIss, Subject: "user-7", Audience: "core", ID: c.ID, Type: "access",
		IssuedAt: testNow, NotBefore: testNow, ExpiresAt: testNow.Add(90 * time.Second), // whole seconds
	}
	if !claimsEqual(c, want) {
		t.Errorf("Issue() claims = %+v; want %+v", c, want)
	}
	if len(c.ID) != 22 {
		t.Errorf("Issue() jti = %q; want 22 base64url characters (128 random bits)", c.ID)
	}
	if _, c2 := issue(t, i, "user-7"); c2.ID == c.ID {
		t.Errorf("two tokens share jti %q", c.ID)
	}

	raw, err := b64url.DecodeString(segments(tok)[0])
	if err != nil {
		t.Fatalf("header: %v", err)
	}
	var hdr map[string]any
	if err := json.Unmarshal(raw, &hdr); err != nil {
		t.Fatalf("header: %v", err)
	}
	if hdr["alg"] != "HS256" || hdr["kid"] != core.ID {
		t.Errorf("header = %v; want alg HS256 and kid %q", hdr, core.ID)
	}

	v := newVerifier(t, "core", []auth.Key{core}, auth.WithNow(clock(now)))
	got, err := v.Verify(tok)
	if err != nil {
		t.Fatalf("Verify(issued token) error = %v", err)
	}
	if !claimsEqual(got, c) {
		t.Errorf("Verify() = %+v; want the issued claims %+v", got, c)
	}
	if got.ExpiresAt.Location() != time.UTC {
		t.Errorf("Verify() ExpiresAt location = %v; want UTC", got.ExpiresAt.Location())
	}

	if _, _, err := i.Issue(""); err == nil {
		t.Errorf("Issue(\"\") error = nil; want an error")
	}
}

func TestIssuerTTLBoundary(t *testing.T) {
	core := deriveKey(t, testMaster, "core")
	tok, _ := issue(t, newIssuer(t, core, "core", auth.WithTTL(time.Minute)), "42")
	tests := []struct {
		name        string
		at          time.Time
		wantErr     bool
		wantExpired bool
	}{
		{"at issue", testNow, false, false},
		{"just before exp plus leeway", testNow.Add(time.Minute + 29*time.Second), false, false},
		{"at exp plus leeway", testNow.Add(time.Minute + 30*time.Second), true, true},
		{"before nbf minus leeway", testNow.Add(-31 * time.Second), true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newVerifier(t, "core", []auth.Key{core}, auth.WithNow(clock(tt.at)))
			_, err := v.Verify(tok)
			if (err != nil) != tt.wantErr || errors.Is(err, auth.ErrTokenExpired) != tt.wantExpired {
				t.Errorf("Verify() at %v = %v; want error %v, expired %v", tt.at, err, tt.wantErr, tt.wantExpired)
			}
		})
	}
}

func TestDirectoryIsolation(t *testing.T) {
	core := deriveKey(t, testMaster, "core")
	tenantA := deriveKey(t, testMaster, "tenant:1")
	tenantB := deriveKey(t, testMaster, "tenant:10")
	tokA, _ := issue(t, newIssuer(t, tenantA, "tenant:1"), "1")
	tokCore, _ := issue(t, newIssuer(t, core, "core"), "1")

	tests := []struct {
		name     string
		token    string
		audience string
		keys     []auth.Key
	}{
		{"tenant A token, tenant B verifier", tokA, "tenant:10", []auth.Key{tenantB}},
		{"tenant A token, A's audience but B's key", tokA, "tenant:1", []auth.Key{tenantB}},
		{"tenant A token, A's audience and kid but B's secret", tokA, "tenant:1", []auth.Key{{ID: tenantA.ID, Secret: tenantB.Secret}}},
		{"tenant A token, core verifier", tokA, "core", []auth.Key{core}},
		{"core token, tenant verifier", tokCore, "tenant:1", []auth.Key{tenantA}},
		{"core token, tenant audience with core key", tokCore, "tenant:1", []auth.Key{core}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newVerifier(t, tt.audience, tt.keys)
			if c, err := v.Verify(tt.token); !errors.Is(err, auth.ErrInvalidToken) {
				t.Errorf("Verify() = %+v, %v; want ErrInvalidToken", c, err)
			}
		})
	}
	// The controls: each token verifies in its own directory.
	if _, err := newVerifier(t, "tenant:1", []auth.Key{tenantA}).Verify(tokA); err != nil {
		t.Errorf("Verify(tenant A token, tenant A verifier) = %v; want nil", err)
	}
	if _, err := newVerifier(t, "core", []auth.Key{core}).Verify(tokCore); err != nil {
		t.Errorf("Verify(core token, core verifier) = %v; want nil", err)
	}
}

func TestKeyRotation(t *testing.T) {
	oldKey := deriveKey(t, testMaster, "core")
	newKey := deriveKey(t, []byte("the next master secret, also 32+ bytes long"), "core")
	if oldKey.ID == newKey.ID {
		t.Fatalf("old and new key share ID %q", oldKey.ID)
	}
	oldTok, _ := issue(t, newIssuer(t, oldKey, "core"), "42")
	newTok, _ := issue(t, newIssuer(t, newKey, "core"), "42")
	tests := []struct {
		name    string
		keys    []auth.Key
		token   string
		wantErr bool
	}{
		{"old token, old key only", []auth.Key{oldKey}, oldTok, false},
		{"old token, both keys", []auth.Key{newKey, oldKey}, oldTok, false},
		{"new token, both keys", []auth.Key{newKey, oldKey}, newTok, false},
		{"old token, old key removed", []auth.Key{newKey}, oldTok, true},
		{"new token, new key only", []auth.Key{newKey}, newTok, false},
		{"new token, old key only", []auth.Key{oldKey}, newTok, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := newVerifier(t, "core", tt.keys).Verify(tt.token)
			if (err != nil) != tt.wantErr || (err != nil && !errors.Is(err, auth.ErrInvalidToken)) {
				t.Errorf("Verify() = %v; want error %v", err, tt.wantErr)
			}
		})
	}
}

func TestVerifierOwnsItsKeys(t *testing.T) {
	secret := bytes.Repeat([]byte{7}, 32)
	key := auth.Key{ID: "k1", Secret: secret}
	tok, _ := issue(t, newIssuer(t, key, "core"), "42")
	v := newVerifier(t, "core", []auth.Key{key})
	secret[0] = 8 // the caller reuses its slice
	if _, err := v.Verify(tok); err != nil {
		t.Errorf("Verify() after the caller changed its key slice = %v; want nil", err)
	}
}

func TestDeriveKey(t *testing.T) {
	a := deriveKey(t, testMaster, "core")
	if len(a.Secret) != 32 || len(a.ID) != 12 {
		t.Errorf("DeriveKey() = ID %q (%d chars), secret %d bytes; want 12 chars, 32 bytes", a.ID, len(a.ID), len(a.Secret))
	}
	if _, err := b64url.DecodeString(a.ID); err != nil {
		t.Errorf("DeriveKey() ID %q is not base64url: %v", a.ID, err)
	}
	if again := deriveKey(t, testMaster, "core"); again.ID != a.ID || !bytes.Equal(again.Secret, a.Secret) {
		t.Errorf("DeriveKey() twice = %v, %v; want the same key", a, again)
	}
	seen := map[string]string{a.ID: "core"}
	secrets := map[string]string{string(a.Secret): "core"}
	for _, dir := range []string{"tenant:1", "tenant:10", "tenant:1 ", "Core", "core\x00"} {
		k := deriveKey(t, testMaster, dir)
		if prev, dup := seen[k.ID]; dup {
			t.Errorf("DeriveKey(%q).ID = DeriveKey(%q).ID = %q; want different", dir, prev, k.ID)
		}
		if prev, dup := secrets[string(k.Secret)]; dup {
			t.Errorf("DeriveKey(%q) secret = DeriveKey(%q) secret; want different", dir, prev)
		}
		seen[k.ID], secrets[string(k.Secret)] = dir, dir
	}
	other := deriveKey(t, append(bytes.Clone(testMaster), '!'), "core")
	if other.ID == a.ID || bytes.Equal(other.Secret, a.Secret) {
		t.Errorf("DeriveKey(other master) = DeriveKey(master); want different")
	}
	if bytes.Contains(a.Secret, testMaster[:16]) {
		t.Errorf("DeriveKey() secret contains the master secret")
	}

	for _, tt := range []struct {
		name   string
		master []byte
		dir    string
	}{
		{"nil master", nil, "core"},
		{"short master", bytes.Repeat([]byte{1}, 31), "core"},
		{"empty directory", testMaster, ""},
	} {
		if k, err := auth.DeriveKey(tt.master, tt.dir); err == nil {
			t.Errorf("%s: DeriveKey() = %v, nil; want an error", tt.name, k)
		}
	}
	if _, err := auth.DeriveKey(bytes.Repeat([]byte{1}, 32), "core"); err != nil {
		t.Errorf("DeriveKey(32-byte master) error = %v; want nil", err)
	}
}

func TestKeyDoesNotPrintSecret(t *testing.T) {
	k := auth.Key{ID: "kid-1", Secret: []byte("super secret value that is 32 b!")}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("key", "key", k)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("key", "key", k)
	out := fmt.Sprintf("%v %+v %#v %s %v", k, k, k, k, []auth.Key{k}) + buf.String()
	for _, leak := range []string{"super secret", fmt.Sprint(k.Secret), base64.StdEncoding.EncodeToString(k.Secret)} {
		if strings.Contains(out, leak) {
			t.Errorf("formatted key %q contains its secret", out)
		}
	}
	if !strings.Contains(out, "kid-1") {
		t.Errorf("formatted key %q lacks its ID", out)
	}
}

func TestNewIssuerErrors(t *testing.T) {
	key := deriveKey(t, testMaster, "core")
	tests := []struct {
		name             string
		key              auth.Key
		issuer, audience string
		opts             []auth.IssuerOption
	}{
		{"short secret", auth.Key{ID: "k", Secret: make([]byte, 31)}, testIss, "core", nil},
		{"no secret", auth.Key{ID: "k"}, testIss, "core", nil},
		{"empty key ID", auth.Key{Secret: key.Secret}, testIss, "core", nil},
		{"key ID with space", auth.Key{ID: "a b", Secret: key.Secret}, testIss, "core", nil},
		{"key ID too long", auth.Key{ID: strings.Repeat("k", 65), Secret: key.Secret}, testIss, "core", nil},
		{"empty issuer", key, "", "core", nil},
		{"empty audience", key, testIss, "", nil},
		{"TTL 0", key, testIss, "core", []auth.IssuerOption{auth.WithTTL(0)}},
		{"TTL negative", key, testIss, "core", []auth.IssuerOption{auth.WithTTL(-time.Hour)}},
		{"TTL below a second", key, testIss, "core", []auth.IssuerOption{auth.WithTTL(time.Millisecond)}},
		{"TTL over a day", key, testIss, "core", []auth.IssuerOption{auth.WithTTL(25 * time.Hour)}},
		{"nil option", key, testIss, "core", []auth.IssuerOption{auth.WithTTL(time.Hour), nil}},
		{"public key only", publicOnly(t, edKey(t, make([]byte, 32))), testIss, "core", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if i, err := auth.NewIssuer(tt.issuer, tt.audience, tt.key, tt.opts...); !errors.Is(err, auth.ErrInvalidConfig) || i != nil {
				t.Errorf("NewIssuer() = %v, %v; want nil and an error wrapping ErrInvalidConfig", i, err)
			}
		})
	}
	i, err := auth.NewIssuer(testIss, "core", key)
	if err != nil || i.TTL() != time.Hour {
		t.Errorf("NewIssuer(defaults) = TTL %v, %v; want 1h, nil", i.TTL(), err)
	}
}

func TestNewVerifierErrors(t *testing.T) {
	key := deriveKey(t, testMaster, "core")
	tests := []struct {
		name             string
		issuer, audience string
		keys             []auth.Key
		opts             []auth.VerifierOption
	}{
		{"no keys", testIss, "core", nil, nil},
		{"short secret", testIss, "core", []auth.Key{{ID: "k", Secret: make([]byte, 16)}}, nil},
		{"empty key ID", testIss, "core", []auth.Key{{Secret: key.Secret}}, nil},
		{"duplicate key ID", testIss, "core", []auth.Key{key, {ID: key.ID, Secret: make([]byte, 32)}}, nil},
		{"empty issuer", "", "core", []auth.Key{key}, nil},
		{"empty audience", testIss, "", []auth.Key{key}, nil},
		{"negative leeway", testIss, "core", []auth.Key{key}, []auth.VerifierOption{auth.WithLeeway(-time.Second)}},
		{"huge leeway", testIss, "core", []auth.Key{key}, []auth.VerifierOption{auth.WithLeeway(time.Hour)}},
		{"nil option", testIss, "core", []auth.Key{key}, []auth.VerifierOption{auth.WithLeeway(0), nil}},
		{"negative cache", testIss, "core", []auth.Key{key}, []auth.VerifierOption{auth.WithCache(-1)}},
		{"huge cache", testIss, "core", []auth.Key{key}, []auth.VerifierOption{auth.WithCache(1<<20 + 1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if v, err := auth.NewVerifier(tt.issuer, tt.audience, tt.keys, tt.opts...); !errors.Is(err, auth.ErrInvalidConfig) || v != nil {
				t.Errorf("NewVerifier() = %v, %v; want nil and an error wrapping ErrInvalidConfig", v, err)
			}
		})
	}
}

func FuzzVerify(f *testing.F) {
	// A random key per run: tokens issued by earlier runs (in the fuzz
	// cache) must not verify.
	master := make([]byte, 32)
	rand.Read(master)
	key := deriveKey(f, master, "core")
	ed := auth.NewEd25519Key()
	issued := map[string]bool{}
	// One verifier with both kinds of key, as during a move from HS256 to
	// EdDSA: the widest surface for algorithm confusion.
	v := newVerifier(f, "core", []auth.Key{key, publicOnly(f, ed)})
	for _, i := range []*auth.Issuer{newIssuer(f, key, "core"), newIssuer(f, ed, "core")} {
		for _, sub := range []string{"1", "42", "user@example.com"} {
			tok, _ := issue(f, i, sub)
			issued[tok] = true
			f.Add(tok)
			s := segments(tok)
			f.Add(s[0] + "." + s[1] + ".")
			f.Add(s[0] + "." + s[1])
			f.Add(tok + "." + s[2])
			f.Add(nonCanonical(tok))
		}
	}
	pub := publicOnly(f, ed).Public
	eh := edHeader(ed.ID)
	c := claims("core")
	handMade := signEd(f, eh, c, ed.Private) // valid: signed by the key holder
	issued[handMade] = true
	f.Add(handMade)
	f.Add(sign(f, header(ed.ID), c, pub))                       // HS256 with the public key as secret
	f.Add(signEd(f, edHeader(key.ID), c, ed.Private))           // EdDSA naming the HMAC key
	f.Add(signEd(f, with(eh, "alg", "Ed25519"), c, ed.Private)) // RFC 9864 name
	attacker := auth.NewEd25519Key()
	attackerJWK := map[string]any{"kty": "OKP", "crv": "Ed25519", "x": b64url.EncodeToString(publicOnly(f, attacker).Public)}
	f.Add(signEd(f, with(eh, "jwk", attackerJWK), c, attacker.Private)) // the key it brings is never used
	f.Add(signEd(f, eh, with(c, "exp", nil), ed.Private))
	f.Add(join(append(segments(signEd(f, eh, c, ed.Private))[:2], b64url.EncodeToString(make([]byte, 64)))))
	f.Add("rt_" + strings.Repeat("A", 43))
	h := header(key.ID)
	f.Add(sign(f, with(h, "alg", "none"), c, nil))
	f.Add(sign(f, with(h, "alg", "HS512"), c, key.Secret))
	f.Add(sign(f, with(h, "alg", "RS256"), c, key.Secret))
	f.Add(sign(f, with(h, "kid", nil), c, key.Secret))
	f.Add(sign(f, h, with(c, "exp", "soon"), key.Secret))
	f.Add(sign(f, h, with(c, "aud", []any{1, nil}), key.Secret))
	f.Add("")
	f.Add("..")
	f.Add("e30.e30.")
	f.Add("eyJhbGciOiJIUzI1NiJ9.e30.")

	f.Fuzz(func(t *testing.T, token string) {
		c, err := v.Verify(token)
		if err != nil {
			if c != (auth.Claims{}) || !errors.Is(err, auth.ErrInvalidToken) {
				t.Fatalf("Verify() = %v, %v; want nil and an error wrapping ErrInvalidToken", c, err)
			}
			return
		}
		if !issued[token] {
			t.Fatalf("Verify(%q) accepted a token the issuer never issued: %+v", token, c)
		}
	})
}

// BenchmarkVerify measures token verification against a bare baseline:
// the HMAC-SHA256 check alone, which any verifier must do.
func BenchmarkVerify(b *testing.B) {
	key := deriveKey(b, testMaster, "core")
	tok, _ := issue(b, newIssuer(b, key, "core"), "42")
	cached := newVerifier(b, "core", []auth.Key{key})
	uncached := newVerifier(b, "core", []auth.Key{key}, auth.WithCache(0))
	b.Run("hmac-baseline", func(b *testing.B) {
		b.ReportAllocs()
		dot := strings.LastIndexByte(tok, '.')
		input, sig := []byte(tok[:dot]), tok[dot+1:]
		for b.Loop() {
			m := hmac.New(sha256.New, key.Secret)
			m.Write(input)
			want, err := b64url.DecodeString(sig)
			if err != nil || !hmac.Equal(m.Sum(nil), want) {
				b.Fatal("bad signature")
			}
		}
	})
	for _, bv := range []struct {
		name string
		v    *auth.Verifier
	}{{"uncached", uncached}, {"cached", cached}} {
		b.Run("verify-"+bv.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bv.v.Verify(tok); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("verify-"+bv.name+"-parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := bv.v.Verify(tok); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkVerifyEdDSA is BenchmarkVerify for an Ed25519 key, against the
// bare ed25519.Verify of the signature.
func BenchmarkVerifyEdDSA(b *testing.B) {
	ed := edKey(b, testSeed)
	tok, _ := issue(b, newIssuer(b, ed, "core"), "42")
	v := newVerifier(b, "core", []auth.Key{publicOnly(b, ed)})
	b.Run("ed25519-baseline", func(b *testing.B) {
		b.ReportAllocs()
		dot := strings.LastIndexByte(tok, '.')
		input, sig := []byte(tok[:dot]), tok[dot+1:]
		pub := publicOnly(b, ed).Public
		for b.Loop() {
			s, err := b64url.DecodeString(sig)
			if err != nil || !ed25519.Verify(pub, input, s) {
				b.Fatal("bad signature")
			}
		}
	})
	b.Run("verify", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.Verify(tok); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkIssue(b *testing.B) {
	for _, bc := range []struct {
		name string
		key  auth.Key
	}{
		{"hs256", deriveKey(b, testMaster, "core")},
		{"eddsa", edKey(b, testSeed)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			i := newIssuer(b, bc.key, "core")
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := i.Issue("42"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// must returns v, and panics if err is not nil: for constructors whose
// arguments a test knows to be valid.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
