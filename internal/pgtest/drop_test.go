package pgtest_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantkit/tenantkit/internal/pgtest"
	"github.com/tenantkit/tenantkit/internal/testenv"
)

func TestDropPrefix(t *testing.T) {
	dsn := testenv.PostgresDSN(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())

	b := make([]byte, 4)
	rand.Read(b)
	prefix := "tkp" + hex.EncodeToString(b) + "_"
	// decoy would match LIKE 'prefix%', whose '_' matches any character.
	decoy := prefix[:len(prefix)-1] + "x_decoy"
	mine := []string{prefix + "a", prefix + "b", prefix + "c"}
	for _, name := range append(slices.Clone(mine), decoy) {
		if _, err := conn.Exec(ctx, `CREATE DATABASE "`+name+`"`); err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
	}
	roles := []string{prefix + "a", prefix + "$owner"}
	for _, role := range roles {
		if _, err := conn.Exec(ctx, `CREATE ROLE "`+role+`" LOGIN`); err != nil {
			t.Fatalf("create role %s: %v", role, err)
		}
	}
	if _, err := conn.Exec(ctx, `CREATE ROLE "`+decoy+`"`); err != nil {
		t.Fatalf("create role %s: %v", decoy, err)
	}
	// A database its role owns: the role can go only after the database.
	if _, err := conn.Exec(ctx, `ALTER DATABASE "`+mine[0]+`" OWNER TO "`+roles[0]+`"`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), dsn)
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close(context.Background())
		for _, name := range append(mine, decoy) {
			if _, err := conn.Exec(context.Background(), `DROP DATABASE IF EXISTS "`+name+`" WITH (FORCE)`); err != nil {
				t.Errorf("drop %s: %v", name, err)
			}
		}
		for _, role := range append(roles, decoy) {
			if _, err := conn.Exec(context.Background(), `DROP ROLE IF EXISTS "`+role+`"`); err != nil {
				t.Errorf("drop role %s: %v", role, err)
			}
		}
	})
	// A session on one of them must not stop its drop.
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Database = mine[0]
	held, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close(context.Background())

	if err := pgtest.DropPrefix(ctx, dsn, prefix, 2); err != nil {
		t.Fatalf("DropPrefix() = %v", err)
	}
	rows, err := conn.Query(ctx, `SELECT datname FROM pg_database WHERE datname = ANY($1) ORDER BY datname`, append(slices.Clone(mine), decoy))
	if err != nil {
		t.Fatal(err)
	}
	left, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{decoy}; !slices.Equal(left, want) {
		t.Errorf("databases left = %q; want %q", left, want)
	}
	rows, err = conn.Query(ctx, `SELECT rolname FROM pg_roles WHERE rolname = ANY($1) ORDER BY rolname`, append(slices.Clone(roles), decoy))
	if err != nil {
		t.Fatal(err)
	}
	left, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{decoy}; !slices.Equal(left, want) {
		t.Errorf("roles left = %q; want %q", left, want)
	}

	if err := pgtest.DropPrefix(ctx, dsn, "", 1); err == nil {
		t.Errorf("DropPrefix() with an empty prefix = nil; want an error")
	}
}
