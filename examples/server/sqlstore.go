package main

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/ncruces/go-sqlite3"

	"github.com/tenantkit/tenantkit/dbstrategy"
	"github.com/tenantkit/tenantkit/dbstrategy/schemastrategy"
)

// The stores' SQL runs unchanged on SQLite and PostgreSQL: placeholders
// are $1..$n in order of first use, and RETURNING exists in both.

// sqlCoreStore is the CoreStore on the core database.
type sqlCoreStore struct {
	db *sql.DB
}

// Refresh returns the store of the core directory's refresh tokens.
func (s *sqlCoreStore) Refresh() RefreshStore { return refreshSQL{db: s.db} }

var _ CoreStore = (*sqlCoreStore)(nil)

const orgColumns = `id, name, slug, status, owner_id, created_at, schema_version, migration_error`

func (s *sqlCoreStore) CreateUser(ctx context.Context, u User) (User, error) {
	err := s.db.QueryRowContext(ctx,
		`INSERT INTO users (email, password_hash, created_at) VALUES ($1, $2, $3) RETURNING id`,
		u.Email, u.PasswordHash, u.CreatedAt).Scan(&u.ID)
	if err != nil {
		return User{}, storeErr("create user", err)
	}
	return u, nil
}

func (s *sqlCoreStore) UserByEmail(ctx context.Context, email string) (User, error) {
	u := User{IsActive: true}
	err := s.db.QueryRowContext(ctx,
		`SELECT id, email, password_hash, created_at FROM users WHERE email = $1`, email).
		Scan(&u.ID, &u.Email, &u.PasswordHash, &u.CreatedAt)
	if err != nil {
		return User{}, storeErr("user by email", err)
	}
	u.CreatedAt = u.CreatedAt.UTC()
	return u, nil
}

func (s *sqlCoreStore) CreateOrganization(ctx context.Context, o Organization, idem *IdemRecord, quota int) (Organization, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return Organization{}, storeErr("create organization", err)
	}
	defer tx.Rollback()
	if quota > 0 {
		// Lock the owner's row (SQLite's IMMEDIATE transactions take
		// turns anyway), so concurrent creations count one another.
		if _, err := tx.ExecContext(ctx, `UPDATE users SET email = email WHERE id = $1`, o.OwnerID); err != nil {
			return Organization{}, storeErr("create organization", err)
		}
		var owned int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM organizations WHERE owner_id = $1`, o.OwnerID).Scan(&owned); err != nil {
			return Organization{}, storeErr("create organization", err)
		}
		if owned >= quota {
			return Organization{}, ErrQuotaExceeded
		}
	}
	err = tx.QueryRowContext(ctx,
		`INSERT INTO organizations (name, slug, status, owner_id, created_at, updated_at)
		 VALUES ($1, $2, $3, $4, $5, $5) RETURNING id`,
		o.Name, o.Slug, string(o.Status), o.OwnerID, o.CreatedAt).Scan(&o.ID)
	if err != nil {
		return Organization{}, storeErr("create organization", err)
	}
	if idem != nil {
		_, err = tx.ExecContext(ctx,
			`INSERT INTO idempotency_keys (owner_id, idem_key, request_hash, org_id, created_at) VALUES ($1, $2, $3, $4, $5)`,
			o.OwnerID, idem.Key, idem.Hash, o.ID, o.CreatedAt)
		if isUniqueViolation(err) {
			return Organization{}, errIdemTaken
		}
		if err != nil {
			return Organization{}, storeErr("record idempotency key", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return Organization{}, storeErr("create organization", err)
	}
	return o, nil
}

func (s *sqlCoreStore) IdempotencyKey(ctx context.Context, ownerID int64, key string) (IdemRecord, int64, error) {
	r := IdemRecord{Key: key}
	var orgID int64
	err := s.db.QueryRowContext(ctx,
		`SELECT request_hash, org_id FROM idempotency_keys WHERE owner_id = $1 AND idem_key = $2`, ownerID, key).
		Scan(&r.Hash, &orgID)
	if err != nil {
		return IdemRecord{}, 0, storeErr("idempotency key", err)
	}
	return r, orgID, nil
}

func (s *sqlCoreStore) AllOrganizations(ctx context.Context) ([]Organization, error) {
	return s.orgs(ctx, `SELECT `+orgColumns+` FROM organizations WHERE id > $1 ORDER BY id`, 0)
}

func (s *sqlCoreStore) RecordMigration(ctx context.Context, id, version int64, failure string) error {
	var err error
	if failure == "" {
		_, err = s.db.ExecContext(ctx, `UPDATE organizations SET schema_version = $1, migration_error = '' WHERE id = $2`, version, id)
	} else {
		_, err = s.db.ExecContext(ctx, `UPDATE organizations SET migration_error = $1 WHERE id = $2`, failure, id)
	}
	if err != nil {
		return storeErr("record migration", err)
	}
	return nil
}

func (s *sqlCoreStore) ChangedSince(ctx context.Context, us int64) ([]OrgChange, error) {
	rows, err := s.db.QueryContext(ctx,
		`SELECT org_id, slug, status, changed_us FROM org_changes WHERE changed_us > $1 ORDER BY changed_us`, us)
	if err != nil {
		return nil, storeErr("org changes", err)
	}
	defer rows.Close()
	var changes []OrgChange
	for rows.Next() {
		var c OrgChange
		if err := rows.Scan(&c.OrgID, &c.Slug, &c.Status, &c.ChangedUS); err != nil {
			return nil, storeErr("org changes", err)
		}
		changes = append(changes, c)
	}
	if err := rows.Err(); err != nil {
		return nil, storeErr("org changes", err)
	}
	return changes, nil
}

// changeLogRetention is how long org_changes entries are kept: far longer
// than any server's poll interval. The background purge deletes older
// ones (purge.go).
const changeLogRetention = time.Hour

// logChange appends to org_changes in tx.
func logChange(ctx context.Context, tx *sql.Tx, id int64, slug, status string, at time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO org_changes (org_id, slug, status, changed_us) VALUES ($1, $2, $3, $4)`,
		id, slug, status, at.UnixMicro())
	return err
}

func (s *sqlCoreStore) Organization(ctx context.Context, id int64) (Organization, error) {
	return s.scanOrg(s.db.QueryRowContext(ctx, `SELECT `+orgColumns+` FROM organizations WHERE id = $1`, id))
}

func (s *sqlCoreStore) OrganizationBySlug(ctx context.Context, slug string) (Organization, error) {
	return s.scanOrg(s.db.QueryRowContext(ctx, `SELECT `+orgColumns+` FROM organizations WHERE slug = $1`, slug))
}

func (s *sqlCoreStore) SlugsLike(ctx context.Context, base string) ([]string, error) {
	// base holds only a-z, 0-9 and '-', none of them LIKE wildcards.
	rows, err := s.db.QueryContext(ctx, `SELECT slug FROM organizations WHERE slug = $1 OR slug LIKE $2`, base, base+"-%")
	if err != nil {
		return nil, storeErr("slugs", err)
	}
	defer rows.Close()
	var slugs []string
	for rows.Next() {
		var slug string
		if err := rows.Scan(&slug); err != nil {
			return nil, storeErr("slugs", err)
		}
		slugs = append(slugs, slug)
	}
	if err := rows.Err(); err != nil {
		return nil, storeErr("slugs", err)
	}
	return slugs, nil
}

func (s *sqlCoreStore) scanOrg(row *sql.Row) (Organization, error) {
	var o Organization
	var status string
	if err := row.Scan(&o.ID, &o.Name, &o.Slug, &status, &o.OwnerID, &o.CreatedAt, &o.SchemaVersion, &o.MigrationError); err != nil {
		return Organization{}, storeErr("organization", err)
	}
	o.Status = OrgStatus(status)
	o.CreatedAt = o.CreatedAt.UTC()
	return o, nil
}

func (s *sqlCoreStore) OrganizationsByOwner(ctx context.Context, ownerID, after int64, limit int) ([]Organization, error) {
	return s.orgs(ctx, `SELECT `+orgColumns+` FROM organizations WHERE owner_id = $1 AND id > $2 ORDER BY id LIMIT $3`, ownerID, after, limit)
}

func (s *sqlCoreStore) OrganizationsByStatus(ctx context.Context, status OrgStatus) ([]Organization, error) {
	return s.orgs(ctx, `SELECT `+orgColumns+` FROM organizations WHERE status = $1 ORDER BY id`, string(status))
}

func (s *sqlCoreStore) orgs(ctx context.Context, query string, args ...any) ([]Organization, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, storeErr("list organizations", err)
	}
	defer rows.Close()
	orgs := []Organization{}
	for rows.Next() {
		var o Organization
		var status string
		if err := rows.Scan(&o.ID, &o.Name, &o.Slug, &status, &o.OwnerID, &o.CreatedAt, &o.SchemaVersion, &o.MigrationError); err != nil {
			return nil, storeErr("list organizations", err)
		}
		o.Status = OrgStatus(status)
		o.CreatedAt = o.CreatedAt.UTC()
		orgs = append(orgs, o)
	}
	if err := rows.Err(); err != nil {
		return nil, storeErr("list organizations", err)
	}
	return orgs, nil
}

func (s *sqlCoreStore) SetOrganizationStatus(ctx context.Context, id int64, from, to OrgStatus, at time.Time) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return storeErr("set organization status", err)
	}
	defer tx.Rollback()
	var slug string
	err = tx.QueryRowContext(ctx,
		`UPDATE organizations SET status = $1, updated_at = $2 WHERE id = $3 AND status = $4 RETURNING slug`,
		string(to), at, id, string(from)).Scan(&slug)
	if err == nil {
		err = logChange(ctx, tx, id, slug, string(to), at)
	}
	if err == nil {
		err = tx.Commit()
	}
	if err != nil {
		return storeErr("set organization status", err)
	}
	return nil
}

func (s *sqlCoreStore) DeleteOrganization(ctx context.Context, id int64, at time.Time) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return storeErr("delete organization", err)
	}
	defer tx.Rollback()
	var slug string
	err = tx.QueryRowContext(ctx, `DELETE FROM organizations WHERE id = $1 RETURNING slug`, id).Scan(&slug)
	if errors.Is(err, sql.ErrNoRows) {
		return nil // already gone
	}
	if err == nil {
		err = logChange(ctx, tx, id, slug, "deleted", at)
	}
	if err == nil {
		err = tx.Commit()
	}
	if err != nil {
		return storeErr("delete organization", err)
	}
	return nil
}

func (s *sqlCoreStore) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return storeErr("ping", err)
	}
	return nil
}

// sqlTenantStores hands out tenant stores on handles leased from the
// manager: the lease is held exactly for the duration of fn.
type sqlTenantStores struct {
	m *dbstrategy.Manager
	// stmts makes the hot reads go through the lease's cached statements
	// (Lease.Stmt). On for SQLite. Off on PostgreSQL, where pgx's own
	// statement cache already prepares each query once per connection and
	// database/sql keeps no idle connection, so a *sql.Stmt would be
	// prepared and closed again on every use.
	stmts bool
}

func (s sqlTenantStores) WithTenant(ctx context.Context, tenantID string, fn func(TenantStore) error) error {
	lease, err := s.m.Acquire(ctx, tenantID)
	if err != nil {
		return storeErr("lease tenant database", err)
	}
	defer lease.Release()
	st := sqlTenantStore{refreshSQL: refreshSQL{db: lease.DB()}}
	if s.stmts {
		st.lease = lease
	}
	return fn(st)
}

// sqlTenantStore is the TenantStore on one tenant's database, with the
// tenant directory's refresh tokens.
type sqlTenantStore struct {
	refreshSQL
	lease *dbstrategy.Lease // if not nil: the statements of every request, prepared once per connection
}

const (
	userColumns    = `id, email, password_hash, display_name, is_active, created_at`
	profileColumns = `id, email, display_name, is_active, created_at` // userColumns but the hash
	userByIDQuery  = `SELECT ` + profileColumns + ` FROM users WHERE id = $1`
)

func (s sqlTenantStore) CreateUser(ctx context.Context, u User) (User, error) {
	err := s.db.QueryRowContext(ctx,
		`INSERT INTO users (email, password_hash, display_name, is_active, created_at)
		 VALUES ($1, $2, $3, $4, $5) RETURNING id`,
		u.Email, u.PasswordHash, nullString(u.DisplayName), u.IsActive, u.CreatedAt).Scan(&u.ID)
	if err != nil {
		return User{}, storeErr("create user", err)
	}
	return u, nil
}

func (s sqlTenantStore) UserByEmail(ctx context.Context, email string) (User, error) {
	return scanUser(s.db.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE email = $1`, email))
}

func (s sqlTenantStore) UserByID(ctx context.Context, id int64) (User, error) {
	// The hot read of GET /me: the password hash is not needed, so not
	// read, and the statement is the handle's, prepared once per
	// connection rather than once per request.
	if s.lease == nil {
		return scanProfile(s.db.QueryRowContext(ctx, userByIDQuery, id))
	}
	stmt, err := s.lease.Stmt(ctx, userByIDQuery)
	if err != nil {
		return User{}, storeErr("prepare user by id", err)
	}
	return scanProfile(stmt.QueryRowContext(ctx, id))
}

func (s sqlTenantStore) UpdateUser(ctx context.Context, id int64, p UserPatch) (User, error) {
	var sets []string
	var args []any
	if p.Email != nil {
		args = append(args, *p.Email)
		sets = append(sets, fmt.Sprintf("email = $%d", len(args)))
	}
	if p.DisplayName != nil {
		args = append(args, nullString(*p.DisplayName))
		sets = append(sets, fmt.Sprintf("display_name = $%d", len(args)))
	}
	if len(sets) == 0 {
		return s.UserByID(ctx, id)
	}
	args = append(args, id)
	query := fmt.Sprintf(`UPDATE users SET %s WHERE id = $%d RETURNING %s`, strings.Join(sets, ", "), len(args), profileColumns)
	return scanProfile(s.db.QueryRowContext(ctx, query, args...))
}

func scanUser(row *sql.Row) (User, error) {
	var u User
	var dn sql.NullString
	if err := row.Scan(&u.ID, &u.Email, &u.PasswordHash, &dn, &u.IsActive, &u.CreatedAt); err != nil {
		return User{}, storeErr("user", err)
	}
	u.DisplayName = dn.String
	u.CreatedAt = u.CreatedAt.UTC()
	return u, nil
}

// scanProfile scans the profileColumns of one user.
func scanProfile(row *sql.Row) (User, error) {
	var u User
	var dn sql.NullString
	if err := row.Scan(&u.ID, &u.Email, &dn, &u.IsActive, &u.CreatedAt); err != nil {
		return User{}, storeErr("user", err)
	}
	u.DisplayName = dn.String
	u.CreatedAt = u.CreatedAt.UTC()
	return u, nil
}

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

// storeErr translates a database error into the domain's terms: no rows is
// ErrNotFound, a unique violation ErrConflict, an unreachable or busy
// database, or a statement planned for another table shape
// (schemastrategy.ErrStalePlan), ErrUnavailable. A tenant whose schema is
// behind (dbstrategy.ErrSchemaBehind) stays as it is, for the log. Anything
// else is wrapped with %v: the driver's error is not part of the contract.
func storeErr(op string, err error) error {
	switch {
	case errors.Is(err, sql.ErrNoRows), errors.Is(err, dbstrategy.ErrNotFound):
		return ErrNotFound
	case isUniqueViolation(err):
		return ErrConflict
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrConflict), errors.Is(err, ErrUnauthorized),
		errors.Is(err, dbstrategy.ErrSchemaBehind):
		return err
	case isUnavailable(err):
		return fmt.Errorf("%w: %s: %v", ErrUnavailable, op, err)
	}
	return fmt.Errorf("%s: %v", op, err)
}

func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "23505"
	}
	return errors.Is(err, sqlite3.CONSTRAINT_UNIQUE) || errors.Is(err, sqlite3.CONSTRAINT_PRIMARYKEY)
}

func isUnavailable(err error) bool {
	var netErr net.Error
	var connErr *pgconn.ConnectError
	var pgErr *pgconn.PgError
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, driver.ErrBadConn),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.As(err, &netErr), errors.As(err, &connErr), pgconn.SafeToRetry(err),
		errors.Is(err, sqlite3.BUSY), errors.Is(err, sqlite3.LOCKED),
		// A statement met its tenant's tables in another shape than it was
		// planned for (schema per tenant, during a fleet migration): a
		// retry plans it afresh.
		errors.Is(err, schemastrategy.ErrStalePlan):
		return true
	case errors.As(err, &pgErr):
		// Class 08: connection exception; 57P01-57P03: admin shutdown,
		// crash shutdown, cannot connect now; 53300: too many connections.
		return strings.HasPrefix(pgErr.Code, "08") || strings.HasPrefix(pgErr.Code, "57P") || pgErr.Code == "53300"
	}
	return false
}
