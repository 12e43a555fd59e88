package main

// PostgreSQL goes away under load and comes back: while it is down every
// tenant request answers 503 problem+json quickly, and once it is back the
// same process serves again, with no restart. The shared test server is
// never touched: the outage happens on a private cluster (internal/pgtest).

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tenantkit/tenantkit/internal/pgtest"
)

const (
	// restartClientTimeout bounds every request of the load: a response
	// slower than this is a hang.
	restartClientTimeout = 3 * time.Second
	// restartRecoverWithin bounds how long after PostgreSQL is back the
	// server may take to serve tenants again.
	restartRecoverWithin = 15 * time.Second
	// restartStableRun is how many 200s in a row, after PostgreSQL is back,
	// count as recovered.
	restartStableRun = 50
	// restartDownResponses is how many responses the load must get while
	// PostgreSQL is down, and restartDownFor how long at least it stays
	// down, so that pools meet the outage after their health checks too.
	restartDownResponses = 40
	restartDownFor       = time.Second
)

// outcome is one request of the load.
type outcome struct {
	tenant      int // index into the tenants of the run
	start, end  time.Time
	status      int
	contentType string
	retryAfter  string
	body        string
	err         error
}

// outcomeLog collects the outcomes of every load goroutine in completion
// order.
type outcomeLog struct {
	mu  sync.Mutex
	all []outcome
}

func (l *outcomeLog) add(o outcome) {
	l.mu.Lock()
	l.all = append(l.all, o)
	l.mu.Unlock()
}

func (l *outcomeLog) snapshot() []outcome {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]outcome(nil), l.all...)
}

// count returns how many outcomes started at or after since and satisfy f.
func (l *outcomeLog) count(since time.Time, f func(outcome) bool) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, o := range l.all {
		if !o.start.Before(since) && f(o) {
			n++
		}
	}
	return n
}

// stableSince returns the start of the final unbroken run of 200s among
// the outcomes that started at or after since, and its length.
func (l *outcomeLog) stableSince(since time.Time) (time.Time, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var first time.Time
	n := 0
	for _, o := range l.all {
		if o.start.Before(since) {
			continue
		}
		if o.err != nil || o.status != http.StatusOK {
			n = 0
			continue
		}
		if n == 0 {
			first = o.start
		}
		n++
	}
	return first, n
}

func TestPostgresRestartDuringLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and stops a private PostgreSQL cluster; skipped with -short")
	}
	cluster := pgtest.StartCluster(t)

	tests := []struct {
		name      string
		prefix    string
		tenants   int
		maxConns  int
		isolation string
	}{
		// The tenant's handle stays open: while PostgreSQL is down the
		// errors come from queries on an open pool.
		{name: "open handle", prefix: "pgra_", tenants: 1, maxConns: 40},
		// Budget 4 holds one handle of 4 connections, so nearly every
		// request closes the other tenant's handle and opens its own: while
		// PostgreSQL is down the errors come from Strategy.Open.
		{name: "handle reopened per request", prefix: "pgrb_", tenants: 2, maxConns: 4},
		// A schema per tenant: both tenants share one pool of 4
		// connections, which PostgreSQL's restart breaks all at once; a
		// broken connection is never given back to serve another lease.
		{name: "schema per tenant", prefix: "pgrc_", tenants: 2, maxConns: 4, isolation: isolationSchema},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := baseConfig(dir)
			cfg.coreDB = "sqlite:" + filepath.Join(dir, "core.db")
			cfg.tenantDB = cluster.DSN()
			cfg.tenantDBPrefix = tt.prefix
			cfg.dbMaxConns = tt.maxConns
			if tt.isolation != "" {
				cfg.tenantIsolation = tt.isolation // the schemas in the cluster's postgres database
			}
			var errs errorLog
			ts := serveApp(t, cfg, slog.New(&errs))
			testRestartDuringLoad(t, ts, cluster, tt.tenants)
			t.Logf("errors the server logged: %s", errs.summary())
		})
	}
}

func testRestartDuringLoad(t *testing.T, ts *testServer, cluster *pgtest.Cluster, nTenants int) {
	core := ts.coreUser(t, "restart-load@example.com")
	type tenant struct{ key, token, email string }
	tenants := make([]tenant, nTenants)
	for i := range tenants {
		key, _ := ts.org(t, core, fmt.Sprintf("Restart Load %d", i))
		email := fmt.Sprintf("me-%d@example.com", i)
		tenants[i] = tenant{key: key, token: ts.tenantUser(t, key, email), email: email}
	}

	tr := ts.Client().Transport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 16
	client := &http.Client{Transport: tr, Timeout: restartClientTimeout}
	defer tr.CloseIdleConnections()

	var results outcomeLog
	done := make(chan struct{})
	var wg sync.WaitGroup
	const workers = 4
	for w := range workers {
		wg.Add(1)
		go func() { // exits when done is closed
			defer wg.Done()
			for i := w; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				k := i % len(tenants)
				results.add(restartRequest(client, ts.URL, k, tenants[k].key, tenants[k].token))
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	stopLoad := sync.OnceFunc(func() { close(done); wg.Wait() })
	defer stopLoad()

	// waitFor polls cond until it holds, or fails the test after limit.
	waitFor := func(what string, limit time.Duration, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(limit)
		for !cond() {
			if time.Now().After(deadline) {
				stopLoad()
				t.Fatalf("%s: not within %v", what, limit)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	loadStart := time.Now()
	waitFor("20 successes before the outage", 30*time.Second, func() bool {
		return results.count(loadStart, func(o outcome) bool { return o.status == http.StatusOK }) >= 20
	})

	stopBegin := time.Now()
	if err := cluster.Stop(); err != nil {
		stopLoad()
		t.Fatalf("stop PostgreSQL: %v", err)
	}
	stopEnd := time.Now()
	waitFor(fmt.Sprintf("%d responses while PostgreSQL is down", restartDownResponses), 30*time.Second, func() bool {
		return time.Since(stopEnd) >= restartDownFor &&
			results.count(stopEnd, func(outcome) bool { return true }) >= restartDownResponses
	})

	startBegin := time.Now()
	if err := cluster.Start(); err != nil {
		stopLoad()
		t.Fatalf("start PostgreSQL again: %v", err)
	}
	startEnd := time.Now()
	waitFor(fmt.Sprintf("%d successes in a row after PostgreSQL is back", restartStableRun), restartRecoverWithin, func() bool {
		_, n := results.stableSince(startEnd)
		return n >= restartStableRun
	})
	stopLoad()

	// Judge every response by when it ran relative to the outage.
	all := results.snapshot()
	var counts struct{ up, stopping, down, starting, after int }
	var firstOK time.Time
	downStatuses := map[int]int{}
	for _, o := range all {
		var phase string
		switch {
		case o.end.Before(stopBegin):
			phase, counts.up = "before the outage", counts.up+1
		case o.start.Before(stopEnd):
			phase, counts.stopping = "while PostgreSQL stopped", counts.stopping+1
		case o.end.Before(startBegin):
			phase, counts.down = "while PostgreSQL was down", counts.down+1
			downStatuses[o.status]++
		case o.start.Before(startEnd):
			phase, counts.starting = "while PostgreSQL started", counts.starting+1
		default:
			phase, counts.after = "after PostgreSQL was back", counts.after+1
			if o.status == http.StatusOK && firstOK.IsZero() {
				firstOK = o.end
			}
		}
		what := fmt.Sprintf("GET /api/tenant/users/me on tenant %s %s (took %v)", tenants[o.tenant].key, phase, o.end.Sub(o.start).Round(time.Millisecond))
		switch {
		case o.err != nil:
			t.Errorf("%s: %v; want a response within %v", what, o.err, restartClientTimeout)
		case phase == "before the outage" && o.status != http.StatusOK:
			t.Errorf("%s = %d %s; want 200", what, o.status, o.body)
		case phase == "while PostgreSQL was down" && o.status != http.StatusServiceUnavailable:
			t.Errorf("%s = %d %s; want 503", what, o.status, o.body)
		case o.status != http.StatusOK && o.status != http.StatusServiceUnavailable:
			t.Errorf("%s = %d %s; want 200 or 503", what, o.status, o.body)
		case o.status == http.StatusOK:
			var u struct{ Email string }
			if err := json.Unmarshal([]byte(o.body), &u); err != nil || u.Email != tenants[o.tenant].email {
				t.Errorf("%s = 200 %s; want the user %s", what, o.body, tenants[o.tenant].email)
			}
		case o.status == http.StatusServiceUnavailable:
			if o.contentType != "application/problem+json" || o.retryAfter == "" {
				t.Errorf("%s = 503 with Content-Type %q, Retry-After %q; want application/problem+json and a Retry-After",
					what, o.contentType, o.retryAfter)
			}
			var p problemDoc
			if err := json.Unmarshal([]byte(o.body), &p); err != nil || p.Status != http.StatusServiceUnavailable || p.Detail == "" {
				t.Errorf("%s = 503 %s; want a problem with status 503 and a detail", what, o.body)
			}
		}
	}
	stableFrom, stableRun := results.stableSince(startEnd)
	t.Logf("responses: %d before the outage, %d while stopping (%v), %d while down %v, %d while starting (%v), %d after",
		counts.up, counts.stopping, stopEnd.Sub(stopBegin).Round(time.Millisecond), counts.down, downStatuses,
		counts.starting, startEnd.Sub(startBegin).Round(time.Millisecond), counts.after)
	if !firstOK.IsZero() {
		t.Logf("recovery: first 200 answered %v after PostgreSQL accepted connections again; unbroken 200s for requests started from %v after (%d in a row)",
			firstOK.Sub(startEnd).Round(time.Millisecond), stableFrom.Sub(startEnd).Round(time.Millisecond), stableRun)
	}
	if counts.down < restartDownResponses/2 {
		t.Errorf("only %d responses fell wholly inside the outage; want at least %d", counts.down, restartDownResponses/2)
	}
}

// errorLog is a slog.Handler that keeps the distinct "err" attributes of
// the server's "request failed" records (logged for every 5xx), with
// counts, so the test can tell which error paths answered during the
// outage. Digits are masked so that addresses and tenant keys do not make
// every message distinct.
type errorLog struct {
	mu     sync.Mutex
	counts map[string]int
}

func (*errorLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *errorLog) WithAttrs([]slog.Attr) slog.Handler     { return l }
func (l *errorLog) WithGroup(string) slog.Handler          { return l }

func (l *errorLog) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "request failed" {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key != "err" {
			return true
		}
		msg := strings.Map(func(c rune) rune {
			if c >= '0' && c <= '9' {
				return '#'
			}
			return c
		}, a.Value.String())
		l.mu.Lock()
		if l.counts == nil {
			l.counts = map[string]int{}
		}
		if _, ok := l.counts[msg]; ok || len(l.counts) < 20 {
			l.counts[msg]++
		}
		l.mu.Unlock()
		return false
	})
	return nil
}

func (l *errorLog) summary() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.counts) == 0 {
		return "none"
	}
	var b strings.Builder
	for _, msg := range slices.Sorted(maps.Keys(l.counts)) {
		fmt.Fprintf(&b, "\n\t%d× %s", l.counts[msg], msg)
	}
	return b.String()
}

// restartRequest sends one GET /me and records what came back.
func restartRequest(client *http.Client, base string, idx int, tenant, token string) outcome {
	o := outcome{tenant: idx, start: time.Now()}
	ctx, cancel := context.WithTimeout(context.Background(), restartClientTimeout)
	defer cancel()
	r, err := http.NewRequestWithContext(ctx, "GET", base+"/api/tenant/users/me", nil)
	if err != nil {
		o.err = err
		o.end = time.Now()
		return o
	}
	r.Header.Set("X-Tenant", tenant)
	r.Header.Set("Authorization", "Bearer "+token)
	res, err := client.Do(r)
	if err != nil {
		o.err = err
		o.end = time.Now()
		return o
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 4<<10))
	o.end = time.Now()
	o.status, o.body, o.err = res.StatusCode, strings.TrimSpace(string(b)), err
	o.contentType, o.retryAfter = res.Header.Get("Content-Type"), res.Header.Get("Retry-After")
	return o
}
