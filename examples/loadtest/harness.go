package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// harness provisions the data set, runs the phases and returns their
// figures. The result is returned, as far as it got, even with an error.
func harness(ctx context.Context, cfg config, stderr io.Writer) (res *result, err error) {
	logf := func(format string, args ...any) {
		if !cfg.quiet {
			fmt.Fprintf(stderr, format, args...)
		}
	}
	res = &result{
		Host: hostNow(), Args: cfg.args, DB: cfg.db, Mix: mixString(cfg.mix),
		DBMaxConns: cfg.maxConns, DBTenantConns: cfg.tenantConns, LogLevel: cfg.logLevel,
	}
	if cfg.db == "postgres" {
		res.Isolation = cfg.isolation
		for _, srv := range cfg.pgServers {
			res.Servers = append(res.Servers, srv.name)
		}
	}
	if cfg.url != "" {
		res.DB, res.DBMaxConns, res.DBTenantConns, res.LogLevel, res.Isolation = "(existing server)", 0, 0, "(existing server)", ""
	}
	defer func() {
		res.Host.LoadEnd = loadAvg()
	}()

	work, err := os.MkdirTemp("", "loadtest-")
	if err != nil {
		return res, err
	}
	keepWork := false
	defer func() {
		if keepWork || err != nil {
			logf("logs kept in %s\n", work)
			return
		}
		os.RemoveAll(work)
	}()

	// The data set: kept in -reuse, else in a folder of its own.
	m, dir, err := openDataSet(cfg)
	if err != nil {
		return res, err
	}
	keepData := cfg.reuse != "" && !cfg.clean
	saveManifest := func() error {
		if cfg.reuse == "" {
			return nil
		}
		return m.save(manifestPath(dir))
	}
	pgAdmin := ""
	if cfg.url == "" && cfg.db == "postgres" {
		pgAdmin = cfg.pgDSN
	}
	defer func() {
		if keepData {
			return
		}
		if pgAdmin != "" {
			cctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			n, derr := pgDropAll(cctx, pgAdmin, m.CoreDB, m.Prefix)
			for _, srv := range cfg.pgServers {
				dn, serr := pgDropAll(cctx, srv.dsn, m.CoreDB, m.Prefix)
				n, derr = n+dn, errors.Join(derr, serr)
			}
			cancel()
			logf("dropped %d PostgreSQL databases\n", n)
			err = errors.Join(err, derr)
		}
		err = errors.Join(err, os.RemoveAll(dir))
	}()
	if cfg.url != "" && cfg.jwtSecret != "" {
		m.Secret = cfg.jwtSecret
	}
	res.Prefix = m.Prefix

	// The server: an existing one, or one started here.
	srv := &serverRef{base: cfg.url, pid: cfg.serverPID}
	if cfg.url == "" {
		if srv, err = startServer(ctx, cfg, m, dir, work, logf); err != nil {
			return res, err
		}
		// srv is only ever updated in place from here on, for this defer.
		res.ServerBuild = srv.build
		defer func() {
			if srv.proc == nil {
				return
			}
			if mem, merr := readMem(srv.proc.pid()); merr == nil {
				res.ServerHWM = mib(mem.HWM)
			}
			err = errors.Join(err, srv.proc.stop())
		}()
	}
	client := newLoadClient(cfg.clients + cfg.workers)
	defer client.CloseIdleConnections()

	// Provisioning.
	prov := &provisioner{
		api: &api{base: srv.base, client: client}, m: m, tenants: cfg.tenants, users: cfg.users,
		workers: cfg.workers, probe: cfg.orgProbe, probeGap: cfg.orgProbeGap, tokens: cfg.tokens,
		canMint: cfg.url == "" || cfg.jwtSecret != "", log: logf, progress: cfg.progress,
	}
	if cfg.quiet {
		prov.log = nil
	}
	logf("provisioning %d tenants x %d users against %s (have %d)\n", cfg.tenants, cfg.users, srv.base, len(m.Tenants))
	st, perr := prov.run(ctx)
	res.Provision = &st
	if serr := saveManifest(); serr != nil {
		return res, errors.Join(perr, serr)
	}
	if perr != nil {
		return res, fmt.Errorf("provision: %w", perr)
	}
	if len(m.Tenants) < cfg.tenants {
		return res, fmt.Errorf("provision: have %d tenants, want %d", len(m.Tenants), cfg.tenants)
	}
	// restart replaces the server started here by a new process.
	restart := func() error {
		err := srv.proc.stop()
		srv.proc = nil
		if err != nil {
			return err
		}
		fresh, err := startServer(ctx, cfg, m, dir, work, logf)
		if err != nil {
			return err
		}
		*srv = *fresh
		return nil
	}
	// Measure a fresh server process, not one carrying provisioning's
	// garbage and caches.
	if srv.proc != nil && cfg.restart && (st.NewTenants > 0 || st.NewUsers > 0 || st.TokenMode == "login") {
		if err := restart(); err != nil {
			return res, err
		}
	}

	var pg *pgSamplers
	// Connections are counted by database prefix: known when the server
	// was started here, or given with -tenant-db-prefix.
	if cfg.db == "postgres" && (cfg.url == "" || cfg.prefix != "") {
		pg = &pgSamplers{}
		defer pg.close()
		if pg.core, err = newPGSampler(ctx, cfg.pgDSN, m.Prefix, m.CoreDB); err != nil {
			return res, err
		}
		for _, srv := range cfg.pgServers {
			s, err := newPGSampler(ctx, srv.dsn, m.Prefix, m.CoreDB)
			if err != nil {
				return res, fmt.Errorf("server %s: %w", srv.name, err)
			}
			pg.servers = append(pg.servers, s)
			pg.names = append(pg.names, srv.name)
		}
	}

	tenants := m.Tenants[:cfg.tenants]
	var runs [][]phaseRun // by round
	defer func() { res.aggregate(runs) }()
	served := false // the server process has run a phase
	for round := range cfg.rounds {
		runs = append(runs, nil)
		for _, name := range cfg.phases {
			spec := loadSpec{
				name: name, base: srv.base, mix: cfg.mix, clients: cfg.clients,
				warmup: cfg.warmup, duration: cfg.duration, seed: cfg.seed + uint64(round),
			}
			run := phaseRun{name: name, server: "tenantkit", clients: cfg.clients, dist: "-"}
			if tenantkitPhase(name) && cfg.freshServer && srv.proc != nil && served {
				// Like the baseline, which starts anew for each of its
				// phases: no phase inherits another's open handles.
				if err := restart(); err != nil {
					return res, err
				}
				spec.base = srv.base
				served = false
			}
			pid, pprofAddr := srv.pid, ""
			if srv.proc != nil {
				pprofAddr = srv.proc.pprof
			}
			var stopBaseline func() error
			switch name {
			case phaseBaseline:
				run.server = "baseline"
				bp, targets, err := startBaseline(ctx, cfg, m, work)
				if err != nil {
					return res, err
				}
				stopBaseline = stopKeepingHWM(bp, &res.BaselineHWM)
				spec.base, spec.tenants = bp.base, [][]target{targets}
				pid, pprofAddr = bp.pid(), bp.pprof
			case phaseMapOne, phaseMapDist:
				run.server = "map"
				mp, err := startMapServer(ctx, cfg, m, dir, work)
				if err != nil {
					return res, err
				}
				stopBaseline = stopKeepingHWM(mp, &res.MapHWM)
				spec.base = mp.base
				pid, pprofAddr = mp.pid(), mp.pprof
			}
			switch name {
			case phaseOne, phaseMapOne:
				spec.tenants = [][]target{tenantTargets(tenants[0], m.Password)}
			case phaseDist, phaseMapDist:
				spec.dist, spec.zipfS = cfg.dist, cfg.zipfS
				spec.tenants = distTargets(tenants, m.Password, cfg.seed)
				run.dist = cfg.dist
				if cfg.dist == "zipf" {
					run.dist = "zipf " + strconv.FormatFloat(cfg.zipfS, 'g', -1, 64)
				}
			}
			run.tenants = len(spec.tenants)
			var phasePG *pgSamplers
			if tenantkitPhase(name) {
				phasePG = pg
			}
			label := name
			if cfg.rounds > 1 {
				label = fmt.Sprintf("%s.%d", name, round+1)
			}
			logf("phase %s: %d clients, %s warmup, %s measured\n", label, cfg.clients, cfg.warmup, cfg.duration)
			runPhase(ctx, cfg, client, spec, label, &run, pid, pprofAddr, phasePG, stderr)
			served = served || tenantkitPhase(name)
			if stopBaseline != nil {
				if err := stopBaseline(); err != nil {
					return res, err
				}
			}
			runs[round] = append(runs[round], run)
			if run.lr.errors > 0 {
				keepWork = true
			}
			if err := ctx.Err(); err != nil {
				return res, err
			}
		}
	}
	return res, nil
}

// serverRef is the server under test.
type serverRef struct {
	base  string
	pid   int    // 0: unknown
	proc  *proc  // nil: not started here
	build string // VCS revision of the binary started
}

// openDataSet returns the manifest and the folder of the data set.
func openDataSet(cfg config) (*manifest, string, error) {
	if cfg.reuse == "" {
		dir, err := os.MkdirTemp("", "loadtest-data-")
		if err != nil {
			return nil, "", err
		}
		m, err := newManifest(cfg.db, cfg.prefix)
		if err == nil && cfg.isolation == "schema" {
			m.Isolation = cfg.isolation
		}
		return m, dir, err
	}
	if err := os.MkdirAll(cfg.reuse, 0o700); err != nil {
		return nil, "", err
	}
	m, err := loadManifest(manifestPath(cfg.reuse))
	if err != nil {
		return nil, "", err
	}
	if m == nil {
		m, err = newManifest(cfg.db, cfg.prefix)
		if err == nil && cfg.isolation == "schema" {
			m.Isolation = cfg.isolation
		}
		return m, cfg.reuse, err
	}
	if cfg.url == "" && m.DB != cfg.db {
		return nil, "", fmt.Errorf("-reuse %s holds a %s data set, not %s", cfg.reuse, m.DB, cfg.db)
	}
	if cfg.url == "" && m.isolation() != cfg.isolation {
		return nil, "", fmt.Errorf("-reuse %s holds a data set with a %s per tenant, not a %s", cfg.reuse, m.isolation(), cfg.isolation)
	}
	if cfg.prefix != "" && cfg.prefix != m.Prefix {
		return nil, "", fmt.Errorf("-reuse %s uses prefix %q, not %q", cfg.reuse, m.Prefix, cfg.prefix)
	}
	return m, cfg.reuse, nil
}

// startServer builds (or takes) the server binary and starts it on the data
// set.
func startServer(ctx context.Context, cfg config, m *manifest, dir, work string, logf func(string, ...any)) (*serverRef, error) {
	bin := cfg.serverBin
	if bin == "" {
		bin = filepath.Join(work, "server")
		if _, err := os.Stat(bin); err != nil {
			logf("building %s\n", cfg.serverPkg)
			if bin, err = buildServer(ctx, cfg.serverPkg, work); err != nil {
				return nil, err
			}
		}
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	args := []string{
		"-addr", addr, "-data", dataPath(dir), "-jwt-secret", m.Secret, "-token-ttl", tokenTTL.String(),
		"-tenant-db-prefix", m.Prefix, "-log-level", cfg.logLevel,
		// Provisioning registers every user and creates every organization
		// from this one address and owner, as fast as it can: no
		// registration throttle, no organization quota or rate, and room
		// for all in the hashing queue. None of them is on the measured
		// requests' path.
		"-register-limit", "0", "-hash-queue", "1048576", "-org-quota", "0", "-org-rate", "0",
	}
	if cfg.sqliteOpen > 0 {
		args = append(args, "-db-sqlite-max-open", strconv.Itoa(cfg.sqliteOpen))
	}
	if cfg.maxConns > 0 {
		args = append(args, "-db-max-conns", strconv.Itoa(cfg.maxConns))
	}
	if cfg.tenantConns > 0 {
		args = append(args, "-db-tenant-conns", strconv.Itoa(cfg.tenantConns))
	}
	if cfg.db == "postgres" {
		if err := pgCreateDB(ctx, cfg.pgDSN, m.CoreDB); err != nil {
			return nil, err
		}
		core, err := dsnWithDB(cfg.pgDSN, m.CoreDB)
		if err != nil {
			return nil, err
		}
		args = append(args, "-core-db", core)
		servers := cfg.pgServers
		if len(servers) == 0 {
			servers = []pgServer{{dsn: cfg.pgDSN}} // the one server, unnamed
		}
		for _, srv := range servers {
			tenantDB := srv.dsn
			if m.isolation() == "schema" {
				if err := pgCreateDB(ctx, srv.dsn, m.schemasDB()); err != nil {
					return nil, err
				}
				if tenantDB, err = dsnWithDB(srv.dsn, m.schemasDB()); err != nil {
					return nil, err
				}
			}
			if srv.name != "" {
				tenantDB = srv.name + "=" + tenantDB
			}
			args = append(args, "-tenant-db", tenantDB)
		}
		if m.isolation() == "schema" {
			args = append(args, "-tenant-isolation", "schema")
		}
	}
	pprofAddr := ""
	if cfg.profileDir != "" {
		if pprofAddr, err = freeAddr(); err != nil {
			return nil, err
		}
		args = append(args, "-pprof", pprofAddr)
	}
	p, err := startProc(ctx, "server", bin, args, addr, pprofAddr, filepath.Join(work, "server.log"))
	if err != nil {
		return nil, err
	}
	return &serverRef{base: p.base, pid: p.pid(), proc: p, build: buildRevision(bin)}, nil
}

// startBaseline starts this binary as the baseline server, with as many
// users as one tenant has, and returns it with their targets.
func startBaseline(ctx context.Context, cfg config, m *manifest, work string) (*proc, []target, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, nil, err
	}
	dbPath := filepath.Join(work, "baseline.db")
	for _, suffix := range []string{"", "-wal", "-shm"} {
		os.Remove(dbPath + suffix)
	}
	args := []string{baselineCommand, "-addr", addr, "-db", dbPath, "-jwt-secret", m.Secret,
		"-users", strconv.Itoa(cfg.users), "-password", m.Password, "-log-level", cfg.logLevel}
	pprofAddr := ""
	if cfg.profileDir != "" {
		if pprofAddr, err = freeAddr(); err != nil {
			return nil, nil, err
		}
		args = append(args, "-pprof", pprofAddr)
	}
	p, err := startProc(ctx, "baseline", exe, args, addr, pprofAddr, filepath.Join(work, "baseline.log"))
	if err != nil {
		return nil, nil, err
	}
	targets := make([]target, cfg.users)
	for j := range targets {
		tok, _, err := mintToken(m.Secret, baselineAudience, int64(j+1))
		if err != nil {
			p.stop()
			return nil, nil, err
		}
		targets[j] = target{tenant: "1", authz: "Bearer " + tok, loginBody: loginBody(baselineEmail(j+1), m.Password)}
	}
	return p, targets, nil
}

// stopKeepingHWM returns a function that records p's peak RSS (VmHWM) in
// *hwm, if higher, and stops p.
func stopKeepingHWM(p *proc, hwm **float64) func() error {
	return func() error {
		if mem, err := readMem(p.pid()); err == nil {
			*hwm = maxMiB(*hwm, mib(mem.HWM))
		}
		return p.stop()
	}
}

// startMapServer starts this binary as the map-of-handles server on the
// data set's SQLite tenant files.
func startMapServer(ctx context.Context, cfg config, m *manifest, dir, work string) (*proc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	args := []string{mapCommand, "-addr", addr, "-dir", filepath.Join(dataPath(dir), "tenants"), "-prefix", m.Prefix,
		"-jwt-secret", m.Secret, "-token-ttl", tokenTTL.String(), "-log-level", cfg.logLevel}
	pprofAddr := ""
	if cfg.profileDir != "" {
		if pprofAddr, err = freeAddr(); err != nil {
			return nil, err
		}
		args = append(args, "-pprof", pprofAddr)
	}
	return startProc(ctx, "map", exe, args, addr, pprofAddr, filepath.Join(work, "map.log"))
}

func loginBody(email, password string) []byte {
	return []byte(`{"email":"` + email + `","password":"` + password + `"}`)
}

// tenantTargets are the users of one tenant.
func tenantTargets(t tenant, password string) []target {
	out := make([]target, len(t.Users))
	id := strconv.FormatInt(t.ID, 10)
	for j, u := range t.Users {
		out[j] = target{tenant: id, authz: "Bearer " + u.Token, loginBody: loginBody(u.Email, password)}
	}
	return out
}

// distTargets are the tenants in a random order (by seed), so that the
// ranks of the distribution do not follow creation order.
func distTargets(tenants []tenant, password string, seed uint64) [][]target {
	out := make([][]target, len(tenants))
	for i, t := range tenants {
		out[i] = tenantTargets(t, password)
	}
	r := rand.New(rand.NewPCG(seed, 0x6c74))
	r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// phaseRun is what one run of one phase measured.
type phaseRun struct {
	name, server, dist string
	tenants, clients   int
	lr                 loadResult
	peakRSS            int64 // bytes; 0: unknown
	peakHandles        float64
	haveHandles        bool
	peakPG, peakCore   int            // -1: not sampled
	peakByServer       map[string]int // with -pg-servers: peak tenant connections of each server
	cpu                time.Duration  // server CPU time in the measured window; -1: unknown
	profile            string
}

// runPhase drives one phase while sampling the server's memory, CPU time,
// open handles and PostgreSQL connections, printing progress, and taking a
// CPU profile if asked; it fills run.
func runPhase(ctx context.Context, cfg config, client *http.Client, spec loadSpec, label string, run *phaseRun, pid int, pprofAddr string, pg *pgSamplers, stderr io.Writer) {
	var live liveCounters
	var lastHandles atomic.Pointer[handleSample] // the sampler's latest, for the progress line
	done := make(chan struct{})
	var wg sync.WaitGroup
	run.peakPG, run.peakCore, run.cpu = -1, -1, -1
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if _, ok, _ := scrapeHandles(sctx, client, spec.base); ok && spec.name != phaseBaseline {
		run.haveHandles = true
	}
	start := time.Now()
	measureFrom := start.Add(spec.warmup)
	var cpuFrom time.Duration = -1
	wg.Go(func() { // samples until done is closed
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for n := 0; ; n++ {
			if pid > 0 {
				if m, err := readMem(pid); err == nil && m.RSS > run.peakRSS {
					run.peakRSS = m.RSS
				}
			}
			if run.haveHandles && n%5 == 0 {
				if v, ok, _ := scrapeHandles(sctx, client, spec.base); ok {
					run.peakHandles = max(run.peakHandles, v.open)
					lastHandles.Store(&v)
				}
			}
			if pg != nil {
				pg.sample(sctx, run)
			}
			wait := t.C
			var measure <-chan time.Time
			if pid > 0 && cpuFrom < 0 {
				measure = time.After(time.Until(measureFrom))
			}
			select {
			case <-done:
				return
			case <-wait:
			case <-measure:
				if c, err := readCPU(pid); err == nil {
					cpuFrom = c
				}
			}
		}
	})
	if cfg.progress > 0 && !cfg.quiet {
		tty := isTerminal(stderr)
		wg.Go(func() { // prints until done is closed
			t := time.NewTicker(cfg.progress)
			defer t.Stop()
			var lastN int64
			last := start
			var lastOpens *handleSample
			for {
				select {
				case <-done:
					if tty {
						fmt.Fprintln(stderr)
					}
					return
				case now := <-t.C:
					n := live.requests.Load()
					rate := float64(n-lastN) / now.Sub(last).Seconds()
					lastN, last = n, now
					stage := "measure"
					if now.Before(measureFrom) {
						stage = "warmup"
					}
					line := fmt.Sprintf("[%s %s %4.0fs] %d req, %.0f req/s, %d errors, rss %s MiB",
						label, stage, now.Sub(start).Seconds(), n, rate, live.errors.Load(), optFloat(mib(rssNow(pid)), "%.0f"))
					// The handles open, and the handles opened (cache misses)
					// since the previous line's sample: the server reaches
					// steady state when the first stops growing and the
					// second stops falling.
					if h := lastHandles.Load(); h != nil {
						line += fmt.Sprintf(", handles %.0f", h.open)
						if lastOpens != nil && h.at.After(lastOpens.at) {
							line += fmt.Sprintf(", opens %.0f/s", (h.opens-lastOpens.opens)/h.at.Sub(lastOpens.at).Seconds())
						}
						lastOpens = h
					}
					if tty {
						fmt.Fprintf(stderr, "\r%s\033[K", line)
					} else {
						fmt.Fprintln(stderr, line)
					}
				}
			}
		})
	}
	if cfg.profileDir != "" && pprofAddr != "" {
		wg.Go(func() { // one profile request, bounded by the phase
			select {
			case <-time.After(time.Until(measureFrom)):
			case <-done:
				return
			}
			// Halfway through, where the goroutines wait.
			go func() { // one request, bounded by the phase
				select {
				case <-time.After(spec.duration / 2):
				case <-done:
					return
				}
				_ = fetchURL(sctx, "http://"+pprofAddr+"/debug/pprof/goroutine?debug=1", filepath.Join(cfg.profileDir, label+".goroutines.txt"))
			}()
			path, err := fetchProfile(sctx, pprofAddr, spec.duration, filepath.Join(cfg.profileDir, label+".pprof"))
			if err == nil {
				run.profile = path
			} else {
				fmt.Fprintf(stderr, "cpu profile of %s: %v\n", label, err)
			}
		})
	}

	run.lr = drive(ctx, client, spec, &live)
	var cpuTo time.Duration = -1
	if pid > 0 {
		if c, err := readCPU(pid); err == nil {
			cpuTo = c
		}
	}
	close(done)
	wg.Wait()
	if cpuFrom >= 0 && cpuTo >= cpuFrom {
		run.cpu = cpuTo - cpuFrom
	}
}

// rssNow reads the current RSS for the progress line.
func rssNow(pid int) int64 {
	if pid <= 0 {
		return 0
	}
	m, err := readMem(pid)
	if err != nil {
		return 0
	}
	return m.RSS
}

// fetchProfile takes a CPU profile of d from a pprof listener into path.
func fetchProfile(ctx context.Context, addr string, d time.Duration, path string) (string, error) {
	secs := max(int(d/time.Second), 1)
	ctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
	defer cancel()
	return path, fetchURL(ctx, "http://"+addr+"/debug/pprof/profile?seconds="+strconv.Itoa(secs), path)
}

// fetchURL saves the body of a GET into path.
func fetchURL(ctx context.Context, u, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: status %d", u, resp.StatusCode)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func mib(b int64) *float64 {
	if b <= 0 {
		return nil
	}
	v := float64(b) / (1 << 20)
	return &v
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// hostNow describes the machine.
func hostNow() hostInfo {
	h := hostInfo{Date: time.Now().UTC().Truncate(time.Second), NumCPU: runtime.NumCPU(), GoVersion: runtime.Version(), LoadStart: loadAvg()}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		h.Kernel = strings.TrimSpace(string(b))
	}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				h.CPU = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	return h
}

// loadAvg is the 1, 5 and 15 minute load average.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
