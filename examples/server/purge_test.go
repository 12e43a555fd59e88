package main

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tenantkit/tenantkit/auth"
	"github.com/tenantkit/tenantkit/dbstrategy"
)

// countWhere counts the rows of table matching cond (args as $1...).
func countWhere(t *testing.T, db dbstrategy.DB, table, cond string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM `+table+` WHERE `+cond, args...).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

// mustExec runs a statement of the test's setup.
func mustExec(t *testing.T, db dbstrategy.DB, query string, args ...any) {
	t.Helper()
	if _, err := db.ExecContext(context.Background(), query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// tenantDB runs fn on the database of tenant id.
func tenantDB(t *testing.T, ts *testServer, id string, fn func(db dbstrategy.DB)) {
	t.Helper()
	err := sqlTenantStores{m: ts.app.dbs}.WithTenant(context.Background(), id, func(st TenantStore) error {
		fn(st.(sqlTenantStore).db)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// seedRefresh stores, in a directory's database, a family and tokens of
// userID in every state the purge tells apart, relative to now and the
// retention: the "gone-*" rows are past it, the "kept-*" rows not.
func seedRefresh(t *testing.T, db dbstrategy.DB, userID int64, now time.Time, retention time.Duration) {
	t.Helper()
	us := now.UnixMicro()
	old := now.Add(-retention - time.Hour).UnixMicro() // expired or revoked longer ago than the retention
	recent := now.Add(-retention / 2).UnixMicro()      // within it
	future := now.Add(refreshIdleTTL).UnixMicro()      // not expired
	for _, f := range []struct {
		id               string
		expires, revoked int64
	}{
		{"kept-live", future, 0}, {"kept-revoked-recently", future, recent},
		{"gone-expired", old, 0}, {"gone-revoked", future, old},
	} {
		mustExec(t, db, `INSERT INTO refresh_families (family_id, user_id, created_us, family_expires_us, revoked_us) VALUES ($1, $2, $3, $4, $5)`,
			f.id, userID, us, f.expires, f.revoked)
	}
	for _, tok := range []struct {
		hash, family        string
		idle, used, revoked int64
	}{
		{"kept-live", "kept-live", future, 0, 0},
		{"kept-spent", "kept-live", future, us, 0}, // spent, not expired: a replay must still revoke
		{"kept-spent-expired-recently", "kept-live", recent, recent, 0},
		{"kept-revoked-recently", "kept-revoked-recently", future, 0, recent},
		{"gone-spent-expired", "kept-live", old, old, 0},
		{"gone-expired", "gone-expired", old, 0, 0},
		{"gone-revoked", "gone-revoked", future, us, old},
	} {
		mustExec(t, db, `INSERT INTO refresh_tokens (token_hash, family_id, user_id, created_us, idle_expires_us, family_expires_us, used_us, revoked_us)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, tok.hash, tok.family, userID, us, tok.idle, future, tok.used, tok.revoked)
	}
}

// checkRefreshPurged checks what seedRefresh stored after a purge pass.
func checkRefreshPurged(t *testing.T, where string, db dbstrategy.DB) {
	t.Helper()
	for _, table := range []string{"refresh_tokens WHERE token_hash", "refresh_families WHERE family_id"} {
		for _, prefix := range []string{"kept-", "gone-"} {
			tbl, col, _ := strings.Cut(table, " WHERE ")
			var got int
			if err := db.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM `+tbl+` WHERE `+col+` LIKE $1`, prefix+"%").Scan(&got); err != nil {
				t.Fatal(err)
			}
			var want int
			if prefix == "kept-" {
				want = map[string]int{"refresh_tokens": 4, "refresh_families": 2}[tbl]
			}
			if got != want {
				t.Errorf("%s: %d %s rows named %s* after the purge; want %d", where, got, tbl, prefix, want)
			}
		}
	}
}

// TestPurge runs one purge pass, as the background goroutine does, on a
// core and a tenant database holding rows on both sides of each
// retention: what is past it is gone, what is not (live sessions, spent
// tokens a replay must still catch, recent idempotency records and
// changes) is kept, and the live sessions still refresh.
func TestPurge(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel() // databases of its own (see backends)
			ts := startServer(t, b.config(t))
			ctx := context.Background()
			owner := ts.coreUser(t, "owner@example.com")
			orgID, _ := ts.org(t, owner, "Purged")
			ts.tenantUser(t, orgID, "user@example.com")
			corePair := loginPair(t, ts, "", "owner@example.com")
			tenantPair := loginPair(t, ts, orgID, "user@example.com")

			core := ts.app.store.(*sqlCoreStore).db
			u, err := ts.app.store.UserByEmail(ctx, "owner@example.com")
			if err != nil {
				t.Fatal(err)
			}
			now := time.Now()
			p := newPurger(core, ts.app.reg, ts.app.dbs, ts.cfg.limits)
			p.now = func() time.Time { return now }

			seedRefresh(t, core, u.ID, now, p.tokens)
			tenantDB(t, ts, orgID, func(db dbstrategy.DB) {
				var uid int64
				if err := db.QueryRowContext(ctx, `SELECT id FROM users WHERE email = $1`, "user@example.com").Scan(&uid); err != nil {
					t.Fatal(err)
				}
				seedRefresh(t, db, uid, now, p.tokens)
			})
			oid, _ := strconv.ParseInt(orgID, 10, 64)
			for key, at := range map[string]time.Time{"gone-key": now.Add(-p.idem - time.Hour), "kept-key": now.Add(-p.idem / 2)} {
				mustExec(t, core, `INSERT INTO idempotency_keys (owner_id, idem_key, request_hash, org_id, created_at) VALUES ($1, $2, $3, $4, $5)`,
					u.ID, key, "hash", oid, at.UTC())
			}
			for slug, at := range map[string]time.Time{"gone-change": now.Add(-changeLogRetention - time.Minute), "kept-change": now.Add(-changeLogRetention / 2)} {
				mustExec(t, core, `INSERT INTO tenantkit_tenant_changes (tenant_id, slug, status, changed_us) VALUES ($1, $2, $3, $4)`, orgID, slug, "active", at.UnixMicro())
			}

			st, err := p.pass(ctx)
			if err != nil {
				t.Fatalf("purge pass: %v", err)
			}
			if st.tenants < 1 {
				t.Errorf("the pass visited %d tenants; want the active one", st.tenants)
			}
			checkRefreshPurged(t, "core", core)
			tenantDB(t, ts, orgID, func(db dbstrategy.DB) { checkRefreshPurged(t, "tenant", db) })
			if n := countWhere(t, core, "idempotency_keys", "idem_key = $1", "gone-key"); n != 0 {
				t.Errorf("an idempotency record past its retention is still there")
			}
			if n := countWhere(t, core, "idempotency_keys", "idem_key = $1", "kept-key"); n != 1 {
				t.Errorf("an idempotency record within its retention was purged")
			}
			if n := countWhere(t, core, "tenantkit_tenant_changes", "slug = $1", "gone-change"); n != 0 {
				t.Errorf("a change log entry past its retention is still there")
			}
			if n := countWhere(t, core, "tenantkit_tenant_changes", "slug = $1", "kept-change"); n != 1 {
				t.Errorf("a recent change log entry was purged")
			}
			// The sessions the logins started are untouched.
			wantRefresh(t, refresh(t, ts, "", corePair.Refresh), http.StatusOK, "core session after the purge")
			wantRefresh(t, refresh(t, ts, orgID, tenantPair.Refresh), http.StatusOK, "tenant session after the purge")
			// A spent token the purge kept still gives reuse away.
			hash, _ := auth.HashRefreshToken(corePair.Refresh)
			if n := countWhere(t, core, "refresh_tokens", "token_hash = $1 AND used_us <> 0", hash); n != 1 {
				t.Errorf("the spent core token was purged before its expiry")
			}
		})
	}
}

// TestPurgeBounded: one pass deletes at most purgeMaxBatches batches of
// purgeBatch rows of a table, so a backlog is worked off over several
// passes, none of them long.
func TestPurgeBounded(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel() // databases of its own (see backends)
			ts := startServer(t, b.config(t))
			ts.coreUser(t, "bulk@example.com")
			u, err := ts.app.store.UserByEmail(context.Background(), "bulk@example.com")
			if err != nil {
				t.Fatal(err)
			}
			core := ts.app.store.(*sqlCoreStore).db
			const extra = 7
			backlog := purgeBatch*purgeMaxBatches + extra
			mustExec(t, core, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1)
				INSERT INTO refresh_tokens (token_hash, family_id, user_id, created_us, idle_expires_us, family_expires_us)
				SELECT 'bulk-' || i, 'bulk', $2, 1, 2, 3 FROM n`, backlog, u.ID)
			p := newPurger(core, ts.app.reg, ts.app.dbs, ts.cfg.limits)
			st, err := p.pass(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if want := int64(purgeBatch * purgeMaxBatches); st.tokens != want {
				t.Errorf("first pass deleted %d tokens; want %d (one pass's bound)", st.tokens, want)
			}
			if n := countWhere(t, core, "refresh_tokens", "family_id = $1", "bulk"); n != extra {
				t.Errorf("%d expired tokens left after the first pass; want %d", n, extra)
			}
			if _, err := p.pass(context.Background()); err != nil {
				t.Fatal(err)
			}
			if n := countWhere(t, core, "refresh_tokens", "family_id = $1", "bulk"); n != 0 {
				t.Errorf("%d expired tokens left after the second pass; want 0", n)
			}
		})
	}
}
