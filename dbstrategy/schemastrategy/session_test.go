package schemastrategy_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/tenantkit/tenantkit/dbstrategy"
	"github.com/tenantkit/tenantkit/dbstrategy/schemastrategy"
	"github.com/tenantkit/tenantkit/internal/testenv"
)

// sharedFleetCtx: t0 hostile, t1 the victim, t2 holds the pool's other
// connection, so that t0 and t1 share one backend.
func sharedFleetCtx(t *testing.T, roles bool) (*dbstrategy.Manager, *schemastrategy.Strategy, context.Context) {
	t.Helper()
	m, s, ctx, _ := sharedFleet(t, roles)
	return m, s, ctx
}

func sharedFleet(t *testing.T, roles bool) (*dbstrategy.Manager, *schemastrategy.Strategy, context.Context, string) {
	t.Helper()
	dsn := newDatabase(t)
	s := newStrategy(t, schemastrategy.Config{DSN: dsn, Roles: roles})
	m, _ := newFleet(t, s, 2, 3)
	ctx := testCtx(t)
	held := mustAcquire(t, ctx, m, "t2")
	t.Cleanup(held.Release)
	return m, s, ctx, dsn
}

func backendPID(t *testing.T, ctx context.Context, db dbstrategy.DB) int {
	t.Helper()
	var pid int
	if err := db.QueryRowContext(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatal(err)
	}
	return pid
}

// TestHostileParameterTypes: PostgreSQL plans a cached statement again
// for a new search_path but keeps the parameter types it resolved when it
// was prepared. A hostile tenant makes the parameter of the victim's
// UPDATE a domain of its own, whose CHECK calls the hostile's function,
// and has pgx prepare the statement again under its own scope (DEALLOCATE
// of pgx's statement alone does it: no PREPARE, nothing from_sql). The
// victim's later UPDATE on that session must not run the hostile's code
// (statementsCheck drops such statements at the switch).
func TestHostileParameterTypes(t *testing.T) {
	const query = "UPDATE marker SET name = $1 WHERE id = 1"
	digest := sha256.Sum256([]byte(query))
	stmt := "stmtcache_" + hex.EncodeToString(digest[0:24])
	for _, roles := range []bool{false, true} {
		t.Run(fmt.Sprintf("roles=%v", roles), func(t *testing.T) {
			m, s, ctx := sharedFleetCtx(t, roles)
			hostile, _ := s.SchemaName("t0")
			h := pgx.Identifier{hostile}.Sanitize()
			// The victim has run the query on the connection: pgx caches it.
			l := mustAcquire(t, ctx, m, "t1")
			pid := backendPID(t, ctx, l.DB())
			if _, err := l.DB().ExecContext(ctx, query, "t1"); err != nil {
				t.Fatal(err)
			}
			l.Release()

			l = mustAcquire(t, ctx, m, "t0")
			if got := backendPID(t, ctx, l.DB()); got != pid {
				l.Release()
				t.Fatalf("t0 on backend %d, want %d", got, pid)
			}
			for _, st := range []string{
				"CREATE TABLE loot (arg text, who text, victim_row text)",
				// SECURITY DEFINER: runs as t0, writes t0's table.
				"CREATE FUNCTION sink(a text, w text, r text) RETURNS boolean LANGUAGE sql SECURITY DEFINER AS $$ INSERT INTO " + h + ".loot VALUES (a, w, r); SELECT true $$",
				// SECURITY INVOKER, body parsed when run: the caller's marker.
				"CREATE FUNCTION peek() RETURNS text LANGUAGE sql AS $$ SELECT name::text FROM marker WHERE id = 1 $$",
				"CREATE DOMAIN evil AS text CHECK (" + h + ".sink(VALUE::text, current_user::text, " + h + ".peek()))",
				"ALTER TABLE marker ALTER COLUMN name TYPE evil",
				"DELETE FROM loot",
				// Drop pgx's statement (no PREPARE: nothing from_sql).
				"DEALLOCATE " + stmt,
			} {
				if _, err := l.DB().ExecContext(ctx, st); err != nil {
					l.Release()
					t.Fatalf("%s: %v", st, err)
				}
			}
			// The app's query on t0: 26000, retried, prepared again
			// under t0's search_path: $1 is now of type evil.
			if _, err := l.DB().ExecContext(ctx, query, "t0"); err != nil {
				l.Release()
				t.Fatal(err)
			}
			if _, err := l.DB().ExecContext(ctx, "DELETE FROM loot"); err != nil {
				l.Release()
				t.Fatal(err)
			}
			l.Release()

			l = mustAcquire(t, ctx, m, "t1")
			if got := backendPID(t, ctx, l.DB()); got != pid {
				l.Release()
				t.Fatalf("t1 on backend %d, want %d", got, pid)
			}
			_, err := l.DB().ExecContext(ctx, query, "t1-secret")
			l.Release()
			if err != nil {
				t.Logf("victim's update: %v", err)
			}

			l = mustAcquire(t, ctx, m, "t0")
			defer l.Release()
			var arg, who, row string
			err = l.DB().QueryRowContext(ctx, "SELECT arg, who, coalesce(victim_row, '') FROM loot").Scan(&arg, &who, &row)
			if err == nil {
				t.Errorf("t0's code ran in t1's later lease: got t1's argument %q, as %q, and read t1's row %q", arg, who, row)
			}
		})
	}
}

// hostileSwitch runs hostile on a lease of t0, then victim on a lease of
// t1 on the same backend.
func hostileSwitch(t *testing.T, m *dbstrategy.Manager, ctx context.Context, hostile []string, victim func(l *dbstrategy.Lease)) {
	t.Helper()
	l := mustAcquire(t, ctx, m, "t0")
	pid := backendPID(t, ctx, l.DB())
	for _, st := range hostile {
		if _, err := l.DB().ExecContext(ctx, st); err != nil {
			t.Logf("hostile %s: %v", st, err)
		}
	}
	l.Release()
	l = mustAcquire(t, ctx, m, "t1")
	defer l.Release()
	if got := backendPID(t, ctx, l.DB()); got != pid {
		t.Fatalf("t1 on backend %d, want t0's %d", got, pid)
	}
	victim(l)
}

// TestHostileRandomSeed: setseed() survives RESET ALL (and DISCARD ALL),
// so a hostile lease could make the next tenant's random() a sequence it
// knows; the scope seeds random() afresh from crypto/rand.
func TestHostileRandomSeed(t *testing.T) {
	m, _, ctx := sharedFleetCtx(t, true)
	admin, err := pgx.Connect(ctx, testenv.PostgresDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	var want float64
	if _, err := admin.Exec(ctx, "SELECT setseed(0.42)"); err != nil {
		t.Fatal(err)
	}
	if err := admin.QueryRow(ctx, "SELECT random()").Scan(&want); err != nil {
		t.Fatal(err)
	}
	hostileSwitch(t, m, ctx, []string{"SELECT setseed(0.42)"}, func(l *dbstrategy.Lease) {
		var got float64
		if err := l.DB().QueryRowContext(ctx, "SELECT random()").Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got == want {
			t.Errorf("t1's first random() = %v: the value after t0's setseed(0.42)", got)
		}
	})
}

// TestNotificationsStayWithTheirTenant: a notification the server sent
// to a lease's LISTEN after the lease ended, read off the socket with the
// next taker's reset or already in pgx's client-side buffer, must not
// reach the next tenant's code that waits for one on its lease (through
// Unwrap).
func TestNotificationsStayWithTheirTenant(t *testing.T) {
	_, s, ctx, dsn := sharedFleet(t, true)
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	pin := func(id string) (*sql.DB, *sql.Conn) {
		db, err := s.Open(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		c, err := s.PinConn(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		return db, c
	}
	db1, c1 := pin("t1")
	var pid int
	if err := c1.QueryRowContext(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatal(err)
	}
	if _, err := c1.ExecContext(ctx, "LISTEN t1_events"); err != nil {
		t.Fatal(err)
	}
	c1.Close()
	db1.Close()
	if _, err := admin.Exec(ctx, "NOTIFY t1_events, 't1 secret payload'"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // the idle backend sends it at once
	db0, c0 := pin("t0")
	defer db0.Close()
	defer c0.Close()
	var pid0 int
	if err := c0.QueryRowContext(ctx, "SELECT pg_backend_pid()").Scan(&pid0); err != nil || pid0 != pid {
		t.Fatalf("t0 on backend %d, %v; want t1's %d", pid0, err, pid)
	}
	// t0's own code: LISTEN its channel, then wait for its notification.
	if _, err := c0.ExecContext(ctx, "LISTEN t0_events"); err != nil {
		t.Fatal(err)
	}
	err = c0.Raw(func(dc any) error {
		pc := dc.(interface{ Unwrap() driver.Conn }).Unwrap().(*stdlib.Conn).Conn()
		wctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		n, err := pc.WaitForNotification(wctx)
		if err == nil {
			t.Errorf("t0's lease got a notification of channel %q, payload %q, sent to t1's LISTEN", n.Channel, n.Payload)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestHostileCancelledReset: a hostile tenant presets search_path and
// the role to the victim's, then makes the pipelined reset fail (its
// temporary table locked from another session, so DISCARD TEMP waits;
// then pg_cancel_backend on the waiting backend, as the DSN's role, which
// any lease reaches with RESET ROLE). The failed reset's implicit
// transaction rolls back RESET ALL and DISCARD TEMP; the guard must still
// refuse the victim's query, since it checks the token only a whole scope
// sets, and the victim must never run on the hostile's session.
func TestHostileCancelledReset(t *testing.T) {
	for _, roles := range []bool{false, true} {
		t.Run(fmt.Sprintf("roles=%v", roles), func(t *testing.T) {
			m, s, ctx, dsn := sharedFleet(t, roles)
			victim, _ := s.SchemaName("t1")
			l := mustAcquire(t, ctx, m, "t0")
			pid := backendPID(t, ctx, l.DB())
			var tempSchema string
			stmts := []string{
				"CREATE TEMP TABLE trap (a int)",
				"RESET ROLE",
				"SET session_replication_role = replica", // triggers and FK checks off
				"SET statement_timeout = 1234567",
				"SELECT set_config('search_path', '" + pgx.Identifier{victim}.Sanitize() + ", pg_temp', false)",
			}
			if roles {
				stmts = append(stmts, "SET ROLE "+pgx.Identifier{victim}.Sanitize())
			}
			for _, st := range stmts {
				if _, err := l.DB().ExecContext(ctx, st); err != nil {
					l.Release()
					t.Fatalf("%s: %v", st, err)
				}
			}
			if err := l.DB().QueryRowContext(ctx, "SELECT pg_my_temp_schema()::regnamespace::text").Scan(&tempSchema); err != nil {
				l.Release()
				t.Fatal(err)
			}
			l.Release()

			locker, err := pgx.Connect(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer locker.Close(context.Background())
			canceller, err := pgx.Connect(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer canceller.Close(context.Background())
			if _, err := locker.Exec(ctx, "BEGIN; LOCK TABLE "+tempSchema+".trap IN ACCESS SHARE MODE"); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() {
				for ctx.Err() == nil {
					var waiting bool
					if err := canceller.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_locks WHERE pid = $1 AND NOT granted)", pid).Scan(&waiting); err != nil {
						done <- err
						return
					}
					if waiting {
						_, err := canceller.Exec(ctx, "SELECT pg_cancel_backend($1)", pid)
						done <- err
						return
					}
					time.Sleep(5 * time.Millisecond)
				}
				done <- ctx.Err()
			}()

			l = mustAcquire(t, ctx, m, "t1")
			defer l.Release()
			var srr, user, timeout string
			var temps int
			// The first call, with an argument: pipelined.
			err = l.DB().QueryRowContext(ctx, `SELECT current_setting('session_replication_role'), current_user::text, current_setting('statement_timeout'),
	(SELECT count(*) FROM pg_class WHERE relnamespace = pg_my_temp_schema()) WHERE $1::int = 1`, 1).Scan(&srr, &user, &timeout, &temps)
			if cerr := <-done; cerr != nil {
				t.Fatal(cerr)
			}
			if _, err := locker.Exec(ctx, "COMMIT"); err != nil {
				t.Fatal(err)
			}
			if err != nil {
				t.Logf("victim's first query failed (safe): %v", err)
				return
			}
			if srr != "origin" || timeout != "0" || temps != 0 {
				t.Errorf("t1's first query after t0's session and a cancelled reset ran as %s with session_replication_role %s, statement_timeout %s, %d of t0's temporary tables; want origin, 0, 0",
					user, srr, timeout, temps)
			}
		})
	}
}

// TestDropWithLargeObject: with roles, a large object a tenant's lease
// made is owned by the tenant's role, outside its schema; Drop must drop
// it with the role rather than fail, so that no tenant can make itself
// impossible to drop.
func TestDropWithLargeObject(t *testing.T) {
	s := newStrategy(t, schemastrategy.Config{Roles: true})
	m, _ := newFleet(t, s, 2, 1)
	ctx := testCtx(t)
	l := mustAcquire(t, ctx, m, "t0")
	var oid uint32
	err := l.DB().QueryRowContext(ctx, "SELECT lo_create(0)").Scan(&oid)
	l.Release()
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Drop(ctx, "t0"); err != nil {
		t.Fatalf("Drop of a tenant whose role owns a large object: %v", err)
	}
}
