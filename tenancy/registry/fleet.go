package registry

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"sync"

	"github.com/tenantkit/tenantkit/dbstrategy"
	"github.com/tenantkit/tenantkit/tenancy"
)

// idsPage is how many records IDs reads per query.
const idsPage = 500

// IDs returns the IDs of the records of s in one of statuses (all records
// if none is given), in ID order, read a page at a time as the sequence is
// iterated: the tenant sequence of dbstrategy's Manager.ForEach. A listing
// error ends the sequence early; the function returned with it then
// returns that error, so check it after the iteration (as with
// bufio.Scanner's Err):
//
//	ids, idsErr := registry.IDs(ctx, store, tenancy.StatusActive)
//	err := m.ForEach(ctx, ids, dbstrategy.ForEachOptions{}, work)
//	err = errors.Join(err, idsErr())
//
// The sequence may be iterated again; each iteration reads afresh.
func IDs(ctx context.Context, s Store, statuses ...tenancy.Status) (iter.Seq[string], func() error) {
	var mu sync.Mutex
	var failed error
	seq := func(yield func(string) bool) {
		for after := ""; ; {
			page, err := s.List(ctx, Filter{Status: statuses, After: after, Limit: idsPage})
			if err != nil {
				mu.Lock()
				failed = err
				mu.Unlock()
				return
			}
			for _, rec := range page {
				if !yield(rec.ID) {
					return
				}
			}
			if len(page) < idsPage {
				return
			}
			after = page[len(page)-1].ID
		}
	}
	return seq, func() error {
		mu.Lock()
		defer mu.Unlock()
		return failed
	}
}

// MigrateOptions tunes [MigrateAll]. The zero value is valid.
type MigrateOptions struct {
	// Parallel is the most tenants migrated at once; 0 means
	// dbstrategy.DefaultMigrateParallel, negative is invalid.
	Parallel int
	// Target, if not 0, skips the tenants whose recorded Version is Target
	// and whose last migration did not fail: those the registry already
	// knows are current. 0 migrates every tenant (each one that is current
	// costs a version check).
	Target int64
	// Progress, if not nil, is called once per tenant migrated, as soon as
	// it is done and its outcome recorded, with the version it is at (0 on
	// error) and its error (the migration's, or the recording's). Calls
	// never overlap.
	Progress func(rec Record, version int64, err error)
}

// MigrateAll migrates the databases of the active and suspended tenants of
// s with m, at most opts.Parallel at a time, and records each tenant's
// outcome with [Store.RecordMigration]: the version its database is at
// (which is newer than m's migrations if a newer release migrated it), or
// why it failed. One tenant's failure does not stop the others; running it
// again resumes. Provisioning tenants are left to their provisioning. When
// ctx ends, the tenants not migrated get its error, which is not recorded.
//
// It returns nil if every tenant was migrated and recorded; else the
// errors joined (errors.Join), each naming its tenant: a
// *dbstrategy.MigrateError, or a failure to record. A listing error is
// returned before anything is migrated; an error wrapping
// [ErrInvalidConfig] for a nil s or m or a negative Parallel.
func MigrateAll(ctx context.Context, s Store, m *dbstrategy.Manager, opts MigrateOptions) error {
	if s == nil || m == nil {
		return configErrorf("MigrateAll: nil Store or Manager")
	}
	if opts.Parallel < 0 {
		return configErrorf("MigrateAll: Parallel %d is negative", opts.Parallel)
	}
	recs, err := s.List(ctx, Filter{Status: []tenancy.Status{tenancy.StatusActive, tenancy.StatusSuspended}})
	if err != nil {
		return err
	}
	byID := make(map[string]Record, len(recs))
	var ids []string
	for _, rec := range recs {
		if opts.Target != 0 && rec.Version == opts.Target && rec.MigrationError == "" {
			continue
		}
		byID[rec.ID] = rec
		ids = append(ids, rec.ID)
	}
	var errs []error
	m.MigrateAll(ctx, ids, dbstrategy.MigrateAllOptions{
		Parallel: opts.Parallel,
		Progress: func(id string, version int64, merr error) { // calls never overlap
			failure := ""
			if merr != nil {
				failure = merr.Error()
			}
			var rerr error
			if merr == nil || ctx.Err() == nil {
				// A tenant not migrated because ctx ended is not recorded
				// as failed. The others are recorded with a context of
				// their own, so that one whose migration ended just as ctx
				// did is recorded still.
				rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), DefaultTimeout)
				rerr = s.RecordMigration(rctx, id, version, failure)
				cancel()
			}
			err := merr
			if rerr != nil {
				err = errors.Join(merr, fmt.Errorf("registry: record the migration of tenant %q: %w", id, rerr))
			}
			if err != nil {
				errs = append(errs, err)
			}
			if opts.Progress != nil {
				rec := byID[id]
				if rerr == nil {
					if merr == nil {
						rec.Version = version
					}
					rec.MigrationError = failure
				}
				opts.Progress(rec, version, err)
			}
		},
	})
	return errors.Join(errs...)
}
