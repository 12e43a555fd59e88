package dbstrategy

import "context"

// Do runs fn with a lease on the tenant's handle: it acquires the lease as
// [Manager.Acquire] does, calls fn with ctx and the lease's [DB], and
// releases the lease when fn returns, or panics (the panic then goes on,
// after the release). It returns Acquire's error, without calling fn, or
// else fn's error as is, so that errors.Is and errors.As see fn's own
// errors.
//
// db is valid only during fn: keep neither it nor anything made from it
// (rows, statements, transactions) after fn returns, since every method of
// db fails with [ErrReleased] then.
//
// # Where to hold a lease
//
// Hold a lease around the queries, not around a request's slow work:
// hash passwords, call other services and render responses before or
// after Do, not inside fn. A lease keeps its handle open (at most
// [WithMaxOpen] are, and a new tenant waits for an unleased one) and, on a
// strategy whose tenants share a pool ([ConnPinner], schemastrategy), holds
// one of the pool's connections for its whole duration, so a lease held
// across a password hash (tens of milliseconds of argon2id) keeps a
// connection of the budget from queries that need it for a fraction of a
// millisecond each.
//
// Do hands fn the lease's DB, not the lease: code that uses [Lease.Stmt]
// takes the lease itself with [Manager.Acquire].
// Nor call Do, or Acquire, for another tenant inside fn: a goroutine
// holding one lease and waiting for a second can wait for ever (bounded
// by its context) if every handle is leased by goroutines doing the same.
//
// # With package tenancy
//
// dbstrategy does not import package tenancy (the packages are siblings),
// so a handler behind tenancy's middleware passes the tenant's ID itself;
// tenancy's IDs are keys [ValidateKey] accepts:
//
//	t, _ := tenancy.FromContext(r.Context()) // the middleware put it there
//	err := m.Do(r.Context(), t.ID, func(ctx context.Context, db dbstrategy.DB) error {
//		return db.QueryRowContext(ctx, "SELECT body FROM notes WHERE id = $1", id).Scan(&body)
//	})
func (m *Manager) Do(ctx context.Context, tenantID string, fn func(ctx context.Context, db DB) error) error {
	l, err := m.Acquire(ctx, tenantID)
	if err != nil {
		return err
	}
	defer l.Release()
	return fn(ctx, l.DB())
}
