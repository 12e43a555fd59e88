package schemastrategy_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tenantkit/tenantkit/dbstrategy"
	"github.com/tenantkit/tenantkit/dbstrategy/schemastrategy"
)

// pipelineFleet makes tenants t0, t1 and t2 (see newFleet) on a strategy
// whose leases take the connection given back last, so that every lease
// of another tenant than the last one's switches the connection, and
// returns the Manager, the strategy and an admin connection to its
// database.
func pipelineFleet(t *testing.T, roles bool) (*dbstrategy.Manager, *schemastrategy.Strategy, *pgx.Conn) {
	t.Helper()
	dsn := newDatabase(t)
	s := newStrategy(t, schemastrategy.Config{DSN: dsn, Roles: roles})
	m, _ := newFleet(t, s, 2, 3)
	if err := s.NoAffinity(); err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close(context.Background()) })
	return m, s, admin
}

// TestPipelinedScope checks that a lease that switches a connection to its
// tenant gets its tenant's rows whatever its first call, and that the
// scope of a first query with arguments goes in that query's round trip.
func TestPipelinedScope(t *testing.T) {
	first := map[string]func(ctx context.Context, db dbstrategy.DB) error{
		"query with an argument": func(ctx context.Context, db dbstrategy.DB) error {
			var n int
			return db.QueryRowContext(ctx, "SELECT count(*) FROM marker WHERE id = $1", 1).Scan(&n)
		},
		"query without arguments": func(ctx context.Context, db dbstrategy.DB) error {
			var n int
			return db.QueryRowContext(ctx, "SELECT count(*) FROM marker").Scan(&n)
		},
		"exec without arguments": func(ctx context.Context, db dbstrategy.DB) error {
			_, err := db.ExecContext(ctx, "UPDATE marker SET name = name")
			return err
		},
		"exec with pgx options only": func(ctx context.Context, db dbstrategy.DB) error {
			_, err := db.ExecContext(ctx, "UPDATE marker SET name = name", pgx.QueryExecModeExec)
			return err
		},
		"exec with an argument": func(ctx context.Context, db dbstrategy.DB) error {
			_, err := db.ExecContext(ctx, "UPDATE marker SET name = name WHERE id = $1", 1)
			return err
		},
		"prepare": func(ctx context.Context, db dbstrategy.DB) error {
			st, err := db.PrepareContext(ctx, "SELECT name FROM marker WHERE id = $1")
			if err != nil {
				return err
			}
			return st.Close()
		},
		"transaction": func(ctx context.Context, db dbstrategy.DB) error {
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			return tx.Rollback()
		},
	}
	for _, roles := range []bool{false, true} {
		t.Run(fmt.Sprintf("roles=%v", roles), func(t *testing.T) {
			m, s, _ := pipelineFleet(t, roles)
			ctx := testCtx(t)
			before := s.ConnStats().Pipelined
			for name, call := range first {
				for _, id := range []string{"t0", "t1", "t2", "t1"} {
					l := mustAcquire(t, ctx, m, id)
					if err := call(ctx, l.DB()); err != nil {
						t.Errorf("%s, tenant %s: %v", name, id, err)
					}
					if got, err := marker(ctx, l.DB()); err != nil || got != id {
						t.Errorf("%s, tenant %s: marker = %q, %v; want %q", name, id, got, err, id)
					}
					l.Release()
				}
			}
			if got := s.ConnStats().Pipelined - before; got == 0 {
				t.Errorf("ConnStats().Pipelined grew by %d: no scope went with a lease's first query", got)
			}
		})
	}
}

// TestPipelinedScopeFailure checks that a lease whose scope fails, while
// its connection was last scoped to another tenant, gets an error and
// never that tenant's rows, whatever its first call: when the tenant's
// schema is gone (the scope sets nothing), and when its role is (the
// scope fails and its transaction, the reset included, rolls back, so the
// session is the previous tenant's again).
func TestPipelinedScopeFailure(t *testing.T) {
	for _, tc := range []struct {
		name    string
		roles   bool
		breakIt func(ctx context.Context, admin *pgx.Conn, name string) error
		want    error // if not nil, the error the first call wraps
	}{
		{"schema dropped", false, func(ctx context.Context, admin *pgx.Conn, name string) error {
			_, err := admin.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{name}.Sanitize()+" CASCADE")
			return err
		}, dbstrategy.ErrNotFound},
		{"role renamed", true, func(ctx context.Context, admin *pgx.Conn, name string) error {
			_, err := admin.Exec(ctx, "ALTER ROLE "+pgx.Identifier{name}.Sanitize()+" RENAME TO "+pgx.Identifier{name + "_gone"}.Sanitize())
			return err
		}, nil},
	} {
		for _, firstCall := range []string{"query", "exec"} {
			t.Run(tc.name+"/"+firstCall, func(t *testing.T) {
				m, s, admin := pipelineFleet(t, tc.roles)
				ctx := testCtx(t)
				name, err := s.SchemaName("t1")
				if err != nil {
					t.Fatal(err)
				}
				if err := tc.breakIt(ctx, admin, name); err != nil {
					t.Fatal(err)
				}
				if tc.roles { // for DropAll, which would take the renamed role for a tenant's
					t.Cleanup(func() {
						if _, err := admin.Exec(context.Background(), "ALTER ROLE "+pgx.Identifier{name + "_gone"}.Sanitize()+" RENAME TO "+pgx.Identifier{name}.Sanitize()); err != nil {
							t.Error(err)
						}
					})
				}
				// t0's lease leaves the connection scoped to t0.
				l := mustAcquire(t, ctx, m, "t0")
				if got, err := marker(ctx, l.DB()); err != nil || got != "t0" {
					t.Fatalf("t0: marker = %q, %v", got, err)
				}
				l.Release()

				l = mustAcquire(t, ctx, m, "t1")
				switch firstCall {
				case "query":
					var got string
					err = l.DB().QueryRowContext(ctx, "SELECT name FROM marker WHERE id = $1", 1).Scan(&got)
					if err == nil {
						t.Errorf("t1's first query read %q; want an error", got)
					}
				case "exec":
					_, err = l.DB().ExecContext(ctx, "UPDATE marker SET name = 'overwritten'")
					if err == nil {
						t.Error("t1's first exec succeeded; want an error")
					}
				}
				if tc.want != nil && !errors.Is(err, tc.want) {
					t.Errorf("t1's first call: %v; want an error wrapping %v", err, tc.want)
				}
				// Later calls of the same lease send the scope again.
				for range 2 {
					if got, err := marker(ctx, l.DB()); err == nil {
						t.Errorf("t1's later query read %q; want an error", got)
					}
				}
				l.Release()

				// t0 is untouched, and the connection serves it.
				l = mustAcquire(t, ctx, m, "t0")
				defer l.Release()
				if got, err := marker(ctx, l.DB()); err != nil || got != "t0" {
					t.Errorf("t0 after t1's failure: marker = %q, %v; want t0", got, err)
				}
			})
		}
	}
}

// TestPipelinedScopeAfterLeaseError checks that the scope sent with a
// lease's first query holds when that query fails: the scope is committed
// before the query runs, so the failed query's rollback leaves it, and the
// rest of the lease reads its own tenant.
func TestPipelinedScopeAfterLeaseError(t *testing.T) {
	m, s, _ := pipelineFleet(t, true)
	ctx := testCtx(t)
	before := s.ConnStats().Pipelined
	for _, id := range []string{"t0", "t1", "t2"} {
		l := mustAcquire(t, ctx, m, id)
		var x int
		if err := l.DB().QueryRowContext(ctx, "SELECT id FROM no_such_table WHERE id = $1", 1).Scan(&x); err == nil {
			t.Errorf("%s: a query of a missing table succeeded", id)
		}
		if got, err := marker(ctx, l.DB()); err != nil || got != id {
			t.Errorf("%s after a failed first query: marker = %q, %v", id, got, err)
		}
		l.Release()
	}
	if s.ConnStats().Pipelined == before {
		t.Error("no scope went with a lease's first query")
	}
}

// TestPipelinedScopeBrokenConn checks that a lease whose connection died
// while idle (its backend terminated) gets the server's error from the
// first query, which carried its scope: 57P01, which the reference server
// answers with 503. The next lease gets a working connection.
func TestPipelinedScopeBrokenConn(t *testing.T) {
	m, _, admin := pipelineFleet(t, false)
	ctx := testCtx(t)
	l := mustAcquire(t, ctx, m, "t0")
	var pid int
	if err := l.DB().QueryRowContext(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatal(err)
	}
	l.Release()
	if _, err := admin.Exec(ctx, "SELECT pg_terminate_backend($1, 5000)", pid); err != nil {
		t.Fatal(err)
	}

	l = mustAcquire(t, ctx, m, "t1") // the connection given back last: t0's, now dead
	var pgErr *pgconn.PgError
	if got, err := marker(ctx, l.DB()); !errors.As(err, &pgErr) || pgErr.Code != "57P01" {
		t.Errorf("first query on a dead connection: %q, %v; want the server's 57P01", got, err)
	}
	l.Release()

	l = mustAcquire(t, ctx, m, "t1")
	defer l.Release()
	if got, err := marker(ctx, l.DB()); err != nil || got != "t1" {
		t.Errorf("t1 after the dead connection: marker = %q, %v", got, err)
	}
}

// TestPipelinedScopeUnsentThenIdle checks that a connection whose lease
// left its scope unsent, then idled past the ping, is reset before the
// strategy's own work: Create, which fails under a tenant's role, works.
func TestPipelinedScopeUnsentThenIdle(t *testing.T) {
	m, _, _ := pipelineFleet(t, true)
	ctx := testCtx(t)
	l := mustAcquire(t, ctx, m, "t0")
	if got, err := marker(ctx, l.DB()); err != nil || got != "t0" {
		t.Fatalf("t0: marker = %q, %v", got, err)
	}
	l.Release()
	l = mustAcquire(t, ctx, m, "t1")    // arms t1's scope on t0's connection
	l.Release()                         // and sends nothing
	time.Sleep(1200 * time.Millisecond) // past the lot's ping
	if err := m.Create(ctx, "t9"); err != nil {
		t.Errorf("Create after an unsent scope and an idle connection: %v", err)
	}
	l = mustAcquire(t, ctx, m, "t9")
	defer l.Release()
	if got, err := marker(ctx, l.DB()); err != sql.ErrNoRows {
		t.Errorf("t9: marker = %q, %v; want no row", got, err)
	}
}

// mustAcquire returns a lease of tenant id, or ends the test.
func mustAcquire(t *testing.T, ctx context.Context, m *dbstrategy.Manager, id string) *dbstrategy.Lease {
	t.Helper()
	l, err := m.Acquire(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return l
}
