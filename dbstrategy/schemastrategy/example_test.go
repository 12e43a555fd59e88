package schemastrategy_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"

	"github.com/tenantkit/tenantkit/dbstrategy"
	"github.com/tenantkit/tenantkit/dbstrategy/dbstrategytest"
	"github.com/tenantkit/tenantkit/dbstrategy/schemastrategy"
)

// The examples need a PostgreSQL server, so they have no Output comment:
// go test compiles them but does not run them.

func Example() {
	ctx := context.Background()
	s, err := schemastrategy.New(ctx, schemastrategy.Config{
		DSN:    os.Getenv("TENANTKIT_TEST_POSTGRES_DSN"),
		Prefix: "example_",
		Roles:  true,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	m, err := dbstrategy.NewManager(s,
		dbstrategy.WithMigrations(dbstrategytest.Migrations()),
		dbstrategy.WithMaxConns(8), // the one pool every tenant shares
	)
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	if err := m.Create(ctx, "acme"); err != nil {
		log.Fatal(err)
	}
	lease, err := m.Acquire(ctx, "acme") // pins one connection, scoped to acme
	if err != nil {
		log.Fatal(err)
	}
	db := lease.DB()
	var schema, role string
	if err := db.QueryRowContext(ctx, "SELECT current_schema(), current_user").Scan(&schema, &role); err != nil {
		log.Fatal(err)
	}
	fmt.Println(schema, role)
	lease.Release() // resets the connection and gives it back

	_, err = db.ExecContext(ctx, "SELECT 1")
	fmt.Println(errors.Is(err, dbstrategy.ErrReleased))
	// Prints:
	// example_acme example_acme
	// true
}

func ExampleStrategy_SchemaName() {
	s, err := schemastrategy.New(context.Background(), schemastrategy.Config{DSN: os.Getenv("TENANTKIT_TEST_POSTGRES_DSN")})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	name, err := s.SchemaName("acme")
	fmt.Println(name, err)
	// Prints: tenant_acme <nil>
}

func ExampleNewManager() {
	ctx := context.Background()
	m, err := schemastrategy.NewManager(ctx, schemastrategy.Config{DSN: os.Getenv("TENANTKIT_TEST_POSTGRES_DSN"), Prefix: "example_"},
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

// A Manager with spares: schemas made and migrated ahead of time, so that
// Create renames one instead of running the migrations.
func ExampleStrategy_ClaimSpare() {
	ctx := context.Background()
	m, err := schemastrategy.NewManager(ctx, schemastrategy.Config{DSN: os.Getenv("TENANTKIT_TEST_POSTGRES_DSN"), Prefix: "example_"},
		dbstrategy.WithMigrations(dbstrategytest.Migrations()),
		dbstrategy.WithSpares(2), // a goroutine of m keeps 2 ready
	)
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close() // stops that goroutine, closes the strategy

	ready, err := m.FillSpares(ctx) // or let the goroutine make them
	fmt.Println(ready >= 2, err)
	if err := m.Create(ctx, "acme"); err != nil { // claims one: a rename
		log.Fatal(err)
	}
	v, err := m.Version(ctx, "acme")
	fmt.Println(v, err)
	// Prints:
	// true <nil>
	// 2 <nil>
}
