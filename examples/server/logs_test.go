package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// logSink is the stdout of a run under test: it keeps every line and hands
// over the listening address once run logs it. slog writes each record
// with one Write.
type logSink struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	addr chan string // receives the address once
	sent bool
}

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf.Write(p)
	if !s.sent {
		var rec struct{ Msg, Addr string }
		if _, rest, ok := bytes.Cut(p, []byte("msg=listening addr=")); ok {
			s.sent = true
			s.addr <- string(bytes.TrimSpace(rest))
		} else if json.Unmarshal(p, &rec) == nil && rec.Msg == "listening" {
			s.sent = true
			s.addr <- rec.Addr
		}
	}
	return len(p), nil
}

// logTestSecret is the JWT master secret of the runs under test.
const logTestSecret = "log-test-secret-0123456789abcdef0123456789"

// runLogged runs the real program (run) with args on a free loopback port
// and returns its base URL and a stop function that acts as SIGTERM, waits
// for run to return nil and returns everything it logged.
func runLogged(t *testing.T, args ...string) (url string, stop func() string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	sink := &logSink{addr: make(chan string, 1)}
	all := append([]string{"server", "-addr", "127.0.0.1:0", "-data", t.TempDir(), "-jwt-secret", logTestSecret}, args...)
	var runErr error
	done := make(chan struct{})
	go func() { // exits once ctx is cancelled
		runErr = run(ctx, all, func(string) string { return "" }, sink)
		close(done)
	}()
	var once sync.Once
	var log string
	stop = func() string {
		once.Do(func() {
			cancel()
			select {
			case <-done:
				if runErr != nil {
					t.Errorf("run returned %v after shutdown; want nil", runErr)
				}
			case <-time.After(time.Minute):
				t.Fatal("run did not return within a minute of shutdown")
			}
			sink.mu.Lock()
			log = sink.buf.String()
			sink.mu.Unlock()
		})
		return log
	}
	select {
	case a := <-sink.addr:
		t.Cleanup(func() { stop() })
		return "http://" + a, stop
	case <-done:
		t.Fatalf("run exited before listening: %v", runErr)
	case <-time.After(time.Minute):
		t.Cleanup(func() { stop() })
		t.Fatal("run did not start listening within a minute")
	}
	return "", nil
}

// logClient sends requests to a run and remembers, for each, the request
// id it was answered with and the log line it should leave.
type logClient struct {
	t    *testing.T
	base string
	sent []wantLine
}

// wantLine is the request log line one request should leave.
type wantLine struct {
	id, method, route string
	status            int
	tenant, user      string
	skipCaller        bool // tenant and user not checked
}

// logReq is one request of a logged run.
type logReq struct {
	method, path, route string // route: the pattern the line should name
	body                string
	token, tenant       string
	requestID           string // X-Request-ID sent; "" sends none
}

// do sends q, fails the test unless it answers status, and returns the
// decoded JSON body (nil if none) and the answered request id.
func (c *logClient) do(q logReq, status int, want wantLine) (map[string]any, string) {
	c.t.Helper()
	var body io.Reader
	if q.body != "" {
		body = strings.NewReader(q.body)
	}
	r, err := http.NewRequest(q.method, c.base+q.path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if q.body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	if q.token != "" {
		r.Header.Set("Authorization", "Bearer "+q.token)
	}
	if q.tenant != "" {
		r.Header.Set("X-Tenant", q.tenant)
	}
	if q.requestID != "" {
		r.Header.Set("X-Request-ID", q.requestID)
	}
	res, err := http.DefaultClient.Do(r)
	if err != nil {
		c.t.Fatalf("%s %s: %v", q.method, q.path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	if res.StatusCode != status {
		c.t.Fatalf("%s %s = %d %s; want %d", q.method, q.path, res.StatusCode, b, status)
	}
	id := res.Header.Get("X-Request-ID")
	if id == "" {
		c.t.Errorf("%s %s answered without X-Request-ID", q.method, q.path)
	}
	want.id, want.method, want.route, want.status = id, q.method, q.route, status
	c.sent = append(c.sent, want)
	var doc map[string]any
	if len(b) > 0 && strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(b, &doc); err != nil {
			c.t.Fatalf("%s %s body %q: %v", q.method, q.path, b, err)
		}
	}
	return doc, id
}

// jsonBody marshals v for a request body.
func jsonBody(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// idString reads a JSON number id as the string a token subject or a
// tenant key carries.
func idString(t *testing.T, what string, v any) string {
	t.Helper()
	f, ok := v.(float64)
	if !ok || f < 1 {
		t.Fatalf("%s id = %#v; want a positive number", what, v)
	}
	return strconv.FormatInt(int64(f), 10)
}

var generatedRequestID = regexp.MustCompile(`^[0-9a-f]{16}$`)

// TestRequestLogJSON runs the real program with -log-format json and
// checks its log: every line is JSON; each request leaves exactly one
// "request" line with its id, method, route pattern, status, duration,
// tenant and user and nothing more; a client's well-formed X-Request-ID is
// kept and echoed, a malformed one replaced; and no password, token or
// secret reaches the log anywhere, at any level.
func TestRequestLogJSON(t *testing.T) {
	base, stop := runLogged(t, "-log-format", "json", "-log-level", "debug")
	c := &logClient{t: t, base: base}
	const corePassword, tenantPassword, wrongPassword = "core-pass-Zq8vW3xK", "tenant-pass-Jm4tR7yN", "wrong-pass-Hb2cX9eL"
	var secrets []string // every secret the log must not hold
	secrets = append(secrets, corePassword, tenantPassword, wrongPassword, logTestSecret)
	token := func(doc map[string]any) (access, refresh string) {
		t.Helper()
		access, _ = doc["access_token"].(string)
		refresh, _ = doc["refresh_token"].(string)
		if access == "" || refresh == "" {
			t.Fatalf("token response %v lacks access_token or refresh_token", doc)
		}
		secrets = append(secrets, access, refresh)
		if i := strings.LastIndexByte(access, '.'); i >= 0 {
			secrets = append(secrets, access[i+1:]) // the signature alone
		}
		return access, refresh
	}

	// Core directory.
	creds := jsonBody(t, map[string]string{"email": "owner@example.com", "password": corePassword})
	doc, _ := c.do(logReq{method: "POST", path: "/api/register", route: "POST /api/register", body: creds}, http.StatusCreated, wantLine{})
	coreUser := idString(t, "core user", doc["id"])
	doc, _ = c.do(logReq{method: "POST", path: "/api/login", route: "POST /api/login", body: creds}, http.StatusOK, wantLine{})
	coreAccess, _ := token(doc)
	c.do(logReq{method: "POST", path: "/api/login", route: "POST /api/login",
		body: jsonBody(t, map[string]string{"email": "owner@example.com", "password": wrongPassword})}, http.StatusUnauthorized, wantLine{})
	doc, _ = c.do(logReq{method: "POST", path: "/api/organizations", route: "POST /api/organizations", token: coreAccess,
		body: `{"name": "Log Org"}`}, http.StatusCreated, wantLine{user: coreUser})
	org := idString(t, "organization", doc["id"])

	// Tenant directory.
	tcreds := jsonBody(t, map[string]string{"email": "member@example.com", "password": tenantPassword})
	doc, _ = c.do(logReq{method: "POST", path: "/api/tenant/auth/register", route: "POST /api/tenant/auth/register", tenant: org, body: tcreds},
		http.StatusCreated, wantLine{tenant: org})
	tenantUser := idString(t, "tenant user", doc["id"])
	doc, _ = c.do(logReq{method: "POST", path: "/api/tenant/auth/login", route: "POST /api/tenant/auth/login", tenant: org, body: tcreds},
		http.StatusOK, wantLine{tenant: org})
	access, refresh := token(doc)
	_, id := c.do(logReq{method: "GET", path: "/api/tenant/users/me", route: "GET /api/tenant/users/me", tenant: org, token: access, requestID: "abc-123"},
		http.StatusOK, wantLine{tenant: org, user: tenantUser})
	if id != "abc-123" {
		t.Errorf("X-Request-ID answered = %q; want the client's %q echoed", id, "abc-123")
	}
	refreshBody := jsonBody(t, map[string]string{"refresh_token": refresh})
	doc, _ = c.do(logReq{method: "POST", path: "/api/tenant/auth/refresh", route: "POST /api/tenant/auth/refresh", tenant: org, body: refreshBody},
		http.StatusOK, wantLine{tenant: org})
	token(doc)
	// Replaying a used refresh token revokes its family: a warning path.
	c.do(logReq{method: "POST", path: "/api/tenant/auth/refresh", route: "POST /api/tenant/auth/refresh", tenant: org, body: refreshBody},
		http.StatusUnauthorized, wantLine{tenant: org})
	// A bad token: the tenant is known, the token is not (caller unchecked).
	c.do(logReq{method: "GET", path: "/api/tenant/users/me", route: "GET /api/tenant/users/me", tenant: org, token: access + "x"},
		http.StatusUnauthorized, wantLine{skipCaller: true})

	// Request ids a client may not choose: net/http refuses to send a
	// newline in a header (and a server's reader would end the header
	// there), so "bad id" stands for "bad id\n".
	for _, bad := range []string{"bad id", strings.Repeat("a", 65), `x","status":200,"y":"`, "tab\tid"} {
		_, id := c.do(logReq{method: "GET", path: "/healthz", route: "GET /healthz", requestID: bad}, http.StatusOK, wantLine{})
		if !generatedRequestID.MatchString(id) {
			t.Errorf("X-Request-ID %q answered with %q; want a generated id (16 hex digits)", bad, id)
		}
	}
	c.do(logReq{method: "GET", path: "/no/such/" + org, route: "unmatched"}, http.StatusNotFound, wantLine{})

	log := stop()
	lines := strings.Split(strings.TrimSuffix(log, "\n"), "\n")
	byID := map[string][]map[string]any{}
	requests := 0
	for i, line := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("log line %d is not JSON: %v\n%s", i+1, err, line)
			continue
		}
		if rec["msg"] != "request" {
			continue
		}
		requests++
		id, _ := rec["id"].(string)
		byID[id] = append(byID[id], rec)
	}
	if requests != len(c.sent) {
		t.Errorf("log has %d request lines; want %d, one per request", requests, len(c.sent))
	}
	wantKeys := []string{"id", "level", "method", "msg", "route", "status", "tenant", "time", "took", "user"}
	for _, w := range c.sent {
		recs := byID[w.id]
		if len(recs) != 1 {
			t.Errorf("%s %s (id %q) left %d request lines; want 1", w.method, w.route, w.id, len(recs))
			continue
		}
		rec := recs[0]
		if keys := sortedKeys(rec); !slices.Equal(keys, wantKeys) {
			t.Errorf("request line %v has keys %v; want %v", rec, keys, wantKeys)
		}
		if rec["method"] != w.method || rec["route"] != w.route || rec["status"] != float64(w.status) {
			t.Errorf("request line %v; want method %q, route %q, status %d", rec, w.method, w.route, w.status)
		}
		if took, ok := rec["took"].(float64); !ok || took < 0 {
			t.Errorf("request line %v: took = %#v; want a duration (>= 0)", rec, rec["took"])
		}
		if !w.skipCaller && (rec["tenant"] != w.tenant || rec["user"] != w.user) {
			t.Errorf("%s %s line has tenant %q, user %q; want tenant %q, user %q",
				w.method, w.route, rec["tenant"], rec["user"], w.tenant, w.user)
		}
	}
	for _, s := range secrets {
		if strings.Contains(log, s) {
			t.Errorf("the log holds the secret %q", s)
		}
	}
	if strings.Contains(log, "Bearer") {
		t.Errorf("the log holds an Authorization header")
	}
}

// TestRequestLogText runs the real program with -log-format text: one
// logfmt line per request, with the id and the route.
func TestRequestLogText(t *testing.T) {
	base, stop := runLogged(t, "-log-format", "text")
	c := &logClient{t: t, base: base}
	c.do(logReq{method: "GET", path: "/healthz", route: "GET /healthz", requestID: "txt-1"}, http.StatusOK, wantLine{})
	c.do(logReq{method: "GET", path: "/nope", requestID: "txt-2"}, http.StatusNotFound, wantLine{})
	log := stop()

	var requests []string
	for line := range strings.Lines(log) {
		if !strings.HasPrefix(line, "time=") {
			t.Errorf("log line %q is not logfmt (time=...)", line)
		}
		if strings.Contains(line, " msg=request ") {
			requests = append(requests, line)
		}
	}
	want := []string{
		`msg=request id=txt-1 method=GET route="GET /healthz" status=200 took=`,
		`msg=request id=txt-2 method=GET route=unmatched status=404 took=`,
	}
	if len(requests) != len(want) {
		t.Errorf("log has %d request lines; want %d:\n%s", len(requests), len(want), log)
	}
	for _, w := range want {
		n := 0
		for _, line := range requests {
			if strings.Contains(line, w) && strings.Contains(line, ` tenant="" user=""`) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("log has %d request lines containing %q and tenant, user; want 1:\n%s", n, w, log)
		}
	}
}
