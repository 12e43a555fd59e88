package dbstrategy

import (
	"context"
	"fmt"
)

// leaseCurrent is the slow path of Acquire under WithPendingMigrations, for
// a lease l on a handle not yet found current: it gives l back, takes the
// tenant's migration lock, leases the tenant again and checks or migrates
// it, by the policy. It returns the new lease, or releases it and returns
// the error.
//
// l is given back first because Drop holds the tenant lock while it waits
// for the tenant's leases: waiting for the lock with a lease held would
// leave both waiting until their contexts end. Between the two leases the
// handle may be closed; the new one is then checked in its turn.
func (m *Manager) leaseCurrent(ctx context.Context, l *Lease) (*Lease, error) {
	id := l.h.id
	l.Release()
	unlock, err := m.lockTenant(ctx, id)
	if err != nil {
		return nil, err // ErrClosed, or ctx's error naming the tenant
	}
	defer unlock()
	l, err = m.lease(ctx, id)
	if err != nil {
		return nil, err
	}
	if l.h.current.Load() { // a Migrate, or the Acquire we waited for
		return l, nil
	}
	switch m.cfg.pending {
	case PendingMigrate:
		_, err = m.migrateLocked(ctx, id) // marks the handle current
	default:
		err = m.checkVersion(ctx, l)
	}
	if err != nil {
		l.Release()
		return nil, err
	}
	return l, nil
}

// checkVersion reads the tenant's goose version on l's handle, marks the
// handle current if it is at or beyond the newest migration, and returns a
// *SchemaBehindError otherwise. It reads it without goose's migration
// lock, so a migration in progress in another process does not hold it
// up: first in one query of goose's version store on the lease itself
// (the newest version recorded), and only if that fails (no version
// table yet, no row) through a goose provider, which tells those cases
// apart at the cost of a provider and a check that the table exists. A
// tenant without a version table so costs a failed query first (which
// PostgreSQL logs as an ERROR) and goose's creation of the table, as
// before.
func (m *Manager) checkVersion(ctx context.Context, l *Lease) error {
	id := l.h.id
	want := m.target
	have, err := m.versions.GetLatestVersion(ctx, l.DB())
	if err != nil {
		p, perr := m.provider(l.c.db)
		if perr != nil {
			return fmt.Errorf("dbstrategy: acquire %q: checking the schema version: %w", id, perr)
		}
		if have, want, err = p.GetVersions(ctx); err != nil {
			return fmt.Errorf("dbstrategy: acquire %q: checking the schema version: %w", id, err)
		}
	}
	if have < want {
		return &SchemaBehindError{TenantID: id, Have: have, Want: want}
	}
	l.h.current.Store(true)
	return nil
}
