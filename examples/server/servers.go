package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/tenantkit/tenantkit/dbstrategy"
	"github.com/tenantkit/tenantkit/dbstrategy/placement"
	"github.com/tenantkit/tenantkit/tenancy/registry"
)

// tenantServers is where the tenants live: the -tenant-db servers, each
// with its own strategy and connection budget, and, when there are
// several, the placement that spreads tenants over them.
//
// The placement is the registry's: each record's Server names the server
// that holds the tenant ("" the first server, where every tenant lived
// before a second server was configured). A new organization is placed by
// placement.FewestTenants among the open servers, in the transaction that
// inserts it (sqlCoreStore.CreateOrganization). A tenant's server is read
// from the registry when its handle is opened (locate): a handle miss,
// which already costs a backend start or more, so no cache is kept, and a
// tenant whose placement changed (a move) is found where it is now as
// soon as its handle is closed (dbstrategy.Manager.Evict).
type tenantServers struct {
	names      []string                       // as configured; names[0] holds the tenants placed nowhere
	strategies map[string]dbstrategy.Strategy // each server's own strategy, by name
	closed     map[string]bool                // closed to new tenants
	reg        *registry.SQL                  // the placement, in the core database
	router     *placement.Router              // when placed: routes tenants to their servers
}

// placed reports whether tenants are placed: several servers are
// configured, routed by a placement.Router.
func (ts *tenantServers) placed() bool { return len(ts.names) > 1 }

// server returns the name of the server the registry's Server value
// names: "" is the first one.
func (ts *tenantServers) server(recorded string) string {
	if recorded == "" {
		return ts.names[0]
	}
	return recorded
}

// first returns the first server's strategy.
func (ts *tenantServers) first() dbstrategy.Strategy { return ts.strategies[ts.names[0]] }

// locate is the placement.LocateFunc: the tenant's server, from its
// registry record. A tenant the registry does not know is a
// dbstrategy.ErrNotFound, which the Router's Drop takes as dropped.
func (ts *tenantServers) locate(ctx context.Context, tenantID string) (string, error) {
	rec, err := ts.reg.Get(ctx, tenantID)
	if errors.Is(err, registry.ErrNotFound) {
		return "", fmt.Errorf("%w: tenant %q is not in the registry", dbstrategy.ErrNotFound, tenantID)
	}
	if err != nil {
		return "", err
	}
	return ts.server(rec.Server), nil
}

// querier is what load reads the registry's table with: the core
// database, or a transaction on it.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// load returns the placement.LoadFunc reading, through q, how many
// tenants each server holds (records in any state: provisioning,
// suspended and deleting tenants hold their databases too), and which
// servers are closed.
func (ts *tenantServers) load(q querier) placement.LoadFunc {
	return func(ctx context.Context) (map[string]placement.ServerLoad, error) {
		loads, err := ts.counts(ctx, q)
		if err != nil {
			return nil, err
		}
		for name := range ts.closed {
			l := loads[name]
			l.Closed = true
			loads[name] = l
		}
		return loads, nil
	}
}

// counts counts the registry's records by server, "" counted on the first
// server.
func (ts *tenantServers) counts(ctx context.Context, q querier) (map[string]placement.ServerLoad, error) {
	rows, err := q.QueryContext(ctx, `SELECT server, COUNT(*) FROM tenantkit_tenants GROUP BY server`)
	if err != nil {
		return nil, fmt.Errorf("count tenants by server: %w", err)
	}
	defer rows.Close()
	loads := make(map[string]placement.ServerLoad, len(ts.names))
	for rows.Next() {
		var server string
		var n int
		if err := rows.Scan(&server, &n); err != nil {
			return nil, fmt.Errorf("count tenants by server: %w", err)
		}
		name := ts.server(server)
		l := loads[name]
		l.Tenants += n
		loads[name] = l
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count tenants by server: %w", err)
	}
	return loads, nil
}

// pick places a new tenant: the open server with the fewest tenants,
// counted through q (the transaction that inserts the tenant). With one
// server it returns "": the tenant is on the first server, as before
// placement, and stays there if servers are added later.
func (ts *tenantServers) pick(ctx context.Context, q querier, tenantID string) (string, error) {
	if !ts.placed() {
		return "", nil
	}
	return placement.FewestTenants{Servers: ts.names, Load: ts.load(q)}.Pick(ctx, tenantID)
}

// check refuses a configuration that leaves tenants on a server it does
// not name: removing a -tenant-db that still holds tenants (drain it
// first), or renaming one.
func (ts *tenantServers) check(ctx context.Context, q querier) error {
	loads, err := ts.counts(ctx, q)
	if err != nil {
		return err
	}
	var missing []string
	for name, l := range loads {
		if _, ok := ts.strategies[name]; !ok {
			missing = append(missing, fmt.Sprintf("%s (%d tenants)", name, l.Tenants))
		}
	}
	if len(missing) == 0 {
		return nil
	}
	slices.Sort(missing)
	return fmt.Errorf("tenants are placed on servers no -tenant-db names: %s; give each its NAME=postgres://... again", strings.Join(missing, ", "))
}

// name records, on the first server, the tenants placed nowhere (created
// while it was the only one): moves and drains go from and to named
// servers. Idempotent; replicas starting at once do the same.
func (ts *tenantServers) name(ctx context.Context, db *sql.DB) error {
	if !ts.placed() {
		return nil
	}
	if _, err := db.ExecContext(ctx, `UPDATE tenantkit_tenants SET server = $1 WHERE server = ''`, ts.names[0]); err != nil {
		return fmt.Errorf("record the first server's tenants: %w", err)
	}
	return nil
}

// drainPick is the pick of a drain of from: the open server other than
// from with the fewest tenants, counted through q.
func (ts *tenantServers) drainPick(q querier, from string) func(ctx context.Context, tenantID string) (string, error) {
	load := ts.load(q)
	return placement.FewestTenants{Servers: ts.names, Load: func(ctx context.Context) (map[string]placement.ServerLoad, error) {
		loads, err := load(ctx)
		if err != nil {
			return nil, err
		}
		l := loads[from]
		l.Closed = true
		loads[from] = l
		return loads, nil
	}}.Pick
}

// logBudgets says, at start, what each server may hold.
func (ts *tenantServers) logBudgets(ctx context.Context, log *slog.Logger, budget int) {
	if !ts.placed() {
		return
	}
	for _, name := range ts.names {
		log.LogAttrs(ctx, slog.LevelInfo, "tenant server",
			slog.String("server", name), slog.Int("db_max_conns", budget), slog.Bool("closed", ts.closed[name]))
	}
}
