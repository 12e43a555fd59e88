package auth

import (
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base64"
	"errors"
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

// Key is an HMAC-SHA256 token signing key. ID is sent in the `kid` header of
// every token it signs, and lets a [Verifier] holding several keys (during a
// rotation) pick the right one. Secret must be at least 32 bytes, from
// crypto/rand or [DeriveKey].
//
// Key's String, GoString and LogValue methods print the ID only, so a Key
// that reaches a log or an error message does not leak its secret.
type Key struct {
	ID     string
	Secret []byte
}

// String returns a description of k that omits the secret.
func (k Key) String() string { return fmt.Sprintf("auth.Key{ID: %q}", k.ID) }

// GoString is String, for the %#v verb.
func (k Key) GoString() string { return k.String() }

// LogValue logs the ID only.
func (k Key) LogValue() slog.Value { return slog.GroupValue(slog.String("id", k.ID)) }

// validate reports a key that may not sign or verify tokens.
func (k Key) validate() error {
	if k.ID == "" || len(k.ID) > maxKeyIDLen {
		return fmt.Errorf("auth: key ID must be 1 to %d bytes", maxKeyIDLen)
	}
	for i := 0; i < len(k.ID); i++ {
		if c := k.ID[i]; c < 0x21 || c > 0x7e {
			return errors.New("auth: key ID must be printable ASCII without spaces")
		}
	}
	if len(k.Secret) < minSecretLen {
		return fmt.Errorf("auth: key %q: secret must be at least %d bytes", k.ID, minSecretLen)
	}
	return nil
}

// DeriveKey derives the token signing key of one user directory (for
// example "core", or "tenant:42") from a master secret of at least 32
// bytes, with HKDF-SHA256 whose info is bound to the directory name.
// Each directory gets an unrelated 32-byte key, so a token signed for one
// directory never verifies in another, whatever its claims say. The same
// master and directory always give the same key.
//
// Key.ID is the unpadded base64url form of the first 9 bytes of SHA-256 of
// the derived key (12 characters): stable, and no help in recovering the
// key or the master secret.
func DeriveKey(master []byte, directory string) (Key, error) {
	if len(master) < minSecretLen {
		return Key{}, fmt.Errorf("auth: DeriveKey: master secret must be at least %d bytes, got %d", minSecretLen, len(master))
	}
	if directory == "" {
		return Key{}, errors.New("auth: DeriveKey: empty directory name")
	}
	secret, err := hkdf.Key(sha256.New, master, nil, deriveInfo+directory, 32)
	if err != nil {
		return Key{}, fmt.Errorf("auth: DeriveKey: %v", err)
	}
	sum := sha256.Sum256(secret)
	return Key{ID: base64.RawURLEncoding.EncodeToString(sum[:9]), Secret: secret}, nil
}
