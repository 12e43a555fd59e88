package main

// Anonymous abuse of the login and registration path (issue 11): huge
// passwords and bodies, lone surrogates, a full hashing queue,
// registration floods and targeted lockouts. Clients that must look like
// different addresses dial from different loopback addresses (127.0.0.x:
// the server sees the connection's peer, not a header).

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tenantkit/tenantkit/auth"
)

// fromAddr returns a client whose connections come from the loopback
// address ip (127.0.0.2 and up: every 127/8 address is local on Linux).
func fromAddr(t testing.TB, ip string) *http.Client {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	tr := &http.Transport{DialContext: d.DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: time.Minute}
}

// sendFrom sends q to ts from client c and fails the test on a transport
// error.
func sendFrom(t testing.TB, c *http.Client, ts *testServer, q req) response {
	t.Helper()
	r, err := sendTo(c, ts.URL, q)
	if err != nil {
		t.Fatalf("%s %s: %v", q.method, q.path, err)
	}
	return r
}

func wantStatus(t testing.TB, what string, r response, want int) {
	t.Helper()
	if r.status != want {
		t.Fatalf("%s = %d %s; want %d", what, r.status, r.body, want)
	}
}

// authPaths are the login and registration endpoints of the core and of
// tenant (an organization id).
func authPaths(tenant string) []struct{ name, path, tenant string } {
	return []struct{ name, path, tenant string }{
		{"core register", "/api/register", ""},
		{"core login", "/api/login", ""},
		{"tenant register", "/api/tenant/auth/register", tenant},
		{"tenant login", "/api/tenant/auth/login", tenant},
	}
}

// TestAuthBodyLimit: login and registration bodies over 8 KiB get 413
// (even with a Content-Length that lies low, and without one), and a body
// just under it is read.
func TestAuthBodyLimit(t *testing.T) {
	ts := startServer(t, sqliteConfig(t))
	owner := ts.coreUser(t, "owner@example.com")
	org, _ := ts.org(t, owner, "Limits")

	body := func(size int) []byte {
		b, _ := json.Marshal(map[string]string{"email": "x@example.com", "password": ""})
		pad := size - len(b)
		b, _ = json.Marshal(map[string]string{"email": "x@example.com", "password": strings.Repeat("p", pad)})
		if len(b) != size {
			t.Fatalf("body of %d bytes; want %d", len(b), size)
		}
		return b
	}
	for _, p := range authPaths(org) {
		t.Run(p.name, func(t *testing.T) {
			r := ts.do(t, req{method: "POST", path: p.path, tenant: p.tenant, body: body(maxAuthBodyBytes + 1)})
			wantStatus(t, "9 KiB body", r, http.StatusRequestEntityTooLarge)
			pd := checkProblemBody(t, ts, req{method: "POST", path: p.path}, r)
			if !strings.Contains(pd.Detail, "8 KiB") {
				t.Errorf("detail = %q; want it to name the 8 KiB limit", pd.Detail)
			}
			r = ts.do(t, req{method: "POST", path: p.path, tenant: p.tenant, body: body(1 << 20)})
			wantStatus(t, "1 MiB body", r, http.StatusRequestEntityTooLarge)
			// At the limit the body is read: the password is too long.
			want := http.StatusUnprocessableEntity
			if strings.HasSuffix(p.path, "login") {
				want = http.StatusUnauthorized
			}
			r = ts.do(t, req{method: "POST", path: p.path, tenant: p.tenant, body: body(maxAuthBodyBytes)})
			wantStatus(t, "8 KiB body", r, want)
		})
	}
	// Chunked, without a Content-Length: cut off at the limit all the same.
	hr, err := http.NewRequest("POST", ts.URL+"/api/login", struct{ *strings.Reader }{strings.NewReader(string(body(64 << 10)))})
	if err != nil {
		t.Fatal(err)
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.ContentLength = -1
	res, err := ts.Client().Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("chunked 64 KiB login = %d; want 413", res.StatusCode)
	}
	// Other endpoints keep the 1 MiB limit: a 9 KiB organization body is
	// read (and refused for its name, not its size).
	r := ts.do(t, req{method: "POST", path: "/api/organizations", token: owner, body: map[string]string{"name": strings.Repeat("n", maxAuthBodyBytes+1)}})
	wantStatus(t, "9 KiB organization body", r, http.StatusUnprocessableEntity)
}

// TestLongPasswords: a password over 256 characters is refused at
// registration (422) and answered like any wrong password at login (401,
// the same body whether or not the account exists), and characters are
// counted, not bytes.
func TestLongPasswords(t *testing.T) {
	ts := startServer(t, sqliteConfig(t))
	owner := ts.coreUser(t, "owner@example.com")
	org, _ := ts.org(t, owner, "Long")
	ts.tenantUser(t, org, "member@example.com")

	long := strings.Repeat("x", maxPasswordLen+1)
	wide := strings.Repeat("密", maxPasswordLen) // 768 bytes, 256 characters
	for _, p := range authPaths(org) {
		t.Run(p.name, func(t *testing.T) {
			if strings.HasSuffix(p.path, "register") {
				r := ts.do(t, req{method: "POST", path: p.path, tenant: p.tenant, body: map[string]string{"email": "new@example.com", "password": long}})
				wantStatus(t, "register with 257 characters", r, http.StatusUnprocessableEntity)
				pd := checkProblemBody(t, ts, req{method: "POST", path: p.path}, r)
				if len(pd.Errors) != 1 || pd.Errors[0].Field != "password" {
					t.Errorf("errors = %+v; want one, on password", pd.Errors)
				}
				r = ts.do(t, req{method: "POST", path: p.path, tenant: p.tenant, body: map[string]string{"email": "wide@example.com", "password": wide}})
				wantStatus(t, "register with 256 three-byte characters", r, http.StatusCreated)
				return
			}
			known := "owner@example.com"
			if p.tenant != "" {
				known = "member@example.com"
			}
			var bodies []string
			for _, email := range []string{known, "nobody@example.com"} {
				r := ts.do(t, req{method: "POST", path: p.path, tenant: p.tenant, body: map[string]string{"email": email, "password": long}})
				wantStatus(t, "login with 257 characters as "+email, r, http.StatusUnauthorized)
				bodies = append(bodies, string(r.body))
			}
			r := ts.do(t, req{method: "POST", path: p.path, tenant: p.tenant, body: map[string]string{"email": known, "password": "wrong password"}})
			wantStatus(t, "login with a wrong password", r, http.StatusUnauthorized)
			bodies = append(bodies, string(r.body))
			if bodies[0] != bodies[1] || bodies[1] != bodies[2] {
				t.Errorf("401 bodies differ: %q", bodies)
			}
			r = ts.do(t, req{method: "POST", path: p.path, tenant: p.tenant, body: map[string]string{"email": "wide@example.com", "password": wide}})
			wantStatus(t, "login with 256 three-byte characters", r, http.StatusOK)
		})
	}
}

// TestLoneSurrogatePassword: a password whose JSON holds an escaped lone
// surrogate would decode to U+FFFD, the same password as another input:
// refused with 422. A proper pair is a character like any other.
func TestLoneSurrogatePassword(t *testing.T) {
	ts := startServer(t, sqliteConfig(t))
	for _, pw := range []string{`\ud800password`, `password\udfff`, `pass\ud83dword`, `pass\ude00\ud83dword`, `password\ud83d\u0041`} {
		body := `{"email":"lone@example.com","password":"` + pw + `"}`
		r := ts.do(t, req{method: "POST", path: "/api/register", body: body})
		wantStatus(t, "register with "+pw, r, http.StatusUnprocessableEntity)
		pd := checkProblemBody(t, ts, req{method: "POST", path: "/api/register"}, r)
		if len(pd.Errors) != 1 || pd.Errors[0].Field != "password" {
			t.Errorf("%s: errors = %+v; want one, on password", pw, pd.Errors)
		}
	}
	// U+FFFD itself, escaped or not, and a surrogate pair are fine, and
	// distinct passwords.
	for i, pw := range []string{`password\ufffd`, `password\ud83d\ude00`, `password\\ud800`} {
		body := fmt.Sprintf(`{"email":"ok%d@example.com","password":"%s"}`, i, pw)
		wantStatus(t, "register with "+pw, ts.do(t, req{method: "POST", path: "/api/register", body: body}), http.StatusCreated)
		wantStatus(t, "login with "+pw, ts.do(t, req{method: "POST", path: "/api/login", body: body}), http.StatusOK)
	}
}

// escapeToken splits the inside of a valid JSON string literal into
// escapes and other characters, for the reference below.
var escapeToken = regexp.MustCompile(`\\(u[0-9a-fA-F]{4}|.)`)

// loneSurrogateRef is a second, plainer implementation of loneSurrogate.
func loneSurrogateRef(lit string) bool {
	var units []int // \u escapes; -1 for anything else
	rest := lit[1 : len(lit)-1]
	for len(rest) > 0 {
		loc := escapeToken.FindStringIndex(rest)
		if loc == nil {
			break
		}
		if loc[0] > 0 {
			units = append(units, -1)
		}
		tok := rest[loc[0]:loc[1]]
		if strings.HasPrefix(tok, `\u`) {
			n, _ := strconv.ParseUint(tok[2:], 16, 16)
			units = append(units, int(n))
		} else {
			units = append(units, -1)
		}
		rest = rest[loc[1]:]
	}
	for i := 0; i < len(units); i++ {
		switch u := units[i]; {
		case u >= 0xDC00 && u <= 0xDFFF:
			return true
		case u >= 0xD800 && u <= 0xDBFF:
			if i+1 >= len(units) || units[i+1] < 0xDC00 || units[i+1] > 0xDFFF {
				return true
			}
			i++
		}
	}
	return false
}

// FuzzLoneSurrogate holds loneSurrogate to the reference on every valid
// JSON string literal.
func FuzzLoneSurrogate(f *testing.F) {
	for _, s := range []string{`"a"`, `"\ud800"`, `"\ud83d\ude00"`, `"\\ud800"`, `"\\\ud800"`, `"\ude00\ud83d"`, `"\ud83d\u0041"`, `"\ud83d\n\ude00"`, `"\u00e9\ud800x"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, lit string) {
		var s string
		if len(lit) < 2 || lit[0] != '"' || lit[len(lit)-1] != '"' || json.Unmarshal([]byte(lit), &s) != nil {
			return
		}
		if got, want := loneSurrogate([]byte(lit)), loneSurrogateRef(lit); got != want {
			t.Errorf("loneSurrogate(%s) = %v; want %v", lit, got, want)
		}
	})
}

// TestHashingQueueFull: with the one hashing slot taken and no queue, a
// login or a registration answers 503 with Retry-After at once; a password
// over 256 characters is still refused as usual (401, 422), since it
// never waits for a slot.
func TestHashingQueueFull(t *testing.T) {
	slow := auth.Params{Memory: 16 << 10, Iterations: 8, Parallelism: 1, SaltLen: 16, KeyLen: 32}
	ts := startServerWith(t, sqliteConfig(t), appOptions{hashParams: &slow, throttle: &testThrottle,
		hasherOpts: []auth.HasherOption{auth.WithMaxConcurrent(1), auth.WithMaxQueue(0)}})
	creds := map[string]string{"email": "user@example.com", "password": "correct horse battery"}
	ts.mustStatus(t, req{method: "POST", path: "/api/register", body: creds}, http.StatusCreated)

	// Logins in the background keep the slot taken until stop.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer func() { close(stop); wg.Wait() }()
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			ts.do(t, req{method: "POST", path: "/api/login", body: creds})
		}
	})
	// Wait until a login finds the slot taken.
	var busy response
	for {
		busy = ts.do(t, req{method: "POST", path: "/api/login", body: map[string]string{"email": "other@example.com", "password": "wrong password"}})
		if busy.status == http.StatusServiceUnavailable {
			break
		}
		if busy.status != http.StatusUnauthorized {
			t.Fatalf("login = %d %s; want 401 or 503", busy.status, busy.body)
		}
	}
	if ra, err := strconv.Atoi(busy.header.Get("Retry-After")); err != nil || ra < 1 {
		t.Errorf("503 Retry-After = %q; want a number of seconds", busy.header.Get("Retry-After"))
	}
	checkProblemBody(t, ts, req{method: "POST", path: "/api/login"}, busy)

	long := strings.Repeat("x", maxPasswordLen+1)
	for range 20 { // whatever the background login is doing meanwhile
		r := ts.do(t, req{method: "POST", path: "/api/login", body: map[string]string{"email": "user@example.com", "password": long}})
		wantStatus(t, "login with 257 characters while hashing is busy", r, http.StatusUnauthorized)
		r = ts.do(t, req{method: "POST", path: "/api/register", body: map[string]string{"email": "new@example.com", "password": long}})
		wantStatus(t, "register with 257 characters while hashing is busy", r, http.StatusUnprocessableEntity)
	}
}

// TestRegisterThrottle: registrations are limited per client address, in
// the core and separately in each tenant, with 429 and Retry-After past
// the limit; another address is not affected. A taken email counts; an
// invalid body does not.
func TestRegisterThrottle(t *testing.T) {
	cfg := sqliteConfig(t)
	cfg.registerLimit, cfg.registerWindow = 3, 10*time.Minute
	ts := startServer(t, cfg)
	a, b := fromAddr(t, "127.0.0.2"), fromAddr(t, "127.0.0.3")
	owner := ts.coreUser(t, "owner@example.com") // from 127.0.0.1
	org, _ := ts.org(t, owner, "Throttled")

	for _, dir := range []struct{ path, tenant string }{{"/api/register", ""}, {"/api/tenant/auth/register", org}} {
		reg := func(c *http.Client, email string) response {
			return sendFrom(t, c, ts, req{method: "POST", path: dir.path, tenant: dir.tenant,
				body: map[string]string{"email": email, "password": "correct horse battery"}})
		}
		wantStatus(t, dir.path+" invalid", sendFrom(t, a, ts, req{method: "POST", path: dir.path, tenant: dir.tenant,
			body: map[string]string{"email": "not an email", "password": "short"}}), http.StatusUnprocessableEntity)
		wantStatus(t, dir.path+" 1", reg(a, "a1@example.com"), http.StatusCreated)
		wantStatus(t, dir.path+" 2", reg(a, "a2@example.com"), http.StatusCreated)
		wantStatus(t, dir.path+" taken", reg(a, "a1@example.com"), http.StatusConflict)
		r := reg(a, "a3@example.com")
		wantStatus(t, dir.path+" past the limit", r, http.StatusTooManyRequests)
		secs, err := strconv.Atoi(r.header.Get("Retry-After"))
		if err != nil || secs < 1 || secs > 200+1 {
			t.Errorf("Retry-After = %q; want 1 to 201 seconds (one registration per 200 s)", r.header.Get("Retry-After"))
		}
		checkProblemBody(t, ts, req{method: "POST", path: dir.path}, r)
		wantStatus(t, dir.path+" from another address", reg(b, "b1@example.com"), http.StatusCreated)
	}
	// Logins are not registrations.
	ts.mustStatus(t, req{method: "POST", path: "/api/login", body: map[string]string{"email": "owner@example.com", "password": "correct horse battery"}}, http.StatusOK)
	wantStatus(t, "login from the throttled address", sendFrom(t, a, ts, req{method: "POST", path: "/api/login",
		body: map[string]string{"email": "a1@example.com", "password": "correct horse battery"}}), http.StatusOK)
}

// TestNoTargetedLockout: wrong passwords from one address stop that
// address only; the owner logs in from another. With the defaults, in the
// core and in a tenant.
func TestNoTargetedLockout(t *testing.T) {
	ts := startServerWith(t, sqliteConfig(t), appOptions{hashParams: &testHashParams})
	owner := ts.coreUser(t, "owner@example.com")
	org, _ := ts.org(t, owner, "Lockout")
	ts.tenantUser(t, org, "member@example.com")
	attacker, victim := fromAddr(t, "127.0.0.2"), fromAddr(t, "127.0.0.3")

	for _, dir := range []struct{ path, tenant, email string }{{"/api/login", "", "owner@example.com"}, {"/api/tenant/auth/login", org, "member@example.com"}} {
		login := func(c *http.Client, password string) response {
			return sendFrom(t, c, ts, req{method: "POST", path: dir.path, tenant: dir.tenant,
				body: map[string]string{"email": dir.email, "password": password}})
		}
		for i := range accountBurst {
			wantStatus(t, fmt.Sprintf("%s wrong password %d", dir.path, i+1), login(attacker, "wrong password"), http.StatusUnauthorized)
		}
		wantStatus(t, dir.path+" attacker past the limit", login(attacker, "wrong password"), http.StatusTooManyRequests)
		wantStatus(t, dir.path+" owner from another address", login(victim, "correct horse battery"), http.StatusOK)
		wantStatus(t, dir.path+" right password from the attacker's address", login(attacker, "correct horse battery"), http.StatusTooManyRequests)
	}
}

// TestAccountCeiling: failures over every address have a ceiling; past
// it, an address that already failed on the account waits, while one
// with no failures still goes ahead, once: a distributed guesser is slowed
// to one guess per address, and the owner is never locked out.
func TestAccountCeiling(t *testing.T) {
	limits := throttleLimits{accountBurst: 3, accountRefill: time.Hour, ceilingBurst: 4, addrBurst: 100, addrRefill: time.Millisecond}
	ts := startServerWith(t, sqliteConfig(t), appOptions{hashParams: &testHashParams, throttle: &limits})
	creds := map[string]string{"email": "owner@example.com", "password": "correct horse battery"}
	ts.mustStatus(t, req{method: "POST", path: "/api/register", body: creds}, http.StatusCreated)
	login := func(ip, password string) response {
		return sendFrom(t, fromAddr(t, ip), ts, req{method: "POST", path: "/api/login",
			body: map[string]string{"email": "owner@example.com", "password": password}})
	}
	for i := range 3 {
		wantStatus(t, fmt.Sprintf("A wrong %d", i+1), login("127.0.0.2", "wrong"), http.StatusUnauthorized)
	}
	wantStatus(t, "B wrong 1 (the ceiling's last)", login("127.0.0.3", "wrong"), http.StatusUnauthorized)
	r := login("127.0.0.3", "wrong")
	wantStatus(t, "B wrong 2, past the ceiling", r, http.StatusTooManyRequests)
	if r.header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	wantStatus(t, "C wrong 1, no failures before", login("127.0.0.4", "wrong"), http.StatusUnauthorized)
	wantStatus(t, "C wrong 2, past the ceiling", login("127.0.0.4", "wrong"), http.StatusTooManyRequests)
	wantStatus(t, "D right, no failures before", login("127.0.0.5", "correct horse battery"), http.StatusOK)
	wantStatus(t, "D right again", login("127.0.0.5", "correct horse battery"), http.StatusOK)
	wantStatus(t, "B right, past the ceiling", login("127.0.0.3", "correct horse battery"), http.StatusTooManyRequests)
}

// TestConnLimiter: at the cap, a new connection closes the longest idle
// one and is served; idle connections never block a fresh client.
func TestConnLimiter(t *testing.T) {
	const limit = 10
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := newConnLimiter(inner, limit)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "ok")
	}), ConnState: ln.track}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }() // exits when Shutdown closes the listener
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Error(err)
		}
		<-served
	}()
	base := "http://" + inner.Addr().String()

	// 3×limit clients, each with one keep-alive connection left idle.
	var clients []*http.Client
	for i := range 3 * limit {
		tr := &http.Transport{}
		c := &http.Client{Transport: tr, Timeout: time.Minute}
		defer tr.CloseIdleConnections()
		r, err := sendTo(c, base, req{method: "GET", path: "/"})
		if err != nil || r.status != http.StatusOK {
			t.Fatalf("client %d: %d %v; want 200", i, r.status, err)
		}
		clients = append(clients, c)
		if open, _, _ := ln.stats(); open > limit {
			t.Fatalf("%d connections open; want at most %d", open, limit)
		}
	}
	open, evicted, refused := ln.stats()
	t.Logf("after %d clients: %d open (cap %d), %d closed for room, %d refused", len(clients), open, limit, evicted, refused)
	if open != limit || evicted != 2*limit || refused != 0 {
		t.Errorf("open, evicted, refused = %d, %d, %d; want %d, %d, 0", open, evicted, refused, limit, 2*limit)
	}
	// The last clients' connections are still open and reused; the first
	// client's was closed, and it reconnects.
	for _, c := range []*http.Client{clients[len(clients)-1], clients[0]} {
		if r, err := sendTo(c, base, req{method: "GET", path: "/"}); err != nil || r.status != http.StatusOK {
			t.Errorf("again: %d %v; want 200", r.status, err)
		}
	}
}

// TestDefaultMaxConns checks the default cap on client connections: three
// quarters of the descriptors the tenant databases leave, but never less
// than three quarters of a quarter of the limit.
func TestDefaultMaxConns(t *testing.T) {
	for _, tc := range []struct {
		nofile, reserved uint64
		want             int
	}{
		{20000, 0, 15000},
		{20000, 5000 * 3, 3750}, // 5,000 SQLite handles
		{20000, 40, 14970},      // a PostgreSQL budget of 40
		{128, 32 * 3, 24},
		{128, 1000, 24}, // the handles may not take the clients' quarter
		{0, 0, 768},     // unknown: 1024 assumed
		{1, 0, 1},
	} {
		if got := defaultMaxConns(tc.nofile, tc.reserved); got != tc.want {
			t.Errorf("defaultMaxConns(%d, %d) = %d; want %d", tc.nofile, tc.reserved, got, tc.want)
		}
	}
}
