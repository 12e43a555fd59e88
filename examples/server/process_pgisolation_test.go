package main

import (
	"context"
	"database/sql"
	"errors"
	"net/url"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tenantkit/tenantkit/internal/pgtest"
)

func TestAttackTenantRoleReachesOnlyItsDatabase(t *testing.T) {
	// A tenant's PostgreSQL role, were its credentials to leak, logs in to
	// its own database and nowhere else: not the maintenance databases,
	// where it could list every tenant and read their counters, not the
	// admin database, where it could hold the advisory locks that
	// provisioning waits on, and not the core database. On a private
	// cluster (trust authentication, so only privileges are tested), since
	// the server changes the privileges of postgres and template1.
	if testing.Short() {
		t.Skip("starts a PostgreSQL cluster; skipped with -short")
	}
	cluster := pgtest.StartCluster(t)
	ctx := context.Background()
	admin, err := sql.Open("pgx", cluster.DSN())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, `CREATE DATABASE appcore`); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(cluster.DSN())
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/appcore"

	cfg := baseConfig(t.TempDir())
	cfg.coreDB = u.String()
	cfg.tenantDB = cluster.DSN()
	cfg.tenantDBRoleSecret = testRoleSecret
	ts := startServer(t, cfg)
	_, slug := ts.org(t, ts.coreUser(t, "owner@example.com"), "Acme")

	var role string
	err = admin.QueryRowContext(ctx, `SELECT rolname FROM pg_roles WHERE starts_with(rolname, $1) AND rolcanlogin`, cfg.tenantDBPrefix).Scan(&role)
	if err != nil {
		t.Fatalf("find the tenant role of %q: %v", slug, err)
	}
	connectAs := func(database string) string {
		c, err := pgx.ParseConfig(cluster.DSN())
		if err != nil {
			t.Fatal(err)
		}
		c.Database, c.User = database, role
		conn, err := pgx.ConnectConfig(ctx, c)
		if err != nil {
			var pgErr *pgconn.PgError
			if errors.As(err, &pgErr) {
				return pgErr.Code
			}
			return err.Error()
		}
		conn.Close(ctx)
		return ""
	}
	tests := []struct {
		database string
		want     string // SQLSTATE; "" for success
	}{
		{role, ""}, // its own database, named like the role
		{"postgres", "42501"},
		{"template1", "42501"},
		{"appcore", "42501"},
	}
	for _, tt := range tests {
		if got := connectAs(tt.database); got != tt.want {
			t.Errorf("tenant role %q connects to %q: %q; want SQLSTATE %q", role, tt.database, got, tt.want)
		}
	}
}
