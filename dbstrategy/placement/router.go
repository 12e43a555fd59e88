package placement

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"runtime"
	"slices"
	"strings"
	"sync"
	"weak"

	"github.com/pressly/goose/v3/database"
	"github.com/pressly/goose/v3/lock"

	"github.com/tenantkit/tenantkit/dbstrategy"
)

// LocateFunc reports the name of the server that holds the tenant, as the
// application's registry records it. It is called by every Create, Open
// and Drop of a [Router], with a key [dbstrategy.ValidateKey] accepts, and
// must be safe for concurrent use. It returns an error wrapping
// [dbstrategy.ErrNotFound] for a tenant the registry does not know.
type LocateFunc func(ctx context.Context, tenantID string) (server string, err error)

// Router is a [dbstrategy.Strategy] over several strategies, one per
// PostgreSQL server, that sends each tenant's Create, Open and Drop to the
// server its placement names. The application keeps the placement (in its
// registry) and reports it through a [LocateFunc]; the Router keeps none.
// A new tenant's placement is recorded before [dbstrategy.Manager.Create]
// (a [Policy] picks the server), and a tenant moves by copying it ([Copy])
// and then changing what the LocateFunc reports.
//
// Every server has the same dialect and the same optional interfaces, so
// one [dbstrategy.Manager] serves them all. Router is for strategies whose
// handles own their connections, such as pgstrategy (a database per
// tenant); [PinnedRouter] is for strategies whose tenants share a pool of
// each server, such as schemastrategy.
//
// # Optional interfaces
//
// Router implements these for a Manager, forwarding them to each server:
//
//   - [dbstrategy.ConnBudgeter]: [Router.SetConnBudget] gives every server
//     the budget, or the one [WithServerBudget] sets for it, and each
//     server's strategy enforces its own, as it does alone: one server's
//     load never takes another server's connections.
//   - [dbstrategy.HandleLimiter]: [Router.MaxHandles] is the sum of the
//     servers' handle limits when handles cost server connections, the
//     smallest when they cost process memory.
//   - [dbstrategy.Templater]: [Router.PrepareTemplate] prepares the
//     template of every server that has one.
//   - [dbstrategy.MigrationLocker]: the lock is taken on the connection
//     goose migrates on, so one locker serves every server.
//   - [dbstrategy.MigrationStorer]: the store works on the connection
//     goose gives it, so the first server's serves every server.
//
// Router does not implement [dbstrategy.ConnLimiter]: the Manager would
// count every server's handles against one budget, where each server has
// its own. For the same reason [Router.SetConnBudget] refuses servers that
// are ConnLimiters without being ConnBudgeters.
//
// Router is safe for concurrent use. The strategies belong to the caller,
// who closes them after the Managers over the Router are closed; Router
// has no Close.
type Router struct {
	servers map[string]dbstrategy.Strategy
	names   []string // sorted
	locate  LocateFunc
	cfg     config
	dialect string
	caps    capabilities
}

var (
	_ dbstrategy.Strategy        = (*Router)(nil)
	_ dbstrategy.ConnBudgeter    = (*Router)(nil)
	_ dbstrategy.HandleLimiter   = (*Router)(nil)
	_ dbstrategy.Templater       = (*Router)(nil)
	_ dbstrategy.MigrationLocker = (*Router)(nil)
	_ dbstrategy.MigrationStorer = (*Router)(nil)
)

// PinnedRouter is a [Router] over strategies that implement
// [dbstrategy.ConnPinner], such as schemastrategy: each server has one
// shared pool, and a lease pins one connection of its tenant's server.
// [PinnedRouter.PinConn] hands the handle to the strategy that opened it.
// Everything else is Router's.
type PinnedRouter struct {
	*Router

	mu      sync.Mutex
	handles map[weak.Pointer[sql.DB]]string // open handles and their servers; cleared as each is garbage collected
}

var _ dbstrategy.ConnPinner = (*PinnedRouter)(nil)

// New returns a Router over servers, by name, that places tenants where
// locate says. servers holds at least one strategy; every strategy has the
// same [dbstrategy.Strategy.Dialect] and implements the same optional
// interfaces of dbstrategy, and none implements [dbstrategy.ConnPinner]
// (use [NewPinned] for those). The map is copied. Errors wrap
// [dbstrategy.ErrInvalidConfig], naming the server and what differs.
func New(servers map[string]dbstrategy.Strategy, locate LocateFunc, opts ...Option) (*Router, error) {
	r, err := newRouter("New", servers, locate, opts)
	if err != nil {
		return nil, err
	}
	if r.caps&capPinner != 0 {
		return nil, fmt.Errorf("%w: placement.New: the servers are dbstrategy.ConnPinners (a shared pool per server): use NewPinned", dbstrategy.ErrInvalidConfig)
	}
	return r, nil
}

// NewPinned is [New] for servers that implement [dbstrategy.ConnPinner],
// such as schemastrategy; it refuses servers that do not.
func NewPinned(servers map[string]dbstrategy.Strategy, locate LocateFunc, opts ...Option) (*PinnedRouter, error) {
	r, err := newRouter("NewPinned", servers, locate, opts)
	if err != nil {
		return nil, err
	}
	if r.caps&capPinner == 0 {
		return nil, fmt.Errorf("%w: placement.NewPinned: the servers are not dbstrategy.ConnPinners: use New", dbstrategy.ErrInvalidConfig)
	}
	return &PinnedRouter{Router: r, handles: make(map[weak.Pointer[sql.DB]]string)}, nil
}

func newRouter(fn string, servers map[string]dbstrategy.Strategy, locate LocateFunc, opts []Option) (*Router, error) {
	if len(servers) == 0 {
		return nil, fmt.Errorf("%w: placement.%s: no servers", dbstrategy.ErrInvalidConfig, fn)
	}
	if locate == nil {
		return nil, fmt.Errorf("%w: placement.%s: locate must not be nil", dbstrategy.ErrInvalidConfig, fn)
	}
	cfg := defaultConfig()
	for i, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("%w: placement.%s: option %d is nil", dbstrategy.ErrInvalidConfig, fn, i+1)
		}
		if err := o.apply(&cfg); err != nil {
			return nil, err
		}
	}
	r := &Router{
		servers: maps.Clone(servers),
		names:   slices.Sorted(maps.Keys(servers)),
		locate:  locate,
		cfg:     cfg,
	}
	first := r.names[0]
	for _, name := range r.names {
		s := servers[name]
		if name == "" {
			return nil, fmt.Errorf("%w: placement.%s: a server has an empty name", dbstrategy.ErrInvalidConfig, fn)
		}
		if s == nil {
			return nil, fmt.Errorf("%w: placement.%s: server %q is nil", dbstrategy.ErrInvalidConfig, fn, name)
		}
		d, c := s.Dialect(), capsOf(s)
		if name == first {
			r.dialect, r.caps = d, c
			continue
		}
		if d != r.dialect {
			return nil, fmt.Errorf("%w: placement.%s: server %q has dialect %q, server %q %q: every server must have the same",
				dbstrategy.ErrInvalidConfig, fn, name, d, first, r.dialect)
		}
		if (c^r.caps)&capPinner != 0 {
			pinnerName, other := name, first
			if r.caps&capPinner != 0 {
				pinnerName, other = first, name
			}
			return nil, fmt.Errorf("%w: placement.%s: server %q is a dbstrategy.ConnPinner (its tenants share a pool) and server %q is not: a Router cannot mix them",
				dbstrategy.ErrInvalidConfig, fn, pinnerName, other)
		}
		if c != r.caps {
			return nil, fmt.Errorf("%w: placement.%s: server %q implements %s, server %q %s: every server must be the same kind of strategy",
				dbstrategy.ErrInvalidConfig, fn, name, c, first, r.caps)
		}
	}
	for name := range cfg.budgets {
		if _, ok := servers[name]; !ok {
			return nil, fmt.Errorf("%w: placement.%s: WithServerBudget(%q): %w", dbstrategy.ErrInvalidConfig, fn, name, ErrUnknownServer)
		}
	}
	return r, nil
}

// capabilities is the set of dbstrategy's optional interfaces a strategy
// implements.
type capabilities uint8

const (
	capPinner capabilities = 1 << iota
	capBudgeter
	capLimiter
	capHandleLimiter
	capTemplater
	capLocker
	capStorer
)

var capNames = []string{"ConnPinner", "ConnBudgeter", "ConnLimiter", "HandleLimiter", "Templater", "MigrationLocker", "MigrationStorer"}

func capsOf(s dbstrategy.Strategy) capabilities {
	var c capabilities
	if _, ok := s.(dbstrategy.ConnPinner); ok {
		c |= capPinner
	}
	if _, ok := s.(dbstrategy.ConnBudgeter); ok {
		c |= capBudgeter
	}
	if _, ok := s.(dbstrategy.ConnLimiter); ok {
		c |= capLimiter
	}
	if _, ok := s.(dbstrategy.HandleLimiter); ok {
		c |= capHandleLimiter
	}
	if _, ok := s.(dbstrategy.Templater); ok {
		c |= capTemplater
	}
	if _, ok := s.(dbstrategy.MigrationLocker); ok {
		c |= capLocker
	}
	if _, ok := s.(dbstrategy.MigrationStorer); ok {
		c |= capStorer
	}
	return c
}

func (c capabilities) String() string {
	var names []string
	for i, n := range capNames {
		if c&(1<<i) != 0 {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return "no optional interface"
	}
	return "[" + strings.Join(names, ", ") + "]"
}

// Servers returns the names of the servers, sorted.
func (r *Router) Servers() []string { return slices.Clone(r.names) }

// Server returns the strategy of the server called name, as given to
// [New], for work on one server outside the placement, such as creating
// and migrating a tenant's copy on the server it moves to.
func (r *Router) Server(name string) (dbstrategy.Strategy, bool) {
	s, ok := r.servers[name]
	return s, ok
}

// Locate returns the name and strategy of the server holding the tenant,
// as the LocateFunc reports it. Errors: [dbstrategy.ErrInvalidKey]; the
// LocateFunc's error, wrapped (so errors.Is(err, dbstrategy.ErrNotFound)
// still reports an unknown tenant); an error wrapping [ErrUnknownServer]
// for a server the Router was not given.
func (r *Router) Locate(ctx context.Context, tenantID string) (string, dbstrategy.Strategy, error) {
	if err := dbstrategy.ValidateKey(tenantID); err != nil {
		return "", nil, err
	}
	name, err := r.locate(ctx, tenantID)
	if err != nil {
		return "", nil, fmt.Errorf("placement: locate tenant %q: %w", tenantID, err)
	}
	s, ok := r.servers[name]
	if !ok {
		return "", nil, fmt.Errorf("placement: tenant %q is placed on server %q: %w", tenantID, name, ErrUnknownServer)
	}
	return name, s, nil
}

// Create creates the tenant on the server it is placed on. Record the
// placement first: Create fails with the LocateFunc's error (see
// [Router.Locate]) otherwise. The server's error is returned in a
// *[ServerError].
func (r *Router) Create(ctx context.Context, tenantID string) error {
	name, s, err := r.Locate(ctx, tenantID)
	if err != nil {
		return err
	}
	if err := s.Create(ctx, tenantID); err != nil {
		return &ServerError{Server: name, Err: err}
	}
	return nil
}

// Open opens the tenant's handle on the server it is placed on. Errors are
// those of [Router.Locate], and the server's in a *[ServerError]: both
// wrap [dbstrategy.ErrNotFound] for a tenant that does not exist.
func (r *Router) Open(ctx context.Context, tenantID string) (*sql.DB, error) {
	name, s, err := r.Locate(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	db, err := s.Open(ctx, tenantID)
	if err != nil {
		return nil, &ServerError{Server: name, Err: err}
	}
	return db, nil
}

// Drop drops the tenant on the server it is placed on. It is idempotent: a
// tenant the LocateFunc does not know (an error wrapping
// [dbstrategy.ErrNotFound]) is taken as dropped already, so drop the
// tenant's data before deleting its placement. Other errors are those of
// [Router.Create].
func (r *Router) Drop(ctx context.Context, tenantID string) error {
	name, s, err := r.Locate(ctx, tenantID)
	if errors.Is(err, dbstrategy.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := s.Drop(ctx, tenantID); err != nil {
		return &ServerError{Server: name, Err: err}
	}
	return nil
}

// Dialect returns the servers' dialect.
func (r *Router) Dialect() string { return r.dialect }

// SetConnBudget gives each server a connection budget of n, or the one
// [WithServerBudget] sets for it, through the server's own
// [dbstrategy.ConnBudgeter]: each server enforces its budget alone, so the
// process may hold n connections to every server. It implements
// [dbstrategy.ConnBudgeter]: a [dbstrategy.Manager] given
// [dbstrategy.WithMaxConns](n) calls it once. Servers that hold no server
// connections (neither ConnBudgeters nor ConnLimiters) have no budget, as
// with a Manager alone. It fails, in a *[ServerError], for a server that
// refuses its budget, and for ConnLimiters that are not ConnBudgeters,
// whose budget a Manager enforces over all its handles, which cannot keep
// one server's load from another's budget. Servers before the one that
// failed keep their budget.
func (r *Router) SetConnBudget(n int) error {
	if n < 1 {
		return fmt.Errorf("%w: connection budget %d: must be at least 1", dbstrategy.ErrInvalidConfig, n)
	}
	for _, name := range r.names {
		budget := n
		if b, ok := r.cfg.budgets[name]; ok {
			budget = b
		}
		switch s := r.servers[name].(type) {
		case dbstrategy.ConnBudgeter:
			if err := s.SetConnBudget(budget); err != nil {
				return &ServerError{Server: name, Err: err}
			}
		case dbstrategy.ConnLimiter:
			return &ServerError{Server: name, Err: fmt.Errorf("%w: a dbstrategy.ConnLimiter without dbstrategy.ConnBudgeter cannot have a budget of its own behind a Router", dbstrategy.ErrInvalidConfig)}
		}
	}
	return nil
}

// MaxHandles implements [dbstrategy.HandleLimiter]. A server's limit is
// its own MaxHandles if it is a HandleLimiter, else
// [dbstrategy.DefaultMaxOpen]. When handles hold server connections (the
// servers are ConnBudgeters or ConnLimiters) the limit protects each
// server, and MaxHandles is the sum of the servers' limits: each server
// may have as many handles open as alone. Otherwise a handle costs the
// process (memory, for SQLite), and MaxHandles is the smallest limit.
func (r *Router) MaxHandles() int {
	perServer := r.caps&(capBudgeter|capLimiter) != 0
	total := 0
	for i, name := range r.names {
		limit := dbstrategy.DefaultMaxOpen
		if hl, ok := r.servers[name].(dbstrategy.HandleLimiter); ok {
			limit = hl.MaxHandles()
		}
		switch {
		case perServer:
			total += limit
		case i == 0 || limit < total:
			total = limit
		}
	}
	return max(total, 1)
}

// PrepareTemplate prepares the template of every server that is a
// [dbstrategy.Templater], all at once, and implements Templater for a
// [dbstrategy.Manager]. It fails, returning every server's error in a
// *[ServerError], only if no server succeeded. A server whose template
// failed while others succeeded is logged ([WithLogger]) and left
// unprepared: its strategy creates tenants without the template, and the
// Manager, which migrates every tenant it creates, migrates them. So one
// server that is down does not stop tenants from being created on the
// others.
func (r *Router) PrepareTemplate(ctx context.Context, migrate func(ctx context.Context, db *sql.DB) error) error {
	if r.caps&capTemplater == 0 {
		return nil
	}
	errs := make([]error, len(r.names))
	var wg sync.WaitGroup
	for i, name := range r.names {
		t := r.servers[name].(dbstrategy.Templater)
		wg.Go(func() { // exits when the server's PrepareTemplate returns
			if err := t.PrepareTemplate(ctx, migrate); err != nil {
				errs[i] = &ServerError{Server: name, Err: err}
			}
		})
	}
	wg.Wait()
	failed := 0
	for _, err := range errs {
		if err != nil {
			failed++
			r.cfg.logger.LogAttrs(ctx, slog.LevelWarn, "placement: template not prepared; the server creates tenants without it",
				slog.String("server", err.(*ServerError).Server), slog.Any("error", err))
		}
	}
	if failed == len(errs) {
		return errors.Join(errs...)
	}
	return nil
}

// MigrationLocker implements [dbstrategy.MigrationLocker]. It asks every
// server for its locker, fails (in a *[ServerError]) if one fails, and
// returns the first server's: the lockers of PostgreSQL strategies take
// an advisory lock on the connection goose gives them, whichever server
// it is on. It returns nil, nil when the servers have no locker.
func (r *Router) MigrationLocker() (lock.SessionLocker, error) {
	if r.caps&capLocker == 0 {
		return nil, nil
	}
	return firstOfEvery(r, func(s dbstrategy.Strategy) (lock.SessionLocker, error) {
		return s.(dbstrategy.MigrationLocker).MigrationLocker()
	})
}

// MigrationStore implements [dbstrategy.MigrationStorer]. It asks every
// server for its store, fails (in a *[ServerError]) if one fails, and
// returns the first server's. It returns nil, nil when the servers have
// no store of their own: the Manager then uses goose's for the dialect.
func (r *Router) MigrationStore() (database.Store, error) {
	if r.caps&capStorer == 0 {
		return nil, nil
	}
	return firstOfEvery(r, func(s dbstrategy.Strategy) (database.Store, error) {
		return s.(dbstrategy.MigrationStorer).MigrationStore()
	})
}

// firstOfEvery calls get on every server, in name order, and returns the
// first server's value, or the first error in a *[ServerError].
func firstOfEvery[T any](r *Router, get func(dbstrategy.Strategy) (T, error)) (T, error) {
	var first T
	for i, name := range r.names {
		v, err := get(r.servers[name])
		if err != nil {
			var zero T
			return zero, &ServerError{Server: name, Err: err}
		}
		if i == 0 {
			first = v
		}
	}
	return first, nil
}

// Open is [Router.Open], remembering which server opened the handle, for
// [PinnedRouter.PinConn].
func (r *PinnedRouter) Open(ctx context.Context, tenantID string) (*sql.DB, error) {
	name, s, err := r.Locate(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	db, err := s.Open(ctx, tenantID)
	if err != nil {
		return nil, &ServerError{Server: name, Err: err}
	}
	key := weak.Make(db)
	r.mu.Lock()
	r.handles[key] = name
	r.mu.Unlock()
	runtime.AddCleanup(db, func(key weak.Pointer[sql.DB]) {
		r.mu.Lock()
		delete(r.handles, key)
		r.mu.Unlock()
	}, key)
	return db, nil
}

// PinConn implements [dbstrategy.ConnPinner]: it calls the PinConn of the
// server whose strategy opened db, a handle returned by
// [PinnedRouter.Open].
func (r *PinnedRouter) PinConn(ctx context.Context, db *sql.DB) (*sql.Conn, error) {
	r.mu.Lock()
	name, ok := r.handles[weak.Make(db)]
	r.mu.Unlock()
	if !ok {
		return nil, errors.New("placement: PinConn: the handle was not opened by this router")
	}
	return r.servers[name].(dbstrategy.ConnPinner).PinConn(ctx, db)
}
