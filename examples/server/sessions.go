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
	"github.com/tenantkit/tenantkit/dbstrategy"
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

// RefreshStore keeps the refresh tokens of one user directory, and their
// families. Rotation and revocation of one family serialize on the
// family: once RevokeFamily or RevokeUser has returned, or a RotateRefresh
// that revoked has, no RotateRefresh of a token of that family stores a
// next token.
type RefreshStore interface {
	// StartFamily stores a new family and its first token t together.
	StartFamily(ctx context.Context, t RefreshToken) error
	RefreshByHash(ctx context.Context, hash string) (RefreshToken, error) // ErrNotFound
	// RotateRefresh reads the token with hash in one transaction that
	// holds its family's lock, and does what decide says: spend it and
	// store a next token, revoke the family, or nothing. The token decide
	// sees has RevokedUS set if its family is revoked. It returns the
	// rotation's err once that is done (committed), or ErrNotFound for an
	// unknown token or family.
	RotateRefresh(ctx context.Context, hash string, decide func(cur RefreshToken) rotation) error
	RevokeFamily(ctx context.Context, familyID string, us int64) error
	RevokeUser(ctx context.Context, userID int64, us int64) error
}

// rotation is what sessions decide about a presented refresh token, under
// its family's lock.
type rotation struct {
	next     *RefreshToken // if not nil: spend the token and store next
	revokeUS int64         // if not 0: revoke the family at this time
	err      error         // what RotateRefresh returns once done
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
	token, rt, err := s.newToken(RefreshToken{
		FamilyID:       hex.EncodeToString(fam[:]),
		UserID:         userID,
		FamilyExpireUS: t.Add(refreshAbsoluteTTL).UnixMicro(),
	}, t)
	if err != nil {
		return "", err
	}
	if err := st.StartFamily(ctx, rt); err != nil {
		return "", err
	}
	return token, nil
}

// newToken makes a new token of family tmpl.FamilyID at t: the token
// itself and the row to store.
func (s sessions) newToken(tmpl RefreshToken, t time.Time) (string, RefreshToken, error) {
	token, hash := auth.NewRefreshToken()
	tmpl.Hash = hash
	tmpl.CreatedUS = t.UnixMicro()
	tmpl.IdleExpiresUS = min(t.Add(refreshIdleTTL).UnixMicro(), tmpl.FamilyExpireUS)
	tmpl.UsedUS, tmpl.RevokedUS = 0, 0
	return token, tmpl, nil
}

// rotate spends token and returns its user and the family's next token.
// Any failure is ErrUnauthorized: malformed, unknown (another directory's
// included), expired, revoked, or already spent, which also revokes the
// whole family, since one of its holders is not who they claim. The
// checks, the spending and the revocation happen under the family's lock,
// so a logout or a reuse detection is never undone by a refresh in flight.
func (s sessions) rotate(ctx context.Context, st RefreshStore, token string) (int64, string, error) {
	hash, err := auth.HashRefreshToken(token)
	if err != nil {
		return 0, "", ErrUnauthorized
	}
	t := now(s.now)
	us := t.UnixMicro()
	var uid int64
	var next string
	err = st.RotateRefresh(ctx, hash, func(rt RefreshToken) rotation {
		switch {
		case rt.RevokedUS != 0:
			return rotation{err: ErrUnauthorized}
		case rt.UsedUS != 0:
			return rotation{revokeUS: us, err: ErrUnauthorized} // reuse
		case us >= rt.IdleExpiresUS || us >= rt.FamilyExpireUS:
			return rotation{err: ErrUnauthorized}
		}
		tok, nrt, err := s.newToken(rt, t)
		if err != nil {
			return rotation{err: err}
		}
		uid, next = rt.UserID, tok
		return rotation{next: &nrt}
	})
	if errors.Is(err, ErrNotFound) {
		return 0, "", ErrUnauthorized
	}
	if err != nil {
		return 0, "", err
	}
	return uid, next, nil
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
// or a tenant's. The SQL runs on SQLite and PostgreSQL alike. A family's
// lock is its refresh_families row: an UPDATE takes it on PostgreSQL (a
// row lock held to the end of the transaction) and SQLite (whose write
// transactions begin IMMEDIATE, so they take turns anyway).
type refreshSQL struct {
	db dbstrategy.DB
}

func (s refreshSQL) StartFamily(ctx context.Context, t RefreshToken) error {
	return inTx(ctx, s.db, "start session", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO refresh_families (family_id, user_id, created_us, family_expires_us) VALUES ($1, $2, $3, $4)`,
			t.FamilyID, t.UserID, t.CreatedUS, t.FamilyExpireUS); err != nil {
			return err
		}
		return insertRefresh(ctx, tx, t)
	})
}

func insertRefresh(ctx context.Context, tx *sql.Tx, t RefreshToken) error {
	_, err := tx.ExecContext(ctx,
		`INSERT INTO refresh_tokens (token_hash, family_id, user_id, created_us, idle_expires_us, family_expires_us)
		 VALUES ($1, $2, $3, $4, $5, $6)`,
		t.Hash, t.FamilyID, t.UserID, t.CreatedUS, t.IdleExpiresUS, t.FamilyExpireUS)
	return err
}

const refreshColumns = `family_id, user_id, created_us, idle_expires_us, family_expires_us, used_us, revoked_us`

func scanRefresh(row *sql.Row, hash string) (RefreshToken, error) {
	t := RefreshToken{Hash: hash}
	err := row.Scan(&t.FamilyID, &t.UserID, &t.CreatedUS, &t.IdleExpiresUS, &t.FamilyExpireUS, &t.UsedUS, &t.RevokedUS)
	return t, err
}

func (s refreshSQL) RefreshByHash(ctx context.Context, hash string) (RefreshToken, error) {
	t, err := scanRefresh(s.db.QueryRowContext(ctx,
		`SELECT `+refreshColumns+` FROM refresh_tokens WHERE token_hash = $1`, hash), hash)
	if err != nil {
		return RefreshToken{}, storeErr("refresh token", err)
	}
	return t, nil
}

func (s refreshSQL) RotateRefresh(ctx context.Context, hash string, decide func(RefreshToken) rotation) error {
	var r rotation
	err := inTx(ctx, s.db, "rotate refresh token", func(tx *sql.Tx) error {
		// Lock the family first: its rotations and revocations take turns.
		var familyRevoked int64
		err := tx.QueryRowContext(ctx,
			`UPDATE refresh_families SET revoked_us = revoked_us
			 WHERE family_id = (SELECT family_id FROM refresh_tokens WHERE token_hash = $1)
			 RETURNING revoked_us`, hash).Scan(&familyRevoked)
		if err != nil {
			return err
		}
		cur, err := scanRefresh(tx.QueryRowContext(ctx,
			`SELECT `+refreshColumns+` FROM refresh_tokens WHERE token_hash = $1`, hash), hash)
		if err != nil {
			return err
		}
		if cur.RevokedUS == 0 {
			cur.RevokedUS = familyRevoked
		}
		r = decide(cur)
		if r.revokeUS != 0 {
			if err := revokeFamily(ctx, tx, cur.FamilyID, r.revokeUS); err != nil {
				return err
			}
		}
		if r.next != nil {
			res, err := tx.ExecContext(ctx,
				`UPDATE refresh_tokens SET used_us = $1 WHERE token_hash = $2 AND used_us = 0 AND revoked_us = 0`, r.next.CreatedUS, hash)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil || n != 1 {
				return fmt.Errorf("spend refresh token: %d rows, %v", n, err) // cannot happen under the lock
			}
			if err := insertRefresh(ctx, tx, *r.next); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return r.err
}

// revokeFamily revokes a family and its tokens in tx. The family row is
// what rotations check; the tokens are marked too, for the purge.
func revokeFamily(ctx context.Context, tx *sql.Tx, familyID string, us int64) error {
	if _, err := tx.ExecContext(ctx,
		`UPDATE refresh_families SET revoked_us = $1 WHERE family_id = $2 AND revoked_us = 0`, us, familyID); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx,
		`UPDATE refresh_tokens SET revoked_us = $1 WHERE family_id = $2 AND revoked_us = 0`, us, familyID)
	return err
}

func (s refreshSQL) RevokeFamily(ctx context.Context, familyID string, us int64) error {
	return inTx(ctx, s.db, "revoke refresh tokens", func(tx *sql.Tx) error {
		return revokeFamily(ctx, tx, familyID, us)
	})
}

func (s refreshSQL) RevokeUser(ctx context.Context, userID int64, us int64) error {
	return inTx(ctx, s.db, "revoke refresh tokens", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx,
			`UPDATE refresh_families SET revoked_us = $1 WHERE user_id = $2 AND revoked_us = 0`, us, userID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx,
			`UPDATE refresh_tokens SET revoked_us = $1 WHERE user_id = $2 AND revoked_us = 0`, us, userID)
		return err
	})
}

// inTx runs fn in a transaction on db and commits it if fn returns nil.
// Errors are translated by storeErr, with op.
func inTx(ctx context.Context, db dbstrategy.DB, op string, fn func(tx *sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return storeErr(op, err)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return storeErr(op, err)
	}
	if err := tx.Commit(); err != nil {
		return storeErr(op, err)
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
