package auth

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"log/slog"
)

// minSecretLen is the least number of bytes of a master secret or a token
// signing key: 256 bits, the output size of HMAC-SHA256.
const minSecretLen = 32

// maxKeyIDLen bounds Key.ID, which travels in every token header.
const maxKeyIDLen = 64

// deriveInfo prefixes the directory name in the HKDF info, separating these
// keys from anything else the application derives from the same master.
const deriveInfo = "tenantkit auth token signing key v1\x00"

// The algorithms a Key can be for, as named in the JWS "alg" header.
const (
	algHS256 = "HS256"
	algEdDSA = "EdDSA"
)

// Key is a token key of one of two kinds, told apart by which fields are
// set; the kind fixes the algorithm, whatever a token's header says.
//
//   - HMAC-SHA256 ("HS256"): Secret, at least 32 bytes, from crypto/rand or
//     [DeriveKey] / [DeriveKeys]. It signs and verifies. This is the
//     default kind: code written before Ed25519 keys existed sets only ID
//     and Secret.
//   - Ed25519 ("EdDSA"): Private, from [NewEd25519Key] or
//     [Ed25519KeyFromSeed], signs and verifies; Public alone only verifies.
//     A service that checks tokens but never issues them holds Public keys
//     only (see [Key.PublicKey] and [JWKS]). If both are set, Public must
//     be Private's public key.
//
// A Key with Secret and an Ed25519 field set, or with neither, is refused
// by [NewIssuer] and [NewVerifier].
//
// ID is sent in the `kid` header of every token the key signs, and lets a
// [Verifier] holding several keys (during a rotation) pick the right one;
// it must be 1 to 64 printable ASCII characters without spaces. The
// verifier checks a token with the algorithm of the key its kid names:
// an HS256 token naming an Ed25519 key is refused (so the public key can
// never serve as an HMAC secret), and so is an EdDSA token naming an HMAC
// key.
//
// Key's String, GoString, Format and LogValue methods print the ID only,
// so a Key that reaches a log or an error message does not leak its secret
// or private key, whatever the formatting verb.
type Key struct {
	ID      string
	Secret  []byte             // HMAC-SHA256 secret
	Private ed25519.PrivateKey // Ed25519 private key: signs and verifies
	Public  ed25519.PublicKey  // Ed25519 public key: verifies only
}

// String returns a description of k that omits the secret.
func (k Key) String() string { return fmt.Sprintf("auth.Key{ID: %q}", k.ID) }

// GoString is String, for the %#v verb.
func (k Key) GoString() string { return k.String() }

// Format writes String for every verb, so that no verb (%d or %x
// included) prints the key material.
func (k Key) Format(f fmt.State, verb rune) { fmt.Fprint(f, k.String()) }

// LogValue logs the ID only.
func (k Key) LogValue() slog.Value { return slog.GroupValue(slog.String("id", k.ID)) }

// Alg returns the JWS algorithm k signs and verifies with: "HS256" for an
// HMAC key, "EdDSA" for an Ed25519 key, or "" if k is of neither kind or
// of both.
func (k Key) Alg() string {
	hmacKey := len(k.Secret) > 0
	edKey := len(k.Private) > 0 || len(k.Public) > 0
	switch {
	case hmacKey && !edKey:
		return algHS256
	case edKey && !hmacKey:
		return algEdDSA
	}
	return ""
}

// PublicKey returns the public half of an Ed25519 key, to publish (see
// [JWKS]) or to give to a service that only verifies. It returns false for
// an HMAC key, which has no public half: its secret must never be
// published.
func (k Key) PublicKey() (PublicKey, bool) {
	if k.Alg() != algEdDSA {
		return PublicKey{}, false
	}
	pub := k.Public
	if len(k.Private) == ed25519.PrivateKeySize {
		pub = k.Private.Public().(ed25519.PublicKey)
	}
	return PublicKey{ID: k.ID, Key: append(ed25519.PublicKey(nil), pub...)}, true
}

// validate reports a key that may not sign or verify tokens.
func (k Key) validate() error {
	if err := validateKeyID(k.ID); err != nil {
		return err
	}
	switch k.Alg() {
	case algHS256:
		if len(k.Secret) < minSecretLen {
			return configErrorf("auth: key %q: secret must be at least %d bytes", k.ID, minSecretLen)
		}
	case algEdDSA:
		if len(k.Private) > 0 {
			if len(k.Private) != ed25519.PrivateKeySize {
				return configErrorf("auth: key %q: Ed25519 private key must be %d bytes", k.ID, ed25519.PrivateKeySize)
			}
			// The second half of a private key is its public key; a
			// mismatch would sign tokens no one can verify.
			full := ed25519.NewKeyFromSeed(k.Private.Seed())
			if subtle.ConstantTimeCompare(full, k.Private) != 1 {
				return configErrorf("auth: key %q: malformed Ed25519 private key", k.ID)
			}
			if len(k.Public) > 0 && !k.Public.Equal(full.Public()) {
				return configErrorf("auth: key %q: Public is not the public key of Private", k.ID)
			}
			return nil
		}
		if len(k.Public) != ed25519.PublicKeySize {
			return configErrorf("auth: key %q: Ed25519 public key must be %d bytes", k.ID, ed25519.PublicKeySize)
		}
	case "":
		if len(k.Secret) > 0 {
			return configErrorf("auth: key %q: set Secret (HMAC) or Private/Public (Ed25519), not both", k.ID)
		}
		return configErrorf("auth: key %q: secret must be at least %d bytes", k.ID, minSecretLen)
	}
	return nil
}

// validateKeyID reports an ID that may not travel as a kid.
func validateKeyID(id string) error {
	if id == "" || len(id) > maxKeyIDLen {
		return configErrorf("auth: key ID must be 1 to %d bytes", maxKeyIDLen)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < 0x21 || c > 0x7e {
			return configErrorf("auth: key ID must be printable ASCII without spaces")
		}
	}
	return nil
}

// DeriveKey derives the token signing key of one user directory (for
// example "core", or "tenant:42") from a master secret of at least 32
// bytes, with HKDF-SHA256 whose info is bound to the directory name.
// Each directory gets an unrelated 32-byte HMAC key, so a token signed for
// one directory never verifies in another, whatever its claims say. The
// same master and directory always give the same key.
//
// Key.ID is the unpadded base64url form of the first 9 bytes of SHA-256 of
// the derived key (12 characters): stable, different for every master and
// directory, and no help in recovering the key or the master secret.
func DeriveKey(master []byte, directory string) (Key, error) {
	if len(master) < minSecretLen {
		return Key{}, configErrorf("auth: DeriveKey: master secret must be at least %d bytes, got %d", minSecretLen, len(master))
	}
	if directory == "" {
		return Key{}, configErrorf("auth: DeriveKey: empty directory name")
	}
	secret, err := hkdf.Key(sha256.New, master, nil, deriveInfo+directory, 32)
	if err != nil {
		return Key{}, fmt.Errorf("auth: DeriveKey: %v", err)
	}
	sum := sha256.Sum256(secret)
	return Key{ID: base64.RawURLEncoding.EncodeToString(sum[:9]), Secret: secret}, nil
}

// DeriveKeys derives the keys of one user directory from each of several
// master secrets, for key rotation by configuration: masters[0] is the
// current master, and keys[0] (derived from it) is the key to sign with;
// the others are previous masters, still accepted until they are removed
// from the configuration. Give all the keys to [NewVerifier] and keys[0]
// to [NewIssuer]:
//
//	// JWT_SECRET=new, JWT_PREVIOUS_SECRETS=old1,old2
//	keys, err := auth.DeriveKeys([][]byte{newMaster, old1, old2}, "tenant:42")
//	issuer, err := auth.NewIssuer("my-service", "tenant:42", keys[0])
//	verifier, err := auth.NewVerifier("my-service", "tenant:42", keys)
//
// Tokens signed under any listed master verify; once a master is dropped
// from the list, tokens signed under it do not (rotate by adding the new
// master in front, then removing the old one after at least the access
// token TTL). Each key is [DeriveKey] of its master, so key IDs differ
// between masters and between directories. It returns an error if masters
// is empty, any master is shorter than 32 bytes, directory is empty, or
// two masters are the same secret.
func DeriveKeys(masters [][]byte, directory string) ([]Key, error) {
	if len(masters) == 0 {
		return nil, configErrorf("auth: DeriveKeys: no master secrets")
	}
	keys := make([]Key, 0, len(masters))
	for i, m := range masters {
		k, err := DeriveKey(m, directory)
		if err != nil {
			return nil, configErrorf("auth: DeriveKeys: master %d: %v", i, err)
		}
		for j, prev := range keys {
			if prev.ID == k.ID {
				return nil, configErrorf("auth: DeriveKeys: masters %d and %d are the same secret", j, i)
			}
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// NewEd25519Key returns a new random Ed25519 key (from crypto/rand), to
// sign tokens with EdDSA. Its ID is the key's RFC 7638 JWK thumbprint (43
// base64url characters). Keep Private.Seed() (32 bytes) in your secret
// store and rebuild the key with [Ed25519KeyFromSeed]. It cannot fail:
// crypto/rand does not (Go 1.24+), so it returns no error.
func NewEd25519Key() Key {
	return ed25519Key(ed25519.NewKeyFromSeed(randomBytes(ed25519.SeedSize)))
}

// Ed25519KeyFromSeed returns the Ed25519 key of a 32-byte seed (RFC 8032's
// private key), with the ID [NewEd25519Key] gives. The same seed always
// gives the same key and ID. The seed must come from crypto/rand.
func Ed25519KeyFromSeed(seed []byte) (Key, error) {
	if len(seed) != ed25519.SeedSize {
		return Key{}, configErrorf("auth: Ed25519KeyFromSeed: seed must be %d bytes, got %d", ed25519.SeedSize, len(seed))
	}
	return ed25519Key(ed25519.NewKeyFromSeed(seed)), nil
}

func ed25519Key(priv ed25519.PrivateKey) Key {
	return Key{ID: thumbprint(priv.Public().(ed25519.PublicKey)), Private: priv}
}

// thumbprint returns the RFC 7638 thumbprint of an Ed25519 public key: the
// base64url SHA-256 of its canonical JWK (RFC 8037 section 2).
func thumbprint(pub ed25519.PublicKey) string {
	sum := sha256.Sum256([]byte(`{"crv":"Ed25519","kty":"OKP","x":"` + base64.RawURLEncoding.EncodeToString(pub) + `"}`))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
