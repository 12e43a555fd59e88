package registry_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tenantkit/tenantkit/tenancy"
	"github.com/tenantkit/tenantkit/tenancy/registry"
)

// TestStore is the conformance suite every Store passes.
func TestStore(t *testing.T) {
	for _, st := range stores() {
		t.Run(st.name, func(t *testing.T) {
			t.Run("InsertGet", func(t *testing.T) { testInsertGet(t, st.open(t)) })
			t.Run("Exists", func(t *testing.T) { testExists(t, st.open(t)) })
			t.Run("List", func(t *testing.T) { testList(t, st.open(t)) })
			t.Run("SetStatus", func(t *testing.T) { testSetStatus(t, st.open(t)) })
			t.Run("SetStatusRace", func(t *testing.T) { testSetStatusRace(t, st.open(t)) })
			t.Run("RecordMigration", func(t *testing.T) { testRecordMigration(t, st.open(t)) })
			t.Run("Delete", func(t *testing.T) { testDelete(t, st.open(t)) })
			t.Run("Changes", func(t *testing.T) { testChanges(t, st.open(t)) })
			t.Run("Move", func(t *testing.T) { testMove(t, st.open(t)) })
			t.Run("MoveRace", func(t *testing.T) { testMoveRace(t, st.open(t)) })
		})
	}
}

func insert(t *testing.T, s registry.Store, id, slug string, status tenancy.Status) registry.Record {
	t.Helper()
	rec, err := s.Insert(context.Background(), registry.Record{ID: id, Slug: slug, Status: status})
	if err != nil {
		t.Fatalf("Insert(%q, %q) error = %v", id, slug, err)
	}
	return rec
}

func testInsertGet(t *testing.T, s registry.Store) {
	ctx := context.Background()
	before := time.Now().Add(-time.Second)
	in := registry.Record{ID: "1", Slug: "acme", Status: tenancy.StatusProvisioning, Server: "pg2", Version: 3, MigrationError: "x"}
	got, err := s.Insert(ctx, in)
	if err != nil {
		t.Fatalf("Insert() error = %v", err)
	}
	if got.CreatedAt.Before(before) || !got.UpdatedAt.Equal(got.CreatedAt) || got.CreatedAt.Location() != time.UTC {
		t.Errorf("Insert() times = %v, %v; want now, equal, UTC", got.CreatedAt, got.UpdatedAt)
	}
	in.CreatedAt, in.UpdatedAt = got.CreatedAt, got.UpdatedAt
	if got != in {
		t.Errorf("Insert() = %+v; want %+v", got, in)
	}
	for name, get := range map[string]func() (registry.Record, error){
		"Get":    func() (registry.Record, error) { return s.Get(ctx, "1") },
		"BySlug": func() (registry.Record, error) { return s.BySlug(ctx, "acme") },
	} {
		if rec, err := get(); err != nil || rec != in {
			t.Errorf("%s() = %+v, %v; want %+v", name, rec, err, in)
		}
	}
	if _, err := s.Get(ctx, "2"); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("Get(missing) error = %v; want ErrNotFound", err)
	}
	if _, err := s.BySlug(ctx, "nope"); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("BySlug(missing) error = %v; want ErrNotFound", err)
	}
	// Records without a slug: several may exist, and "" finds none.
	insert(t, s, "2", "", tenancy.StatusActive)
	insert(t, s, "3", "", tenancy.StatusActive)
	if rec, err := s.Get(ctx, "3"); err != nil || rec.Slug != "" {
		t.Errorf("Get(3) = %+v, %v; want no slug", rec, err)
	}
	if _, err := s.BySlug(ctx, ""); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("BySlug(\"\") error = %v; want ErrNotFound", err)
	}
	for _, bad := range []registry.Record{{Status: tenancy.StatusActive}, {ID: "9"}, {ID: "9", Status: registry.StatusDeleted}} {
		if _, err := s.Insert(ctx, bad); !errors.Is(err, registry.ErrInvalidRecord) {
			t.Errorf("Insert(%+v) error = %v; want ErrInvalidRecord", bad, err)
		}
	}
}

func testExists(t *testing.T, s registry.Store) {
	ctx := context.Background()
	insert(t, s, "1", "acme", tenancy.StatusActive)
	for _, rec := range []registry.Record{
		{ID: "1", Slug: "other", Status: tenancy.StatusActive},
		{ID: "2", Slug: "acme", Status: tenancy.StatusActive},
	} {
		_, err := s.Insert(ctx, rec)
		if !errors.Is(err, registry.ErrExists) {
			t.Errorf("Insert(%+v) error = %v; want ErrExists", rec, err)
		}
	}
	head, err := s.Head(ctx)
	if err != nil || head < 1 {
		t.Fatalf("Head() = %d, %v", head, err)
	}
	if cs, _ := s.Changes(ctx, 0, 0); len(cs) != 1 {
		t.Errorf("after refused inserts, the log holds %d changes; want 1", len(cs))
	}
	// Concurrent inserts of one slug: exactly one wins.
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = s.Insert(ctx, registry.Record{ID: fmt.Sprint("c", i), Slug: "race", Status: tenancy.StatusActive})
		})
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, registry.ErrExists):
			t.Errorf("concurrent Insert() error = %v; want nil or ErrExists", err)
		}
	}
	if won != 1 {
		t.Errorf("%d concurrent inserts of one slug won; want 1", won)
	}
}

func testList(t *testing.T, s registry.Store) {
	ctx := context.Background()
	for i, st := range []tenancy.Status{tenancy.StatusActive, tenancy.StatusSuspended, tenancy.StatusActive, tenancy.StatusProvisioning, tenancy.StatusActive} {
		insert(t, s, fmt.Sprintf("t%d", i), "", st)
	}
	insert(t, s, "T9", "", tenancy.StatusActive) // byte order: "T" sorts before "t"
	ids := func(recs []registry.Record) string {
		var out []string
		for _, r := range recs {
			out = append(out, r.ID)
		}
		return fmt.Sprint(out)
	}
	tests := []struct {
		f    registry.Filter
		want string
	}{
		{registry.Filter{}, "[T9 t0 t1 t2 t3 t4]"},
		{registry.Filter{Status: []tenancy.Status{tenancy.StatusActive}}, "[T9 t0 t2 t4]"},
		{registry.Filter{Status: []tenancy.Status{tenancy.StatusSuspended, tenancy.StatusProvisioning}}, "[t1 t3]"},
		{registry.Filter{Limit: 2}, "[T9 t0]"},
		{registry.Filter{After: "t0", Limit: 2}, "[t1 t2]"},
		{registry.Filter{After: "t2", Status: []tenancy.Status{tenancy.StatusActive}}, "[t4]"},
		{registry.Filter{After: "t4"}, "[]"},
	}
	for _, tt := range tests {
		recs, err := s.List(ctx, tt.f)
		if got := ids(recs); err != nil || got != tt.want {
			t.Errorf("List(%+v) = %s, %v; want %s", tt.f, got, err, tt.want)
		}
	}
}

func testSetStatus(t *testing.T, s registry.Store) {
	ctx := context.Background()
	in := insert(t, s, "1", "acme", tenancy.StatusProvisioning)
	time.Sleep(2 * time.Millisecond)
	got, err := s.SetStatus(ctx, "1", tenancy.StatusProvisioning, tenancy.StatusActive)
	if err != nil || got.Status != tenancy.StatusActive || got.Slug != "acme" || !got.UpdatedAt.After(in.UpdatedAt) || !got.CreatedAt.Equal(in.CreatedAt) {
		t.Fatalf("SetStatus() = %+v, %v; want active, updated later", got, err)
	}
	_, err = s.SetStatus(ctx, "1", tenancy.StatusSuspended, tenancy.StatusActive)
	var se *registry.StatusError
	if !errors.As(err, &se) || !errors.Is(err, registry.ErrWrongStatus) || se.Status != tenancy.StatusActive || se.Want != tenancy.StatusSuspended || se.ID != "1" {
		t.Errorf("SetStatus(wrong from) error = %#v; want *StatusError{1 active suspended}", err)
	}
	if _, err := s.SetStatus(ctx, "2", tenancy.StatusActive, tenancy.StatusSuspended); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("SetStatus(missing) error = %v; want ErrNotFound", err)
	}
	if rec, _ := s.Get(ctx, "1"); rec.Status != tenancy.StatusActive {
		t.Errorf("after refused changes, status = %s; want active", rec.Status)
	}
}

func testSetStatusRace(t *testing.T, s registry.Store) {
	ctx := context.Background()
	insert(t, s, "1", "", tenancy.StatusActive)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() { _, errs[i] = s.SetStatus(ctx, "1", tenancy.StatusActive, tenancy.StatusSuspended) })
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, registry.ErrWrongStatus):
			t.Errorf("concurrent SetStatus() error = %v; want nil or ErrWrongStatus", err)
		}
	}
	if won != 1 {
		t.Errorf("%d concurrent compare-and-sets won; want 1", won)
	}
}

func testRecordMigration(t *testing.T, s registry.Store) {
	ctx := context.Background()
	insert(t, s, "1", "", tenancy.StatusActive)
	head, _ := s.Head(ctx)
	steps := []struct {
		version     int64
		failure     string
		wantVersion int64
	}{
		{3, "", 3},
		{4, "boom", 3},
		{5, "", 5},
	}
	for _, st := range steps {
		if err := s.RecordMigration(ctx, "1", st.version, st.failure); err != nil {
			t.Fatalf("RecordMigration() error = %v", err)
		}
		rec, _ := s.Get(ctx, "1")
		if rec.Version != st.wantVersion || rec.MigrationError != st.failure {
			t.Errorf("after RecordMigration(%d, %q): %d, %q; want %d, %q", st.version, st.failure, rec.Version, rec.MigrationError, st.wantVersion, st.failure)
		}
	}
	if err := s.RecordMigration(ctx, "2", 1, ""); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("RecordMigration(missing) error = %v; want ErrNotFound", err)
	}
	if h, _ := s.Head(ctx); h != head {
		t.Errorf("RecordMigration logged a change: head %d → %d", head, h)
	}
}

func testDelete(t *testing.T, s registry.Store) {
	ctx := context.Background()
	insert(t, s, "1", "acme", tenancy.StatusDeleting)
	for range 2 {
		if err := s.Delete(ctx, "1"); err != nil {
			t.Fatalf("Delete() error = %v", err)
		}
	}
	if _, err := s.Get(ctx, "1"); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("Get(deleted) error = %v; want ErrNotFound", err)
	}
	// The slug is free again.
	insert(t, s, "2", "acme", tenancy.StatusActive)
	cs, _ := s.Changes(ctx, 0, 0)
	if len(cs) != 3 || cs[1].Status != registry.StatusDeleted || cs[1].Slug != "acme" {
		t.Errorf("Changes() = %+v; want insert, one delete of acme, insert", cs)
	}
}

func testChanges(t *testing.T, s registry.Store) {
	ctx := context.Background()
	if h, err := s.Head(ctx); h != 0 || err != nil {
		t.Fatalf("Head() of an empty log = %d, %v; want 0", h, err)
	}
	insert(t, s, "1", "a", tenancy.StatusProvisioning)
	s.SetStatus(ctx, "1", tenancy.StatusProvisioning, tenancy.StatusActive)
	insert(t, s, "2", "b", tenancy.StatusProvisioning)
	s.SetStatus(ctx, "1", tenancy.StatusActive, tenancy.StatusSuspended)
	s.Delete(ctx, "2")
	want := []string{"1 a provisioning", "1 a active", "2 b provisioning", "1 a suspended", "2 b deleted"}
	all, err := s.Changes(ctx, 0, 0)
	if err != nil || len(all) != len(want) {
		t.Fatalf("Changes() = %+v, %v; want %d changes", all, err, len(want))
	}
	for i, c := range all {
		if got := fmt.Sprint(c.ID, " ", c.Slug, " ", c.Status); got != want[i] {
			t.Errorf("change %d = %q; want %q", i, got, want[i])
		}
		if i > 0 && c.Seq <= all[i-1].Seq {
			t.Errorf("change %d Seq %d not above %d", i, c.Seq, all[i-1].Seq)
		}
		if c.At.IsZero() || time.Since(c.At) > time.Minute {
			t.Errorf("change %d At = %v; want now", i, c.At)
		}
	}
	if h, _ := s.Head(ctx); h != all[4].Seq {
		t.Errorf("Head() = %d; want %d", h, all[4].Seq)
	}
	page, _ := s.Changes(ctx, all[1].Seq, 2)
	if len(page) != 2 || page[0].Seq != all[2].Seq || page[1].Seq != all[3].Seq {
		t.Errorf("Changes(after 2nd, 2) = %+v; want the 3rd and 4th", page)
	}
	// Trim everything: Seq still grows.
	n, err := s.TrimChanges(ctx, time.Now().Add(time.Minute))
	if err != nil || n != 5 {
		t.Errorf("TrimChanges() = %d, %v; want 5", n, err)
	}
	insert(t, s, "3", "", tenancy.StatusActive)
	if cs, _ := s.Changes(ctx, 0, 0); len(cs) != 1 || cs[0].Seq <= all[4].Seq {
		t.Errorf("after trim, Changes() = %+v; want one with Seq above %d", cs, all[4].Seq)
	}
}

func testMove(t *testing.T, s registry.Store) {
	ctx := context.Background()
	if _, err := s.Insert(ctx, registry.Record{ID: "1", Slug: "acme", Status: tenancy.StatusActive, Server: "a"}); err != nil {
		t.Fatal(err)
	}
	insert(t, s, "2", "", tenancy.StatusActive)
	bad := registry.Record{ID: "9", Status: tenancy.StatusActive, Move: registry.Move{From: "a", To: "b", Phase: registry.MoveCopying}}
	if _, err := s.Insert(ctx, bad); !errors.Is(err, registry.ErrInvalidRecord) {
		t.Errorf("Insert(with a move) error = %v; want ErrInvalidRecord", err)
	}
	head, _ := s.Head(ctx)
	until := time.Now().Add(time.Hour).Round(0) // nanoseconds: stores keep microseconds
	mv := registry.Move{From: "a", To: "b", Phase: registry.MoveCopying, Until: until}
	for _, m := range []registry.Move{
		{From: "a", To: "a", Phase: registry.MoveCopying},
		{From: "a", To: "b", Phase: registry.MoveSwitched},
		{From: "a", To: "b", Phase: "flying"},
		{From: "a"}, // no phase, but not the zero Move
	} {
		if _, err := s.SetMove(ctx, "1", registry.Move{}, m); !errors.Is(err, registry.ErrInvalidRecord) {
			t.Errorf("SetMove(%+v) error = %v; want ErrInvalidRecord", m, err)
		}
	}
	// Conflicts: a move from another server, an old move that is not
	// the record's, a missing record.
	for _, tt := range []struct {
		id       string
		old, new registry.Move
		want     error
	}{
		{"1", registry.Move{}, registry.Move{From: "x", To: "b", Phase: registry.MoveCopying}, registry.ErrMoveConflict},
		{"1", mv, registry.Move{}, registry.ErrMoveConflict},
		{"3", registry.Move{}, mv, registry.ErrNotFound},
	} {
		if _, err := s.SetMove(ctx, tt.id, tt.old, tt.new); !errors.Is(err, tt.want) {
			t.Errorf("SetMove(%s, %+v, %+v) error = %v; want %v", tt.id, tt.old, tt.new, err, tt.want)
		}
	}
	if h, _ := s.Head(ctx); h != head {
		t.Errorf("refused SetMoves logged changes: head %d → %d", head, h)
	}

	got, err := s.SetMove(ctx, "1", registry.Move{}, mv)
	if err != nil || got.Server != "a" || got.Move.Phase != registry.MoveCopying || !got.Move.Until.Equal(until.Truncate(time.Microsecond)) || got.Status != tenancy.StatusActive {
		t.Fatalf("SetMove(begin) = %+v, %v; want copying a → b on a", got, err)
	}
	if rec, _ := s.Get(ctx, "1"); rec != got {
		t.Errorf("Get() = %+v; want %+v", rec, got)
	}
	if recs, err := s.List(ctx, registry.Filter{Moving: true}); err != nil || len(recs) != 1 || recs[0].ID != "1" {
		t.Errorf("List(Moving) = %+v, %v; want tenant 1", recs, err)
	}
	// The move as read back (Until to the microsecond) is the old move
	// of the next change, as is the one given.
	for _, m := range []registry.Move{
		{From: "a", To: "b", Phase: registry.MoveCopying, Until: until.Add(time.Second)},
	} {
		if _, err := s.SwitchServer(ctx, "1", m); !errors.Is(err, registry.ErrMoveConflict) {
			t.Errorf("SwitchServer(%+v) error = %v; want ErrMoveConflict", m, err)
		}
	}
	if _, err := s.SwitchServer(ctx, "2", mv); !errors.Is(err, registry.ErrMoveConflict) {
		t.Errorf("SwitchServer(tenant without a move) error = %v; want ErrMoveConflict", err)
	}
	if _, err := s.SwitchServer(ctx, "3", mv); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("SwitchServer(missing) error = %v; want ErrNotFound", err)
	}
	sw, err := s.SwitchServer(ctx, "1", got.Move)
	if err != nil || sw.Server != "b" || sw.Move.Phase != registry.MoveSwitched || sw.Move.From != "a" || sw.Move.To != "b" || !sw.Move.Until.Equal(got.Move.Until) {
		t.Fatalf("SwitchServer() = %+v, %v; want on b, switched", sw, err)
	}
	if _, err := s.SwitchServer(ctx, "1", mv); !errors.Is(err, registry.ErrMoveConflict) {
		t.Errorf("SwitchServer() again error = %v; want ErrMoveConflict", err)
	}
	// A process takes the switched move over: a new Until, nothing else.
	claim := sw.Move
	claim.Until = until.Add(time.Hour)
	for _, m := range []registry.Move{
		{From: "a", To: "c", Phase: registry.MoveSwitched, Until: claim.Until},
		{From: "a", To: "b", Phase: registry.MoveCopying, Until: claim.Until},
	} {
		if _, err := s.SetMove(ctx, "1", sw.Move, m); !errors.Is(err, registry.ErrInvalidRecord) && !errors.Is(err, registry.ErrMoveConflict) {
			t.Errorf("SetMove(switched → %+v) error = %v; want it refused", m, err)
		}
	}
	if sw, err = s.SetMove(ctx, "1", sw.Move, claim); err != nil || sw.Server != "b" || !sw.Move.Until.Equal(claim.Until.Truncate(time.Microsecond)) {
		t.Fatalf("SetMove(take the switched move over) = %+v, %v", sw, err)
	}
	// An ended move: cleared from any phase.
	done, err := s.SetMove(ctx, "1", sw.Move, registry.Move{})
	if err != nil || done.Server != "b" || done.Move.Active() {
		t.Fatalf("SetMove(end) = %+v, %v; want on b, no move", done, err)
	}
	if recs, _ := s.List(ctx, registry.Filter{Moving: true}); len(recs) != 0 {
		t.Errorf("List(Moving) after the move = %+v; want none", recs)
	}
	// A move back, rolled back: copying → aborting → none.
	back := registry.Move{From: "b", To: "a", Phase: registry.MoveCopying, Until: until}
	if _, err := s.SetMove(ctx, "1", registry.Move{}, back); err != nil {
		t.Fatal(err)
	}
	abort := back
	abort.Phase = registry.MoveAborting
	if _, err := s.SetMove(ctx, "1", back, abort); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SwitchServer(ctx, "1", back); !errors.Is(err, registry.ErrMoveConflict) {
		t.Errorf("SwitchServer() of an aborting move error = %v; want ErrMoveConflict", err)
	}
	if rec, err := s.SetMove(ctx, "1", abort, registry.Move{}); err != nil || rec.Server != "b" || rec.Move.Active() {
		t.Errorf("SetMove(end the rollback) = %+v, %v; want on b, no move", rec, err)
	}
	// Each change is logged, with the server after it.
	cs, _ := s.Changes(ctx, head, 0)
	var servers []string
	for _, c := range cs {
		if c.ID != "1" || c.Status != tenancy.StatusActive || c.Slug != "acme" {
			t.Errorf("change %+v; want tenant 1 (acme), active", c)
		}
		servers = append(servers, c.Server)
	}
	if got, want := fmt.Sprint(servers), "[a b b b b b b]"; got != want {
		t.Errorf("servers of the logged changes = %s; want %s", got, want)
	}
	if err := s.Delete(ctx, "1"); err != nil {
		t.Fatal(err)
	}
	if cs, _ := s.Changes(ctx, head, 0); cs[len(cs)-1].Server != "b" || cs[len(cs)-1].Status != registry.StatusDeleted {
		t.Errorf("delete logged as %+v; want deleted from server b", cs[len(cs)-1])
	}
}

// Concurrent begins of a move: one wins. Then a switch races a rollback:
// exactly one of them wins.
func testMoveRace(t *testing.T, s registry.Store) {
	ctx := context.Background()
	if _, err := s.Insert(ctx, registry.Record{ID: "1", Status: tenancy.StatusActive, Server: "a"}); err != nil {
		t.Fatal(err)
	}
	until := time.Now().Add(time.Hour)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = s.SetMove(ctx, "1", registry.Move{}, registry.Move{From: "a", To: fmt.Sprint("s", i), Phase: registry.MoveCopying, Until: until})
		})
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, registry.ErrMoveConflict):
			t.Errorf("concurrent SetMove() error = %v; want nil or ErrMoveConflict", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d concurrent begins won; want 1", won)
	}
	rec, _ := s.Get(ctx, "1")
	abort := rec.Move
	abort.Phase = registry.MoveAborting
	var switchErr, abortErr error
	wg.Go(func() { _, switchErr = s.SwitchServer(ctx, "1", rec.Move) })
	wg.Go(func() { _, abortErr = s.SetMove(ctx, "1", rec.Move, abort) })
	wg.Wait()
	if (switchErr == nil) == (abortErr == nil) || !errors.Is(errors.Join(switchErr, abortErr), registry.ErrMoveConflict) {
		t.Errorf("switch racing a rollback: %v, %v; want exactly one ErrMoveConflict", switchErr, abortErr)
	}
	after, _ := s.Get(ctx, "1")
	if (switchErr == nil) != (after.Server == rec.Move.To && after.Move.Phase == registry.MoveSwitched) {
		t.Errorf("after the race: %+v (switch error %v)", after, switchErr)
	}
}
