package main

// Assertion helpers shared by the contract, attack, concurrency, lifecycle,
// restart and session tests: what every response must carry, and decoders
// that check the shape of API.md's documents as they read them.

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// testPassword is the password the harness's coreUser and tenantUser use.
const testPassword = "correct horse battery"

// ---------------------------------------------------------------------------
// Helpers shared by the contract, attack, concurrency and restart tests.

// leakMarkers are strings no problem body may hold: stack traces, SQL,
// driver names, file paths, DSNs.
var leakMarkers = []string{"goroutine ", ".go:", "panic", "SELECT ", "INSERT ", "UPDATE ", "sqlite", "postgres", "SQLSTATE", "pgx", "/tmp/", "tenant_"}

// doChecked sends q and checks what every response must carry:
// X-Content-Type-Options: nosniff, and a well-formed problem on every
// error.
func doChecked(t testing.TB, ts *testServer, q req) response {
	t.Helper()
	r := ts.do(t, q)
	if got := r.header.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("%s %s: X-Content-Type-Options = %q; want %q", q.method, q.path, got, "nosniff")
	}
	if r.status >= 400 {
		checkProblemBody(t, ts, q, r)
	} else if r.status != http.StatusNoContent {
		if mt, _, _ := mime.ParseMediaType(r.header.Get("Content-Type")); mt != "application/json" {
			t.Errorf("%s %s = %d with Content-Type %q; want application/json", q.method, q.path, r.status, r.header.Get("Content-Type"))
		}
	}
	return r
}

// expectStatus sends q (see doChecked) and stops the test unless the
// status is want.
func expectStatus(t testing.TB, ts *testServer, q req, want int) response {
	t.Helper()
	r := doChecked(t, ts, q)
	if r.status != want {
		t.Fatalf("%s %s (X-Tenant %q) = %d %s; want %d", q.method, q.path, q.tenant, r.status, r.body, want)
	}
	return r
}

// problemDoc is an RFC 9457 problem body as the contract defines it.
type problemDoc struct {
	Type   string       `json:"type"`
	Title  string       `json:"title"`
	Status int          `json:"status"`
	Detail string       `json:"detail"`
	Errors []FieldError `json:"errors"`
}

// checkProblemBody checks that r is an application/problem+json body of
// exactly type, title (the reason phrase), status (r's), detail (a
// sentence) and, on 422 only, errors (one or more {field, message}), with
// nothing leaked.
func checkProblemBody(t testing.TB, ts *testServer, q req, r response) problemDoc {
	t.Helper()
	where := fmt.Sprintf("%s %s = %d", q.method, q.path, r.status)
	if mt, _, _ := mime.ParseMediaType(r.header.Get("Content-Type")); mt != "application/problem+json" {
		t.Errorf("%s: Content-Type = %q; want application/problem+json", where, r.header.Get("Content-Type"))
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(r.body, &raw); err != nil {
		t.Errorf("%s: body %q is not a JSON object: %v", where, r.body, err)
		return problemDoc{}
	}
	wantKeys := []string{"detail", "status", "title", "type"}
	if r.status == http.StatusUnprocessableEntity {
		wantKeys = append(wantKeys, "errors")
		slices.Sort(wantKeys)
	}
	if got := sortedKeys(raw); !slices.Equal(got, wantKeys) {
		t.Errorf("%s: problem keys = %v; want %v (body %s)", where, got, wantKeys, r.body)
	}
	var p problemDoc
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Errorf("%s: problem %s has a member of the wrong type: %v", where, r.body, err)
		return p
	}
	if p.Status != r.status {
		t.Errorf("%s: problem status = %d; want %d", where, p.Status, r.status)
	}
	if want := http.StatusText(r.status); p.Title != want {
		t.Errorf("%s: problem title = %q; want %q", where, p.Title, want)
	}
	if u, err := url.Parse(p.Type); p.Type != "about:blank" && (err != nil || !u.IsAbs()) {
		t.Errorf("%s: problem type = %q; want about:blank or an absolute URI", where, p.Type)
	}
	if strings.TrimSpace(p.Detail) == "" {
		t.Errorf("%s: problem detail = %q; want a sentence", where, p.Detail)
	}
	if r.status == http.StatusUnprocessableEntity {
		var errs []map[string]any
		if err := json.Unmarshal(raw["errors"], &errs); err != nil || len(errs) == 0 {
			t.Errorf("%s: problem errors = %s; want a non-empty list", where, raw["errors"])
		}
		for i, e := range errs {
			_, fieldOK := e["field"].(string)
			msg, msgOK := e["message"].(string)
			if len(e) != 2 || !fieldOK || !msgOK || msg == "" {
				t.Errorf("%s: errors[%d] = %v; want exactly a string field and a non-empty string message", where, i, e)
			}
		}
	}
	markers := append(slices.Clone(leakMarkers), ts.cfg.jwtSecret, ts.cfg.dataDir)
	for _, m := range markers {
		if m != "" && bytes.Contains(bytes.ToLower(r.body), bytes.ToLower([]byte(m))) {
			t.Errorf("%s: problem body %s holds %q; want no traces, SQL, paths, DSNs or secrets", where, r.body, m)
		}
	}
	return p
}

// problemOf decodes a problem body without checking it.
func problemOf(r response) problemDoc {
	var p problemDoc
	_ = json.Unmarshal(r.body, &p)
	return p
}

// errorFields returns the fields of a problem's errors, sorted.
func errorFields(r response) []string {
	p := problemOf(r)
	fields := make([]string, 0, len(p.Errors))
	for _, e := range p.Errors {
		fields = append(fields, e.Field)
	}
	slices.Sort(fields)
	return fields
}

// expect422 sends q, wants 422, and checks the problem's errors name
// exactly wantFields (in any order; each once per problem).
func expect422(t testing.TB, ts *testServer, q req, wantFields ...string) response {
	t.Helper()
	r := expectStatus(t, ts, q, http.StatusUnprocessableEntity)
	want := slices.Clone(wantFields)
	slices.Sort(want)
	if got := errorFields(r); !slices.Equal(got, want) {
		t.Errorf("%s %s: error fields = %q; want %q (body %s)", q.method, q.path, got, want, r.body)
	}
	return r
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// decodeDoc decodes a JSON object body keeping numbers exact.
func decodeDoc(t testing.TB, r response) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil || m == nil {
		t.Fatalf("body %q is not a JSON object: %v", r.body, err)
	}
	return m
}

// checkKeys checks that doc has exactly the keys want, plus any of
// optional.
func checkKeys(t testing.TB, what string, doc map[string]any, want []string, optional ...string) {
	t.Helper()
	var got []string
	for _, k := range sortedKeys(doc) {
		if !slices.Contains(optional, k) {
			got = append(got, k)
		}
	}
	w := slices.Clone(want)
	slices.Sort(w)
	if !slices.Equal(got, w) {
		t.Errorf("%s keys = %v; want %v", what, sortedKeys(doc), w)
	}
}

// checkID checks that v is a positive 64-bit integer JSON number.
func checkID(t testing.TB, what string, v any) int64 {
	t.Helper()
	n, ok := v.(json.Number)
	id, err := n.Int64()
	if !ok || err != nil || id < 1 || strings.ContainsAny(n.String(), ".eE") {
		t.Errorf("%s = %v (%T); want a positive integer", what, v, v)
	}
	return id
}

// checkTime checks that v is an RFC 3339 time in UTC written with Z, about
// now (a loose bound that only catches time-zone or unit mix-ups).
func checkTime(t testing.TB, what string, v any) time.Time {
	t.Helper()
	s, ok := v.(string)
	tm, err := time.Parse(time.RFC3339Nano, s)
	if !ok || err != nil || !strings.HasSuffix(s, "Z") {
		t.Errorf("%s = %#v; want an RFC 3339 time in UTC ending in Z", what, v)
		return tm
	}
	if d := time.Since(tm); d < -5*time.Minute || d > 5*time.Minute {
		t.Errorf("%s = %s; want about now (%s)", what, s, time.Now().UTC().Format(time.RFC3339))
	}
	return tm
}

// userDoc is a tenant user as the API returns it.
type userDoc struct {
	ID          int64
	Email       string
	DisplayName *string
	IsActive    bool
	CreatedAt   time.Time
	rawCreated  string
}

// checkUser checks r's body is exactly a tenant user.
func checkUser(t testing.TB, r response) userDoc {
	t.Helper()
	doc := decodeDoc(t, r)
	checkKeys(t, "user", doc, []string{"id", "email", "display_name", "is_active", "created_at"})
	var u userDoc
	u.ID = checkID(t, "user id", doc["id"])
	var ok bool
	if u.Email, ok = doc["email"].(string); !ok {
		t.Errorf("user email = %#v; want a string", doc["email"])
	}
	switch dn := doc["display_name"].(type) {
	case nil:
	case string:
		u.DisplayName = &dn
	default:
		t.Errorf("user display_name = %#v; want a string or null", dn)
	}
	if u.IsActive, ok = doc["is_active"].(bool); !ok {
		t.Errorf("user is_active = %#v; want a boolean", doc["is_active"])
	}
	u.CreatedAt = checkTime(t, "user created_at", doc["created_at"])
	u.rawCreated, _ = doc["created_at"].(string)
	return u
}

// wantUser checks a tenant user's email and display name (nil: null).
func wantUser(t testing.TB, what string, u userDoc, email string, displayName *string) {
	t.Helper()
	if u.Email != email {
		t.Errorf("%s: email = %q; want %q", what, u.Email, email)
	}
	if !equalPtr(u.DisplayName, displayName) {
		t.Errorf("%s: display_name = %s; want %s", what, showPtr(u.DisplayName), showPtr(displayName))
	}
	if !u.IsActive {
		t.Errorf("%s: is_active = false; want true", what)
	}
}

func ptr(s string) *string { return &s }

func equalPtr(a, b *string) bool { return a == nil && b == nil || a != nil && b != nil && *a == *b }

func showPtr(p *string) string {
	if p == nil {
		return "null"
	}
	return strconv.Quote(*p)
}

// orgDoc is an organization as the API returns it.
type orgDoc struct {
	ID                 int64
	Name, Slug, Status string
	CreatedAt          time.Time
}

// checkOrgDoc checks doc is exactly an organization.
func checkOrgDoc(t testing.TB, doc map[string]any) orgDoc {
	t.Helper()
	checkKeys(t, "organization", doc, []string{"id", "name", "slug", "status", "created_at"})
	var o orgDoc
	o.ID = checkID(t, "organization id", doc["id"])
	for _, f := range []struct {
		key string
		dst *string
	}{{"name", &o.Name}, {"slug", &o.Slug}, {"status", &o.Status}} {
		s, ok := doc[f.key].(string)
		if !ok {
			t.Errorf("organization %s = %#v; want a string", f.key, doc[f.key])
		}
		*f.dst = s
	}
	o.CreatedAt = checkTime(t, "organization created_at", doc["created_at"])
	return o
}

// checkOrgList checks r's body is exactly {"items": [organization...]}.
func checkOrgList(t testing.TB, r response) []orgDoc {
	t.Helper()
	doc := decodeDoc(t, r)
	checkKeys(t, "organization list", doc, []string{"items"})
	items, ok := doc["items"].([]any)
	if !ok {
		t.Fatalf("items = %#v; want a JSON array (never null)", doc["items"])
	}
	orgs := make([]orgDoc, 0, len(items))
	for _, it := range items {
		m, ok := it.(map[string]any)
		if !ok {
			t.Fatalf("item %#v is not an object", it)
		}
		orgs = append(orgs, checkOrgDoc(t, m))
	}
	return orgs
}

// checkToken checks r is a token response and returns the access token.
func checkToken(t testing.TB, ts *testServer, r response) string {
	t.Helper()
	if got := r.header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("token response Cache-Control = %q; want %q", got, "no-store")
	}
	doc := decodeDoc(t, r)
	// refresh_token belongs to "Sessions and abuse limits", a later issue.
	checkKeys(t, "token response", doc, []string{"access_token", "token_type", "expires_in"}, "refresh_token")
	tok, ok := doc["access_token"].(string)
	if !ok || strings.Count(tok, ".") != 2 {
		t.Errorf("access_token = %#v; want a JWT string", doc["access_token"])
	}
	if got := doc["token_type"]; got != "bearer" {
		t.Errorf("token_type = %#v; want %q", got, "bearer")
	}
	want := strconv.FormatInt(int64(ts.cfg.tokenTTL/time.Second), 10)
	if n, ok := doc["expires_in"].(json.Number); !ok || n.String() != want {
		t.Errorf("expires_in = %#v; want %s (the TTL in seconds)", doc["expires_in"], want)
	}
	if rt, ok := doc["refresh_token"]; ok {
		if s, isStr := rt.(string); !isStr || s == "" {
			t.Errorf("refresh_token = %#v; want a non-empty string", rt)
		}
	}
	return tok
}

// login logs in and returns the access token; tenant "" is the core
// directory.
func login(t testing.TB, ts *testServer, tenant, email, password string) string {
	t.Helper()
	path := "/api/login"
	if tenant != "" {
		path = "/api/tenant/auth/login"
	}
	r := expectStatus(t, ts, req{method: "POST", path: path, tenant: tenant, body: map[string]string{"email": email, "password": password}}, http.StatusOK)
	return checkToken(t, ts, r)
}

// getMe reads the tenant user a token names.
func getMe(t testing.TB, ts *testServer, tenant, token string) userDoc {
	t.Helper()
	return checkUser(t, expectStatus(t, ts, req{method: "GET", path: "/api/tenant/users/me", tenant: tenant, token: token}, http.StatusOK))
}

// createOrg creates an organization and checks the response.
func createOrg(t testing.TB, ts *testServer, token string, body map[string]any) orgDoc {
	t.Helper()
	r := expectStatus(t, ts, req{method: "POST", path: "/api/organizations", token: token, body: body}, http.StatusCreated)
	o := checkOrgDoc(t, decodeDoc(t, r))
	if o.Status != "active" {
		t.Errorf("new organization status = %q; want %q", o.Status, "active")
	}
	return o
}

// tenantStorage lists what the tenant strategy holds: the database files of
// the SQLite tenant folder (not their -wal/-shm companions, which come and
// go as handles open and close), or the PostgreSQL databases, schemas (of
// the tenant database) and roles under the test's prefix.
func tenantStorage(t testing.TB, ts *testServer) []string {
	t.Helper()
	if dir, ok := strings.CutPrefix(ts.cfg.tenantDB, "sqlite:"); ok {
		entries, err := os.ReadDir(dir)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range entries {
			if n := e.Name(); !strings.HasSuffix(n, "-wal") && !strings.HasSuffix(n, "-shm") && !strings.HasSuffix(n, "-journal") {
				names = append(names, n)
			}
		}
		return names
	}
	db, err := sql.Open("pgx", ts.cfg.tenantDB)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rows, err := db.QueryContext(ctx, `
		SELECT 'db:' || datname::text FROM pg_database WHERE starts_with(datname::text, $1)
		UNION ALL
		SELECT 'schema:' || nspname::text FROM pg_namespace WHERE starts_with(nspname::text, $1)
			AND NOT starts_with(nspname::text, $1 || '-') -- spares, made in the background
		UNION ALL
		SELECT 'role:' || rolname::text FROM pg_roles WHERE starts_with(rolname::text, $1)
			AND NOT starts_with(rolname::text, $1 || '-')
		ORDER BY 1`, ts.cfg.tenantDBPrefix)
	if err != nil {
		t.Fatalf("list tenant databases: %v", err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return names
}

// checkStorageUnchanged fails if the tenant storage differs from before.
func checkStorageUnchanged(t testing.TB, ts *testServer, before []string) {
	t.Helper()
	if after := tenantStorage(t, ts); !slices.Equal(after, before) {
		t.Errorf("tenant storage = %q; want it unchanged: %q", after, before)
	}
}
