package main

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/ncruces/go-sqlite3"

	"github.com/tenantkit/tenantkit/dbstrategy"
	"github.com/tenantkit/tenantkit/dbstrategy/placement"
	"github.com/tenantkit/tenantkit/dbstrategy/schemastrategy"
	"github.com/tenantkit/tenantkit/tenancy"
	"github.com/tenantkit/tenantkit/tenancy/registry"
)

// The stores' SQL runs unchanged on SQLite and PostgreSQL: placeholders
// are $1..$n in order of first use, and RETURNING exists in both.

// sqlCoreStore is the CoreStore on the core database. The organizations'
// state, slug and schema version live in the tenant registry's tables
// (tenancy/registry), under the organization id in decimal; the
// organizations table keeps what only this app knows of them: the name,
// the owner, when they were created.
type sqlCoreStore struct {
	db  *sql.DB
	reg *registry.SQL // the registry's store, on db
	// servers places new organizations on the tenant servers; nil (in
	// tests that build a store alone) places them on the first.
	servers *tenantServers
}

// openCoreStore opens the registry's tables on db (creating or upgrading
// them) and returns the core store over both.
func openCoreStore(ctx context.Context, db *sql.DB, dialect string) (*sqlCoreStore, error) {
	reg, err := registry.OpenSQL(ctx, db, dialect)
	if err != nil {
		return nil, fmt.Errorf("tenant registry: %w", err)
	}
	return &sqlCoreStore{db: db, reg: reg}, nil
}

// Refresh returns the store of the core directory's refresh tokens.
func (s *sqlCoreStore) Refresh() RefreshStore { return refreshSQL{db: s.db} }

var _ CoreStore = (*sqlCoreStore)(nil)

// orgSelect reads organizations with their registry records; an
// organization without one (its delete was interrupted between the two)
// is gone.
const orgSelect = `SELECT o.id, o.name, o.slug, t.status, o.owner_id, o.created_at, t.version, t.migration_error, t.server
	FROM organizations o JOIN tenantkit_tenants t ON t.id = CAST(o.id AS TEXT)`

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
		`INSERT INTO organizations (name, slug, owner_id, created_at) VALUES ($1, $2, $3, $4) RETURNING id`,
		o.Name, o.Slug, o.OwnerID, o.CreatedAt).Scan(&o.ID)
	if err != nil {
		return Organization{}, storeErr("create organization", err)
	}
	// Its server: the open one with the fewest tenants, counted in this
	// transaction (on SQLite, whose writers take turns, exactly).
	if s.servers != nil {
		if o.Server, err = s.servers.pick(ctx, tx, tenantKey(o.ID)); err != nil {
			return Organization{}, storeErr("place organization", err)
		}
	}
	// The registry record, in the same transaction: no organization
	// exists without one.
	_, err = s.reg.InsertTx(ctx, tx, registry.Record{ID: tenantKey(o.ID), Slug: o.Slug, Status: tenancy.Status(o.Status), Server: o.Server, CreatedAt: o.CreatedAt})
	if errors.Is(err, registry.ErrExists) {
		return Organization{}, ErrConflict
	}
	if err != nil {
		return Organization{}, storeErr("register organization", err)
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
	return s.orgs(ctx, orgSelect+` WHERE o.id > $1 ORDER BY o.id`, 0)
}

func (s *sqlCoreStore) Organization(ctx context.Context, id int64) (Organization, error) {
	return s.scanOrg(s.db.QueryRowContext(ctx, orgSelect+` WHERE o.id = $1`, id))
}

func (s *sqlCoreStore) OrganizationBySlug(ctx context.Context, slug string) (Organization, error) {
	return s.scanOrg(s.db.QueryRowContext(ctx, orgSelect+` WHERE o.slug = $1`, slug))
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
	if err := row.Scan(&o.ID, &o.Name, &o.Slug, &status, &o.OwnerID, &o.CreatedAt, &o.SchemaVersion, &o.MigrationError, &o.Server); err != nil {
		return Organization{}, storeErr("organization", err)
	}
	o.Status = OrgStatus(status)
	o.CreatedAt = o.CreatedAt.UTC()
	return o, nil
}

func (s *sqlCoreStore) OrganizationsByOwner(ctx context.Context, ownerID, after int64, limit int) ([]Organization, error) {
	return s.orgs(ctx, orgSelect+` WHERE o.owner_id = $1 AND o.id > $2 ORDER BY o.id LIMIT $3`, ownerID, after, limit)
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
		if err := rows.Scan(&o.ID, &o.Name, &o.Slug, &status, &o.OwnerID, &o.CreatedAt, &o.SchemaVersion, &o.MigrationError, &o.Server); err != nil {
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

// DeleteOrganization removes the organization's own row, once the
// registry removed its record; nil if it is already gone. Its idempotency
// keys go with it.
func (s *sqlCoreStore) DeleteOrganization(ctx context.Context, id int64) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM organizations WHERE id = $1`, id); err != nil {
		return storeErr("delete organization", err)
	}
	return nil
}

// DeleteOrphans removes the rows of organizations the registry no longer
// has: those whose delete was interrupted after the registry's step. It
// returns how many it removed.
func (s *sqlCoreStore) DeleteOrphans(ctx context.Context) (int64, error) {
	res, err := s.db.ExecContext(ctx,
		`DELETE FROM organizations WHERE NOT EXISTS (SELECT 1 FROM tenantkit_tenants t WHERE t.id = CAST(organizations.id AS TEXT))`)
	var n int64
	if err == nil {
		n, err = res.RowsAffected()
	}
	if err != nil {
		return 0, storeErr("delete orphan organizations", err)
	}
	return n, nil
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
// database (a connection that ended mid-statement included), or a
// statement planned for another table shape
// (schemastrategy.ErrStalePlan), ErrUnavailable. A tenant whose schema is
// behind (dbstrategy.ErrSchemaBehind) stays as it is, for the log. Anything
// else is wrapped with %v: the driver's error is not part of the contract.
func storeErr(op string, err error) error {
	switch {
	case errors.Is(err, sql.ErrNoRows), errors.Is(err, dbstrategy.ErrNotFound), errors.Is(err, registry.ErrNotFound):
		return ErrNotFound
	case isUniqueViolation(err):
		return ErrConflict
	case placement.IsPaused(err):
		// A move's final copy: writes wait for the switch, reads go on.
		return fmt.Errorf("%w: %s", ErrWritesPaused, op)
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
		// The connection ended mid-statement with no error from the
		// server (a backend killed, a proxy restarted, a cut network),
		// or was used after that: the database is unreachable for now.
		// (storeErr gets database errors only: an io.EOF of another
		// source, a request body's, must not reach it.)
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF), errors.Is(err, pgconn.ErrConnClosed),
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
