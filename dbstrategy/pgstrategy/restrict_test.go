package pgstrategy_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tenantkit/tenantkit/dbstrategy/pgstrategy"
	"github.com/tenantkit/tenantkit/internal/pgtest"
)

func TestRestrictConnect(t *testing.T) {
	// On a private cluster, since it changes the privileges of the
	// postgres and template1 databases: before RestrictConnect a tenant
	// role may log in to every database but other tenants'; after it, to
	// its own database only, so the advisory locks that serialize
	// provisioning (in the admin database) are out of its reach too.
	if testing.Short() {
		t.Skip("starts a PostgreSQL cluster; skipped with -short")
	}
	c := pgtest.StartCluster(t)
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, c.DSN())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	for _, q := range []string{
		`CREATE DATABASE appcore`,
		`CREATE DATABASE other`,
		`CREATE ROLE reader LOGIN`,
		`CREATE ROLE granted LOGIN`,
		`GRANT CONNECT ON DATABASE appcore TO granted`,
		`CREATE ROLE notowner LOGIN CREATEDB CREATEROLE`,
	} {
		if _, err := admin.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}

	s := newRoleStrategy(t, pgstrategy.Config{DSN: c.DSN(), Prefix: "tenant_"})
	if err := s.Create(ctx, "a"); err != nil {
		t.Fatalf("Create() error = %v", err)
	}
	connect := func(database, user string) string {
		return sqlState(connectAs(t, c.DSN(), database, user, s.RolePassword("a")))
	}
	for _, db := range []string{"postgres", "template1", "appcore"} {
		if got := connect(db, "tenant_a"); got != "" {
			t.Fatalf("before RestrictConnect, tenant role to %s: SQLSTATE %q; want success (is the test still needed?)", db, got)
		}
	}

	if err := s.RestrictConnect(ctx, "appcore", "template1", "no_such_database"); err != nil {
		t.Fatalf("RestrictConnect() error = %v", err)
	}
	if err := s.RestrictConnect(ctx, "appcore", "template1"); err != nil {
		t.Fatalf("RestrictConnect() again error = %v", err)
	}

	tests := []struct {
		name, database, user string
		want                 string // SQLSTATE; "" for success
	}{
		{"tenant to its own database", "tenant_a", "tenant_a", ""},
		{"tenant to the admin database", "postgres", "tenant_a", "42501"},
		{"tenant to template1", "template1", "tenant_a", "42501"},
		{"tenant to the core database", "appcore", "tenant_a", "42501"},
		{"tenant to a database not named", "other", "tenant_a", ""},
		{"other role to the core database", "appcore", "reader", "42501"},
		{"role granted CONNECT to the core database", "appcore", "granted", ""},
		{"superuser to the core database", "appcore", "postgres", ""},
	}
	for _, tt := range tests {
		if got := connect(tt.database, tt.user); got != tt.want {
			t.Errorf("%s: SQLSTATE %q; want %q", tt.name, got, tt.want)
		}
	}

	// The DSN's role keeps working: provisioning still takes its locks.
	if err := s.Create(ctx, "b"); err != nil {
		t.Errorf("Create() after RestrictConnect error = %v", err)
	}

	// A role that neither owns the database nor is a superuser cannot
	// restrict it, and is told so rather than left with a warning.
	if _, err := admin.Exec(ctx, `GRANT CONNECT ON DATABASE other TO notowner`); err != nil {
		t.Fatal(err)
	}
	weak := newRoleStrategy(t, pgstrategy.Config{DSN: dsnWithDatabase(t, dsnWithUser(t, c.DSN(), "notowner"), "other"), Prefix: "weak_"})
	err = weak.RestrictConnect(ctx, "other")
	if err == nil || !strings.Contains(err.Error(), `"other"`) {
		t.Errorf("RestrictConnect() by a role that does not own the database: error = %v; want one naming it", err)
	}
	if got := connect("other", "tenant_a"); got != "" {
		t.Errorf("after a failed RestrictConnect, tenant to other: SQLSTATE %q; want success (unchanged)", got)
	}
}
