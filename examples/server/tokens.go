package main

import (
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/tenantkit/tenantkit/auth"
)

// tokenIssuer is the iss claim of every token this server makes.
const tokenIssuer = "tenantkit-server"

// directory issues and verifies the access tokens of one user directory:
// its own audience and its own key, derived from the master secret.
type directory struct {
	issuer   *auth.Issuer
	verifier *auth.Verifier
	jwks     []byte // the public keys as a JWKS document; no keys for HS256
}

// Signing algorithms a server can be configured with.
const (
	algHS256 = "HS256"
	algEdDSA = "EdDSA"
)

// newDirectory derives the directory's keys from the master secrets: the
// first signs, all of them verify, so tokens signed before a rotation stay
// valid until their secret is retired.
func newDirectory(masters [][]byte, name, alg string, ttl time.Duration) (*directory, error) {
	keys, err := auth.DeriveKeys(masters, name)
	if err != nil {
		return nil, fmt.Errorf("derive keys for %s: %w", name, err)
	}
	var public []auth.PublicKey
	if alg == algEdDSA {
		// Each derived secret seeds the directory's Ed25519 key: still one
		// key per directory and master, and no key material to store.
		for i, k := range keys {
			if keys[i], err = auth.Ed25519KeyFromSeed(k.Secret); err != nil {
				return nil, fmt.Errorf("ed25519 key for %s: %w", name, err)
			}
			pk, _ := keys[i].PublicKey()
			public = append(public, pk)
		}
	}
	jwks, err := auth.JWKS(public...)
	if err != nil {
		return nil, err
	}
	iss, err := auth.NewIssuer(tokenIssuer, name, keys[0], auth.WithTTL(ttl))
	if err != nil {
		return nil, err
	}
	v, err := auth.NewVerifier(tokenIssuer, name, keys)
	if err != nil {
		return nil, err
	}
	return &directory{issuer: iss, verifier: v, jwks: jwks}, nil
}

// issue makes an access token for user id, paired with refresh.
func (d *directory) issue(userID int64, refresh string) (Token, error) {
	tok, _, err := d.issuer.Issue(strconv.FormatInt(userID, 10))
	if err != nil {
		return Token{}, fmt.Errorf("issue token: %w", err)
	}
	return Token{AccessToken: tok, RefreshToken: refresh, ExpiresIn: d.issuer.TTL()}, nil
}

// tokenService holds the core directory and, made on first use and kept,
// the directory of each tenant ("tenant:<id>").
type tokenService struct {
	masters [][]byte // the current secret first, then retiring ones
	alg     string   // algHS256 or algEdDSA
	ttl     time.Duration
	core    *directory
	tenants sync.Map // tenant id -> *directory
}

func newTokenService(masters [][]byte, alg string, ttl time.Duration) (*tokenService, error) {
	core, err := newDirectory(masters, "core", alg, ttl)
	if err != nil {
		return nil, err
	}
	return &tokenService{masters: masters, alg: alg, ttl: ttl, core: core}, nil
}

// tenant returns the directory of one tenant.
func (s *tokenService) tenant(tenantID string) (*directory, error) {
	if d, ok := s.tenants.Load(tenantID); ok {
		return d.(*directory), nil
	}
	d, err := newDirectory(s.masters, "tenant:"+tenantID, s.alg, s.ttl)
	if err != nil {
		return nil, err
	}
	actual, _ := s.tenants.LoadOrStore(tenantID, d)
	return actual.(*directory), nil
}

// forget drops a tenant's directory, for a deleted tenant.
func (s *tokenService) forget(tenantID string) { s.tenants.Delete(tenantID) }
