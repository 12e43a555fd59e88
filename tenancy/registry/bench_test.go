package registry_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/tenantkit/tenantkit/tenancy"
	"github.com/tenantkit/tenantkit/tenancy/registry"
)

// BenchmarkWatchPostgresLatency measures how long a change committed
// through one *sql.DB takes to reach a Watch on another (polling once an
// hour, so only LISTEN/NOTIFY delivers), and reports the p50 and p99.
func BenchmarkWatchPostgresLatency(b *testing.B) {
	dsn := pgDSN(b)
	s, _ := openSQL(b, registry.DialectPostgres, dsn)
	other, _ := openSQL(b, registry.DialectPostgres, dsn)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	arrived := make(chan time.Time, 1)
	done := make(chan error, 1)
	go func() {
		done <- registry.Watch(ctx, s, func(registry.Change) { arrived <- time.Now() }, registry.WithPollInterval(time.Hour))
	}()
	time.Sleep(200 * time.Millisecond) // let Watch listen
	var lat []time.Duration
	for i := 0; b.Loop(); i++ {
		start := time.Now()
		if _, err := other.Insert(ctx, registry.Record{ID: strconv.Itoa(i), Status: tenancy.StatusActive}); err != nil {
			b.Fatal(err)
		}
		select {
		case at := <-arrived:
			lat = append(lat, at.Sub(start))
		case <-time.After(5 * time.Second):
			b.Fatal("change not delivered within 5s")
		}
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		b.Errorf("Watch() = %v", err)
	}
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(pct(0.5), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}
