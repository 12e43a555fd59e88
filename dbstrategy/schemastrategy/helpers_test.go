package schemastrategy_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tenantkit/tenantkit/dbstrategy/schemastrategy"
	"github.com/tenantkit/tenantkit/internal/testenv"
)

// randomHex returns 2*n random hex digits.
func randomHex(tb testing.TB, n int) string {
	tb.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		tb.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// newDatabase creates a fresh database "tks_sch_<random>" on the test
// server, drops it when the test ends, and returns its DSN.
func newDatabase(tb testing.TB) string {
	tb.Helper()
	dsn := testenv.PostgresDSN(tb)
	name := "tks_sch_" + randomHex(tb, 4)
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		tb.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		admin, err := pgx.Connect(ctx, dsn)
		if err != nil {
			tb.Error(err)
			return
		}
		defer admin.Close(ctx)
		if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			tb.Errorf("drop test database: %v", err)
		}
	})
	u, err := url.Parse(dsn)
	if err != nil {
		tb.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// newStrategy opens a strategy on a fresh database with a fresh prefix
// (unless cfg sets them), and drops its schemas and roles, closes it and
// drops the database when the test ends.
func newStrategy(tb testing.TB, cfg schemastrategy.Config) *schemastrategy.Strategy {
	tb.Helper()
	if cfg.DSN == "" {
		cfg.DSN = newDatabase(tb)
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "tks_" + randomHex(tb, 3) + "_"
	}
	s, err := schemastrategy.New(context.Background(), cfg)
	if err != nil {
		tb.Fatalf("New() error = %v", err)
	}
	tb.Cleanup(func() {
		if err := s.DropAll(context.Background()); err != nil {
			tb.Errorf("DropAll() error = %v", err)
		}
		if err := s.Close(); err != nil {
			tb.Errorf("Close() error = %v", err)
		}
	})
	return s
}
