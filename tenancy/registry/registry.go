package registry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/tenantkit/tenantkit/dbstrategy"
	"github.com/tenantkit/tenantkit/tenancy"
)

// Provisioner creates (and migrates) and drops tenant databases. Both must
// be idempotent. A *dbstrategy.Manager is one.
type Provisioner interface {
	Create(ctx context.Context, tenantID string) error
	Drop(ctx context.Context, tenantID string) error
}

// Versioner is an optional interface of a [Provisioner] that reports the
// schema version of a tenant's database, recorded after provisioning (see
// [WithVersion]). A *dbstrategy.Manager is one.
type Versioner interface {
	Version(ctx context.Context, tenantID string) (int64, error)
}

var (
	_ Provisioner = (*dbstrategy.Manager)(nil)
	_ Versioner   = (*dbstrategy.Manager)(nil)
)

// errNoVersion: there is no version to record.
var errNoVersion = errors.New("registry: no version")

// Registry runs the lifecycle of tenants over a [Store] and a
// [Provisioner]:
//
//	provisioning ──Create/Provision──▶ active ◀──Resume/Suspend──▶ suspended
//	      │                              │                            │
//	      └────────── Delete ───────▶ deleting ──▶ (record removed) ◀─┘
//
// An active or suspended tenant may also be moving to another server
// ([Registry.Move]): that is Record.Move, beside its status, which stays
// as it is so that the tenant stays readable throughout.
//
// A tenant's record is inserted provisioning, its database is created and
// migrated, its schema version recorded, and then it becomes active; only
// active tenants receive traffic ([tenancy.CheckStatus]). Deleting marks it
// deleting first, so it gets no more traffic, then drops the database and
// removes the record. Every step is idempotent and every status change a
// compare-and-set, so a step a crash interrupted is finished by
// [Registry.Reconcile], by this process or another.
//
// Each lifecycle method runs detached from its caller's cancellation,
// bounded by [WithTimeout], so a client going away does not leave a tenant
// half made. A Registry is safe for concurrent use, by several processes
// sharing the Store, and holds no resources of its own.
type Registry struct {
	s   Store
	p   Provisioner
	cfg config
}

// New returns a Registry over s and p. Errors wrap [ErrInvalidConfig]: a
// nil s or p, a nil or invalid option.
func New(s Store, p Provisioner, opts ...Option) (*Registry, error) {
	if s == nil || p == nil {
		return nil, configErrorf("New: nil Store or Provisioner")
	}
	r := &Registry{s: s, p: p, cfg: config{
		timeout:     DefaultTimeout,
		logger:      discard(),
		now:         time.Now,
		moveTimeout: DefaultMoveTimeout,
		switchGrace: DefaultSwitchGrace,
	}}
	if err := configure("New", opts, func(o Option) error { return o.applyRegistry(&r.cfg) }); err != nil {
		return nil, err
	}
	if r.cfg.version == nil {
		r.cfg.version = noVersion
		if v, ok := p.(Versioner); ok {
			r.cfg.version = func(ctx context.Context, id string) (int64, error) {
				n, err := v.Version(ctx, id)
				if errors.Is(err, dbstrategy.ErrNoMigrations) {
					return 0, errNoVersion
				}
				return n, err
			}
		}
	}
	return r, nil
}

// Store returns the Store the Registry was made with.
func (r *Registry) Store() Store { return r.s }

// detach returns a context that ignores ctx's cancellation (keeping its
// values) and ends after the lifecycle timeout.
func (r *Registry) detach(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), r.cfg.timeout)
}

// changed reports a change this Registry made to the WithOnChange hook. Its
// At is rec.UpdatedAt: for a delete, the time of the last status change.
func (r *Registry) changed(rec Record, status tenancy.Status) {
	if r.cfg.onChange != nil {
		r.cfg.onChange(Change{ID: rec.ID, Slug: rec.Slug, Status: status, At: rec.UpdatedAt})
	}
}

// Create registers a new tenant and provisions it: it inserts rec in
// [tenancy.StatusProvisioning] (rec.Status must be that or ""), creates
// and migrates its database, records its schema version, and makes it
// active, returning the record as it then is. If provisioning fails, what
// was made is undone (the record marked deleting, the database dropped, the
// record removed) and the error says so; if the database cannot be
// dropped either, the record is put back provisioning, as a crash would
// have left it: the tenant was asked for, and [Registry.Reconcile]
// provisions it again.
//
// Errors: one wrapping [ErrExists] if rec's ID or slug is taken, or
// [ErrInvalidRecord]; else the failed step's, wrapped, naming the tenant.
func (r *Registry) Create(ctx context.Context, rec Record) (Record, error) {
	switch rec.Status {
	case "":
		rec.Status = tenancy.StatusProvisioning
	case tenancy.StatusProvisioning:
	default:
		return Record{}, fmt.Errorf("%w: create tenant %q: status %s, want %s", ErrInvalidRecord, rec.ID, rec.Status, tenancy.StatusProvisioning)
	}
	rec, err := r.s.Insert(ctx, rec)
	if err != nil {
		return Record{}, err
	}
	r.changed(rec, rec.Status)
	return r.provision(ctx, rec)
}

// Provision provisions a tenant whose record the app inserted itself in
// [tenancy.StatusProvisioning], for example with [SQL.InsertTx] in the
// transaction of its own row: it does what [Registry.Create] does after the
// insert, undo included. A tenant already active is returned as it is.
//
// Errors: one wrapping [ErrNotFound]; a *[StatusError] if the tenant is
// neither provisioning nor active; else as Create.
func (r *Registry) Provision(ctx context.Context, id string) (Record, error) {
	rec, err := r.s.Get(ctx, id)
	switch {
	case err != nil:
		return Record{}, err
	case rec.Status == tenancy.StatusActive:
		return rec, nil
	case rec.Status != tenancy.StatusProvisioning:
		return Record{}, &StatusError{ID: id, Status: rec.Status, Want: tenancy.StatusProvisioning}
	}
	return r.provision(ctx, rec)
}

// provision activates rec, and undoes it on failure.
func (r *Registry) provision(ctx context.Context, rec Record) (Record, error) {
	ctx, cancel := r.detach(ctx)
	defer cancel()
	out, err := r.activate(ctx, rec)
	if err == nil {
		return out, nil
	}
	if errors.Is(err, errDeletedMeanwhile) {
		return Record{}, fmt.Errorf("registry: provision tenant %q: %w", rec.ID, err)
	}
	r.cfg.logger.LogAttrs(ctx, slog.LevelError, "tenant provisioning failed",
		slog.String("tenant", rec.ID), slog.String("err", err.Error()))
	if uerr := r.undo(ctx, rec); uerr != nil {
		return Record{}, fmt.Errorf("registry: provision tenant %q: %w (undo failed, left provisioning for Reconcile: %v)", rec.ID, err, uerr)
	}
	return Record{}, fmt.Errorf("registry: provision tenant %q: %w (undone: database dropped, record removed)", rec.ID, err)
}

// errDeletedMeanwhile: the tenant was deleted while it was provisioned.
var errDeletedMeanwhile = errors.New("tenant deleted while it was provisioned")

// activate runs the provisioning steps after the insert: create and
// migrate the database, record its version, mark the record active. Each
// step is idempotent, so two processes may run it at once.
func (r *Registry) activate(ctx context.Context, rec Record) (Record, error) {
	if err := r.p.Create(ctx, rec.ID); err != nil {
		return Record{}, fmt.Errorf("create database: %w", err)
	}
	v, err := r.cfg.version(ctx, rec.ID)
	switch {
	case errors.Is(err, errNoVersion):
	case err != nil:
		return Record{}, fmt.Errorf("schema version: %w", err)
	default:
		if err := r.s.RecordMigration(ctx, rec.ID, v, ""); err != nil {
			return Record{}, r.lost(ctx, rec, fmt.Errorf("record version: %w", err))
		}
	}
	out, err := r.s.SetStatus(ctx, rec.ID, tenancy.StatusProvisioning, tenancy.StatusActive)
	if err == nil {
		r.changed(out, out.Status)
		r.cfg.logger.LogAttrs(ctx, slog.LevelInfo, "tenant provisioned", slog.String("tenant", rec.ID), slog.Int64("version", out.Version))
		return out, nil
	}
	var se *StatusError
	if errors.As(err, &se) && se.Status != tenancy.StatusDeleting {
		// Another process (a Reconcile) finished it first, and it may
		// have moved on since.
		return r.s.Get(ctx, rec.ID)
	}
	return Record{}, r.lost(ctx, rec, fmt.Errorf("activate: %w", err))
}

// lost handles a step of activate that failed on the record: if the
// record is gone or deleting, the tenant was deleted meanwhile, possibly
// before the database was created: drop it (again), since nobody wants it.
func (r *Registry) lost(ctx context.Context, rec Record, err error) error {
	var se *StatusError
	if !errors.Is(err, ErrNotFound) && !(errors.As(err, &se) && se.Status == tenancy.StatusDeleting) {
		return err
	}
	if derr := r.p.Drop(ctx, rec.ID); derr != nil {
		return fmt.Errorf("%w; drop the database made meanwhile: %v", errDeletedMeanwhile, derr)
	}
	return errDeletedMeanwhile
}

// undo removes what a failed provisioning made: the record goes
// provisioning → deleting (so no Reconcile elsewhere activates it
// meanwhile), then the database and record are removed. If the database
// cannot be dropped, the record goes back to provisioning, for Reconcile
// to provision again.
func (r *Registry) undo(ctx context.Context, rec Record) error {
	out, err := r.s.SetStatus(ctx, rec.ID, tenancy.StatusProvisioning, tenancy.StatusDeleting)
	var se *StatusError
	switch {
	case err == nil:
		r.changed(out, out.Status)
	case errors.Is(err, ErrNotFound), errors.As(err, &se) && se.Status == tenancy.StatusDeleting:
		// Being deleted, or gone: drop what may be left all the same.
		return r.finishDelete(ctx, rec)
	default:
		return err
	}
	if derr := r.p.Drop(ctx, rec.ID); derr != nil {
		if back, err := r.s.SetStatus(ctx, rec.ID, tenancy.StatusDeleting, tenancy.StatusProvisioning); err == nil {
			r.changed(back, back.Status)
		}
		return fmt.Errorf("drop database: %w", derr)
	}
	if err := r.s.Delete(ctx, rec.ID); err != nil {
		return err // left deleting, its database dropped: Reconcile removes it
	}
	r.changed(out, StatusDeleted)
	return nil
}

// Suspend moves an active tenant to [tenancy.StatusSuspended]: it keeps
// its database but gets no traffic. Errors: one wrapping [ErrNotFound]; a
// *[StatusError] if it is not active.
func (r *Registry) Suspend(ctx context.Context, id string) (Record, error) {
	return r.setStatus(ctx, id, tenancy.StatusActive, tenancy.StatusSuspended)
}

// Resume moves a suspended tenant back to [tenancy.StatusActive]. Errors:
// one wrapping [ErrNotFound]; a *[StatusError] if it is not suspended.
func (r *Registry) Resume(ctx context.Context, id string) (Record, error) {
	return r.setStatus(ctx, id, tenancy.StatusSuspended, tenancy.StatusActive)
}

func (r *Registry) setStatus(ctx context.Context, id string, from, to tenancy.Status) (Record, error) {
	out, err := r.s.SetStatus(ctx, id, from, to)
	if err != nil {
		return Record{}, err
	}
	r.changed(out, to)
	r.cfg.logger.LogAttrs(ctx, slog.LevelInfo, "tenant status changed",
		slog.String("tenant", id), slog.String("from", string(from)), slog.String("to", string(to)))
	return out, nil
}

// maxDeleteRaces bounds how often Delete retries marking a tenant deleting
// when its status changes under it.
const maxDeleteRaces = 10

// Delete removes a tenant, whatever its status: it is marked
// [tenancy.StatusDeleting] (so it gets no more traffic), its database is
// dropped and its record removed. A provisioning tenant's Create then
// fails. Delete is idempotent: a tenant already gone is nil, and one left
// deleting by an earlier failure is finished.
//
// A tenant being moved ([Registry.Move]) has its copy on the other
// server dropped too, through the [Mover] (without one, Delete fails and
// leaves it deleting). A move still running in another process can make
// the copy again after that drop, if the Delete comes between the move's
// create step and its switch; the move then fails, and drops it.
//
// Errors: the failed step's, wrapped, naming the tenant; the record is
// then left deleting, for a retry or [Registry.Reconcile].
func (r *Registry) Delete(ctx context.Context, id string) error {
	ctx, cancel := r.detach(ctx)
	defer cancel()
	for range maxDeleteRaces {
		rec, err := r.s.Get(ctx, id)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if rec.Status == tenancy.StatusDeleting {
			return r.finishDelete(ctx, rec)
		}
		out, err := r.s.SetStatus(ctx, id, rec.Status, tenancy.StatusDeleting)
		switch {
		case err == nil:
			r.changed(out, out.Status)
			return r.finishDelete(ctx, out)
		case errors.Is(err, ErrWrongStatus), errors.Is(err, ErrNotFound):
			continue // changed under us: look again
		default:
			return err
		}
	}
	return fmt.Errorf("registry: delete tenant %q: its status kept changing", id)
}

// finishDelete drops a deleting tenant's database and removes its record.
// Both steps are idempotent.
func (r *Registry) finishDelete(ctx context.Context, rec Record) error {
	if err := r.dropOtherCopy(ctx, rec); err != nil {
		return fmt.Errorf("registry: delete tenant %q: %w", rec.ID, err)
	}
	if err := r.p.Drop(ctx, rec.ID); err != nil {
		return fmt.Errorf("registry: delete tenant %q: drop database: %w", rec.ID, err)
	}
	if err := r.s.Delete(ctx, rec.ID); err != nil {
		return err
	}
	r.changed(rec, StatusDeleted)
	r.cfg.logger.LogAttrs(ctx, slog.LevelInfo, "tenant deleted", slog.String("tenant", rec.ID))
	return nil
}

// Reconcile finishes the lifecycle steps a crash interrupted: with a
// [Mover] ([WithMover]), the moves whose process gave up on them (their
// Until passed, see [WithMoveTimeout]) are rolled back if they had not
// switched, and finished if they had (see [Registry.Move]); tenants left
// provisioning are provisioned again (not undone: they were asked for);
// tenants left deleting are dropped and removed. Every step is idempotent
// and every change a compare-and-set, so two processes may reconcile at
// once, or reconcile a tenant another is still creating; a move whose
// process is still on it is left alone. Run it when a process starts, and
// after a move's timeout to settle moves that a crash left. Each tenant's
// steps are bounded by [WithTimeout] (a move's by its timeout); one
// tenant's failure does not stop the others. It returns their errors
// joined, each naming its tenant.
func (r *Registry) Reconcile(ctx context.Context) error {
	errs := r.reconcileMoves(ctx)
	pending, err := r.s.List(ctx, Filter{Status: []tenancy.Status{tenancy.StatusProvisioning, tenancy.StatusDeleting}})
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, rec := range pending {
		if err := ctx.Err(); err != nil {
			return errors.Join(append(errs, err)...)
		}
		tctx, cancel := r.detach(ctx)
		if rec.Status == tenancy.StatusProvisioning {
			if _, err := r.activate(tctx, rec); err != nil && !errors.Is(err, errDeletedMeanwhile) {
				errs = append(errs, fmt.Errorf("registry: reconcile: provision tenant %q: %w", rec.ID, err))
			}
		} else if err := r.finishDelete(tctx, rec); err != nil {
			errs = append(errs, fmt.Errorf("registry: reconcile: %w", err))
		}
		cancel()
	}
	return errors.Join(errs...)
}
