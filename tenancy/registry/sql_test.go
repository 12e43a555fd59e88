package registry_test

import (
	"context"
	"errors"
	"testing"

	"github.com/tenantkit/tenantkit/tenancy"
	"github.com/tenantkit/tenantkit/tenancy/registry"
)

func sqlDialects() []struct{ dialect, name string } {
	return []struct{ dialect, name string }{{registry.DialectSQLite, "SQLite"}, {registry.DialectPostgres, "PostgreSQL"}}
}

func dsnFor(t *testing.T, dialect string) string {
	if dialect == registry.DialectPostgres {
		return pgDSN(t)
	}
	return sqliteDSN(t)
}

func TestSQLInsertTx(t *testing.T) {
	for _, d := range sqlDialects() {
		t.Run(d.name, func(t *testing.T) {
			ctx := context.Background()
			s, db := openSQL(t, d.dialect, dsnFor(t, d.dialect))
			if _, err := db.Exec(`CREATE TABLE organizations (id TEXT PRIMARY KEY, owner TEXT NOT NULL)`); err != nil {
				t.Fatal(err)
			}
			create := func(id, slug string, commit bool) error {
				tx, err := db.BeginTx(ctx, nil)
				if err != nil {
					t.Fatal(err)
				}
				defer tx.Rollback()
				if _, err := tx.ExecContext(ctx, `INSERT INTO organizations (id, owner) VALUES ($1, 'ann')`, id); err != nil {
					t.Fatal(err)
				}
				if _, err := s.InsertTx(ctx, tx, registry.Record{ID: id, Slug: slug, Status: tenancy.StatusProvisioning}); err != nil {
					return err
				}
				if commit {
					return tx.Commit()
				}
				return nil
			}
			count := func(table string) (n int) {
				if err := db.QueryRow(`SELECT count(*) FROM ` + table).Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			}
			if err := create("1", "acme", true); err != nil {
				t.Fatalf("commit: %v", err)
			}
			if err := create("2", "beta", false); err != nil {
				t.Fatalf("rollback: %v", err)
			}
			if o, r, c := count("organizations"), count("tenantkit_tenants"), count("tenantkit_tenant_changes"); o != 1 || r != 1 || c != 1 {
				t.Errorf("after a commit and a rollback: %d organizations, %d records, %d changes; want 1 each", o, r, c)
			}
			// A taken slug is ErrExists and leaves the app's transaction
			// usable (on PostgreSQL, no aborted transaction).
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.InsertTx(ctx, tx, registry.Record{ID: "3", Slug: "acme", Status: tenancy.StatusProvisioning}); !errors.Is(err, registry.ErrExists) {
				t.Errorf("InsertTx(taken slug) error = %v; want ErrExists", err)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO organizations (id, owner) VALUES ('3', 'bob')`); err != nil {
				t.Errorf("the transaction after ErrExists: %v", err)
			}
			tx.Rollback()
			if _, err := s.InsertTx(ctx, nil, registry.Record{ID: "4", Status: tenancy.StatusActive}); err == nil {
				t.Errorf("InsertTx(nil tx) succeeded")
			}
		})
	}
}

func TestOpenSQLTwice(t *testing.T) {
	for _, d := range sqlDialects() {
		t.Run(d.name, func(t *testing.T) {
			dsn := dsnFor(t, d.dialect)
			s1, db := openSQL(t, d.dialect, dsn)
			insert(t, s1, "1", "", tenancy.StatusActive)
			s2, _ := openSQL(t, d.dialect, dsn) // the schema is current: nothing to do
			if rec, err := s2.Get(context.Background(), "1"); err != nil || rec.ID != "1" {
				t.Errorf("Get() through a second store = %+v, %v", rec, err)
			}
			var v int64
			if err := db.QueryRow(`SELECT max(version_id) FROM ` + registry.VersionTable).Scan(&v); err != nil || v != 2 {
				t.Errorf("registry schema version = %d, %v; want 2 in %s", v, err, registry.VersionTable)
			}
		})
	}
}

func TestSQLNotifySQLite(t *testing.T) {
	s, _ := openSQL(t, registry.DialectSQLite, sqliteDSN(t))
	if err := s.Notify(context.Background(), func() {}); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("Notify() on SQLite = %v; want errors.ErrUnsupported", err)
	}
}
