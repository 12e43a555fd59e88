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
}

func newDirectory(master []byte, name string, ttl time.Duration) (*directory, error) {
	key, err := auth.DeriveKey(master, name)
	if err != nil {
		return nil, fmt.Errorf("derive key for %s: %w", name, err)
	}
	iss, err := auth.NewIssuer(key, tokenIssuer, name, auth.WithTTL(ttl))
	if err != nil {
		return nil, err
	}
	v, err := auth.NewVerifier(tokenIssuer, name, []auth.Key{key})
	if err != nil {
		return nil, err
	}
	return &directory{issuer: iss, verifier: v}, nil
}

// issue makes an access token for user id.
func (d *directory) issue(userID int64) (Token, error) {
	tok, _, err := d.issuer.Issue(strconv.FormatInt(userID, 10))
	if err != nil {
		return Token{}, fmt.Errorf("issue token: %w", err)
	}
	return Token{AccessToken: tok, ExpiresIn: d.issuer.TTL()}, nil
}

// tokenService holds the core directory and, made on first use and kept,
// the directory of each tenant ("tenant:<id>").
type tokenService struct {
	master  []byte
	ttl     time.Duration
	core    *directory
	tenants sync.Map // tenant id -> *directory
}

func newTokenService(master []byte, ttl time.Duration) (*tokenService, error) {
	core, err := newDirectory(master, "core", ttl)
	if err != nil {
		return nil, err
	}
	return &tokenService{master: master, ttl: ttl, core: core}, nil
}

// tenant returns the directory of one tenant.
func (s *tokenService) tenant(tenantID string) (*directory, error) {
	if d, ok := s.tenants.Load(tenantID); ok {
		return d.(*directory), nil
	}
	d, err := newDirectory(s.master, "tenant:"+tenantID, s.ttl)
	if err != nil {
		return nil, err
	}
	actual, _ := s.tenants.LoadOrStore(tenantID, d)
	return actual.(*directory), nil
}

// forget drops a tenant's directory, for a deleted tenant.
func (s *tokenService) forget(tenantID string) { s.tenants.Delete(tenantID) }
