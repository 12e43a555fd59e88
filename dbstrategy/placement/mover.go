package placement

import (
	"context"
	"fmt"

	"github.com/tenantkit/tenantkit/dbstrategy"
)

// EvictFunc closes a process's cached handle of a tenant, once its leases
// are released, so that the next lease opens the tenant anew through the
// [Router], where its placement now says: a [dbstrategy.Manager]'s Evict
// method.
type EvictFunc func(ctx context.Context, tenantID string) error

// Mover does the data work of moving tenants between the servers of a
// [Router], by name, with [Copy], [Pause], [Resume] and the servers'
// strategies: it has the methods of the Mover interface of package
// tenancy/registry (which this package does not import), for its
// Registry.Move, Reconcile and Drain:
//
//	mover, err := placement.NewMover(router, manager.Evict, dbstrategy.WithMigrations(fsys))
//	reg, err := registry.New(store, manager, registry.WithMover(mover))
//	rec, err := reg.Move(ctx, "42", "pg2")
//
// Every method is idempotent, as a move resumed after a crash needs. A
// Mover is safe for concurrent use and holds no resources: each Create
// opens a [dbstrategy.Manager] on the server and closes it before
// returning.
type Mover struct {
	r     *Router
	evict EvictFunc
	opts  []dbstrategy.Option
}

// NewMover returns a Mover over the servers of r (for a [PinnedRouter],
// its Router). evict closes this process's handle of a moved tenant:
// pass the Evict method of the Manager serving r. opts configure the
// Manager with which [Mover.Create] creates and migrates a tenant on a
// server: pass the serving Manager's [dbstrategy.WithMigrations], and
// whatever else shapes a new tenant (not a connection budget: each
// server's stands). Errors wrap [dbstrategy.ErrInvalidConfig]: a nil r or
// evict, or options a Manager refuses.
func NewMover(r *Router, evict EvictFunc, opts ...dbstrategy.Option) (*Mover, error) {
	if r == nil || evict == nil {
		return nil, fmt.Errorf("%w: placement.NewMover: nil Router or evict", dbstrategy.ErrInvalidConfig)
	}
	// Check the options once, as NewManager does.
	m, err := dbstrategy.NewManager(r.servers[r.names[0]], opts...)
	if err != nil {
		return nil, fmt.Errorf("placement.NewMover: %w", err)
	}
	if err := m.Close(); err != nil {
		return nil, fmt.Errorf("placement.NewMover: %w", err)
	}
	return &Mover{r: r, evict: evict, opts: opts}, nil
}

// server returns the strategy of the server called name.
func (m *Mover) server(name string) (dbstrategy.Strategy, error) {
	s, ok := m.r.Server(name)
	if !ok {
		return nil, fmt.Errorf("placement: server %q: %w", name, ErrUnknownServer)
	}
	return s, nil
}

// Create creates the tenant on server, and migrates it, through a
// [dbstrategy.Manager] over that server's strategy made with NewMover's
// options, and closed before Create returns. A tenant that exists is
// migrated. Errors: one wrapping [ErrUnknownServer]; the Manager's, in a
// *[ServerError].
func (m *Mover) Create(ctx context.Context, server, tenantID string) error {
	s, err := m.server(server)
	if err != nil {
		return err
	}
	mgr, err := dbstrategy.NewManager(s, m.opts...)
	if err != nil {
		return &ServerError{Server: server, Err: err}
	}
	err = mgr.Create(ctx, tenantID)
	if cerr := mgr.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return &ServerError{Server: server, Err: err}
	}
	return nil
}

// Copy runs [Copy] from the server from to the server to: it replaces the
// tenant's data on to with a verified copy of its data on from, in one
// transaction. Errors: one wrapping [ErrUnknownServer]; Copy's.
func (m *Mover) Copy(ctx context.Context, from, to, tenantID string) error {
	src, err := m.server(from)
	if err != nil {
		return err
	}
	dst, err := m.server(to)
	if err != nil {
		return err
	}
	_, err = Copy(ctx, src, dst, tenantID)
	return err
}

// Pause runs [Pause] on the server: writes to the tenant there fail with
// SQLSTATE 25006 until [Mover.Resume]. Errors: one wrapping
// [ErrUnknownServer]; Pause's.
func (m *Mover) Pause(ctx context.Context, server, tenantID string) error {
	s, err := m.server(server)
	if err != nil {
		return err
	}
	return Pause(ctx, s, tenantID)
}

// Resume runs [Resume] on the server. Errors: one wrapping
// [ErrUnknownServer]; Resume's.
func (m *Mover) Resume(ctx context.Context, server, tenantID string) error {
	s, err := m.server(server)
	if err != nil {
		return err
	}
	return Resume(ctx, s, tenantID)
}

// Evict calls the function given to [NewMover].
func (m *Mover) Evict(ctx context.Context, tenantID string) error {
	return m.evict(ctx, tenantID)
}

// Drop drops the tenant on the server, through its strategy (on
// PostgreSQL, ending the sessions still connected to a database per
// tenant); nil if it is not there. Close this process's handles to it
// first ([Mover.Evict]). A server the Router was not given holds nothing
// Drop can reach: Drop returns nil, so that a move to a server named by
// mistake can be rolled back (its Create failed). Errors: the strategy's,
// in a *[ServerError].
func (m *Mover) Drop(ctx context.Context, server, tenantID string) error {
	if err := dbstrategy.ValidateKey(tenantID); err != nil {
		return err
	}
	s, ok := m.r.Server(server)
	if !ok {
		return nil
	}
	if err := s.Drop(ctx, tenantID); err != nil {
		return &ServerError{Server: server, Err: err}
	}
	return nil
}
