package main

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tenantkit/tenantkit/dbstrategy"
	"github.com/tenantkit/tenantkit/dbstrategy/pgstrategy"
	"github.com/tenantkit/tenantkit/dbstrategy/schemastrategy"
	"github.com/tenantkit/tenantkit/internal/httpobs"
)

// metrics holds the server's Prometheus metrics, on a registry of its own
// (never the global default one). Labels are bounded: route patterns, not
// paths; tenants only with perTenant, which suits small fleets.
type metrics struct {
	reg          *prometheus.Registry
	requests     *httpobs.RequestMetrics
	provisioning *prometheus.CounterVec
	tenantReqs   *prometheus.CounterVec // nil unless per-tenant metrics are on
}

// connCounts is what a strategy with server connections reports of them:
// pgstrategy's tenant pools, or schemastrategy's one shared pool.
type connCounts struct {
	conns, inUse int
	dialled      int64
	hasDialled   bool // pgstrategy counts backends started; schemastrategy does not
	scoped       int64
	hasScoped    bool // schemastrategy counts scope round trips; pgstrategy has none
}

// serversConnCounter returns a function that sums the connection counts
// of every tenant server, or nil for strategies without server
// connections (SQLite).
func serversConnCounter(servers *tenantServers) func() connCounts {
	var counters []func() connCounts
	for _, name := range servers.names {
		cc := connCounter(servers.strategies[name])
		if cc == nil {
			return nil
		}
		counters = append(counters, cc)
	}
	return func() connCounts {
		var sum connCounts
		for _, cc := range counters {
			c := cc()
			sum.conns += c.conns
			sum.inUse += c.inUse
			sum.dialled += c.dialled
			sum.hasDialled = c.hasDialled
			sum.scoped += c.scoped
			sum.hasScoped = c.hasScoped
		}
		return sum
	}
}

// connCounter returns a function that reads strategy's connection counts,
// or nil for a strategy without server connections (SQLite).
func connCounter(strategy dbstrategy.Strategy) func() connCounts {
	switch s := strategy.(type) {
	case *pgstrategy.Strategy:
		return func() connCounts {
			st := s.ConnStats()
			return connCounts{conns: st.Conns, inUse: st.InUse, dialled: st.Dialled, hasDialled: true}
		}
	case *schemastrategy.Strategy:
		return func() connCounts {
			st := s.ConnStats()
			return connCounts{conns: st.Conns, inUse: st.InUse, scoped: st.Scoped, hasScoped: true}
		}
	}
	return nil
}

// newMetrics builds the metrics of a server whose Manager dbs runs on
// strategy over servers; budget is -db-max-conns, each server's.
func newMetrics(dbs *dbstrategy.Manager, strategy dbstrategy.Strategy, servers *tenantServers, connsPerHandle, budget int, perTenant bool) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	// A fresh registry: registering can only fail on a programming error.
	m.requests, _ = httpobs.NewRequestMetrics(m.reg)
	m.provisioning = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tenantkit_provisioning_total",
		Help: "Tenant provisioning (create and migrate) attempts by outcome.",
	}, []string{"outcome"})
	m.reg.MustRegister(m.provisioning,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		newManagerCollector(dbs, strategy, connsPerHandle, budget*len(servers.names)))
	if cc := serversConnCounter(servers); cc != nil {
		m.reg.MustRegister(newConnCollector(cc))
		if servers.placed() {
			m.reg.MustRegister(newServerCollector(servers, budget))
		}
	} else {
		// SQLite: the connections of the open handles, each a driver
		// instance with its own memory and descriptors.
		m.reg.MustRegister(newConnCollector(func() connCounts {
			hc := dbs.HandleConns()
			return connCounts{conns: hc.Open, inUse: hc.InUse}
		}))
	}
	if perTenant {
		m.tenantReqs = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tenantkit_tenant_requests_total",
			Help: "HTTP requests by tenant (per-tenant metrics are on).",
		}, []string{"tenant"})
		m.reg.MustRegister(m.tenantReqs)
	}
	return m
}

// observe records one finished request.
func (m *metrics) observe(route, method string, status int, tenant string, took time.Duration) {
	m.requests.Observe(route, method, status, took)
	if m.tenantReqs != nil && tenant != "" {
		m.tenantReqs.WithLabelValues(tenant).Inc()
	}
}

// provisioned records the outcome of provisioning one tenant.
func (m *metrics) provisioned(ok bool) {
	if m == nil {
		return
	}
	outcome := "success"
	if !ok {
		outcome = "failure"
	}
	m.provisioning.WithLabelValues(outcome).Inc()
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// managerCollector reads the tenant database manager's stats at scrape
// time.
type managerCollector struct {
	dbs            *dbstrategy.Manager
	connsPerHandle float64
	budget         float64
	shared         bool // the tenants share one pool of budget connections (schemastrategy)
	descs          managerDescs
}

type managerDescs struct {
	open, leased, max, waiting, opens, evictions, idleCloses, waits, connsMax, budget, migrations, spares *prometheus.Desc
}

func newManagerCollector(dbs *dbstrategy.Manager, strategy dbstrategy.Strategy, connsPerHandle, budget int) *managerCollector {
	d := func(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, nil, nil) }
	_, shared := strategy.(dbstrategy.ConnPinner)
	return &managerCollector{dbs: dbs, connsPerHandle: float64(connsPerHandle), budget: float64(budget), shared: shared, descs: managerDescs{
		open:       d("tenantkit_handles_open", "Tenant database handles open now (each holds up to -db-tenant-conns connections, none once idle: tenantkit_db_connections_open)."),
		leased:     d("tenantkit_handles_leased", "Tenant database handles leased by requests now."),
		max:        d("tenantkit_handles_max", "Most tenant database handles open at once."),
		waiting:    d("tenantkit_acquire_waiting", "Requests waiting now for room to open a tenant handle."),
		opens:      d("tenantkit_handle_opens_total", "Tenant database handles opened."),
		evictions:  d("tenantkit_handle_evictions_total", "Idle handles closed to make room for another tenant."),
		idleCloses: d("tenantkit_handle_idle_closes_total", "Handles closed after sitting idle."),
		waits:      d("tenantkit_acquire_waits_total", "Acquires that had to wait for room."),
		connsMax:   d("tenantkit_db_connections_max", "Tenant database connections the open handles may hold at most; with schema isolation, the shared pool's size."),
		budget:     d("tenantkit_db_connections_budget", "Configured budget of tenant database connections: -db-max-conns, times the number of tenant servers."),
		migrations: prometheus.NewDesc("tenantkit_migrations_total", "Tenant schema migrations run by this process, by outcome.", []string{"outcome"}, nil),
		spares:     prometheus.NewDesc("tenantkit_tenant_spares_total", "Spare tenant schemas (-tenant-spares) this process made, and claimed for new tenants, by event.", []string{"event"}, nil),
	}}
}

func (c *managerCollector) Describe(ch chan<- *prometheus.Desc) {
	d := c.descs
	for _, desc := range []*prometheus.Desc{d.open, d.leased, d.max, d.waiting, d.opens, d.evictions, d.idleCloses, d.waits, d.connsMax, d.budget, d.migrations, d.spares} {
		ch <- desc
	}
}

func (c *managerCollector) Collect(ch chan<- prometheus.Metric) {
	s, d := c.dbs.Stats(), c.descs
	gauge := func(desc *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v)
	}
	counter := func(desc *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, v)
	}
	gauge(d.open, float64(s.Open))
	gauge(d.leased, float64(s.Leased))
	gauge(d.max, float64(s.MaxOpen))
	gauge(d.waiting, float64(s.Waiting))
	counter(d.opens, float64(s.Opens))
	counter(d.evictions, float64(s.Evictions))
	counter(d.idleCloses, float64(s.IdleCloses))
	counter(d.waits, float64(s.Waits))
	connsMax := float64(s.Open) * c.connsPerHandle
	switch {
	case c.shared:
		// One pool of budget connections serves every tenant, each lease
		// pinning one: the handles hold none of their own.
		connsMax = c.budget
	case c.budget > 0:
		// pgstrategy counts real connections against the budget, so open
		// handles together never hold more than it.
		connsMax = min(connsMax, c.budget)
	}
	gauge(d.connsMax, connsMax)
	gauge(d.budget, c.budget)
	ch <- prometheus.MustNewConstMetric(d.migrations, prometheus.CounterValue, float64(s.Migrations), "success")
	ch <- prometheus.MustNewConstMetric(d.migrations, prometheus.CounterValue, float64(s.MigrationFailures), "failure")
	ch <- prometheus.MustNewConstMetric(d.spares, prometheus.CounterValue, float64(s.SparesMade), "made")
	ch <- prometheus.MustNewConstMetric(d.spares, prometheus.CounterValue, float64(s.SparesClaimed), "claimed")
}

// connCollector reports the server connections of the open tenant pools
// (database per tenant) or of the one shared pool (schema per tenant), to
// compare with tenantkit_db_connections_budget; on SQLite, the
// connections of the open handles.
type connCollector struct {
	cc                           func() connCounts
	open, inUse, dialled, scoped *prometheus.Desc
}

func newConnCollector(cc func() connCounts) *connCollector {
	return &connCollector{cc: cc,
		open:    prometheus.NewDesc("tenantkit_db_connections_open", "Tenant database connections open, busy or idle: on PostgreSQL those the tenant pools (with -tenant-isolation schema, the one shared pool) hold to the server; on SQLite those of the open handles, each a driver instance of about 0.32 MiB with 3 file descriptors and 4 memory mappings.", nil, nil),
		inUse:   prometheus.NewDesc("tenantkit_db_connections_in_use", "Tenant database connections in use now: running a query (SQLite, database isolation) or pinned by a request's lease (schema isolation).", nil, nil),
		dialled: prometheus.NewDesc("tenantkit_db_connections_dialled_total", "Tenant database connections opened under the budget: each started a server backend (a miss).", nil, nil),
		scoped:  prometheus.NewDesc("tenantkit_db_connections_scoped_total", "Resets and scopes of a connection of the shared pool to a tenant (schema isolation), in a round trip of their own or with a lease's first query: a lease that gets the connection its tenant's previous lease left costs none.", nil, nil),
	}
}

func (c *connCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.open
	ch <- c.inUse
	ch <- c.dialled
	ch <- c.scoped
}

func (c *connCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.cc()
	ch <- prometheus.MustNewConstMetric(c.open, prometheus.GaugeValue, float64(s.conns))
	ch <- prometheus.MustNewConstMetric(c.inUse, prometheus.GaugeValue, float64(s.inUse))
	if s.hasDialled {
		ch <- prometheus.MustNewConstMetric(c.dialled, prometheus.CounterValue, float64(s.dialled))
	}
	if s.hasScoped {
		ch <- prometheus.MustNewConstMetric(c.scoped, prometheus.CounterValue, float64(s.scoped))
	}
}

// serverCollector reports each tenant server's connections and budget,
// when there are several: each server enforces -db-max-conns alone.
type serverCollector struct {
	names                []string
	counters             []func() connCounts
	budget               float64
	open, inUse, budgets *prometheus.Desc
}

func newServerCollector(servers *tenantServers, budget int) *serverCollector {
	c := &serverCollector{names: servers.names, budget: float64(budget),
		open:    prometheus.NewDesc("tenantkit_db_server_connections_open", "Connections held to one tenant server, busy or idle.", []string{"server"}, nil),
		inUse:   prometheus.NewDesc("tenantkit_db_server_connections_in_use", "Connections to one tenant server in use now.", []string{"server"}, nil),
		budgets: prometheus.NewDesc("tenantkit_db_server_connections_budget", "Budget of connections to one tenant server (-db-max-conns).", []string{"server"}, nil),
	}
	for _, name := range servers.names {
		c.counters = append(c.counters, connCounter(servers.strategies[name]))
	}
	return c
}

func (c *serverCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.open
	ch <- c.inUse
	ch <- c.budgets
}

func (c *serverCollector) Collect(ch chan<- prometheus.Metric) {
	for i, name := range c.names {
		s := c.counters[i]()
		ch <- prometheus.MustNewConstMetric(c.open, prometheus.GaugeValue, float64(s.conns), name)
		ch <- prometheus.MustNewConstMetric(c.inUse, prometheus.GaugeValue, float64(s.inUse), name)
		ch <- prometheus.MustNewConstMetric(c.budgets, prometheus.GaugeValue, c.budget, name)
	}
}
