package main

import (
	"fmt"
	"strconv"
	"time"

	"github.com/tenantkit/tenantkit/auth"
)

// tokenIssuer is the iss claim of every token this server makes.
const tokenIssuer = "tenantkit-server"

// Signing algorithms a server can be configured with.
const (
	algHS256 = "HS256"
	algEdDSA = "EdDSA"
)

// coreDirectory is the token directory (the audience) of the core users;
// each tenant's is tenantDirectory(id).
const coreDirectory = "core"

func tenantDirectory(tenantID string) string { return "tenant:" + tenantID }

// tokenService issues the access tokens of every user directory from one
// auth.Keyring: each directory has its own audience and keys, derived from
// the master secrets (the current one signs, all of them verify, so tokens
// signed before a rotation stay valid until their secret is retired).
type tokenService struct{ ring *auth.Keyring }

func newTokenService(masters [][]byte, alg string, ttl time.Duration) (*tokenService, error) {
	ring, err := auth.NewKeyring(tokenIssuer, masters, auth.WithAlgorithm(alg), auth.WithTTL(ttl))
	if err != nil {
		return nil, err
	}
	return &tokenService{ring: ring}, nil
}

// issue makes an access token of directory dir for user id, paired with
// refresh.
func (s *tokenService) issue(dir string, userID int64, refresh string) (Token, error) {
	tok, _, err := s.ring.Issue(dir, strconv.FormatInt(userID, 10))
	if err != nil {
		return Token{}, fmt.Errorf("issue token: %w", err)
	}
	return Token{AccessToken: tok, RefreshToken: refresh, ExpiresIn: s.ring.TTL()}, nil
}

// jwks returns the public keys of directory dir as a JWKS document; it
// lists no keys for HS256.
func (s *tokenService) jwks(dir string) ([]byte, error) {
	keys, err := s.ring.PublicKeys(dir)
	if err != nil {
		return nil, err
	}
	return auth.JWKS(keys...)
}

// forget drops a tenant's directory, for a deleted tenant.
func (s *tokenService) forget(tenantID string) { s.ring.Forget(tenantDirectory(tenantID)) }
