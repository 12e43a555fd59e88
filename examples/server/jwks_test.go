package main

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/tenantkit/tenantkit/auth"
)

// jwksKeys reads a JWKS document into verification keys.
func jwksKeys(t *testing.T, body []byte) []auth.Key {
	t.Helper()
	var doc struct {
		Keys []struct {
			Kty, Crv, X, Kid, Alg, Use string
		} `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("JWKS %s: %v", body, err)
	}
	var keys []auth.Key
	for _, k := range doc.Keys {
		if k.Kty != "OKP" || k.Crv != "Ed25519" || k.Alg != "EdDSA" || k.Use != "sig" || k.Kid == "" {
			t.Fatalf("JWKS key %+v: want an Ed25519 signing key with a kid", k)
		}
		x, err := base64.RawURLEncoding.DecodeString(k.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			t.Fatalf("JWKS key x %q: not an Ed25519 public key", k.X)
		}
		keys = append(keys, auth.Key{ID: k.Kid, Public: ed25519.PublicKey(x)})
	}
	return keys
}

// TestJWKSVerifiesEdDSATokens runs the server with EdDSA tokens: another
// service holding only the published keys verifies a directory's tokens,
// and a tenant's keys are its own.
func TestJWKSVerifiesEdDSATokens(t *testing.T) {
	cfg := sqliteConfig(t)
	cfg.jwtAlg = algEdDSA
	ts := startServer(t, cfg)
	owner := ts.coreUser(t, "owner@example.com")
	id, slug := ts.org(t, owner, "Signed Org")
	member := ts.tenantUser(t, id, "member@example.com")

	coreKeys := jwksKeys(t, expectStatus(t, ts, req{method: "GET", path: "/.well-known/jwks.json"}, http.StatusOK).body)
	tenantKeys := jwksKeys(t, expectStatus(t, ts, req{method: "GET", path: "/.well-known/jwks.json", tenant: slug}, http.StatusOK).body)
	if len(coreKeys) != 1 || len(tenantKeys) != 1 || coreKeys[0].ID == tenantKeys[0].ID {
		t.Fatalf("core keys %v, tenant keys %v: want one key each, different", coreKeys, tenantKeys)
	}

	coreV, err := auth.NewVerifier(tokenIssuer, "core", coreKeys)
	if err != nil {
		t.Fatal(err)
	}
	tenantV, err := auth.NewVerifier(tokenIssuer, "tenant:"+id, tenantKeys)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := coreV.Verify(owner); err != nil {
		t.Errorf("core token with the published core keys: %v", err)
	}
	if _, err := tenantV.Verify(member); err != nil {
		t.Errorf("tenant token with the published tenant keys: %v", err)
	}
	// Each directory's keys verify its own tokens only.
	crossV, err := auth.NewVerifier(tokenIssuer, "tenant:"+id, coreKeys)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := crossV.Verify(member); err == nil {
		t.Error("tenant token verified with the core directory's keys")
	}
	// The server itself accepts them.
	getMe(t, ts, id, member)
}

// TestJWKSEmptyForHS256: with HMAC tokens nothing is public.
func TestJWKSEmptyForHS256(t *testing.T) {
	ts := startServer(t, sqliteConfig(t))
	r := expectStatus(t, ts, req{method: "GET", path: "/.well-known/jwks.json"}, http.StatusOK)
	if keys := jwksKeys(t, r.body); len(keys) != 0 {
		t.Errorf("JWKS with HS256 lists %d keys; want none", len(keys))
	}
}
