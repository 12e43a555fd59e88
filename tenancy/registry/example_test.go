package registry_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing/fstest"
	"time"

	"github.com/tenantkit/tenantkit/dbstrategy"
	"github.com/tenantkit/tenantkit/dbstrategy/sqlitestrategy"
	"github.com/tenantkit/tenantkit/tenancy"
	"github.com/tenantkit/tenantkit/tenancy/registry"
)

// The shortest path: a Memory store, tenants' databases in SQLite files,
// the Registry for their lifecycle, and tenancy's middleware in front of
// the app.
func Example() {
	dir, err := os.MkdirTemp("", "tenants")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()

	store, err := registry.NewMemory()
	if err != nil {
		fmt.Println(err)
		return
	}
	strategy, err := sqlitestrategy.New(sqlitestrategy.Config{Dir: dir})
	if err != nil {
		fmt.Println(err)
		return
	}
	dbs, err := dbstrategy.NewManager(strategy, dbstrategy.WithMigrations(fstest.MapFS{
		"sqlite3/00001_notes.sql": {Data: []byte("-- +goose Up\nCREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);\n")},
	}))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer dbs.Close()

	lookup, err := registry.NewLookup(store, registry.ByIDOrSlug)
	if err != nil {
		fmt.Println(err)
		return
	}
	cache, err := tenancy.NewCache(lookup)
	if err != nil {
		fmt.Println(err)
		return
	}
	reg, err := registry.New(store, dbs, registry.WithOnChange(func(c registry.Change) {
		cache.Invalidate(c.ID, c.Slug) // this process's changes, at once
	}))
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := reg.Reconcile(ctx); err != nil { // finish what a crash left
		fmt.Println(err)
		return
	}

	withTenant, err := tenancy.Middleware(tenancy.Header("X-Tenant"), cache)
	if err != nil {
		fmt.Println(err)
		return
	}
	app := withTenant(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t, _ := tenancy.FromContext(r.Context())
		err := dbs.Do(r.Context(), t.ID, func(ctx context.Context, db dbstrategy.DB) error {
			var n int
			if err := db.QueryRowContext(ctx, `SELECT count(*) FROM notes`).Scan(&n); err != nil {
				return err
			}
			fmt.Fprintf(w, "%s has %d notes", t.Slug, n)
			return nil
		})
		if err != nil {
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
		}
	}))
	get := func(hint string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("X-Tenant", hint)
		w := httptest.NewRecorder()
		app.ServeHTTP(w, r)
		fmt.Printf("%s: %d %q\n", hint, w.Code, w.Body.String())
	}

	get("acme") // unknown yet (and cached as such)
	rec, err := reg.Create(ctx, registry.Record{ID: "42", Slug: "acme"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(rec.ID, rec.Status, "version", rec.Version)
	get("acme")
	if _, err := reg.Suspend(ctx, "42"); err != nil {
		fmt.Println(err)
		return
	}
	get("42")
	if err := reg.Delete(ctx, "42"); err != nil {
		fmt.Println(err)
		return
	}
	get("acme")
	// Output:
	// acme: 404 "unknown tenant\n"
	// 42 active version 1
	// acme: 200 "acme has 0 notes"
	// 42: 403 "tenant suspended\n"
	// acme: 404 "unknown tenant\n"
}

// An app with its own table for tenants inserts its row and the
// registry's record in one transaction, then provisions the tenant.
func ExampleSQL_InsertTx() {
	dir, err := os.MkdirTemp("", "core")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, "core.db")+"?_pragma=busy_timeout(10000)&_txlock=immediate")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()
	store, err := registry.OpenSQL(ctx, db, registry.DialectSQLite)
	if err != nil {
		fmt.Println(err)
		return
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE organizations (id TEXT PRIMARY KEY, owner TEXT NOT NULL)`); err != nil {
		fmt.Println(err)
		return
	}

	createOrg := func(id, slug, owner string) error {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		if _, err := tx.ExecContext(ctx, `INSERT INTO organizations (id, owner) VALUES ($1, $2)`, id, owner); err != nil {
			return err
		}
		if _, err := store.InsertTx(ctx, tx, registry.Record{ID: id, Slug: slug, Status: tenancy.StatusProvisioning}); err != nil {
			return err // ErrExists: the slug is taken; nothing is kept
		}
		return tx.Commit()
	}
	fmt.Println(createOrg("1", "acme", "ann"))
	fmt.Println(errors.Is(createOrg("2", "acme", "bob"), registry.ErrExists))
	// Then: reg.Provision(ctx, "1") creates and migrates its database.
	rec, err := store.Get(ctx, "1")
	fmt.Println(rec.Slug, rec.Status, err)
	// Output:
	// <nil>
	// true
	// acme provisioning <nil>
}

// Watch keeps a process's caches right when other processes change
// tenants. It returns when its context ends.
func ExampleWatch() {
	store, err := registry.NewMemory()
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error)
	changes := make(chan registry.Change, 10)
	go func() {
		done <- registry.Watch(ctx, store, func(c registry.Change) {
			changes <- c // e.g. cache.Invalidate(c.ID, c.Slug)
		})
	}()
	// Watch delivers the changes committed after it started: give it a
	// moment to start before another process (here, the same store)
	// changes a tenant.
	time.Sleep(100 * time.Millisecond)
	if _, err := store.Insert(ctx, registry.Record{ID: "42", Slug: "acme", Status: tenancy.StatusActive}); err != nil {
		fmt.Println(err)
		return
	}
	if err := store.Delete(ctx, "42"); err != nil {
		fmt.Println(err)
		return
	}
	for range 2 {
		c := <-changes
		fmt.Println(c.ID, c.Slug, c.Status)
	}
	cancel() // Watch's exit
	fmt.Println(<-done)
	// Output:
	// 42 acme active
	// 42 acme deleted
	// context canceled
}

// printMover is a registry.Mover that prints what a move asks of the
// servers; placement.NewMover makes the real one over PostgreSQL servers.
type printMover struct{}

func (printMover) Create(_ context.Context, server, id string) error {
	fmt.Printf("create %s on %s\n", id, server)
	return nil
}

func (printMover) Copy(_ context.Context, from, to, id string) error {
	fmt.Printf("copy %s from %s to %s, verified\n", id, from, to)
	return nil
}

func (printMover) Pause(_ context.Context, server, id string) error {
	fmt.Printf("pause writes to %s on %s\n", id, server)
	return nil
}

func (printMover) Resume(_ context.Context, server, id string) error {
	fmt.Printf("resume writes to %s on %s\n", id, server)
	return nil
}

func (printMover) Evict(_ context.Context, id string) error {
	fmt.Printf("close this process's handles to %s\n", id)
	return nil
}

func (printMover) Drop(_ context.Context, server, id string) error {
	fmt.Printf("drop %s on %s\n", id, server)
	return nil
}

// noDatabases is a registry.Provisioner with nothing to provision.
type noDatabases struct{}

func (noDatabases) Create(context.Context, string) error { return nil }
func (noDatabases) Drop(context.Context, string) error   { return nil }

// A move, step by step: the tenant is copied while served, its writes
// paused for the final copy, its placement switched in one transaction,
// and its old copy dropped.
func ExampleRegistry_Move() {
	ctx := context.Background()
	store, err := registry.NewMemory()
	if err != nil {
		fmt.Println(err)
		return
	}
	reg, err := registry.New(store, noDatabases{}, registry.WithMover(printMover{}), registry.WithSwitchGrace(0))
	if err != nil {
		fmt.Println(err)
		return
	}
	if _, err := reg.Create(ctx, registry.Record{ID: "42", Server: "pg1"}); err != nil {
		fmt.Println(err)
		return
	}
	rec, err := reg.Move(ctx, "42", "pg2")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("tenant", rec.ID, "on", rec.Server, "moving:", rec.Move.Active())
	// Output:
	// create 42 on pg2
	// copy 42 from pg1 to pg2, verified
	// pause writes to 42 on pg1
	// copy 42 from pg1 to pg2, verified
	// close this process's handles to 42
	// drop 42 on pg1
	// tenant 42 on pg2 moving: false
}
