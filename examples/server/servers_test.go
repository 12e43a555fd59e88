package main

// Several tenant servers: the -tenant-db list and -tenant-db-closed, the
// fewest-tenants pick over the registry's table, and the start-up check
// of placements on servers the configuration does not name. The servers
// themselves are PostgreSQL ones (process_placement_test.go); here the
// core database is SQLite.

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/tenantkit/tenantkit/dbstrategy"
	"github.com/tenantkit/tenantkit/tenancy"
	"github.com/tenantkit/tenantkit/tenancy/registry"
)

func TestSplitURLList(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"postgres://a/x", []string{"postgres://a/x"}},
		{"a=postgres://h1/x,b=postgres://h2/x", []string{"a=postgres://h1/x", "b=postgres://h2/x"}},
		{"a=postgres://h1/x b=postgresql://h2/x\n c=postgres://h3/x,", []string{"a=postgres://h1/x", "b=postgresql://h2/x", "c=postgres://h3/x"}},
		// A multi-host URL keeps its commas.
		{"a=postgres://h1,h2:5433/x?target_session_attrs=read-write,b=postgres://h3/x",
			[]string{"a=postgres://h1,h2:5433/x?target_session_attrs=read-write", "b=postgres://h3/x"}},
		{"postgres://h1/x,postgres://h2/x", []string{"postgres://h1/x", "postgres://h2/x"}},
	}
	for _, tt := range tests {
		if got := splitURLList(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("splitURLList(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

func TestTenantDBFlags(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	var out bytes.Buffer
	if _, err := parseConfig([]string{"-h"}, env(nil), &out); err != errHelp {
		t.Fatalf("-h: %v", err)
	}
	for _, f := range []string{"-tenant-db-closed", "TENANT_DB_CLOSED", "NAME=postgres://"} {
		if !strings.Contains(out.String(), f) {
			t.Errorf("-h does not mention %s", f)
		}
	}
	const pg1, pg2 = "postgres://u@10.0.0.1:5432/postgres", "postgres://u@10.0.0.2:5432/postgres?sslmode=disable"
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		servers []tenantServer
		closed  []string
		first   string // cfg.tenantDB
	}{
		{"default", nil, nil, nil, nil, "sqlite:./data/tenants"},
		{"sqlite", []string{"-tenant-db", "sqlite:/t"}, nil, []tenantServer{{defaultServer, "sqlite:/t"}}, nil, "sqlite:/t"},
		{"one unnamed", []string{"-tenant-db", pg1}, nil, []tenantServer{{defaultServer, pg1}}, nil, pg1},
		{"one named", []string{"-tenant-db", "pg1=" + pg1}, nil, []tenantServer{{"pg1", pg1}}, nil, pg1},
		{"repeated flag", []string{"-tenant-db", "pg2=" + pg2, "-tenant-db", "pg1=" + pg1, "-tenant-db-closed", "pg1"}, nil,
			[]tenantServer{{"pg2", pg2}, {"pg1", pg1}}, []string{"pg1"}, pg2},
		{"one flag, a list", []string{"-tenant-db", "pg1=" + pg1 + ",pg2=" + pg2}, nil,
			[]tenantServer{{"pg1", pg1}, {"pg2", pg2}}, nil, pg1},
		{"environment", nil, map[string]string{"TENANT_DATABASE_URL": "pg1=" + pg1 + "\n pg2=" + pg2, "TENANT_DB_CLOSED": "pg2"},
			[]tenantServer{{"pg1", pg1}, {"pg2", pg2}}, []string{"pg2"}, pg1},
		{"flag over environment", []string{"-tenant-db", pg1}, map[string]string{"TENANT_DATABASE_URL": "pg1=" + pg1 + ",pg2=" + pg2},
			[]tenantServer{{defaultServer, pg1}}, nil, pg1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseConfig(tt.args, env(tt.env), &out)
			if err != nil {
				t.Fatalf("parseConfig(%q) = %v", tt.args, err)
			}
			if !slices.Equal(c.tenantServers, tt.servers) || !slices.Equal(c.tenantClosed, tt.closed) || c.tenantDB != tt.first {
				t.Errorf("servers %v, closed %v, tenantDB %q; want %v, %v, %q", c.tenantServers, c.tenantClosed, c.tenantDB, tt.servers, tt.closed, tt.first)
			}
		})
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"-tenant-db", pg1, "-tenant-db", pg2}, "with several servers, name each one"},
		{[]string{"-tenant-db", "a=" + pg1, "-tenant-db", "a=" + pg2}, `server "a" is named twice`},
		{[]string{"-tenant-db", "A=" + pg1}, `invalid -tenant-db "A"`},
		{[]string{"-tenant-db", "a=" + pg1, "-tenant-db", "sqlite:/t"}, "SQLite tenant databases are one sqlite:DIR"},
		{[]string{"-tenant-db", "a=sqlite:/t"}, "SQLite tenant databases are one sqlite:DIR"},
		{[]string{"-tenant-db", "a=mysql://x"}, "must start with sqlite: or postgres://"},
		{[]string{"-tenant-db", "a=" + pg1, "-tenant-db-closed", "b"}, `no -tenant-db server is named "b"`},
		{[]string{"-tenant-db", "a=" + pg1, "-tenant-db", "b=" + pg2, "-tenant-db-closed", "a,b"}, "every tenant server is closed"},
		{[]string{"-tenant-db-closed", "default"}, "every tenant server is closed"},
		{[]string{"-tenant-db", "a=" + pg1, "-tenant-db", "b=sqlite:/t"}, "SQLite tenant databases are one"},
	} {
		if _, err := parseConfig(tt.args, env(nil), &out); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("parseConfig(%q) = %v; want an error containing %q", tt.args, err, tt.want)
		}
	}
}

// newPlacementStore returns a registry store on a fresh SQLite core
// database, holding one record per server name given ("" for the
// tenants placed before placement).
func newPlacementStore(t *testing.T, servers ...string) (*registry.SQL, *sql.DB) {
	t.Helper()
	cfg := sqliteConfig(t)
	ctx := context.Background()
	db, dialect, err := openCoreDB(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	store, err := openCoreStore(ctx, db, dialect)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range servers {
		if _, err := store.reg.Insert(ctx, registry.Record{ID: tenantKey(int64(i + 1)), Status: tenancy.StatusActive, Server: s}); err != nil {
			t.Fatal(err)
		}
	}
	return store.reg, db
}

func TestPickFewestTenants(t *testing.T) {
	ctx := context.Background()
	servers := func(names ...string) map[string]dbstrategy.Strategy {
		m := map[string]dbstrategy.Strategy{}
		for _, n := range names {
			m[n] = nil // pick and locate do not use the strategies
		}
		return m
	}
	tests := []struct {
		name    string
		names   []string
		closed  []string
		records []string
		want    string
	}{
		{"one server: nothing recorded", []string{"default"}, nil, []string{"", ""}, ""},
		{"empty: the first by name", []string{"pg2", "pg1"}, nil, nil, "pg1"},
		{"placed nowhere counts on the first", []string{"pg2", "pg1"}, nil, []string{"", "pg1"}, "pg1"},
		{"fewest", []string{"pg1", "pg2", "pg3"}, nil, []string{"pg1", "pg2", "pg2", "", "pg3"}, "pg3"},
		{"closed skipped", []string{"pg1", "pg2", "pg3"}, []string{"pg3"}, []string{"pg1", "pg1", "pg2"}, "pg2"},
		{"closed with fewest", []string{"pg1", "pg2"}, []string{"pg1"}, []string{"pg2", "pg2"}, "pg2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg, db := newPlacementStore(t, tt.records...)
			ts := &tenantServers{names: tt.names, strategies: servers(tt.names...), closed: map[string]bool{}, reg: reg}
			for _, c := range tt.closed {
				ts.closed[c] = true
			}
			got, err := ts.pick(ctx, db, "new")
			if err != nil || got != tt.want {
				t.Errorf("pick() = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestLocate(t *testing.T) {
	ctx := context.Background()
	reg, _ := newPlacementStore(t, "", "pg2")
	ts := &tenantServers{names: []string{"pg1", "pg2"}, reg: reg}
	for _, tt := range []struct{ id, want string }{{tenantKey(1), "pg1"}, {tenantKey(2), "pg2"}} {
		if got, err := ts.locate(ctx, tt.id); err != nil || got != tt.want {
			t.Errorf("locate(%s) = %q, %v; want %q", tt.id, got, err, tt.want)
		}
	}
	if _, err := ts.locate(ctx, "404"); !errors.Is(err, dbstrategy.ErrNotFound) {
		t.Errorf("locate(unknown) error = %v; want dbstrategy.ErrNotFound", err)
	}
}

// TestUnknownServerRefused: tenants placed on a server the configuration
// does not name keep the server from starting, naming the server.
func TestUnknownServerRefused(t *testing.T) {
	cfg := sqliteConfig(t)
	ts := startServer(t, cfg)
	if _, err := ts.app.reg.Insert(context.Background(), registry.Record{ID: "99", Status: tenancy.StatusActive, Server: "pg9"}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a, err := newApp(ctx, cfg, slog.New(slog.DiscardHandler), appOptions{admin: true})
	if err == nil {
		a.Close()
		t.Fatal("newApp with a tenant on server pg9 succeeded; want an error")
	}
	if !strings.Contains(err.Error(), "pg9 (1 tenants)") {
		t.Errorf("newApp error = %v; want it to name pg9", err)
	}
}
