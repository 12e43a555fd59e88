package pgstrategy_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tenantkit/tenantkit/dbstrategy/pgstrategy"
)

// migration counts its calls and the calls running at once, and creates
// the table notes.
type migration struct {
	calls, running, peak atomic.Int32
}

func (m *migration) migrate(ctx context.Context, db *sql.DB) error {
	n := m.running.Add(1)
	defer m.running.Add(-1)
	for {
		p := m.peak.Load()
		if n <= p || m.peak.CompareAndSwap(p, n) {
			break
		}
	}
	m.calls.Add(1)
	// Two statements on two connections at once, as goose does with its lock.
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SELECT 1"); err != nil {
		return err
	}
	_, err = db.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS notes (id bigserial PRIMARY KEY, body text NOT NULL)")
	return err
}

// hasNotes reports whether the tenant's database has the table notes, and
// that it works.
func hasNotes(t *testing.T, s *pgstrategy.Strategy, key string) bool {
	t.Helper()
	ctx := context.Background()
	db, err := s.Open(ctx, key)
	if err != nil {
		t.Fatalf("Open(%q) error = %v", key, err)
	}
	defer db.Close()
	var table sql.NullString
	if err := db.QueryRowContext(ctx, "SELECT to_regclass('notes')::text").Scan(&table); err != nil {
		t.Fatalf("tenant %q: to_regclass: %v", key, err)
	}
	if !table.Valid {
		return false
	}
	if _, err := db.ExecContext(ctx, "INSERT INTO notes (body) VALUES ('hello')"); err != nil {
		t.Errorf("tenant %q: insert into notes: %v", key, err)
	}
	return true
}

func TestPrepareTemplate(t *testing.T) {
	s := newStrategy(t, pgstrategy.Config{})
	ctx := context.Background()

	if err := s.Create(ctx, "before"); err != nil {
		t.Fatalf("Create() error = %v", err)
	}
	if hasNotes(t, s, "before") {
		t.Error("tenant created before PrepareTemplate has table notes; want an empty database")
	}

	var m migration
	if err := s.PrepareTemplate(ctx, m.migrate); err != nil {
		t.Fatalf("PrepareTemplate() error = %v", err)
	}
	name, _ := s.DatabaseName("x")
	template := strings.TrimSuffix(name, "x") + "$template"
	admin := adminConn(t)
	if !databaseExists(t, admin, template) {
		t.Fatalf("template %q missing after PrepareTemplate", template)
	}
	for _, key := range []string{"t1", "t2"} {
		if err := s.Create(ctx, key); err != nil {
			t.Fatalf("Create(%q) error = %v", key, err)
		}
		if !hasNotes(t, s, key) {
			t.Errorf("tenant %q created from the template lacks table notes", key)
		}
	}

	// Again, as after adding migrations: the existing template is migrated.
	if err := s.PrepareTemplate(ctx, m.migrate); err != nil {
		t.Fatalf("PrepareTemplate() second call error = %v", err)
	}
	if err := s.Create(ctx, "t3"); err != nil {
		t.Fatalf("Create() after the second PrepareTemplate error = %v", err)
	}
	if !hasNotes(t, s, "t3") {
		t.Error("tenant t3 lacks table notes")
	}
	if got := m.calls.Load(); got != 2 {
		t.Errorf("migrate calls = %d; want 2 (one per PrepareTemplate, none per Create)", got)
	}
}

func TestPrepareTemplateNilMigrate(t *testing.T) {
	s := newStrategy(t, pgstrategy.Config{})
	ctx := context.Background()
	if err := s.PrepareTemplate(ctx, nil); err != nil {
		t.Fatalf("PrepareTemplate(nil) error = %v", err)
	}
	if err := s.Create(ctx, "acme"); err != nil {
		t.Fatalf("Create() error = %v", err)
	}
	if hasNotes(t, s, "acme") {
		t.Error("tenant has table notes; want an empty database")
	}
}

func TestPrepareTemplateError(t *testing.T) {
	s := newStrategy(t, pgstrategy.Config{})
	ctx := context.Background()
	errMigrate := errors.New("migration 3 failed")
	err := s.PrepareTemplate(ctx, func(ctx context.Context, db *sql.DB) error {
		if _, err := db.ExecContext(ctx, "CREATE TABLE notes (body text)"); err != nil {
			return err
		}
		return errMigrate
	})
	if !errors.Is(err, errMigrate) {
		t.Fatalf("PrepareTemplate() error = %v; want %v", err, errMigrate)
	}
	// The template is not used until a PrepareTemplate succeeds.
	if err := s.Create(ctx, "acme"); err != nil {
		t.Fatalf("Create() error = %v", err)
	}
	if hasNotes(t, s, "acme") {
		t.Error("tenant created after a failed PrepareTemplate has table notes; want an empty database")
	}
	// A retry succeeds on the half-migrated template.
	var m migration
	if err := s.PrepareTemplate(ctx, m.migrate); err != nil {
		t.Fatalf("PrepareTemplate() retry error = %v", err)
	}
	if err := s.Create(ctx, "after"); err != nil {
		t.Fatalf("Create() error = %v", err)
	}
	if !hasNotes(t, s, "after") {
		t.Error("tenant created after the retry lacks table notes")
	}
}

func TestPrepareTemplateConcurrent(t *testing.T) {
	// Two strategies on one prefix stand for two processes: their template
	// migrations never overlap, and tenants copied meanwhile never fail
	// because someone is connected to the template.
	s1 := newStrategy(t, pgstrategy.Config{})
	name, _ := s1.DatabaseName("x")
	s2 := newStrategy(t, pgstrategy.Config{Prefix: strings.TrimSuffix(name, "x")})
	ctx := context.Background()
	var m migration
	if err := s1.PrepareTemplate(ctx, m.migrate); err != nil {
		t.Fatalf("PrepareTemplate() error = %v", err)
	}

	const rounds = 3
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	record := func(err error) {
		if err != nil {
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		}
	}
	for _, s := range []*pgstrategy.Strategy{s1, s2, s2} {
		wg.Go(func() {
			for range rounds {
				record(s.PrepareTemplate(ctx, m.migrate))
			}
		})
	}
	keys := []string{"c1", "c2", "c3", "c4"}
	for _, key := range keys {
		wg.Go(func() { record(s1.Create(ctx, key)) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("concurrent PrepareTemplate and Create: %v", err)
	}
	if got := m.peak.Load(); got != 1 {
		t.Errorf("migrations running at once, at most = %d; want 1", got)
	}
	if got, want := m.calls.Load(), int32(1+3*rounds); got != want {
		t.Errorf("migrate calls = %d; want %d", got, want)
	}
	for _, key := range keys {
		if !hasNotes(t, s1, key) {
			t.Errorf("tenant %q lacks table notes", key)
		}
	}
}

func TestCreateWaitsForTemplate(t *testing.T) {
	// A Create that gives up while PrepareTemplate holds the template
	// returns its context's error and leaves the strategy usable.
	s := newStrategy(t, pgstrategy.Config{})
	ctx := context.Background()
	if err := s.PrepareTemplate(ctx, nil); err != nil {
		t.Fatalf("PrepareTemplate() error = %v", err)
	}
	started, release := make(chan struct{}), make(chan struct{})
	prepared := make(chan error, 1)
	go func() {
		prepared <- s.PrepareTemplate(ctx, func(context.Context, *sql.DB) error {
			close(started)
			<-release
			return nil
		})
	}()
	<-started

	cctx, cancel := context.WithCancel(ctx)
	created := make(chan error, 1)
	go func() { created <- s.Create(cctx, "late") }()
	waitLockWaiter(t)
	cancel()
	if err := <-created; !errors.Is(err, context.Canceled) {
		t.Errorf("Create() with its context cancelled while waiting: error = %v; want %v", err, context.Canceled)
	}
	close(release)
	if err := <-prepared; err != nil {
		t.Fatalf("PrepareTemplate() error = %v", err)
	}
	for _, key := range []string{"late", "next"} {
		if err := s.Create(ctx, key); err != nil {
			t.Errorf("Create(%q) afterwards: error = %v", key, err)
		}
	}
}

// waitLockWaiter waits until a session waits for the shared template lock.
func waitLockWaiter(t *testing.T) {
	t.Helper()
	admin := adminConn(t)
	deadline := time.Now().Add(30 * time.Second)
	for {
		var n int
		err := admin.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
WHERE wait_event_type = 'Lock' AND wait_event = 'advisory' AND query LIKE '%pg_advisory_lock_shared%'`).Scan(&n)
		if err != nil {
			t.Fatalf("query pg_stat_activity: %v", err)
		}
		if n > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no session waits for the template lock")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
