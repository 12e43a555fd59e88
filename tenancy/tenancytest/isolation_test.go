package tenancytest_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tenantkit/tenantkit/tenancy/tenancytest"
)

// recorder is a testing.TB that records failures instead of failing the
// test, so the tests can check that Isolation fails when it should. Its
// Fatal methods end the goroutine, as testing.T's do; run Isolation under
// it with runTB.
type recorder struct {
	testing.TB // the real test, for Context, Cleanup, TempDir and logs

	mu     sync.Mutex
	errs   []string
	failed bool
	fatal  bool
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
	r.failed = true
}

func (r *recorder) Error(args ...any) { r.Errorf("%s", fmt.Sprint(args...)) }

func (r *recorder) Fail() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed = true
}

func (r *recorder) Failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed
}

func (r *recorder) FailNow() {
	r.mu.Lock()
	r.failed, r.fatal = true, true
	r.mu.Unlock()
	runtime.Goexit()
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	r.FailNow()
}

func (r *recorder) Fatal(args ...any) {
	r.Error(args...)
	r.FailNow()
}

// errors returns the recorded failures, one per line.
func (r *recorder) errors() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.errs, "\n")
}

// runTB runs fn under a recorder in a goroutine of its own, so that a
// Fatal ends only that goroutine, and returns the recorder once fn has
// returned or stopped.
func runTB(t *testing.T, fn func(tb testing.TB)) *recorder {
	t.Helper()
	rec := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(rec)
	}()
	<-done
	return rec
}

var tenants = []string{"acme", "globex", "initech", "umbrella"}

// store is the notes of every tenant, safe for concurrent use.
type store struct {
	mu    sync.Mutex
	notes map[string][]string
}

func newStore() *store { return &store{notes: make(map[string][]string)} }

func (s *store) add(tenant, note string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.notes[tenant] = append(s.notes[tenant], note)
}

func (s *store) list(tenant string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Sprintf(`{"tenant":%q,"notes":%q}`, tenant, s.notes[tenant])
}

func (s *store) all() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Sprint(s.notes)
}

// notesHandler serves POST /notes (the body is the note) and GET /notes
// for the tenant named by X-Tenant, through list, which decides what a GET
// answers. It is correct when list is s.list.
func notesHandler(s *store, list func(r *http.Request, tenant string) string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /notes", func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		s.add(r.Header.Get("X-Tenant"), string(b))
		w.WriteHeader(http.StatusCreated)
	})
	mux.HandleFunc("GET /notes", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, list(r, r.Header.Get("X-Tenant")))
	})
	return mux
}

func post(tenant, marker string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/notes", strings.NewReader("note "+marker))
	r.Header.Set("X-Tenant", tenant)
	return r
}

func get(tenant, _ string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/notes", nil)
	r.Header.Set("X-Tenant", tenant)
	return r
}

// isolation runs Isolation on h, seeded with POST /notes and checked with
// GET /notes, under a recorder.
func isolation(t *testing.T, h http.Handler, opts ...tenancytest.Option) *recorder {
	t.Helper()
	return runTB(t, func(tb testing.TB) {
		tenancytest.Isolation(tb, h, tenants, tenancytest.SeedRequest(h, post), get, opts...)
	})
}

func TestIsolationPassesCorrectHandler(t *testing.T) {
	s := newStore()
	h := notesHandler(s, func(_ *http.Request, tenant string) string { return s.list(tenant) })
	// With the real test: it must not fail.
	tenancytest.Isolation(t, h, tenants, tenancytest.SeedRequest(h, post), get, tenancytest.WithRequests(50))

	// And under the recorder, with every option.
	for _, opts := range [][]tenancytest.Option{
		nil,
		{tenancytest.WithClients(1), tenancytest.WithShuffle(false)},
		{tenancytest.WithClients(32), tenancytest.WithRequests(10)},
	} {
		s := newStore()
		h := notesHandler(s, func(_ *http.Request, tenant string) string { return s.list(tenant) })
		if rec := isolation(t, h, opts...); rec.Failed() {
			t.Errorf("Isolation failed a correct handler:\n%s", rec.errors())
		}
	}
}

// TestIsolationCatchesLeaks: every way of serving one tenant's data to
// another, or of not serving the tenant's own, fails the test, and the
// report says which request, which tenant and what leaked.
func TestIsolationCatchesLeaks(t *testing.T) {
	tests := []struct {
		name string
		// list answers GET /notes; s is the store the handler writes to.
		list func(s *store) func(r *http.Request, tenant string) string
		want []string // in the report, as regular expressions
	}{
		{
			name: "cache keyed by path, not tenant",
			list: func(s *store) func(*http.Request, string) string {
				var mu sync.Mutex
				cache := map[string]string{}
				return func(r *http.Request, tenant string) string {
					mu.Lock()
					defer mu.Unlock()
					if v, ok := cache[r.URL.Path]; ok {
						return v
					}
					cache[r.URL.Path] = s.list(tenant)
					return cache[r.URL.Path]
				}
			},
			want: []string{
				`request \d+/100 for tenant "\w+" \(GET example.com/notes\): response carries the marker of tenant "\w+": "\{\\"tenant\\":\\"\w+\\",\\"notes\\":\[\\"note marker[0-9a-f]{32}\\"\]\}"`,
				`\d+ of 100 responses failed \(\d+ leaked another tenant's marker, 0 panicked, 0 not 2xx, \d+ lacked their own marker\); 4 tenants, 8 clients, shuffled`,
			},
		},
		{
			name: "current tenant in a shared variable",
			list: func(s *store) func(*http.Request, string) string {
				var current atomic.Pointer[string] // race-free, and still wrong
				return func(_ *http.Request, tenant string) string {
					current.Store(&tenant)
					time.Sleep(200 * time.Microsecond) // another request comes in
					return s.list(*current.Load())
				}
			},
			want: []string{`response carries the marker of tenant`},
		},
		{
			name: "every tenant's data",
			list: func(s *store) func(*http.Request, string) string {
				return func(*http.Request, string) string { return s.all() }
			},
			want: []string{`response carries the marker of tenant`, `100 of 100 responses failed \(300 leaked`},
		},
		{
			name: "no data at all",
			list: func(*store) func(*http.Request, string) string {
				return func(*http.Request, string) string { return `{"notes":[]}` }
			},
			want: []string{`lacks the tenant's own marker: "\{\\"notes\\":\[\]\}"`, `100 of 100 responses failed \(0 leaked another tenant's marker, 0 panicked, 0 not 2xx, 100 lacked`},
		},
		{
			name: "one tenant fails",
			list: func(s *store) func(*http.Request, string) string {
				return func(_ *http.Request, tenant string) string {
					if tenant == "globex" {
						panic(http.ErrAbortHandler)
					}
					return s.list(tenant)
				}
			},
			want: []string{`for tenant "globex" \(GET example.com/notes\): handler panicked: panic: net/http: abort Handler`, `25 of 100 responses failed \(0 leaked another tenant's marker, 25 panicked`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore()
			rec := isolation(t, notesHandler(s, tt.list(s)))
			if !rec.Failed() || rec.fatal {
				t.Fatalf("Isolation: failed %v, fatal %v; want a failure without Fatal:\n%s", rec.Failed(), rec.fatal, rec.errors())
			}
			for _, w := range tt.want {
				if !regexp.MustCompile(w).MatchString(rec.errors()) {
					t.Errorf("report does not match %s:\n%s", w, rec.errors())
				}
			}
			if n := strings.Count(rec.errors(), "tenancytest: "); n > 12 { // 10 reports, "more", summary
				t.Errorf("%d reports; want at most 12", n)
			}
		})
	}
}

// TestIsolationNeedsConcurrency: a handler that keeps the current tenant
// in a shared variable passes one client at a time; it takes concurrent
// clients to catch it.
func TestIsolationNeedsConcurrency(t *testing.T) {
	s := newStore()
	var current atomic.Pointer[string]
	h := notesHandler(s, func(_ *http.Request, tenant string) string {
		current.Store(&tenant)
		time.Sleep(100 * time.Microsecond)
		return s.list(*current.Load())
	})
	if rec := isolation(t, h, tenancytest.WithClients(1)); rec.Failed() {
		t.Errorf("one client: failed:\n%s", rec.errors())
	}
	if rec := isolation(t, h, tenancytest.WithClients(8)); !rec.Failed() {
		t.Errorf("8 clients: passed; want a leak")
	}
}

func TestIsolationStatus(t *testing.T) {
	s := newStore()
	h := notesHandler(s, func(_ *http.Request, tenant string) string { return s.list(tenant) })
	failing := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.Header.Get("X-Tenant") == "initech" {
			http.Error(w, "database unavailable", http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	})
	rec := isolation(t, failing, tenancytest.WithMaxReports(3))
	got := rec.errors()
	for _, w := range []string{
		`for tenant "initech" \(GET example.com/notes\): status 503, want 2xx: "database unavailable\\n"`,
		`22 more failures not shown \(WithMaxReports\)`,
		`25 of 100 responses failed \(0 leaked another tenant's marker, 0 panicked, 25 not 2xx, 0 lacked`,
	} {
		if !regexp.MustCompile(w).MatchString(got) {
			t.Errorf("report does not match %s:\n%s", w, got)
		}
	}
	if n := strings.Count(got, "\n") + 1; n != 5 {
		t.Errorf("%d reports; want 3, one for the rest and a summary:\n%s", n, got)
	}
}

// TestIsolationLeaksFirst: with WithMaxReports(1), the one failure shown
// is a leak, even when non-2xx answers come first.
func TestIsolationLeaksFirst(t *testing.T) {
	s := newStore()
	h := notesHandler(s, func(_ *http.Request, tenant string) string {
		if tenant == "acme" {
			return s.all()
		}
		return "{}"
	})
	rec := isolation(t, h, tenancytest.WithMaxReports(1), tenancytest.WithShuffle(false))
	first, _, _ := strings.Cut(rec.errors(), "\n")
	if !strings.Contains(first, `request 1/100 for tenant "acme"`) || !strings.Contains(first, "response carries the marker of tenant") {
		t.Errorf("first report = %s; want the leak of request 1", first)
	}
}

func TestIsolationMarkers(t *testing.T) {
	var mu sync.Mutex // seed runs in the recorder's goroutine
	var got []string
	seed := func(_ context.Context, tenant, marker string) error {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, marker)
		return nil
	}
	answer := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.URL.Query().Get("echo")) })
	echo := func(_, marker string) *http.Request { return httptest.NewRequest("GET", "/?echo="+marker, nil) }
	for range 2 {
		if rec := runTB(t, func(tb testing.TB) { tenancytest.Isolation(tb, answer, tenants, seed, echo) }); rec.Failed() {
			t.Fatalf("echo of the own marker failed:\n%s", rec.errors())
		}
	}
	re := regexp.MustCompile(`^marker[0-9a-f]{32}$`)
	seen := map[string]bool{}
	for _, m := range got {
		if !re.MatchString(m) {
			t.Errorf("marker %q does not match %s", m, re)
		}
		if seen[m] {
			t.Errorf("marker %q given twice", m)
		}
		seen[m] = true
	}
	if len(got) != 2*len(tenants) {
		t.Errorf("%d markers; want %d", len(got), 2*len(tenants))
	}
}

// TestIsolationSchedule: the number of requests, their order without
// shuffling, and the bound on concurrent requests.
func TestIsolationSchedule(t *testing.T) {
	var inFlight, most, served atomic.Int64
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		served.Add(1)
		time.Sleep(50 * time.Microsecond)
		io.WriteString(w, r.URL.Query().Get("echo"))
	})
	seed := func(context.Context, string, string) error { return nil }
	var order []string // request runs in the calling goroutine only
	request := func(tenant, marker string) *http.Request {
		order = append(order, tenant)
		return httptest.NewRequest("GET", "/?echo="+marker, nil)
	}
	for _, clients := range []int{1, 3} {
		served.Store(0)
		most.Store(0)
		order = nil
		rec := runTB(t, func(tb testing.TB) {
			tenancytest.Isolation(tb, h, tenants[:3], seed, request,
				tenancytest.WithClients(clients), tenancytest.WithRequests(7), tenancytest.WithShuffle(false))
		})
		if rec.Failed() {
			t.Fatalf("clients %d: failed:\n%s", clients, rec.errors())
		}
		if got := served.Load(); got != 21 {
			t.Errorf("clients %d: served %d requests; want 21", clients, got)
		}
		if got := most.Load(); got > int64(clients) {
			t.Errorf("clients %d: %d requests at once", clients, got)
		}
		want := strings.Repeat("acme globex initech ", 7)
		if got := strings.Join(order, " ") + " "; got != want {
			t.Errorf("clients %d: order %s; want %s", clients, got, want)
		}
	}
}

// TestIsolationFatal: mistakes in the call stop the test with Fatal and a
// message that names them, before any request.
func TestIsolationFatal(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	seed := func(context.Context, string, string) error { return nil }
	shared := httptest.NewRequest("GET", "/", nil)
	tests := []struct {
		name    string
		h       http.Handler
		tenants []string
		seed    tenancytest.SeedFunc
		request tenancytest.RequestFunc
		opts    []tenancytest.Option
		want    string
	}{
		{"nil handler", nil, tenants, seed, get, nil, "nil handler"},
		{"nil seed", ok, tenants, nil, get, nil, "nil seed function"},
		{"nil request", ok, tenants, seed, nil, nil, "nil request function"},
		{"one tenant", ok, tenants[:1], seed, get, nil, "need at least 2 tenants to tell them apart, got 1"},
		{"empty tenant", ok, []string{"a", ""}, seed, get, nil, "tenant 2 is empty"},
		{"duplicate", ok, []string{"a", "b", "a"}, seed, get, nil, `tenant "a" is given twice`},
		{"nil option", ok, tenants, seed, get, []tenancytest.Option{tenancytest.WithClients(2), nil}, "option 2 is nil"},
		{"clients", ok, tenants, seed, get, []tenancytest.Option{tenancytest.WithClients(0)}, "WithClients(0): must be 1 to 1024"},
		{"requests", ok, tenants, seed, get, []tenancytest.Option{tenancytest.WithRequests(0)}, "WithRequests(0): must be 1 to 1048576"},
		{"reports", ok, tenants, seed, get, []tenancytest.Option{tenancytest.WithMaxReports(0)}, "WithMaxReports(0): must be at least 1"},
		{"seed error", ok, tenants, func(_ context.Context, tenant, _ string) error {
			if tenant == "globex" {
				return fmt.Errorf("sign-up: status 500")
			}
			return nil
		}, get, nil, `seed tenant "globex": sign-up: status 500`},
		{"seed request fails", ok, tenants, tenancytest.SeedRequest(http.NotFoundHandler(), post), get, nil,
			`seed tenant "acme": POST example.com/notes: status 404, want 2xx: "404 page not found\n"`},
		{"nil request", ok, tenants, seed, func(string, string) *http.Request { return nil }, nil, `request function returned nil for tenant "`},
		{"same request", ok, tenants, seed, func(string, string) *http.Request { return shared }, nil, "returned the same *http.Request twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var served atomic.Int64
			h := tt.h
			if h != nil {
				h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					served.Add(1)
					tt.h.ServeHTTP(w, r)
				})
			}
			rec := runTB(t, func(tb testing.TB) {
				tenancytest.Isolation(tb, h, tt.tenants, tt.seed, tt.request, tt.opts...)
			})
			if !rec.fatal || !strings.Contains(rec.errors(), tt.want) {
				t.Errorf("fatal %v, report:\n%s\nwant Fatal with %q", rec.fatal, rec.errors(), tt.want)
			}
			if n := served.Load(); n != 0 {
				t.Errorf("%d requests served; want none", n)
			}
		})
	}
}

func TestSeedRequest(t *testing.T) {
	s := newStore()
	h := notesHandler(s, func(_ *http.Request, tenant string) string { return s.list(tenant) })
	seed := tenancytest.SeedRequest(h, post)
	if err := seed(t.Context(), "acme", "marker0"); err != nil {
		t.Fatalf("seed: %v", err)
	}
	if got, want := s.list("acme"), `{"tenant":"acme","notes":["note marker0"]}`; got != want {
		t.Errorf("stored %s; want %s", got, want)
	}
	for _, tt := range []struct {
		name string
		seed tenancytest.SeedFunc
		want string
	}{
		{"nil handler", tenancytest.SeedRequest(nil, post), "nil handler or request function"},
		{"nil request function", tenancytest.SeedRequest(h, nil), "nil handler or request function"},
		{"nil request", tenancytest.SeedRequest(h, func(string, string) *http.Request { return nil }), "request function returned nil"},
		{"panic", tenancytest.SeedRequest(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }), post), "POST example.com/notes: handler panic: boom"},
		{"status", tenancytest.SeedRequest(h, get), ""}, // GET answers 200: no error
	} {
		err := tt.seed(t.Context(), "acme", "m")
		if (err == nil) != (tt.want == "") || err != nil && !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v; want %q", tt.name, err, tt.want)
		}
	}
}

// TestSeedRequestContext: the request is served with the seed's context.
func TestSeedRequestContext(t *testing.T) {
	type key struct{}
	var got any
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r.Context().Value(key{}) })
	ctx := context.WithValue(t.Context(), key{}, "seed")
	if err := tenancytest.SeedRequest(h, post)(ctx, "acme", "m"); err != nil {
		t.Fatal(err)
	}
	if got != "seed" {
		t.Errorf("context value %v; want seed", got)
	}
}
