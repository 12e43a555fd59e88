package pgtest_test

import (
	"context"
	"database/sql"
	"os"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"

	"github.com/tenantkit/tenantkit/internal/pgtest"
)

// TestCluster starts a cluster, uses it, stops it, checks it is down, and
// starts it again with its data kept; cleanup removes its folder.
func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL cluster; skipped with -short")
	}
	var dir string
	t.Run("lifecycle", func(t *testing.T) {
		c := pgtest.StartCluster(t)
		dir = c.Dir()
		db, err := sql.Open("pgx", c.DSN())
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := db.ExecContext(ctx, `CREATE TABLE kept (v int); INSERT INTO kept VALUES (42)`); err != nil {
			t.Fatalf("write before stop: %v", err)
		}
		var addr string
		if err := db.QueryRowContext(ctx, `SELECT host(inet_server_addr())`).Scan(&addr); err != nil || addr != "127.0.0.1" {
			t.Errorf("server address = %q, %v; want 127.0.0.1", addr, err)
		}

		if err := c.Stop(); err != nil {
			t.Fatalf("Stop() = %v", err)
		}
		if err := c.Stop(); err != nil {
			t.Errorf("second Stop() = %v; want nil", err)
		}
		if err := db.PingContext(ctx); err == nil {
			t.Errorf("Ping() with the cluster stopped = nil; want an error")
		}

		if err := c.Start(); err != nil {
			t.Fatalf("Start() = %v", err)
		}
		if err := c.Start(); err != nil {
			t.Errorf("second Start() = %v; want nil", err)
		}
		var v int
		if err := db.QueryRowContext(ctx, `SELECT v FROM kept`).Scan(&v); err != nil || v != 42 {
			t.Errorf("read after restart = %d, %v; want 42, nil", v, err)
		}
	})
	if dir == "" {
		return // skipped
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("cluster folder %s after cleanup: Stat() = %v; want it removed", dir, err)
	}
}

func TestBinDir(t *testing.T) {
	dir, err := pgtest.BinDir()
	if err != nil {
		t.Skipf("BinDir() = %v", err)
	}
	for _, name := range []string{"initdb", "pg_ctl"} {
		if _, err := os.Stat(dir + "/" + name); err != nil {
			t.Errorf("BinDir() = %q without %s: %v", dir, name, err)
		}
	}
}
