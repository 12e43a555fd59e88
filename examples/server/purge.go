package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/tenantkit/tenantkit/dbstrategy"
	"github.com/tenantkit/tenantkit/tenancy"
	"github.com/tenantkit/tenantkit/tenancy/registry"
)

// The background purge deletes what the server keeps only for a while:
// refresh tokens and families that expired or were revoked more than the
// token retention ago, idempotency records older than their retention,
// and change log entries older than changeLogRetention. It works in
// bounded steps, so that no pass holds a lock or a transaction for long
// however much there is to delete: one DELETE removes at most purgeBatch
// rows, a pass runs at most purgeMaxBatches of them per table and
// database, and visits at most purgeTenantsPerPass tenant databases,
// purgeParallel at a time, resuming the walk over the tenants where the
// last pass stopped.
const (
	purgeInterval       = 10 * time.Minute
	purgeBatch          = 500
	purgeMaxBatches     = 20
	purgeTenantsPerPass = 100
	purgeParallel       = 2
	purgePassTimeout    = 5 * time.Minute
)

// changeLogRetention is how long the registry's change log entries are
// kept: far longer than any server's poll interval, or the registry
// watch's wait for a change committed out of order.
const changeLogRetention = time.Hour

// purger runs purge passes over the core database and the tenants'.
type purger struct {
	core      *sql.DB
	reg       registry.Store // the tenants, and the change log to trim
	tenants   *dbstrategy.Manager
	tokens    time.Duration // retention of expired and revoked refresh tokens
	idem      time.Duration // retention of idempotency records
	now       func() time.Time
	nextAfter string // the tenant id the walk resumes after
	// throttle deletes the login throttle's refilled buckets from the
	// core database; nil when they live in memory.
	throttle func(context.Context) (int64, error)
}

// newPurger returns a purger with the retentions of l (defaults for zero).
func newPurger(core *sql.DB, reg registry.Store, tenants *dbstrategy.Manager, l limitsConfig) *purger {
	p := &purger{core: core, reg: reg, tenants: tenants, tokens: l.tokenRetention, idem: l.idemRetention, now: time.Now}
	if p.tokens == 0 {
		p.tokens = defaultTokenRetention
	}
	if p.idem == 0 {
		p.idem = defaultIdemRetention
	}
	return p
}

// purgeStats counts the rows one pass deleted.
type purgeStats struct {
	tokens, families, idem, changes int64 // in the core database
	throttleKeys                    int64 // refilled login throttle buckets
	tenantTokens, tenantFamilies    int64
	tenants                         int // tenant databases visited
}

// pass runs one purge pass. It is not safe for concurrent use: one
// goroutine runs the passes (see startPurge), or a test calls it.
func (p *purger) pass(ctx context.Context) (purgeStats, error) {
	var st purgeStats
	t := p.now()
	tokenCutoff := t.Add(-p.tokens).UnixMicro()
	var err error
	if st.tokens, st.families, err = purgeRefresh(ctx, p.core, tokenCutoff); err != nil {
		return st, fmt.Errorf("purge core refresh tokens: %w", err)
	}
	if st.idem, err = purgeBatches(ctx, p.core,
		`DELETE FROM idempotency_keys WHERE (owner_id, idem_key) IN
		 (SELECT owner_id, idem_key FROM idempotency_keys WHERE created_at < $1 LIMIT $2)`, t.Add(-p.idem).UTC()); err != nil {
		return st, fmt.Errorf("purge idempotency records: %w", err)
	}
	if st.changes, err = p.reg.TrimChanges(ctx, t.Add(-changeLogRetention)); err != nil {
		return st, fmt.Errorf("purge change log: %w", err)
	}
	if p.throttle != nil {
		if st.throttleKeys, err = p.throttle(ctx); err != nil {
			return st, fmt.Errorf("purge login throttle: %w", err)
		}
	}

	recs, err := p.reg.List(ctx, registry.Filter{Status: []tenancy.Status{tenancy.StatusActive}, After: p.nextAfter, Limit: purgeTenantsPerPass})
	if err != nil {
		return st, fmt.Errorf("purge: list tenants: %w", err)
	}
	p.nextAfter = "" // the walk starts over after the last tenant
	if len(recs) == purgeTenantsPerPass {
		p.nextAfter = recs[len(recs)-1].ID
	}
	var errs []error
	var tokens, families atomic.Int64
	keys := func(yield func(string) bool) {
		for _, rec := range recs {
			if !yield(rec.ID) {
				return
			}
		}
	}
	// ForEach's error is no more than what Progress saw and ctx.Err().
	_ = p.tenants.ForEach(ctx, keys, dbstrategy.ForEachOptions{Parallel: purgeParallel, Progress: func(key string, err error) {
		st.tenants++
		if err != nil && !errors.Is(err, dbstrategy.ErrNotFound) { // deleted meanwhile
			errs = append(errs, fmt.Errorf("purge tenant %s: %w", key, err))
		}
	}}, func(ctx context.Context, _ string, db dbstrategy.DB) error {
		tok, fam, err := purgeRefresh(ctx, db, tokenCutoff)
		tokens.Add(tok)
		families.Add(fam)
		return err
	})
	st.tenantTokens, st.tenantFamilies = tokens.Load(), families.Load()
	return st, errors.Join(append(errs, ctx.Err())...) // ctx.Err(): tenants left out
}

// purgeRefresh deletes from db the refresh tokens that expired (idle or
// absolute) or were revoked before cutoffUS, and the families that did.
// A spent token is kept until its own idle expiry plus the retention: a
// replay of it until then still revokes its family.
func purgeRefresh(ctx context.Context, db dbstrategy.DB, cutoffUS int64) (tokens, families int64, err error) {
	for _, q := range []string{
		`DELETE FROM refresh_tokens WHERE token_hash IN
		 (SELECT token_hash FROM refresh_tokens WHERE idle_expires_us < $1 LIMIT $2)`,
		`DELETE FROM refresh_tokens WHERE token_hash IN
		 (SELECT token_hash FROM refresh_tokens WHERE revoked_us <> 0 AND revoked_us < $1 LIMIT $2)`,
	} {
		n, err := purgeBatches(ctx, db, q, cutoffUS)
		tokens += n
		if err != nil {
			return tokens, families, err
		}
	}
	for _, q := range []string{
		`DELETE FROM refresh_families WHERE family_id IN
		 (SELECT family_id FROM refresh_families WHERE family_expires_us < $1 LIMIT $2)`,
		`DELETE FROM refresh_families WHERE family_id IN
		 (SELECT family_id FROM refresh_families WHERE revoked_us <> 0 AND revoked_us < $1 LIMIT $2)`,
	} {
		n, err := purgeBatches(ctx, db, q, cutoffUS)
		families += n
		if err != nil {
			return tokens, families, err
		}
	}
	return tokens, families, nil
}

// purgeBatches runs query (a DELETE of at most $2 rows older than $1)
// until it deletes fewer than purgeBatch rows, at most purgeMaxBatches
// times, each in its own short transaction. It returns the rows deleted.
func purgeBatches(ctx context.Context, db dbstrategy.DB, query string, cutoff any) (int64, error) {
	var total int64
	for range purgeMaxBatches {
		res, err := db.ExecContext(ctx, query, cutoff, purgeBatch)
		if err != nil {
			return total, storeErr("purge", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, storeErr("purge", err)
		}
		total += n
		if n < purgeBatch {
			break
		}
	}
	return total, nil
}

// startPurge runs a purge pass every interval in a goroutine, logging
// what it deleted and any failure, until the returned stop function is
// called; stop cancels a pass in progress and waits for the goroutine to
// exit. newApp registers stop with the app's closers, so the purge ends
// when the server shuts down, before the databases close.
func startPurge(p *purger, every time.Duration, log *slog.Logger) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			pctx, pcancel := context.WithTimeout(ctx, purgePassTimeout)
			st, err := p.pass(pctx)
			pcancel()
			if err != nil && ctx.Err() == nil {
				log.LogAttrs(ctx, slog.LevelWarn, "purge", slog.String("err", err.Error()))
			}
			log.LogAttrs(ctx, slog.LevelDebug, "purged",
				slog.Int64("tokens", st.tokens+st.tenantTokens), slog.Int64("families", st.families+st.tenantFamilies),
				slog.Int64("idempotency_keys", st.idem), slog.Int64("changes", st.changes), slog.Int64("throttle_keys", st.throttleKeys), slog.Int("tenants", st.tenants))
		}
	}()
	return func() error {
		cancel()
		<-exited
		return nil
	}
}
