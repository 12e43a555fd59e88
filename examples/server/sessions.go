package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/tenantkit/tenantkit/auth"
)

// Refresh token lifetimes: a token unused this long expires, and a family
// (a login and every token refreshed from it) ends this long after the
// login, however active.
const (
	refreshIdleTTL     = 14 * 24 * time.Hour
	refreshAbsoluteTTL = 60 * 24 * time.Hour
)

// RefreshToken is the stored form of a refresh token: only its hash.
type RefreshToken struct {
	Hash           string
	FamilyID       string
	UserID         int64
	CreatedUS      int64
	IdleExpiresUS  int64
	FamilyExpireUS int64
	UsedUS         int64 // 0 until it is refreshed
	RevokedUS      int64 // 0 unless its family was revoked
}

// RefreshStore keeps the refresh tokens of one user directory.
type RefreshStore interface {
	CreateRefresh(ctx context.Context, t RefreshToken) error
	RefreshByHash(ctx context.Context, hash string) (RefreshToken, error) // ErrNotFound
	// UseRefresh marks a token spent at us; false if it already was.
	UseRefresh(ctx context.Context, hash string, us int64) (bool, error)
	RevokeFamily(ctx context.Context, familyID string, us int64) error
	RevokeUser(ctx context.Context, userID int64, us int64) error
}

// sessions issues, rotates and ends refresh tokens.
type sessions struct {
	now func() time.Time
}

// start begins a new family for userID and returns its first token.
func (s sessions) start(ctx context.Context, st RefreshStore, userID int64) (string, error) {
	var fam [16]byte
	_, _ = rand.Read(fam[:]) // crypto/rand.Read never fails
	t := now(s.now)
	return s.issue(ctx, st, RefreshToken{
		FamilyID:       hex.EncodeToString(fam[:]),
		UserID:         userID,
		FamilyExpireUS: t.Add(refreshAbsoluteTTL).UnixMicro(),
	}, t)
}

// issue stores a new token of family tmpl.FamilyID and returns it.
func (s sessions) issue(ctx context.Context, st RefreshStore, tmpl RefreshToken, t time.Time) (string, error) {
	token, hash, err := auth.NewRefreshToken()
	if err != nil {
		return "", err
	}
	tmpl.Hash = hash
	tmpl.CreatedUS = t.UnixMicro()
	tmpl.IdleExpiresUS = min(t.Add(refreshIdleTTL).UnixMicro(), tmpl.FamilyExpireUS)
	tmpl.UsedUS, tmpl.RevokedUS = 0, 0
	if err := st.CreateRefresh(ctx, tmpl); err != nil {
		return "", err
	}
	return token, nil
}

// rotate spends token and returns its user and the family's next token.
// Any failure is ErrUnauthorized: malformed, unknown (another directory's
// included), expired, revoked, or already spent, which also revokes the
// whole family, since one of its holders is not who they claim.
func (s sessions) rotate(ctx context.Context, st RefreshStore, token string) (int64, string, error) {
	hash, err := auth.HashRefreshToken(token)
	if err != nil {
		return 0, "", ErrUnauthorized
	}
	rt, err := st.RefreshByHash(ctx, hash)
	if errors.Is(err, ErrNotFound) {
		return 0, "", ErrUnauthorized
	}
	if err != nil {
		return 0, "", err
	}
	t := now(s.now)
	us := t.UnixMicro()
	switch {
	case rt.RevokedUS != 0:
		return 0, "", ErrUnauthorized
	case rt.UsedUS != 0:
		return 0, "", s.reuse(ctx, st, rt, us)
	case us >= rt.IdleExpiresUS || us >= rt.FamilyExpireUS:
		return 0, "", ErrUnauthorized
	}
	ok, err := st.UseRefresh(ctx, hash, us)
	if err != nil {
		return 0, "", err
	}
	if !ok { // spent by a concurrent request a moment ago
		return 0, "", s.reuse(ctx, st, rt, us)
	}
	next, err := s.issue(ctx, st, rt, t)
	if err != nil {
		return 0, "", err
	}
	return rt.UserID, next, nil
}

// reuse revokes the family of a token presented again after it was spent.
func (s sessions) reuse(ctx context.Context, st RefreshStore, rt RefreshToken, us int64) error {
	if err := st.RevokeFamily(ctx, rt.FamilyID, us); err != nil {
		return err
	}
	return ErrUnauthorized
}

// end revokes the family of token. Tokens that are malformed or unknown
// here end nothing, and that is not an error: logging out is idempotent.
func (s sessions) end(ctx context.Context, st RefreshStore, token string) error {
	hash, err := auth.HashRefreshToken(token)
	if err != nil {
		return nil
	}
	rt, err := st.RefreshByHash(ctx, hash)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	return st.RevokeFamily(ctx, rt.FamilyID, now(s.now).UnixMicro())
}

// refreshSQL is the RefreshStore on a directory's database: the core one,
// or a tenant's. The SQL runs on SQLite and PostgreSQL alike.
type refreshSQL struct {
	db *sql.DB
}

func (s refreshSQL) CreateRefresh(ctx context.Context, t RefreshToken) error {
	_, err := s.db.ExecContext(ctx,
		`INSERT INTO refresh_tokens (token_hash, family_id, user_id, created_us, idle_expires_us, family_expires_us)
		 VALUES ($1, $2, $3, $4, $5, $6)`,
		t.Hash, t.FamilyID, t.UserID, t.CreatedUS, t.IdleExpiresUS, t.FamilyExpireUS)
	if err != nil {
		return storeErr("create refresh token", err)
	}
	return nil
}

func (s refreshSQL) RefreshByHash(ctx context.Context, hash string) (RefreshToken, error) {
	t := RefreshToken{Hash: hash}
	err := s.db.QueryRowContext(ctx,
		`SELECT family_id, user_id, created_us, idle_expires_us, family_expires_us, used_us, revoked_us
		 FROM refresh_tokens WHERE token_hash = $1`, hash).
		Scan(&t.FamilyID, &t.UserID, &t.CreatedUS, &t.IdleExpiresUS, &t.FamilyExpireUS, &t.UsedUS, &t.RevokedUS)
	if err != nil {
		return RefreshToken{}, storeErr("refresh token", err)
	}
	return t, nil
}

func (s refreshSQL) UseRefresh(ctx context.Context, hash string, us int64) (bool, error) {
	res, err := s.db.ExecContext(ctx,
		`UPDATE refresh_tokens SET used_us = $1 WHERE token_hash = $2 AND used_us = 0 AND revoked_us = 0`, us, hash)
	if err != nil {
		return false, storeErr("use refresh token", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, storeErr("use refresh token", err)
	}
	return n == 1, nil
}

func (s refreshSQL) RevokeFamily(ctx context.Context, familyID string, us int64) error {
	if _, err := s.db.ExecContext(ctx,
		`UPDATE refresh_tokens SET revoked_us = $1 WHERE family_id = $2 AND revoked_us = 0`, us, familyID); err != nil {
		return storeErr("revoke refresh tokens", err)
	}
	return nil
}

func (s refreshSQL) RevokeUser(ctx context.Context, userID int64, us int64) error {
	if _, err := s.db.ExecContext(ctx,
		`UPDATE refresh_tokens SET revoked_us = $1 WHERE user_id = $2 AND revoked_us = 0`, us, userID); err != nil {
		return storeErr("revoke refresh tokens", err)
	}
	return nil
}

// RateLimitError is a login refused by the throttle: too many failures
// for this account or from this address.
type RateLimitError struct {
	RetryAfter time.Duration
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("too many failed logins; retry after %s", e.RetryAfter)
}
