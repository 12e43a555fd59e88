// Package placement spreads tenants over several PostgreSQL servers and
// moves them between servers, with PostgreSQL's own means: a
// [dbstrategy.Strategy] that routes each tenant to the server its
// placement names, a [Policy] that places new tenants, and the data step
// of a move ([Copy], [Verify], [Pause], [Resume]).
//
// The placement itself (which server holds which tenant, which servers
// are closed to new tenants) is the application's data, kept in its
// registry; this package reads it through functions the application
// gives it ([LocateFunc], [LoadFunc]) and keeps none.
//
// # Routing
//
// Give [New] one strategy per server (pgstrategy: a database per tenant),
// or [NewPinned] (schemastrategy: a schema per tenant), and hand the
// router to one [dbstrategy.Manager]:
//
//	servers := map[string]dbstrategy.Strategy{"pg1": pg1, "pg2": pg2} // pgstrategy.New on each server
//	r, err := placement.New(servers, registry.Locate)
//	m, err := dbstrategy.NewManager(r, dbstrategy.WithMigrations(fsys), dbstrategy.WithMaxConns(40))
//
//	// A new tenant: pick a server, record it, then create.
//	policy := placement.FewestTenants{Servers: r.Servers(), Load: registry.Load}
//	server, err := policy.Pick(ctx, id)
//	err = registry.Place(ctx, id, server)
//	err = m.Create(ctx, id)
//
// Each server keeps its own connection budget: WithMaxConns(40) gives
// every server 40 ([WithServerBudget] changes one), enforced by that
// server's strategy as when it serves alone. The servers belong to the
// caller, who closes them after the Manager.
//
// # Moving a tenant
//
// A move copies the tenant with COPY over the strategies' own connections,
// twice: once while it is served, then again while writes are paused, and
// switches the placement in between:
//
//	src, _ := r.Server("pg1")
//	dst, _ := r.Server("pg2")
//	err = dbstrategy.NewManager(dst, ...).Create(ctx, id) // created and migrated on pg2
//	_, err = placement.Copy(ctx, src, dst, id)            // while served: finds problems, warms caches
//	err = placement.Pause(ctx, src, id)                   // writes now fail with SQLSTATE 25006
//	_, err = placement.Copy(ctx, src, dst, id)            // the final state, verified
//	// the switch: the registry records pg2, in one transaction
//	// close the handles on pg1 in every process, then
//	err = src.Drop(ctx, id)
//
// Package tenancy/registry runs these steps as a state of the tenant's
// record, resumable after a crash at any step (its Registry.Move,
// Reconcile and Drain), through a [Mover] over the Router's servers:
//
//	mover, err := placement.NewMover(r, m.Evict, dbstrategy.WithMigrations(fsys))
//	reg, err := registry.New(store, m, registry.WithMover(mover))
//	rec, err := reg.Move(ctx, id, "pg2")
//
// A move rolled back calls [Resume] on the source and drops the copy.
// Reads are served by the source throughout, writes fail only from Pause
// to the switch: a server maps [IsPaused] errors to 503 with Retry-After,
// and the retry reaches the new server. Every write either committed on
// the source before Pause returned (and is in the final copy) or failed;
// after the switch, a process that still routes to the source (before it
// learns of the switch) can read it, paused and complete, but not write
// to it, so no write is lost or split. Copy is atomic on the destination
// and may be run again after any failure; Pause survives restarts, so a
// move interrupted at any step can be resumed (Pause and Copy again) or
// rolled back (Resume).
//
// Why COPY rather than logical replication: logical replication would
// copy only the changes made after a first copy, shortening the pause,
// but it needs wal_level = logical, which is not PostgreSQL's default and
// takes a restart to set, plus a publication, a replication slot (which
// holds WAL on the source while it lags) and a subscription per tenant,
// and a role with REPLICATION. COPY needs nothing the strategies do not
// already have. The write pause of a move is the final Copy plus the
// switch: for a tenant of 100,000 rows (10 MB, two indexes) between two
// local clusters on a 2-core machine (BenchmarkMove, "pause-ms/op", Pause
// and a verified Copy), 0.48 s a schema per tenant and 0.92 s a database
// per tenant (whose Copy also opens a pool on each server), of which the
// checksums took 0.16 to 0.19 s; 0.84 to 1.56 s while other processes
// loaded the machine (load average 6.6).
//
// # Errors
//
// [Router] errors wrap the strategies' own (errors.Is(err,
// dbstrategy.ErrNotFound) holds through it) in a *[ServerError] naming the
// server; a placement on a server the Router was not given wraps
// [ErrUnknownServer]. [Copy] and [Verify] return a *[MismatchError]
// (errors.Is [ErrMismatch]) when the copy differs, and errors wrapping
// [ErrSchemaMismatch] when the two sides are not at the same schema. A
// write to a paused tenant fails with SQLSTATE 25006, [CodePaused].
package placement
