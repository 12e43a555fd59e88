package auth

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
)

// PublicKey is the public half of an Ed25519 token key, as published in a
// JWK Set: what a service needs to verify EdDSA tokens, and nothing that
// lets it sign them. Get one from [Key.PublicKey]. To verify with it, pass
// Key{ID: p.ID, Public: p.Key} to [NewVerifier].
type PublicKey struct {
	ID  string            // the key's kid
	Key ed25519.PublicKey // 32 bytes
}

// jwk is one Ed25519 JSON Web Key (RFC 7517, RFC 8037).
type jwk struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
}

// JWKS returns the JSON Web Key Set (RFC 7517) of keys, to serve as
// application/json at /.well-known/jwks.json so that other services can
// verify EdDSA tokens without holding any secret:
//
//	{"keys":[{"kty":"OKP","crv":"Ed25519","x":"...","kid":"...","alg":"EdDSA","use":"sig"}]}
//
// Publish the current key and every previous key still accepted, and drop
// a key from the set when it is retired. HMAC keys have no public half and
// cannot be passed here (see [Key.PublicKey]). With no keys, the set is
// empty: {"keys":[]}. It returns an error if a key's ID is invalid (see
// [Key]), a key is not 32 bytes, or two keys share an ID.
func JWKS(keys ...PublicKey) ([]byte, error) {
	set := struct {
		Keys []jwk `json:"keys"`
	}{Keys: make([]jwk, 0, len(keys))}
	seen := make(map[string]bool, len(keys))
	for _, k := range keys {
		if err := validateKeyID(k.ID); err != nil {
			return nil, fmt.Errorf("auth: JWKS: %v", err)
		}
		if len(k.Key) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("auth: JWKS: key %q: Ed25519 public key must be %d bytes", k.ID, ed25519.PublicKeySize)
		}
		if seen[k.ID] {
			return nil, fmt.Errorf("auth: JWKS: two keys with ID %q", k.ID)
		}
		seen[k.ID] = true
		set.Keys = append(set.Keys, jwk{
			Kty: "OKP",
			Crv: "Ed25519",
			X:   base64.RawURLEncoding.EncodeToString(k.Key),
			Kid: k.ID,
			Alg: algEdDSA,
			Use: "sig",
		})
	}
	b, err := json.Marshal(set)
	if err != nil { // plain strings only: cannot happen
		return nil, fmt.Errorf("auth: JWKS: %v", err)
	}
	return b, nil
}
