// Package wiring holds no code: its tests check that the library's
// packages fit together the way an application wires them, across package
// boundaries no single package's tests cross. Today: every tenant hint that
// tenancy's default validator accepts is a key that dbstrategy accepts, so
// m.Acquire(ctx, t.ID) works for every tenant the resolver lets through.
package wiring
