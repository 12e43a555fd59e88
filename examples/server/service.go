package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/tenantkit/tenantkit/auth"
	"github.com/tenantkit/tenantkit/tenancy/registry"
)

// CoreStore is what the core use cases need of the core database.
type CoreStore interface {
	CreateUser(ctx context.Context, u User) (User, error)        // ErrConflict if the email is taken
	UserByEmail(ctx context.Context, email string) (User, error) // ErrNotFound
	// CreateOrganization inserts o and, if idem is not nil, records the
	// key with it in the same transaction. ErrConflict if the slug is
	// taken, errIdemTaken if the key is, ErrQuotaExceeded if the owner
	// already owns quota organizations (0: no limit; concurrent creations
	// by one owner take turns, so none goes past it).
	CreateOrganization(ctx context.Context, o Organization, idem *IdemRecord, quota int) (Organization, error)
	IdempotencyKey(ctx context.Context, ownerID int64, key string) (IdemRecord, int64, error) // ErrNotFound
	Organization(ctx context.Context, id int64) (Organization, error)                         // ErrNotFound
	OrganizationBySlug(ctx context.Context, slug string) (Organization, error)
	SlugsLike(ctx context.Context, base string) ([]string, error) // base and base-*
	// OrganizationsByOwner returns up to limit of ownerID's organizations
	// with ids above after, oldest first.
	OrganizationsByOwner(ctx context.Context, ownerID, after int64, limit int) ([]Organization, error)
	AllOrganizations(ctx context.Context) ([]Organization, error)
	// DeleteOrganization removes the organization's own row, after the
	// registry removed its record; nil if already gone.
	DeleteOrganization(ctx context.Context, id int64) error
	// DeleteOrphans removes organization rows the registry no longer has
	// (a delete interrupted between the two steps).
	DeleteOrphans(ctx context.Context) (int64, error)
	Ping(ctx context.Context) error
	Refresh() RefreshStore // the core directory's refresh tokens
}

// TenantStore is what the tenant use cases need of one tenant's database.
type TenantStore interface {
	RefreshStore
	CreateUser(ctx context.Context, u User) (User, error) // ErrConflict if the email is taken
	UserByEmail(ctx context.Context, email string) (User, error)
	UserByID(ctx context.Context, id int64) (User, error)                // without PasswordHash
	UpdateUser(ctx context.Context, id int64, p UserPatch) (User, error) // without PasswordHash; ErrConflict, ErrNotFound
}

// TenantStores hands out the store of one tenant for the duration of fn.
type TenantStores interface {
	WithTenant(ctx context.Context, tenantID string, fn func(TenantStore) error) error
}

// CoreService holds the use cases of the core directory.
type CoreService struct {
	store    CoreStore
	reg      *registry.Registry // the organizations' lifecycle
	hasher   *auth.Hasher
	tokens   *tokenService
	metrics  *metrics // nil in the admin commands
	sessions sessions
	guard    *loginGuard
	limits   orgLimits // organizations per user and their creation rate
	log      *slog.Logger
	now      func() time.Time
}

// Register creates a core user. addr is the client's address, for the
// registration throttle; "" (the admin commands) is never throttled.
func (s *CoreService) Register(ctx context.Context, email, password, addr string) (_ User, err error) {
	var verr ValidationError
	checkEmail(&verr, &email)
	checkNewPassword(&verr, &password)
	if err := verr.err(); err != nil {
		return User{}, err
	}
	done, err := s.guard.beginRegister(ctx, coreDirectory, addr)
	if err != nil {
		return User{}, err
	}
	defer func() { done(err) }()
	email = normalizeEmail(email)
	hash, err := s.hasher.Hash(ctx, password)
	if err != nil {
		return User{}, fmt.Errorf("hash password: %w", err)
	}
	return s.store.CreateUser(ctx, User{Email: email, PasswordHash: hash, IsActive: true, CreatedAt: now(s.now)})
}

// Login checks core credentials and starts a session: an access token and
// a refresh token. Every failure, whatever its cause, is ErrUnauthorized
// after the same work, unless the throttle refuses first.
func (s *CoreService) Login(ctx context.Context, email, password, addr string) (Token, error) {
	if tooLongPassword(password) {
		return Token{}, ErrUnauthorized // before any lookup, throttle or hashing
	}
	done, err := s.guard.begin(ctx, coreDirectory, email, addr)
	if err != nil {
		return Token{}, err
	}
	u, err := checkPassword(ctx, s.hasher, email, password, s.store.UserByEmail)
	done(err)
	if err != nil {
		return Token{}, err
	}
	refresh, err := s.sessions.start(ctx, s.store.Refresh(), u.ID)
	if err != nil {
		return Token{}, err
	}
	return s.tokens.issue(coreDirectory, u.ID, refresh)
}

// Refresh spends a core refresh token for a new token pair.
func (s *CoreService) Refresh(ctx context.Context, token string) (Token, error) {
	uid, next, err := s.sessions.rotate(ctx, s.store.Refresh(), token)
	if err != nil {
		return Token{}, err
	}
	return s.tokens.issue(coreDirectory, uid, next)
}

// Logout ends the session (the refresh token family) of token.
func (s *CoreService) Logout(ctx context.Context, token string) error {
	return s.sessions.end(ctx, s.store.Refresh(), token)
}

// checkPassword finds the user by email and verifies the password, doing
// a full-cost verification whether or not the user exists or the input is
// well formed, so failures cannot be told apart by timing.
func checkPassword(ctx context.Context, h *auth.Hasher, email, password string, byEmail func(context.Context, string) (User, error)) (User, error) {
	email = normalizeEmail(email)
	var u User
	if validEmail(email) && passwordProblem(password) == "" {
		var err error
		u, err = byEmail(ctx, email)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return User{}, err
		}
	}
	err := h.Verify(ctx, u.PasswordHash, password)
	switch {
	case errors.Is(err, auth.ErrPasswordMismatch):
		return User{}, ErrUnauthorized
	case err != nil:
		return User{}, fmt.Errorf("verify password: %w", err)
	case u.ID == 0 || !u.IsActive:
		return User{}, ErrUnauthorized
	}
	return u, nil
}

// Organizations lists one page of the caller's organizations, oldest
// first, and the cursor of the next page ("" if this is the last).
func (s *CoreService) Organizations(ctx context.Context, ownerID int64, p pageReq) ([]Organization, string, error) {
	orgs, err := s.store.OrganizationsByOwner(ctx, ownerID, p.after, p.limit+1)
	if err != nil {
		return nil, "", err
	}
	if len(orgs) > p.limit {
		orgs = orgs[:p.limit]
		return orgs, nextCursor(orgs[len(orgs)-1].ID), nil
	}
	return orgs, "", nil
}

// Organization returns one of the caller's organizations; any other is
// ErrNotFound.
func (s *CoreService) Organization(ctx context.Context, ownerID, id int64) (Organization, error) {
	o, err := s.store.Organization(ctx, id)
	if err != nil {
		return Organization{}, err
	}
	if o.OwnerID != ownerID {
		return Organization{}, ErrNotFound
	}
	return o, nil
}

// TenantService holds the use cases of tenant directories.
type TenantService struct {
	stores   TenantStores
	hasher   *auth.Hasher
	tokens   *tokenService
	sessions sessions
	guard    *loginGuard
	now      func() time.Time
}

// Register creates a user in the tenant's directory. addr is the
// client's address, for the registration throttle ("" is never
// throttled).
func (s *TenantService) Register(ctx context.Context, tenantID, email, password string, displayName *string, addr string) (_ User, err error) {
	var verr ValidationError
	checkEmail(&verr, &email)
	checkNewPassword(&verr, &password)
	checkDisplayName(&verr, displayName)
	if err := verr.err(); err != nil {
		return User{}, err
	}
	done, err := s.guard.beginRegister(ctx, tenantDirectory(tenantID), addr)
	if err != nil {
		return User{}, err
	}
	defer func() { done(err) }()
	email = normalizeEmail(email)
	var dn string
	if displayName != nil {
		dn, _ = cleanText(*displayName, 0, maxDisplayNameLen)
	}
	hash, err := s.hasher.Hash(ctx, password)
	if err != nil {
		return User{}, fmt.Errorf("hash password: %w", err)
	}
	var u User
	err = s.stores.WithTenant(ctx, tenantID, func(st TenantStore) error {
		u, err = st.CreateUser(ctx, User{Email: email, PasswordHash: hash, DisplayName: dn, IsActive: true, CreatedAt: now(s.now)})
		return err
	})
	return u, err
}

// Login checks the credentials of a tenant user and starts a session with
// tokens valid for that tenant only.
func (s *TenantService) Login(ctx context.Context, tenantID, email, password, addr string) (Token, error) {
	if tooLongPassword(password) {
		return Token{}, ErrUnauthorized // before any lookup, throttle or hashing
	}
	done, err := s.guard.begin(ctx, tenantDirectory(tenantID), email, addr)
	if err != nil {
		return Token{}, err
	}
	// The lease is held for the lookup only, not for the slow hash check.
	byEmail := func(ctx context.Context, email string) (u User, err error) {
		err = s.stores.WithTenant(ctx, tenantID, func(st TenantStore) error {
			u, err = st.UserByEmail(ctx, email)
			return err
		})
		return u, err
	}
	u, err := checkPassword(ctx, s.hasher, email, password, byEmail)
	done(err)
	if err != nil {
		return Token{}, err
	}
	var refresh string
	err = s.stores.WithTenant(ctx, tenantID, func(st TenantStore) error {
		if refresh, err = s.sessions.start(ctx, st, u.ID); err != nil {
			return err
		}
		// An email change that committed after the password check ended
		// the sessions that existed then, not this one: end it too. (One
		// that commits after this read revokes it with the others.)
		cur, err := st.UserByID(ctx, u.ID)
		if errors.Is(err, ErrNotFound) || err == nil && (cur.Email != u.Email || !cur.IsActive) {
			if err := s.sessions.end(ctx, st, refresh); err != nil {
				return err
			}
			return ErrUnauthorized
		}
		return err
	})
	if err != nil {
		return Token{}, err
	}
	return s.tokens.issue(tenantDirectory(tenantID), u.ID, refresh)
}

// Refresh spends a refresh token of this tenant for a new token pair.
func (s *TenantService) Refresh(ctx context.Context, tenantID, token string) (Token, error) {
	var uid int64
	var next string
	err := s.stores.WithTenant(ctx, tenantID, func(st TenantStore) error {
		var err error
		uid, next, err = s.sessions.rotate(ctx, st, token)
		return err
	})
	if err != nil {
		return Token{}, err
	}
	return s.tokens.issue(tenantDirectory(tenantID), uid, next)
}

// Logout ends the session of a refresh token of this tenant.
func (s *TenantService) Logout(ctx context.Context, tenantID, token string) error {
	return s.stores.WithTenant(ctx, tenantID, func(st TenantStore) error {
		return s.sessions.end(ctx, st, token)
	})
}

// Me returns the tenant user a token names. A user that no longer exists
// or is inactive is ErrUnauthorized.
func (s *TenantService) Me(ctx context.Context, tenantID string, userID int64) (User, error) {
	var u User
	err := s.stores.WithTenant(ctx, tenantID, func(st TenantStore) error {
		var err error
		u, err = st.UserByID(ctx, userID)
		return err
	})
	if errors.Is(err, ErrNotFound) || err == nil && !u.IsActive {
		return User{}, ErrUnauthorized
	}
	return u, err
}

// UpdateMe changes the fields of p that are set.
func (s *TenantService) UpdateMe(ctx context.Context, tenantID string, userID int64, p UserPatch) (User, error) {
	var verr ValidationError
	checkEmail(&verr, p.Email)
	checkDisplayName(&verr, p.DisplayName)
	if err := verr.err(); err != nil {
		return User{}, err
	}
	if p.Email != nil {
		e := normalizeEmail(*p.Email)
		p.Email = &e
	}
	if p.DisplayName != nil {
		dn, _ := cleanText(*p.DisplayName, 0, maxDisplayNameLen)
		p.DisplayName = &dn
	}
	var u User
	err := s.stores.WithTenant(ctx, tenantID, func(st TenantStore) error {
		cur, err := st.UserByID(ctx, userID)
		if err != nil {
			return err
		}
		if !cur.IsActive {
			return ErrUnauthorized
		}
		u, err = st.UpdateUser(ctx, userID, p)
		if err == nil && p.Email != nil && *p.Email != cur.Email {
			// A new email ends the user's other sessions.
			err = st.RevokeUser(ctx, userID, now(s.now).UnixMicro())
		}
		return err
	})
	if errors.Is(err, ErrNotFound) {
		return User{}, ErrUnauthorized
	}
	return u, err
}

// tenantKey is the dbstrategy key and token directory of an organization.
func tenantKey(id int64) string { return strconv.FormatInt(id, 10) }

func now(f func() time.Time) time.Time { return f().UTC().Truncate(time.Microsecond) }
