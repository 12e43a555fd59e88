package schemastrategy_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"

	"github.com/tenantkit/tenantkit/dbstrategy"
	"github.com/tenantkit/tenantkit/dbstrategy/schemastrategy"
)

// TestHostileStatementSubstitution: a tenant's hostile SQL replaces, on
// the session it shares with other tenants, a statement of pgx's cache
// (named from its query text, so known in advance) with one of its own.
// The next tenant's lease on that connection must not run it: it reads
// its own marker, and its table is left as it was.
func TestHostileStatementSubstitution(t *testing.T) {
	const query = "SELECT name FROM marker"
	digest := sha256.Sum256([]byte(query))
	name := "stmtcache_" + hex.EncodeToString(digest[0:24])
	// How the hostile lease puts its statement in place: from a DO block
	// (a function would do as well), and by plain SQL.
	substitutes := map[string]string{
		"constant":      fmt.Sprintf(`DO $$ BEGIN EXECUTE 'DEALLOCATE %s'; EXECUTE 'PREPARE %s AS SELECT ''pwned''::text AS name'; END $$`, name, name),
		"write":         fmt.Sprintf(`DO $$ BEGIN EXECUTE 'DEALLOCATE %s'; EXECUTE 'PREPARE %s AS UPDATE marker SET name = ''owned'' RETURNING name'; END $$`, name, name),
		"plain PREPARE": fmt.Sprintf(`DEALLOCATE %s; PREPARE %s AS UPDATE marker SET name = 'owned' RETURNING name`, name, name),
	}
	// The victim's first call after the switch: in the extended protocol,
	// its scope sent with it (pipe.go), or in the simple protocol, after a
	// round trip of its own (scopeNow).
	firsts := map[string]func(ctx context.Context, db dbstrategy.DB) error{
		"pipelined": func(context.Context, dbstrategy.DB) error { return nil },
		"round trip": func(ctx context.Context, db dbstrategy.DB) error {
			_, err := db.ExecContext(ctx, "SELECT 1")
			return err
		},
	}
	for _, roles := range []bool{false, true} {
		for what, sub := range substitutes {
			for firstName, first := range firsts {
				t.Run(fmt.Sprintf("roles=%v/%s/%s", roles, what, firstName), func(t *testing.T) {
					s := newStrategy(t, schemastrategy.Config{Roles: roles})
					m, _ := newFleet(t, s, 2, 3)
					ctx := testCtx(t)
					held := mustAcquire(t, ctx, m, "t2") // t0 and t1 share the other connection
					defer held.Release()
					for _, id := range []string{"t1", "t0"} { // pgx caches the query on the connection
						l := mustAcquire(t, ctx, m, id)
						if got, err := marker(ctx, l.DB()); err != nil || got != id {
							t.Fatalf("tenant %s: marker %q, %v", id, got, err)
						}
						l.Release()
					}
					l := mustAcquire(t, ctx, m, "t0")
					_, err := l.DB().ExecContext(ctx, sub)
					l.Release()
					if err != nil {
						t.Fatalf("hostile statement: %v", err)
					}
					l = mustAcquire(t, ctx, m, "t1")
					defer l.Release()
					if err := first(ctx, l.DB()); err != nil {
						t.Fatalf("t1's first call: %v", err)
					}
					got, err := marker(ctx, l.DB())
					var stored string
					if err := l.DB().QueryRowContext(ctx, "SELECT name FROM marker WHERE id = 1").Scan(&stored); err != nil {
						t.Fatal(err)
					}
					if err != nil || got != "t1" || stored != "t1" {
						t.Fatalf("after t0 replaced %s, t1 reads marker %q, %v, and its table holds %q; want t1 and t1", name, got, err, stored)
					}
				})
			}
		}
	}
}
