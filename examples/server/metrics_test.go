package main

import (
	"bytes"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tenantkit/tenantkit/dbstrategy"
	"github.com/tenantkit/tenantkit/dbstrategy/schemastrategy"
)

// seriesKey names one series of http_requests_total.
type seriesKey struct{ route, method, status string }

// metricsClient sends requests and counts them the way /metrics should:
// by route pattern ("unmatched" when no route matched), method and status.
type metricsClient struct {
	ts   *testServer
	want map[seriesKey]int
}

// send makes q, fails the test unless it answers status, and counts it
// under route.
func (c *metricsClient) send(t *testing.T, route string, q req, status int) response {
	t.Helper()
	r := c.ts.mustStatus(t, q, status)
	c.want[seriesKey{route, q.method, strconv.Itoa(status)}]++
	return r
}

// scrapeMetrics reads /metrics and parses the Prometheus text format.
func scrapeMetrics(t *testing.T, ts *testServer) map[string]*dto.MetricFamily {
	t.Helper()
	r := ts.mustStatus(t, req{method: "GET", path: "/metrics"}, http.StatusOK)
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("GET /metrics Content-Type = %q; want the text format (text/plain)", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(r.body))
	if err != nil {
		t.Fatalf("GET /metrics is not the Prometheus text format: %v\n%s", err, r.body)
	}
	return fams
}

// metricFamily returns the named family, checking its type, or fails the test.
func metricFamily(t *testing.T, fams map[string]*dto.MetricFamily, name string, typ dto.MetricType) *dto.MetricFamily {
	t.Helper()
	f, ok := fams[name]
	if !ok {
		t.Fatalf("/metrics has no %s", name)
	}
	if f.GetType() != typ {
		t.Fatalf("%s is a %v; want a %v", name, f.GetType(), typ)
	}
	return f
}

// metricLabels returns a metric's labels as a map.
func metricLabels(m *dto.Metric) map[string]string {
	l := map[string]string{}
	for _, p := range m.GetLabel() {
		l[p.GetName()] = p.GetValue()
	}
	return l
}

// metricValue is the value of an unlabelled gauge or counter.
func metricValue(t *testing.T, fams map[string]*dto.MetricFamily, name string) float64 {
	t.Helper()
	f, ok := fams[name]
	if !ok || len(f.GetMetric()) != 1 {
		t.Fatalf("/metrics has no single series %s", name)
	}
	m := f.GetMetric()[0]
	switch f.GetType() {
	case dto.MetricType_GAUGE:
		return m.GetGauge().GetValue()
	case dto.MetricType_COUNTER:
		return m.GetCounter().GetValue()
	}
	t.Fatalf("%s is a %v; want a gauge or counter", name, f.GetType())
	return 0
}

// TestMetrics drives a small session through the API with room for only
// two tenant handles, then checks what /metrics says about it: requests by
// route pattern, method and status, their latency histograms, the tenant
// handle manager (three tenants through two handles must evict), the
// connection budget, provisioning outcomes, and that no label names a
// tenant.
func TestMetrics(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel() // databases of its own (see backends)
			cfg := b.config(t)
			cfg.dbMaxConns, cfg.tenantConns, cfg.sqliteMaxOpen = 2, 1, 2 // two tenant handles at most
			ts := startServer(t, cfg)
			c := &metricsClient{ts: ts, want: map[seriesKey]int{}}

			const password = "correct horse battery"
			email := "owner@example.com"
			creds := map[string]string{"email": email, "password": password}
			c.send(t, "POST /api/register", req{method: "POST", path: "/api/register", body: creds}, http.StatusCreated)
			core := checkToken(t, ts, c.send(t, "POST /api/login", req{method: "POST", path: "/api/login", body: creds}, http.StatusOK))
			c.send(t, "POST /api/login", req{method: "POST", path: "/api/login",
				body: map[string]string{"email": email, "password": "wrong password here"}}, http.StatusUnauthorized)

			type tenant struct{ id, slug, email string }
			var tenants []tenant
			for i := range 3 {
				r := c.send(t, "POST /api/organizations", req{method: "POST", path: "/api/organizations", token: core,
					body: map[string]string{"name": fmt.Sprintf("Metrics Org %d", i)}}, http.StatusCreated)
				o := checkOrgDoc(t, decodeDoc(t, r))
				tenants = append(tenants, tenant{id: strconv.FormatInt(o.ID, 10), slug: o.Slug, email: fmt.Sprintf("user%d@example.com", i)})
			}
			c.send(t, "GET /api/organizations/{id}", req{method: "GET", path: "/api/organizations/" + tenants[0].id, token: core}, http.StatusOK)
			tokens := map[string]string{}
			for _, tn := range tenants {
				tc := map[string]string{"email": tn.email, "password": password}
				c.send(t, "POST /api/tenant/auth/register", req{method: "POST", path: "/api/tenant/auth/register", tenant: tn.id, body: tc}, http.StatusCreated)
				tok := checkToken(t, ts, c.send(t, "POST /api/tenant/auth/login", req{method: "POST", path: "/api/tenant/auth/login", tenant: tn.slug, body: tc}, http.StatusOK))
				tokens[tn.id] = tok
				c.send(t, "GET /api/tenant/users/me", req{method: "GET", path: "/api/tenant/users/me", tenant: tn.id, token: tok}, http.StatusOK)
			}
			// Back to the first tenant, whose handle made room for the third.
			c.send(t, "GET /api/tenant/users/me", req{method: "GET", path: "/api/tenant/users/me", tenant: tenants[0].id, token: tokens[tenants[0].id]}, http.StatusOK)
			c.send(t, "GET /api/tenant/users/me", req{method: "GET", path: "/api/tenant/users/me", tenant: tenants[1].id}, http.StatusUnauthorized)
			// No route matches: the raw path (with a tenant's slug and id in
			// it) must not become a label.
			c.send(t, "unmatched", req{method: "GET", path: "/api/tenant/" + tenants[2].slug + "/" + tenants[2].id}, http.StatusNotFound)
			c.send(t, "unmatched", req{method: "DELETE", path: "/api/register"}, http.StatusMethodNotAllowed)
			c.send(t, "GET /healthz", req{method: "GET", path: "/healthz"}, http.StatusOK)

			fams := scrapeMetrics(t, ts)

			t.Run("requests", func(t *testing.T) {
				f := metricFamily(t, fams, "http_requests_total", dto.MetricType_COUNTER)
				got := map[seriesKey]int{}
				for _, m := range f.GetMetric() {
					l := metricLabels(m)
					if names := sortedKeys(l); !slices.Equal(names, []string{"method", "route", "status"}) {
						t.Errorf("http_requests_total series %v has labels %v; want method, route, status", l, names)
					}
					route := l["route"]
					if route != "unmatched" && !slices.Contains(ts.app.srv.patterns, route) {
						t.Errorf("http_requests_total has route %q; want a registered pattern or %q", route, "unmatched")
					}
					got[seriesKey{route, l["method"], l["status"]}] += int(m.GetCounter().GetValue())
				}
				if diff := diffCounts(got, c.want); diff != "" {
					t.Errorf("http_requests_total by route, method, status (got vs want):\n%s", diff)
				}
			})

			t.Run("latency", func(t *testing.T) {
				f := metricFamily(t, fams, "http_request_duration_seconds", dto.MetricType_HISTOGRAM)
				want := map[seriesKey]int{} // status left empty
				for k, n := range c.want {
					want[seriesKey{k.route, k.method, ""}] += n
				}
				got := map[seriesKey]int{}
				for _, m := range f.GetMetric() {
					l := metricLabels(m)
					if names := sortedKeys(l); !slices.Equal(names, []string{"method", "route"}) {
						t.Errorf("http_request_duration_seconds series %v has labels %v; want method, route", l, names)
					}
					h := m.GetHistogram()
					k := seriesKey{l["route"], l["method"], ""}
					got[k] = int(h.GetSampleCount())
					if len(h.GetBucket()) < 2 {
						t.Errorf("%v has %d buckets; want several", k, len(h.GetBucket()))
					}
					prevLE, prevN := -1.0, uint64(0)
					for _, bk := range h.GetBucket() {
						if bk.GetUpperBound() <= prevLE || bk.GetCumulativeCount() < prevN {
							t.Errorf("%v bucket le=%v count %d follows le=%v count %d; want rising bounds and cumulative counts",
								k, bk.GetUpperBound(), bk.GetCumulativeCount(), prevLE, prevN)
						}
						prevLE, prevN = bk.GetUpperBound(), bk.GetCumulativeCount()
					}
					if prevN > h.GetSampleCount() {
						t.Errorf("%v last bucket counts %d; want at most the sample count %d", k, prevN, h.GetSampleCount())
					}
					if h.GetSampleSum() < 0 {
						t.Errorf("%v sum = %v; want >= 0", k, h.GetSampleSum())
					}
				}
				if diff := diffCounts(got, want); diff != "" {
					t.Errorf("http_request_duration_seconds counts by route, method (got vs want):\n%s", diff)
				}
			})

			t.Run("handles", func(t *testing.T) {
				for _, name := range []string{"tenantkit_handles_open", "tenantkit_handles_leased", "tenantkit_handles_max",
					"tenantkit_acquire_waiting", "tenantkit_db_connections_max", "tenantkit_db_connections_budget"} {
					metricFamily(t, fams, name, dto.MetricType_GAUGE)
				}
				for _, name := range []string{"tenantkit_handle_opens_total", "tenantkit_handle_evictions_total",
					"tenantkit_handle_idle_closes_total", "tenantkit_acquire_waits_total"} {
					metricFamily(t, fams, name, dto.MetricType_COUNTER)
				}
				open, maxOpen := metricValue(t, fams, "tenantkit_handles_open"), metricValue(t, fams, "tenantkit_handles_max")
				if open < 1 || open > maxOpen {
					t.Errorf("tenantkit_handles_open = %v; want from 1 to tenantkit_handles_max (%v)", open, maxOpen)
				}
				t.Logf("handles: open %v, max %v, opens %v, evictions %v, waits %v", open, maxOpen,
					metricValue(t, fams, "tenantkit_handle_opens_total"), metricValue(t, fams, "tenantkit_handle_evictions_total"),
					metricValue(t, fams, "tenantkit_acquire_waits_total"))
				// SQLite: -db-sqlite-max-open 2. PostgreSQL counts real
				// connections against -db-max-conns, so handles are capped by
				// the Manager's default only.
				// A schema per tenant: handles hold no connection, and are
				// capped by the strategy's own limit.
				wantMax := 2.0
				switch b.name {
				case "postgres":
					wantMax = dbstrategy.DefaultMaxOpen
				case "postgres-schema":
					wantMax = schemastrategy.DefaultMaxHandles
				}
				if maxOpen != wantMax {
					t.Errorf("tenantkit_handles_max = %v; want %v", maxOpen, wantMax)
				}
				if got := metricValue(t, fams, "tenantkit_handles_leased"); got < 0 || got > open {
					t.Errorf("tenantkit_handles_leased = %v; want from 0 to tenantkit_handles_open (%v)", got, open)
				}
				if got := metricValue(t, fams, "tenantkit_handle_opens_total"); got < 3 {
					t.Errorf("tenantkit_handle_opens_total = %v; want at least 3 (three tenants)", got)
				}
				if got := metricValue(t, fams, "tenantkit_handle_evictions_total"); wantMax == 2 && got < 1 {
					t.Errorf("tenantkit_handle_evictions_total = %v; want at least 1 (three tenants, two handles)", got)
				}
				for _, name := range []string{"tenantkit_acquire_waits_total", "tenantkit_acquire_waiting", "tenantkit_handle_idle_closes_total"} {
					if got := metricValue(t, fams, name); got < 0 {
						t.Errorf("%s = %v; want >= 0", name, got)
					}
				}
			})

			t.Run("connections", func(t *testing.T) {
				budget := metricValue(t, fams, "tenantkit_db_connections_budget")
				if budget != 2 {
					t.Errorf("tenantkit_db_connections_budget = %v; want 2 (-db-max-conns)", budget)
				}
				// Every connection gauge (the handles' ceiling, and on
				// PostgreSQL the pools' connections open and in use) stays
				// within the budget; counters (backends started) are not
				// gauges of what is held. On SQLite the budget does not
				// apply: each open handle holds one connection or more.
				var names []string
				for name := range fams {
					if strings.HasPrefix(name, "tenantkit_db_connections_") && name != "tenantkit_db_connections_budget" &&
						fams[name].GetType() == dto.MetricType_GAUGE && (b.name != "sqlite" || name == "tenantkit_db_connections_max") {
						names = append(names, name)
					}
				}
				sort.Strings(names)
				for _, name := range names {
					t.Logf("%s = %v (budget %v)", name, metricValue(t, fams, name), budget)
				}
				for _, name := range names {
					if got := metricValue(t, fams, name); got < 0 || got > budget {
						t.Errorf("%s = %v; want from 0 to the budget %v", name, got, budget)
					}
				}
				if got := metricValue(t, fams, "tenantkit_db_connections_max"); got < 1 {
					t.Errorf("tenantkit_db_connections_max = %v; want at least 1 with a tenant handle open", got)
				}
				if b.name == "postgres" {
					// Every connection open was dialled under the budget.
					if dialled, open := metricValue(t, fams, "tenantkit_db_connections_dialled_total"), metricValue(t, fams, "tenantkit_db_connections_open"); dialled < open {
						t.Errorf("tenantkit_db_connections_dialled_total = %v; want at least tenantkit_db_connections_open (%v)", dialled, open)
					}
				}
				for _, name := range connGauges {
					metricFamily(t, fams, name, dto.MetricType_GAUGE)
				}
				if b.name == "sqlite" {
					// -db-tenant-conns 1: a handle holds one connection, or
					// none once it has been idle for ConnMaxIdleTime.
					handles, conns := metricValue(t, fams, "tenantkit_handles_open"), metricValue(t, fams, "tenantkit_db_connections_open")
					if conns > handles {
						t.Errorf("tenantkit_db_connections_open = %v; want at most tenantkit_handles_open (%v) with -db-tenant-conns 1", conns, handles)
					}
				}
				{
					if inUse, open := metricValue(t, fams, "tenantkit_db_connections_in_use"), metricValue(t, fams, "tenantkit_db_connections_open"); inUse > open {
						t.Errorf("tenantkit_db_connections_in_use = %v; want at most tenantkit_db_connections_open (%v)", inUse, open)
					}
				}
			})

			t.Run("provisioning", func(t *testing.T) {
				f := metricFamily(t, fams, "tenantkit_provisioning_total", dto.MetricType_COUNTER)
				got := map[string]float64{}
				for _, m := range f.GetMetric() {
					got[metricLabels(m)["outcome"]] = m.GetCounter().GetValue()
				}
				if got["success"] != 3 || got["failure"] != 0 {
					t.Errorf("tenantkit_provisioning_total = %v; want success 3 (organizations created), no failure", got)
				}
				f = metricFamily(t, fams, "tenantkit_migrations_total", dto.MetricType_COUNTER)
				got = map[string]float64{}
				for _, m := range f.GetMetric() {
					got[metricLabels(m)["outcome"]] = m.GetCounter().GetValue()
				}
				f = metricFamily(t, fams, "tenantkit_tenant_spares_total", dto.MetricType_COUNTER)
				spares := map[string]float64{}
				for _, m := range f.GetMetric() {
					spares[metricLabels(m)["event"]] = m.GetCounter().GetValue()
				}
				// A tenant made from a spare (schema isolation) was
				// migrated as a spare, ahead of time.
				if got["success"]+spares["claimed"] != 3 || got["failure"] != 0 {
					t.Errorf("tenantkit_migrations_total = %v, spares %v; want success + claimed spares 3 (one per tenant created), no failure", got, spares)
				}
				if spares["claimed"] > spares["made"] {
					t.Errorf("tenantkit_tenant_spares_total = %v; claimed more than made", spares)
				}
			})

			t.Run("no tenant labels", func(t *testing.T) {
				secretish := map[string]bool{email: true}
				for _, tn := range tenants {
					secretish[tn.id], secretish[tn.slug], secretish[tn.email] = true, true, true
				}
				if _, ok := fams["tenantkit_tenant_requests_total"]; ok {
					t.Errorf("/metrics has tenantkit_tenant_requests_total without -metrics-per-tenant")
				}
				for name, f := range fams {
					for _, m := range f.GetMetric() {
						for _, p := range m.GetLabel() {
							if p.GetName() == "tenant" || secretish[p.GetValue()] ||
								strings.Contains(p.GetValue(), "/"+tenants[2].slug) {
								t.Errorf("%s has label %s=%q: names a tenant or a user", name, p.GetName(), p.GetValue())
							}
						}
					}
				}
			})

			t.Run("scrape counted", func(t *testing.T) {
				fams := scrapeMetrics(t, ts)
				for _, m := range metricFamily(t, fams, "http_requests_total", dto.MetricType_COUNTER).GetMetric() {
					if l := metricLabels(m); l["route"] == "GET /metrics" && l["status"] == "200" {
						if got := m.GetCounter().GetValue(); got < 1 {
							t.Errorf(`http_requests_total{route="GET /metrics"} = %v; want at least 1`, got)
						}
						return
					}
				}
				t.Errorf(`second scrape has no http_requests_total{route="GET /metrics",status="200"}`)
			})
		})
	}
}

// connGauges are the gauges of the tenant connections: on PostgreSQL the
// pools', checked against the budget; on SQLite the open handles'.
var connGauges = []string{"tenantkit_db_connections_open", "tenantkit_db_connections_in_use"}

// TestMetricsPerTenant turns on -metrics-per-tenant: requests that reached
// a tenant are counted under its id, and nowhere else does a tenant label
// appear.
func TestMetricsPerTenant(t *testing.T) {
	cfg := sqliteConfig(t)
	cfg.metricsPerTenant = true
	ts := startServer(t, cfg)
	core := ts.coreUser(t, "per-tenant@example.com")
	id, slug := ts.org(t, core, "Per Tenant Org")
	tok := ts.tenantUser(t, slug, "user@example.com")                                                         // register + login
	ts.mustStatus(t, req{method: "GET", path: "/api/tenant/users/me", tenant: id, token: tok}, http.StatusOK) // + me

	fams := scrapeMetrics(t, ts)
	f := metricFamily(t, fams, "tenantkit_tenant_requests_total", dto.MetricType_COUNTER)
	got := map[string]float64{}
	for _, m := range f.GetMetric() {
		got[metricLabels(m)["tenant"]] = m.GetCounter().GetValue()
	}
	if want := map[string]float64{id: 3}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("tenantkit_tenant_requests_total by tenant = %v; want %v (register, login, me)", got, want)
	}
	for name, f := range fams {
		if name == "tenantkit_tenant_requests_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			if _, ok := metricLabels(m)["tenant"]; ok {
				t.Errorf("%s has a tenant label; only tenantkit_tenant_requests_total may", name)
			}
		}
	}
}

// diffCounts lists the series where got and want differ, one a line.
func diffCounts(got, want map[seriesKey]int) string {
	var lines []string
	for k, w := range want {
		if g := got[k]; g != w {
			lines = append(lines, fmt.Sprintf("  %q %s %s: %d, want %d", k.route, k.method, k.status, g, w))
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			lines = append(lines, fmt.Sprintf("  %q %s %s: %d, want none", k.route, k.method, k.status, g))
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// TestBudgetCapsHandles checks what caps open tenant handles on SQLite:
// -db-sqlite-max-open, whatever -db-max-conns says (the connection budget
// is PostgreSQL's; a SQLite handle costs memory, not a server connection).
func TestBudgetCapsHandles(t *testing.T) {
	cfg := sqliteConfig(t)
	cfg.dbMaxConns, cfg.tenantConns, cfg.sqliteMaxOpen = 40, 2, 300
	ts := startServer(t, cfg)
	if got := ts.app.dbs.Stats().MaxOpen; got != 300 {
		t.Errorf("Stats().MaxOpen = %d, want 300 (-db-sqlite-max-open; not 40/2 from the PostgreSQL budget)", got)
	}
}

// TestMetricsMethodsBounded sends requests with made-up methods: the method
// label is a client's word for unmatched routes, so it must fold into one
// value, or every new word would add series (and memory) for good.
func TestMetricsMethodsBounded(t *testing.T) {
	ts := startServer(t, sqliteConfig(t))
	for i := range 50 {
		ts.do(t, req{method: fmt.Sprintf("X%d", i), path: "/api/tenant/users/me"})
		ts.do(t, req{method: fmt.Sprintf("Y%d", i), path: "/no/such/route"})
	}
	ts.do(t, req{method: "GET", path: "/no/such/route"})
	fams := scrapeMetrics(t, ts)
	methods := map[string]bool{}
	for _, name := range []string{"http_requests_total", "http_request_duration_seconds"} {
		for _, m := range metricFamily(t, fams, name, fams[name].GetType()).GetMetric() {
			methods[metricLabels(m)["method"]] = true
		}
	}
	for m := range methods {
		switch m {
		case "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE", "OTHER":
		default:
			t.Errorf("method label %q: want a standard method or OTHER", m)
		}
	}
	if !methods["OTHER"] {
		t.Errorf("method labels %v: want the made-up methods counted as OTHER", methods)
	}
}
