package schemastrategy_test

import (
	"context"
	"errors"
	"net/url"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tenantkit/tenantkit/dbstrategy"
	"github.com/tenantkit/tenantkit/dbstrategy/dbstrategytest"
	"github.com/tenantkit/tenantkit/dbstrategy/schemastrategy"
	"github.com/tenantkit/tenantkit/internal/testenv"
)

// TestNewManager checks the shortest path: NewManager opens the strategy,
// the Manager works on it, and Manager.Close closes it (no connection of
// the test's application_name is left on the server).
func TestNewManager(t *testing.T) {
	dsn := newDatabase(t) // dropped when the test ends
	prefix := "tks_" + randomHex(t, 3) + "_"
	app := prefix + "newmanager"
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("application_name", app)
	u.RawQuery = q.Encode()
	ctx := context.Background()

	m, err := schemastrategy.NewManager(ctx, schemastrategy.Config{DSN: u.String(), Prefix: prefix},
		dbstrategy.WithMigrations(dbstrategytest.Migrations()))
	if err != nil {
		t.Fatalf("NewManager() error = %v", err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			m.Close()
		}
	})
	if err := m.Create(ctx, "acme"); err != nil {
		t.Fatalf("Create() error = %v", err)
	}
	if err := m.Do(ctx, "acme", func(ctx context.Context, db dbstrategy.DB) error {
		_, err := db.ExecContext(ctx, "SELECT 1")
		return err
	}); err != nil {
		t.Fatalf("Do() error = %v", err)
	}
	if err := m.Drop(ctx, "acme"); err != nil {
		t.Fatalf("Drop() error = %v", err)
	}
	if n := connections(t, dsn, app); n == 0 {
		t.Fatalf("no connection named %q before Close; the test cannot tell", app)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("Close() error = %v", err)
	}
	closed = true
	if n := connections(t, dsn, app); n != 0 {
		t.Errorf("%d connections named %q after Manager.Close; want 0: the strategy was not closed", n, app)
	}
}

func TestNewManagerErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := schemastrategy.NewManager(ctx, schemastrategy.Config{}); !errors.Is(err, dbstrategy.ErrInvalidConfig) {
		t.Errorf("NewManager(no DSN) = %v; want ErrInvalidConfig", err)
	}
	dsn := testenv.PostgresDSN(t)
	if _, err := schemastrategy.NewManager(ctx, schemastrategy.Config{DSN: dsn, Prefix: "tks_" + randomHex(t, 3) + "_"}, nil); !errors.Is(err, dbstrategy.ErrInvalidConfig) {
		t.Errorf("NewManager(nil option) = %v; want ErrInvalidConfig", err)
	}
}

// connections counts the server's connections whose application_name is
// app.
func connections(tb testing.TB, dsn, app string) int {
	tb.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", app).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}
