package dbstrategy

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"sync"
)

// DefaultForEachParallel is how many tenants [Manager.ForEach] works on at
// once when [ForEachOptions.Parallel] is 0.
const DefaultForEachParallel = 4

// ForEachOptions tunes [Manager.ForEach]. The zero value is valid.
type ForEachOptions struct {
	// Parallel is the most tenants worked on at once. 0 means
	// [DefaultForEachParallel]; a negative value is an error wrapping
	// [ErrInvalidConfig]. Each tenant's work holds a lease, so a Parallel
	// above the handle limit only makes tenants wait for one another (and
	// for the app's requests).
	Parallel int

	// Context, if not nil, derives each tenant's context from ForEach's, for
	// example to put the tenant in it as package tenancy's middleware does
	// for a request (dbstrategy does not import tenancy):
	//
	//	Context: func(ctx context.Context, id string) context.Context {
	//		return tenancy.NewContext(ctx, tenancy.Tenant{ID: id})
	//	},
	//
	// The tenant's Acquire and work run with the returned context, which
	// must derive from ctx so that ForEach's cancellation reaches them.
	Context func(ctx context.Context, tenantID string) context.Context

	// Progress, if not nil, is called once per tenant started, as soon as
	// its work is done, with the error that work returned (nil on
	// success). Calls never overlap, so Progress needs no locking of its
	// own, and come from the goroutine that did the work; Progress should
	// return quickly, since other tenants' reports wait for it.
	Progress func(tenantID string, err error)
}

// TenantError reports one tenant's failure in [Manager.ForEach]: the error
// of [Manager.Acquire] (such as [ErrNotFound] or a *[SchemaBehindError]),
// or the one the tenant's work returned.
type TenantError struct {
	TenantID string
	Err      error
}

// Error names the tenant and its error.
func (e *TenantError) Error() string {
	return fmt.Sprintf("dbstrategy: tenant %q: %v", e.TenantID, e.Err)
}

// Unwrap returns Err.
func (e *TenantError) Unwrap() error { return e.Err }

// ForEach runs fn for every tenant of tenantIDs, at most opts.Parallel at a
// time, each with a lease on the tenant's handle as [Manager.Do] takes one:
// for background jobs and maintenance over the fleet. tenantIDs comes from
// the app's registry (slices.Values(ids) for a slice, or an iterator over
// a query); ForEach reads it in order, one tenant ahead of the work.
//
// One tenant's failure does not stop the others: fn's error, or the
// tenant's Acquire error, is reported to opts.Progress and returned as a
// *[TenantError] among the errors joined by errors.Join (whose Unwrap()
// []error lists them, in the order the tenants finished). When ctx ends,
// ForEach starts no more tenants (the tenants not started are neither run
// nor reported), waits for the ones running, whose fn sees ctx end, and
// returns ctx.Err(), joined first with the tenants' errors if there are
// any, so errors.Is(err, context.Canceled) holds. ForEach returns nil when
// every tenant's work succeeded.
//
// ForEach returns only once every fn it started has returned: its
// goroutines end with their tenant's work. A panic in fn releases that
// tenant's lease, lets the tenants running finish, starts no others, and
// goes on in ForEach's goroutine with the first panic's value.
//
// fn must not call [Manager.Acquire] or Do for another tenant: see
// [Manager.Do] on holding two leases.
func (m *Manager) ForEach(ctx context.Context, tenantIDs iter.Seq[string], opts ForEachOptions,
	fn func(ctx context.Context, tenantID string, db DB) error) error {
	parallel := opts.Parallel
	switch {
	case parallel < 0:
		return fmt.Errorf("%w: ForEachOptions.Parallel %d is negative", ErrInvalidConfig, parallel)
	case parallel == 0:
		parallel = DefaultForEachParallel
	}
	if fn == nil || tenantIDs == nil {
		return fmt.Errorf("%w: ForEach: nil function or tenant sequence", ErrInvalidConfig)
	}
	r := &forEachRun{m: m, opts: opts, fn: fn, sem: make(chan struct{}, parallel)}
	var wg sync.WaitGroup
	var stopped error
	for id := range tenantIDs {
		if stopped = r.take(ctx); stopped != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-r.sem }()
			r.run(ctx, id)
		})
	}
	wg.Wait()
	if r.panicked {
		panic(r.panicValue)
	}
	if stopped != nil && len(r.errs) == 0 {
		return stopped // ctx.Err() itself
	}
	if stopped != nil {
		return errors.Join(append([]error{stopped}, r.errs...)...)
	}
	return errors.Join(r.errs...)
}

// forEachRun is the state of one ForEach.
type forEachRun struct {
	m    *Manager
	opts ForEachOptions
	fn   func(ctx context.Context, tenantID string, db DB) error
	sem  chan struct{} // a token per tenant running

	mu         sync.Mutex // guards the fields below; serializes Progress
	errs       []error
	panicked   bool
	panicValue any
}

// take waits for room to start a tenant. It returns ctx's error if ctx
// ended, or an error if a tenant's work panicked: no more tenants start.
func (r *forEachRun) take(ctx context.Context) error {
	select {
	case r.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	if err := ctx.Err(); err != nil { // both were ready
		<-r.sem
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.panicked {
		<-r.sem
		return errForEachPanicked
	}
	return nil
}

// errForEachPanicked stops a ForEach whose work panicked; ForEach panics
// again rather than return it.
var errForEachPanicked = errors.New("dbstrategy: ForEach: a tenant's work panicked")

// run does one tenant's work and records its outcome.
func (r *forEachRun) run(ctx context.Context, id string) {
	if r.opts.Context != nil {
		ctx = r.opts.Context(ctx, id)
	}
	defer func() {
		if p := recover(); p != nil {
			r.mu.Lock()
			if !r.panicked {
				r.panicked, r.panicValue = true, p
			}
			r.mu.Unlock()
		}
	}()
	err := r.m.Do(ctx, id, func(ctx context.Context, db DB) error { return r.fn(ctx, id, db) })
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.errs = append(r.errs, &TenantError{TenantID: id, Err: err})
	}
	if r.opts.Progress != nil {
		r.opts.Progress(id, err)
	}
}
