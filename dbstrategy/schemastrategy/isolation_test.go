package schemastrategy_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tenantkit/tenantkit/dbstrategy"
	"github.com/tenantkit/tenantkit/dbstrategy/schemastrategy"
)

// markerMigrations makes, in every schema, a table holding the tenant's
// name, written by the test after Create.
func markerMigrations() fstest.MapFS {
	return fstest.MapFS{"postgres/00001_marker.sql": &fstest.MapFile{Data: []byte(`-- +goose Up
CREATE TABLE marker (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
-- +goose Down
DROP TABLE marker;
`)}}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// newFleet makes a Manager over s with a shared pool of budget connections
// and n tenants "t0".."t<n-1>", each with its name in its marker table.
func newFleet(t *testing.T, s *schemastrategy.Strategy, budget, n int) (*dbstrategy.Manager, []string) {
	t.Helper()
	m, err := dbstrategy.NewManager(s, dbstrategy.WithMigrations(markerMigrations()), dbstrategy.WithMaxConns(budget))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	ctx := testCtx(t)
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("t%d", i)
		if err := m.Create(ctx, ids[i]); err != nil {
			t.Fatal(err)
		}
		l, err := m.Acquire(ctx, ids[i])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.DB().ExecContext(ctx, "INSERT INTO marker (id, name) VALUES (1, $1)", ids[i]); err != nil {
			t.Fatal(err)
		}
		l.Release()
	}
	return m, ids
}

func marker(ctx context.Context, db dbstrategy.DB) (string, error) {
	var name string
	err := db.QueryRowContext(ctx, "SELECT name FROM marker").Scan(&name)
	return name, err
}

// TestIsolationUnderFailures runs many tenants through a pool of 3
// connections from 16 goroutines, each request checking that it reads its
// own tenant's marker, between which requests fail on purpose: a query
// error, a transaction left open, a cancelled context, a panic in the
// handler (recovered here, as an HTTP server does), rows never closed.
// Every response must be its own tenant's; the failures may only fail
// their own request.
func TestIsolationUnderFailures(t *testing.T) {
	for _, roles := range []bool{false, true} {
		t.Run(fmt.Sprintf("roles=%v", roles), func(t *testing.T) {
			s := newStrategy(t, schemastrategy.Config{Roles: roles})
			const budget, tenants, workers, rounds = 3, 40, 16, 50
			m, ids := newFleet(t, s, budget, tenants)
			ctx := testCtx(t)
			var wg sync.WaitGroup
			errs := make(chan error, workers*rounds)
			for w := range workers {
				wg.Go(func() {
					for r := range rounds {
						id := ids[(w*7+r*5)%tenants]
						if err := request(ctx, m, id, (w+r)%6); err != nil {
							errs <- err
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			// Discarded connections are destroyed asynchronously by the
			// pool: wait for the count to settle (bounded by ctx).
			st := s.ConnStats()
			for st.InUse != 0 && ctx.Err() == nil {
				time.Sleep(10 * time.Millisecond)
				st = s.ConnStats()
			}
			if st.Conns > budget || st.InUse != 0 {
				t.Errorf("ConnStats() = %+v; want at most %d connections, none in use", st, budget)
			}
		})
	}
}

// request leases tenant id, checks its marker, does failure kind (0 and 1:
// none), checks the marker again and releases, recovering a panic.
func request(ctx context.Context, m *dbstrategy.Manager, id string, kind int) (err error) {
	l, err := m.Acquire(ctx, id)
	if err != nil {
		return fmt.Errorf("Acquire(%q): %v", id, err)
	}
	defer func() {
		if p := recover(); p != nil && p != "handler panic" {
			err = fmt.Errorf("tenant %q: unexpected panic %v", id, p)
		}
	}()
	defer l.Release()
	db := l.DB()
	check := func(when string) error {
		got, err := marker(ctx, db)
		if err != nil || got != id {
			return fmt.Errorf("tenant %q %s: marker = %q, %v; want %q", id, when, got, err, id)
		}
		return nil
	}
	if err := check("first"); err != nil {
		return err
	}
	switch kind {
	case 2: // a query error, then the lease goes on
		if _, err := db.ExecContext(ctx, "SELECT * FROM no_such_table"); err == nil {
			return fmt.Errorf("tenant %q: query of a missing table succeeded", id)
		}
	case 3: // a transaction left open with an error in it
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		_, _ = tx.ExecContext(ctx, "SELECT 1/0")
		return nil // Release rolls it back
	case 4: // a cancelled context in the middle of a query: pgx closes
		// the connection, so the rest of this lease fails; the next lease
		// gets another connection
		cctx, cancel := context.WithCancel(ctx)
		go func() { time.Sleep(time.Millisecond); cancel() }()
		_, err := db.ExecContext(cctx, "SELECT pg_sleep(0.05)")
		cancel()
		if err != nil {
			got, err := marker(ctx, db)
			if err == nil && got != id {
				return fmt.Errorf("tenant %q after a cancelled query: marker = %q", id, got)
			}
			return nil
		}
	case 5: // rows left open, then a panic in the handler
		if _, err := db.QueryContext(ctx, "SELECT generate_series(1, 1000)"); err != nil {
			return err
		}
		panic("handler panic")
	}
	return check("after the failure")
}

// TestHostileSQL runs, on one tenant's lease, statements a bug could let
// through, on a pool of one connection, so that the next lease, of
// another tenant, gets the same connection: it must see its own rows only
// (the reset on release). With roles, the hostile statements naming
// another schema must also fail on the hostile lease itself.
func TestHostileSQL(t *testing.T) {
	for _, roles := range []bool{false, true} {
		t.Run(fmt.Sprintf("roles=%v", roles), func(t *testing.T) {
			s := newStrategy(t, schemastrategy.Config{Roles: roles})
			m, _ := newFleet(t, s, 2, 3) // t0 hostile, t1 the victim
			ctx := testCtx(t)
			// t2 holds one of the pool's two connections throughout, so
			// that every other lease gets the same one.
			held, err := m.Acquire(ctx, "t2")
			if err != nil {
				t.Fatal(err)
			}
			defer held.Release()
			other, err := s.SchemaName("t1")
			if err != nil {
				t.Fatal(err)
			}
			q := `"` + other + `"`
			hostile := []struct {
				name  string
				stmts []string
				// denied: with roles, reading t1 after these statements is
				// refused on the hostile lease itself.
				denied bool
			}{
				{"search_path", []string{"SET search_path TO " + q}, true},
				{"set_config search_path", []string{"SELECT set_config('search_path', '" + q + "', false)"}, true},
				{"qualified name", nil, true},
				{"RESET ROLE then search_path", []string{"RESET ROLE", "SET search_path TO " + q}, false},
				{"SET ROLE other", []string{"SET ROLE " + q, "SET search_path TO " + q}, false},
				{"temp table shadowing marker", []string{"CREATE TEMP TABLE marker (id INTEGER, name TEXT)", "INSERT INTO pg_temp.marker VALUES (1, 't0-shadow')", "SET search_path TO pg_temp, " + q}, false},
				{"session settings", []string{"SET statement_timeout = 1", "SET default_transaction_read_only = on", "SELECT pg_advisory_lock(42)"}, false},
				// lastval() would tell the next tenant t0's last value.
				{"sequence", []string{"CREATE SEQUENCE IF NOT EXISTS hostile_seq", "SELECT nextval('hostile_seq')"}, false},
				// Drops pgx's cached statements on the server, behind its back.
				{"DEALLOCATE ALL", []string{"DEALLOCATE ALL"}, false},
				{"DISCARD ALL", []string{"DISCARD ALL"}, false},
			}
			for _, h := range hostile {
				t.Run(h.name, func(t *testing.T) {
					l, err := m.Acquire(ctx, "t0")
					if err != nil {
						t.Fatal(err)
					}
					db := l.DB()
					var pid int
					if err := db.QueryRowContext(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
						t.Fatal(err)
					}
					for _, st := range h.stmts {
						if _, err := db.ExecContext(ctx, st); err != nil && !strings.Contains(st, "SET ROLE") {
							t.Logf("%s: %v", st, err)
						}
					}
					var name string
					err = db.QueryRowContext(ctx, "SELECT name FROM "+q+".marker").Scan(&name)
					if roles && h.denied {
						if !isDenied(err) {
							t.Errorf("with roles, t0 reading t1's schema after %q: %q, %v; want permission denied", h.stmts, name, err)
						}
					}
					l.Release()
					// The next leases, of both other tenants, on the
					// connection t0 just used: their own rows, and no
					// leftover of t0's session.
					for _, id := range []string{"t1", "t0"} {
						l2, err := m.Acquire(ctx, id)
						if err != nil {
							t.Fatal(err)
						}
						var pid2 int
						if err := l2.DB().QueryRowContext(ctx, "SELECT pg_backend_pid()").Scan(&pid2); err != nil || pid2 != pid {
							l2.Release() // else the Manager's Close, at cleanup, waits for it
							t.Fatalf("tenant %s got backend %d, %v; want t0's connection, backend %d", id, pid2, err, pid)
						}
						got, err := marker(ctx, l2.DB())
						if err != nil || got != id {
							t.Errorf("after t0 ran %q, tenant %s reads marker %q, %v; want %q", h.stmts, id, got, err, id)
						}
						var readOnly, timeout string
						var locks int
						err = l2.DB().QueryRowContext(ctx, `SELECT current_setting('default_transaction_read_only'), current_setting('statement_timeout'),
	(SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid())`).Scan(&readOnly, &timeout, &locks)
						if err != nil || readOnly != "off" || timeout != "0" || locks != 0 {
							t.Errorf("tenant %s session after t0's: read only %s, statement_timeout %s, %d advisory locks, %v; want off, 0, 0", id, readOnly, timeout, locks, err)
						}
						var last int64
						err = l2.DB().QueryRowContext(ctx, "SELECT lastval()").Scan(&last)
						var pgErr *pgconn.PgError
						if !errors.As(err, &pgErr) || pgErr.Code != "55000" {
							t.Errorf("tenant %s: lastval() after t0's session = %d, %v; want error 55000 (not yet defined in this session)", id, last, err)
						}
						l2.Release()
					}
				})
			}
		})
	}
}

// isDenied reports whether err is PostgreSQL's permission denied, or a
// missing relation (a schema the role may not use is left out of its
// search path).
func isDenied(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "42501" || pgErr.Code == "42P01")
}

// TestStatementCacheAcrossTenants checks that a query that pgx prepared
// and cached on a connection for one tenant, and a Lease.Stmt, read the
// tables of whichever tenant leases that connection later (PostgreSQL
// plans again when search_path changes): the pool has one connection, so
// every lease gets the same one.
func TestStatementCacheAcrossTenants(t *testing.T) {
	s := newStrategy(t, schemastrategy.Config{})
	m, ids := newFleet(t, s, 2, 4)
	ctx := testCtx(t)
	for round := range 3 {
		for _, id := range ids {
			l, err := m.Acquire(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			got, err := marker(ctx, l.DB())
			if err != nil || got != id {
				t.Errorf("round %d, tenant %s: cached query reads %q, %v", round, id, got, err)
			}
			st, err := l.Stmt(ctx, "SELECT name FROM marker WHERE id = $1")
			if err != nil {
				t.Fatal(err)
			}
			if err := st.QueryRowContext(ctx, 1).Scan(&got); err != nil || got != id {
				t.Errorf("round %d, tenant %s: Lease.Stmt reads %q, %v", round, id, got, err)
			}
			l.Release()
		}
	}
}

// TestStmtKeptAcrossLeases checks that a Lease.Stmt costs no more than a
// plain query: its query is prepared once on the connection and kept for
// the tenant's later leases there (it used to be prepared, planned and
// deallocated again on every lease), and PostgreSQL comes to reuse its
// plan. One tenant and sequential leases, so every lease gets the
// connection the previous one left.
func TestStmtKeptAcrossLeases(t *testing.T) {
	s := newStrategy(t, schemastrategy.Config{})
	m, ids := newFleet(t, s, 2, 1)
	ctx := testCtx(t)
	const query = "SELECT name FROM marker WHERE id = $1 /* kept */"
	type prepared struct {
		pid             int
		at              time.Time
		generic, custom int64
	}
	var first prepared
	for i := range 8 {
		l := mustAcquire(t, ctx, m, ids[0])
		var now prepared
		if i > 0 { // what the previous leases left on the connection
			err := l.DB().QueryRowContext(ctx, `SELECT pg_backend_pid(), prepare_time, generic_plans, custom_plans
				FROM pg_prepared_statements WHERE statement = $1`, query).Scan(&now.pid, &now.at, &now.generic, &now.custom)
			if err != nil {
				l.Release()
				t.Fatalf("lease %d: the statement of the earlier leases on this connection: %v", i, err)
			}
			if i == 1 {
				first = now
			} else if now.pid != first.pid || !now.at.Equal(first.at) {
				t.Errorf("lease %d: statement prepared at %v on backend %d; want the one prepared at %v on %d", i, now.at, now.pid, first.at, first.pid)
			}
		}
		st, err := l.Stmt(ctx, query)
		if err != nil {
			l.Release()
			t.Fatal(err)
		}
		var got string
		if err := st.QueryRowContext(ctx, 1).Scan(&got); err != nil || got != ids[0] {
			t.Errorf("lease %d: Lease.Stmt reads %q, %v; want %q", i, got, err, ids[0])
		}
		l.Release()
		if i == 7 && now.generic == 0 {
			t.Errorf("after %d leases: %d custom plans, no generic plan: PostgreSQL plans the statement every time", i, now.custom)
		}
	}
}

// TestStatementTypesAcrossTenants: PostgreSQL keeps the parameter types a
// statement got when it was prepared, so a statement pgx cached for t0,
// whose marker.id is an integer, fails on t1, whose marker.id is text
// ("operator does not exist: text = integer"), when the two share a
// connection. Outside a transaction the call is retried once, prepared
// again under t1's scope, and reads t1's row; inside one it fails with
// ErrStalePlan. Never the other tenant's row, never the raw type error.
func TestStatementTypesAcrossTenants(t *testing.T) {
	m, _, ctx := sharedFleetCtx(t, false) // t0 and t1 share one connection
	l := mustAcquire(t, ctx, m, "t1")
	if _, err := l.DB().ExecContext(ctx, "ALTER TABLE marker ALTER COLUMN id TYPE text"); err != nil {
		t.Fatal(err)
	}
	l.Release()
	const query = "SELECT name FROM marker WHERE id = $1"
	reads := map[string]func(l *dbstrategy.Lease) (string, error){
		"plain": func(l *dbstrategy.Lease) (string, error) {
			var got string
			err := l.DB().QueryRowContext(ctx, query, "1").Scan(&got)
			return got, err
		},
		"Lease.Stmt": func(l *dbstrategy.Lease) (string, error) {
			st, err := l.Stmt(ctx, query)
			if err != nil {
				return "", err
			}
			var got string
			err = st.QueryRowContext(ctx, "1").Scan(&got)
			return got, err
		},
		"transaction": func(l *dbstrategy.Lease) (string, error) {
			tx, err := l.DB().BeginTx(ctx, nil)
			if err != nil {
				return "", err
			}
			defer tx.Rollback()
			var got string
			err = tx.QueryRowContext(ctx, query, "1").Scan(&got)
			return got, err
		},
	}
	for name, read := range reads {
		for i, id := range []string{"t0", "t1", "t0", "t1"} {
			l := mustAcquire(t, ctx, m, id)
			got, err := read(l)
			l.Release()
			switch {
			case err == nil && got == id:
			case err != nil && name == "transaction" && errors.Is(err, schemastrategy.ErrStalePlan):
			default:
				t.Errorf("%s, lease %d of %s: %q, %v; want its own row (or ErrStalePlan in a transaction)", name, i, id, got, err)
			}
		}
	}
}

// TestStatementCacheDuringMigration runs one query text on tenants whose
// tables differ in shape, as while a fleet migration is half done: on one
// pooled connection, pgx's cached statement for the old shape meets the
// new one. Each read must return its own tenant's row, or, at worst (in a
// transaction, where no retry is possible), fail with an error wrapping
// ErrStalePlan; never another tenant's row. A lease of t2 holds the other
// connection of the pool throughout, so that t0 and t1 share one.
func TestStatementCacheDuringMigration(t *testing.T) {
	s := newStrategy(t, schemastrategy.Config{})
	m, ids := newFleet(t, s, 2, 3)
	ctx := testCtx(t)
	held, err := m.Acquire(ctx, ids[2])
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release()
	ids = ids[:2]
	// t1 is "migrated": its marker has another column type and one more column.
	l, err := m.Acquire(ctx, "t1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.DB().ExecContext(ctx, "ALTER TABLE marker ALTER COLUMN id TYPE BIGINT, ADD COLUMN extra TEXT DEFAULT 'x'"); err != nil {
		t.Fatal(err)
	}
	l.Release()
	const q = "SELECT * FROM marker"
	stale := 0
	for round := range 4 {
		for _, id := range ids {
			// Even rounds meet the other shape in a transaction first
			// (no retry: ErrStalePlan), odd rounds outside one (retried).
			for _, inTx := range []bool{round%2 == 0, round%2 != 0} {
				l, err := m.Acquire(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				var name string
				var rerr error
				if inTx {
					tx, err := l.DB().BeginTx(ctx, nil)
					if err != nil {
						t.Fatal(err)
					}
					name, rerr = firstName(ctx, tx.QueryContext, q)
					_ = tx.Rollback()
				} else {
					name, rerr = firstName(ctx, l.DB().QueryContext, q)
				}
				l.Release()
				switch {
				case rerr == nil && name == id:
				case rerr != nil && errors.Is(rerr, schemastrategy.ErrStalePlan) && inTx:
					stale++
				default:
					t.Errorf("round %d, tenant %s, in a transaction %v: %q, %v; want %q (or, in a transaction, ErrStalePlan)", round, id, inTx, name, rerr, id)
				}
			}
		}
	}
	if stale == 0 {
		t.Errorf("no read in a transaction met the other shape: the test did not test it")
	}
}

// firstName runs q with query and returns the name column of its first row.
func firstName(ctx context.Context, query func(context.Context, string, ...any) (*sql.Rows, error), q string) (string, error) {
	rows, err := query(ctx, q)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return "", err
	}
	if !rows.Next() {
		return "", fmt.Errorf("no row: %v", rows.Err())
	}
	vals := make([]any, len(cols))
	for i := range vals {
		vals[i] = new(any)
	}
	if err := rows.Scan(vals...); err != nil {
		return "", err
	}
	for i, c := range cols {
		if c == "name" {
			return fmt.Sprint(*vals[i].(*any)), nil
		}
	}
	return "", fmt.Errorf("no name column in %v", cols)
}

// TestLeaseScopeSkip checks the one case where a connection is handed out
// without a reset: a lease of the tenant whose lease used the connection
// last. On a pool whose every lease gets the same backend, t0 runs hostile
// session SQL (search_path and, with roles, the role of t1; a setting);
// the test shows that it survives into t0's next lease on that backend,
// and into nothing else: t1's lease on the same backend, t0's lease after
// t1's, a non-lease use of t0's handle (as migrations and Version are),
// and a lease after the strategy's own use of the pool (Create) all start
// clean and scoped to their own tenant.
func TestLeaseScopeSkip(t *testing.T) {
	for _, roles := range []bool{false, true} {
		t.Run(fmt.Sprintf("roles=%v", roles), func(t *testing.T) {
			s := newStrategy(t, schemastrategy.Config{Roles: roles})
			m, _ := newFleet(t, s, 2, 3) // t0 hostile, t1 the victim
			ctx := testCtx(t)
			held, err := m.Acquire(ctx, "t2") // every other use gets the other connection
			if err != nil {
				t.Fatal(err)
			}
			defer held.Release()
			victim, err := s.SchemaName("t1")
			if err != nil {
				t.Fatal(err)
			}
			q := `"` + victim + `"`
			pid := 0
			type session struct {
				pid                    int
				marker, user, timeout  string
				searchPath, schemaName string
			}
			read := func(db dbstrategy.DB) session {
				t.Helper()
				var ss session
				err := db.QueryRowContext(ctx, `SELECT pg_backend_pid(), current_user, current_setting('statement_timeout'),
	current_setting('search_path'), current_schema()`).Scan(&ss.pid, &ss.user, &ss.timeout, &ss.searchPath, &ss.schemaName)
				if err != nil {
					t.Fatal(err)
				}
				if pid != 0 && ss.pid != pid {
					t.Fatalf("backend %d, want %d: the test needs every use on one backend", ss.pid, pid)
				}
				if ss.marker, err = marker(ctx, db); err != nil {
					ss.marker = "error: " + err.Error()
				}
				return ss
			}
			// clean checks a session that must be its tenant's own, untouched.
			clean := func(what, id string, ss session) {
				t.Helper()
				schema, _ := s.SchemaName(id)
				user := ss.user
				if roles {
					user = schema
				}
				if ss.marker != id || ss.schemaName != schema || ss.searchPath != `"`+schema+`", pg_temp` || ss.user != user || ss.timeout != "0" {
					t.Errorf("%s: session %+v; want tenant %s's own, scoped and clean", what, ss, id)
				}
			}
			hostile := func() {
				t.Helper()
				l, err := m.Acquire(ctx, "t0")
				if err != nil {
					t.Fatal(err)
				}
				defer l.Release()
				if pid == 0 {
					pid = read(l.DB()).pid
				}
				stmts := []string{"SET statement_timeout = 123456", "SET search_path TO " + q}
				if roles {
					stmts = append([]string{"SET ROLE " + q}, stmts...)
				}
				for _, st := range stmts {
					if _, err := l.DB().ExecContext(ctx, st); err != nil {
						t.Fatalf("%s: %v", st, err)
					}
				}
			}
			lease := func(id string) session {
				t.Helper()
				l, err := m.Acquire(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				defer l.Release()
				return read(l.DB())
			}

			// t0's own next lease: the skip; t0's hostile state is still there.
			hostile()
			if ss := lease("t0"); ss.timeout != "123456ms" || ss.schemaName != victim {
				t.Errorf("t0's next lease: session %+v; want t0's previous lease's state (no reset between t0's leases)", ss)
			}
			// Another tenant on that backend, then t0 again: both clean.
			clean("t1 after t0's hostile leases", "t1", lease("t1"))
			clean("t0 after t1", "t0", lease("t0"))

			// A non-lease use of t0's handle (migrations, Version): clean.
			hostile()
			db, err := s.Open(ctx, "t0")
			if err != nil {
				t.Fatal(err)
			}
			clean("t0's handle after t0's hostile lease", "t0", read(db))
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			clean("t0's lease after its handle's use", "t0", lease("t0"))

			// The strategy's own use of the pool: resets; t0's next lease is clean.
			hostile()
			if err := s.Create(ctx, "t9"); err != nil {
				t.Fatal(err)
			}
			clean("t0's lease after Create", "t0", lease("t0"))
		})
	}
}

// TestRecreateInProcess drops a tenant and creates it again in one
// process, while connections of the pool that the first life's leases
// left scoped sit idle, so that the second life's leases get them: with
// Roles, the session must take the new role, not keep the dropped one's
// (which may not use the new schema), and without them the new schema.
func TestRecreateInProcess(t *testing.T) {
	for _, roles := range []bool{false, true} {
		t.Run(fmt.Sprintf("roles=%v", roles), func(t *testing.T) {
			s := newStrategy(t, schemastrategy.Config{Roles: roles})
			const conns = 4
			m, _ := newFleet(t, s, conns, 1)
			ctx := testCtx(t)
			// leases takes every connection of the pool for t0 at once, and
			// checks what each sees.
			leases := func(life int) {
				t.Helper()
				var ls []*dbstrategy.Lease
				defer func() {
					for _, l := range ls {
						l.Release()
					}
				}()
				for range conns {
					l, err := m.Acquire(ctx, "t0")
					if err != nil {
						t.Fatalf("life %d: Acquire: %v", life, err)
					}
					ls = append(ls, l)
					got, err := marker(ctx, l.DB())
					if want := fmt.Sprint("life ", life); err != nil || (life > 0 && got != want) {
						t.Fatalf("life %d: lease %d reads marker %q, %v; want %q", life, len(ls), got, err, want)
					}
				}
			}
			leases(0)
			for life := 1; life < 3; life++ {
				if err := m.Drop(ctx, "t0"); err != nil {
					t.Fatalf("life %d: Drop: %v", life, err)
				}
				if err := m.Create(ctx, "t0"); err != nil {
					t.Fatalf("life %d: Create: %v", life, err)
				}
				if err := m.Do(ctx, "t0", func(ctx context.Context, db dbstrategy.DB) error {
					_, err := db.ExecContext(ctx, "INSERT INTO marker (id, name) VALUES (1, $1)", fmt.Sprint("life ", life))
					return err
				}); err != nil {
					t.Fatalf("life %d: write: %v", life, err)
				}
				leases(life)
			}
		})
	}
}

// TestCancelledCallKeepsLease: a call made with a context already ended
// fails with the context's error, and the lease's connection stays usable
// (pgx would report such a call as driver.ErrBadConn, on which
// database/sql closes the lease's connection).
func TestCancelledCallKeepsLease(t *testing.T) {
	s := newStrategy(t, schemastrategy.Config{})
	m, ids := newFleet(t, s, 2, 1)
	ctx := testCtx(t)
	l := mustAcquire(t, ctx, m, ids[0])
	defer l.Release()
	done, cancel := context.WithCancel(ctx)
	cancel()
	const query = "SELECT name FROM marker WHERE id = $1 /* cancelled */" // not yet run on the connection
	var got string
	if err := l.DB().QueryRowContext(done, query, 1).Scan(&got); !errors.Is(err, context.Canceled) {
		t.Errorf("query with an ended context: %v; want context.Canceled", err)
	}
	if _, err := l.DB().ExecContext(done, "UPDATE marker SET name = name WHERE id = $1", 1); !errors.Is(err, context.Canceled) {
		t.Errorf("exec with an ended context: %v; want context.Canceled", err)
	}
	if _, err := l.DB().BeginTx(done, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("transaction with an ended context: %v; want context.Canceled", err)
	}
	if err := l.DB().QueryRowContext(ctx, query, 1).Scan(&got); err != nil || got != ids[0] {
		t.Errorf("the lease after the cancelled calls: %q, %v; want %q", got, err, ids[0])
	}
}
