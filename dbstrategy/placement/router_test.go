package placement_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/tenantkit/tenantkit/dbstrategy"
	"github.com/tenantkit/tenantkit/dbstrategy/dbstrategytest"
	"github.com/tenantkit/tenantkit/dbstrategy/placement"
	"github.com/tenantkit/tenantkit/dbstrategy/sqlitestrategy"
)

func sqliteServers(t *testing.T, names ...string) map[string]dbstrategy.Strategy {
	t.Helper()
	servers := make(map[string]dbstrategy.Strategy)
	for _, name := range names {
		s, err := sqlitestrategy.New(sqlitestrategy.Config{Dir: filepath.Join(t.TempDir(), name)})
		if err != nil {
			t.Fatal(err)
		}
		servers[name] = s
	}
	return servers
}

// The router over two SQLite folders passes the conformance suite: it
// routes without changing what a strategy promises.
func TestConformanceSQLite(t *testing.T) {
	dbstrategytest.Run(t, func(t *testing.T) dbstrategy.Strategy {
		r, err := placement.New(sqliteServers(t, "a", "b"), byHash("a", "b"))
		if err != nil {
			t.Fatal(err)
		}
		return r
	})
}

func TestRouting(t *testing.T) {
	servers := sqliteServers(t, "a", "b")
	reg := newRegistry()
	r, err := placement.New(servers, reg.locate)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	reg.set("t1", "a")
	reg.set("t2", "b")
	for _, id := range []string{"t1", "t2"} {
		if err := r.Create(ctx, id); err != nil {
			t.Fatalf("Create(%q) = %v", id, err)
		}
	}
	for id, server := range map[string]string{"t1": "a", "t2": "b"} {
		other := map[string]string{"a": "b", "b": "a"}[server]
		if !exists(t, servers[server], id) || exists(t, servers[other], id) {
			t.Errorf("tenant %q: want it on server %q only", id, server)
		}
		name, _, err := r.Locate(ctx, id)
		if name != server || err != nil {
			t.Errorf("Locate(%q) = %q, %v; want %q, nil", id, name, err, server)
		}
	}

	// A tenant without placement: Create and Open fail with ErrNotFound,
	// Drop is idempotent.
	if err := r.Create(ctx, "nowhere"); !errors.Is(err, dbstrategy.ErrNotFound) {
		t.Errorf("Create(unplaced) = %v; want ErrNotFound", err)
	}
	if db, err := r.Open(ctx, "nowhere"); !errors.Is(err, dbstrategy.ErrNotFound) {
		if db != nil {
			db.Close()
		}
		t.Errorf("Open(unplaced) = %v; want ErrNotFound", err)
	}
	if err := r.Drop(ctx, "nowhere"); err != nil {
		t.Errorf("Drop(unplaced) = %v; want nil", err)
	}

	// Placed on a server the router does not have.
	reg.set("lost", "c")
	for name, err := range map[string]error{
		"Create": r.Create(ctx, "lost"),
		"Drop":   r.Drop(ctx, "lost"),
		"Open":   openErr(r, "lost"),
	} {
		if !errors.Is(err, placement.ErrUnknownServer) {
			t.Errorf("%s(on an unknown server) = %v; want ErrUnknownServer", name, err)
		}
	}

	// A tenant placed where it does not exist: the server's ErrNotFound,
	// in a ServerError naming it.
	reg.set("t1", "b")
	err = openErr(r, "t1")
	var serr *placement.ServerError
	if !errors.Is(err, dbstrategy.ErrNotFound) || !errors.As(err, &serr) || serr.Server != "b" {
		t.Errorf("Open(placed on the wrong server) = %v; want a *ServerError for b wrapping ErrNotFound", err)
	}

	// The locate error is kept.
	boom := errors.New("registry down")
	r2, err := placement.New(servers, func(context.Context, string) (string, error) { return "", boom })
	if err != nil {
		t.Fatal(err)
	}
	if err := openErr(r2, "t1"); !errors.Is(err, boom) {
		t.Errorf("Open with a failing locate = %v; want it wrapped", err)
	}
	if err := r2.Drop(ctx, "t1"); !errors.Is(err, boom) {
		t.Errorf("Drop with a failing locate = %v; want it wrapped", err)
	}
	// Invalid keys never reach locate.
	if err := openErr(r2, "Bad Key"); !errors.Is(err, dbstrategy.ErrInvalidKey) {
		t.Errorf("Open(invalid key) = %v; want ErrInvalidKey", err)
	}
}

func openErr(r *placement.Router, id string) error {
	db, err := r.Open(context.Background(), id)
	if db != nil {
		db.Close()
	}
	return err
}

// exists reports whether the tenant's database exists on s.
func exists(t *testing.T, s dbstrategy.Strategy, id string) bool {
	t.Helper()
	if ss, ok := s.(*sqlitestrategy.Strategy); ok {
		p, err := ss.Path(id)
		if err != nil {
			t.Fatal(err)
		}
		_, err = os.Stat(p)
		return err == nil
	}
	db, err := s.Open(context.Background(), id)
	if errors.Is(err, dbstrategy.ErrNotFound) {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	return true
}

// pinner is a strategy that says it pins connections, to check that a
// Router refuses a mix.
type pinner struct{ dbstrategy.Strategy }

func (pinner) PinConn(ctx context.Context, db *sql.DB) (*sql.Conn, error) { return db.Conn(ctx) }

type otherDialect struct{ dbstrategy.Strategy }

func (otherDialect) Dialect() string { return "postgres" }

func TestNewErrors(t *testing.T) {
	servers := sqliteServers(t, "a", "b")
	loc := byHash("a", "b")
	mixed := map[string]dbstrategy.Strategy{"a": servers["a"], "b": pinner{servers["b"]}}
	dialects := map[string]dbstrategy.Strategy{"a": servers["a"], "b": otherDialect{servers["b"]}}
	pinners := map[string]dbstrategy.Strategy{"a": pinner{servers["a"]}, "b": pinner{servers["b"]}}
	for _, tt := range []struct {
		name    string
		servers map[string]dbstrategy.Strategy
		locate  placement.LocateFunc
		opts    []placement.Option
		pinned  bool
	}{
		{name: "no servers", servers: nil, locate: loc},
		{name: "nil locate", servers: servers},
		{name: "nil server", servers: map[string]dbstrategy.Strategy{"a": nil}, locate: loc},
		{name: "empty name", servers: map[string]dbstrategy.Strategy{"": servers["a"]}, locate: loc},
		{name: "pinner and not", servers: mixed, locate: loc},
		{name: "pinner and not, pinned", servers: mixed, locate: loc, pinned: true},
		{name: "two dialects", servers: dialects, locate: loc},
		{name: "pinners to New", servers: pinners, locate: loc},
		{name: "non-pinners to NewPinned", servers: servers, locate: loc, pinned: true},
		{name: "budget of an unknown server", servers: servers, locate: loc, opts: []placement.Option{placement.WithServerBudget("c", 4)}},
		{name: "budget of 0", servers: servers, locate: loc, opts: []placement.Option{placement.WithServerBudget("a", 0)}},
		{name: "nil option", servers: servers, locate: loc, opts: []placement.Option{nil}},
		{name: "nil logger", servers: servers, locate: loc, opts: []placement.Option{placement.WithLogger(nil)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.pinned {
				_, err = placement.NewPinned(tt.servers, tt.locate, tt.opts...)
			} else {
				_, err = placement.New(tt.servers, tt.locate, tt.opts...)
			}
			if !errors.Is(err, dbstrategy.ErrInvalidConfig) {
				t.Errorf("error = %v; want ErrInvalidConfig", err)
			} else {
				t.Log(err)
			}
		})
	}
	if _, err := placement.NewPinned(pinners, loc); err != nil {
		t.Errorf("NewPinned(pinners) = %v", err)
	}
}

func TestMaxHandles(t *testing.T) {
	// SQLite handles cost process memory: the smallest limit, not the sum.
	servers := sqliteServers(t, "a", "b")
	r, err := placement.New(servers, byHash("a", "b"))
	if err != nil {
		t.Fatal(err)
	}
	want := servers["a"].(dbstrategy.HandleLimiter).MaxHandles()
	if got := r.MaxHandles(); got != want {
		t.Errorf("MaxHandles() = %d; want %d, one server's", got, want)
	}
	// No connection budget applies to SQLite: SetConnBudget does nothing.
	if err := r.SetConnBudget(4); err != nil {
		t.Errorf("SetConnBudget() = %v; want nil", err)
	}
	// sqlitestrategy's migration locker (a lock file beside each
	// database) works for any server's database: the router passes it on.
	if l, err := r.MigrationLocker(); l == nil || err != nil {
		t.Errorf("MigrationLocker() = %v, %v; want the servers' locker", l, err)
	}
}
