package placement_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/tenantkit/tenantkit/dbstrategy"
	"github.com/tenantkit/tenantkit/dbstrategy/placement"
	"github.com/tenantkit/tenantkit/dbstrategy/sqlitestrategy"
)

// Two servers (here two SQLite folders, to run anywhere; on PostgreSQL,
// pgstrategy on each server), a registry kept in a map, and a Manager
// over the router: each tenant is created on the server the policy picked.
func ExampleNew() {
	dir, err := os.MkdirTemp("", "placement-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	servers := make(map[string]dbstrategy.Strategy)
	for _, name := range []string{"eu1", "eu2"} {
		s, err := sqlitestrategy.New(sqlitestrategy.Config{Dir: filepath.Join(dir, name)})
		if err != nil {
			log.Fatal(err)
		}
		servers[name] = s
	}
	placed := map[string]string{} // the registry: tenant -> server
	locate := func(_ context.Context, id string) (string, error) {
		if s, ok := placed[id]; ok {
			return s, nil
		}
		return "", fmt.Errorf("tenant %q: %w", id, dbstrategy.ErrNotFound)
	}
	r, err := placement.New(servers, locate)
	if err != nil {
		log.Fatal(err)
	}
	m, err := dbstrategy.NewManager(r)
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	policy := placement.FewestTenants{
		Servers: r.Servers(),
		Load: func(context.Context) (map[string]placement.ServerLoad, error) {
			load := map[string]placement.ServerLoad{}
			for _, s := range placed {
				l := load[s]
				l.Tenants++
				load[s] = l
			}
			return load, nil
		},
	}
	ctx := context.Background()
	for _, id := range []string{"acme", "globex", "initech"} {
		server, err := policy.Pick(ctx, id)
		if err != nil {
			log.Fatal(err)
		}
		placed[id] = server // record the placement first
		if err := m.Create(ctx, id); err != nil {
			log.Fatal(err)
		}
		fmt.Println(id, "on", server)
	}
	_, err = m.Acquire(ctx, "unknown")
	fmt.Println(errors.Is(err, dbstrategy.ErrNotFound))
	// Output:
	// acme on eu1
	// globex on eu2
	// initech on eu1
	// true
}

// A server closed to new tenants is skipped; ties go to the first name.
func ExampleFewestTenants() {
	p := placement.FewestTenants{
		Servers: []string{"pg1", "pg2", "pg3"},
		Load: func(context.Context) (map[string]placement.ServerLoad, error) {
			return map[string]placement.ServerLoad{
				"pg1": {Tenants: 12, Closed: true}, // being drained
				"pg2": {Tenants: 40},
				"pg3": {Tenants: 40},
			}, nil
		},
	}
	server, err := p.Pick(context.Background(), "acme")
	fmt.Println(server, err)
	// Output: pg2 <nil>
}

// The final step of a move, between two servers of a Router: pause the
// source, copy again (verified), then switch the placement. Without a
// PostgreSQL server, this example is compiled but not run.
func ExampleCopy() {
	ctx := context.Background()
	var r *placement.Router // over pgstrategy on "pg1" and "pg2"
	var switchPlacement func(ctx context.Context, id, server string) error
	src, _ := r.Server("pg1")
	dst, _ := r.Server("pg2") // the tenant is created and migrated there already

	if _, err := placement.Copy(ctx, src, dst, "acme"); err != nil { // while served
		log.Fatal(err)
	}
	if err := placement.Pause(ctx, src, "acme"); err != nil {
		log.Fatal(err)
	}
	rep, err := placement.Copy(ctx, src, dst, "acme")
	if err != nil {
		_ = placement.Resume(ctx, src, "acme") // roll back: writes go on at the source
		log.Fatal(err)
	}
	if err := switchPlacement(ctx, "acme", "pg2"); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("moved %d rows of %d tables\n", rep.Rows(), len(rep.Tables))
}
