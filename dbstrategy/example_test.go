package dbstrategy_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"slices"
	"strings"
	"testing/fstest"

	"github.com/tenantkit/tenantkit/dbstrategy"
	"github.com/tenantkit/tenantkit/dbstrategy/sqlitestrategy"
)

func ExampleManager() {
	dir, err := os.MkdirTemp("", "tenants")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// Usually an embed.FS holding sqlite3/ and postgres/ directories.
	migrations := fstest.MapFS{
		"sqlite3/00001_notes.sql": &fstest.MapFile{Data: []byte(`-- +goose Up
CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);
-- +goose Down
DROP TABLE notes;
`)},
	}

	s, err := sqlitestrategy.New(sqlitestrategy.Config{Dir: dir})
	if err != nil {
		log.Fatal(err)
	}
	m, err := dbstrategy.NewManager(s, dbstrategy.WithMigrations(migrations), dbstrategy.WithMaxOpen(64))
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	ctx := context.Background()
	if err := m.Create(ctx, "acme"); err != nil { // creates and migrates
		log.Fatal(err)
	}

	// Per request: lease the tenant's handle, use it, release it.
	lease, err := m.Acquire(ctx, "acme")
	if err != nil {
		log.Fatal(err)
	}
	defer lease.Release()
	db := lease.DB()
	if _, err := db.ExecContext(ctx, "INSERT INTO notes (body) VALUES ($1)", "hello"); err != nil {
		log.Fatal(err)
	}
	var body string
	if err := db.QueryRowContext(ctx, "SELECT body FROM notes WHERE id = $1", 1).Scan(&body); err != nil {
		log.Fatal(err)
	}
	version, err := m.Version(ctx, "acme")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(body, version)

	_, err = m.Acquire(ctx, "nobody")
	fmt.Println(errors.Is(err, dbstrategy.ErrNotFound))
	// Output:
	// hello 1
	// true
}

// A handler's database work in one call: Do leases the tenant's handle,
// runs the function and releases the lease, even if the function panics.
// Slow work that needs no database (hashing a password, calling another
// service) goes outside the function, so the lease is held only around
// the queries.
func ExampleManager_Do() {
	dir, err := os.MkdirTemp("", "tenants")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	s, err := sqlitestrategy.New(sqlitestrategy.Config{Dir: dir})
	if err != nil {
		log.Fatal(err)
	}
	m, err := dbstrategy.NewManager(s, dbstrategy.WithMigrations(fstest.MapFS{
		"sqlite3/00001_notes.sql": &fstest.MapFile{Data: []byte("-- +goose Up\nCREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);\n")},
	}))
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	if err := m.Create(ctx, "acme"); err != nil {
		log.Fatal(err)
	}

	body := strings.ToUpper("hello") // work without the database: before Do
	err = m.Do(ctx, "acme", func(ctx context.Context, db dbstrategy.DB) error {
		if _, err := db.ExecContext(ctx, "INSERT INTO notes (body) VALUES ($1)", body); err != nil {
			return err
		}
		return db.QueryRowContext(ctx, "SELECT body FROM notes WHERE id = 1").Scan(&body)
	})
	fmt.Println(body, err)

	err = m.Do(ctx, "nobody", func(ctx context.Context, db dbstrategy.DB) error { return nil })
	fmt.Println(errors.Is(err, dbstrategy.ErrNotFound))
	// Output:
	// HELLO <nil>
	// true
}

// A job for every tenant: ForEach leases each tenant's handle in turn, at
// most Parallel at once, and reports each tenant's outcome; one tenant's
// failure does not stop the others.
func ExampleManager_ForEach() {
	dir, err := os.MkdirTemp("", "tenants")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	s, err := sqlitestrategy.New(sqlitestrategy.Config{Dir: dir})
	if err != nil {
		log.Fatal(err)
	}
	m, err := dbstrategy.NewManager(s, dbstrategy.WithMigrations(fstest.MapFS{
		"sqlite3/00001_notes.sql": &fstest.MapFile{Data: []byte("-- +goose Up\nCREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);\n")},
	}))
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	for _, id := range []string{"acme", "beta", "gamma"} {
		if err := m.Create(ctx, id); err != nil {
			log.Fatal(err)
		}
	}

	tenants := []string{"acme", "beta", "gone", "gamma"} // from the app's registry
	var done []string
	err = m.ForEach(ctx, slices.Values(tenants), dbstrategy.ForEachOptions{
		Parallel: 2,
		Progress: func(id string, err error) { done = append(done, fmt.Sprintf("%s:%v", id, err == nil)) },
	}, func(ctx context.Context, id string, db dbstrategy.DB) error {
		_, err := db.ExecContext(ctx, "INSERT INTO notes (body) VALUES ($1)", "weekly digest for "+id)
		return err
	})
	slices.Sort(done)
	fmt.Println(done)
	var te *dbstrategy.TenantError
	fmt.Println(errors.As(err, &te), te.TenantID, errors.Is(err, dbstrategy.ErrNotFound))
	// Output:
	// [acme:true beta:true gamma:true gone:false]
	// true gone true
}

// After a tenant moved to another server (a routing strategy now opens it
// there), Evict closes the handle open on the old server, once its leases
// are released, so that the next Acquire opens the tenant where it is now.
func ExampleManager_Evict() {
	dir, err := os.MkdirTemp("", "tenants")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	m, err := sqlitestrategy.NewManager(sqlitestrategy.Config{Dir: dir})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	if err := m.Create(ctx, "acme"); err != nil {
		log.Fatal(err)
	}
	if err := m.Do(ctx, "acme", func(context.Context, dbstrategy.DB) error { return nil }); err != nil {
		log.Fatal(err)
	}
	fmt.Println("open:", m.Stats().Open)

	// The placement switched: forget the handle, waiting for its leases.
	if err := m.Evict(ctx, "acme"); err != nil {
		log.Fatal(err)
	}
	fmt.Println("open:", m.Stats().Open)
	// Output:
	// open: 1
	// open: 0
}
