package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/tenantkit/tenantkit/auth"
)

// CoreStore is what the core use cases need of the core database.
type CoreStore interface {
	CreateUser(ctx context.Context, u User) (User, error)                         // ErrConflict if the email is taken
	UserByEmail(ctx context.Context, email string) (User, error)                  // ErrNotFound
	CreateOrganization(ctx context.Context, o Organization) (Organization, error) // ErrConflict if the slug is taken
	Organization(ctx context.Context, id int64) (Organization, error)             // ErrNotFound
	OrganizationBySlug(ctx context.Context, slug string) (Organization, error)
	SlugsLike(ctx context.Context, base string) ([]string, error) // base and base-*
	OrganizationsByOwner(ctx context.Context, ownerID int64) ([]Organization, error)
	OrganizationsByStatus(ctx context.Context, status OrgStatus) ([]Organization, error)
	SetOrganizationStatus(ctx context.Context, id int64, from, to OrgStatus) error // ErrNotFound if not in from
	DeleteOrganization(ctx context.Context, id int64) error
	Ping(ctx context.Context) error
}

// TenantStore is what the tenant use cases need of one tenant's database.
type TenantStore interface {
	CreateUser(ctx context.Context, u User) (User, error) // ErrConflict if the email is taken
	UserByEmail(ctx context.Context, email string) (User, error)
	UserByID(ctx context.Context, id int64) (User, error)
	UpdateUser(ctx context.Context, id int64, p UserPatch) (User, error) // ErrConflict, ErrNotFound
}

// TenantStores hands out the store of one tenant for the duration of fn.
type TenantStores interface {
	WithTenant(ctx context.Context, tenantID string, fn func(TenantStore) error) error
}

// Provisioner creates (and migrates) and drops tenant databases; both are
// idempotent. dbstrategy.Manager is one.
type Provisioner interface {
	Create(ctx context.Context, tenantID string) error
	Drop(ctx context.Context, tenantID string) error
}

// provisionTimeout bounds creating one tenant database, which goes on even
// if the client that asked for it goes away.
const provisionTimeout = 2 * time.Minute

// CoreService holds the use cases of the core directory.
type CoreService struct {
	store      CoreStore
	hasher     *auth.Hasher
	tokens     *tokenService
	dbs        Provisioner
	invalidate func(keys ...string) // forgets cached tenant lookups
	log        *slog.Logger
	now        func() time.Time
}

// Register creates a core user.
func (s *CoreService) Register(ctx context.Context, email, password string) (User, error) {
	email = normalizeEmail(email)
	var verr ValidationError
	if !validEmail(email) {
		verr.add("email", "must be a valid email address")
	}
	if p := passwordProblem(password); p != "" {
		verr.add("password", p)
	}
	if err := verr.err(); err != nil {
		return User{}, err
	}
	hash, err := s.hasher.Hash(ctx, password)
	if err != nil {
		return User{}, fmt.Errorf("hash password: %w", err)
	}
	return s.store.CreateUser(ctx, User{Email: email, PasswordHash: hash, IsActive: true, CreatedAt: now(s.now)})
}

// Login checks core credentials and issues a core access token. Every
// failure, whatever its cause, is ErrUnauthorized after the same work.
func (s *CoreService) Login(ctx context.Context, email, password string) (Token, error) {
	u, err := checkPassword(ctx, s.hasher, email, password, s.store.UserByEmail)
	if err != nil {
		return Token{}, err
	}
	return s.tokens.core.issue(u.ID)
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

// CreateOrganization registers an organization owned by ownerID and
// provisions its database. It returns only once the database exists and is
// migrated and the organization is active.
func (s *CoreService) CreateOrganization(ctx context.Context, ownerID int64, name string, slug *string) (Organization, error) {
	var verr ValidationError
	name, problem := cleanText(name, 1, maxNameLen)
	if problem != "" {
		verr.add("name", problem)
	}
	if slug != nil && !validSlug(*slug) {
		verr.add("slug", "must be 3 to 63 characters of a-z, 0-9 and '-', starting and ending with a letter or digit, not all digits")
	}
	if err := verr.err(); err != nil {
		return Organization{}, err
	}
	t := now(s.now)
	o := Organization{Name: name, Status: OrgProvisioning, OwnerID: ownerID, CreatedAt: t}
	var err error
	if slug != nil {
		o.Slug = *slug
		o, err = s.store.CreateOrganization(ctx, o)
	} else {
		// Pick the first free slug among base, base-2, base-3, ... from
		// the taken ones, and retry if a concurrent request took it first.
		base := deriveSlug(name)
		for attempt := 0; ; attempt++ {
			var taken []string
			if taken, err = s.store.SlugsLike(ctx, base); err != nil {
				break
			}
			o.Slug = nextFreeSlug(base, taken)
			var created Organization
			created, err = s.store.CreateOrganization(ctx, o)
			if !errors.Is(err, ErrConflict) || attempt >= 10 {
				o = created
				break
			}
		}
	}
	if err != nil {
		return Organization{}, err
	}
	if err := s.provision(ctx, o); err != nil {
		return Organization{}, err
	}
	o.Status = OrgActive
	return o, nil
}

// provision creates and migrates o's database and marks o active. On
// failure it removes what it made, so nothing is left half made.
func (s *CoreService) provision(ctx context.Context, o Organization) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), provisionTimeout)
	defer cancel()
	key := tenantKey(o.ID)
	err := s.dbs.Create(ctx, key)
	if err == nil {
		err = s.store.SetOrganizationStatus(ctx, o.ID, OrgProvisioning, OrgActive)
	}
	s.invalidate(key, o.Slug)
	if err == nil {
		return nil
	}
	s.log.LogAttrs(ctx, slog.LevelError, "provisioning failed", slog.String("tenant", key), slog.String("err", err.Error()))
	if derr := s.dbs.Drop(ctx, key); derr == nil {
		_ = s.store.DeleteOrganization(ctx, o.ID)
	}
	return fmt.Errorf("%w: provision tenant %s: %v", ErrUnavailable, key, err)
}

// Organizations lists the caller's organizations, oldest first.
func (s *CoreService) Organizations(ctx context.Context, ownerID int64) ([]Organization, error) {
	return s.store.OrganizationsByOwner(ctx, ownerID)
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

// Reconcile finishes or undoes lifecycle steps a crash interrupted:
// organizations left provisioning are provisioned again, those left
// deleting are dropped. Every step is idempotent.
func (s *CoreService) Reconcile(ctx context.Context) error {
	pending, err := s.store.OrganizationsByStatus(ctx, OrgProvisioning)
	if err != nil {
		return err
	}
	for _, o := range pending {
		key := tenantKey(o.ID)
		if err := s.dbs.Create(ctx, key); err != nil {
			return fmt.Errorf("resume provisioning of tenant %s: %w", key, err)
		}
		if err := s.store.SetOrganizationStatus(ctx, o.ID, OrgProvisioning, OrgActive); err != nil {
			return fmt.Errorf("activate tenant %s: %w", key, err)
		}
		s.log.LogAttrs(ctx, slog.LevelInfo, "resumed provisioning", slog.String("tenant", key))
	}
	deleting, err := s.store.OrganizationsByStatus(ctx, OrgDeleting)
	if err != nil {
		return err
	}
	for _, o := range deleting {
		key := tenantKey(o.ID)
		if err := s.dbs.Drop(ctx, key); err != nil {
			return fmt.Errorf("finish deleting tenant %s: %w", key, err)
		}
		if err := s.store.DeleteOrganization(ctx, o.ID); err != nil {
			return fmt.Errorf("finish deleting tenant %s: %w", key, err)
		}
		s.log.LogAttrs(ctx, slog.LevelInfo, "finished deleting", slog.String("tenant", key))
	}
	return nil
}

// TenantService holds the use cases of tenant directories.
type TenantService struct {
	stores TenantStores
	hasher *auth.Hasher
	tokens *tokenService
	now    func() time.Time
}

// Register creates a user in the tenant's directory.
func (s *TenantService) Register(ctx context.Context, tenantID, email, password string, displayName *string) (User, error) {
	email = normalizeEmail(email)
	var verr ValidationError
	if !validEmail(email) {
		verr.add("email", "must be a valid email address")
	}
	if p := passwordProblem(password); p != "" {
		verr.add("password", p)
	}
	var dn string
	if displayName != nil {
		var problem string
		if dn, problem = cleanText(*displayName, 0, maxDisplayNameLen); problem != "" {
			verr.add("display_name", problem)
		}
	}
	if err := verr.err(); err != nil {
		return User{}, err
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

// Login checks the credentials of a tenant user and issues a token valid
// for that tenant only.
func (s *TenantService) Login(ctx context.Context, tenantID, email, password string) (Token, error) {
	// The lease is held for the lookup only, not for the slow hash check.
	byEmail := func(ctx context.Context, email string) (u User, err error) {
		err = s.stores.WithTenant(ctx, tenantID, func(st TenantStore) error {
			u, err = st.UserByEmail(ctx, email)
			return err
		})
		return u, err
	}
	u, err := checkPassword(ctx, s.hasher, email, password, byEmail)
	if err != nil {
		return Token{}, err
	}
	d, err := s.tokens.tenant(tenantID)
	if err != nil {
		return Token{}, err
	}
	return d.issue(u.ID)
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
	if p.Email != nil {
		e := normalizeEmail(*p.Email)
		if !validEmail(e) {
			verr.add("email", "must be a valid email address")
		}
		p.Email = &e
	}
	if p.DisplayName != nil {
		dn, problem := cleanText(*p.DisplayName, 0, maxDisplayNameLen)
		if problem != "" {
			verr.add("display_name", problem)
		}
		p.DisplayName = &dn
	}
	if err := verr.err(); err != nil {
		return User{}, err
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

// nextFreeSlug returns base if it is not taken, else base-N for the
// smallest N >= 2 not taken.
func nextFreeSlug(base string, taken []string) string {
	used := make(map[string]bool, len(taken))
	for _, t := range taken {
		used[t] = true
	}
	if !used[base] {
		return base
	}
	for n := 2; ; n++ {
		if s := base + "-" + strconv.Itoa(n); !used[s] {
			return s
		}
	}
}
