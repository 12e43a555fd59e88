package tenancytest

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	mrand "math/rand/v2"
)

// SeedFunc writes marker into the data of tenant, so that the request
// [RequestFunc] builds for tenant afterwards answers with marker in its
// body: for example it signs a user up and posts a note whose text is
// marker, through the handler or straight into the tenant's database.
// ctx is the test's context ([testing.TB.Context]). An error fails the
// test at once.
type SeedFunc func(ctx context.Context, tenant, marker string) error

// RequestFunc returns a new request for tenant whose response must carry
// marker, the one the [SeedFunc] wrote for tenant, in its body: for
// example GET /notes with the tenant in a header or the host and a token
// of a user of that tenant. It must return a new request on every call
// (httptest.NewRequest makes one); a request is served once.
type RequestFunc func(tenant, marker string) *http.Request

// Markers are markerPrefix and markerHex lowercase hexadecimal digits.
const (
	markerPrefix = "marker"
	markerBytes  = 16
	markerHex    = 2 * markerBytes
)

// Isolation fails tb if h serves one tenant's data to another. It makes a
// marker per tenant, calls seed for each tenant in order, then serves
// WithRequests requests per tenant (25 by default), each built by request,
// from WithClients goroutines at once (8 by default), in shuffled order
// (see [WithShuffle]), and reports with tb.Errorf every response that
// carries another tenant's marker, lacks its own tenant's marker or has a
// status outside 2xx (a panic in h is reported too, with its stack). At
// most WithMaxReports (10 by default) failures are reported one by one,
// leaks first, then a summary.
//
// tenants must hold at least two distinct, non-empty names, in the form
// request and seed expect (a hint, an ID). A seed error, a nil h, seed or
// request, bad tenants, an invalid option, or a request function that
// returns nil or a request it returned before stops the test with
// tb.Fatalf, from the calling goroutine.
//
// Requests are served with h.ServeHTTP and an [httptest.ResponseRecorder],
// in this process: a handler that never returns makes Isolation wait for
// it (until go test's -timeout). seed and request are called from the
// calling goroutine only (see the package documentation); Isolation
// returns once every goroutine it started has ended.
func Isolation(tb testing.TB, h http.Handler, tenants []string, seed SeedFunc, request RequestFunc, opts ...Option) {
	tb.Helper()
	cfg, err := newConfig(opts)
	if err != nil {
		tb.Fatalf("tenancytest: Isolation: %v", err)
		return
	}
	if err := checkArgs(h, tenants, seed, request); err != nil {
		tb.Fatalf("tenancytest: Isolation: %v", err)
		return
	}
	markers := newMarkers(len(tenants))
	for i, tenant := range tenants {
		if err := seed(tb.Context(), tenant, markers[i]); err != nil {
			tb.Fatalf("tenancytest: seed tenant %q: %v", tenant, err)
			return
		}
	}
	jobs, err := schedule(tenants, markers, request, cfg)
	if err != nil {
		tb.Fatalf("tenancytest: %v", err)
		return
	}
	fails := run(h, jobs, newFinder(markers), cfg.clients)
	report(tb, tenants, jobs, fails, cfg)
}

// checkArgs refuses what Isolation cannot run with.
func checkArgs(h http.Handler, tenants []string, seed SeedFunc, request RequestFunc) error {
	switch {
	case h == nil:
		return errors.New("nil handler")
	case seed == nil:
		return errors.New("nil seed function")
	case request == nil:
		return errors.New("nil request function")
	case len(tenants) < 2:
		return fmt.Errorf("need at least 2 tenants to tell them apart, got %d", len(tenants))
	}
	seen := make(map[string]bool, len(tenants))
	for i, t := range tenants {
		if t == "" {
			return fmt.Errorf("tenant %d is empty", i+1)
		}
		if seen[t] {
			return fmt.Errorf("tenant %q is given twice", t)
		}
		seen[t] = true
	}
	return nil
}

// newMarkers returns n distinct markers of 128 random bits each.
func newMarkers(n int) []string {
	markers := make([]string, n)
	seen := make(map[string]bool, n)
	var b [markerBytes]byte
	for i := range markers {
		for markers[i] == "" || seen[markers[i]] {
			_, _ = rand.Read(b[:]) // never fails (crypto/rand)
			markers[i] = markerPrefix + hex.EncodeToString(b[:])
		}
		seen[markers[i]] = true
	}
	return markers
}

// job is one request to serve.
type job struct {
	n      int // 1-based, in serving order
	tenant int // index in tenants
	req    *http.Request
	what   string // method, host and URL, for reports
}

// schedule builds every request up front, in the calling goroutine, in
// the order they are handed to the clients.
func schedule(tenants, markers []string, request RequestFunc, cfg config) ([]job, error) {
	jobs := make([]job, 0, cfg.requests*len(tenants))
	for range cfg.requests {
		for i := range tenants {
			jobs = append(jobs, job{tenant: i})
		}
	}
	if cfg.shuffle {
		mrand.Shuffle(len(jobs), func(i, j int) { jobs[i], jobs[j] = jobs[j], jobs[i] })
	}
	seen := make(map[*http.Request]bool, len(jobs))
	for k := range jobs {
		j := &jobs[k]
		j.n = k + 1
		j.req = request(tenants[j.tenant], markers[j.tenant])
		switch {
		case j.req == nil:
			return nil, fmt.Errorf("request function returned nil for tenant %q", tenants[j.tenant])
		case seen[j.req]:
			return nil, fmt.Errorf("request function returned the same *http.Request twice for tenant %q; return a new one on every call", tenants[j.tenant])
		}
		seen[j.req] = true
		j.what = describe(j.req)
	}
	return jobs, nil
}

// describe names a request in reports: method, host and request URI.
func describe(r *http.Request) string {
	uri := "/"
	if r.URL != nil {
		uri = r.URL.RequestURI()
	}
	return r.Method + " " + r.Host + uri
}

// Kinds of failure, in the order they are reported.
const (
	kindLeak = iota
	kindPanic
	kindStatus
	kindMissing
)

// failure is one thing wrong with one response.
type failure struct {
	job    int // index in jobs
	kind   int
	owner  int    // kindLeak: the tenant whose marker leaked
	status int    // kindStatus
	detail string // excerpt of the body, or the panic and its stack
}

// run serves jobs from clients goroutines and returns what went wrong.
// Each goroutine ends when no job is left.
func run(h http.Handler, jobs []job, find finder, clients int) []failure {
	var (
		next  atomic.Int64
		mu    sync.Mutex
		fails []failure
		wg    sync.WaitGroup
	)
	for range min(clients, len(jobs)) {
		wg.Go(func() {
			for {
				k := int(next.Add(1) - 1)
				if k >= len(jobs) {
					return
				}
				if f := check(h, k, jobs[k], find); len(f) > 0 {
					mu.Lock()
					fails = append(fails, f...)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	return fails
}

// check serves job k and returns what is wrong with its response.
func check(h http.Handler, k int, j job, find finder) []failure {
	rec, panicked := serve(h, j.req)
	if panicked != "" {
		return []failure{{job: k, kind: kindPanic, detail: panicked}}
	}
	body := rec.Body.String()
	if rec.Code < 200 || rec.Code > 299 {
		return []failure{{job: k, kind: kindStatus, status: rec.Code, detail: excerpt(body, 0, 0)}}
	}
	var fails []failure
	own := false
	for _, m := range find.all(body) {
		if m.tenant == j.tenant {
			own = true
			continue
		}
		fails = append(fails, failure{job: k, kind: kindLeak, owner: m.tenant, detail: excerpt(body, m.at, m.at+m.len)})
	}
	if !own {
		fails = append(fails, failure{job: k, kind: kindMissing, detail: excerpt(body, 0, 0)})
	}
	return fails
}

// serve runs h on r and returns the recorded response, or the panic of h
// with the top of its stack.
func serve(h http.Handler, r *http.Request) (rec *httptest.ResponseRecorder, panicked string) {
	rec = httptest.NewRecorder()
	defer func() {
		if v := recover(); v != nil {
			stack := strings.SplitN(string(debug.Stack()), "\n", 16)
			panicked = fmt.Sprintf("panic: %v\n%s", v, strings.Join(stack[:min(len(stack), 15)], "\n"))
		}
	}()
	h.ServeHTTP(rec, r)
	return rec, ""
}

// excerptRadius is how many bytes of the body reports show around a
// leaked marker, on each side; a body without one is shown up to twice
// that.
const excerptRadius = 60

// excerpt quotes body around body[from:to], or its start if to is 0.
func excerpt(body string, from, to int) string {
	if to == 0 {
		from, to = 0, min(len(body), 2*excerptRadius)
	}
	lo, hi := max(0, from-excerptRadius), min(len(body), to+excerptRadius)
	s := fmt.Sprintf("%q", body[lo:hi])
	if lo > 0 {
		s = "…" + s
	}
	if hi < len(body) {
		s += "…"
	}
	return s
}

// finder finds markers in bodies: marker text to tenant index.
type finder map[string]int

func newFinder(markers []string) finder {
	f := make(finder, len(markers))
	for i, m := range markers {
		f[m] = i
	}
	return f
}

// found is the first place a tenant's marker appears in a body.
type found struct {
	tenant  int
	at, len int
}

// all returns the tenants whose marker body holds, each once, at its first
// place, in a single pass over body.
func (f finder) all(body string) []found {
	var out []found
	for i := 0; ; {
		j := strings.Index(body[i:], markerPrefix)
		if j < 0 {
			return out
		}
		j += i
		end := j + len(markerPrefix) + markerHex
		if end <= len(body) {
			if t, ok := f[body[j:end]]; ok && !slices.ContainsFunc(out, func(m found) bool { return m.tenant == t }) {
				out = append(out, found{tenant: t, at: j, len: end - j})
			}
		}
		i = j + 1
	}
}

// report fails tb with the first failures, leaks first, and a summary.
func report(tb testing.TB, tenants []string, jobs []job, fails []failure, cfg config) {
	tb.Helper()
	order := "shuffled"
	if !cfg.shuffle {
		order = "in rounds"
	}
	if len(fails) == 0 {
		tb.Logf("tenancytest: %d requests for %d tenants from %d clients (%s): every response carried its own tenant's marker and no other", len(jobs), len(tenants), min(cfg.clients, len(jobs)), order)
		return
	}
	slices.SortStableFunc(fails, func(a, b failure) int {
		return cmp.Or(cmp.Compare(a.kind, b.kind), cmp.Compare(a.job, b.job))
	})
	var count [kindMissing + 1]int
	failed := make(map[int]bool)
	for i, f := range fails {
		count[f.kind]++
		failed[f.job] = true
		if i >= cfg.maxReports {
			continue
		}
		j := jobs[f.job]
		prefix := fmt.Sprintf("tenancytest: request %d/%d for tenant %q (%s)", j.n, len(jobs), tenants[j.tenant], j.what)
		switch f.kind {
		case kindLeak:
			tb.Errorf("%s: response carries the marker of tenant %q: %s", prefix, tenants[f.owner], f.detail)
		case kindPanic:
			tb.Errorf("%s: handler panicked: %s", prefix, f.detail)
		case kindStatus:
			tb.Errorf("%s: status %d, want 2xx: %s", prefix, f.status, f.detail)
		case kindMissing:
			tb.Errorf("%s: response lacks the tenant's own marker: %s", prefix, f.detail)
		}
	}
	if n := len(fails) - cfg.maxReports; n > 0 {
		tb.Errorf("tenancytest: %d more failures not shown (WithMaxReports)", n)
	}
	tb.Errorf("tenancytest: %d of %d responses failed (%d leaked another tenant's marker, %d panicked, %d not 2xx, %d lacked their own marker); %d tenants, %d clients, %s",
		len(failed), len(jobs), count[kindLeak], count[kindPanic], count[kindStatus], count[kindMissing], len(tenants), min(cfg.clients, len(jobs)), order)
}

// SeedRequest returns a [SeedFunc] that serves the request newRequest
// builds for a tenant and its marker with h, and fails unless the status
// is 2xx (the error then holds the status and the start of the body). The
// request gets the seed's context. Use it when one request stores the
// marker, such as POST /notes with a token made beforehand.
func SeedRequest(h http.Handler, newRequest RequestFunc) SeedFunc {
	return func(ctx context.Context, tenant, marker string) error {
		if h == nil || newRequest == nil {
			return errors.New("SeedRequest: nil handler or request function")
		}
		r := newRequest(tenant, marker)
		if r == nil {
			return errors.New("SeedRequest: request function returned nil")
		}
		rec, panicked := serve(h, r.WithContext(ctx))
		if panicked != "" {
			return fmt.Errorf("%s: handler %s", describe(r), panicked)
		}
		if rec.Code < 200 || rec.Code > 299 {
			return fmt.Errorf("%s: status %d, want 2xx: %s", describe(r), rec.Code, excerpt(rec.Body.String(), 0, 0))
		}
		return nil
	}
}
