package pgstrategy

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

const (
	// minRoleSecretLen is the shortest [Config.RoleSecret] New accepts.
	minRoleSecretLen = 32

	// ownerSuffix names, after the prefix, the NOLOGIN role that owns the
	// template's objects and that every tenant role is a member of. '$' is
	// not in the key alphabet, so no tenant key can produce this name.
	ownerSuffix = "$owner"

	// passwordLabel separates the role passwords from any other use of
	// the secret.
	passwordLabel = "tenantkit/pgstrategy role password\x00"

	// scramIterations and scramSaltLen are PostgreSQL's own defaults
	// (scram_iterations, SCRAM_DEFAULT_SALT_LEN).
	scramIterations = 4096
	scramSaltLen    = 16

	// tenantRoleAttrs are the attributes of a tenant role. INHERIT lets the
	// role use the privileges of the owner role (the template's objects)
	// without SET ROLE. No CONNECTION LIMIT: it would count the sessions
	// of every process sharing the server, which the strategy cannot know.
	tenantRoleAttrs = "LOGIN INHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"

	// ownerRoleAttrs are the attributes of the owner role.
	ownerRoleAttrs = "NOLOGIN NOINHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"
)

// SQLSTATE codes of role management.
const (
	codeDuplicateObject = "42710" // role exists
	codeInvalidPassword = "28P01" // password authentication failed
	codeInvalidAuthSpec = "28000" // role does not exist, or pg_hba.conf refuses
)

// roleMode holds what the strategy needs for per-tenant roles. It is nil
// when [Config.RoleSecret] is not set.
type roleMode struct {
	secret    []byte // a copy of Config.RoleSecret
	owner     string // prefix + ownerSuffix
	superuser bool   // the admin role is a superuser: no memberships needed
}

// rolePassword returns the password of the role name: HMAC-SHA256 of the
// name under the secret, base64url without padding (43 characters).
func (r *roleMode) rolePassword(name string) string {
	mac := hmac.New(sha256.New, r.secret)
	mac.Write([]byte(passwordLabel))
	mac.Write([]byte(name))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// scramVerifier returns the SCRAM-SHA-256 verifier of password, in the
// form PostgreSQL stores in pg_authid.rolpassword and accepts in CREATE
// ROLE ... PASSWORD (RFC 5802 section 3, RFC 7677):
//
//	SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>
//
// password must not need SASLprep (the role passwords are ASCII).
func scramVerifier(password string, salt []byte, iterations int) (string, error) {
	salted, err := pbkdf2.Key(sha256.New, password, salt, iterations, sha256.Size)
	if err != nil {
		return "", err
	}
	clientKey := hmacSHA256(salted, "Client Key")
	storedKey := sha256.Sum256(clientKey)
	serverKey := hmacSHA256(salted, "Server Key")
	b64 := base64.StdEncoding.EncodeToString
	return "SCRAM-SHA-256$" + strconv.Itoa(iterations) + ":" + b64(salt) + "$" + b64(storedKey[:]) + ":" + b64(serverKey), nil
}

func hmacSHA256(key []byte, msg string) []byte {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(msg))
	return mac.Sum(nil)
}

// verifier returns a fresh SCRAM verifier, with a random salt, of the
// password of the role name.
func (r *roleMode) verifier(name string) (string, error) {
	salt := make([]byte, scramSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	return scramVerifier(r.rolePassword(name), salt, scramIterations)
}

// literal quotes s as an SQL string literal. The verifiers it quotes hold
// only base64 characters, '$' and ':', but quote them properly anyway.
func literal(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// roleState is what ensureTenantRole reads about a tenant role in one query.
type roleState struct {
	ownerExists  bool // the owner role exists
	adminInOwner bool // the admin role is a member of the owner role
	exists       bool // the tenant role exists
	inOwner      bool // the tenant role is a member of the owner role
	adminIn      bool // the admin role is a member of the tenant role
}

const roleStateQuery = `
SELECT
	EXISTS (SELECT FROM pg_roles WHERE rolname = $2),
	EXISTS (SELECT FROM pg_auth_members m JOIN pg_roles o ON o.oid = m.roleid
		WHERE o.rolname = $2 AND m.member = (SELECT oid FROM pg_roles WHERE rolname = current_user)),
	EXISTS (SELECT FROM pg_roles WHERE rolname = $1),
	EXISTS (SELECT FROM pg_auth_members m JOIN pg_roles o ON o.oid = m.roleid JOIN pg_roles t ON t.oid = m.member
		WHERE o.rolname = $2 AND t.rolname = $1),
	EXISTS (SELECT FROM pg_auth_members m JOIN pg_roles t ON t.oid = m.roleid
		WHERE t.rolname = $1 AND m.member = (SELECT oid FROM pg_roles WHERE rolname = current_user))`

// ensureOwnerRole creates the owner role if it is missing and, for an
// admin that is not a superuser, makes the admin a member of it, so that
// it may SET ROLE to it (for template migrations) and grant it.
func (r *roleMode) ensureOwnerRole(ctx context.Context, conn *pgxpool.Conn) error {
	var st roleState
	if err := conn.QueryRow(ctx, roleStateQuery, "", r.owner).Scan(&st.ownerExists, &st.adminInOwner, &st.exists, &st.inOwner, &st.adminIn); err != nil {
		return fmt.Errorf("read roles: %w", err)
	}
	return r.ensureOwner(ctx, conn, st)
}

func (r *roleMode) ensureOwner(ctx context.Context, conn *pgxpool.Conn, st roleState) error {
	if !st.ownerExists {
		_, err := conn.Exec(ctx, "CREATE ROLE "+quote(r.owner)+" "+ownerRoleAttrs)
		if err != nil && !hasCode(err, codeDuplicateObject) && !hasCode(err, codeUniqueViolation) {
			return fmt.Errorf("create owner role: %w", err)
		}
	}
	if !r.superuser && !st.adminInOwner {
		if err := grantToAdmin(ctx, conn, r.owner); err != nil {
			return fmt.Errorf("grant owner role: %w", err)
		}
	}
	return nil
}

// ensureTenantRole makes sure the tenant role name exists, as a member of
// the owner role, with the attributes and the password the strategy
// gives it (setting them again if the role existed), and, for an admin
// that is not a superuser, that the admin is a member of it (needed to
// create, alter and drop a database the role owns). The caller holds the
// tenant's advisory lock, so no other strategy alters the role meanwhile.
func (r *roleMode) ensureTenantRole(ctx context.Context, conn *pgxpool.Conn, name string) error {
	var st roleState
	if err := conn.QueryRow(ctx, roleStateQuery, name, r.owner).Scan(&st.ownerExists, &st.adminInOwner, &st.exists, &st.inOwner, &st.adminIn); err != nil {
		return fmt.Errorf("read roles: %w", err)
	}
	if err := r.ensureOwner(ctx, conn, st); err != nil {
		return err
	}
	v, err := r.verifier(name)
	if err != nil {
		return fmt.Errorf("role password: %w", err)
	}
	// Only the verifier reaches the server (and its statement log), never
	// the password.
	if !st.exists {
		_, err = conn.Exec(ctx, "CREATE ROLE "+quote(name)+" "+tenantRoleAttrs+" IN ROLE "+quote(r.owner)+" PASSWORD "+literal(v))
		switch {
		case err == nil:
			st.inOwner = true
		case hasCode(err, codeDuplicateObject) || hasCode(err, codeUniqueViolation):
			st.exists = true // made meanwhile by someone without the tenant lock
		default:
			return fmt.Errorf("create role: %w", err)
		}
	}
	if st.exists {
		if _, err := conn.Exec(ctx, "ALTER ROLE "+quote(name)+" "+tenantRoleAttrs+" PASSWORD "+literal(v)); err != nil {
			return fmt.Errorf("alter role: %w", err)
		}
	}
	if !st.inOwner {
		_, err := conn.Exec(ctx, "GRANT "+quote(r.owner)+" TO "+quote(name))
		if err != nil && !hasCode(err, codeUniqueViolation) {
			return fmt.Errorf("grant owner role: %w", err)
		}
	}
	if !r.superuser && !st.adminIn {
		if err := grantToAdmin(ctx, conn, name); err != nil {
			return fmt.Errorf("grant role to admin: %w", err)
		}
	}
	return nil
}

// grantToAdmin makes the admin role a member of role.
func grantToAdmin(ctx context.Context, conn *pgxpool.Conn, role string) error {
	_, err := conn.Exec(ctx, "GRANT "+quote(role)+" TO CURRENT_USER")
	if hasCode(err, codeUniqueViolation) {
		return nil
	}
	return err
}

// dropRole runs DROP ROLE IF EXISTS name.
func dropRole(ctx context.Context, e execer, name string) error {
	_, err := e.Exec(ctx, "DROP ROLE IF EXISTS "+quote(name))
	return err
}

// tenantLockKey is the advisory lock key that serializes, across
// processes, the role and database setup of the database name.
func tenantLockKey(name string) int64 {
	h := fnv.New64a()
	h.Write([]byte("tenantkit/pgstrategy tenant\x00" + name))
	return int64(h.Sum64())
}

// adminRole reads the admin role's name and whether it is a superuser and
// may create roles and databases.
func adminRole(ctx context.Context, q interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}) (name string, super, createRole, createDB bool, err error) {
	err = q.QueryRow(ctx, "SELECT rolname, rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = current_user").
		Scan(&name, &super, &createRole, &createDB)
	return name, super, createRole, createDB, err
}

// restrictLockKey is the advisory lock key that serializes
// [Strategy.RestrictConnect] across processes: PostgreSQL refuses two
// concurrent changes of one database's privileges ("tuple concurrently
// updated").
func restrictLockKey() int64 {
	h := fnv.New64a()
	h.Write([]byte("tenantkit/pgstrategy restrict connect"))
	return int64(h.Sum64())
}

// RestrictConnect takes the CONNECT privilege away from PUBLIC on the
// admin database (the DSN's) and on each database named, so that a tenant
// role, which holds no grant of its own, may connect to its own database
// and to nothing else on the server. Without it, a tenant role may log in
// to, say, the postgres database, list every database and role, read
// other tenants' pg_stat_database counters and take the advisory locks
// that serialize provisioning (they live in the admin database), stalling
// every Create for as long as it holds them.
//
// Databases named that do not exist are skipped. Where PUBLIC has CONNECT,
// the DSN's role is granted it first, so it keeps its own access. Other
// roles that are neither superusers nor owners lose access to those
// databases unless granted CONNECT explicitly (GRANT CONNECT ON DATABASE
// ... TO ...); that is the point. The DSN's role must own each database,
// or be a superuser; otherwise RestrictConnect reports which database it
// could not restrict. It is idempotent, safe to call at every start-up,
// and costs one query when nothing is left to change.
//
// RestrictConnect works without [Config.RoleSecret] too, but then tenant
// databases are reached as the DSN's role, and there is no tenant role to
// keep out. The pg_hba.conf "samerole" keyword gives the same guarantee
// in the server's own configuration; see the package documentation.
func (s *Strategy) RestrictConnect(ctx context.Context, databases ...string) error {
	if s.closed.Load() {
		return ErrClosed
	}
	conn, err := s.admin.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("pgstrategy: restrict connect: %w", err)
	}
	defer conn.Release()
	key := restrictLockKey()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", key); err != nil {
		return fmt.Errorf("pgstrategy: restrict connect: lock: %w", err)
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), unlockTimeout)
		defer cancel()
		if _, err := conn.Exec(uctx, "SELECT pg_advisory_unlock($1)", key); err != nil {
			// A session that cannot unlock must not go back to the pool
			// holding the lock.
			conn.Conn().Close(uctx)
		}
	}()
	rows, err := conn.Query(ctx, `SELECT datname FROM pg_database
WHERE (datname = current_database() OR datname = ANY($1)) AND has_database_privilege('public', oid, 'CONNECT')
ORDER BY datname`, databases)
	if err != nil {
		return fmt.Errorf("pgstrategy: restrict connect: %w", err)
	}
	open, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("pgstrategy: restrict connect: %w", err)
	}
	for _, name := range open {
		// REVOKE by a role that is neither owner nor superuser only warns;
		// the check below turns that into an error.
		q := "GRANT CONNECT ON DATABASE " + quote(name) + " TO CURRENT_USER; REVOKE CONNECT ON DATABASE " + quote(name) + " FROM PUBLIC"
		if _, err := conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("pgstrategy: restrict connect to %q: %w", name, err)
		}
		var public bool
		if err := conn.QueryRow(ctx, "SELECT has_database_privilege('public', $1, 'CONNECT')", name).Scan(&public); err != nil {
			return fmt.Errorf("pgstrategy: restrict connect to %q: %w", name, err)
		}
		if public {
			return fmt.Errorf("pgstrategy: restrict connect to %q: PUBLIC keeps CONNECT: the DSN's role must own the database or be a superuser", name)
		}
	}
	return nil
}
