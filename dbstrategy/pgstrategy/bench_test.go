package pgstrategy_test

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/tenantkit/tenantkit/dbstrategy/pgstrategy"
)

// benchSchema is a small, typical tenant schema for the template.
func benchSchema(ctx context.Context, db *sql.DB) error {
	_, err := db.ExecContext(ctx, `
CREATE TABLE IF NOT EXISTS users (
	id bigserial PRIMARY KEY,
	email text NOT NULL UNIQUE,
	password_hash text NOT NULL,
	display_name text,
	is_active boolean NOT NULL DEFAULT true,
	created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS refresh_tokens (
	id bigserial PRIMARY KEY,
	user_id bigint NOT NULL REFERENCES users(id),
	family uuid NOT NULL,
	hash bytea NOT NULL UNIQUE,
	used_at timestamptz,
	expires_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS refresh_tokens_family ON refresh_tokens (family);`)
	return err
}

// BenchmarkCreate measures Create: an empty database from template0, and a
// copy of a migrated template, each without and with tenant roles
// (RoleSecret). The databases are dropped when it ends.
func BenchmarkCreate(b *testing.B) {
	for _, tc := range []struct {
		name     string
		template bool
		roles    bool
	}{{"empty", false, false}, {"empty_roles", false, true}, {"template", true, false}, {"template_roles", true, true}} {
		b.Run(tc.name, func(b *testing.B) {
			var secret []byte
			if tc.roles {
				secret = newSecret(b)
			}
			s := newStrategy(b, pgstrategy.Config{RoleSecret: secret})
			ctx := context.Background()
			if tc.template {
				if err := s.PrepareTemplate(ctx, benchSchema); err != nil {
					b.Fatalf("PrepareTemplate() error = %v", err)
				}
				// The first copy may wait for the template's last backend to exit.
				if err := s.Create(ctx, "warmup"); err != nil {
					b.Fatalf("Create() error = %v", err)
				}
			}
			b.ResetTimer()
			for i := range b.N {
				if err := s.Create(ctx, "b"+strconv.Itoa(i)); err != nil {
					b.Fatalf("Create() error = %v", err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/create")
		})
	}
}

// BenchmarkCreateExisting measures Create of a tenant that exists, without
// and with tenant roles: the cost of the role steps (reading the roles,
// the SCRAM verifier, ALTER ROLE, the tenant lock, ALTER DATABASE and
// REVOKE) apart from the copy of a database, which dominates and varies.
func BenchmarkCreateExisting(b *testing.B) {
	for _, roles := range []bool{false, true} {
		b.Run(fmt.Sprintf("roles=%v", roles), func(b *testing.B) {
			var secret []byte
			if roles {
				secret = newSecret(b)
			}
			s := newStrategy(b, pgstrategy.Config{RoleSecret: secret})
			ctx := context.Background()
			if err := s.Create(ctx, "acme"); err != nil {
				b.Fatalf("Create() error = %v", err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := s.Create(ctx, "acme"); err != nil {
					b.Fatalf("Create() error = %v", err)
				}
			}
		})
	}
}

// BenchmarkCreateStrategy compares PostgreSQL 15's two ways of copying the
// migrated template, with the SQL Create would run, to choose between them.
func BenchmarkCreateStrategy(b *testing.B) {
	s := newStrategy(b, pgstrategy.Config{})
	ctx := context.Background()
	if err := s.PrepareTemplate(ctx, benchSchema); err != nil {
		b.Fatalf("PrepareTemplate() error = %v", err)
	}
	admin := adminConn(b)
	var version int
	if err := admin.QueryRow(ctx, "SELECT current_setting('server_version_num')::int").Scan(&version); err != nil {
		b.Fatal(err)
	}
	if version < 150000 {
		b.Skip("STRATEGY needs PostgreSQL 15")
	}
	name, _ := s.DatabaseName("x")
	prefix := name[:len(name)-1]
	seq := 0 // b.Run may call the function more than once: names must not repeat
	for _, strategy := range []string{"WAL_LOG", "FILE_COPY"} {
		b.Run(strategy, func(b *testing.B) {
			for range b.N {
				seq++
				// Names made of valid keys, so DropAll cleans them up.
				q := fmt.Sprintf(`CREATE DATABASE "%s%s_%d" TEMPLATE "%s$template" STRATEGY %s`, prefix, strings.ToLower(strategy[:1]), seq, prefix, strategy)
				if _, err := admin.Exec(ctx, q); err != nil {
					b.Fatalf("%s: %v", q, err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/create")
		})
	}
}

// BenchmarkOpen measures opening a tenant handle (a new pool and its first
// connection) and closing it again.
func BenchmarkOpen(b *testing.B) {
	s := newStrategy(b, pgstrategy.Config{})
	ctx := context.Background()
	if err := s.Create(ctx, "acme"); err != nil {
		b.Fatalf("Create() error = %v", err)
	}
	b.ReportAllocs()
	for b.Loop() {
		db, err := s.Open(ctx, "acme")
		if err != nil {
			b.Fatalf("Open() error = %v", err)
		}
		db.Close()
	}
}

// BenchmarkQuery measures a point query on an open handle, through
// database/sql and, as the baseline, on the pgx pool behind it.
func BenchmarkQuery(b *testing.B) {
	s := newStrategy(b, pgstrategy.Config{})
	ctx := context.Background()
	if err := s.Create(ctx, "acme"); err != nil {
		b.Fatalf("Create() error = %v", err)
	}
	db, err := s.Open(ctx, "acme")
	if err != nil {
		b.Fatalf("Open() error = %v", err)
	}
	defer db.Close()
	pool, _ := s.Pool(db)
	const q = "SELECT $1::int"
	b.Run("sql.DB", func(b *testing.B) {
		b.ReportAllocs()
		var n int
		for b.Loop() {
			if err := db.QueryRowContext(ctx, q, 1).Scan(&n); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("pgxpool", func(b *testing.B) {
		b.ReportAllocs()
		var n int
		for b.Loop() {
			if err := pool.QueryRow(ctx, q, 1).Scan(&n); err != nil {
				b.Fatal(err)
			}
		}
	})
}
