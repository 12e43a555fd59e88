package pgstrategy_test

import (
	"strings"
	"testing"

	"github.com/tenantkit/tenantkit/dbstrategy"
	"github.com/tenantkit/tenantkit/dbstrategy/dbstrategytest"
	"github.com/tenantkit/tenantkit/dbstrategy/pgstrategy"
)

func TestConformance(t *testing.T) {
	dbstrategytest.Run(t, func(t *testing.T) dbstrategy.Strategy {
		return newStrategy(t, pgstrategy.Config{})
	})
}

func TestManagerTemplate(t *testing.T) {
	// Through a Manager with migrations, tenants are copies of the template
	// that the Manager migrated with goose.
	s := newStrategy(t, pgstrategy.Config{})
	m, err := dbstrategy.NewManager(s, dbstrategy.WithMigrations(dbstrategytest.Migrations()))
	if err != nil {
		t.Fatalf("NewManager() error = %v", err)
	}
	t.Cleanup(func() { m.Close() })
	ctx := t.Context()
	for _, key := range []string{"a", "b"} {
		if err := m.Create(ctx, key); err != nil {
			t.Fatalf("Create(%q) error = %v", key, err)
		}
		if v, err := m.Version(ctx, key); v != 2 || err != nil {
			t.Errorf("Version(%q) = %d, %v; want 2, nil", key, v, err)
		}
		lease, err := m.Acquire(ctx, key)
		if err != nil {
			t.Fatalf("Acquire(%q) error = %v", key, err)
		}
		_, err = lease.DB().ExecContext(ctx, "INSERT INTO notes (id, body, tag) VALUES (1, 'hello', 'x')")
		lease.Release()
		if err != nil {
			t.Errorf("tenant %q: insert into notes: %v", key, err)
		}
	}
	name, _ := s.DatabaseName("x")
	if tpl := strings.TrimSuffix(name, "x") + "$template"; !databaseExists(t, adminConn(t), tpl) {
		t.Errorf("template %q missing after Manager.Create with migrations", tpl)
	}
}
