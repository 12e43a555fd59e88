package pgstrategy_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/tenantkit/tenantkit/dbstrategy"
	"github.com/tenantkit/tenantkit/dbstrategy/dbstrategytest"
	"github.com/tenantkit/tenantkit/dbstrategy/pgstrategy"
	"github.com/tenantkit/tenantkit/internal/pgtest"
	"github.com/tenantkit/tenantkit/internal/testenv"
)

func TestRoleConformance(t *testing.T) {
	dbstrategytest.Run(t, func(t *testing.T) dbstrategy.Strategy {
		return newRoleStrategy(t, pgstrategy.Config{})
	})
}

// prefixOf returns the strategy's prefix.
func prefixOf(s *pgstrategy.Strategy) string {
	name, _ := s.DatabaseName("x")
	return strings.TrimSuffix(name, "x")
}

func TestRoleIsolation(t *testing.T) {
	s := newRoleStrategy(t, pgstrategy.Config{})
	ctx := context.Background()
	if err := s.PrepareTemplate(ctx, nil); err != nil {
		t.Fatalf("PrepareTemplate() error = %v", err)
	}
	dbs := map[string]*sql.DB{"a": openTenant(t, s, "a"), "b": openTenant(t, s, "b")}
	dsn := testenv.PostgresDSN(t)
	template := prefixOf(s) + "$template"

	for key, db := range dbs {
		role, _ := s.DatabaseName(key)
		var user, session, database string
		err := db.QueryRowContext(ctx, "SELECT current_user, session_user, current_database()").Scan(&user, &session, &database)
		if err != nil || user != role || session != role || database != role {
			t.Errorf("tenant %q: current_user, session_user, current_database() = %q, %q, %q, %v; want %q for all, nil",
				key, user, session, database, err, role)
		}
	}

	a, _ := s.DatabaseName("a")
	b, _ := s.DatabaseName("b")
	tests := []struct {
		name     string
		database string
		want     string // SQLSTATE; "" for success
	}{
		{"own database", a, ""},
		{"other tenant's database", b, "42501"},
		{"template", template, "42501"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := connectAs(t, dsn, tt.database, a, s.RolePassword("a"))
			if got := sqlState(err); got != tt.want || (tt.want == "" && err != nil) {
				t.Errorf("connect as %q to %q: error = %v (SQLSTATE %q); want SQLSTATE %q", a, tt.database, err, got, tt.want)
			}
		})
	}
}

func TestRolePrivileges(t *testing.T) {
	s := newRoleStrategy(t, pgstrategy.Config{})
	ctx := context.Background()
	for _, key := range []string{"a", "b"} {
		if err := s.Create(ctx, key); err != nil {
			t.Fatalf("Create(%q) error = %v", key, err)
		}
	}
	admin := adminConn(t)
	prefix := prefixOf(s)
	owner := prefix + "$owner"
	a, _ := s.DatabaseName("a")

	var (
		dbOwner                                     string
		acl                                         []string
		publicConnect, publicTemp                   bool
		super, createDB, createRole, login, inherit bool
		connLimit                                   int
		memberOfOwner, aInB                         bool
		bypassRLS, replication                      bool
		rolpassword                                 string
	)
	err := admin.QueryRow(ctx, `
SELECT pg_get_userbyid(d.datdba), d.datacl::text[],
	has_database_privilege('public', d.datname, 'CONNECT'), has_database_privilege('public', d.datname, 'TEMPORARY'),
	r.rolsuper, r.rolcreatedb, r.rolcreaterole, r.rolcanlogin, r.rolinherit, r.rolconnlimit, r.rolbypassrls, r.rolreplication,
	pg_has_role(r.rolname, $2, 'MEMBER'), pg_has_role(r.rolname, $3, 'MEMBER'),
	(SELECT rolpassword FROM pg_authid WHERE rolname = $1)
FROM pg_database d, pg_roles r WHERE d.datname = $1 AND r.rolname = $1`, a, owner, prefix+"b").Scan(
		&dbOwner, &acl, &publicConnect, &publicTemp, &super, &createDB, &createRole, &login, &inherit, &connLimit,
		&bypassRLS, &replication, &memberOfOwner, &aInB, &rolpassword)
	if err != nil {
		t.Fatalf("query catalogs: %v", err)
	}
	checks := []struct {
		what      string
		got, want any
	}{
		{"database owner", dbOwner, a},
		{"database ACL", fmt.Sprint(acl), fmt.Sprintf("[%s=CTc/%s]", a, a)},
		{"PUBLIC may CONNECT", publicConnect, false},
		{"PUBLIC may TEMPORARY", publicTemp, false},
		{"role SUPERUSER", super, false},
		{"role CREATEDB", createDB, false},
		{"role CREATEROLE", createRole, false},
		{"role BYPASSRLS", bypassRLS, false},
		{"role REPLICATION", replication, false},
		{"role LOGIN", login, true},
		{"role INHERIT", inherit, true},
		{"role CONNECTION LIMIT", connLimit, -1},
		{"role member of " + owner, memberOfOwner, true},
		{"role a member of role b", aInB, false},
		{"password stored as a SCRAM-SHA-256 verifier", strings.HasPrefix(rolpassword, "SCRAM-SHA-256$4096:"), true},
		{"password stored in plain", strings.Contains(rolpassword, s.RolePassword("a")), false},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v; want %v", c.what, c.got, c.want)
		}
	}

	// A role that is neither the tenant's nor the admin may not connect.
	probe := prefix + "$probe"
	if _, err := admin.Exec(ctx, `CREATE ROLE "`+probe+`" LOGIN`); err != nil {
		t.Fatalf("create role %q: %v", probe, err)
	}
	t.Cleanup(func() { admin.Exec(context.Background(), `DROP ROLE IF EXISTS "`+probe+`"`) })
	err = connectAs(t, testenv.PostgresDSN(t), a, probe, "")
	if got := sqlState(err); got != "42501" {
		t.Errorf("connect as an unrelated role %q to %q: error = %v; want SQLSTATE 42501", probe, a, err)
	}
}

func TestRoleCreateRepairs(t *testing.T) {
	// Create sets the role and database up again, whatever was changed.
	s := newRoleStrategy(t, pgstrategy.Config{})
	ctx := context.Background()
	if err := s.Create(ctx, "acme"); err != nil {
		t.Fatalf("Create() error = %v", err)
	}
	admin := adminConn(t)
	name, _ := s.DatabaseName("acme")
	q := fmt.Sprintf(`ALTER ROLE "%[1]s" NOLOGIN CREATEDB PASSWORD NULL; ALTER DATABASE "%[1]s" OWNER TO CURRENT_USER;
GRANT ALL ON DATABASE "%[1]s" TO PUBLIC; REVOKE "%[2]s$owner" FROM "%[1]s"`, name, prefixOf(s))
	if _, err := admin.Exec(ctx, q); err != nil {
		t.Fatalf("break the tenant: %v", err)
	}
	if db, err := s.Open(ctx, "acme"); err == nil {
		db.Close()
		t.Fatal("Open() of a NOLOGIN role: error = nil; want an error")
	}

	if err := s.Create(ctx, "acme"); err != nil {
		t.Fatalf("Create() again error = %v", err)
	}
	var owner string
	var publicConnect, createDB, member, hasPassword bool
	err := admin.QueryRow(ctx, `SELECT pg_get_userbyid(datdba), has_database_privilege('public', $1, 'CONNECT'),
	(SELECT rolcreatedb FROM pg_roles WHERE rolname = $1), pg_has_role($1, $2, 'MEMBER'),
	(SELECT rolpassword IS NOT NULL FROM pg_authid WHERE rolname = $1)
FROM pg_database WHERE datname = $1`, name, prefixOf(s)+"$owner").Scan(&owner, &publicConnect, &createDB, &member, &hasPassword)
	if err != nil {
		t.Fatalf("query catalogs: %v", err)
	}
	if owner != name || publicConnect || createDB || !member || !hasPassword {
		t.Errorf("after Create: owner %q, PUBLIC CONNECT %v, CREATEDB %v, member of owner %v, password %v; want %q, false, false, true, true",
			owner, publicConnect, createDB, member, hasPassword, name)
	}
	db, err := s.Open(ctx, "acme")
	if err != nil {
		t.Fatalf("Open() after the repair error = %v", err)
	}
	db.Close()
}

func TestRoleDrop(t *testing.T) {
	s := newRoleStrategy(t, pgstrategy.Config{})
	ctx := context.Background()
	if err := s.Create(ctx, "acme"); err != nil {
		t.Fatalf("Create() error = %v", err)
	}
	for i := range 2 {
		if err := s.Drop(ctx, "acme"); err != nil {
			t.Fatalf("Drop() call %d error = %v; want nil", i+1, err)
		}
	}
	admin := adminConn(t)
	name, _ := s.DatabaseName("acme")
	if databaseExists(t, admin, name) || roleExists(t, admin, name) {
		t.Errorf("database or role %q exists after Drop", name)
	}
	// The role is gone too, so the server refuses the login before it
	// looks for the database: Open still reports ErrNotFound.
	if db, err := s.Open(ctx, "acme"); !errors.Is(err, dbstrategy.ErrNotFound) {
		if db != nil {
			db.Close()
		}
		t.Errorf("Open() after Drop: error = %v; want %v", err, dbstrategy.ErrNotFound)
	}
}

func TestRoleDropAll(t *testing.T) {
	s := newRoleStrategy(t, pgstrategy.Config{})
	ctx := context.Background()
	if err := s.Create(ctx, "a"); err != nil {
		t.Fatalf("Create() error = %v", err)
	}
	if err := s.PrepareTemplate(ctx, nil); err != nil {
		t.Fatalf("PrepareTemplate() error = %v", err)
	}
	if err := s.Create(ctx, "b"); err != nil {
		t.Fatalf("Create() error = %v", err)
	}
	// A role under the prefix that no key can name is not the strategy's.
	admin := adminConn(t)
	foreign := prefixOf(s) + "Other"
	if _, err := admin.Exec(ctx, `CREATE ROLE "`+foreign+`"`); err != nil {
		t.Fatalf("create role %q: %v", foreign, err)
	}
	t.Cleanup(func() { admin.Exec(context.Background(), `DROP ROLE IF EXISTS "`+foreign+`"`) })

	if err := s.DropAll(ctx); err != nil {
		t.Fatalf("DropAll() error = %v", err)
	}
	if got := leftovers(t, testenv.PostgresDSN(t), prefixOf(s)); fmt.Sprint(got) != fmt.Sprint([]string{"role " + foreign}) {
		t.Errorf("left under the prefix after DropAll: %v; want only role %q", got, foreign)
	}
	// The strategy works again afterwards.
	if err := s.Create(ctx, "c"); err != nil {
		t.Fatalf("Create() after DropAll error = %v", err)
	}
	db, err := s.Open(ctx, "c")
	if err != nil {
		t.Fatalf("Open() after DropAll error = %v", err)
	}
	db.Close()
}

// noTemplate hides the strategy's Templater, so that a Manager migrates
// each tenant database itself.
type noTemplate struct {
	dbstrategy.Strategy
	dbstrategy.ConnLimiter
}

// migrationsUpTo returns dbstrategytest.Migrations() up to version n.
func migrationsUpTo(n int) fstest.MapFS {
	all := dbstrategytest.Migrations()
	fsys := fstest.MapFS{}
	for name, f := range all {
		if base := filepath.Base(name); base[:5] <= fmt.Sprintf("%05d", n) {
			fsys[name] = f
		}
	}
	return fsys
}

func TestRoleMigrations(t *testing.T) {
	// Tenant roles run the Manager's migrations: from the template (made
	// by the owner role) or without it, then a later migration altering
	// the table on an existing tenant.
	for _, template := range []bool{true, false} {
		t.Run(fmt.Sprintf("template=%v", template), func(t *testing.T) {
			s := newRoleStrategy(t, pgstrategy.Config{})
			var st dbstrategy.Strategy = s
			wantOwner, _ := s.DatabaseName("acme")
			if template {
				wantOwner = prefixOf(s) + "$owner"
			} else {
				st = noTemplate{s, s}
			}
			ctx := t.Context()

			m1, err := dbstrategy.NewManager(st, dbstrategy.WithMigrations(migrationsUpTo(1)))
			if err != nil {
				t.Fatalf("NewManager() error = %v", err)
			}
			if err := m1.Create(ctx, "acme"); err != nil {
				t.Fatalf("Create() error = %v", err)
			}
			if v, err := m1.Version(ctx, "acme"); v != 1 || err != nil {
				t.Errorf("Version() = %d, %v; want 1, nil", v, err)
			}
			m1.Close()

			m2, err := dbstrategy.NewManager(st, dbstrategy.WithMigrations(migrationsUpTo(2)))
			if err != nil {
				t.Fatalf("NewManager() error = %v", err)
			}
			defer m2.Close()
			if err := m2.Migrate(ctx, "acme"); err != nil {
				t.Fatalf("Migrate() to version 2 error = %v", err)
			}
			lease, err := m2.Acquire(ctx, "acme")
			if err != nil {
				t.Fatalf("Acquire() error = %v", err)
			}
			defer lease.Release()
			db := lease.DB()
			if _, err := db.ExecContext(ctx, "INSERT INTO notes (id, body, tag) VALUES (1, 'hello', 'x')"); err != nil {
				t.Fatalf("insert: %v", err)
			}
			var body, tag, owner, user string
			err = db.QueryRowContext(ctx, `SELECT body, tag, (SELECT tableowner FROM pg_tables WHERE tablename = 'notes'), current_user
FROM notes WHERE id = 1`).Scan(&body, &tag, &owner, &user)
			if err != nil || body != "hello" || tag != "x" {
				t.Errorf("select = %q, %q, %v; want hello, x, nil", body, tag, err)
			}
			if owner != wantOwner {
				t.Errorf("owner of notes = %q; want %q", owner, wantOwner)
			}
			if want, _ := s.DatabaseName("acme"); user != want {
				t.Errorf("current_user = %q; want %q", user, want)
			}
		})
	}
}

func TestRoleAdminNotSuperuser(t *testing.T) {
	// A DSN role with CREATEROLE and CREATEDB, but not SUPERUSER, is
	// enough; one without CREATEROLE is refused by New.
	dsn := testenv.PostgresDSN(t)
	admin := adminConn(t)
	ctx := context.Background()
	suffix := strings.TrimPrefix(uniquePrefix(t, 3), "tkt_")
	manager, lacking := "tktadm_"+suffix, "tktnocr_"+suffix
	// Granted CONNECT explicitly, as an operator would: the database may
	// have been restricted already (pgstrategy.Strategy.RestrictConnect).
	var database string
	if err := admin.QueryRow(ctx, "SELECT current_database()").Scan(&database); err != nil {
		t.Fatal(err)
	}
	q := fmt.Sprintf(`CREATE ROLE %[1]q LOGIN CREATEDB CREATEROLE; CREATE ROLE %[2]q LOGIN CREATEDB; GRANT CONNECT ON DATABASE %[3]q TO %[1]q, %[2]q`, manager, lacking, database)
	if _, err := admin.Exec(ctx, q); err != nil {
		t.Fatalf("create admin roles: %v", err)
	}
	// Registered first, so it runs last, after the strategy's cleanup.
	t.Cleanup(func() {
		q := fmt.Sprintf(`REVOKE CONNECT ON DATABASE %[3]q FROM %[1]q, %[2]q; DROP ROLE IF EXISTS %[1]q; DROP ROLE IF EXISTS %[2]q`, manager, lacking, database)
		if _, err := admin.Exec(context.Background(), q); err != nil {
			t.Errorf("drop admin roles: %v", err)
		}
	})

	s, err := pgstrategy.New(ctx, pgstrategy.Config{DSN: dsnWithUser(t, dsn, lacking), Prefix: uniquePrefix(t, 3), RoleSecret: newSecret(t)})
	if !errors.Is(err, dbstrategy.ErrInvalidConfig) {
		if s != nil {
			s.Close()
		}
		t.Errorf("New() as a role without CREATEROLE: error = %v; want %v", err, dbstrategy.ErrInvalidConfig)
	}

	s = newRoleStrategy(t, pgstrategy.Config{DSN: dsnWithUser(t, dsn, manager)})
	m, err := dbstrategy.NewManager(s, dbstrategy.WithMigrations(dbstrategytest.Migrations()))
	if err != nil {
		t.Fatalf("NewManager() error = %v", err)
	}
	defer m.Close()
	for _, key := range []string{"a", "b"} {
		if err := m.Create(ctx, key); err != nil {
			t.Fatalf("Create(%q) error = %v", key, err)
		}
		lease, err := m.Acquire(ctx, key)
		if err != nil {
			t.Fatalf("Acquire(%q) error = %v", key, err)
		}
		_, err = lease.DB().ExecContext(ctx, "INSERT INTO notes (id, body, tag) VALUES (1, 'hello', 'x')")
		lease.Release()
		if err != nil {
			t.Errorf("tenant %q: insert: %v", key, err)
		}
	}
	if err := m.Drop(ctx, "a"); err != nil {
		t.Errorf("Drop() error = %v", err)
	}
	a, _ := s.DatabaseName("a")
	if databaseExists(t, admin, a) || roleExists(t, admin, a) {
		t.Errorf("database or role %q exists after Drop", a)
	}
}

func TestRolePasswordAuth(t *testing.T) {
	// On a private cluster that asks every role but postgres for a
	// SCRAM-SHA-256 password over TCP, tenant handles log in with the
	// derived password, which never appears in the server's log, not even
	// with log_statement = 'all'.
	if testing.Short() {
		t.Skip("starts a PostgreSQL cluster; skipped with -short")
	}
	c := pgtest.StartCluster(t)
	data := filepath.Join(c.Dir(), "data")
	hba := "local all all trust\nhost all postgres 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 scram-sha-256\n"
	if err := os.WriteFile(filepath.Join(data, "pg_hba.conf"), []byte(hba), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(data, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.WriteString("\nlog_statement = 'all'\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}

	s := newRoleStrategy(t, pgstrategy.Config{DSN: c.DSN(), Prefix: "tenant_"})
	ctx := context.Background()
	for _, key := range []string{"a", "b"} {
		if err := s.Create(ctx, key); err != nil {
			t.Fatalf("Create(%q) error = %v", key, err)
		}
	}
	db, err := s.Open(ctx, "a")
	if err != nil {
		t.Fatalf("Open() error = %v", err)
	}
	var user string
	err = db.QueryRowContext(ctx, "SELECT current_user").Scan(&user)
	db.Close()
	if err != nil || user != "tenant_a" {
		t.Errorf("current_user = %q, %v; want tenant_a, nil", user, err)
	}

	tests := []struct {
		name, database, user, password string
		want                           string // SQLSTATE; "" for success
	}{
		{"derived password", "tenant_a", "tenant_a", s.RolePassword("a"), ""},
		{"wrong password", "tenant_a", "tenant_a", s.RolePassword("b"), "28P01"},
		{"no password", "tenant_a", "tenant_a", "", "28P01"},
		{"other tenant's database", "tenant_b", "tenant_a", s.RolePassword("a"), "42501"},
	}
	for _, tt := range tests {
		err := connectAs(t, c.DSN(), tt.database, tt.user, tt.password)
		if got := sqlState(err); got != tt.want || (tt.want == "" && err != nil) {
			t.Errorf("%s: connect as %q to %q: error = %v (SQLSTATE %q); want SQLSTATE %q", tt.name, tt.user, tt.database, err, got, tt.want)
		}
	}

	if err := s.Drop(ctx, "a"); err != nil {
		t.Fatalf("Drop() error = %v", err)
	}
	if db, err := s.Open(ctx, "a"); !errors.Is(err, dbstrategy.ErrNotFound) {
		if db != nil {
			db.Close()
		}
		t.Errorf("Open() after Drop: error = %v; want %v", err, dbstrategy.ErrNotFound)
	}

	log, err := os.ReadFile(filepath.Join(c.Dir(), "postgres.log"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), `CREATE ROLE "tenant_a"`) {
		t.Errorf("server log lacks the CREATE ROLE statement; is log_statement on?")
	}
	for _, key := range []string{"a", "b"} {
		if strings.Contains(string(log), s.RolePassword(key)) {
			t.Errorf("server log holds the password of tenant %q", key)
		}
	}
}
