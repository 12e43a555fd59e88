package registry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/tenantkit/tenantkit/tenancy"
)

// Mover does the data work of moving a tenant between database servers,
// named as in [Record.Server], for [Registry.Move]; the application
// provides it (placement.NewMover makes one over PostgreSQL servers).
// Every method must be idempotent and safe for concurrent use: a move
// interrupted at any step is resumed or rolled back by calling them
// again, in this process or another.
type Mover interface {
	// Create creates the tenant on server, empty, and migrates it to the
	// schema of its copy on the server that holds it.
	Create(ctx context.Context, server, tenantID string) error
	// Copy replaces the tenant's data on to with a consistent copy of
	// its data on from, and checks the copy (row counts and checksums)
	// before committing it: an interrupted or failed Copy leaves to as
	// it was. It is called while the tenant is served, and again once it
	// is paused.
	Copy(ctx context.Context, from, to, tenantID string) error
	// Pause makes every write to the tenant on server fail, in every
	// session of every process, while reads go on, until Resume, also
	// across restarts. When it returns, every write acknowledged before
	// it is in the tenant's data on server.
	Pause(ctx context.Context, server, tenantID string) error
	// Resume undoes Pause: writes to the tenant on server work again.
	Resume(ctx context.Context, server, tenantID string) error
	// Evict closes this process's handles to the tenant, once their
	// leases are released, so that the next lease opens the tenant where
	// its placement now says (a dbstrategy.Manager's Evict).
	Evict(ctx context.Context, tenantID string) error
	// Drop drops the tenant's data on server; nil if there is none.
	Drop(ctx context.Context, server, tenantID string) error
}

// Move moves the tenant id to the server to, through the [Mover] given
// to [WithMover], and returns its record as it then is. The tenant must be
// active or suspended; it stays readable throughout, and writes to it
// fail only from the pause to the switch:
//
//  1. the move is recorded (Record.Move: from, to, [MoveCopying], until
//     when this process owns it, see [WithMoveTimeout]);
//  2. the tenant is created and migrated on to (Mover.Create), and
//     copied there while it is served (Mover.Copy), which finds a
//     schema mismatch before any write is refused and warms the
//     destination's caches;
//  3. writes are paused on the source (Mover.Pause): from now on they
//     fail, with SQLSTATE 25006 on PostgreSQL, which a server answers
//     with 503 and Retry-After;
//  4. the final copy, verified (Mover.Copy);
//  5. the placement is switched in one transaction with the move's
//     phase ([Store.SwitchServer]: Server is to, [MoveSwitched]), and
//     logged, so other processes ([Watch]) forget the old placement;
//  6. this process's handles to the old copy are closed (Mover.Evict):
//     new leases open the tenant on to, where nothing is paused, so
//     writes work again;
//  7. after [WithSwitchGrace], the old copy is dropped (Mover.Drop),
//     and the move is cleared.
//
// A failure before the switch rolls the move back: it is marked
// [MoveAborting] (a compare and set that a switch cannot pass after it,
// nor it after a switch), writes are resumed on the source, the copy on
// to is dropped, and the move cleared; the error says so. A failure after
// the switch leaves the move switched, for a rerun or Reconcile to finish.
// ctx cancels the move before its switch (it is then rolled back); the
// steps after the switch, and a rollback, run on bounded by the move's
// timeout.
//
// So whatever happens, the tenant is served from one server with every
// write acknowledged: the source until the switch commits (its writes
// paused only between steps 3 and 6), the destination after it, with a
// copy of the paused source verified before the switch. A process that
// crashes (kill -9) mid-move leaves the move recorded with its phase:
// after its timeout, [Registry.Reconcile] in any process rolls it back
// (before the switch) or finishes it (after), and a rerun of Move
// finishes it (same destination, before the switch), or settles it and
// starts anew.
//
// A tenant already on to, with no move, is returned as it is. Errors: one
// wrapping [ErrInvalidConfig] without a Mover; [ErrNotFound]; a
// *[StatusError] for a tenant neither active nor suspended; one wrapping
// [ErrMoving] while another process's move of the tenant has not timed
// out; else the failed step's, wrapped, naming the tenant.
func (r *Registry) Move(ctx context.Context, id, to string) (Record, error) {
	if r.cfg.mover == nil {
		return Record{}, configErrorf("Move: no Mover (see WithMover)")
	}
	rec, err := r.s.Get(ctx, id)
	if err != nil {
		return Record{}, err
	}
	if rec.Status != tenancy.StatusActive && rec.Status != tenancy.StatusSuspended {
		return Record{}, &StatusError{ID: id, Status: rec.Status, Want: tenancy.StatusActive}
	}
	if rec.Move.Active() {
		if !r.expired(rec.Move) {
			return Record{}, fmt.Errorf("%w: tenant %q: to server %q, until %v", ErrMoving, id, rec.Move.To, rec.Move.Until)
		}
		if rec.Move.Phase == MoveCopying && rec.Move.To == to {
			// Take the move over, and finish it.
			claim := rec.Move
			claim.Until = r.until()
			out, err := r.s.SetMove(ctx, id, rec.Move, claim)
			if err != nil {
				return Record{}, fmt.Errorf("registry: move tenant %q: take the move over: %w", id, err)
			}
			r.changed(out, out.Status)
			return r.run(ctx, out)
		}
		if rec, err = r.settle(ctx, rec); err != nil {
			return Record{}, fmt.Errorf("registry: move tenant %q: settle its earlier move: %w", id, err)
		}
	}
	if rec.Server == to {
		return rec, nil
	}
	mv := Move{From: rec.Server, To: to, Phase: MoveCopying, Until: r.until()}
	out, err := r.s.SetMove(ctx, id, Move{}, mv)
	if err != nil {
		return Record{}, fmt.Errorf("registry: move tenant %q: %w", id, err)
	}
	r.changed(out, out.Status)
	return r.run(ctx, out)
}

// until returns the Until of a move this process starts or takes over now.
func (r *Registry) until() time.Time { return r.cfg.now().Add(r.cfg.moveTimeout) }

// expired reports whether the process that owned mv gave up on it.
func (r *Registry) expired(mv Move) bool { return r.cfg.now().After(mv.Until) }

// own returns the context of the steps of a move this process owns that
// do not depend on its caller: the rollback, and the steps after the
// switch. It ends at three quarters of the move's timeout from now, a
// quarter before another process may take the move over.
func (r *Registry) own(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), r.cfg.moveTimeout*3/4)
}

// run runs the move of rec (in MoveCopying, owned by this process since
// just now) to its end.
func (r *Registry) run(ctx context.Context, rec Record) (Record, error) {
	started := time.Now()
	mv := rec.Move
	own, cancel := r.own(ctx)
	defer cancel()
	fwd, cancelFwd := context.WithTimeout(ctx, r.cfg.moveTimeout/2)
	out, pausedAt, err := r.forward(fwd, rec)
	cancelFwd()
	if err != nil {
		r.cfg.logger.LogAttrs(ctx, slog.LevelWarn, "tenant move failed before its switch; rolling back",
			slog.String("tenant", rec.ID), slog.String("from", mv.From), slog.String("to", mv.To), slog.String("err", err.Error()))
		back, rerr := r.rollback(own, rec)
		switch {
		case rerr != nil:
			return Record{}, fmt.Errorf("registry: move tenant %q to server %q: %w (rollback failed, the move is left for a rerun or Reconcile: %v)", rec.ID, mv.To, err, rerr)
		case back.Server == mv.To:
			return back, nil // the switch had committed: the move is finished
		}
		return Record{}, fmt.Errorf("registry: move tenant %q to server %q: %w (rolled back)", rec.ID, mv.To, err)
	}
	if err := r.cfg.mover.Evict(own, rec.ID); err != nil {
		return Record{}, fmt.Errorf("registry: move tenant %q to server %q: switched, but closing the handles to the old copy failed (a rerun or Reconcile finishes the move): %w", rec.ID, mv.To, err)
	}
	r.cfg.logger.LogAttrs(ctx, slog.LevelInfo, "tenant switched",
		slog.String("tenant", rec.ID), slog.String("from", mv.From), slog.String("to", mv.To),
		slog.Duration("paused", time.Since(pausedAt)))
	out, err = r.dropOld(own, out)
	if err != nil {
		return Record{}, fmt.Errorf("registry: move tenant %q to server %q: switched, but (a rerun or Reconcile finishes the move): %w", rec.ID, mv.To, err)
	}
	r.cfg.logger.LogAttrs(ctx, slog.LevelInfo, "tenant moved",
		slog.String("tenant", rec.ID), slog.String("from", mv.From), slog.String("to", mv.To), slog.Duration("took", time.Since(started)))
	return out, nil
}

// forward runs the steps of the move of rec up to the switch, and returns
// the record switched and when writes were paused.
func (r *Registry) forward(ctx context.Context, rec Record) (Record, time.Time, error) {
	m, mv, id := r.cfg.mover, rec.Move, rec.ID
	if err := m.Create(ctx, mv.To, id); err != nil {
		return Record{}, time.Time{}, fmt.Errorf("create the tenant on server %q: %w", mv.To, err)
	}
	if err := m.Copy(ctx, mv.From, mv.To, id); err != nil {
		return Record{}, time.Time{}, fmt.Errorf("copy while served: %w", err)
	}
	pausedAt := time.Now()
	if err := m.Pause(ctx, mv.From, id); err != nil {
		return Record{}, time.Time{}, fmt.Errorf("pause writes on server %q: %w", mv.From, err)
	}
	if err := m.Copy(ctx, mv.From, mv.To, id); err != nil {
		return Record{}, time.Time{}, fmt.Errorf("final copy: %w", err)
	}
	// A tenant deleted meanwhile is not switched: Delete drops it where
	// its record says.
	if cur, err := r.s.Get(ctx, id); err != nil || cur.Status == tenancy.StatusDeleting {
		return Record{}, time.Time{}, fmt.Errorf("switch: tenant deleted meanwhile (%v)", err)
	}
	out, err := r.s.SwitchServer(ctx, id, mv)
	if err != nil {
		return Record{}, time.Time{}, fmt.Errorf("switch: %w", err)
	}
	r.changed(out, out.Status)
	return out, pausedAt, nil
}

// rollback rolls back the move of rec (in MoveCopying or MoveAborting,
// owned by this process) and returns the record without a move. If the
// move switched meanwhile (a switch that committed though its caller
// did not learn it), it finishes it instead.
func (r *Registry) rollback(ctx context.Context, rec Record) (Record, error) {
	m, mv, id := r.cfg.mover, rec.Move, rec.ID
	if mv.Phase == MoveCopying {
		abort := mv
		abort.Phase = MoveAborting
		out, err := r.s.SetMove(ctx, id, mv, abort)
		switch {
		case errors.Is(err, ErrNotFound):
			// Deleted meanwhile: drop what the move made.
			if err := m.Drop(ctx, mv.To, id); err != nil {
				return Record{}, fmt.Errorf("tenant deleted meanwhile; drop its copy on server %q: %w", mv.To, err)
			}
			return Record{}, notFound(id)
		case errors.Is(err, ErrMoveConflict):
			cur, gerr := r.s.Get(ctx, id)
			if gerr != nil || cur.Move.Phase != MoveSwitched || cur.Move.From != mv.From || cur.Move.To != mv.To || !cur.Move.Until.Equal(mv.Until) {
				return Record{}, err
			}
			r.changed(cur, cur.Status)
			return r.finish(ctx, cur)
		case err != nil:
			return Record{}, err
		}
		r.changed(out, out.Status)
		rec = out
	}
	if err := m.Resume(ctx, mv.From, id); err != nil {
		return Record{}, fmt.Errorf("resume writes on server %q: %w", mv.From, err)
	}
	if err := m.Drop(ctx, mv.To, id); err != nil {
		return Record{}, fmt.Errorf("drop the copy on server %q: %w", mv.To, err)
	}
	out, err := r.s.SetMove(ctx, id, rec.Move, Move{})
	if err != nil {
		return Record{}, err
	}
	r.changed(out, out.Status)
	r.cfg.logger.LogAttrs(ctx, slog.LevelInfo, "tenant move rolled back",
		slog.String("tenant", id), slog.String("from", mv.From), slog.String("to", mv.To))
	return out, nil
}

// finish finishes the move of rec (in MoveSwitched, owned by this
// process): it closes this process's handles to the old copy, drops it
// and clears the move.
func (r *Registry) finish(ctx context.Context, rec Record) (Record, error) {
	if err := r.cfg.mover.Evict(ctx, rec.ID); err != nil {
		return Record{}, fmt.Errorf("close the handles to the old copy: %w", err)
	}
	return r.dropOld(ctx, rec)
}

// dropOld waits for the switch grace, drops the old copy of rec's
// switched move and clears the move.
func (r *Registry) dropOld(ctx context.Context, rec Record) (Record, error) {
	mv := rec.Move
	if r.cfg.switchGrace > 0 {
		t := time.NewTimer(r.cfg.switchGrace)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return Record{}, ctx.Err()
		}
	}
	if err := r.cfg.mover.Drop(ctx, mv.From, rec.ID); err != nil {
		return Record{}, fmt.Errorf("drop the old copy on server %q: %w", mv.From, err)
	}
	out, err := r.s.SetMove(ctx, rec.ID, mv, Move{})
	if err != nil {
		return Record{}, err
	}
	r.changed(out, out.Status)
	return out, nil
}

// settle takes over the move of rec, which its process gave up on, and
// brings it to its end: rolled back before the switch, finished after it.
// It returns the record without a move.
func (r *Registry) settle(ctx context.Context, rec Record) (Record, error) {
	claim := rec.Move
	claim.Until = r.until()
	if claim.Phase == MoveCopying {
		claim.Phase = MoveAborting // the compare and set no switch passes after
	}
	out, err := r.s.SetMove(ctx, rec.ID, rec.Move, claim)
	if err != nil {
		return Record{}, err
	}
	r.changed(out, out.Status)
	r.cfg.logger.LogAttrs(ctx, slog.LevelInfo, "tenant move taken over",
		slog.String("tenant", rec.ID), slog.String("from", claim.From), slog.String("to", claim.To), slog.String("phase", string(rec.Move.Phase)))
	own, cancel := r.own(ctx)
	defer cancel()
	if out.Move.Phase == MoveSwitched {
		return r.finish(own, out)
	}
	return r.rollback(own, out)
}

// reconcileMoves settles the moves whose process gave up on them.
func (r *Registry) reconcileMoves(ctx context.Context) []error {
	if r.cfg.mover == nil {
		return nil
	}
	moving, err := r.s.List(ctx, Filter{Moving: true})
	if err != nil {
		return []error{err}
	}
	var errs []error
	for _, rec := range moving {
		if !r.expired(rec.Move) {
			continue // its process is on it
		}
		if _, err := r.settle(ctx, rec); err != nil && !errors.Is(err, ErrMoveConflict) && !errors.Is(err, ErrNotFound) {
			errs = append(errs, fmt.Errorf("registry: reconcile: move of tenant %q from %q to %q: %w", rec.ID, rec.Move.From, rec.Move.To, err))
		}
	}
	return errs
}

// dropOtherCopy drops the copy that rec's move made or left on the server
// that does not hold it, for a tenant being deleted.
func (r *Registry) dropOtherCopy(ctx context.Context, rec Record) error {
	if !rec.Move.Active() {
		return nil
	}
	other := rec.Move.To
	if rec.Server == rec.Move.To {
		other = rec.Move.From
	}
	if r.cfg.mover == nil {
		return fmt.Errorf("it is being moved, and without a Mover (WithMover) its copy on server %q cannot be dropped", other)
	}
	if err := r.cfg.mover.Drop(ctx, other, rec.ID); err != nil {
		return fmt.Errorf("drop its copy on server %q: %w", other, err)
	}
	return nil
}

// DefaultDrainParallel is how many tenants [Registry.Drain] moves at once
// by default.
const DefaultDrainParallel = 4

// drainPage is how many records Drain lists per query.
const drainPage = 500

// DrainOptions configures [Registry.Drain]. The zero value is the
// defaults.
type DrainOptions struct {
	// Parallel is how many tenants move at once; 0 means
	// [DefaultDrainParallel]. Each move holds a connection on the
	// source and one on the destination while it copies.
	Parallel int
	// Progress, if not nil, is called after each tenant's move, one call
	// at a time.
	Progress func(DrainProgress)
}

// DrainProgress reports one tenant's move in a [Registry.Drain].
type DrainProgress struct {
	ID   string        // the tenant
	To   string        // the server it moved to, or was to
	Err  error         // why it did not move; nil if it did
	Took time.Duration // the whole move, from the pick
	Done int           // tenants moved or failed so far, this one included
	All  int           // tenants on the server when Drain started
}

// Drain moves every active or suspended tenant off the server from, each
// to the server pick returns for it (called just before its move, so a
// placement policy sees the moves before it), parallel at most
// opts.Parallel at a time, each by [Registry.Move]. Close the server to
// new tenants first (placement.ServerLoad.Closed): Drain moves the
// tenants placed on it when it starts, and not those provisioning.
//
// One tenant's failure does not stop the others: Drain returns their
// errors joined, each naming its tenant (a tenant being moved by another
// process fails with [ErrMoving]). When ctx ends it starts no more moves,
// waits for those running (a move before its switch is rolled back) and
// returns ctx's error among the others. Every goroutine it starts has
// returned when it returns. Errors: one wrapping [ErrInvalidConfig]
// without a Mover or pick.
func (r *Registry) Drain(ctx context.Context, from string, pick func(ctx context.Context, tenantID string) (to string, err error), opts DrainOptions) error {
	if r.cfg.mover == nil || pick == nil {
		return configErrorf("Drain: no Mover (see WithMover) or nil pick")
	}
	parallel := opts.Parallel
	if parallel <= 0 {
		parallel = DefaultDrainParallel
	}
	var ids []string
	for after := ""; ; {
		page, err := r.s.List(ctx, Filter{Status: []tenancy.Status{tenancy.StatusActive, tenancy.StatusSuspended}, After: after, Limit: drainPage})
		if err != nil {
			return fmt.Errorf("registry: drain server %q: %w", from, err)
		}
		for _, rec := range page {
			if rec.Server == from {
				ids = append(ids, rec.ID)
			}
		}
		if len(page) < drainPage {
			break
		}
		after = page[len(page)-1].ID
	}
	var (
		mu   sync.Mutex // guards errs, done and the Progress calls
		errs []error
		done int
		wg   sync.WaitGroup
	)
	slots := make(chan struct{}, parallel)
	report := func(p DrainProgress) {
		mu.Lock()
		defer mu.Unlock()
		done++
		p.Done, p.All = done, len(ids)
		if p.Err != nil {
			errs = append(errs, p.Err)
		}
		if opts.Progress != nil {
			opts.Progress(p)
		}
	}
	for _, id := range ids {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() { // exits when the tenant's Move returns
			defer func() { <-slots }()
			started := time.Now()
			to, err := pick(ctx, id)
			switch {
			case err != nil:
				err = fmt.Errorf("registry: drain: pick a server for tenant %q: %w", id, err)
			case to == from:
				err = fmt.Errorf("registry: drain: pick chose server %q, the one drained, for tenant %q", from, id)
			default:
				_, err = r.Move(ctx, id, to)
			}
			report(DrainProgress{ID: id, To: to, Err: err, Took: time.Since(started)})
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		errs = append(errs, fmt.Errorf("registry: drain server %q: %w", from, err))
	}
	return errors.Join(errs...)
}
