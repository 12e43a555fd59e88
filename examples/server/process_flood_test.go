package main

// A flood of concurrent logins with the production password hashing
// (auth.DefaultParams: argon2id, 19 MiB per hash) and the default cap on
// concurrent hashes (GOMAXPROCS): every login is answered, none with a
// 5xx, and the memory held is bounded by the cap, not by the number of
// logins waiting. Measured: logins per second per core, and the peak heap
// and RSS.
//
// The full flood (1,000 logins) is a benchmark, since it takes tens of
// seconds (minutes under -race):
//
//	go test -run '^$' -bench BenchmarkLoginFlood -benchtime 1x -benchmem ./examples/server
//
// TestLoginFlood runs a small flood in the normal suite, skipped with
// -short.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	rtmetrics "runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tenantkit/tenantkit/auth"
)

// floodLogins is the size of BenchmarkLoginFlood's flood; smallFlood is
// TestLoginFlood's, enough to queue many logins behind the cap.
const (
	floodLogins = 1000
	smallFlood  = 24
)

// floodSampleEvery is how often the flood samples memory: far shorter
// than one argon2id hash (tens of milliseconds), so no peak is missed.
const floodSampleEvery = 2 * time.Millisecond

// floodResult is what one flood measured. Byte counts are of the whole
// test process, server and clients.
type floodResult struct {
	logins   int
	elapsed  time.Duration
	procs    int         // GOMAXPROCS: also the server's cap on concurrent hashes
	statuses map[int]int // by HTTP status
	failed   []string    // transport errors and unexpected statuses, the first few
	unexpect int         // how many
	gogc     int64       // GOGC in effect; negative when off

	baseHeap, peakHeap uint64 // heap in use (objects + free space in used spans)
	peakTotal          uint64 // all memory mapped by the Go runtime
	baseRSS, peakRSS   uint64 // VmRSS sampled; 0 where /proc is missing
	hwm                uint64 // VmHWM after the flood: the process's peak RSS so far
	samples            int
	cpu                time.Duration // CPU time of the process during the flood; 0 where /proc is missing
}

func (r floodResult) loginsPerSecond() float64 { return float64(r.logins) / r.elapsed.Seconds() }

// loginsPerCPUSecond is the logins per second one core would answer if
// it ran nothing else: on a machine shared with other work, a truer
// figure than loginsPerSecond over GOMAXPROCS. 0 when unknown.
func (r floodResult) loginsPerCPUSecond() float64 {
	if r.cpu == 0 {
		return 0
	}
	return float64(r.logins) / r.cpu.Seconds()
}

// floodConnHeap is the heap one waiting login may hold, client and
// server sides together (connections, buffers, requests): about 25 KiB
// by BenchmarkLoginFlood's figures (half the peak, less the hashes, over
// 1,000 logins), doubled for headroom.
const floodConnHeap = 48 << 10

// heapBound is the most heap the flood may hold. Live are at most: what
// the heap held before, the hashes the cap lets run at once plus one more
// (its memory not yet known free when a collection starts), and each
// waiting login's connection; the garbage collector lets the heap grow to
// (1 + GOGC/100) times that, and 32 MiB more covers the rest. Without the
// cap, 1,000 logins could hold 19 GiB.
func (r floodResult) heapBound() uint64 {
	hash := uint64(auth.DefaultParams().Memory) << 10 // KiB
	live := r.baseHeap + uint64(r.procs+1)*hash + uint64(r.logins)*floodConnHeap
	return live + live*uint64(max(r.gogc, 0))/100 + 32<<20
}

func (r floodResult) report(tb testing.TB) {
	tb.Helper()
	tb.Logf("%d concurrent logins (default argon2id, cap %d): %s, %.1f logins/s, %.1f logins/s/core; %.1f CPU-s, %.1f logins/CPU-s; statuses %v",
		r.logins, r.procs, r.elapsed.Round(time.Millisecond), r.loginsPerSecond(), r.loginsPerSecond()/float64(r.procs),
		r.cpu.Seconds(), r.loginsPerCPUSecond(), r.statuses)
	tb.Logf("heap in use: %.1f MiB before, peak %.1f MiB (bound %.1f MiB); runtime total peak %.1f MiB; RSS %.1f MiB before, peak %.1f MiB sampled, VmHWM %.1f MiB; %d samples, GOGC %d",
		mib(r.baseHeap), mib(r.peakHeap), mib(r.heapBound()), mib(r.peakTotal), mib(r.baseRSS), mib(r.peakRSS), mib(r.hwm), r.samples, r.gogc)
}

// check asserts only what does not depend on the machine's speed: every
// login answered 200 (right password) or 401 (wrong), never a 5xx or a
// broken connection, and the heap below heapBound.
func (r floodResult) check(tb testing.TB) {
	tb.Helper()
	if r.unexpect > 0 {
		tb.Errorf("%d of %d logins failed or got an unexpected answer; first: %s", r.unexpect, r.logins, strings.Join(r.failed, "; "))
	}
	for status, n := range r.statuses {
		if status >= 500 {
			tb.Errorf("%d logins answered %d; want none", n, status)
		}
	}
	if r.gogc < 0 {
		tb.Errorf("GOGC=off: the heap bound cannot be checked (the collector never runs); run with GOGC on")
	} else if r.peakHeap > r.heapBound() {
		tb.Errorf("peak heap in use = %.1f MiB; want at most %.1f MiB (%d concurrent hashes of 19 MiB at most)", mib(r.peakHeap), mib(r.heapBound()), r.procs)
	}
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// floodServer is startServerWith(t, sqliteConfig(t), appOptions{throttle:
// &testThrottle}) for any testing.TB: the default password hashing and
// cap, and a login throttle that lets the flood's failures through.
func floodServer(tb testing.TB) *testServer {
	tb.Helper()
	cfg := sqliteConfig(tb)
	cfg.hashQueue = floodLogins // every login waits: this measures hashing, not the queue's 503s
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a, err := newApp(ctx, cfg, slog.New(slog.DiscardHandler), appOptions{throttle: &testThrottle})
	if err != nil {
		tb.Fatalf("newApp: %v", err)
	}
	srv := httptest.NewServer(a.handler)
	tb.Cleanup(func() {
		srv.Close()
		if err := a.Close(); err != nil {
			tb.Errorf("close app: %v", err)
		}
	})
	return &testServer{Server: srv, app: a, cfg: cfg}
}

// floodUser registers the user the flood logs in as.
func floodUser(tb testing.TB, ts *testServer) (email, password string) {
	tb.Helper()
	email, password = "flood@example.com", "correct horse battery"
	ts.mustStatus(tb, req{method: "POST", path: "/api/register", body: map[string]string{"email": email, "password": password}}, http.StatusCreated)
	return email, password
}

// loginFlood sends n logins as email at once, half of them with the right
// password and half with a wrong one, on n connections, and samples the
// process's memory until every one is answered.
func loginFlood(tb testing.TB, ts *testServer, n int, email, password string) floodResult {
	tb.Helper()
	bodies := [2][]byte{}
	for i, p := range []string{password, "wrong password"} {
		b, err := json.Marshal(map[string]string{"email": email, "password": p})
		if err != nil {
			tb.Fatal(err)
		}
		bodies[i] = b
	}
	// One connection per login, all opened at once, none kept after.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	defer client.CloseIdleConnections()

	res := floodResult{logins: n, procs: runtime.GOMAXPROCS(0), statuses: map[int]int{}, gogc: gogcPercent()}
	runtime.GC()
	sampler := newMemSampler()
	sampler.sample()
	res.baseHeap, res.baseRSS = sampler.heap, sampler.rss
	sampler.heap, sampler.rss, sampler.total = 0, 0, 0
	stop, sampled := make(chan struct{}), make(chan struct{})
	// The sampler exits when stop is closed, after the last login.
	go func() {
		defer close(sampled)
		tick := time.NewTicker(floodSampleEvery)
		defer tick.Stop()
		for {
			sampler.sample()
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()

	var mu sync.Mutex
	record := func(status int, problem string) {
		mu.Lock()
		defer mu.Unlock()
		if status != 0 {
			res.statuses[status]++
		}
		if problem != "" {
			res.unexpect++
			if len(res.failed) < 5 {
				res.failed = append(res.failed, problem)
			}
		}
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		right := i%2 == 0
		body := bodies[1]
		want := http.StatusUnauthorized
		if right {
			body, want = bodies[0], http.StatusOK
		}
		wg.Add(1)
		// Each login's goroutine exits when its response is read.
		go func() {
			defer wg.Done()
			<-start
			r, err := http.NewRequest("POST", ts.URL+"/api/login", bytes.NewReader(body))
			if err != nil {
				record(0, err.Error())
				return
			}
			r.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(r)
			if err != nil {
				record(0, err.Error())
				return
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			switch {
			case err != nil:
				record(resp.StatusCode, err.Error())
			case resp.StatusCode != want:
				record(resp.StatusCode, fmt.Sprintf("login %d = %d %s; want %d", i, resp.StatusCode, b, want))
			default:
				record(resp.StatusCode, "")
			}
		}()
	}
	began, cpu := time.Now(), processCPU()
	close(start)
	wg.Wait()
	res.elapsed = time.Since(began)
	if cpu != 0 {
		res.cpu = processCPU() - cpu
	}
	close(stop)
	<-sampled
	res.peakHeap, res.peakTotal, res.peakRSS, res.samples = sampler.heap, sampler.total, sampler.rss, sampler.n
	res.hwm = procStatus("VmHWM")
	return res
}

// memSampler keeps the highest memory figures it has seen.
type memSampler struct {
	m                [3]rtmetrics.Sample
	heap, total, rss uint64
	n                int
}

func newMemSampler() *memSampler {
	s := &memSampler{}
	s.m[0].Name = "/memory/classes/heap/objects:bytes" // live and not yet swept
	s.m[1].Name = "/memory/classes/heap/unused:bytes"  // free space in spans in use
	s.m[2].Name = "/memory/classes/total:bytes"
	return s
}

func (s *memSampler) sample() {
	rtmetrics.Read(s.m[:])
	s.heap = max(s.heap, s.m[0].Value.Uint64()+s.m[1].Value.Uint64())
	s.total = max(s.total, s.m[2].Value.Uint64())
	s.rss = max(s.rss, procStatus("VmRSS"))
	s.n++
}

// gogcPercent is the GOGC in effect.
func gogcPercent() int64 {
	m := []rtmetrics.Sample{{Name: "/gc/gogc:percent"}}
	rtmetrics.Read(m)
	if m[0].Value.Kind() != rtmetrics.KindUint64 {
		return 100
	}
	return int64(m[0].Value.Uint64()) // GOGC=off reads as -1
}

// procStatus returns a kB field of /proc/self/status in bytes, or 0.
func procStatus(field string) uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), field+":")
		if !ok {
			continue
		}
		kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			return 0
		}
		return kb << 10
	}
	return 0
}

// processCPU returns the user and system CPU time of the process, all
// threads, from /proc/self/stat (in clock ticks of 1/100 s, as on every
// Linux), or 0.
func processCPU() time.Duration {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0
	}
	// Fields after the command, which is in parentheses: state is the
	// 3rd field of the line, utime the 14th, stime the 15th.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, err1 := strconv.ParseUint(f[11], 10, 64)
	stime, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// TestLoginFlood sends a small flood: many more logins than the cap, with
// the production hashing. It takes about smallFlood/GOMAXPROCS hashes'
// time (a second or two; several under -race).
func TestLoginFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("production password hashing is slow; BenchmarkLoginFlood measures the full flood")
	}
	ts := startServerWith(t, sqliteConfig(t), appOptions{throttle: &testThrottle})
	email, password := floodUser(t, ts)
	r := loginFlood(t, ts, smallFlood, email, password)
	r.report(t)
	r.check(t)
}

// BenchmarkLoginFlood sends floodLogins logins at once, b.N times (run it
// with -benchtime 1x), and reports logins/s, logins/s/core, the peak heap
// in use and the peak RSS of the whole test process.
func BenchmarkLoginFlood(b *testing.B) {
	ts := floodServer(b)
	email, password := floodUser(b, ts)
	var last floodResult
	var elapsed time.Duration
	var peakHeap, peakRSS uint64
	floods := 0
	for b.Loop() {
		last = loginFlood(b, ts, floodLogins, email, password)
		last.report(b)
		last.check(b)
		floods++
		elapsed += last.elapsed
		peakHeap, peakRSS = max(peakHeap, last.peakHeap), max(peakRSS, last.peakRSS)
	}
	perSec := float64(floods*floodLogins) / elapsed.Seconds()
	b.ReportMetric(perSec, "logins/s")
	b.ReportMetric(perSec/float64(last.procs), "logins/s/core")
	b.ReportMetric(last.loginsPerCPUSecond(), "logins/CPU-s")
	b.ReportMetric(mib(peakHeap), "peak-heap-MiB")
	b.ReportMetric(mib(peakRSS), "peak-RSS-MiB")
	b.ReportMetric(mib(last.hwm), "VmHWM-MiB")
}
