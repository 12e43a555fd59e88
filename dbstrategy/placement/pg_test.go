package placement_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tenantkit/tenantkit/dbstrategy"
	"github.com/tenantkit/tenantkit/dbstrategy/dbstrategytest"
	"github.com/tenantkit/tenantkit/dbstrategy/pgstrategy"
	"github.com/tenantkit/tenantkit/dbstrategy/placement"
	"github.com/tenantkit/tenantkit/dbstrategy/schemastrategy"
	"github.com/tenantkit/tenantkit/internal/pgtest"
)

// migrations are the test tenants' migrations: types whose COPY needs
// the text format, identity and serial columns, a generated column, a
// self-referencing foreign key, a table without a key, a free sequence.
func migrations(tb testing.TB) fs.FS {
	tb.Helper()
	return os.DirFS("testdata/migrations")
}

func randomPrefix(tb testing.TB) string {
	tb.Helper()
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		tb.Fatal(err)
	}
	return "tk" + hex.EncodeToString(b) + "_"
}

// kind makes the strategy of one server for a test, closed when it ends.
type kind struct {
	name   string
	pinned bool
	new    func(tb testing.TB, dsn, prefix string) dbstrategy.Strategy
}

var kinds = []kind{
	{name: "databases", new: func(tb testing.TB, dsn, prefix string) dbstrategy.Strategy {
		tb.Helper()
		s, err := pgstrategy.New(context.Background(), pgstrategy.Config{DSN: dsn, Prefix: prefix})
		if err != nil {
			tb.Fatalf("pgstrategy.New() = %v", err)
		}
		tb.Cleanup(func() { s.Close() })
		return s
	}},
	{name: "schemas", pinned: true, new: func(tb testing.TB, dsn, prefix string) dbstrategy.Strategy {
		tb.Helper()
		// Roles: leases run as the tenant's role, not a superuser, so
		// Copy fills the tables in foreign key order.
		s, err := schemastrategy.New(context.Background(), schemastrategy.Config{DSN: dsn, Prefix: prefix, Roles: true})
		if err != nil {
			tb.Fatalf("schemastrategy.New() = %v", err)
		}
		tb.Cleanup(func() { s.Close() })
		return s
	}},
}

// servers makes one strategy of k on each cluster, under a fresh prefix.
func (k kind) servers(tb testing.TB, dsns map[string]string) map[string]dbstrategy.Strategy {
	tb.Helper()
	prefix := randomPrefix(tb)
	servers := make(map[string]dbstrategy.Strategy)
	for name, dsn := range dsns {
		servers[name] = k.new(tb, dsn, prefix)
	}
	return servers
}

// router makes a Router, or a PinnedRouter, of k over servers.
func (k kind) router(tb testing.TB, servers map[string]dbstrategy.Strategy, locate placement.LocateFunc, opts ...placement.Option) dbstrategy.Strategy {
	tb.Helper()
	if k.pinned {
		r, err := placement.NewPinned(servers, locate, opts...)
		if err != nil {
			tb.Fatal(err)
		}
		return r
	}
	r, err := placement.New(servers, locate, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

// TestPostgres runs everything that needs PostgreSQL on two private
// clusters, "a" and "b", started once.
func TestPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two PostgreSQL clusters; skipped with -short")
	}
	dsns := map[string]string{"a": pgtest.StartCluster(t).DSN(), "b": pgtest.StartCluster(t).DSN()}
	for _, k := range kinds {
		t.Run("Conformance/"+k.name, func(t *testing.T) {
			dbstrategytest.Run(t, func(t *testing.T) dbstrategy.Strategy {
				return k.router(t, k.servers(t, dsns), byHash("a", "b"))
			})
		})
	}
	t.Run("Mix", func(t *testing.T) { testMix(t, dsns) })
	for _, k := range kinds {
		t.Run("Routing/"+k.name, func(t *testing.T) { testRouting(t, k, dsns) })
		t.Run("Budgets/"+k.name, func(t *testing.T) { testBudgets(t, k, dsns) })
		t.Run("Copy/"+k.name, func(t *testing.T) { testCopy(t, k, dsns) })
	}
}

// A database-per-tenant server and a schema-per-tenant one do not mix.
func testMix(t *testing.T, dsns map[string]string) {
	prefix := randomPrefix(t)
	servers := map[string]dbstrategy.Strategy{"a": kinds[0].new(t, dsns["a"], prefix), "b": kinds[1].new(t, dsns["b"], prefix)}
	_, err := placement.New(servers, byHash("a", "b"))
	if !errors.Is(err, dbstrategy.ErrInvalidConfig) || !strings.Contains(err.Error(), "ConnPinner") {
		t.Errorf("New(pgstrategy and schemastrategy) = %v; want ErrInvalidConfig naming ConnPinner", err)
	}
	if _, err := placement.NewPinned(servers, byHash("a", "b")); !errors.Is(err, dbstrategy.ErrInvalidConfig) {
		t.Errorf("NewPinned(pgstrategy and schemastrategy) = %v; want ErrInvalidConfig", err)
	}
	if _, err := placement.Copy(t.Context(), servers["a"], servers["b"], "x"); !errors.Is(err, placement.ErrSchemaMismatch) {
		t.Errorf("Copy(database to schema) = %v; want ErrSchemaMismatch", err)
	}
}

// Through a Manager with migrations, a tenant placed by the policy lands
// on its server, migrated (from the template on each server for
// pgstrategy), and nowhere else.
func testRouting(t *testing.T, k kind, dsns map[string]string) {
	servers := k.servers(t, dsns)
	reg := newRegistry()
	r := k.router(t, servers, reg.locate)
	m := newManager(t, r, dbstrategy.WithMigrations(migrations(t)))
	policy := placement.FewestTenants{Servers: []string{"a", "b"}, Load: reg.load}
	ctx := t.Context()
	placed := make(map[string]string)
	for i := range 4 {
		id := fmt.Sprintf("route%d", i)
		server, err := policy.Pick(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		reg.set(id, server)
		placed[id] = server
		if err := m.Create(ctx, id); err != nil {
			t.Fatalf("Create(%q) = %v", id, err)
		}
		err = m.Do(ctx, id, func(ctx context.Context, db dbstrategy.DB) error {
			_, err := db.ExecContext(ctx, "INSERT INTO accounts (name) VALUES ($1)", id)
			return err
		})
		if err != nil {
			t.Fatalf("tenant %q: insert: %v", id, err)
		}
	}
	for id, server := range placed {
		other := map[string]string{"a": "b", "b": "a"}[server]
		if !exists(t, servers[server], id) || exists(t, servers[other], id) {
			t.Errorf("tenant %q: want it on server %q only", id, server)
		}
	}
	if load, _ := reg.load(ctx); load["a"].Tenants != 2 || load["b"].Tenants != 2 {
		t.Errorf("load = %v; want 2 tenants on each server", load)
	}
	if !k.pinned {
		for name, s := range servers {
			x, _ := s.(*pgstrategy.Strategy).DatabaseName("x")
			if !databaseExists(t, dsns[name], strings.TrimSuffix(x, "x")+"$template") {
				t.Errorf("server %s: no template database after Manager.Create", name)
			}
		}
	}
}

func databaseExists(t *testing.T, dsn, name string) bool {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var ok bool
	if err := conn.QueryRow(t.Context(), "SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)", name).Scan(&ok); err != nil {
		t.Fatal(err)
	}
	return ok
}

// backends counts the connections to the server at dsn of the tenants
// under prefix: tenant databases, or sessions in a tenant's role.
func backends(t *testing.T, dsn, prefix string) int {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	err = conn.QueryRow(t.Context(), `SELECT count(*) FROM pg_stat_activity
WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() AND (starts_with(datname, $1) OR datname = 'postgres')`, prefix).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Each server has its own budget: server a, full, makes its tenants wait,
// while server b, with a budget of its own (WithServerBudget), serves.
func testBudgets(t *testing.T, k kind, dsns map[string]string) {
	servers := k.servers(t, dsns)
	reg := newRegistry()
	r := k.router(t, servers, reg.locate, placement.WithServerBudget("b", 3))
	ctx := t.Context()
	m := newManager(t, r, dbstrategy.WithMaxConns(2))
	// Database per tenant: created by another Manager, closed at once, so
	// that the tenants start with no connection open. Schema per tenant:
	// the pool is sized by the budget, before its first use.
	mc := m
	if !k.pinned {
		var err error
		if mc, err = dbstrategy.NewManager(r); err != nil {
			t.Fatal(err)
		}
	}
	tenants := map[string][]string{"a": {"a1", "a2", "a3"}, "b": {"b1", "b2", "b3", "b4"}}
	for server, ids := range tenants {
		for _, id := range ids {
			reg.set(id, server)
			if err := mc.Create(ctx, id); err != nil {
				t.Fatal(err)
			}
		}
	}
	if mc != m {
		mc.Close()
	}
	var open []*heldTx
	defer func() {
		for _, h := range open {
			h.done()
		}
	}()
	// Server a's budget: two tenants in a transaction each.
	for _, id := range []string{"a1", "a2"} {
		open = append(open, begin(t, m, servers["a"], id))
	}
	// Server b is not touched by a's load: three at once, its budget.
	for _, id := range []string{"b1", "b2", "b3"} {
		open = append(open, begin(t, m, servers["b"], id))
	}
	for server, id := range map[string]string{"a": "a3", "b": "b4"} {
		short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		err := m.Do(short, id, func(ctx context.Context, db dbstrategy.DB) error {
			_, err := db.ExecContext(ctx, "SELECT 1")
			return err
		})
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("server %s full: a query of tenant %s = %v; want it to wait for the budget until its deadline", server, id, err)
		}
	}
	for server, want := range map[string]int{"a": 2, "b": 3} {
		if got := backends(t, dsns[server], "tk"); got > want+1 { // +1: the strategy's admin or check connection
			t.Errorf("server %s: %d connections; want at most %d (its budget)", server, got, want+1)
		}
	}
	// Ending a's transactions makes room on a. (Ending one only is not
	// enough for pgstrategy, whose connect waits for a busy connection's
	// token rather than close another tenant's idle one, until that one is
	// closed for idleness.)
	open[0].done()
	open[1].done()
	err := m.Do(ctx, "a3", func(ctx context.Context, db dbstrategy.DB) error {
		_, err := db.ExecContext(ctx, "SELECT 1")
		return err
	})
	if err != nil {
		t.Errorf("tenant a3 after a release: %v", err)
	}
}

// heldTx is a lease holding a connection in an open transaction.
type heldTx struct {
	once sync.Once
	end  func()
}

func (h *heldTx) done() { h.once.Do(h.end) }

func begin(t *testing.T, m *dbstrategy.Manager, server dbstrategy.Strategy, id string) *heldTx {
	t.Helper()
	l, err := m.Acquire(t.Context(), id)
	if err != nil {
		t.Fatalf("Acquire(%q) = %v", id, err)
	}
	// pgstrategy's Open pings on a connection that its pool takes back on
	// a goroutine of its own: wait for it, so that the transaction runs on
	// it rather than on a second connection (which, with the first one
	// idle, would take a second token of the budget).
	if ps, ok := server.(*pgstrategy.Strategy); ok {
		pool, _ := ps.Pool(l.Handle())
		for deadline := time.Now().Add(time.Second); pool.Stat().AcquiredConns() > 0 && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
	}
	tx, err := l.DB().BeginTx(t.Context(), nil)
	if err != nil {
		l.Release()
		t.Fatalf("tenant %q: begin: %v", id, err)
	}
	if _, err := tx.ExecContext(t.Context(), "SELECT 1"); err != nil {
		t.Fatalf("tenant %q: %v", id, err)
	}
	return &heldTx{end: func() { tx.Rollback(); l.Release() }}
}

// seed fills the tenant with n accounts and their notes, events with
// duplicate rows, and moves every sequence.
func seed(t testing.TB, m *dbstrategy.Manager, id string, first, n int) {
	t.Helper()
	err := m.Do(context.Background(), id, func(ctx context.Context, db dbstrategy.DB) error {
		_, err := db.ExecContext(ctx, `
INSERT INTO accounts (name, balance, created, mood, tags, moods, meta, data, score)
SELECT 'acct ' || i, i * 1.25, timestamptz '2024-01-01 00:00:00+02' + i * interval '1 minute',
	(ARRAY['sad', 'ok', 'happy', NULL])[1 + i % 4]::mood, ARRAY['t' || i, 'x'], ARRAY['ok', 'happy']::mood[],
	jsonb_build_object('i', i, 'q', 'it''s'), decode(md5(i::text), 'hex'), i / 7.0
FROM generate_series($1::int, $2::int) i`, first, first+n-1)
		if err != nil {
			return fmt.Errorf("accounts: %w", err)
		}
		_, err = db.ExecContext(ctx, `
INSERT INTO notes (account_id, body, day)
SELECT id, 'note of ' || name || E'\twith a tab\nand a line', date '2024-02-29' + (id % 30)::int FROM accounts WHERE id >= $1`, first)
		if err != nil {
			return fmt.Errorf("notes: %w", err)
		}
		if _, err := db.ExecContext(ctx, `UPDATE notes SET parent_id = id - 1 WHERE id % 3 = 0 AND id > 1`); err != nil {
			return fmt.Errorf("notes: %w", err)
		}
		_, err = db.ExecContext(ctx, `INSERT INTO events (kind, at, span) SELECT 'dup', timestamp '2024-03-01 12:00', interval '1 day 2 hours'
FROM generate_series(1, 3) UNION ALL SELECT NULL, NULL, NULL`)
		if err != nil {
			return fmt.Errorf("events: %w", err)
		}
		_, err = db.ExecContext(ctx, `SELECT nextval('invoice_no') FROM generate_series(1, 5)`)
		return err
	})
	if err != nil {
		t.Fatalf("seed %q: %v", id, err)
	}
}

func query(t testing.TB, m *dbstrategy.Manager, id, q string, dest ...any) error {
	t.Helper()
	return m.Do(context.Background(), id, func(ctx context.Context, db dbstrategy.DB) error {
		return db.QueryRowContext(ctx, q).Scan(dest...)
	})
}

func exec(t testing.TB, m *dbstrategy.Manager, id, q string) error {
	t.Helper()
	return m.Do(context.Background(), id, func(ctx context.Context, db dbstrategy.DB) error {
		_, err := db.ExecContext(ctx, q)
		return err
	})
}

func testCopy(t *testing.T, k kind, dsns map[string]string) {
	servers := k.servers(t, dsns)
	src, dst := servers["a"], servers["b"]
	ms := newManager(t, src, dbstrategy.WithMigrations(migrations(t)))
	md := newManager(t, dst, dbstrategy.WithMigrations(migrations(t)))
	ctx := t.Context()
	const id = "mover"
	if err := ms.Create(ctx, id); err != nil {
		t.Fatal(err)
	}
	seed(t, ms, id, 1, 300)
	if err := md.Create(ctx, id); err != nil {
		t.Fatal(err)
	}

	// The copy runs while the source is read: every read succeeds.
	stop := make(chan struct{})
	var reads, readErrs atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() { // exits when stop is closed
		for {
			select {
			case <-stop:
				return
			default:
			}
			var n int
			if err := query(t, ms, id, "SELECT count(*) FROM notes", &n); err != nil {
				readErrs.Add(1)
				t.Errorf("read during the copy: %v", err)
			}
			reads.Add(1)
		}
	})
	stopReads := sync.OnceFunc(func() { close(stop); wg.Wait() })
	defer stopReads()
	var progress []string
	rep, err := placement.Copy(ctx, src, dst, id, placement.WithProgress(func(tb placement.Table) {
		progress = append(progress, fmt.Sprintf("%s:%d", tb.Name, tb.Source.Rows))
	}))
	if err != nil {
		t.Fatalf("Copy() = %v", err)
	}
	t.Logf("copied %d rows in %v, verified in %v, replica role: %v, progress %v", rep.Rows(), rep.Copy, rep.Verify, rep.Replica, progress)
	name := func(table string) string {
		if k.pinned {
			return table
		}
		return "public." + table
	}
	want := map[string]struct {
		rows   int64
		binary bool
	}{name("accounts"): {300, false}, name("notes"): {300, true}, name("events"): {4, true}}
	if len(rep.Tables) != len(want) {
		t.Errorf("Copy() tables = %+v; want %d", rep.Tables, len(want))
	}
	for _, tb := range rep.Tables {
		w := want[tb.Name]
		if !tb.Match() || tb.Source.Rows != w.rows || tb.Binary != w.binary || tb.Source.Checksum == "" {
			t.Errorf("table %+v; want %d rows on both sides, binary %v", tb, w.rows, w.binary)
		}
	}
	if rep.Sequences != 3 || rep.Version != 2 || rep.Replica == k.pinned || len(progress) != 3 {
		t.Errorf("Copy() = %d sequences, version %d, replica %v, progress %v; want 3, 2, %v, 3 tables", rep.Sequences, rep.Version, rep.Replica, progress, !k.pinned)
	}
	// Sequences and identities go on from the source's state.
	for _, q := range []string{"SELECT nextval('invoice_no')", "INSERT INTO accounts (name, created) VALUES ('next', '2025-01-01') RETURNING id", "INSERT INTO notes (account_id, body) VALUES (1, 'next') RETURNING id"} {
		var s, d int64
		if err := query(t, ms, id, q, &s); err != nil {
			t.Fatal(err)
		}
		if err := query(t, md, id, q, &d); err != nil {
			t.Fatal(err)
		}
		if s != d {
			t.Errorf("%s: %d on the source, %d on the destination", q, s, d)
		}
	}

	// Verify sees a corrupted row, naming its table.
	if _, err := placement.Verify(ctx, src, dst, id); err != nil {
		t.Fatalf("Verify() after identical writes = %v", err)
	}
	if err := exec(t, md, id, "UPDATE notes SET body = 'tampered' WHERE id = 7"); err != nil {
		t.Fatal(err)
	}
	_, err = placement.Verify(ctx, src, dst, id)
	var mismatch *placement.MismatchError
	if !errors.Is(err, placement.ErrMismatch) || !errors.As(err, &mismatch) || len(mismatch.Tables) != 1 || mismatch.Tables[0].Name != name("notes") {
		t.Fatalf("Verify() with a tampered row = %v; want a MismatchError for notes only", err)
	}
	t.Log(err)

	// An interrupted copy leaves the destination as it was; run again,
	// it converges.
	seed(t, ms, id, 1000, 50)
	cctx, cancel := context.WithCancel(ctx)
	_, err = placement.Copy(cctx, src, dst, id, placement.WithProgress(func(placement.Table) { cancel() }))
	cancel()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Copy() cancelled after its first table = %v; want context.Canceled", err)
	}
	var body string
	if err := query(t, md, id, "SELECT body FROM notes WHERE id = 7", &body); err != nil || body != "tampered" {
		t.Errorf("destination after an interrupted copy: body = %q, %v; want the row as it was", body, err)
	}
	if _, err := placement.Copy(ctx, src, dst, id); err != nil {
		t.Fatalf("Copy() again = %v", err)
	}
	if _, err := placement.Verify(ctx, src, dst, id); err != nil {
		t.Errorf("Verify() after the copy ran again = %v", err)
	}

	// Pause: writes fail at once, also on a connection opened before;
	// reads go on; the final copy verifies; Resume lets writes in again.
	held, err := ms.Acquire(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := held.DB().ExecContext(ctx, "INSERT INTO events (kind) VALUES ('before')"); err != nil {
		t.Fatal(err)
	}
	if err := placement.Pause(ctx, src, id); err != nil {
		t.Fatalf("Pause() = %v", err)
	}
	if err := placement.Pause(ctx, src, id); err != nil {
		t.Fatalf("Pause() again = %v", err)
	}
	for _, q := range []string{"INSERT INTO events (kind) VALUES ('paused')", "UPDATE accounts SET balance = 0", "DELETE FROM notes", "TRUNCATE events", "INSERT INTO goose_db_version (version_id, is_applied) VALUES (99, true)"} {
		_, err := held.DB().ExecContext(ctx, q)
		var pgErr *pgconn.PgError
		if !placement.IsPaused(err) || !errors.As(err, &pgErr) || pgErr.Code != "25006" {
			t.Errorf("%s on a paused tenant, on a session opened before = %v; want SQLSTATE 25006", q, err)
		}
	}
	held.Release()
	if err := exec(t, ms, id, "INSERT INTO events (kind) VALUES ('paused')"); !placement.IsPaused(err) {
		t.Errorf("write on a paused tenant = %v; want IsPaused", err)
	}
	var n int
	if err := query(t, ms, id, "SELECT count(*) FROM accounts", &n); err != nil || n != 351 {
		t.Errorf("read of a paused tenant = %d, %v; want 351, nil", n, err)
	}
	if paused, err := placement.Paused(ctx, src, id); !paused || err != nil {
		t.Errorf("Paused() = %v, %v; want true", paused, err)
	}
	if paused, err := placement.Paused(ctx, dst, id); paused || err != nil {
		t.Errorf("Paused(destination) = %v, %v; want false", paused, err)
	}
	started := time.Now()
	rep, err = placement.Copy(ctx, src, dst, id)
	if err != nil {
		t.Fatalf("final Copy() = %v", err)
	}
	t.Logf("final copy of %d rows under the pause: %v", rep.Rows(), time.Since(started))
	stopReads()
	if reads.Load() == 0 || readErrs.Load() != 0 {
		t.Errorf("reads during the copies: %d, %d failed; want some, none failed", reads.Load(), readErrs.Load())
	}
	if err := exec(t, md, id, "INSERT INTO events (kind) VALUES ('on the destination')"); err != nil {
		t.Errorf("write on the destination = %v", err)
	}
	if err := placement.Resume(ctx, src, id); err != nil {
		t.Fatalf("Resume() = %v", err)
	}
	if err := placement.Resume(ctx, src, id); err != nil {
		t.Fatalf("Resume() again = %v", err)
	}
	if paused, err := placement.Paused(ctx, src, id); paused || err != nil {
		t.Errorf("Paused() after Resume = %v, %v; want false", paused, err)
	}
	if err := exec(t, ms, id, "INSERT INTO events (kind) VALUES ('resumed')"); err != nil {
		t.Errorf("write after Resume = %v", err)
	}

	// A destination behind the source's migrations is refused.
	for _, m := range []*dbstrategy.Manager{ms, md} {
		if err := m.Create(ctx, "behind"); err != nil {
			t.Fatal(err)
		}
	}
	if err := exec(t, md, "behind", "DROP TABLE events; DROP SEQUENCE invoice_no; DELETE FROM goose_db_version WHERE version_id = 2"); err != nil {
		t.Fatal(err)
	}
	if _, err := placement.Copy(ctx, src, dst, "behind"); !errors.Is(err, placement.ErrSchemaMismatch) {
		t.Errorf("Copy() to a destination behind = %v; want ErrSchemaMismatch", err)
	}
	if _, err := placement.Copy(ctx, src, dst, "absent"); !errors.Is(err, dbstrategy.ErrNotFound) {
		t.Errorf("Copy() of a tenant that does not exist = %v; want ErrNotFound", err)
	}
}
