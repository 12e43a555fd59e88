package auth_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tenantkit/tenantkit/auth"
)

// signEd builds a compact JWS by hand with an Ed25519 signature by priv,
// whatever the header says.
func signEd(t testing.TB, header, claims map[string]any, priv ed25519.PrivateKey) string {
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
	return input + "." + b64url.EncodeToString(ed25519.Sign(priv, []byte(input)))
}

func edHeader(kid string) map[string]any {
	return map[string]any{"alg": "EdDSA", "typ": "JWT", "kid": kid}
}

func TestEdDSAIssueVerify(t *testing.T) {
	ed := edKey(t, testSeed)
	tok, c := issue(t, newIssuer(t, ed, "core"), "user-7")
	raw, err := b64url.DecodeString(segments(tok)[0])
	if err != nil {
		t.Fatalf("header: %v", err)
	}
	var hdr map[string]any
	if err := json.Unmarshal(raw, &hdr); err != nil {
		t.Fatalf("header: %v", err)
	}
	if hdr["alg"] != "EdDSA" || hdr["kid"] != ed.ID {
		t.Errorf("header = %v; want alg EdDSA and kid %q", hdr, ed.ID)
	}
	if sig, _ := b64url.DecodeString(segments(tok)[2]); len(sig) != ed25519.SignatureSize {
		t.Errorf("signature = %d bytes; want %d", len(sig), ed25519.SignatureSize)
	}
	// Verifiable with the private key, the public key, or the public key
	// as published.
	for name, key := range map[string]auth.Key{"private": ed, "public": publicOnly(t, ed)} {
		got, err := newVerifier(t, "core", []auth.Key{key}).Verify(tok)
		if err != nil {
			t.Fatalf("Verify() with the %s key = %v; want nil", name, err)
		}
		if !claimsEqual(got, c) {
			t.Errorf("Verify() with the %s key = %+v; want %+v", name, got, c)
		}
	}
	// Hand-made tokens verify too: nothing depends on the issuer.
	if _, err := newVerifier(t, "core", []auth.Key{publicOnly(t, ed)}).Verify(signEd(t, edHeader(ed.ID), claims("core"), ed.Private)); err != nil {
		t.Errorf("Verify(hand-made EdDSA token) = %v; want nil", err)
	}
}

// TestAlgorithmPinnedPerKey tries algorithm confusion both ways: the
// algorithm is the key's (found by kid), never the token header's.
func TestAlgorithmPinnedPerKey(t *testing.T) {
	ed := edKey(t, testSeed)
	pub := publicOnly(t, ed)
	attacker := edKey(t, bytes.Repeat([]byte{0xa7}, 32))
	hm := deriveKey(t, testMaster, "core")
	c := claims("core")
	pubJWK := map[string]any{"kty": "OKP", "crv": "Ed25519", "x": b64url.EncodeToString(attacker.Private.Public().(ed25519.PublicKey))}

	verifiers := map[string]*auth.Verifier{
		"ed25519 public only": newVerifier(t, "core", []auth.Key{pub}),
		"ed25519 private":     newVerifier(t, "core", []auth.Key{ed}),
		"ed25519 and hmac":    newVerifier(t, "core", []auth.Key{pub, hm}),
		"hmac only":           newVerifier(t, "core", []auth.Key{hm}),
	}
	tests := []struct {
		name  string
		token string
	}{
		// HS256 tokens naming the Ed25519 key, "signed" with what an
		// attacker can find: the public key (from the JWKS), its base64url
		// form, or a guess at the private key.
		{"HS256 with the public key as secret", sign(t, header(ed.ID), c, pub.Public)},
		{"HS256 with the public key's x as secret", sign(t, header(ed.ID), c, []byte(b64url.EncodeToString(pub.Public)))},
		{"HS256 with the JWK as secret", sign(t, header(ed.ID), c, []byte(`{"crv":"Ed25519","kty":"OKP","x":"`+b64url.EncodeToString(pub.Public)+`"}`))},
		{"HS256 with the private key as secret", sign(t, header(ed.ID), c, ed.Private)},
		{"HS256 with the seed as secret", sign(t, header(ed.ID), c, ed.Private.Seed())},
		{"HS384 with the public key as secret", sign(t, with(header(ed.ID), "alg", "HS384"), c, pub.Public)},
		{"HS512 with the public key as secret", sign(t, with(header(ed.ID), "alg", "HS512"), c, pub.Public)},
		// EdDSA tokens naming the HMAC key.
		{"EdDSA naming the HMAC key, signed by another key", signEd(t, edHeader(hm.ID), c, attacker.Private)},
		{"EdDSA naming the HMAC key, seeded by its secret", signEd(t, edHeader(hm.ID), c, ed25519.NewKeyFromSeed(hm.Secret))},
		{"EdDSA naming the HMAC key, HMAC signature", sign(t, edHeader(hm.ID), c, hm.Secret)},
		// EdDSA tokens not signed by the key they name.
		{"EdDSA signed by another key", signEd(t, edHeader(ed.ID), c, attacker.Private)},
		{"EdDSA with the attacker's key embedded as jwk", signEd(t, with(edHeader(ed.ID), "jwk", pubJWK), c, attacker.Private)},
		{"EdDSA naming the attacker's key, embedded as jwk", signEd(t, with(edHeader(attacker.ID), "jwk", pubJWK), c, attacker.Private)},
		{"EdDSA with a jku", signEd(t, with(edHeader(attacker.ID), "jku", "https://attacker.example/jwks.json"), c, attacker.Private)},
		{"EdDSA signature zero", join(append(segments(signEd(t, edHeader(ed.ID), c, ed.Private))[:2], b64url.EncodeToString(make([]byte, 64))))},
		{"EdDSA signature short", join(append(segments(signEd(t, edHeader(ed.ID), c, ed.Private))[:2], segments(signEd(t, edHeader(ed.ID), c, ed.Private))[2][:84]))},
		{"EdDSA signature empty", join(append(segments(signEd(t, edHeader(ed.ID), c, ed.Private))[:2], ""))},
		{"EdDSA claims tampered", reencode(t, signEd(t, edHeader(ed.ID), c, ed.Private), func(m map[string]any) { m["sub"] = "1" })},
		{"EdDSA expired", signEd(t, edHeader(ed.ID), with(c, "exp", testNow.Add(-time.Hour).Unix()), ed.Private)},
		// Other spellings of the algorithm.
		{"alg Ed25519 (RFC 9864)", signEd(t, with(edHeader(ed.ID), "alg", "Ed25519"), c, ed.Private)},
		{"alg eddsa", signEd(t, with(edHeader(ed.ID), "alg", "eddsa"), c, ed.Private)},
		{"alg ES256", signEd(t, with(edHeader(ed.ID), "alg", "ES256"), c, ed.Private)},
		{"alg none naming the Ed25519 key", sign(t, with(edHeader(ed.ID), "alg", "none"), c, nil)},
		{"EdDSA without kid", signEd(t, with(edHeader(ed.ID), "kid", nil), c, ed.Private)},
		{"EdDSA with crit", signEd(t, with(edHeader(ed.ID), "crit", []string{"b64"}, "b64", false), c, ed.Private)},
	}
	for vname, v := range verifiers {
		for _, tt := range tests {
			t.Run(vname+"/"+tt.name, func(t *testing.T) {
				got, err := v.Verify(tt.token)
				if got != (auth.Claims{}) || !errors.Is(err, auth.ErrInvalidToken) {
					t.Fatalf("Verify() = %+v, %v; want nil and ErrInvalidToken", got, err)
				}
			})
		}
	}
	// The controls: each kind verifies with its own algorithm.
	if _, err := verifiers["ed25519 and hmac"].Verify(signEd(t, edHeader(ed.ID), c, ed.Private)); err != nil {
		t.Errorf("Verify(EdDSA token, mixed verifier) = %v; want nil", err)
	}
	if _, err := verifiers["ed25519 and hmac"].Verify(sign(t, header(hm.ID), c, hm.Secret)); err != nil {
		t.Errorf("Verify(HS256 token, mixed verifier) = %v; want nil", err)
	}
	if _, err := verifiers["hmac only"].Verify(signEd(t, edHeader(ed.ID), c, ed.Private)); !errors.Is(err, auth.ErrInvalidToken) {
		t.Errorf("Verify(EdDSA token, HMAC-only verifier) = %v; want ErrInvalidToken", err)
	}
}

// TestEdDSADirectoryIsolation: a token of one directory's Ed25519 key does
// not verify in another directory, even one that trusts the same key.
func TestEdDSADirectoryIsolation(t *testing.T) {
	a := edKey(t, testSeed)
	b := edKey(t, bytes.Repeat([]byte{7}, 32))
	tokA, _ := issue(t, newIssuer(t, a, "tenant:1"), "1")
	tests := []struct {
		name     string
		audience string
		keys     []auth.Key
		wantOK   bool
	}{
		{"own directory", "tenant:1", []auth.Key{publicOnly(t, a)}, true},
		{"other directory's key", "tenant:2", []auth.Key{publicOnly(t, b)}, false},
		{"own audience, other key", "tenant:1", []auth.Key{publicOnly(t, b)}, false},
		{"own key, other audience", "tenant:2", []auth.Key{publicOnly(t, a)}, false},
		{"own kid, other public key", "tenant:1", []auth.Key{{ID: a.ID, Public: publicOnly(t, b).Public}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := newVerifier(t, tt.audience, tt.keys).Verify(tokA)
			if (err == nil) != tt.wantOK || (err != nil && !errors.Is(err, auth.ErrInvalidToken)) {
				t.Errorf("Verify() = %v; want accepted %v", err, tt.wantOK)
			}
		})
	}
}

func TestVerifierOwnsEd25519Keys(t *testing.T) {
	ed := edKey(t, testSeed)
	priv := bytes.Clone(ed.Private)
	key := auth.Key{ID: ed.ID, Private: priv}
	i := newIssuer(t, key, "core")
	v := newVerifier(t, "core", []auth.Key{key})
	clear(priv) // the caller wipes its copy
	tok, _ := issue(t, i, "42")
	if _, err := v.Verify(tok); err != nil {
		t.Errorf("Verify() after the caller wiped its key = %v; want nil", err)
	}
	if !strings.HasPrefix(tok, "ey") {
		t.Errorf("Issue() = %q; want a JWS", tok)
	}
}
