package registry_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tenantkit/tenantkit/dbstrategy"
	"github.com/tenantkit/tenantkit/tenancy"
	"github.com/tenantkit/tenantkit/tenancy/registry"
)

// fixture is a Registry on a Memory store and a Manager on SQLite files.
type fixture struct {
	dir     string
	store   *registry.Memory
	dbs     *dbstrategy.Manager
	reg     *registry.Registry
	mu      sync.Mutex
	changes []registry.Change // reported by WithOnChange
}

func newFixture(t *testing.T, opts ...registry.Option) *fixture {
	t.Helper()
	f := &fixture{dir: t.TempDir(), store: newMemory(t)}
	f.dbs = newManager(t, f.dir, tenantMigrations(2))
	opts = append([]registry.Option{registry.WithOnChange(func(c registry.Change) {
		f.mu.Lock()
		f.changes = append(f.changes, c)
		f.mu.Unlock()
	})}, opts...)
	var err error
	if f.reg, err = registry.New(f.store, f.dbs, opts...); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) reported() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.changes {
		out = append(out, c.ID+":"+string(c.Status))
	}
	return out
}

func (f *fixture) status(t *testing.T, id string) tenancy.Status {
	t.Helper()
	rec, err := f.store.Get(context.Background(), id)
	if errors.Is(err, registry.ErrNotFound) {
		return "gone"
	}
	if err != nil {
		t.Fatal(err)
	}
	return rec.Status
}

func TestCreate(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the lifecycle runs detached from the caller's cancellation... but Insert does not
	if _, err := f.reg.Create(ctx, registry.Record{ID: "1", Slug: "acme"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Create(canceled ctx) error = %v; want context.Canceled from the insert", err)
	}
	rec, err := f.reg.Create(context.Background(), registry.Record{ID: "1", Slug: "acme"})
	if err != nil {
		t.Fatalf("Create() error = %v", err)
	}
	if rec.Status != tenancy.StatusActive || rec.Version != 2 || rec.Slug != "acme" {
		t.Errorf("Create() = %+v; want active at version 2", rec)
	}
	if got, err := f.dbs.Version(context.Background(), "1"); got != 2 || err != nil {
		t.Errorf("database version = %d, %v; want 2", got, err)
	}
	if got := strings.Join(f.reported(), " "); got != "1:provisioning 1:active" {
		t.Errorf("OnChange saw %q; want provisioning then active", got)
	}
	if _, err := f.reg.Create(context.Background(), registry.Record{ID: "2", Slug: "acme"}); !errors.Is(err, registry.ErrExists) {
		t.Errorf("Create(taken slug) error = %v; want ErrExists", err)
	}
	if tenantFile(t, f.dir, "2") {
		t.Errorf("a refused Create made a database")
	}
	if _, err := f.reg.Create(context.Background(), registry.Record{ID: "3", Status: tenancy.StatusActive}); !errors.Is(err, registry.ErrInvalidRecord) {
		t.Errorf("Create(active) error = %v; want ErrInvalidRecord", err)
	}
}

func TestCreateCallerCanceled(t *testing.T) {
	// The caller going away after the insert does not stop provisioning.
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	reg, err := registry.New(f.store, provisionerFunc{
		create: func(c context.Context, id string) error {
			cancel()
			if c.Err() != nil {
				return c.Err()
			}
			return f.dbs.Create(c, id)
		},
		drop: f.dbs.Drop,
	})
	if err != nil {
		t.Fatal(err)
	}
	if rec, err := reg.Create(ctx, registry.Record{ID: "1"}); err != nil || rec.Status != tenancy.StatusActive {
		t.Fatalf("Create() = %+v, %v; want active although the caller's context ended", rec, err)
	}
}

// provisionerFunc makes a Provisioner of two functions.
type provisionerFunc struct {
	create, drop func(ctx context.Context, id string) error
}

func (p provisionerFunc) Create(ctx context.Context, id string) error { return p.create(ctx, id) }
func (p provisionerFunc) Drop(ctx context.Context, id string) error   { return p.drop(ctx, id) }

func TestCreateFailureUndone(t *testing.T) {
	f := newFixture(t)
	bad := newManager(t, f.dir, badMigrations)
	reg, err := registry.New(f.store, bad, registry.WithOnChange(func(c registry.Change) {
		f.mu.Lock()
		f.changes = append(f.changes, c)
		f.mu.Unlock()
	}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = reg.Create(context.Background(), registry.Record{ID: "1", Slug: "acme"})
	var merr *dbstrategy.MigrateError
	if !errors.As(err, &merr) || !strings.Contains(err.Error(), `"1"`) || !strings.Contains(err.Error(), "undone") {
		t.Fatalf("Create() error = %v; want a *MigrateError naming the tenant and saying it was undone", err)
	}
	if st := f.status(t, "1"); st != "gone" {
		t.Errorf("after a failed Create the record is %s; want gone", st)
	}
	if tenantFile(t, f.dir, "1") {
		t.Errorf("after a failed Create the database is still there")
	}
	if got := strings.Join(f.reported(), " "); got != "1:provisioning 1:deleting 1:deleted" {
		t.Errorf("OnChange saw %q", got)
	}
	// The slug is free again.
	if _, err := f.reg.Create(context.Background(), registry.Record{ID: "2", Slug: "acme"}); err != nil {
		t.Errorf("Create() after the undo error = %v", err)
	}
}

func TestCreateUndoFails(t *testing.T) {
	// Neither create nor drop works: the record is left provisioning, as a
	// crash would have left it, and a later Reconcile with a working
	// provisioner provisions it.
	f := newFixture(t)
	boom := errors.New("server down")
	reg, err := registry.New(f.store, provisionerFunc{
		create: func(context.Context, string) error { return boom },
		drop:   func(context.Context, string) error { return boom },
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = reg.Create(context.Background(), registry.Record{ID: "1"})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "undo failed") {
		t.Fatalf("Create() error = %v; want the cause and that the undo failed", err)
	}
	if st := f.status(t, "1"); st != tenancy.StatusProvisioning {
		t.Fatalf("record is %s; want provisioning", st)
	}
	if err := f.reg.Reconcile(context.Background()); err != nil {
		t.Fatalf("Reconcile() error = %v", err)
	}
	if st := f.status(t, "1"); st != tenancy.StatusActive {
		t.Errorf("after Reconcile the record is %s; want active", st)
	}
}

func TestReconcile(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	// A crash after the insert: provisioning, no database.
	insert(t, f.store, "p", "", tenancy.StatusProvisioning)
	// A crash after the database was made, before the record was marked
	// active.
	insert(t, f.store, "q", "", tenancy.StatusProvisioning)
	if err := f.dbs.Create(ctx, "q"); err != nil {
		t.Fatal(err)
	}
	// A crash while deleting: the database still there.
	if _, err := f.reg.Create(ctx, registry.Record{ID: "d"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.SetStatus(ctx, "d", tenancy.StatusActive, tenancy.StatusDeleting); err != nil {
		t.Fatal(err)
	}
	// A crash after the drop, before the record was removed.
	insert(t, f.store, "e", "", tenancy.StatusDeleting)

	if err := f.reg.Reconcile(ctx); err != nil {
		t.Fatalf("Reconcile() error = %v", err)
	}
	for id, want := range map[string]tenancy.Status{"p": tenancy.StatusActive, "q": tenancy.StatusActive, "d": "gone", "e": "gone"} {
		if st := f.status(t, id); st != want {
			t.Errorf("after Reconcile, %s is %s; want %s", id, st, want)
		}
		if tenantFile(t, f.dir, id) != (want == tenancy.StatusActive) {
			t.Errorf("after Reconcile, database of %s exists = %v; want %v", id, !(want == tenancy.StatusActive), want == tenancy.StatusActive)
		}
	}
	if rec, _ := f.store.Get(ctx, "p"); rec.Version != 2 {
		t.Errorf("reconciled tenant version = %d; want 2", rec.Version)
	}
}

func TestReconcileConcurrent(t *testing.T) {
	// Two processes (two Managers on the same files, one Store) reconcile
	// the same crashed tenants at once.
	f := newFixture(t)
	ctx := context.Background()
	other, err := registry.New(f.store, newManager(t, f.dir, tenantMigrations(2)))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "b", "c", "d"} {
		insert(t, f.store, id, "", tenancy.StatusProvisioning)
	}
	for _, id := range []string{"x", "y"} {
		if err := f.dbs.Create(ctx, id); err != nil {
			t.Fatal(err)
		}
		insert(t, f.store, id, "", tenancy.StatusDeleting)
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, r := range []*registry.Registry{f.reg, other} {
		wg.Go(func() { errs[i] = r.Reconcile(ctx) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Reconcile %d error = %v", i, err)
		}
	}
	for _, id := range []string{"a", "b", "c", "d"} {
		if st := f.status(t, id); st != tenancy.StatusActive || !tenantFile(t, f.dir, id) {
			t.Errorf("%s is %s (database %v); want active with its database", id, st, tenantFile(t, f.dir, id))
		}
	}
	for _, id := range []string{"x", "y"} {
		if st := f.status(t, id); st != "gone" || tenantFile(t, f.dir, id) {
			t.Errorf("%s is %s (database %v); want gone", id, st, tenantFile(t, f.dir, id))
		}
	}
}

func TestProvision(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	insert(t, f.store, "1", "acme", tenancy.StatusProvisioning)
	for range 2 { // the second finds it active
		rec, err := f.reg.Provision(ctx, "1")
		if err != nil || rec.Status != tenancy.StatusActive {
			t.Fatalf("Provision() = %+v, %v; want active", rec, err)
		}
	}
	insert(t, f.store, "2", "", tenancy.StatusSuspended)
	if _, err := f.reg.Provision(ctx, "2"); !errors.Is(err, registry.ErrWrongStatus) {
		t.Errorf("Provision(suspended) error = %v; want ErrWrongStatus", err)
	}
	if _, err := f.reg.Provision(ctx, "3"); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("Provision(missing) error = %v; want ErrNotFound", err)
	}
}

func TestSuspendResume(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.reg.Create(ctx, registry.Record{ID: "1"}); err != nil {
		t.Fatal(err)
	}
	insert(t, f.store, "p", "", tenancy.StatusProvisioning)
	steps := []struct {
		name    string
		do      func(context.Context, string) (registry.Record, error)
		id      string
		wantErr error
		want    tenancy.Status
	}{
		{"resume active", f.reg.Resume, "1", registry.ErrWrongStatus, tenancy.StatusActive},
		{"suspend", f.reg.Suspend, "1", nil, tenancy.StatusSuspended},
		{"suspend again", f.reg.Suspend, "1", registry.ErrWrongStatus, tenancy.StatusSuspended},
		{"resume", f.reg.Resume, "1", nil, tenancy.StatusActive},
		{"suspend provisioning", f.reg.Suspend, "p", registry.ErrWrongStatus, tenancy.StatusProvisioning},
		{"suspend missing", f.reg.Suspend, "zz", registry.ErrNotFound, "gone"},
	}
	for _, st := range steps {
		_, err := st.do(ctx, st.id)
		if !errors.Is(err, st.wantErr) || (st.wantErr == nil) != (err == nil) {
			t.Errorf("%s: error = %v; want %v", st.name, err, st.wantErr)
		}
		if got := f.status(t, st.id); got != st.want {
			t.Errorf("%s: status = %s; want %s", st.name, got, st.want)
		}
	}
	if err := tenancy.CheckStatus(registry.Record{ID: "1", Status: tenancy.StatusSuspended}.Tenant()); !errors.Is(err, tenancy.ErrTenantSuspended) {
		t.Errorf("CheckStatus(suspended) = %v", err)
	}
}

func TestDelete(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for _, id := range []string{"1", "2"} {
		if _, err := f.reg.Create(ctx, registry.Record{ID: id, Slug: "s" + id}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.reg.Suspend(ctx, "2"); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"1", "2", "1", "never"} {
		if err := f.reg.Delete(ctx, id); err != nil {
			t.Errorf("Delete(%s) error = %v", id, err)
		}
	}
	for _, id := range []string{"1", "2"} {
		if st := f.status(t, id); st != "gone" || tenantFile(t, f.dir, id) {
			t.Errorf("after Delete, %s is %s, database %v; want both gone", id, st, tenantFile(t, f.dir, id))
		}
	}
	if _, err := f.dbs.Acquire(ctx, "1"); !errors.Is(err, dbstrategy.ErrNotFound) {
		t.Errorf("Acquire(deleted) error = %v; want dbstrategy.ErrNotFound", err)
	}
}

func TestDeleteWhileProvisioning(t *testing.T) {
	// Delete runs while Create is creating the database: Create fails, and
	// nothing is left.
	f := newFixture(t)
	ctx := context.Background()
	entered, release := make(chan struct{}), make(chan struct{})
	reg, err := registry.New(f.store, provisionerFunc{
		create: func(ctx context.Context, id string) error {
			close(entered)
			<-release
			return f.dbs.Create(ctx, id)
		},
		drop: f.dbs.Drop,
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := reg.Create(ctx, registry.Record{ID: "1"}); done <- err }()
	<-entered
	if err := f.reg.Delete(ctx, "1"); err != nil {
		t.Fatalf("Delete() error = %v", err)
	}
	close(release)
	if err := <-done; err == nil || !strings.Contains(err.Error(), "deleted") {
		t.Errorf("Create() error = %v; want one saying the tenant was deleted", err)
	}
	if st := f.status(t, "1"); st != "gone" || tenantFile(t, f.dir, "1") {
		t.Errorf("after all, the record is %s and the database exists = %v; want nothing left", st, tenantFile(t, f.dir, "1"))
	}
}

func TestWithTimeout(t *testing.T) {
	f := newFixture(t)
	reg, err := registry.New(f.store, provisionerFunc{
		create: func(ctx context.Context, id string) error { <-ctx.Done(); return ctx.Err() },
		drop:   func(ctx context.Context, id string) error { return nil },
	}, registry.WithTimeout(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := reg.Create(context.Background(), registry.Record{ID: "1"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Create() error = %v; want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Create() took %v; want about the 50ms timeout", d)
	}
}

func TestNewErrors(t *testing.T) {
	s := newMemory(t)
	p := provisionerFunc{}
	tests := []struct {
		name string
		err  error
	}{
		{"nil store", func() error { _, err := registry.New(nil, p); return err }()},
		{"nil provisioner", func() error { _, err := registry.New(s, nil); return err }()},
		{"nil option", func() error { _, err := registry.New(s, p, nil); return err }()},
		{"zero timeout", func() error { _, err := registry.New(s, p, registry.WithTimeout(0)); return err }()},
		{"nil lookup store", func() error { _, err := registry.NewLookup(nil, registry.ByID); return err }()},
		{"bad LookupBy", func() error { _, err := registry.NewLookup(s, 7); return err }()},
		{"OpenSQL nil", func() error { _, err := registry.OpenSQL(context.Background(), nil, "sqlite3"); return err }()},
		{"OpenSQL dialect", func() error {
			_, err := registry.OpenSQL(context.Background(), openDB(t, "sqlite3", sqliteDSN(t)), "mysql")
			return err
		}()},
		{"Watch nil fn", registry.Watch(context.Background(), s, nil)},
		{"Watch poll", registry.Watch(context.Background(), s, func(registry.Change) {}, registry.WithPollInterval(0))},
		{"MigrateAll nil", registry.MigrateAll(context.Background(), s, nil, registry.MigrateOptions{})},
	}
	for _, tt := range tests {
		if !errors.Is(tt.err, registry.ErrInvalidConfig) {
			t.Errorf("%s: error = %v; want ErrInvalidConfig", tt.name, tt.err)
		}
	}
}

func TestLookupBehindCache(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	lookup, err := registry.NewLookup(f.store, registry.ByIDOrSlug)
	if err != nil {
		t.Fatal(err)
	}
	cache, err := tenancy.NewCache(lookup, tenancy.WithTTL(time.Hour), tenancy.WithNegativeTTL(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	reg, err := registry.New(f.store, f.dbs, registry.WithOnChange(func(c registry.Change) { cache.Invalidate(c.ID, c.Slug) }))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cache.Lookup(ctx, "acme"); !errors.Is(err, tenancy.ErrUnknownTenant) {
		t.Fatalf("Lookup(unknown) error = %v; want ErrUnknownTenant", err)
	}
	if _, err := reg.Create(ctx, registry.Record{ID: "7", Slug: "acme"}); err != nil {
		t.Fatal(err)
	}
	for _, hint := range []string{"acme", "7"} {
		got, err := cache.Lookup(ctx, hint)
		if want := (tenancy.Tenant{ID: "7", Slug: "acme", Status: tenancy.StatusActive}); err != nil || got != want {
			t.Errorf("Lookup(%q) = %+v, %v; want %+v (the negative entry invalidated)", hint, got, err, want)
		}
	}
	if _, err := reg.Suspend(ctx, "7"); err != nil {
		t.Fatal(err)
	}
	if got, _ := cache.Lookup(ctx, "acme"); got.Status != tenancy.StatusSuspended {
		t.Errorf("after Suspend, Lookup status = %s; want suspended", got.Status)
	}
	if err := reg.Delete(ctx, "7"); err != nil {
		t.Fatal(err)
	}
	if _, err := cache.Lookup(ctx, "7"); !errors.Is(err, tenancy.ErrUnknownTenant) {
		t.Errorf("after Delete, Lookup error = %v; want ErrUnknownTenant", err)
	}

	byID, _ := registry.NewLookup(f.store, registry.ByID)
	bySlug, _ := registry.NewLookup(f.store, registry.BySlug)
	insert(t, f.store, "8", "beta", tenancy.StatusActive)
	for _, tt := range []struct {
		l    *registry.Lookup
		hint string
		ok   bool
	}{{byID, "8", true}, {byID, "beta", false}, {bySlug, "beta", true}, {bySlug, "8", false}} {
		_, err := tt.l.Lookup(ctx, tt.hint)
		if (err == nil) != tt.ok || err != nil && !errors.Is(err, tenancy.ErrUnknownTenant) {
			t.Errorf("Lookup(%q) error = %v; want found %v", tt.hint, err, tt.ok)
		}
	}
}
