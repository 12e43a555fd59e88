package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// latencyStats are latency percentiles in milliseconds.
type latencyStats struct {
	N    int     `json:"n"`
	Mean float64 `json:"mean"`
	P50  float64 `json:"p50"`
	P95  float64 `json:"p95"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
}

// newLatencyStats summarizes durations (sorted or not); nil for none.
func newLatencyStats(d []time.Duration) *latencyStats {
	if len(d) == 0 {
		return nil
	}
	if !slices.IsSorted(d) {
		d = slices.Clone(d)
		slices.Sort(d)
	}
	var sum time.Duration
	for _, v := range d {
		sum += v
	}
	pct := func(p float64) float64 {
		i := int(p*float64(len(d))+0.999999) - 1 // nearest rank
		i = min(max(i, 0), len(d)-1)
		return ms(d[i])
	}
	return &latencyStats{
		N: len(d), Mean: ms(sum / time.Duration(len(d))),
		P50: pct(0.50), P95: pct(0.95), P99: pct(0.99), Max: ms(d[len(d)-1]),
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// opResult is one operation's share of a phase.
type opResult struct {
	Requests int64         `json:"requests"`
	RPS      float64       `json:"rps"`
	Latency  *latencyStats `json:"latency_ms"`
}

// phaseResult is one phase's figures.
type phaseResult struct {
	Name           string              `json:"name"`
	Server         string              `json:"server"` // tenantkit or baseline
	Tenants        int                 `json:"tenants"`
	TenantsHit     int                 `json:"tenants_hit"`
	Dist           string              `json:"dist"`
	Clients        int                 `json:"clients"`
	Seconds        float64             `json:"seconds"`
	Requests       int64               `json:"requests"`
	RPS            float64             `json:"rps"`
	Latency        *latencyStats       `json:"latency_ms"`
	Ops            map[string]opResult `json:"ops"`
	Errors         int64               `json:"errors"`
	ErrorsByStatus map[string]int64    `json:"errors_by_status"`
	RoundsRPS      []float64           `json:"rounds_rps"`
	CPUPerReqUS    *float64            `json:"server_cpu_us_per_request"` // server user+system CPU; null: unknown
	PeakRSSMiB     *float64            `json:"peak_rss_mib"`              // sampled VmRSS; null: unknown
	PeakHandles    *float64            `json:"peak_handles_open"`         // tenantkit_handles_open; null: n/a
	PeakPGConns    *int                `json:"peak_pg_tenant_conns,omitempty"`
	PeakPGCore     *int                `json:"peak_pg_core_conns,omitempty"`
	PeakPGByServer map[string]int      `json:"peak_pg_tenant_conns_by_server,omitempty"` // with -pg-servers
	CPUProfiles    []string            `json:"cpu_profiles,omitempty"`
}

// hostInfo describes the machine and the moment.
type hostInfo struct {
	Date      time.Time `json:"date"`
	CPU       string    `json:"cpu"`
	NumCPU    int       `json:"num_cpu"`
	Kernel    string    `json:"kernel"`
	GoVersion string    `json:"go_version"`
	LoadStart string    `json:"loadavg_start"`
	LoadEnd   string    `json:"loadavg_end"`
}

// result is the whole run, as printed and as written by -json.
type result struct {
	Host          hostInfo             `json:"host"`
	Args          []string             `json:"args"`
	DB            string               `json:"db"`
	Isolation     string               `json:"tenant_isolation,omitempty"` // postgres: database or schema
	Servers       []string             `json:"tenant_servers,omitempty"`   // -pg-servers: the names, each with a budget of db_max_conns
	Mix           string               `json:"mix"`
	DBMaxConns    int                  `json:"db_max_conns"`
	DBTenantConns int                  `json:"db_tenant_conns,omitempty"` // 0: the server's default
	LogLevel      string               `json:"server_log_level"`
	Prefix        string               `json:"tenant_db_prefix"`
	ServerBuild   string               `json:"server_build,omitempty"` // VCS revision of the started server binary
	Provision     *provisionStats      `json:"provision,omitempty"`
	Phases        []phaseResult        `json:"phases"`
	Ratios        map[string]float64   `json:"ratios"` // median over the rounds
	RatiosByRound []map[string]float64 `json:"ratios_by_round"`
	ServerHWM     *float64             `json:"server_vmhwm_mib"`   // whole life of the server process
	BaselineHWM   *float64             `json:"baseline_vmhwm_mib"` // whole life of the baseline process
	MapHWM        *float64             `json:"map_vmhwm_mib"`      // the map server's processes, the highest
}

// aggregate merges the runs of each phase over the rounds, and computes
// the throughput ratios of each round and their medians.
func (r *result) aggregate(runs [][]phaseRun) {
	r.Phases = nil
	r.Ratios = map[string]float64{}
	r.RatiosByRound = nil
	byName := map[string][]phaseRun{}
	var order []string
	for _, round := range runs {
		for _, run := range round {
			if _, ok := byName[run.name]; !ok {
				order = append(order, run.name)
			}
			byName[run.name] = append(byName[run.name], run)
		}
	}
	for _, name := range order {
		r.Phases = append(r.Phases, mergeRuns(byName[name]))
	}
	pairs := [][2]string{
		{phaseOne, phaseMapOne}, {phaseDist, phaseMapDist}, {phaseMapDist, phaseMapOne},
		{phaseOne, phaseBaseline}, {phaseDist, phaseBaseline}, {phaseDist, phaseOne},
	}
	perPair := map[string][]float64{}
	for _, round := range runs {
		rps := map[string]float64{}
		for _, run := range round {
			if run.lr.elapsed > 0 {
				rps[run.name] = float64(run.lr.requests) / run.lr.elapsed.Seconds()
			}
		}
		ratios := map[string]float64{}
		for _, pair := range pairs {
			a, okA := rps[pair[0]]
			b, okB := rps[pair[1]]
			if okA && okB && b > 0 {
				k := pair[0] + "/" + pair[1]
				ratios[k] = a / b
				perPair[k] = append(perPair[k], a/b)
			}
		}
		if len(ratios) > 0 {
			r.RatiosByRound = append(r.RatiosByRound, ratios)
		}
	}
	for k, v := range perPair {
		r.Ratios[k] = median(v)
	}
}

func median(v []float64) float64 {
	v = slices.Clone(v)
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// mergeRuns sums one phase's runs into one result.
func mergeRuns(runs []phaseRun) phaseResult {
	first := runs[0]
	pr := phaseResult{
		Name: first.name, Server: first.server, Tenants: first.tenants, Dist: first.dist, Clients: first.clients,
		Ops: map[string]opResult{}, ErrorsByStatus: map[string]int64{},
	}
	var lat [numOps][]time.Duration
	var elapsed, cpu time.Duration
	cpuKnown := true
	var peakRSS int64
	peakPG, peakCore := -1, -1
	for _, run := range runs {
		elapsed += run.lr.elapsed
		pr.Requests += run.lr.requests
		pr.Errors += run.lr.errors
		pr.TenantsHit = max(pr.TenantsHit, run.lr.tenants)
		for s, n := range run.lr.byStatus {
			pr.ErrorsByStatus[statusKey(s)] += n
		}
		for op := range numOps {
			lat[op] = append(lat[op], run.lr.lat[op]...)
		}
		if run.lr.elapsed > 0 {
			pr.RoundsRPS = append(pr.RoundsRPS, float64(run.lr.requests)/run.lr.elapsed.Seconds())
		}
		peakRSS = max(peakRSS, run.peakRSS)
		if run.haveHandles {
			v := run.peakHandles
			if pr.PeakHandles != nil {
				v = max(v, *pr.PeakHandles)
			}
			pr.PeakHandles = &v
		}
		peakPG, peakCore = max(peakPG, run.peakPG), max(peakCore, run.peakCore)
		for name, n := range run.peakByServer {
			if pr.PeakPGByServer == nil {
				pr.PeakPGByServer = map[string]int{}
			}
			pr.PeakPGByServer[name] = max(pr.PeakPGByServer[name], n)
		}
		if run.cpu < 0 {
			cpuKnown = false
		}
		cpu += run.cpu
		if run.profile != "" {
			pr.CPUProfiles = append(pr.CPUProfiles, run.profile)
		}
	}
	pr.Seconds = elapsed.Seconds()
	if pr.Seconds > 0 {
		pr.RPS = float64(pr.Requests) / pr.Seconds
	}
	var all []time.Duration
	for op := range numOps {
		if len(lat[op]) == 0 {
			continue
		}
		slices.Sort(lat[op])
		all = append(all, lat[op]...)
		pr.Ops[opNames[op]] = opResult{Requests: int64(len(lat[op])), RPS: float64(len(lat[op])) / pr.Seconds, Latency: newLatencyStats(lat[op])}
	}
	pr.Latency = newLatencyStats(all)
	pr.PeakRSSMiB = mib(peakRSS)
	if peakPG >= 0 {
		pr.PeakPGConns, pr.PeakPGCore = &peakPG, &peakCore
	}
	if cpuKnown && pr.Requests > 0 {
		v := float64(cpu.Microseconds()) / float64(pr.Requests)
		pr.CPUPerReqUS = &v
	}
	return pr
}

// printReport writes the result as tables.
func printReport(w io.Writer, r *result) {
	fmt.Fprintf(w, "\ntenantkit load test, %s, %d CPU (%s), %s, load %s -> %s\n",
		r.Host.Date.Format(time.RFC3339), r.Host.NumCPU, r.Host.CPU, r.Host.GoVersion, r.Host.LoadStart, r.Host.LoadEnd)
	fmt.Fprintf(w, "db %s", r.DB)
	if r.Isolation != "" {
		fmt.Fprintf(w, " (a %s per tenant)", r.Isolation)
	}
	if len(r.Servers) > 0 {
		fmt.Fprintf(w, " on servers %s (db-max-conns per server)", strings.Join(r.Servers, ", "))
	}
	fmt.Fprintf(w, ", mix %s, db-max-conns %d, server log level %s", r.Mix, r.DBMaxConns, r.LogLevel)
	if r.DBTenantConns > 0 {
		fmt.Fprintf(w, ", db-tenant-conns %d", r.DBTenantConns)
	}
	if r.ServerBuild != "" {
		fmt.Fprintf(w, ", server %s", r.ServerBuild)
	}
	fmt.Fprintln(w)
	if p := r.Provision; p != nil {
		fmt.Fprintf(w, "provisioning: %d tenants x %d users (%d tenants, %d users new) in %.1fs with %d workers; tokens by %s\n",
			p.Tenants, p.UsersPerTenant, p.NewTenants, p.NewUsers, p.Seconds, p.Workers, p.TokenMode)
		if s := p.OrgCreateProbe; s != nil {
			fmt.Fprintf(w, "  create organization, one at a time:   n=%d p50 %.1f ms  p95 %.1f ms  max %.1f ms\n", s.N, s.P50, s.P95, s.Max)
		}
		if s := p.OrgCreateAll; s != nil {
			fmt.Fprintf(w, "  create organization, all (concurrent): n=%d p50 %.1f ms  p95 %.1f ms  max %.1f ms\n", s.N, s.P50, s.P95, s.Max)
		}
		if s := p.Register; s != nil {
			fmt.Fprintf(w, "  register tenant user (argon2id):       n=%d p50 %.1f ms  p95 %.1f ms  max %.1f ms\n", s.N, s.P50, s.P95, s.Max)
		}
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "phase\tserver\ttenants\tdist\tclients\treq/s\tp50 ms\tp95 ms\tp99 ms\tmax ms\terrors\tCPU us/req\tpeak RSS MiB\thandles\tpg conns\t")
	for _, p := range r.Phases {
		l := p.Latency
		if l == nil {
			l = &latencyStats{}
		}
		fmt.Fprintf(tw, "%s\t%s\t%d/%d\t%s\t%d\t%.0f\t%.2f\t%.2f\t%.2f\t%.1f\t%s\t%s\t%s\t%s\t%s\t\n",
			p.Name, p.Server, p.TenantsHit, p.Tenants, p.Dist, p.Clients, p.RPS, l.P50, l.P95, l.P99, l.Max,
			errorsString(p.ErrorsByStatus), optFloat(p.CPUPerReqUS, "%.0f"), optFloat(p.PeakRSSMiB, "%.0f"),
			optFloat(p.PeakHandles, "%.0f"), pgString(p))
		if len(p.Ops) > 1 {
			for _, name := range opNames {
				o, ok := p.Ops[name]
				if !ok || o.Latency == nil {
					continue
				}
				fmt.Fprintf(tw, "  %s\t\t\t\t\t%.0f\t%.2f\t%.2f\t%.2f\t%.1f\t\t\t\t\t\t\n", name, o.RPS, o.Latency.P50, o.Latency.P95, o.Latency.P99, o.Latency.Max)
			}
		}
	}
	tw.Flush()
	if len(r.Ratios) > 0 {
		fmt.Fprintln(w)
		for _, k := range slices.Sorted(maps.Keys(r.Ratios)) {
			line := fmt.Sprintf("throughput %-14s %.3f", k, r.Ratios[k])
			if len(r.RatiosByRound) > 1 {
				var each []string
				for _, rr := range r.RatiosByRound {
					each = append(each, fmt.Sprintf("%.3f", rr[k]))
				}
				line += " (median of " + strings.Join(each, ", ") + ")"
			}
			fmt.Fprintln(w, line)
		}
	}
	cpu := map[string]float64{}
	for _, p := range r.Phases {
		if p.CPUPerReqUS != nil {
			cpu[p.Name] = *p.CPUPerReqUS
		}
	}
	for _, pair := range [][2]string{{phaseOne, phaseBaseline}, {phaseDist, phaseBaseline}, {phaseDist, phaseOne}} {
		if a, b := cpu[pair[0]], cpu[pair[1]]; a > 0 && b > 0 {
			fmt.Fprintf(w, "server CPU per request %s/%s %.3f\n", pair[0], pair[1], a/b)
		}
	}
	if r.ServerHWM != nil || r.BaselineHWM != nil || r.MapHWM != nil {
		fmt.Fprintf(w, "VmHWM over the whole process: server %s MiB, baseline %s MiB, map server %s MiB\n",
			optFloat(r.ServerHWM, "%.0f"), optFloat(r.BaselineHWM, "%.0f"), optFloat(r.MapHWM, "%.0f"))
	}
	for _, p := range r.Phases {
		for _, f := range p.CPUProfiles {
			fmt.Fprintf(w, "CPU profile of %s: %s\n", p.Name, f)
		}
	}
}

func optFloat(v *float64, format string) string {
	if v == nil {
		return "n/a"
	}
	return fmt.Sprintf(format, *v)
}

func pgString(p phaseResult) string {
	if p.PeakPGConns == nil {
		return "-"
	}
	s := strconv.Itoa(*p.PeakPGConns)
	if p.PeakPGCore != nil {
		s += "+" + strconv.Itoa(*p.PeakPGCore) + " core"
	}
	if len(p.PeakPGByServer) > 0 {
		var each []string
		for _, name := range slices.Sorted(maps.Keys(p.PeakPGByServer)) {
			each = append(each, name+":"+strconv.Itoa(p.PeakPGByServer[name]))
		}
		s += " (" + strings.Join(each, " ") + ")"
	}
	return s
}

func errorsString(m map[string]int64) string {
	if len(m) == 0 {
		return "0"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, k+":"+strconv.FormatInt(m[k], 10))
	}
	return strings.Join(parts, " ")
}

// statusKey names a status in errors_by_status: the code, or "conn" for a
// transport error.
func statusKey(status int) string {
	if status == 0 {
		return "conn"
	}
	return strconv.Itoa(status)
}

// writeJSON writes the result to path.
func writeJSON(path string, r *result) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// maxMiB returns the larger of two optional sizes.
func maxMiB(a, b *float64) *float64 {
	switch {
	case a == nil:
		return b
	case b == nil || *a >= *b:
		return a
	}
	return b
}
