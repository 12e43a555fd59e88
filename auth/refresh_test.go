package auth_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/tenantkit/tenantkit/auth"
)

var (
	refreshPattern = regexp.MustCompile(`^rt_[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$`) // 256 bits: the last character carries 4
	hashPattern    = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

func newRefreshToken(t testing.TB) (string, string) {
	t.Helper()
	return auth.NewRefreshToken()
}

func TestNewRefreshToken(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		tok, hash := newRefreshToken(t)
		if !refreshPattern.MatchString(tok) {
			t.Fatalf("NewRefreshToken() token = %q; want %v", tok, refreshPattern)
		}
		if !hashPattern.MatchString(hash) {
			t.Fatalf("NewRefreshToken() hash = %q; want %v", hash, hashPattern)
		}
		sum := sha256.Sum256([]byte(tok))
		if want := hex.EncodeToString(sum[:]); hash != want {
			t.Errorf("NewRefreshToken() hash = %q; want hex SHA-256 of the token %q", hash, want)
		}
		got, err := auth.HashRefreshToken(tok)
		if err != nil || got != hash {
			t.Errorf("HashRefreshToken(new token) = %q, %v; want %q, nil", got, err, hash)
		}
		if seen[tok] || seen[hash] {
			t.Fatalf("NewRefreshToken() repeated %q", tok)
		}
		seen[tok], seen[hash] = true, true
		if strings.Contains(hash, tok[3:13]) {
			t.Errorf("hash %q contains part of the token", hash)
		}
	}
}

func TestHashRefreshTokenRefuses(t *testing.T) {
	tok, hash := newRefreshToken(t)
	body := tok[3:]
	key := deriveKey(t, testMaster, "core")
	access, _ := issue(t, newIssuer(t, key, "core"), "42")
	edAccess, _ := issue(t, newIssuer(t, edKey(t, testSeed), "core"), "42")
	tests := []struct{ name, token string }{
		{"empty", ""},
		{"prefix only", "rt_"},
		{"access token", access},
		{"EdDSA access token", edAccess},
		{"access token with the prefix", "rt_" + access},
		{"the stored hash", hash},
		{"the stored hash with the prefix", "rt_" + hash},
		{"no prefix", body},
		{"upper-case prefix", "RT_" + body},
		{"other prefix", "rf_" + body},
		{"prefix without underscore", "rtA" + body},
		{"prefix with hyphen", "rt-" + body},
		{"one character short", tok[:len(tok)-1]},
		{"one character long", tok + "A"},
		{"padded", tok + "="},
		{"std base64 plus", tok[:10] + "+" + tok[11:]},
		{"std base64 slash", tok[:10] + "/" + tok[11:]},
		{"dot", tok[:10] + "." + tok[11:]},
		{"space", tok[:10] + " " + tok[11:]},
		{"newline", tok[:10] + "\n" + tok[11:]},
		{"trailing newline", tok[:len(tok)-1] + "\n"},
		{"leading space", " " + tok[:len(tok)-1]},
		{"NUL", tok[:10] + "\x00" + tok[11:]},
		{"non-ASCII", tok[:10] + "é" + tok[12:]},
		{"non-canonical last character", tok[:len(tok)-1] + flipUnusedBits(tok[len(tok)-1])},
		{"bearer prefix", "Bearer " + tok},
		{"huge", "rt_" + strings.Repeat("A", 1<<16)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := auth.HashRefreshToken(tt.token)
			if got != "" || !errors.Is(err, auth.ErrInvalidToken) {
				t.Fatalf("HashRefreshToken() = %q, %v; want \"\" and ErrInvalidToken", got, err)
			}
			if len(tt.token) > 8 && strings.Contains(err.Error(), tt.token) {
				t.Errorf("HashRefreshToken() error %q quotes the token", err)
			}
		})
	}
}

// flipUnusedBits returns the base64url character c with its two unused
// low bits (as the last of 43 characters) set.
func flipUnusedBits(c byte) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	return string(alphabet[strings.IndexByte(alphabet, c)|3])
}

// TestRefreshTokenIsNeverAnAccessToken: every verifier refuses a refresh
// token, before parsing it.
func TestRefreshTokenIsNeverAnAccessToken(t *testing.T) {
	hm := deriveKey(t, testMaster, "core")
	ed := edKey(t, testSeed)
	tok, _ := newRefreshToken(t)
	for name, v := range map[string]*auth.Verifier{
		"hmac":    newVerifier(t, "core", []auth.Key{hm}),
		"ed25519": newVerifier(t, "core", []auth.Key{publicOnly(t, ed)}),
	} {
		for _, token := range []string{tok, tok + "." + tok + "." + tok, "rt_." + segments(sign(t, header(hm.ID), claims("core"), hm.Secret))[1] + ".x"} {
			c, err := v.Verify(token)
			if c != (auth.Claims{}) || !errors.Is(err, auth.ErrInvalidToken) {
				t.Errorf("%s: Verify(refresh token) = %+v, %v; want nil and ErrInvalidToken", name, c, err)
			}
			if err != nil && !strings.Contains(err.Error(), "refresh") {
				t.Errorf("%s: Verify(refresh token) error %q; want it refused as a refresh token, before parsing", name, err)
			}
		}
	}
	w := serve(must(auth.RequireToken(newVerifier(t, "core", []auth.Key{hm})))(echoSubject), "Bearer "+tok)
	if w.Code != 401 {
		t.Errorf("RequireToken(refresh token) status = %d; want 401", w.Code)
	}
}

func FuzzHashRefreshToken(f *testing.F) {
	tok, hash := auth.NewRefreshToken()
	key := deriveKey(f, testMaster, "core")
	access, _ := issue(f, newIssuer(f, key, "core"), "42")
	v := newVerifier(f, "core", []auth.Key{key})
	for _, s := range []string{
		tok, hash, access, "", "rt_", "rt_" + strings.Repeat("A", 43), "rt_" + strings.Repeat("_", 43),
		"rt_" + strings.Repeat("A", 42) + "B", tok + "=", tok[:len(tok)-1], "RT_" + tok[3:],
		tok[:20] + "\n" + tok[21:], "rt_" + access,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		got, err := auth.HashRefreshToken(token)
		if err != nil {
			if got != "" || !errors.Is(err, auth.ErrInvalidToken) {
				t.Fatalf("HashRefreshToken() = %q, %v; want \"\" and ErrInvalidToken", got, err)
			}
			return
		}
		// Accepted: exactly one spelling of 256 bits, and its SHA-256.
		if !refreshPattern.MatchString(token) {
			t.Fatalf("HashRefreshToken(%q) accepted a token not matching %v", token, refreshPattern)
		}
		raw, derr := b64url.Strict().DecodeString(token[3:])
		if derr != nil || len(raw) != 32 || "rt_"+b64url.EncodeToString(raw) != token {
			t.Fatalf("HashRefreshToken(%q) accepted a non-canonical token", token)
		}
		sum := sha256.Sum256([]byte(token))
		if got != hex.EncodeToString(sum[:]) {
			t.Fatalf("HashRefreshToken(%q) = %q; want its hex SHA-256", token, got)
		}
		// A refresh token is never an access token.
		if c, err := v.Verify(token); c != (auth.Claims{}) || !errors.Is(err, auth.ErrInvalidToken) {
			t.Fatalf("Verify(refresh token %q) = %+v, %v; want ErrInvalidToken", token, c, err)
		}
	})
}

func BenchmarkRefreshToken(b *testing.B) {
	tok, _ := newRefreshToken(b)
	b.Run("new", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			auth.NewRefreshToken()
		}
	})
	b.Run("hash", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := auth.HashRefreshToken(tok); err != nil {
				b.Fatal(err)
			}
		}
	})
}
