package dbstrategy

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/pressly/goose/v3"
	"golang.org/x/sync/errgroup"
)

// provider returns a goose provider over db. Never call its Close: it would
// close db, which the Manager (or a Templater) owns.
func (m *Manager) provider(db *sql.DB) (*goose.Provider, error) {
	opts := []goose.ProviderOption{
		goose.WithDisableGlobalRegistry(true),
		goose.WithSlog(m.cfg.logger),
	}
	if m.locker != nil {
		opts = append(opts, goose.WithSessionLocker(m.locker))
	}
	if m.store != nil {
		return goose.NewProvider(goose.DialectCustom, db, m.migrations, append(opts, goose.WithStore(m.store))...)
	}
	return goose.NewProvider(goose.Dialect(m.dialect), db, m.migrations, opts...)
}

// checkProvider builds a goose provider over a handle that never connects,
// so that goose's own configuration errors (dialect, migration files)
// surface at NewManager rather than at the first Create or Migrate, and
// records the newest migration's version.
func (m *Manager) checkProvider() error {
	db := sql.OpenDB(noConnector{})
	defer db.Close()
	p, err := m.provider(db)
	if err != nil {
		return fmt.Errorf("%w: WithMigrations: goose: %w", ErrInvalidConfig, err)
	}
	if src := p.ListSources(); len(src) > 0 {
		m.target = src[len(src)-1].Version
	}
	return nil
}

// noConnector is a driver.Connector that never connects.
type noConnector struct{}

func (noConnector) Connect(context.Context) (driver.Conn, error) {
	return nil, errors.New("dbstrategy: no database")
}

func (noConnector) Driver() driver.Driver { return noDriver{} }

type noDriver struct{}

func (noDriver) Open(string) (driver.Conn, error) { return nil, errors.New("dbstrategy: no database") }

// migrateDB applies the migrations to db. It is also the function handed to
// [Templater.PrepareTemplate].
func (m *Manager) migrateDB(ctx context.Context, db *sql.DB) error {
	if db == nil {
		return errors.New("dbstrategy: migrate: nil *sql.DB")
	}
	p, err := m.provider(db)
	if err != nil {
		return err
	}
	_, err = p.Up(ctx)
	return err
}

// Create makes the tenant's database, idempotently, and, when migrations are
// configured, migrates it as [Manager.Migrate] does. If the strategy is a
// [Templater] and migrations are configured, the template is prepared
// first (once per Manager; a failure is retried by the next Create). With
// [WithSpares], Create first claims a ready spare, already migrated, and
// returns; it makes and migrates the database itself only when none is.
// Create, Migrate and Drop of one tenant never overlap in a Manager.
//
// Errors: [ErrInvalidKey]; [ErrClosed]; the strategy's error, wrapped; a
// *[MigrateError].
func (m *Manager) Create(ctx context.Context, tenantID string) error {
	if err := ValidateKey(tenantID); err != nil {
		return err
	}
	unlock, err := m.lockTenant(ctx, tenantID)
	if err != nil {
		return err
	}
	defer unlock()
	if err := m.prepareTemplate(ctx); err != nil {
		return err
	}
	if m.claimSpare(ctx, tenantID) {
		// Made and migrated to m.target ahead of time: nothing to migrate.
		m.cfg.logger.LogAttrs(ctx, slog.LevelDebug, "tenant database created from a spare", slog.String("tenant", tenantID))
		return nil
	}
	if err := m.s.Create(ctx, tenantID); err != nil {
		return fmt.Errorf("dbstrategy: create tenant %q: %w", tenantID, err)
	}
	m.cfg.logger.LogAttrs(ctx, slog.LevelDebug, "tenant database created", slog.String("tenant", tenantID))
	if m.migrations == nil {
		return nil
	}
	_, err = m.migrateLocked(ctx, tenantID)
	return err
}

// prepareTemplate calls the Templater hook until it succeeds once.
func (m *Manager) prepareTemplate(ctx context.Context) error {
	t, ok := m.s.(Templater)
	if !ok || m.migrations == nil || m.tmplReady.Load() {
		return nil
	}
	select {
	case m.tmplSem <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("dbstrategy: waiting for the template: %w", ctx.Err())
	}
	defer func() { <-m.tmplSem }()
	if m.tmplReady.Load() {
		return nil
	}
	if err := t.PrepareTemplate(ctx, m.migrateDB); err != nil {
		return fmt.Errorf("dbstrategy: prepare template: %w", err)
	}
	m.tmplReady.Store(true)
	return nil
}

// Migrate applies the pending migrations to the tenant's database under a
// lease of its handle (goose up). Migrations of one tenant never overlap in
// a Manager; on PostgreSQL a session advisory lock in the tenant's database
// also serializes them across processes. Without [WithMigrations], Migrate
// only checks the key and returns nil.
//
// Errors: [ErrInvalidKey]; [ErrClosed]; a *[MigrateError] for everything
// else, wrapping for example [ErrNotFound] or goose's *goose.PartialError.
func (m *Manager) Migrate(ctx context.Context, tenantID string) error {
	_, err := m.migrate(ctx, tenantID)
	return err
}

// migrate is Migrate, also returning the version the tenant is at after
// it: the newest migration, or higher if a newer binary migrated it.
func (m *Manager) migrate(ctx context.Context, tenantID string) (int64, error) {
	if err := ValidateKey(tenantID); err != nil {
		return 0, err
	}
	if m.migrations == nil {
		if m.isClosed() {
			return 0, ErrClosed
		}
		return 0, nil
	}
	unlock, err := m.lockTenant(ctx, tenantID)
	if err != nil {
		return 0, err
	}
	defer unlock()
	return m.migrateLocked(ctx, tenantID)
}

// migrateLocked migrates a tenant whose tenant lock the caller holds, and
// returns the version it is at afterwards. It counts the outcome in Stats.
func (m *Manager) migrateLocked(ctx context.Context, id string) (int64, error) {
	v, err := m.migrateTenant(ctx, id)
	if err != nil {
		m.migrateFailed.Add(1)
	} else {
		m.migrated.Add(1)
	}
	return v, err
}

func (m *Manager) migrateTenant(ctx context.Context, id string) (int64, error) {
	l, err := m.lease(ctx, id) // goose needs the handle, not one connection
	if err != nil {
		if errors.Is(err, ErrClosed) {
			return 0, err
		}
		return 0, &MigrateError{TenantID: id, Err: err}
	}
	defer l.Release()
	start := time.Now()
	p, err := m.provider(l.c.db)
	if err != nil {
		return 0, &MigrateError{TenantID: id, Err: err}
	}
	res, err := p.Up(ctx)
	if err != nil {
		return 0, &MigrateError{TenantID: id, Err: err}
	}
	if len(res) > 0 {
		m.cfg.logger.LogAttrs(ctx, slog.LevelInfo, "tenant migrated",
			slog.String("tenant", id), slog.Int("applied", len(res)),
			slog.Int64("version", res[len(res)-1].Source.Version), slog.Duration("took", time.Since(start)))
	}
	v, err := p.GetDBVersion(ctx)
	if err != nil {
		return 0, &MigrateError{TenantID: id, Err: err}
	}
	if v >= m.target {
		l.h.current.Store(true) // its leases need no check
	}
	return v, nil
}

// DefaultMigrateParallel is how many tenants [Manager.MigrateAll] migrates
// at once when [MigrateAllOptions.Parallel] is 0.
const DefaultMigrateParallel = 4

// MigrateAllOptions tunes [Manager.MigrateAll]. The zero value is valid.
type MigrateAllOptions struct {
	// Parallel is the most tenants migrated at once. 0 means
	// [DefaultMigrateParallel]; a negative value is invalid (every tenant
	// then gets an error wrapping [ErrInvalidConfig]). Each running
	// migration holds a lease, so a Parallel above the handle limit only
	// makes tenants wait for one another.
	Parallel int

	// Progress, if not nil, is called once per tenant as soon as that
	// tenant is done, with the schema version the tenant is at (the newest
	// migration, or higher if a newer binary migrated it; 0 on error) and
	// its error. Calls never overlap, so Progress needs no locking of its
	// own, but it should return quickly and must not call the Manager.
	Progress func(tenantID string, version int64, err error)
}

// MigrateAll migrates every tenant of tenantIDs, at most opts.Parallel at a
// time, and returns one error per tenant, in the order of tenantIDs: nil
// where [Manager.Migrate] succeeded. One tenant's failure does not stop the
// others; when ctx ends, the tenants not yet started get ctx's error.
// Running it again resumes: migrated tenants have nothing pending.
func (m *Manager) MigrateAll(ctx context.Context, tenantIDs []string, opts MigrateAllOptions) []error {
	errs := make([]error, len(tenantIDs))
	var mu sync.Mutex // serializes Progress calls
	report := func(i int, v int64) {
		if opts.Progress != nil {
			mu.Lock()
			defer mu.Unlock()
			opts.Progress(tenantIDs[i], v, errs[i])
		}
	}
	parallel := opts.Parallel
	switch {
	case parallel < 0:
		for i := range tenantIDs {
			errs[i] = &MigrateError{TenantID: tenantIDs[i],
				Err: fmt.Errorf("%w: MigrateAllOptions.Parallel %d is negative", ErrInvalidConfig, parallel)}
			report(i, 0)
		}
		return errs
	case parallel == 0:
		parallel = DefaultMigrateParallel
	}
	// Not errgroup.WithContext: one tenant's failure must not cancel the
	// others. Every goroutine returns when its tenant's migration does.
	var g errgroup.Group
	g.SetLimit(parallel)
	for i, id := range tenantIDs {
		if err := ctx.Err(); err != nil {
			errs[i] = &MigrateError{TenantID: id, Err: err}
			report(i, 0)
			continue
		}
		g.Go(func() error {
			var v int64
			v, errs[i] = m.migrate(ctx, id)
			report(i, v)
			return nil
		})
	}
	_ = g.Wait() // the goroutines return nil: the errors are per tenant
	return errs
}

// Version returns the tenant's current goose version: the highest applied
// migration, 0 if none. It runs under a lease of the tenant's handle, and
// creates goose's version table if the tenant has none yet.
//
// Errors: [ErrInvalidKey]; [ErrClosed]; [ErrNoMigrations] without
// [WithMigrations]; an error wrapping [ErrNotFound] or the database's error.
func (m *Manager) Version(ctx context.Context, tenantID string) (int64, error) {
	if err := ValidateKey(tenantID); err != nil {
		return 0, err
	}
	if m.migrations == nil {
		if m.isClosed() {
			return 0, ErrClosed
		}
		return 0, ErrNoMigrations
	}
	l, err := m.lease(ctx, tenantID)
	if err != nil {
		return 0, err
	}
	defer l.Release()
	p, err := m.provider(l.c.db)
	if err != nil {
		return 0, fmt.Errorf("dbstrategy: version of %q: %w", tenantID, err)
	}
	v, err := p.GetDBVersion(ctx)
	if err != nil {
		return 0, fmt.Errorf("dbstrategy: version of %q: %w", tenantID, err)
	}
	return v, nil
}

func (m *Manager) isClosed() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.closed
}
