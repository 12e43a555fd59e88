package pgstrategy_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tenantkit/tenantkit/dbstrategy/pgstrategy"
	"github.com/tenantkit/tenantkit/internal/testenv"
)

// uniquePrefix returns a prefix no other test run uses: "tkt_" followed by
// 2*n random hex digits and '_'.
func uniquePrefix(tb testing.TB, n int) string {
	tb.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		tb.Fatal(err)
	}
	return "tkt_" + hex.EncodeToString(b) + "_"
}

// newStrategy opens a strategy on the test server under a fresh prefix
// (unless cfg sets one) and drops everything under that prefix when the
// test ends, checking that no database or role is left under it.
func newStrategy(tb testing.TB, cfg pgstrategy.Config) *pgstrategy.Strategy {
	tb.Helper()
	if cfg.DSN == "" {
		cfg.DSN = testenv.PostgresDSN(tb)
	}
	if cfg.Prefix == "" {
		cfg.Prefix = uniquePrefix(tb, 3)
	}
	s, err := pgstrategy.New(context.Background(), cfg)
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
		if left := leftovers(tb, cfg.DSN, cfg.Prefix); len(left) > 0 {
			tb.Errorf("after DropAll, left under the prefix %q: %v; want nothing", cfg.Prefix, left)
		}
	})
	return s
}

// newRoleStrategy is newStrategy with a fresh RoleSecret.
func newRoleStrategy(tb testing.TB, cfg pgstrategy.Config) *pgstrategy.Strategy {
	tb.Helper()
	if cfg.RoleSecret == nil {
		cfg.RoleSecret = newSecret(tb)
	}
	return newStrategy(tb, cfg)
}

// newSecret returns 32 random bytes.
func newSecret(tb testing.TB) []byte {
	tb.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		tb.Fatal(err)
	}
	return b
}

// leftovers lists the databases and roles of the server at dsn whose
// names start with prefix.
func leftovers(tb testing.TB, dsn, prefix string) []string {
	tb.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		tb.Errorf("connect: %v", err)
		return nil
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT 'database ' || datname FROM pg_database WHERE starts_with(datname::text, $1)
UNION ALL SELECT 'role ' || rolname FROM pg_roles WHERE starts_with(rolname::text, $1) ORDER BY 1`, prefix)
	if err != nil {
		tb.Errorf("list leftovers: %v", err)
		return nil
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		tb.Errorf("list leftovers: %v", err)
	}
	return names
}

// roleExists reports whether the server has a role called name.
func roleExists(tb testing.TB, conn *pgx.Conn, name string) bool {
	tb.Helper()
	var ok bool
	err := conn.QueryRow(context.Background(), "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", name).Scan(&ok)
	if err != nil {
		tb.Fatalf("query pg_roles: %v", err)
	}
	return ok
}

// connectAs connects to database with the user and password given,
// everything else taken from dsn, and returns the connection error. It
// closes a connection that succeeds.
func connectAs(tb testing.TB, dsn, database, user, password string) error {
	tb.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		tb.Fatalf("parse DSN: %v", err)
	}
	cfg.Database, cfg.User, cfg.Password = database, user, password
	ctx := context.Background()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	return conn.Close(ctx)
}

// sqlState returns the SQLSTATE err carries, or "".
func sqlState(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

// adminConn connects to the test server's admin database to look at
// pg_database and pg_stat_activity from outside the strategy.
func adminConn(tb testing.TB) *pgx.Conn {
	tb.Helper()
	conn, err := pgx.Connect(context.Background(), testenv.PostgresDSN(tb))
	if err != nil {
		tb.Fatalf("connect: %v", err)
	}
	tb.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// databaseExists reports whether the server has a database called name.
func databaseExists(tb testing.TB, conn *pgx.Conn, name string) bool {
	tb.Helper()
	var ok bool
	err := conn.QueryRow(context.Background(), "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&ok)
	if err != nil {
		tb.Fatalf("query pg_database: %v", err)
	}
	return ok
}

// sessions counts the server sessions connected to the database name.
func sessions(tb testing.TB, conn *pgx.Conn, name string) int {
	tb.Helper()
	var n int
	err := conn.QueryRow(context.Background(), "SELECT count(*) FROM pg_stat_activity WHERE datname = $1", name).Scan(&n)
	if err != nil {
		tb.Fatalf("query pg_stat_activity: %v", err)
	}
	return n
}

// waitNoSessions waits until no session is connected to the database name.
// Backends exit shortly after their client disconnects, not at once, so the
// test waits for the count to reach 0 rather than sampling it once; it
// fails if that takes longer than a generous bound.
func waitNoSessions(tb testing.TB, conn *pgx.Conn, name string) {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		n := sessions(tb, conn, name)
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("sessions on %q = %d; want 0", name, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// dsnWithUser returns dsn with another user and no password.
func dsnWithUser(tb testing.TB, dsn, user string) string {
	tb.Helper()
	if !strings.Contains(dsn, "://") {
		return dsn + " user=" + user + " password=''"
	}
	u, err := url.Parse(dsn)
	if err != nil {
		tb.Fatalf("parse DSN: %v", err)
	}
	u.User = url.User(user)
	return u.String()
}

// dsnWithDatabase returns dsn pointed at another database.
func dsnWithDatabase(tb testing.TB, dsn, database string) string {
	tb.Helper()
	if !strings.Contains(dsn, "://") {
		return dsn + " dbname=" + database
	}
	u, err := url.Parse(dsn)
	if err != nil {
		tb.Fatalf("parse DSN: %v", err)
	}
	u.Path = "/" + database
	return u.String()
}
