package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"testing"
	"time"

	"github.com/tenantkit/tenantkit/examples/server/migrations"
)

// seedFleet writes n active organizations at schema version v straight
// into the core database of cfg, as if created and migrated long ago.
// Their tenant databases do not exist: a check that opened one would fail.
func seedFleet(b *testing.B, cfg config, n int, v int64) {
	b.Helper()
	ctx := context.Background()
	a, err := newApp(ctx, cfg, slog.New(slog.DiscardHandler), appOptions{admin: true, hashParams: &testHashParams})
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	u, err := a.core.Register(ctx, "fleet-owner@example.com", "correct horse battery", "")
	if err != nil {
		b.Fatal(err)
	}
	db := a.store.(*sqlCoreStore).db
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now().UTC()
	for i := 0; i < n; i++ {
		var id int64
		if err := tx.QueryRowContext(ctx,
			`INSERT INTO organizations (name, slug, owner_id, created_at) VALUES ($1, $2, $3, $4) RETURNING id`,
			fmt.Sprintf("Org %d", i), fmt.Sprintf("org-%d", i), u.ID, now).Scan(&id); err != nil {
			b.Fatal(err)
		}
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO tenantkit_tenants (id, slug, status, version, created_us, updated_us) VALUES ($1, $2, 'active', $3, $4, $4)`,
			tenantKey(id), fmt.Sprintf("org-%d", i), v, now.UnixMicro()); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
}

var checkedIn = regexp.MustCompile(`(\d+) tenants at version \d+, (\d+) drifted \(checked in ([^)]+)\)`)

// BenchmarkFleetCheck times `migrate status` and a `migrate` with nothing
// to do over a fleet whose versions the registry records: neither opens a
// tenant database. Reports the check alone (from the command's own output)
// and the whole command, start-up included.
//
//	go test ./examples/server -run '^$' -bench FleetCheck -benchtime 3x
func BenchmarkFleetCheck(b *testing.B) {
	for _, bk := range backends() {
		for _, n := range []int{200, 10000} {
			postgres := bk.name != "sqlite"
			if postgres && n > 200 {
				continue
			}
			b.Run(fmt.Sprintf("%s/tenants=%d", bk.name, n), func(b *testing.B) {
				cfg := bk.config(b)
				cfg.tenantDBRoleSecret = testRoleSecret
				dialect := "sqlite3"
				if postgres {
					dialect = "postgres"
				}
				latest, err := migrations.Latest(migrations.Tenant(), dialect)
				if err != nil {
					b.Fatal(err)
				}
				seedFleet(b, cfg, n, latest)
				args := []string{"-data", cfg.dataDir, "-core-db", cfg.coreDB, "-tenant-db", cfg.tenantDB,
					"-tenant-db-prefix", cfg.tenantDBPrefix, "-tenant-isolation", cfg.tenantIsolation,
					"-jwt-secret", cfg.jwtSecret, "-tenant-db-role-secret", testRoleSecret}
				var check time.Duration
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					var out bytes.Buffer
					if err := run(context.Background(), append([]string{"server", "migrate", "status"}, args...), func(string) string { return "" }, &out); err != nil {
						b.Fatalf("migrate status: %v\n%s", err, out.String())
					}
					m := checkedIn.FindStringSubmatch(out.String())
					if m == nil || m[1] != fmt.Sprint(n) || m[2] != "0" {
						b.Fatalf("migrate status printed %q; want %d tenants, 0 drifted", out.String(), n)
					}
					d, err := time.ParseDuration(m[3])
					if err != nil {
						b.Fatal(err)
					}
					check += d
					out.Reset()
					if err := run(context.Background(), append([]string{"server", "migrate"}, args...), func(string) string { return "" }, &out); err != nil {
						b.Fatalf("migrate: %v\n%s", err, out.String())
					}
					if want := fmt.Sprintf("%d tenants, 0 to migrate", n); !bytes.Contains(out.Bytes(), []byte(want)) {
						b.Fatalf("migrate printed %q; want %q", out.String(), want)
					}
				}
				b.ReportMetric(float64(check.Microseconds())/float64(b.N)/1000, "check-ms")
			})
		}
	}
}
