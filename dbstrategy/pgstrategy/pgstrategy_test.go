package pgstrategy_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/tenantkit/tenantkit/dbstrategy"
	"github.com/tenantkit/tenantkit/dbstrategy/pgstrategy"
	"github.com/tenantkit/tenantkit/internal/testenv"
)

func TestNewInvalidConfig(t *testing.T) {
	const dsn = "postgres://nobody@127.0.0.1:1/postgres" // never dialled: the config is refused first
	tests := []struct {
		name string
		cfg  pgstrategy.Config
	}{
		{"no DSN", pgstrategy.Config{}},
		{"unparsable DSN", pgstrategy.Config{DSN: "postgres://%zz"}},
		{"upper case prefix", pgstrategy.Config{DSN: dsn, Prefix: "Tenant_"}},
		{"dash in prefix", pgstrategy.Config{DSN: dsn, Prefix: "ten-ant_"}},
		{"quote in prefix", pgstrategy.Config{DSN: dsn, Prefix: `t"_`}},
		{"prefix without trailing underscore", pgstrategy.Config{DSN: dsn, Prefix: "tenant"}},
		{"prefix of 16 bytes", pgstrategy.Config{DSN: dsn, Prefix: "abcdefghijklmno_"}},
		{"negative MaxConns", pgstrategy.Config{DSN: dsn, MaxConns: -1}},
		{"negative MaxConnIdleTime", pgstrategy.Config{DSN: dsn, MaxConnIdleTime: -time.Second}},
		{"RoleSecret of 31 bytes", pgstrategy.Config{DSN: dsn, RoleSecret: make([]byte, 31)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := pgstrategy.New(context.Background(), tt.cfg)
			if !errors.Is(err, dbstrategy.ErrInvalidConfig) {
				if s != nil {
					s.Close()
				}
				t.Errorf("New() error = %v; want %v", err, dbstrategy.ErrInvalidConfig)
			}
		})
	}
}

func TestNewUnreachable(t *testing.T) {
	s, err := pgstrategy.New(context.Background(), pgstrategy.Config{DSN: "postgres://nobody@127.0.0.1:1/postgres?connect_timeout=5"})
	if err == nil {
		s.Close()
		t.Fatal("New() error = nil; want a connection error")
	}
	if errors.Is(err, dbstrategy.ErrInvalidConfig) {
		t.Errorf("New() error = %v; want a connection error, not %v", err, dbstrategy.ErrInvalidConfig)
	}
}

func TestNewAdminDatabaseInsidePrefix(t *testing.T) {
	owner := newStrategy(t, pgstrategy.Config{})
	ctx := context.Background()
	if err := owner.Create(ctx, "admin"); err != nil {
		t.Fatalf("Create() error = %v", err)
	}
	adminDB, _ := owner.DatabaseName("admin")
	prefix := strings.TrimSuffix(adminDB, "admin")
	dsn := dsnWithDatabase(t, testenv.PostgresDSN(t), adminDB)
	s, err := pgstrategy.New(ctx, pgstrategy.Config{DSN: dsn, Prefix: prefix})
	if !errors.Is(err, dbstrategy.ErrInvalidConfig) {
		if s != nil {
			s.Close()
		}
		t.Errorf("New() with admin database %q and prefix %q: error = %v; want %v", adminDB, prefix, err, dbstrategy.ErrInvalidConfig)
	}
}

func TestSettings(t *testing.T) {
	tests := []struct {
		name     string
		maxConns int
		want     int
	}{
		{"default", 0, 4},
		{"set", 7, 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStrategy(t, pgstrategy.Config{MaxConns: tt.maxConns})
			if got := s.MaxConnsPerHandle(); got != tt.want {
				t.Errorf("MaxConnsPerHandle() = %d; want %d", got, tt.want)
			}
			if got := s.Dialect(); got != "postgres" {
				t.Errorf("Dialect() = %q; want %q", got, "postgres")
			}
		})
	}
}

func TestDefaultPrefix(t *testing.T) {
	s, err := pgstrategy.New(context.Background(), pgstrategy.Config{DSN: testenv.PostgresDSN(t)})
	if err != nil {
		t.Fatalf("New() error = %v", err)
	}
	defer s.Close() // nothing is created: DropAll would touch other runs' "tenant_" databases
	got, err := s.DatabaseName("acme")
	if got != "tenant_acme" || err != nil {
		t.Errorf("DatabaseName(%q) = %q, %v; want %q, nil", "acme", got, err, "tenant_acme")
	}
}

func TestDatabaseName(t *testing.T) {
	p := uniquePrefix(t, 3)
	s := newStrategy(t, pgstrategy.Config{Prefix: p})
	long := strings.Repeat("a", dbstrategy.MaxKeyLen)
	tests := []struct {
		key     string
		want    string
		wantErr error
	}{
		{"acme", p + "acme", nil},
		{"a_1", p + "a_1", nil},
		{"template", p + "template", nil},
		{long, p + long, nil},
		{"", "", dbstrategy.ErrInvalidKey},
		{long + "a", "", dbstrategy.ErrInvalidKey},
		{"Acme", "", dbstrategy.ErrInvalidKey},
		{"a-b", p + "a-b", nil},
		{"-ab", "", dbstrategy.ErrInvalidKey},
		{"_ab", "", dbstrategy.ErrInvalidKey},
		{"a b", "", dbstrategy.ErrInvalidKey},
		{"../x", "", dbstrategy.ErrInvalidKey},
		{`a"b`, "", dbstrategy.ErrInvalidKey},
		{"a;drop database postgres", "", dbstrategy.ErrInvalidKey},
		{"$template", "", dbstrategy.ErrInvalidKey},
		{"é", "", dbstrategy.ErrInvalidKey},
	}
	for _, tt := range tests {
		got, err := s.DatabaseName(tt.key)
		if got != tt.want || !errors.Is(err, tt.wantErr) {
			t.Errorf("DatabaseName(%q) = %q, %v; want %q, %v", tt.key, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestInvalidKeyRefused(t *testing.T) {
	s := newStrategy(t, pgstrategy.Config{})
	ctx := context.Background()
	for _, key := range []string{"", "Acme", "-ab", `x" WITH (FORCE); --`, strings.Repeat("a", dbstrategy.MaxKeyLen+1)} {
		if err := s.Create(ctx, key); !errors.Is(err, dbstrategy.ErrInvalidKey) {
			t.Errorf("Create(%q) error = %v; want %v", key, err, dbstrategy.ErrInvalidKey)
		}
		if db, err := s.Open(ctx, key); !errors.Is(err, dbstrategy.ErrInvalidKey) {
			if db != nil {
				db.Close()
			}
			t.Errorf("Open(%q) error = %v; want %v", key, err, dbstrategy.ErrInvalidKey)
		}
		if err := s.Drop(ctx, key); !errors.Is(err, dbstrategy.ErrInvalidKey) {
			t.Errorf("Drop(%q) error = %v; want %v", key, err, dbstrategy.ErrInvalidKey)
		}
	}
}

func TestLongestName(t *testing.T) {
	// A 15-byte prefix and a 48-byte key make a 63-byte name, the longest
	// PostgreSQL keeps without cutting it.
	s := newStrategy(t, pgstrategy.Config{Prefix: uniquePrefix(t, 5)})
	ctx := context.Background()
	key := strings.Repeat("k", dbstrategy.MaxKeyLen)
	if err := s.Create(ctx, key); err != nil {
		t.Fatalf("Create() error = %v", err)
	}
	want, _ := s.DatabaseName(key)
	if len(want) != 63 {
		t.Fatalf("len(DatabaseName()) = %d; want 63", len(want))
	}
	if !databaseExists(t, adminConn(t), want) {
		t.Errorf("database %q missing after Create", want)
	}
}

func TestCreateIdempotent(t *testing.T) {
	s := newStrategy(t, pgstrategy.Config{})
	ctx := context.Background()
	for i := range 2 {
		if err := s.Create(ctx, "acme"); err != nil {
			t.Fatalf("Create() call %d error = %v; want nil", i+1, err)
		}
	}
	name, _ := s.DatabaseName("acme")
	if !databaseExists(t, adminConn(t), name) {
		t.Errorf("database %q missing after Create", name)
	}
}

func TestCreateConcurrent(t *testing.T) {
	// Two strategies on one prefix stand for two processes.
	for _, roles := range []bool{false, true} {
		t.Run(fmt.Sprintf("roles=%v", roles), func(t *testing.T) {
			var secret []byte
			if roles {
				secret = newSecret(t)
			}
			s1 := newStrategy(t, pgstrategy.Config{RoleSecret: secret})
			name, _ := s1.DatabaseName("acme")
			prefix := strings.TrimSuffix(name, "acme")
			s2 := newStrategy(t, pgstrategy.Config{Prefix: prefix, RoleSecret: secret})
			ctx := context.Background()

			errs := make([]error, 8)
			var wg sync.WaitGroup
			for i := range errs {
				s := s1
				if i%2 == 1 {
					s = s2
				}
				wg.Go(func() { errs[i] = s.Create(ctx, "acme") })
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("Create() in goroutine %d error = %v; want nil", i, err)
				}
			}
			if !databaseExists(t, adminConn(t), name) {
				t.Errorf("database %q missing after Create", name)
			}
			for _, s := range []*pgstrategy.Strategy{s1, s2} {
				db, err := s.Open(ctx, "acme")
				if err != nil {
					t.Fatalf("Open() error = %v", err)
				}
				db.Close()
			}
		})
	}
}

func TestOpenMissing(t *testing.T) {
	s := newStrategy(t, pgstrategy.Config{})
	db, err := s.Open(context.Background(), "ghost")
	if !errors.Is(err, dbstrategy.ErrNotFound) {
		if db != nil {
			db.Close()
		}
		t.Fatalf("Open() error = %v; want %v", err, dbstrategy.ErrNotFound)
	}
	name, _ := s.DatabaseName("ghost")
	if databaseExists(t, adminConn(t), name) {
		t.Errorf("Open() of a missing tenant created database %q", name)
	}
}

// openTenant creates and opens a tenant, closing the handle when the test ends.
func openTenant(t *testing.T, s *pgstrategy.Strategy, key string) *sql.DB {
	t.Helper()
	ctx := context.Background()
	if err := s.Create(ctx, key); err != nil {
		t.Fatalf("Create(%q) error = %v", key, err)
	}
	db, err := s.Open(ctx, key)
	if err != nil {
		t.Fatalf("Open(%q) error = %v", key, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestIsolation(t *testing.T) {
	s := newStrategy(t, pgstrategy.Config{})
	ctx := context.Background()
	a, b := openTenant(t, s, "a"), openTenant(t, s, "b")

	for key, db := range map[string]*sql.DB{"a": a, "b": b} {
		want, _ := s.DatabaseName(key)
		var got string
		if err := db.QueryRowContext(ctx, "SELECT current_database()").Scan(&got); err != nil || got != want {
			t.Errorf("tenant %q: current_database() = %q, %v; want %q, nil", key, got, err, want)
		}
	}
	if _, err := a.ExecContext(ctx, "CREATE TABLE notes (body text); INSERT INTO notes VALUES ('secret')"); err != nil {
		t.Fatalf("write tenant a: %v", err)
	}
	var table sql.NullString
	if err := b.QueryRowContext(ctx, "SELECT to_regclass('notes')::text").Scan(&table); err != nil || table.Valid {
		t.Errorf("tenant b: to_regclass('notes') = %v, %v; want NULL, nil", table, err)
	}
	var n int
	if err := a.QueryRowContext(ctx, "SELECT count(*) FROM notes").Scan(&n); err != nil || n != 1 {
		t.Errorf("tenant a: count = %d, %v; want 1, nil", n, err)
	}
}

func TestDrop(t *testing.T) {
	s := newStrategy(t, pgstrategy.Config{})
	ctx := context.Background()
	db := openTenant(t, s, "acme")
	conn, err := db.Conn(ctx) // a session that Drop has to force out
	if err != nil {
		t.Fatalf("Conn() error = %v", err)
	}
	defer conn.Close()
	if err := conn.PingContext(ctx); err != nil {
		t.Fatalf("Ping() error = %v", err)
	}

	for i := range 2 {
		if err := s.Drop(ctx, "acme"); err != nil {
			t.Fatalf("Drop() call %d error = %v; want nil", i+1, err)
		}
	}
	name, _ := s.DatabaseName("acme")
	if databaseExists(t, adminConn(t), name) {
		t.Errorf("database %q still exists after Drop", name)
	}
	if _, err := conn.ExecContext(ctx, "SELECT 1"); err == nil {
		t.Error("query on a session of a dropped database: error = nil; want an error")
	}
	if db, err := s.Open(ctx, "acme"); !errors.Is(err, dbstrategy.ErrNotFound) {
		if db != nil {
			db.Close()
		}
		t.Errorf("Open() after Drop: error = %v; want %v", err, dbstrategy.ErrNotFound)
	}
	if err := s.Drop(ctx, "never_created"); err != nil {
		t.Errorf("Drop() of a tenant never created: error = %v; want nil", err)
	}
}

func TestCloseHandleClosesPool(t *testing.T) {
	s := newStrategy(t, pgstrategy.Config{MaxConns: 3})
	ctx := context.Background()
	if err := s.Create(ctx, "acme"); err != nil {
		t.Fatalf("Create() error = %v", err)
	}
	db, err := s.Open(ctx, "acme")
	if err != nil {
		t.Fatalf("Open() error = %v", err)
	}
	pool, ok := s.Pool(db)
	if !ok {
		t.Fatal("Pool() ok = false; want true")
	}
	// Hold three connections at once so the pool has three to close.
	var conns []*sql.Conn
	for range 3 {
		c, err := db.Conn(ctx)
		if err != nil {
			t.Fatalf("Conn() error = %v", err)
		}
		if err := c.PingContext(ctx); err != nil {
			t.Fatalf("Ping() error = %v", err)
		}
		conns = append(conns, c)
	}
	for _, c := range conns {
		c.Close()
	}
	if got := pool.Stat().TotalConns(); got != 3 {
		t.Fatalf("pool connections before Close = %d; want 3", got)
	}

	if err := db.Close(); err != nil {
		t.Fatalf("Close() error = %v", err)
	}
	if got := pool.Stat().TotalConns(); got != 0 {
		t.Errorf("pool connections after Close = %d; want 0", got)
	}
	if _, ok := s.Pool(db); ok {
		t.Error("Pool() of a closed handle: ok = true; want false")
	}
	name, _ := s.DatabaseName("acme")
	waitNoSessions(t, adminConn(t), name)
}

func TestConnCap(t *testing.T) {
	const maxConns = 2
	s := newStrategy(t, pgstrategy.Config{MaxConns: maxConns})
	ctx := context.Background()
	db := openTenant(t, s, "acme")
	if got := db.Stats().MaxOpenConnections; got != maxConns {
		t.Errorf("MaxOpenConnections = %d; want %d", got, maxConns)
	}

	// Each worker counts, from inside a transaction that keeps its
	// connection busy, the sessions connected to the tenant database.
	const workers, rounds = 12, 3
	var (
		mu   sync.Mutex
		peak int
		errs []error
	)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range rounds {
				n, err := countInTx(ctx, db)
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				}
				peak = max(peak, n)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("queries: %v", err)
	}
	if peak > maxConns {
		t.Errorf("peak sessions on the tenant database = %d; want at most %d", peak, maxConns)
	}
	t.Logf("peak sessions: %d", peak)
}

func countInTx(ctx context.Context, db *sql.DB) (int, error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "SELECT pg_sleep(0.01)"); err != nil {
		return 0, err
	}
	var n int
	err = tx.QueryRowContext(ctx, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()").Scan(&n)
	return n, err
}

func TestPool(t *testing.T) {
	s := newStrategy(t, pgstrategy.Config{MaxConns: 3})
	ctx := context.Background()
	db := openTenant(t, s, "acme")
	pool, ok := s.Pool(db)
	if !ok {
		t.Fatal("Pool() ok = false; want true")
	}
	if got := pool.Config().MaxConns; got != 3 {
		t.Errorf("pool MaxConns = %d; want 3", got)
	}
	want, _ := s.DatabaseName("acme")
	var got string
	if err := pool.QueryRow(ctx, "SELECT current_database()").Scan(&got); err != nil || got != want {
		t.Errorf("current_database() on the pool = %q, %v; want %q, nil", got, err, want)
	}

	other := stdlib.OpenDBFromPool(pool) // same pool, but not a handle from Open
	defer other.Close()
	if _, ok := s.Pool(other); ok {
		t.Error("Pool() of a handle from elsewhere: ok = true; want false")
	}
}

func TestClose(t *testing.T) {
	s, err := pgstrategy.New(context.Background(), pgstrategy.Config{DSN: testenv.PostgresDSN(t), Prefix: uniquePrefix(t, 3)})
	if err != nil {
		t.Fatalf("New() error = %v", err)
	}
	for i := range 2 {
		if err := s.Close(); err != nil {
			t.Fatalf("Close() call %d error = %v; want nil", i+1, err)
		}
	}
	ctx := context.Background()
	calls := []struct {
		name string
		call func() error
	}{
		{"Create", func() error { return s.Create(ctx, "acme") }},
		{"Open", func() error {
			db, err := s.Open(ctx, "acme")
			if db != nil {
				db.Close()
			}
			return err
		}},
		{"Drop", func() error { return s.Drop(ctx, "acme") }},
		{"DropAll", func() error { return s.DropAll(ctx) }},
		{"PrepareTemplate", func() error { return s.PrepareTemplate(ctx, nil) }},
	}
	for _, c := range calls {
		if err := c.call(); !errors.Is(err, pgstrategy.ErrClosed) {
			t.Errorf("%s() after Close: error = %v; want %v", c.name, err, pgstrategy.ErrClosed)
		}
	}
}

func TestDropAll(t *testing.T) {
	ctx := context.Background()
	mine := newStrategy(t, pgstrategy.Config{})
	theirs := newStrategy(t, pgstrategy.Config{})
	for _, s := range []*pgstrategy.Strategy{mine, theirs} {
		for _, key := range []string{"a", "b"} {
			if err := s.Create(ctx, key); err != nil {
				t.Fatalf("Create(%q) error = %v", key, err)
			}
		}
	}
	if err := mine.PrepareTemplate(ctx, nil); err != nil {
		t.Fatalf("PrepareTemplate() error = %v", err)
	}
	// A database under the prefix that no key can name is not the strategy's.
	admin := adminConn(t)
	a, _ := mine.DatabaseName("a")
	foreign := strings.TrimSuffix(a, "a") + "Other"
	if _, err := admin.Exec(ctx, `CREATE DATABASE "`+foreign+`"`); err != nil {
		t.Fatalf("create %q: %v", foreign, err)
	}
	t.Cleanup(func() { admin.Exec(context.Background(), `DROP DATABASE IF EXISTS "`+foreign+`"`) })

	if err := mine.DropAll(ctx); err != nil {
		t.Fatalf("DropAll() error = %v", err)
	}
	for _, key := range []string{"a", "b"} {
		name, _ := mine.DatabaseName(key)
		if databaseExists(t, admin, name) {
			t.Errorf("database %q exists after DropAll", name)
		}
		name, _ = theirs.DatabaseName(key)
		if !databaseExists(t, admin, name) {
			t.Errorf("database %q of another prefix missing after DropAll", name)
		}
	}
	if tpl := strings.TrimSuffix(a, "a") + "$template"; databaseExists(t, admin, tpl) {
		t.Errorf("template %q exists after DropAll", tpl)
	}
	if !databaseExists(t, admin, foreign) {
		t.Errorf("database %q, not the strategy's, missing after DropAll", foreign)
	}
}

func FuzzDatabaseName(f *testing.F) {
	for _, key := range []string{"acme", "a_1", "", "Acme", "a-b", `a"b`, "../x", strings.Repeat("z", 49), "\x00", "é"} {
		f.Add(key)
	}
	prefix := uniquePrefix(f, 3)
	s, err := pgstrategy.New(context.Background(), pgstrategy.Config{DSN: testenv.PostgresDSN(f), Prefix: prefix})
	if err != nil {
		f.Fatalf("New() error = %v", err)
	}
	f.Cleanup(func() { s.Close() }) // nothing is created
	f.Fuzz(func(t *testing.T, key string) {
		got, err := s.DatabaseName(key)
		if verr := dbstrategy.ValidateKey(key); verr != nil {
			if !errors.Is(err, dbstrategy.ErrInvalidKey) || got != "" {
				t.Fatalf("DatabaseName(%q) = %q, %v; want \"\", %v", key, got, err, dbstrategy.ErrInvalidKey)
			}
			return
		}
		if err != nil || got != prefix+key || len(got) > 63 {
			t.Fatalf("DatabaseName(%q) = %q, %v; want %q, nil and at most 63 bytes", key, got, err, prefix+key)
		}
	})
}

// TestConnStats counts the connections of open pools, busy and idle.
func TestConnStats(t *testing.T) {
	ctx := context.Background()
	s := newStrategy(t, pgstrategy.Config{MaxConns: 2})
	if got := s.ConnStats(); got != (pgstrategy.ConnStats{}) {
		t.Fatalf("ConnStats() with nothing open = %+v; want zeros", got)
	}
	for _, id := range []string{"a", "b"} {
		if err := s.Create(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	a, err := s.Open(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := s.Open(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	tx, err := b.BeginTx(ctx, nil) // holds one connection of b busy
	if err != nil {
		t.Fatal(err)
	}
	got := s.ConnStats()
	if got.Pools != 2 || got.InUse != 1 || got.Conns < 2 || got.Conns > 4 {
		t.Errorf("ConnStats() = %+v; want 2 pools, 1 connection in use, 2 to 4 in all", got)
	}
	tx.Rollback()
	b.Close()
	if got := s.ConnStats(); got.Pools != 1 || got.InUse != 0 {
		t.Errorf("ConnStats() after closing b = %+v; want 1 pool, none in use", got)
	}
}

// TestDashKeys checks that a key with '-' (valid for dbstrategy, and what
// tenancy's hints allow) names a database, and with RoleSecret a role, of
// its own: "<prefix><key>", quoted, distinct from the key with '_'.
func TestDashKeys(t *testing.T) {
	for _, roles := range []bool{false, true} {
		t.Run(fmt.Sprintf("roles=%v", roles), func(t *testing.T) {
			var s *pgstrategy.Strategy
			if roles {
				s = newRoleStrategy(t, pgstrategy.Config{})
			} else {
				s = newStrategy(t, pgstrategy.Config{})
			}
			ctx := t.Context()
			for _, key := range []string{"acme-eu", "acme_eu", "a--"} {
				name, err := s.DatabaseName(key)
				if err != nil || !strings.HasSuffix(name, key) {
					t.Fatalf("DatabaseName(%q) = %q, %v", key, name, err)
				}
				if err := s.Create(ctx, key); err != nil {
					t.Fatalf("Create(%q): %v", key, err)
				}
				db, err := s.Open(ctx, key)
				if err != nil {
					t.Fatalf("Open(%q): %v", key, err)
				}
				var gotDB, gotUser string
				err = db.QueryRowContext(ctx, "SELECT current_database(), current_user").Scan(&gotDB, &gotUser)
				db.Close()
				if err != nil || gotDB != name {
					t.Errorf("tenant %q connected to %q, %v; want %q", key, gotDB, err, name)
				}
				if roles && gotUser != name {
					t.Errorf("tenant %q connected as %q; want its role %q", key, gotUser, name)
				}
			}
			if err := s.Drop(ctx, "acme-eu"); err != nil {
				t.Fatal(err)
			}
			if db, err := s.Open(ctx, "acme_eu"); err != nil {
				t.Errorf("Open(acme_eu) after Drop(acme-eu): %v; want it untouched", err)
			} else {
				db.Close()
			}
			if _, err := s.Open(ctx, "acme-eu"); !errors.Is(err, dbstrategy.ErrNotFound) {
				t.Errorf("Open(acme-eu) after Drop: %v; want ErrNotFound", err)
			}
		})
	}
}

// TestStatementCacheOn checks that tenant handles keep pgx's default exec
// mode, which prepares each query once per connection and caches it (so
// the statements close with the connection, and with the handle), and that
// a query run twice on one connection is prepared once.
func TestStatementCacheOn(t *testing.T) {
	s := newStrategy(t, pgstrategy.Config{MaxConns: 1})
	ctx := t.Context()
	if err := s.Create(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	db, err := s.Open(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	pool, ok := s.Pool(db)
	if !ok {
		t.Fatal("Pool: not found")
	}
	if got := pool.Config().ConnConfig.DefaultQueryExecMode; got != pgx.QueryExecModeCacheStatement {
		t.Fatalf("DefaultQueryExecMode = %v; want QueryExecModeCacheStatement", got)
	}
	const q = "SELECT 41 + $1::int"
	for range 3 {
		var n int
		if err := db.QueryRowContext(ctx, q, 1).Scan(&n); err != nil || n != 42 {
			t.Fatalf("query = %d, %v", n, err)
		}
	}
	var prepared int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM pg_prepared_statements WHERE statement = $1", q).Scan(&prepared); err != nil {
		t.Fatal(err)
	}
	if prepared != 1 {
		t.Errorf("%q is prepared %d times on the connection; want once", q, prepared)
	}
}
