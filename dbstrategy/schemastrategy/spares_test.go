package schemastrategy_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pressly/goose/v3/database"

	"github.com/tenantkit/tenantkit/dbstrategy"
	"github.com/tenantkit/tenantkit/dbstrategy/dbstrategytest"
	"github.com/tenantkit/tenantkit/dbstrategy/schemastrategy"
)

// schemaNames returns the schemas (and roles) whose names start with
// prefix, sorted.
func schemaNames(t *testing.T, dsn, prefix string) (schemas, roles []string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	read := func(q string) []string {
		rows, err := conn.Query(ctx, q, prefix)
		if err != nil {
			t.Fatal(err)
		}
		names, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		return names
	}
	return read("SELECT nspname::text FROM pg_namespace WHERE starts_with(nspname::text, $1) ORDER BY 1"),
		read("SELECT rolname::text FROM pg_roles WHERE starts_with(rolname::text, $1) ORDER BY 1")
}

// migrateNotes is the migrate function a Manager would hand MakeSpare:
// dbstrategytest's notes table, version 1 only.
func migrateNotes(ctx context.Context, db *sql.DB) error {
	_, err := db.ExecContext(ctx, "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
	return err
}

// TestSpareClaim checks the Sparer contract on the strategy itself, with
// and without roles: a spare is made migrated, claimed by one tenant and
// no other, becomes that tenant's schema (with roles, owned by its role),
// is not claimed for an existing tenant or for another version, and a
// failed migration leaves nothing behind.
func TestSpareClaim(t *testing.T) {
	for _, roles := range []bool{false, true} {
		t.Run(fmt.Sprintf("roles=%v", roles), func(t *testing.T) {
			ctx := context.Background()
			dsn := newDatabase(t)
			prefix := "tks_" + randomHex(t, 3) + "_"
			s := newStrategy(t, schemastrategy.Config{DSN: dsn, Prefix: prefix, Roles: roles})

			for range 2 {
				if err := s.MakeSpare(ctx, 1, migrateNotes); err != nil {
					t.Fatalf("MakeSpare() error = %v", err)
				}
			}
			if n, err := s.Spares(ctx, 1); err != nil || n != 2 {
				t.Fatalf("Spares(1) = %d, %v; want 2", n, err)
			}
			if n, err := s.Spares(ctx, 2); err != nil || n != 0 {
				t.Fatalf("Spares(2) = %d, %v; want 0", n, err)
			}
			if ok, err := s.ClaimSpare(ctx, "acme", 2); err != nil || ok {
				t.Fatalf("ClaimSpare(version 2) = %v, %v; want false: no spare of that version", ok, err)
			}
			if ok, err := s.ClaimSpare(ctx, "acme", 1); err != nil || !ok {
				t.Fatalf("ClaimSpare() = %v, %v; want true", ok, err)
			}
			// The claimed schema is the tenant's, migrated, and usable.
			db, err := s.Open(ctx, "acme")
			if err != nil {
				t.Fatalf("Open() error = %v", err)
			}
			if _, err := db.ExecContext(ctx, "INSERT INTO notes (id, body) VALUES (1, 'acme')"); err != nil {
				t.Fatalf("insert into the claimed schema: %v", err)
			}
			var schema, user string
			if err := db.QueryRowContext(ctx, "SELECT current_schema(), current_user").Scan(&schema, &user); err != nil {
				t.Fatal(err)
			}
			db.Close()
			if schema != prefix+"acme" {
				t.Errorf("current_schema() = %q, want %q", schema, prefix+"acme")
			}
			if roles && user != prefix+"acme" {
				t.Errorf("current_user = %q, want the tenant's role %q", user, prefix+"acme")
			}
			if n, _ := s.Spares(ctx, 1); n != 1 {
				t.Errorf("Spares() after a claim = %d, want 1", n)
			}
			// An existing tenant keeps its schema and takes no spare.
			if ok, err := s.ClaimSpare(ctx, "acme", 1); err != nil || ok {
				t.Fatalf("ClaimSpare(existing tenant) = %v, %v; want false", ok, err)
			}
			if n, _ := s.Spares(ctx, 1); n != 1 {
				t.Errorf("Spares() after claiming for an existing tenant = %d, want still 1", n)
			}
			// A failed migration leaves no schema nor role behind.
			errBoom := errors.New("boom")
			err = s.MakeSpare(ctx, 1, func(ctx context.Context, db *sql.DB) error {
				if err := migrateNotes(ctx, db); err != nil {
					return err
				}
				return errBoom
			})
			if !errors.Is(err, errBoom) {
				t.Fatalf("MakeSpare(failing migration) error = %v, want %v", err, errBoom)
			}
			schemas, rolesLeft := schemaNames(t, dsn, prefix+"-")
			if len(schemas) != 1 || !strings.HasPrefix(schemas[0], prefix+"-spare-v1-") {
				t.Errorf("spare schemas after a failed make = %q, want only the one ready spare", schemas)
			}
			if roles && (len(rolesLeft) != 1 || rolesLeft[0] != schemas[0]) {
				t.Errorf("spare roles after a failed make = %q, want only the ready spare's", rolesLeft)
			}
			if n, err := s.DropSpares(ctx); err != nil || n == 0 {
				t.Fatalf("DropSpares() = %d, %v", n, err)
			}
			if schemas, rolesLeft := schemaNames(t, dsn, prefix+"-"); len(schemas)+len(rolesLeft) != 0 {
				t.Errorf("after DropSpares: schemas %q, roles %q; want none", schemas, rolesLeft)
			}
		})
	}
}

// TestSpareClaimConcurrent races claims for more tenants than there are
// spares: each spare goes to exactly one tenant.
func TestSpareClaimConcurrent(t *testing.T) {
	ctx := context.Background()
	s := newStrategy(t, schemastrategy.Config{MaxConns: 8})
	const spares, tenants = 3, 8
	for range spares {
		if err := s.MakeSpare(ctx, 7, migrateNotes); err != nil {
			t.Fatalf("MakeSpare() error = %v", err)
		}
	}
	var wg sync.WaitGroup
	claimed := make([]bool, tenants)
	errs := make([]error, tenants)
	for i := range tenants {
		wg.Go(func() {
			claimed[i], errs[i] = s.ClaimSpare(ctx, fmt.Sprintf("t%d", i), 7)
		})
	}
	wg.Wait()
	n := 0
	for i := range tenants {
		if errs[i] != nil {
			t.Errorf("ClaimSpare(t%d) error = %v", i, errs[i])
		}
		if !claimed[i] {
			continue
		}
		n++
		db, err := s.Open(ctx, fmt.Sprintf("t%d", i))
		if err != nil {
			t.Fatalf("Open(t%d), claimed: %v", i, err)
		}
		if _, err := db.ExecContext(ctx, "SELECT count(*) FROM notes"); err != nil {
			t.Errorf("t%d's claimed schema: %v", i, err)
		}
		db.Close()
	}
	if n != spares {
		t.Errorf("%d claims succeeded, want %d (one per spare)", n, spares)
	}
}

// TestManagerSpares checks WithSpares through a Manager: NewManager's
// refusals, Create claiming a spare that holds the migrations and a
// background filler that makes a new one, Create of an existing tenant
// claiming none, and Close stopping the filler with no half-made spare
// left.
func TestManagerSpares(t *testing.T) {
	ctx := context.Background()
	dsn := newDatabase(t)
	prefix := "tks_" + randomHex(t, 3) + "_"
	s := newStrategy(t, schemastrategy.Config{DSN: dsn, Prefix: prefix})

	if _, err := dbstrategy.NewManager(s, dbstrategy.WithSpares(2)); !errors.Is(err, dbstrategy.ErrInvalidConfig) {
		t.Fatalf("NewManager(WithSpares, no migrations) error = %v, want ErrInvalidConfig", err)
	}
	if _, err := dbstrategy.NewManager(s, dbstrategy.WithSpares(-1)); !errors.Is(err, dbstrategy.ErrInvalidConfig) {
		t.Fatalf("NewManager(WithSpares(-1)) error = %v, want ErrInvalidConfig", err)
	}
	if _, err := dbstrategy.NewManager(s, dbstrategy.WithMigrations(dbstrategytest.Migrations()), dbstrategy.WithSpares(1), dbstrategy.WithMaxConns(2)); !errors.Is(err, dbstrategy.ErrInvalidConfig) {
		t.Fatalf("NewManager(WithSpares, WithMaxConns(2)) error = %v, want ErrInvalidConfig", err)
	}

	// A spare of an older release (version 1), and one of a newer (3):
	// the Manager drops the first and keeps the second.
	for _, v := range []int64{1, 3} {
		if err := s.MakeSpare(ctx, v, migrateNotes); err != nil {
			t.Fatal(err)
		}
	}
	m, err := dbstrategy.NewManager(s, dbstrategy.WithMigrations(dbstrategytest.Migrations()), dbstrategy.WithSpares(2))
	if err != nil {
		t.Fatalf("NewManager() error = %v", err)
	}
	defer m.Close()
	if n, err := m.FillSpares(ctx); err != nil || n < 2 {
		t.Fatalf("FillSpares() = %d, %v; want at least 2", n, err)
	}
	if n, _ := s.Spares(ctx, 1); n != 0 {
		t.Errorf("%d spares of version 1 after FillSpares at version 2, want 0: dropped", n)
	}
	if n, _ := s.Spares(ctx, 3); n != 1 {
		t.Errorf("%d spares of version 3 after FillSpares at version 2, want 1: kept", n)
	}
	before, _ := schemaNames(t, dsn, prefix+"-spare-")
	if err := m.Create(ctx, "acme"); err != nil {
		t.Fatalf("Create() error = %v", err)
	}
	after, _ := schemaNames(t, dsn, prefix+"-spare-")
	gone := 0
	for _, name := range before {
		if !slices.Contains(after, name) {
			gone++
		}
	}
	if gone != 1 {
		t.Errorf("Create took %d spares (before %q, after %q), want 1", gone, before, after)
	}
	if st := m.Stats(); st.SparesClaimed != 1 || st.SparesMade < 2 || st.Migrations != 0 {
		t.Errorf("Stats() = %+v; want 1 spare claimed, at least 2 made, no tenant migration", st)
	}
	// The tenant is at the newest version, with nothing left to migrate.
	if err := m.Do(ctx, "acme", func(ctx context.Context, db dbstrategy.DB) error {
		_, err := db.ExecContext(ctx, "INSERT INTO notes (id, body, tag) VALUES (1, 'x', 'y')")
		return err
	}); err != nil {
		t.Fatalf("Do() on a tenant made from a spare: %v", err)
	}
	if v, err := m.Version(ctx, "acme"); err != nil || v != 2 {
		t.Errorf("Version() = %d, %v; want 2", v, err)
	}
	// The filler makes the spare taken good again.
	deadline := time.Now().Add(30 * time.Second)
	for {
		n, err := s.Spares(ctx, 2)
		if err != nil {
			t.Fatal(err)
		}
		if n >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d spares 30 s after a claim, want the filler to make 2 again", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Creating an existing tenant claims no spare.
	before, _ = schemaNames(t, dsn, prefix+"-spare-")
	if err := m.Create(ctx, "acme"); err != nil {
		t.Fatalf("Create(existing) error = %v", err)
	}
	after, _ = schemaNames(t, dsn, prefix+"-spare-")
	for _, name := range before {
		if !slices.Contains(after, name) {
			t.Errorf("Create of an existing tenant took spare %q", name)
		}
	}
	if err := m.Drop(ctx, "acme"); err != nil {
		t.Fatalf("Drop() error = %v", err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("Close() error = %v", err)
	}
	if _, err := m.FillSpares(ctx); !errors.Is(err, dbstrategy.ErrClosed) {
		t.Errorf("FillSpares() after Close error = %v, want ErrClosed", err)
	}
}

// TestManagerSparesClose closes a Manager while its filler, and a
// FillSpares call, make spares: Close waits for both, and no spare is left
// half made.
func TestManagerSparesClose(t *testing.T) {
	dsn := newDatabase(t)
	prefix := "tks_" + randomHex(t, 3) + "_"
	s := newStrategy(t, schemastrategy.Config{DSN: dsn, Prefix: prefix})
	m, err := dbstrategy.NewManager(s, dbstrategy.WithMigrations(dbstrategytest.Migrations()), dbstrategy.WithSpares(50))
	if err != nil {
		t.Fatalf("NewManager() error = %v", err)
	}
	fill := make(chan error, 1)
	go func() {
		_, err := m.FillSpares(context.Background())
		fill <- err
	}()
	time.Sleep(30 * time.Millisecond) // the filler and FillSpares are at work
	if err := m.Close(); err != nil {
		t.Fatalf("Close() error = %v", err)
	}
	select {
	case err := <-fill:
		if err == nil {
			t.Error("FillSpares() = nil error although Close stopped it before 50 spares")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("FillSpares still runs 10 s after Close")
	}
	if making, _ := schemaNames(t, dsn, prefix+"-make-"); len(making) != 0 {
		t.Errorf("schemas left half made after Close: %q", making)
	}
	if ready, _ := schemaNames(t, dsn, prefix+"-spare-"); len(ready) >= 50 {
		t.Errorf("%d spares ready: Close did not stop the filler", len(ready))
	}
}

// TestSpareHostileTenant tries to plant rows in a spare, which would then
// become another tenant's schema: with Roles, a tenant's lease is refused
// the spare (SQLSTATE 42501, or 42P01 through a search_path that skips
// it), whether it names it or sets search_path to it, and the tenant that claims the spare finds it as migrated, empty.
func TestSpareHostileTenant(t *testing.T) {
	ctx := context.Background()
	dsn := newDatabase(t)
	prefix := "tks_" + randomHex(t, 3) + "_"
	s := newStrategy(t, schemastrategy.Config{DSN: dsn, Prefix: prefix, Roles: true})
	m, err := dbstrategy.NewManager(s, dbstrategy.WithMigrations(dbstrategytest.Migrations()))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Create(ctx, "mallory"); err != nil {
		t.Fatal(err)
	}
	if err := s.MakeSpare(ctx, 2, migrateNotes); err != nil {
		t.Fatal(err)
	}
	spares, _ := schemaNames(t, dsn, prefix+"-spare-")
	if len(spares) != 1 {
		t.Fatalf("spares = %q, want 1", spares)
	}
	spare := pgx.Identifier{spares[0]}.Sanitize()
	for _, q := range []string{
		"INSERT INTO " + spare + ".notes (id, body) VALUES (1, 'planted')",
		"SELECT count(*) FROM " + spare + ".notes",
		"CREATE TABLE " + spare + ".planted (id int)",
		"SET search_path TO " + spare + "; INSERT INTO notes (id, body) VALUES (1, 'planted')",
	} {
		err := m.Do(ctx, "mallory", func(ctx context.Context, db dbstrategy.DB) error {
			_, err := db.ExecContext(ctx, q)
			return err
		})
		// A schema the role may not use is skipped in search_path, so
		// the last one finds no table (42P01) rather than 42501.
		var pgErr interface{ SQLState() string }
		if !errors.As(err, &pgErr) || (pgErr.SQLState() != "42501" && pgErr.SQLState() != "42P01") {
			t.Errorf("mallory: %s: error = %v, want permission denied (42501) or no such table (42P01)", q, err)
		}
	}
	if ok, err := s.ClaimSpare(ctx, "victim", 2); err != nil || !ok {
		t.Fatalf("ClaimSpare() = %v, %v", ok, err)
	}
	err = m.Do(ctx, "victim", func(ctx context.Context, db dbstrategy.DB) error {
		var n int
		if err := db.QueryRowContext(ctx, "SELECT count(*) FROM notes").Scan(&n); err != nil {
			return err
		}
		if n != 0 {
			t.Errorf("victim's notes: %d rows, want 0: planted through the spare", n)
		}
		var tables int
		if err := db.QueryRowContext(ctx, "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename = 'planted'").Scan(&tables); err != nil {
			return err
		}
		if tables != 0 {
			t.Error("a table planted in the spare reached the victim")
		}
		return nil
	})
	if err != nil {
		t.Fatalf("victim: %v", err)
	}
}

// TestMigrationStoreTableExists checks the store's own TableExists: it
// sees the version table of the current schema only, not another
// tenant's.
func TestMigrationStoreTableExists(t *testing.T) {
	ctx := context.Background()
	s := newStrategy(t, schemastrategy.Config{})
	m, err := dbstrategy.NewManager(s, dbstrategy.WithMigrations(dbstrategytest.Migrations()))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Create(ctx, "migrated"); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, "bare"); err != nil { // the schema, no migration
		t.Fatal(err)
	}
	st, err := s.MigrationStore()
	if err != nil {
		t.Fatalf("MigrationStore() error = %v", err)
	}
	ext, ok := st.(interface {
		TableExists(context.Context, database.DBTxConn) (bool, error)
	})
	if !ok {
		t.Fatal("MigrationStore() has no TableExists: goose would run its own, slow, check")
	}
	for _, c := range []struct {
		tenant string
		want   bool
	}{{"migrated", true}, {"bare", false}} {
		db, err := s.Open(ctx, c.tenant)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ext.TableExists(ctx, db)
		db.Close()
		if err != nil || got != c.want {
			t.Errorf("TableExists() in %s = %v, %v; want %v", c.tenant, got, err, c.want)
		}
	}
	// The bare tenant migrates on the store: the check said no table, so
	// goose makes one in the tenant's schema.
	if err := m.Migrate(ctx, "bare"); err != nil {
		t.Fatalf("Migrate(bare) error = %v", err)
	}
	if v, err := m.Version(ctx, "bare"); err != nil || v != 2 {
		t.Errorf("Version(bare) = %d, %v; want 2", v, err)
	}
}

// TestDropOldSpares checks that only ready spares of older versions go,
// with their roles, and that one a claim holds is skipped.
func TestDropOldSpares(t *testing.T) {
	ctx := context.Background()
	dsn := newDatabase(t)
	prefix := "tks_" + randomHex(t, 3) + "_"
	s := newStrategy(t, schemastrategy.Config{DSN: dsn, Prefix: prefix, Roles: true})
	for _, v := range []int64{1, 1, 2, 10} {
		if err := s.MakeSpare(ctx, v, migrateNotes); err != nil {
			t.Fatal(err)
		}
	}
	// Hold one version-1 spare's lock, as a claim in progress does.
	held, _ := schemaNames(t, dsn, prefix+"-spare-v1-")
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var locked bool
	if err := tx.QueryRow(ctx, "SELECT pg_try_advisory_xact_lock(hashtextextended('tenantkit/schemastrategy spare' || $1, 0))", held[0]).Scan(&locked); err != nil || !locked {
		t.Fatalf("lock the spare: %v, %v", locked, err)
	}
	n, err := s.DropOldSpares(ctx, 10)
	if err != nil || n != 2 {
		t.Fatalf("DropOldSpares(10) = %d, %v; want 2 (one v1, the v2; the held v1 skipped)", n, err)
	}
	tx.Rollback(ctx)
	schemas, roles := schemaNames(t, dsn, prefix+"-")
	if len(schemas) != 2 || schemas[0] != held[0] || !strings.HasPrefix(schemas[1], prefix+"-spare-v10-") {
		t.Errorf("spares left = %q, want the held v1 and the v10", schemas)
	}
	if !slices.Equal(roles, schemas) {
		t.Errorf("spare roles left = %q, want those of the spares left %q", roles, schemas)
	}
}
