package schemastrategy_test

import (
	"context"
	"database/sql/driver"
	"testing"

	"github.com/jackc/pgx/v5/stdlib"

	"github.com/tenantkit/tenantkit/dbstrategy/schemastrategy"
)

// TestUnwrap: a pinned connection's driver connection has an Unwrap
// method returning pgx's *stdlib.Conn, scoped to the tenant, which is how
// package placement reaches pgx for COPY.
func TestUnwrap(t *testing.T) {
	s := newStrategy(t, schemastrategy.Config{})
	ctx := context.Background()
	if err := s.Create(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	db, err := s.Open(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c, err := s.PinConn(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	want, err := s.SchemaName("acme")
	if err != nil {
		t.Fatal(err)
	}
	err = c.Raw(func(dc any) error {
		u, ok := dc.(interface{ Unwrap() driver.Conn })
		if !ok {
			t.Fatalf("driver connection %T has no Unwrap() driver.Conn method", dc)
		}
		sc, ok := u.Unwrap().(*stdlib.Conn)
		if !ok {
			t.Fatalf("Unwrap() = %T, want *stdlib.Conn", u.Unwrap())
		}
		var got string
		if err := sc.Conn().QueryRow(ctx, "SELECT current_schema()").Scan(&got); err != nil {
			return err
		}
		if got != want {
			t.Errorf("current_schema() on the unwrapped connection = %q, want %q", got, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
