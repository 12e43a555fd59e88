// Package registry keeps the tenants of an app and runs their lifecycle:
// a [Store] of tenant records with a change log, a [Registry] that creates,
// suspends, resumes and deletes tenants crash-safely, a [Lookup] for
// package tenancy's middleware, [Watch] to hear of changes other processes
// make, and [MigrateAll] to migrate the fleet and record each tenant's
// schema version.
//
// # Records and states
//
// A [Record] is one tenant: its ID (its database's key in dbstrategy), its
// slug, its [tenancy.Status], the database server that holds it, and the
// schema version its last migration reached. A tenant is inserted
// provisioning, becomes active once its database is created and migrated,
// may be suspended and resumed, and is deleting while it is removed. Only
// active tenants get traffic: [tenancy.Middleware] applies
// [tenancy.CheckStatus] to what the [Lookup] returns.
//
// # Stores
//
// [NewMemory] keeps everything in memory (tests, examples). [OpenSQL]
// keeps the records in tables of an SQLite or PostgreSQL database, which
// may be the app's own core database: it creates and upgrades its tables
// (prefixed tenantkit_) with goose migrations embedded here and a goose
// version table of its own, [VersionTable]. Every change of a record is
// appended to the change log in the same transaction. An app that keeps
// its own row for each tenant (an organization with an owner, a quota, an
// idempotency key) inserts it and the registry's record in one transaction
// with [SQL.InsertTx], then calls [Registry.Provision].
//
// # Moving tenants
//
// A tenant's Record.Server names the database server that holds it.
// [Registry.Move] moves a tenant to another server through a [Mover] the
// application provides ([WithMover]; placement.NewMover is one over
// PostgreSQL servers): the tenant stays readable throughout, its writes
// fail only while the final copy is made and the placement switched, and
// the switch is one transaction of the Store ([Store.SwitchServer]) after
// a verified copy. The move is recorded in the tenant's record
// (Record.Move, with its phase) at every step, so that a crash at any
// step leaves the tenant served from one server with every acknowledged
// write, and a rerun of Move or [Registry.Reconcile] finishes the move or
// rolls it back. [Registry.Drain] moves every tenant off a server.
//
//	mover, err := placement.NewMover(router, dbs.Evict, dbstrategy.WithMigrations(fsys))
//	reg, err := registry.New(store, dbs, registry.WithMover(mover))
//	rec, err := reg.Move(ctx, "42", "pg2")
//
// # Several processes
//
// Processes sharing a Store see each other's changes through [Watch]: on
// PostgreSQL within milliseconds (LISTEN/NOTIFY), elsewhere at the next
// poll. Each process runs [Registry.Reconcile] when it starts, to finish
// what a crash interrupted; several may run it at once. A change's Server
// says where the tenant is after it: a process forgets the placement it
// cached, and closes its handle, when it differs (a move switched).
//
// # Usage
//
// The shortest path, with tenants' databases in SQLite files:
//
//	store, err := registry.NewMemory() // or registry.OpenSQL(ctx, coreDB, registry.DialectSQLite)
//	strategy, err := sqlitestrategy.New(sqlitestrategy.Config{Dir: "data/tenants"})
//	dbs, err := dbstrategy.NewManager(strategy, dbstrategy.WithMigrations(tenantMigrations))
//	defer dbs.Close()
//
//	lookup, err := registry.NewLookup(store, registry.ByIDOrSlug)
//	cache, err := tenancy.NewCache(lookup)
//	reg, err := registry.New(store, dbs, registry.WithOnChange(func(c registry.Change) {
//		cache.Invalidate(c.ID, c.Slug)
//	}))
//	if err := reg.Reconcile(ctx); err != nil { ... }
//	go registry.Watch(ctx, store, func(c registry.Change) { // returns when ctx is done
//		cache.Invalidate(c.ID, c.Slug)
//		if c.Status == registry.StatusDeleted {
//			dbs.Drop(ctx, c.ID) // close this process's handle
//		}
//	})
//
//	rec, err := reg.Create(ctx, registry.Record{ID: "42", Slug: "acme"}) // active, migrated
//
//	withTenant, err := tenancy.Middleware(tenancy.Header("X-Tenant"), cache)
//	http.Handle("/", withTenant(app)) // tenancy.FromContext(ctx) → dbs.Acquire(ctx, t.ID)
//
// This package imports dbstrategy only for [MigrateAll] and to recognize
// its Manager's Version method; [Registry] works with any [Provisioner].
package registry
