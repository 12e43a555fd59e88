package pgstrategy_test

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log"
	"os"

	"github.com/jackc/pgx/v5"

	"github.com/tenantkit/tenantkit/dbstrategy"
	"github.com/tenantkit/tenantkit/dbstrategy/dbstrategytest"
	"github.com/tenantkit/tenantkit/dbstrategy/pgstrategy"
)

// The examples need a PostgreSQL server, so they have no Output comment:
// go test compiles them but does not run them.

func Example() {
	ctx := context.Background()
	s, err := pgstrategy.New(ctx, pgstrategy.Config{
		DSN:    os.Getenv("TENANTKIT_TEST_POSTGRES_DSN"),
		Prefix: "example_",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	if err := s.Create(ctx, "acme"); err != nil {
		log.Fatal(err)
	}
	db, err := s.Open(ctx, "acme")
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close() // closes the pgx pool behind db

	var name string
	if err := db.QueryRowContext(ctx, "SELECT current_database()").Scan(&name); err != nil {
		log.Fatal(err)
	}
	fmt.Println(name)
	// Prints: example_acme
}

func ExampleConfig_roleSecret() {
	ctx := context.Background()
	// 32 random bytes or more, kept like a password, the same in every
	// process on the prefix: here from the environment, hex-encoded.
	secret, err := hex.DecodeString(os.Getenv("TENANT_ROLE_SECRET"))
	if err != nil {
		log.Fatal(err)
	}
	s, err := pgstrategy.New(ctx, pgstrategy.Config{
		DSN:        os.Getenv("TENANTKIT_TEST_POSTGRES_DSN"), // a role with CREATEROLE and CREATEDB
		Prefix:     "example_",
		RoleSecret: secret,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	if err := s.Create(ctx, "acme"); err != nil { // role example_acme owns database example_acme
		log.Fatal(err)
	}
	db, err := s.Open(ctx, "acme")
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	var user string
	if err := db.QueryRowContext(ctx, "SELECT current_user").Scan(&user); err != nil {
		log.Fatal(err)
	}
	fmt.Println(user)
	// Prints: example_acme
}

func ExampleStrategy_Pool() {
	ctx := context.Background()
	s, err := pgstrategy.New(ctx, pgstrategy.Config{DSN: os.Getenv("TENANTKIT_TEST_POSTGRES_DSN")})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	// migrations/postgres holds the goose migrations, which create notes.
	m, err := dbstrategy.NewManager(s, dbstrategy.WithMigrations(os.DirFS("migrations")))
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	if err := m.Create(ctx, "acme"); err != nil {
		log.Fatal(err)
	}

	lease, err := m.Acquire(ctx, "acme")
	if err != nil {
		log.Fatal(err)
	}
	defer lease.Release()
	// The pool belongs to the lease's handle: use it only while leased,
	// and never close it.
	pool, ok := s.Pool(lease.Handle())
	if !ok {
		log.Fatal("not a handle of s")
	}
	rows := [][]any{{"first note"}, {"second note"}}
	n, err := pool.CopyFrom(ctx, []string{"notes"}, []string{"body"}, pgx.CopyFromRows(rows))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(n)
}

// New checks a Config before it connects: a prefix must be 1 to 15 bytes
// of a-z, 0-9 and '_' ending in '_', so that prefix and tenant key always
// make a valid, untruncated database name.
func ExampleNew_invalidConfig() {
	_, err := pgstrategy.New(context.Background(), pgstrategy.Config{
		DSN:    "postgres://app@db.invalid:5432/postgres",
		Prefix: "Tenant-",
	})
	fmt.Println(errors.Is(err, dbstrategy.ErrInvalidConfig))
	// Output: true
}

func ExampleNewManager() {
	ctx := context.Background()
	m, err := pgstrategy.NewManager(ctx, pgstrategy.Config{DSN: os.Getenv("TENANTKIT_TEST_POSTGRES_DSN"), Prefix: "example_"},
		dbstrategy.WithMigrations(dbstrategytest.Migrations()))
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close() // closes the strategy too

	if err := m.Create(ctx, "acme"); err != nil {
		log.Fatal(err)
	}
	err = m.Do(ctx, "acme", func(ctx context.Context, db dbstrategy.DB) error {
		_, err := db.ExecContext(ctx, "SELECT 1")
		return err
	})
	fmt.Println(err)
	// Prints: <nil>
}
