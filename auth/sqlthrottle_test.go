package auth_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "github.com/ncruces/go-sqlite3/driver"

	"github.com/tenantkit/tenantkit/auth"
	"github.com/tenantkit/tenantkit/internal/testenv"
)

// throttleDB is one database for SQLThrottle tests, and a second handle
// to it, as another process would hold.
type throttleDB struct {
	dialect string
	open    func(t *testing.T) *sql.DB // another handle to the same database
}

// throttleDBs returns a fresh SQLite file and, when the test server is
// set, a fresh PostgreSQL database.
func throttleDBs(t *testing.T) map[string]throttleDB {
	t.Helper()
	path := filepath.Join(t.TempDir(), "core.db")
	dbs := map[string]throttleDB{
		"sqlite": {dialect: "sqlite3", open: func(t *testing.T) *sql.DB {
			db, err := sql.Open("sqlite3", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(wal)&_txlock=immediate")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return db
		}},
	}
	dsn := testenv.PostgresDSN(t)
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("tk_auth_throttle_%d", rand.Uint64())
	if _, err := admin.Exec(`CREATE DATABASE ` + name); err != nil {
		admin.Close()
		t.Fatalf("create database: %v", err)
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	var handles []*sql.DB
	var mu sync.Mutex
	t.Cleanup(func() {
		mu.Lock()
		for _, h := range handles {
			h.Close()
		}
		mu.Unlock()
		if _, err := admin.Exec(`DROP DATABASE IF EXISTS ` + name + ` WITH (FORCE)`); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
		admin.Close()
	})
	dbs["postgres"] = throttleDB{dialect: "postgres", open: func(t *testing.T) *sql.DB {
		db, err := sql.Open("pgx", u.String())
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		handles = append(handles, db)
		mu.Unlock()
		return db
	}}
	return dbs
}

// TestSQLThrottleMatchesThrottle runs one random sequence of calls on an
// in-memory Throttle and on an SQLThrottle with the same clock, and wants
// the same answer from both at every step.
func TestSQLThrottleMatchesThrottle(t *testing.T) {
	ctx := context.Background()
	for name, tdb := range throttleDBs(t) {
		t.Run(name, func(t *testing.T) {
			clock := &fakeClock{}
			opts := []auth.ThrottleOption{auth.WithBurst(3), auth.WithRefill(time.Second), auth.WithNow(clock.now)}
			mem, err := auth.NewThrottle(opts...)
			if err != nil {
				t.Fatal(err)
			}
			shared, err := auth.NewSQLThrottle(ctx, tdb.open(t), tdb.dialect, "logins", opts...)
			if err != nil {
				t.Fatal(err)
			}
			keys := []string{"alice", "bob", "carol"}
			r := rand.New(rand.NewPCG(1, 2))
			for step := range 600 {
				key := keys[r.IntN(len(keys))]
				op := r.IntN(6)
				switch op {
				case 0, 1:
					ok1, wait1 := mem.Allow(key)
					ok2, wait2, err := shared.Allow(ctx, key)
					if err != nil {
						t.Fatalf("step %d: Allow(%s): %v", step, key, err)
					}
					if ok1 != ok2 || wait1 != wait2 {
						t.Fatalf("step %d: Allow(%s) = %v, %v; memory throttle says %v, %v", step, key, ok2, wait2, ok1, wait1)
					}
				case 2:
					mem.Fail(key)
					if err := shared.Fail(ctx, key); err != nil {
						t.Fatalf("step %d: Fail(%s): %v", step, key, err)
					}
				case 3:
					mem.Succeed(key)
					if err := shared.Succeed(ctx, key); err != nil {
						t.Fatalf("step %d: Succeed(%s): %v", step, key, err)
					}
				case 4:
					if r.IntN(8) == 0 {
						mem.Reset(key)
						if err := shared.Reset(ctx, key); err != nil {
							t.Fatalf("step %d: Reset(%s): %v", step, key, err)
						}
					}
				case 5:
					clock.advance(time.Duration(r.IntN(900)) * time.Millisecond)
				}
				for _, k := range keys {
					got, err := shared.Failures(ctx, k)
					if err != nil {
						t.Fatalf("step %d: Failures(%s): %v", step, k, err)
					}
					if want := mem.Failures(k); got != want {
						t.Fatalf("step %d (op %d on %s): Failures(%s) = %d; memory throttle says %d", step, op, key, k, got, want)
					}
				}
			}
		})
	}
}

// TestSQLThrottleAcrossProcesses has two handles to one database (two
// replicas) try one key at once: together they let through one burst, not
// one each.
func TestSQLThrottleAcrossProcesses(t *testing.T) {
	ctx := context.Background()
	const burst = 5
	for name, tdb := range throttleDBs(t) {
		t.Run(name, func(t *testing.T) {
			var replicas []*auth.SQLThrottle
			for range 2 {
				th, err := auth.NewSQLThrottle(ctx, tdb.open(t), tdb.dialect, "logins", auth.WithBurst(burst), auth.WithRefill(time.Hour))
				if err != nil {
					t.Fatal(err)
				}
				replicas = append(replicas, th)
			}
			var passed atomic.Int64
			var wg sync.WaitGroup
			for i := range 40 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					th := replicas[i%2]
					ok, wait, err := th.Allow(ctx, "victim@example.com")
					if err != nil {
						t.Errorf("Allow: %v", err)
						return
					}
					if !ok {
						if wait <= 0 {
							t.Errorf("refused with Retry-After %v; want more than 0", wait)
						}
						return
					}
					passed.Add(1)
					if err := th.Fail(ctx, "victim@example.com"); err != nil {
						t.Errorf("Fail: %v", err)
					}
				}()
			}
			wg.Wait()
			if got := passed.Load(); got != burst {
				t.Errorf("attempts let through by two replicas = %d; want one burst, %d", got, burst)
			}
			if n, err := replicas[1].Failures(ctx, "victim@example.com"); err != nil || n != burst {
				t.Errorf("Failures = %d, %v; want %d", n, err, burst)
			}
			// Another name on the same table is another throttle.
			other, err := auth.NewSQLThrottle(ctx, tdb.open(t), tdb.dialect, "registrations", auth.WithBurst(burst))
			if err != nil {
				t.Fatal(err)
			}
			if ok, _, err := other.Allow(ctx, "victim@example.com"); err != nil || !ok {
				t.Errorf("another throttle's Allow = %v, %v; want its own bucket", ok, err)
			}
		})
	}
}

// TestSQLThrottlePurge deletes refilled keys only.
func TestSQLThrottlePurge(t *testing.T) {
	ctx := context.Background()
	for name, tdb := range throttleDBs(t) {
		t.Run(name, func(t *testing.T) {
			clock := &fakeClock{}
			th, err := auth.NewSQLThrottle(ctx, tdb.open(t), tdb.dialect, "logins",
				auth.WithBurst(2), auth.WithRefill(time.Minute), auth.WithNow(clock.now))
			if err != nil {
				t.Fatal(err)
			}
			if err := th.Fail(ctx, "old"); err != nil { // full again at 60s
				t.Fatal(err)
			}
			clock.advance(50 * time.Second)
			if err := th.Fail(ctx, "new"); err != nil { // full again at 110s
				t.Fatal(err)
			}
			clock.advance(20 * time.Second) // at 70s: "old" refilled, "new" not yet
			n, err := th.Purge(ctx)
			if err != nil || n != 1 {
				t.Fatalf("Purge = %d, %v; want 1 (the refilled key)", n, err)
			}
			if f, err := th.Failures(ctx, "new"); err != nil || f != 1 {
				t.Errorf("Failures(new) after Purge = %d, %v; want 1", f, err)
			}
		})
	}
}

// TestNewSQLThrottleConfig refuses what cannot work, before any query.
func TestNewSQLThrottleConfig(t *testing.T) {
	ctx := context.Background()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, tc := range []struct {
		name    string
		db      *sql.DB
		dialect string
		tname   string
		opts    []auth.ThrottleOption
	}{
		{"nil db", nil, "sqlite3", "x", nil},
		{"bad dialect", db, "mysql", "x", nil},
		{"empty name", db, "sqlite3", "", nil},
		{"bad burst", db, "sqlite3", "x", []auth.ThrottleOption{auth.WithBurst(0)}},
		{"nil option", db, "sqlite3", "x", []auth.ThrottleOption{nil}},
	} {
		if _, err := auth.NewSQLThrottle(ctx, tc.db, tc.dialect, tc.tname, tc.opts...); !errors.Is(err, auth.ErrInvalidConfig) {
			t.Errorf("%s: err = %v; want ErrInvalidConfig", tc.name, err)
		}
	}
}

// Two replicas of an app share one database, so together they allow one
// burst of failures per key.
func ExampleSQLThrottle() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "throttle")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, "core.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		panic(err)
	}
	defer db.Close()

	replicaA, err := auth.NewSQLThrottle(ctx, db, "sqlite3", "logins", auth.WithBurst(2))
	if err != nil {
		panic(err)
	}
	replicaB, err := auth.NewSQLThrottle(ctx, db, "sqlite3", "logins", auth.WithBurst(2))
	if err != nil {
		panic(err)
	}
	for i, th := range []*auth.SQLThrottle{replicaA, replicaB, replicaA} {
		ok, retryAfter, err := th.Allow(ctx, "alice@example.com")
		if err != nil {
			panic(err) // a login handler answers 503 instead
		}
		fmt.Printf("attempt %d allowed: %v (retry after a minute or less: %v)\n", i+1, ok, retryAfter > 0 && retryAfter <= time.Minute)
		if ok {
			_ = th.Fail(ctx, "alice@example.com") // wrong password
		}
	}
	// Output:
	// attempt 1 allowed: true (retry after a minute or less: false)
	// attempt 2 allowed: true (retry after a minute or less: false)
	// attempt 3 allowed: false (retry after a minute or less: true)
}

// TestSQLThrottleLocalFront refuses what the process alone saw fail a
// burst of times without asking the database, and gives a local attempt
// back when the database fails.
func TestSQLThrottleLocalFront(t *testing.T) {
	ctx := context.Background()
	for name, tdb := range throttleDBs(t) {
		t.Run(name, func(t *testing.T) {
			db := tdb.open(t)
			th, err := auth.NewSQLThrottle(ctx, db, tdb.dialect, "logins", auth.WithBurst(2), auth.WithRefill(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			for range 2 {
				if ok, _, err := th.Allow(ctx, "k"); !ok || err != nil {
					t.Fatalf("Allow = %v, %v; want allowed", ok, err)
				}
				if err := th.Fail(ctx, "k"); err != nil {
					t.Fatal(err)
				}
			}
			db.Close()
			if ok, wait, err := th.Allow(ctx, "k"); ok || err != nil || wait <= 0 {
				t.Errorf("Allow past the burst with the database closed = %v, %v, %v; want refused locally, no error", ok, wait, err)
			}
			// Another key needs the database: an error, and the local
			// attempt is given back (two errors in a row, not a refusal).
			for range 3 {
				if ok, _, err := th.Allow(ctx, "other"); ok || err == nil {
					t.Errorf("Allow with the database closed = %v, %v; want an error", ok, err)
				}
			}
		})
	}
}
