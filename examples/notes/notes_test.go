package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tenantkit/tenantkit/auth"
	"github.com/tenantkit/tenantkit/tenancy/tenancytest"
)

// newServer returns the app's handler over SQLite databases in a
// temporary directory, serving tenants under the base domain notes.test.
func newServer(t *testing.T, tenants ...string) http.Handler {
	t.Helper()
	c := config{
		dataDir: t.TempDir(),
		domain:  "notes.test",
		tenants: tenants,
		secret:  []byte("a test master secret of at least 32 bytes"),
		// Cheap hashes: the tests check the flow, not argon2id's cost.
		hasherOptions: []auth.HasherOption{auth.WithParams(auth.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32})},
	}
	dbs, err := openTenants(t.Context(), nil, c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := dbs.Close(); err != nil {
			t.Error(err)
		}
	})
	h, err := newHandler(nil, c, dbs)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// call is one request to the API.
type call struct {
	method, path string
	host         string // default notes.test
	tenant       string // X-Tenant, if set
	token        string // bearer token, if set
	body         string // JSON, if set
}

// request builds c's request.
func (c call) request() *http.Request {
	r := httptest.NewRequest(c.method, c.path, strings.NewReader(c.body))
	r.Host = cmpOr(c.host, "notes.test")
	if c.tenant != "" {
		r.Header.Set("X-Tenant", c.tenant)
	}
	if c.token != "" {
		r.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	return r
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// do serves c and decodes the JSON answer into a map.
func do(t *testing.T, h http.Handler, c call) (*httptest.ResponseRecorder, map[string]any) {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, c.request())
	var got map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatalf("%s %s: status %d, body %q: %v", c.method, c.path, w.Code, w.Body, err)
	}
	return w, got
}

// signUp registers email in tenant and returns a token of that user.
func signUp(t *testing.T, h http.Handler, tenant, email string) string {
	t.Helper()
	creds := fmt.Sprintf(`{"email":%q,"password":"correct horse battery"}`, email)
	if w, got := do(t, h, call{method: "POST", path: "/signup", tenant: tenant, body: creds}); w.Code != http.StatusCreated {
		t.Fatalf("signup %s in %s: %d %v", email, tenant, w.Code, got)
	}
	w, got := do(t, h, call{method: "POST", path: "/login", tenant: tenant, body: creds})
	token, _ := got["access_token"].(string)
	if w.Code != http.StatusOK || token == "" {
		t.Fatalf("login %s in %s: %d %v", email, tenant, w.Code, got)
	}
	return token
}

// TestIsolation: five tenants each with a user of the same email (so the
// same user ID, 1, in every tenant's database) and a note holding the
// tenant's marker; 200 concurrent GET /notes, named by subdomain or by
// header, each must list its own tenant's note and no other.
func TestIsolation(t *testing.T) {
	tenants := []string{"acme", "globex", "initech", "umbrella", "hooli"}
	h := newServer(t, tenants...)
	tokens := map[string]string{} // filled while seeding, read while building requests
	seed := func(ctx context.Context, tenant, marker string) error {
		tokens[tenant] = signUp(t, h, tenant, "user@example.com")
		post := call{method: "POST", path: "/notes", tenant: tenant, token: tokens[tenant], body: fmt.Sprintf(`{"body":"note %s"}`, marker)}
		return tenancytest.SeedRequest(h, func(string, string) *http.Request { return post.request() })(ctx, tenant, marker)
	}
	n := 0
	request := func(tenant, _ string) *http.Request {
		n++
		if n%2 == 0 {
			return call{method: "GET", path: "/notes", host: tenant + ".notes.test", token: tokens[tenant]}.request()
		}
		return call{method: "GET", path: "/notes", tenant: tenant, token: tokens[tenant]}.request()
	}
	tenancytest.Isolation(t, h, tenants, seed, request, tenancytest.WithClients(8), tenancytest.WithRequests(40))
}

// problem checks that w is an application/problem+json answer of status
// code with detail.
func problem(t *testing.T, w *httptest.ResponseRecorder, got map[string]any, code int, detail string) {
	t.Helper()
	if w.Code != code || got["status"] != float64(code) || got["detail"] != detail || w.Header().Get("Content-Type") != "application/problem+json" {
		t.Errorf("got %d %s %v; want %d application/problem+json with detail %q", w.Code, w.Header().Get("Content-Type"), got, code, detail)
	}
}

func TestSignup(t *testing.T) {
	h := newServer(t, "acme", "globex")
	const ok = `{"email":"ada@example.com","password":"correct horse battery"}`
	w, got := do(t, h, call{method: "POST", path: "/signup", tenant: "acme", body: ok})
	if w.Code != http.StatusCreated || got["id"] != float64(1) || got["email"] != "ada@example.com" {
		t.Fatalf("signup: %d %v; want 201 with id 1", w.Code, got)
	}
	tests := []struct {
		name   string
		c      call
		code   int
		detail string
	}{
		{"same email", call{tenant: "acme", body: ok}, 409, "email already registered"},
		{"same email, other case", call{tenant: "acme", body: `{"email":"ADA@example.com","password":"correct horse battery"}`}, 409, "email already registered"},
		{"bad email", call{tenant: "acme", body: `{"email":"ada","password":"correct horse battery"}`}, 422, "email is not valid"},
		{"short password", call{tenant: "acme", body: `{"email":"bob@example.com","password":"short"}`}, 422, "password must be at least 8 characters"},
		{"unknown field", call{tenant: "acme", body: `{"email":"bob@example.com","password":"correct horse battery","admin":true}`}, 400, "body must be one JSON object of the documented fields"},
		{"two objects", call{tenant: "acme", body: ok + ok}, 400, "body must be one JSON object of the documented fields"},
		{"no tenant", call{body: ok}, 400, "missing tenant"},
		{"unknown tenant", call{tenant: "initech", body: ok}, 404, "unknown tenant"},
		{"invalid tenant", call{tenant: "Acme", body: ok}, 400, "invalid tenant"},
		{"subdomain and header disagree", call{host: "globex.notes.test", tenant: "acme", body: ok}, 400, "conflicting tenants"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.c.method, tt.c.path = "POST", "/signup"
			w, got := do(t, h, tt.c)
			problem(t, w, got, tt.code, tt.detail)
		})
	}
	t.Run("not JSON", func(t *testing.T) {
		r := call{method: "POST", path: "/signup", tenant: "acme"}.request()
		r.Body = http.NoBody
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusUnsupportedMediaType {
			t.Errorf("form body: %d; want 415", w.Code)
		}
	})
	// The same email in another tenant is another user, in another database.
	w, got = do(t, h, call{method: "POST", path: "/signup", host: "globex.notes.test", body: ok})
	if w.Code != http.StatusCreated || got["id"] != float64(1) {
		t.Errorf("signup in globex: %d %v; want 201 with id 1", w.Code, got)
	}
}

func TestLogin(t *testing.T) {
	h := newServer(t, "acme", "globex")
	signUp(t, h, "acme", "ada@example.com")
	tests := []struct {
		name   string
		c      call
		code   int
		detail string
	}{
		{"wrong password", call{tenant: "acme", body: `{"email":"ada@example.com","password":"wrong password"}`}, 401, "invalid credentials"},
		{"unknown email", call{tenant: "acme", body: `{"email":"bob@example.com","password":"correct horse battery"}`}, 401, "invalid credentials"},
		{"user of another tenant", call{tenant: "globex", body: `{"email":"ada@example.com","password":"correct horse battery"}`}, 401, "invalid credentials"},
		{"no body", call{tenant: "acme"}, 400, "body must be one JSON object of the documented fields"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.c.method, tt.c.path = "POST", "/login"
			w, got := do(t, h, tt.c)
			problem(t, w, got, tt.code, tt.detail)
			if tt.code == 401 && w.Header().Get("WWW-Authenticate") != "Bearer" {
				t.Errorf("WWW-Authenticate = %q; want Bearer", w.Header().Get("WWW-Authenticate"))
			}
		})
	}
	w, got := do(t, h, call{method: "POST", path: "/login", host: "ACME.notes.test", body: `{"email":"Ada@Example.com","password":"correct horse battery"}`})
	if w.Code != http.StatusOK || got["token_type"] != "Bearer" || got["expires_in"].(float64) < 3500 {
		t.Errorf("login: %d %v; want 200 with a bearer token for an hour", w.Code, got)
	}
}

func TestNotes(t *testing.T) {
	h := newServer(t, "acme", "globex")
	ada := signUp(t, h, "acme", "ada@example.com")
	bob := signUp(t, h, "acme", "bob@example.com")
	globex := signUp(t, h, "globex", "ada@example.com")

	w, got := do(t, h, call{method: "GET", path: "/notes", tenant: "acme", token: ada})
	if w.Code != http.StatusOK || fmt.Sprint(got["notes"]) != "[]" {
		t.Errorf("no notes yet: %d %v; want 200 with []", w.Code, got)
	}
	for _, body := range []string{"buy milk", "call mum"} {
		w, got := do(t, h, call{method: "POST", path: "/notes", host: "acme.notes.test", token: ada, body: fmt.Sprintf(`{"body":%q}`, body)})
		if w.Code != http.StatusCreated || got["body"] != body || got["id"] == nil || got["created_at"] == nil {
			t.Errorf("post %q: %d %v; want 201 with id, body and created_at", body, w.Code, got)
		}
	}
	w, got = do(t, h, call{method: "GET", path: "/notes", host: "acme.notes.test", tenant: "acme", token: ada})
	notes, _ := got["notes"].([]any)
	if w.Code != http.StatusOK || len(notes) != 2 || notes[0].(map[string]any)["body"] != "buy milk" || notes[1].(map[string]any)["body"] != "call mum" {
		t.Errorf("ada's notes: %d %v; want both, oldest first", w.Code, got)
	}
	// Another user of the tenant, and the user with the same ID in another tenant, see none of them.
	for name, c := range map[string]call{
		"bob":          {tenant: "acme", token: bob},
		"globex's ada": {tenant: "globex", token: globex},
	} {
		c.method, c.path = "GET", "/notes"
		if w, got := do(t, h, c); w.Code != http.StatusOK || fmt.Sprint(got["notes"]) != "[]" {
			t.Errorf("%s's notes: %d %v; want 200 with []", name, w.Code, got)
		}
	}

	tests := []struct {
		name   string
		c      call
		code   int
		detail string
	}{
		{"no token", call{method: "GET", tenant: "acme"}, 401, "missing bearer token"},
		{"garbage token", call{method: "GET", tenant: "acme", token: "not-a-jwt"}, 401, "invalid token"},
		{"token of another tenant", call{method: "GET", tenant: "globex", token: ada}, 401, "invalid token"},
		{"post with a token of another tenant", call{method: "POST", tenant: "globex", token: ada, body: `{"body":"x"}`}, 401, "invalid token"},
		{"empty note", call{method: "POST", tenant: "acme", token: ada, body: `{"body":""}`}, 422, "body must be 1 to 10000 characters"},
		{"long note", call{method: "POST", tenant: "acme", token: ada, body: fmt.Sprintf(`{"body":%q}`, strings.Repeat("é", 10001))}, 422, "body must be 1 to 10000 characters"},
		{"no tenant", call{method: "GET", token: ada}, 400, "missing tenant"},
		{"subdomain and header disagree", call{method: "GET", host: "acme.notes.test", tenant: "globex", token: ada}, 400, "conflicting tenants"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.c.path = "/notes"
			w, got := do(t, h, tt.c)
			problem(t, w, got, tt.code, tt.detail)
		})
	}
}

// TestConfig: flags, their environment fallbacks, and the tenants list.
func TestConfig(t *testing.T) {
	env := map[string]string{"NOTES_TENANTS": "a,b,c", "NOTES_SECRET": "s3cr3t", "NOTES_DOMAIN": "example.com"}
	var out strings.Builder
	c, err := parseConfig([]string{"notes", "-tenants", "x,y", "-addr", ":9"}, func(k string) string { return env[k] }, &out)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprintln(c.addr, c.tenants, c.domain, string(c.secret), c.dataDir); got != ":9 [x y] example.com s3cr3t data/notes\n" {
		t.Errorf("config %s", got)
	}
	c, err = parseConfig([]string{"notes"}, func(string) string { return "" }, &out)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.secret) < 32 || !strings.Contains(out.String(), "NOTES_SECRET is not set") {
		t.Errorf("no secret: %d bytes, output %q; want a random secret and a warning", len(c.secret), out.String())
	}
}

// TestStartupErrors: a configuration mistake fails newHandler, at
// start-up, rather than every request.
func TestStartupErrors(t *testing.T) {
	c := config{dataDir: t.TempDir(), domain: "notes.test", tenants: []string{"acme"}, secret: []byte("a test master secret of at least 32 bytes")}
	dbs, err := openTenants(t.Context(), nil, c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dbs.Close() })
	for _, tt := range []struct {
		name string
		edit func(*config)
		want string
	}{
		{"bad domain", func(c *config) { c.domain = "notes_test" }, `invalid base domain "notes_test"`},
		{"tenant that can never be served", func(c *config) { c.tenants = []string{"acme", "Globex"} }, `tenant 2 ("Globex") can never be served`},
		{"short secret", func(c *config) { c.secret = []byte("short") }, "auth: NewKeyring: master 0 must be at least 32 bytes"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			bad := c
			tt.edit(&bad)
			if _, err := newHandler(nil, bad, dbs); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("newHandler() = %v; want an error with %q", err, tt.want)
			}
		})
	}
}

// TestShuttingDown: once the manager is closed, a request is answered 503
// with Retry-After by dbstrategy's problem handler.
func TestShuttingDown(t *testing.T) {
	c := config{dataDir: t.TempDir(), domain: "notes.test", tenants: []string{"acme"}, secret: []byte("a test master secret of at least 32 bytes"),
		hasherOptions: []auth.HasherOption{auth.WithParams(auth.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32})}}
	dbs, err := openTenants(t.Context(), nil, c)
	if err != nil {
		t.Fatal(err)
	}
	h, err := newHandler(nil, c, dbs)
	if err != nil {
		t.Fatal(err)
	}
	if err := dbs.Close(); err != nil {
		t.Fatal(err)
	}
	w, got := do(t, h, call{method: "POST", path: "/signup", tenant: "acme", body: `{"email":"ada@example.com","password":"correct horse battery"}`})
	problem(t, w, got, http.StatusServiceUnavailable, "shutting down")
	if w.Header().Get("Retry-After") == "" {
		t.Errorf("no Retry-After on a 503")
	}
}
