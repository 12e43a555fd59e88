package main

// The HTTP contract of /work/shared/API.md, run against every backend.
// Each top-level test starts one server per backend; its subtests share it.

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// ---------------------------------------------------------------------------
// Fixtures from API.md's rules.

// email254 and email255 have a 64-character local part and a domain of
// labels of at most 63 characters; they are 254 and 255 characters long.
var (
	email254 = strings.Repeat("l", 64) + "@" + strings.Repeat("a", 63) + "." + strings.Repeat("b", 63) + "." + strings.Repeat("c", 57) + ".com"
	email255 = strings.Repeat("l", 64) + "@" + strings.Repeat("a", 63) + "." + strings.Repeat("b", 63) + "." + strings.Repeat("c", 58) + ".com"
)

// invalidEmails break API.md's email rule, one way each.
var invalidEmails = []struct{ name, email string }{
	{"empty", ""},
	{"spaces only", "   "},
	{"no at", "plain.example.com"},
	{"no local part", "@example.com"},
	{"no domain", "user@"},
	{"two ats", "a@b@example.com"},
	{"quoted local part", `"john doe"@example.com`},
	{"quoted local part without space", `"john"@example.com`},
	{"IPv4 literal", "user@[127.0.0.1]"},
	{"IPv6 literal", "user@[IPv6:::1]"},
	{"display name", "John Doe <john@example.com>"},
	{"angle brackets", "<john@example.com>"},
	{"leading dot", ".john@example.com"},
	{"trailing dot", "john.@example.com"},
	{"double dot", "jo..hn@example.com"},
	{"65-character local part", strings.Repeat("l", 65) + "@example.com"},
	{"255 characters", email255},
	{"single-label domain", "john@localhost"},
	{"label starting with hyphen", "john@-example.com"},
	{"label ending with hyphen", "john@example-.com"},
	{"empty label", "john@example..com"},
	{"domain starting with dot", "john@.example.com"},
	{"domain ending with dot", "john@example.com."},
	{"underscore in domain", "john@ex_ample.com"},
	{"non-ASCII local part", "jöhn@example.com"},
	{"non-ASCII domain", "john@exämple.com"},
	{"space inside", "jo hn@example.com"},
	{"tab inside", "jo\thn@example.com"},
	{"comma", "jo,hn@example.com"},
	{"comment", "john(comment)@example.com"},
	{"backslash", `jo\hn@example.com`},
}

// invalidDisplayNames break API.md's display_name rule (after trimming).
var invalidDisplayNames = []struct{ name, value string }{
	{"101 characters", strings.Repeat("d", 101)},
	{"101 code points", strings.Repeat("é", 101)},
	{"NUL", "a\x00b"},
	{"inner tab (Cc)", "a\tb"},
	{"bell (Cc)", "a\ab"},
	{"DEL (Cc)", "a\x7fb"},
	{"NEL (Cc)", "a\u0085b"},
	{"zero width space (Cf)", "a\u200bb"},
	{"right-to-left override (Cf)", "\u202eabc"},
	{"soft hyphen (Cf)", "a\u00adb"},
	{"byte order mark (Cf)", "\ufeffabc"},
}

// ---------------------------------------------------------------------------
// Routing and operations.

func TestRoutesAndOperations(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ts *testServer) {
		t.Run("operations", func(t *testing.T) {
			for _, path := range []string{"/healthz", "/readyz"} {
				expectStatus(t, ts, req{method: "GET", path: path}, http.StatusOK)
			}
		})

		t.Run("unknown path", func(t *testing.T) {
			paths := []struct{ method, path string }{
				{"GET", "/"},
				{"GET", "/api"},
				{"GET", "/api/"},
				{"POST", "/api/nope"},
				{"GET", "/api/users"},
				{"POST", "/api/register/"},
				{"GET", "/api/organizations/1/members"},
				{"GET", "/api/tenant/users"},
				{"GET", "/api/tenant/users/me/"},
				{"GET", "/API/organizations"},
				{"GET", "/healthz/x"},
			}
			for _, p := range paths {
				q := req{method: p.method, path: p.path, tenant: "1"}
				expectStatus(t, ts, q, http.StatusNotFound)
			}
		})

		t.Run("wrong method", func(t *testing.T) {
			tests := []struct {
				method, path string
				allow        []string // must all be in Allow
			}{
				{"GET", "/api/register", []string{"POST"}},
				{"PUT", "/api/login", []string{"POST"}},
				{"DELETE", "/api/organizations", []string{"GET", "POST"}},
				{"PATCH", "/api/organizations", []string{"GET", "POST"}},
				{"POST", "/api/organizations/1", []string{"GET", "DELETE"}},
				{"PATCH", "/api/organizations/1", []string{"GET", "DELETE"}},
				{"GET", "/api/tenant/auth/register", []string{"POST"}},
				{"GET", "/api/tenant/auth/login", []string{"POST"}},
				{"POST", "/api/tenant/users/me", []string{"GET", "PUT"}},
				{"PATCH", "/api/tenant/users/me", []string{"GET", "PUT"}},
				{"DELETE", "/api/tenant/users/me", []string{"GET", "PUT"}},
				{"POST", "/healthz", []string{"GET"}},
				{"DELETE", "/readyz", []string{"GET"}},
			}
			for _, tt := range tests {
				q := req{method: tt.method, path: tt.path}
				r := expectStatus(t, ts, q, http.StatusMethodNotAllowed)
				var allow []string
				for _, v := range r.header.Values("Allow") {
					for m := range strings.SplitSeq(v, ",") {
						allow = append(allow, strings.TrimSpace(m))
					}
				}
				for _, m := range tt.allow {
					if !slices.Contains(allow, m) {
						t.Errorf("%s %s: Allow = %q; want it to list %s", tt.method, tt.path, allow, m)
					}
				}
				if slices.Contains(allow, tt.method) {
					t.Errorf("%s %s: Allow = %q; want it not to list %s", tt.method, tt.path, allow, tt.method)
				}
			}
		})
	})
}

// ---------------------------------------------------------------------------
// The request envelope: content type, size and body shape, on every
// endpoint that takes a body.

// bodyEndpoint is an endpoint that takes a JSON object.
type bodyEndpoint struct {
	name          string
	method, path  string
	tenant, token string
	valid         map[string]any // a complete body of the right shape
	required      []string
	limit         int // body size limit; 0: maxBodyBytes
}

// bodyCase is one envelope case for an endpoint.
type bodyCase struct {
	name        string
	contentType string
	noCT        bool // send no Content-Type at all
	body        string
	want        int
	wantFields  []string // for 422: exactly these fields; nil with anyFields: at least one entry
	anyFields   bool
}

// marshalBody marshals v (maps marshal with sorted keys).
func marshalBody(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// envelopeCases derives the cases of the request conventions for ep.
func envelopeCases(t testing.TB, ep bodyEndpoint) []bodyCase {
	valid := marshalBody(t, ep.valid)
	fields := sortedKeys(ep.valid)
	with := func(extra map[string]any) string {
		m := map[string]any{}
		for k, v := range ep.valid {
			m[k] = v
		}
		for k, v := range extra {
			if v == "<delete>" {
				delete(m, k)
				continue
			}
			m[k] = v
		}
		return marshalBody(t, m)
	}
	unknown := func(extra string) bodyCase {
		return bodyCase{name: "content type " + extra, contentType: extra, body: `{"zzz":1}`, want: 422, wantFields: append([]string{"zzz"}, ep.required...)}
	}
	// exactly is a body of exactly n bytes: an unknown field padded out.
	exactly := func(n int) string {
		const head, tail = `{"zzz":"`, `"}`
		return head + strings.Repeat("a", n-len(head)-len(tail)) + tail
	}
	limit := ep.limit
	if limit == 0 {
		limit = maxBodyBytes
	}
	over := exactly(limit + 1)
	depth := min(20000, (limit-10)/2) // nesting that fits in the limit
	cases := []bodyCase{
		{name: "no content type", noCT: true, body: valid, want: 415},
		{name: "text/plain", contentType: "text/plain", body: valid, want: 415},
		{name: "form", contentType: "application/x-www-form-urlencoded", body: valid, want: 415},
		{name: "multipart", contentType: "multipart/form-data; boundary=x", body: valid, want: 415},
		{name: "text/json", contentType: "text/json", body: valid, want: 415},
		{name: "problem+json", contentType: "application/problem+json", body: valid, want: 415},
		{name: "jsonx", contentType: "application/jsonx", body: valid, want: 415},
		{name: "other charset", contentType: "application/json; charset=latin1", body: valid, want: 415},
		{name: "other parameter", contentType: "application/json; foo=bar", body: valid, want: 415},
		{name: "malformed content type", contentType: "application/json; charset", body: valid, want: 415},
		unknown("application/json"),
		unknown("application/json; charset=UTF-8"),
		unknown("application/json;charset=utf-8"),
		unknown("application/json; charset=\"utf-8\""),
		unknown("Application/JSON"), // media types are case-insensitive (RFC 9110)
		{name: "limit + 1 byte", body: over, want: 413},
		{name: "limit + 1 byte, wrong content type", contentType: "text/plain", body: over, want: 415},
		{name: "oversized malformed", body: "[" + strings.Repeat(" ", limit), want: 413},
		{name: "exactly the limit", body: exactly(limit), want: 422, wantFields: append([]string{"zzz"}, ep.required...)},
		{name: "empty body", body: "", want: 422, wantFields: []string{""}},
		{name: "whitespace body", body: " \n", want: 422, wantFields: []string{""}},
		{name: "malformed", body: `{"` + fields[0] + `":`, want: 422, wantFields: []string{""}},
		{name: "not JSON", body: "hello", want: 422, wantFields: []string{""}},
		{name: "single quotes", body: strings.ReplaceAll(valid, `"`, `'`), want: 422, wantFields: []string{""}},
		{name: "trailing comma", body: valid[:len(valid)-1] + ",}", want: 422, wantFields: []string{""}},
		{name: "array", body: "[]", want: 422, wantFields: []string{""}},
		{name: "array holding the object", body: "[" + valid + "]", want: 422, wantFields: []string{""}},
		{name: "string", body: `"` + strings.ReplaceAll(valid, `"`, `\"`) + `"`, want: 422, wantFields: []string{""}},
		{name: "number", body: "42", want: 422, wantFields: []string{""}},
		{name: "true", body: "true", want: 422, wantFields: []string{""}},
		{name: "null", body: "null", want: 422, wantFields: []string{""}},
		{name: "trailing object", body: valid + "{}", want: 422, wantFields: []string{""}},
		{name: "trailing object after space", body: valid + " " + valid, want: 422, wantFields: []string{""}},
		{name: "trailing garbage", body: valid + "x", want: 422, wantFields: []string{""}},
		{name: "trailing bracket", body: valid + "}", want: 422, wantFields: []string{""}},
		{name: "invalid UTF-8", body: `{"` + fields[0] + `":"` + "\xff\xfe" + `"}`, want: 422, anyFields: true},
		{name: "duplicate key", body: `{"` + fields[0] + `":"x",` + valid[1:], want: 422, anyFields: true},
		{name: "two unknown fields", body: with(map[string]any{"foo": "x", "bar": 1}), want: 422, wantFields: []string{"bar", "foo"}},
		{name: "deeply nested unknown field", body: `{"zzz":` + strings.Repeat("[", depth) + strings.Repeat("]", depth) + "}", want: 422, anyFields: true},
	}
	// A key in another case is another, unknown key.
	upper := strings.ToUpper(fields[0][:1]) + fields[0][1:]
	upperWant := []string{upper}
	if slices.Contains(ep.required, fields[0]) {
		upperWant = append(upperWant, fields[0])
	}
	cases = append(cases, bodyCase{name: "key in other case", body: with(map[string]any{fields[0]: "<delete>", upper: ep.valid[fields[0]]}), want: 422, wantFields: upperWant})
	for _, f := range fields {
		for _, bad := range []struct {
			name string
			v    any
		}{{"null", nil}, {"number", 5}, {"huge number", json.RawMessage("1e999")}, {"boolean", true}, {"object", map[string]any{}}, {"array", []any{"x"}}} {
			cases = append(cases, bodyCase{name: f + " " + bad.name, body: with(map[string]any{f: bad.v}), want: 422, wantFields: []string{f}})
		}
	}
	for _, f := range ep.required {
		cases = append(cases, bodyCase{name: "missing " + f, body: with(map[string]any{f: "<delete>"}), want: 422, wantFields: []string{f}})
	}
	if len(ep.required) > 0 {
		cases = append(cases, bodyCase{name: "empty object", body: "{}", want: 422, wantFields: ep.required})
	}
	return cases
}

func TestRequestEnvelope(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ts *testServer) {
		core := ts.coreUser(t, "envelope-owner@example.com")
		tenant, _ := ts.org(t, core, "Envelope Org")
		tenantTok := ts.tenantUser(t, tenant, "envelope-user@example.com")
		before := tenantStorage(t, ts)
		creds := map[string]any{"email": "envelope-new@example.com", "password": testPassword}
		endpoints := []bodyEndpoint{
			{name: "register", method: "POST", path: "/api/register", valid: creds, required: []string{"email", "password"}, limit: maxAuthBodyBytes},
			{name: "login", method: "POST", path: "/api/login", valid: creds, required: []string{"email", "password"}, limit: maxAuthBodyBytes},
			{name: "create organization", method: "POST", path: "/api/organizations", token: core,
				valid: map[string]any{"name": "Envelope Two", "slug": "envelope-two"}, required: []string{"name"}},
			{name: "tenant register", method: "POST", path: "/api/tenant/auth/register", tenant: tenant,
				valid: map[string]any{"email": "envelope-new@example.com", "password": testPassword, "display_name": "Env"}, required: []string{"email", "password"}, limit: maxAuthBodyBytes},
			{name: "tenant login", method: "POST", path: "/api/tenant/auth/login", tenant: tenant, valid: creds, required: []string{"email", "password"}, limit: maxAuthBodyBytes},
			{name: "update me", method: "PUT", path: "/api/tenant/users/me", tenant: tenant, token: tenantTok,
				valid: map[string]any{"email": "envelope-changed@example.com", "display_name": "Changed"}},
		}
		for _, ep := range endpoints {
			t.Run(ep.name, func(t *testing.T) {
				for _, c := range envelopeCases(t, ep) {
					q := req{method: ep.method, path: ep.path, tenant: ep.tenant, token: ep.token, body: c.body, contentType: c.contentType}
					if c.noCT {
						q.header = http.Header{"Content-Type": nil}
					}
					r := doChecked(t, ts, q)
					if r.status != c.want {
						body := r.body
						if len(body) > 300 {
							body = body[:300]
						}
						t.Errorf("%s: %s %s = %d %s; want %d", c.name, ep.method, ep.path, r.status, body, c.want)
						continue
					}
					if c.want != http.StatusUnprocessableEntity {
						continue
					}
					got := errorFields(r)
					want := slices.Clone(c.wantFields)
					slices.Sort(want)
					if c.anyFields && len(got) == 0 || !c.anyFields && !slices.Equal(got, want) {
						t.Errorf("%s: %s %s error fields = %q; want %q (body %s)", c.name, ep.method, ep.path, got, want, r.body)
					}
				}
			})
		}
		t.Run("nothing changed", func(t *testing.T) {
			checkStorageUnchanged(t, ts, before)
			wantUser(t, "profile after refused updates", getMe(t, ts, tenant, tenantTok), "envelope-user@example.com", nil)
			r := doChecked(t, ts, req{method: "POST", path: "/api/login", body: creds})
			if r.status != http.StatusUnauthorized {
				t.Errorf("login as the user only refused bodies named = %d %s; want 401", r.status, r.body)
			}
			if orgs := checkOrgList(t, expectStatus(t, ts, req{method: "GET", path: "/api/organizations", token: core}, http.StatusOK)); len(orgs) != 1 {
				t.Errorf("organizations after refused creations = %d; want 1", len(orgs))
			}
		})
	})
}

// ---------------------------------------------------------------------------
// Check order.

func TestCheckOrder(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ts *testServer) {
		core := ts.coreUser(t, "order-owner@example.com")
		tenant, slug := ts.org(t, core, "Order Org")
		tenantTok := ts.tenantUser(t, tenant, "order-user@example.com")
		ts.tenantUser(t, tenant, "order-other@example.com")
		oversized := `{"name":"` + strings.Repeat("a", maxBodyBytes) + `"}`
		oversizedMalformed := "[" + strings.Repeat("a", maxBodyBytes)
		before := tenantStorage(t, ts)
		me := "/api/tenant/users/me"
		tests := []struct {
			name string
			q    req
			want int
		}{
			{"unknown path beats everything", req{method: "POST", path: "/api/nope", tenant: "AB", body: "[", contentType: "text/plain"}, 404},
			{"wrong method beats tenant", req{method: "DELETE", path: me, tenant: "AB"}, 405},
			{"wrong method beats missing tenant", req{method: "POST", path: me}, 405},
			{"wrong method beats token", req{method: "DELETE", path: "/api/organizations"}, 405},
			{"bad tenant beats token and content type", req{method: "PUT", path: me, tenant: "AB", body: "x", contentType: "text/plain"}, 400},
			{"missing tenant beats token", req{method: "GET", path: me}, 400},
			{"missing tenant beats content type", req{method: "POST", path: "/api/tenant/auth/register", body: "x", contentType: "text/plain"}, 400},
			{"bad tenant beats size", req{method: "POST", path: "/api/tenant/auth/login", tenant: "0", body: oversized}, 400},
			{"unknown tenant without token", req{method: "GET", path: me, tenant: "999999"}, 404},
			{"unknown slug beats token and content type", req{method: "PUT", path: me, tenant: "no-such-org", body: "x", contentType: "text/plain"}, 404},
			{"unknown tenant beats body", req{method: "POST", path: "/api/tenant/auth/register", tenant: "no-such-org", body: "["}, 404},
			{"token beats content type (core)", req{method: "POST", path: "/api/organizations", body: "x", contentType: "text/plain"}, 401},
			{"token beats size (core)", req{method: "POST", path: "/api/organizations", body: oversized}, 401},
			{"token beats id", req{method: "GET", path: "/api/organizations/abc"}, 401},
			{"token beats content type (tenant)", req{method: "PUT", path: me, tenant: tenant, body: "x", contentType: "text/plain"}, 401},
			{"token beats content type (tenant slug)", req{method: "PUT", path: me, tenant: slug, body: "x", contentType: "text/plain"}, 401},
			{"content type beats size", req{method: "POST", path: "/api/register", body: oversized, contentType: "text/plain"}, 415},
			{"content type beats size (core token)", req{method: "POST", path: "/api/organizations", token: core, body: oversized, contentType: "text/plain"}, 415},
			{"content type beats size (tenant token)", req{method: "PUT", path: me, tenant: tenant, token: tenantTok, body: oversized, contentType: "text/plain"}, 415},
			{"size beats body", req{method: "POST", path: "/api/register", body: oversizedMalformed}, 413},
			{"size beats body (tenant)", req{method: "PUT", path: me, tenant: tenant, token: tenantTok, body: oversizedMalformed}, 413},
			{"body beats conflict (register)", req{method: "POST", path: "/api/register", body: map[string]string{"email": "order-owner@example.com", "password": "short"}}, 422},
			{"body beats conflict (slug)", req{method: "POST", path: "/api/organizations", token: core, body: map[string]string{"name": "", "slug": slug}}, 422},
			{"body beats conflict (tenant register)", req{method: "POST", path: "/api/tenant/auth/register", tenant: tenant, body: map[string]string{"email": "order-user@example.com", "password": "short"}}, 422},
			{"body beats conflict (update me)", req{method: "PUT", path: me, tenant: tenant, token: tenantTok, body: map[string]string{"email": "order-other@example.com", "display_name": "a\u200bb"}}, 422},
			{"conflict last (update me)", req{method: "PUT", path: me, tenant: tenant, token: tenantTok, body: map[string]string{"email": "order-other@example.com"}}, 409},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := doChecked(t, ts, tt.q)
				if r.status != tt.want {
					t.Errorf("%s %s (X-Tenant %q) = %d %s; want %d", tt.q.method, tt.q.path, tt.q.tenant, r.status, r.body, tt.want)
				}
				if r.status == http.StatusUnauthorized && r.header.Get("WWW-Authenticate") != "Bearer" {
					t.Errorf("401 WWW-Authenticate = %q; want %q", r.header.Get("WWW-Authenticate"), "Bearer")
				}
			})
		}
		checkStorageUnchanged(t, ts, before)
	})
}

// ---------------------------------------------------------------------------
// Core directory.

func TestCoreDirectory(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ts *testServer) {
		t.Run("register and log in", func(t *testing.T) {
			tests := []struct {
				name, email, password, contentType, wantEmail string
			}{
				{"plain", "plain@example.com", testPassword, "", "plain@example.com"},
				{"trimmed and lower-cased", " \tMixed.Case@Example.COM\n", testPassword, "", "mixed.case@example.com"},
				{"charset UTF-8", "charset@example.com", testPassword, "application/json; charset=UTF-8", "charset@example.com"},
				{"charset utf-8 without space", "charset2@example.com", testPassword, "application/json;charset=utf-8", "charset2@example.com"},
				{"every special character", "!#$%&'*+/=?^_`{|}~-.x@example.com", testPassword, "", "!#$%&'*+/=?^_`{|}~-.x@example.com"},
				{"64-character local part", strings.Repeat("l", 64) + "@example.com", testPassword, "", strings.Repeat("l", 64) + "@example.com"},
				{"254 characters", email254, testPassword, "", email254},
				{"many labels and hyphens", "a.b@mail-1.sub.example.co.uk", testPassword, "", "a.b@mail-1.sub.example.co.uk"},
				{"8-character password", "pw8@example.com", "12345678", "", "pw8@example.com"},
				{"256-character password", "pw256@example.com", strings.Repeat("p", 256), "", "pw256@example.com"},
				{"8 emoji password", "emoji@example.com", strings.Repeat("🔑", 8), "", "emoji@example.com"},
				{"256 emoji password", "emoji256@example.com", strings.Repeat("🔑", 256), "", "emoji256@example.com"},
				{"password kept with its spaces", "spaces@example.com", "  spaced  ", "", "spaces@example.com"},
			}
			ids := map[int64]string{}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					q := req{method: "POST", path: "/api/register", contentType: tt.contentType,
						body: map[string]string{"email": tt.email, "password": tt.password}}
					r := expectStatus(t, ts, q, http.StatusCreated)
					doc := decodeDoc(t, r)
					checkKeys(t, "core user", doc, []string{"id", "email", "created_at"})
					id := checkID(t, "core user id", doc["id"])
					if prev, dup := ids[id]; dup {
						t.Errorf("id %d given to %q and %q; want distinct ids", id, prev, tt.email)
					}
					ids[id] = tt.email
					if doc["email"] != tt.wantEmail {
						t.Errorf("email = %#v; want %q", doc["email"], tt.wantEmail)
					}
					checkTime(t, "created_at", doc["created_at"])
					// Log in with the email as given and as stored.
					login(t, ts, "", tt.email, tt.password)
					login(t, ts, "", tt.wantEmail, tt.password)
				})
			}
			t.Run("password is not trimmed", func(t *testing.T) {
				r := doChecked(t, ts, req{method: "POST", path: "/api/login", body: map[string]string{"email": "spaces@example.com", "password": "spaced"}})
				if r.status != http.StatusUnauthorized {
					t.Errorf("login with the trimmed password = %d; want 401", r.status)
				}
			})
		})

		t.Run("duplicate email", func(t *testing.T) {
			expectStatus(t, ts, req{method: "POST", path: "/api/register", body: map[string]string{"email": "dup@example.com", "password": testPassword}}, http.StatusCreated)
			for _, email := range []string{"dup@example.com", "DUP@EXAMPLE.COM", "  Dup@Example.com  "} {
				r := expectStatus(t, ts, req{method: "POST", path: "/api/register", body: map[string]string{"email": email, "password": "another password"}}, http.StatusConflict)
				if bytes.Contains(bytes.ToLower(r.body), []byte("dup@example.com")) {
					t.Errorf("409 body %s echoes the email; want no per-request values", r.body)
				}
			}
			// The first password still logs in: the conflict changed nothing.
			login(t, ts, "", "dup@example.com", testPassword)
		})

		t.Run("invalid email", func(t *testing.T) {
			for _, e := range invalidEmails {
				q := req{method: "POST", path: "/api/register", body: map[string]string{"email": e.email, "password": testPassword}}
				t.Run(e.name, func(t *testing.T) { expect422(t, ts, q, "email") })
			}
		})

		t.Run("invalid password", func(t *testing.T) {
			for _, p := range []struct{ name, password string }{
				{"empty", ""},
				{"7 characters", "1234567"},
				{"7 emoji", strings.Repeat("🔑", 7)},
				{"257 characters", strings.Repeat("p", 257)},
				{"257 emoji", strings.Repeat("🔑", 257)},
			} {
				q := req{method: "POST", path: "/api/register", body: map[string]string{"email": "badpw@example.com", "password": p.password}}
				t.Run(p.name, func(t *testing.T) { expect422(t, ts, q, "password") })
			}
		})

		t.Run("every problem at once", func(t *testing.T) {
			tests := []struct {
				name   string
				body   any
				fields []string
			}{
				{"bad email and bad password", map[string]string{"email": "nope", "password": "short"}, []string{"email", "password"}},
				{"both missing", map[string]string{}, []string{"email", "password"}},
				{"both wrong types", map[string]any{"email": 1, "password": true}, []string{"email", "password"}},
				{"both null", map[string]any{"email": nil, "password": nil}, []string{"email", "password"}},
				{"two unknown fields", map[string]any{"email": "ok@example.com", "password": testPassword, "a": 1, "b": 2}, []string{"a", "b"}},
				{"unknown and missing", map[string]any{"email": "ok@example.com", "role": "admin"}, []string{"password", "role"}},
				{"bad email and password of wrong type", map[string]any{"email": "nope", "password": 12345678}, []string{"email", "password"}},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					expect422(t, ts, req{method: "POST", path: "/api/register", body: tt.body}, tt.fields...)
				})
			}
		})

		t.Run("login failures look the same", func(t *testing.T) {
			expectStatus(t, ts, req{method: "POST", path: "/api/register", body: map[string]string{"email": "victim@example.com", "password": testPassword}}, http.StatusCreated)
			tests := []struct{ name, email, password string }{
				{"wrong password", "victim@example.com", "wrong password!"},
				{"password in other case", "victim@example.com", strings.ToUpper(testPassword)},
				{"unknown email", "nobody@example.com", testPassword},
				{"malformed email", "not an email", testPassword},
				{"empty email", "", testPassword},
				{"short password", "victim@example.com", "short"},
				{"empty password", "victim@example.com", ""},
				{"257-character password", "victim@example.com", strings.Repeat("p", 257)},
			}
			var first response
			for i, tt := range tests {
				r := expectStatus(t, ts, req{method: "POST", path: "/api/login", body: map[string]string{"email": tt.email, "password": tt.password}}, http.StatusUnauthorized)
				if got := r.header.Get("WWW-Authenticate"); got != "Bearer" {
					t.Errorf("%s: WWW-Authenticate = %q; want %q", tt.name, got, "Bearer")
				}
				if i == 0 {
					first = r
					continue
				}
				if !bytes.Equal(r.body, first.body) {
					t.Errorf("%s: body %s; want the same body as %q: %s", tt.name, r.body, tests[0].name, first.body)
				}
			}
		})

		t.Run("login body of wrong shape", func(t *testing.T) {
			tests := []struct {
				name   string
				body   any
				fields []string
			}{
				{"missing password", map[string]string{"email": "victim@example.com"}, []string{"password"}},
				{"password number", map[string]any{"email": "victim@example.com", "password": 12345678}, []string{"password"}},
				{"unknown field", map[string]any{"email": "victim@example.com", "password": testPassword, "remember": true}, []string{"remember"}},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					expect422(t, ts, req{method: "POST", path: "/api/login", body: tt.body}, tt.fields...)
				})
			}
		})

		t.Run("same email in core and tenants", func(t *testing.T) {
			owner := ts.coreUser(t, "shared@example.com")
			a, _ := ts.org(t, owner, "Shared A")
			b, _ := ts.org(t, owner, "Shared B")
			ts.tenantUser(t, a, "shared@example.com")
			ts.tenantUser(t, b, "shared@example.com")
			login(t, ts, "", "shared@example.com", testPassword)
		})
	})
}

// ---------------------------------------------------------------------------
// Organizations.

func TestOrganizations(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ts *testServer) {
		owner := ts.coreUser(t, "org-owner@example.com")
		other := ts.coreUser(t, "org-other@example.com")

		t.Run("empty list", func(t *testing.T) {
			r := expectStatus(t, ts, req{method: "GET", path: "/api/organizations", token: owner}, http.StatusOK)
			if orgs := checkOrgList(t, r); len(orgs) != 0 {
				t.Errorf("organizations of a new user = %v; want none", orgs)
			}
		})

		// In order: derived slugs depend on the ones taken before.
		creates := []struct {
			name     string
			body     map[string]any
			wantName string
			wantSlug string
		}{
			{"derived", map[string]any{"name": "Acme, Inc."}, "Acme, Inc.", "acme-inc"},
			{"derived again", map[string]any{"name": "Acme, Inc."}, "Acme, Inc.", "acme-inc-2"},
			{"derived from another name", map[string]any{"name": "ACME   inc!"}, "ACME   inc!", "acme-inc-3"},
			{"given slug", map[string]any{"name": "Given", "slug": "acme-inc-4"}, "Given", "acme-inc-4"},
			{"derived skips a given slug", map[string]any{"name": "Acme Inc"}, "Acme Inc", "acme-inc-5"},
			{"all digits", map[string]any{"name": "12"}, "12", "org-12"},
			{"no letters or digits", map[string]any{"name": "!!"}, "!!", "org"},
			{"no letters or digits again", map[string]any{"name": "¿?"}, "¿?", "org-2"},
			{"one letter", map[string]any{"name": "x"}, "x", "org-x"},
			{"digits with a dash", map[string]any{"name": "1 2"}, "1 2", "1-2"},
			{"name trimmed", map[string]any{"name": " \tTrim Me\n "}, "Trim Me", "trim-me"},
			{"non-ASCII letters", map[string]any{"name": "Ünïcode Straße"}, "Ünïcode Straße", "n-code-stra-e"},
			{"cut to 50", map[string]any{"name": strings.Repeat("a", 60)}, strings.Repeat("a", 60), strings.Repeat("a", 50)},
			// The cut leaves "bbb…b-"; a slug cannot end in '-', so it goes.
			{"cut then trimmed", map[string]any{"name": strings.Repeat("b", 49) + " c"}, strings.Repeat("b", 49) + " c", strings.Repeat("b", 49)},
			{"long digits", map[string]any{"name": strings.Repeat("7", 60)}, strings.Repeat("7", 60), "org-" + strings.Repeat("7", 50)},
			{"100 code points", map[string]any{"name": strings.Repeat("é", 100)}, strings.Repeat("é", 100), "org-3"},
			{"63-character slug", map[string]any{"name": "Long", "slug": strings.Repeat("s", 63)}, "Long", strings.Repeat("s", 63)},
			{"3-character slug with digits", map[string]any{"name": "Short", "slug": "a1b"}, "Short", "a1b"},
		}
		var mine []orgDoc
		for i, c := range creates {
			t.Run("create "+c.name, func(t *testing.T) {
				o := createOrg(t, ts, owner, c.body)
				if o.Name != c.wantName || o.Slug != c.wantSlug {
					t.Errorf("name, slug = %q, %q; want %q, %q", o.Name, o.Slug, c.wantName, c.wantSlug)
				}
				mine = append(mine, o)
				// The tenant can be used at once, by id or by slug.
				hint := o.Slug
				if i%2 == 0 {
					hint = strconv.FormatInt(o.ID, 10)
				}
				expectStatus(t, ts, req{method: "POST", path: "/api/tenant/auth/register", tenant: hint,
					body: map[string]string{"email": "first@example.com", "password": testPassword}}, http.StatusCreated)
			})
		}
		theirs := createOrg(t, ts, other, map[string]any{"name": "Other Org"})

		t.Run("conflicts", func(t *testing.T) {
			before := tenantStorage(t, ts)
			for _, slug := range []string{"acme-inc", "acme-inc-4", "org-12", "org", "other-org"} {
				expectStatus(t, ts, req{method: "POST", path: "/api/organizations", token: owner, body: map[string]string{"name": "Dup", "slug": slug}}, http.StatusConflict)
				expectStatus(t, ts, req{method: "POST", path: "/api/organizations", token: other, body: map[string]string{"name": "Dup", "slug": slug}}, http.StatusConflict)
			}
			checkStorageUnchanged(t, ts, before)
		})

		t.Run("invalid", func(t *testing.T) {
			before := tenantStorage(t, ts)
			tests := []struct {
				name   string
				body   map[string]any
				fields []string
			}{
				{"empty name", map[string]any{"name": ""}, []string{"name"}},
				{"whitespace name", map[string]any{"name": " \t\n "}, []string{"name"}},
				{"101-character name", map[string]any{"name": strings.Repeat("n", 101)}, []string{"name"}},
				{"101-code-point name", map[string]any{"name": strings.Repeat("é", 101)}, []string{"name"}},
				{"missing name", map[string]any{"slug": "no-name"}, []string{"name"}},
				{"null name", map[string]any{"name": nil}, []string{"name"}},
				{"null slug", map[string]any{"name": "Null Slug", "slug": nil}, []string{"slug"}},
				{"number name", map[string]any{"name": 5}, []string{"name"}},
				{"bad name and bad slug", map[string]any{"name": "", "slug": "-"}, []string{"name", "slug"}},
				{"unknown field", map[string]any{"name": "Unknown", "status": "active"}, []string{"status"}},
				{"owner field", map[string]any{"name": "Unknown", "owner_id": 2}, []string{"owner_id"}},
			}
			for _, n := range invalidDisplayNames[2:] { // the control and format characters
				tests = append(tests, struct {
					name   string
					body   map[string]any
					fields []string
				}{"name with " + n.name, map[string]any{"name": n.value}, []string{"name"}})
			}
			for _, s := range []struct{ name, slug string }{
				{"empty", ""}, {"2 characters", "ab"}, {"64 characters", strings.Repeat("s", 64)},
				{"leading dash", "-abc"}, {"trailing dash", "abc-"}, {"upper case", "Abc"}, {"underscore", "a_b"},
				{"all digits", "123"}, {"space", "abc def"}, {"non-ASCII", "ábc"}, {"dot", "a.bc"}, {"slash", "a/bc"},
				{"surrounding spaces", " abc "},
			} {
				tests = append(tests, struct {
					name   string
					body   map[string]any
					fields []string
				}{"slug " + s.name, map[string]any{"name": "Bad Slug", "slug": s.slug}, []string{"slug"}})
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					expect422(t, ts, req{method: "POST", path: "/api/organizations", token: owner, body: tt.body}, tt.fields...)
				})
			}
			checkStorageUnchanged(t, ts, before)
		})

		t.Run("list: own, oldest first", func(t *testing.T) {
			r := expectStatus(t, ts, req{method: "GET", path: "/api/organizations", token: owner}, http.StatusOK)
			got := checkOrgList(t, r)
			if len(got) != len(mine) {
				t.Fatalf("list has %d organizations; want %d", len(got), len(mine))
			}
			for i := range got {
				w := mine[i]
				if got[i].ID != w.ID || got[i].Name != w.Name || got[i].Slug != w.Slug || got[i].Status != "active" || !got[i].CreatedAt.Equal(w.CreatedAt) {
					t.Errorf("items[%d] = %+v; want %+v (as created)", i, got[i], w)
				}
				if i > 0 && got[i].CreatedAt.Before(got[i-1].CreatedAt) {
					t.Errorf("items[%d] created %v before items[%d] (%v); want oldest first", i, got[i].CreatedAt, i-1, got[i-1].CreatedAt)
				}
			}
			r = expectStatus(t, ts, req{method: "GET", path: "/api/organizations", token: other}, http.StatusOK)
			if got := checkOrgList(t, r); len(got) != 1 || got[0].ID != theirs.ID {
				t.Errorf("other user's list = %+v; want only %+v", got, theirs)
			}
		})

		t.Run("get", func(t *testing.T) {
			for _, w := range []orgDoc{mine[0], mine[len(mine)-1]} {
				r := expectStatus(t, ts, req{method: "GET", path: "/api/organizations/" + strconv.FormatInt(w.ID, 10), token: owner}, http.StatusOK)
				if got := checkOrgDoc(t, decodeDoc(t, r)); got.ID != w.ID || got.Slug != w.Slug || got.Name != w.Name || !got.CreatedAt.Equal(w.CreatedAt) {
					t.Errorf("GET organization %d = %+v; want %+v", w.ID, got, w)
				}
			}
			notFound := []struct{ name, id string }{
				{"someone else's", strconv.FormatInt(theirs.ID, 10)},
				{"not mine to them", strconv.FormatInt(mine[0].ID, 10)}, // asked with the other token below
				{"no such", "999999"},
				{"max int64", "9223372036854775807"},
				{"2^63", "9223372036854775808"},
				{"20 digits", "12345678901234567890"},
				{"zero", "0"},
				{"negative", "-1"},
				{"leading zero", "0" + strconv.FormatInt(mine[0].ID, 10)},
				{"plus sign", "+" + strconv.FormatInt(mine[0].ID, 10)},
				{"decimal", strconv.FormatInt(mine[0].ID, 10) + ".0"},
				{"exponent", "1e0"},
				{"letters", "abc"},
				{"slug", mine[0].Slug},
				{"hex", "0x1"},
				{"encoded space", "%20" + strconv.FormatInt(mine[0].ID, 10)},
			}
			for _, nf := range notFound {
				tok := owner
				if nf.name == "not mine to them" {
					tok = other
				}
				t.Run(nf.name, func(t *testing.T) {
					expectStatus(t, ts, req{method: "GET", path: "/api/organizations/" + nf.id, token: tok}, http.StatusNotFound)
				})
			}
		})
	})
}

// ---------------------------------------------------------------------------
// Tenant directories.

func TestTenantDirectory(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ts *testServer) {
		owner := ts.coreUser(t, "tenant-owner@example.com")
		a := createOrg(t, ts, owner, map[string]any{"name": "Tenant A"})
		b := createOrg(t, ts, owner, map[string]any{"name": "Tenant B"})
		aID, bID := strconv.FormatInt(a.ID, 10), strconv.FormatInt(b.ID, 10)
		register := func(tenant string, body map[string]any) req {
			return req{method: "POST", path: "/api/tenant/auth/register", tenant: tenant, body: body}
		}

		t.Run("register", func(t *testing.T) {
			tests := []struct {
				name   string
				tenant string
				body   map[string]any
				email  string
				dn     *string
			}{
				{"no display name", aID, map[string]any{"email": "plain@example.com", "password": testPassword}, "plain@example.com", nil},
				{"display name", a.Slug, map[string]any{"email": "named@example.com", "password": testPassword, "display_name": "Zoë"}, "named@example.com", ptr("Zoë")},
				{"display name trimmed", aID, map[string]any{"email": "trimmed@example.com", "password": testPassword, "display_name": " \tZoë Q \n"}, "trimmed@example.com", ptr("Zoë Q")},
				{"empty display name is null", aID, map[string]any{"email": "empty-dn@example.com", "password": testPassword, "display_name": ""}, "empty-dn@example.com", nil},
				{"whitespace display name is null", aID, map[string]any{"email": "ws-dn@example.com", "password": testPassword, "display_name": "  \t "}, "ws-dn@example.com", nil},
				{"100-code-point display name", aID, map[string]any{"email": "long-dn@example.com", "password": testPassword, "display_name": strings.Repeat("😀", 100)}, "long-dn@example.com", ptr(strings.Repeat("😀", 100))},
				{"email normalized", a.Slug, map[string]any{"email": "  Upper@Example.COM ", "password": testPassword}, "upper@example.com", nil},
				{"charset", aID, map[string]any{"email": "charset@example.com", "password": testPassword}, "charset@example.com", nil},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					q := register(tt.tenant, tt.body)
					if tt.name == "charset" {
						q.contentType = "application/json; charset=UTF-8"
					}
					u := checkUser(t, expectStatus(t, ts, q, http.StatusCreated))
					wantUser(t, "registered", u, tt.email, tt.dn)
					tok := login(t, ts, tt.tenant, tt.body["email"].(string), testPassword)
					me := getMe(t, ts, tt.tenant, tok)
					wantUser(t, "me", me, tt.email, tt.dn)
					if me.ID != u.ID || me.rawCreated != u.rawCreated {
						t.Errorf("me id, created_at = %d, %s; want %d, %s (as registered)", me.ID, me.rawCreated, u.ID, u.rawCreated)
					}
				})
			}
		})

		t.Run("duplicate email", func(t *testing.T) {
			expectStatus(t, ts, register(aID, map[string]any{"email": "dup@example.com", "password": testPassword}), http.StatusCreated)
			for _, email := range []string{"dup@example.com", "DUP@example.com", " dup@EXAMPLE.com\t"} {
				expectStatus(t, ts, register(a.Slug, map[string]any{"email": email, "password": "other password"}), http.StatusConflict)
			}
			// The same email in another tenant and in the core directory.
			expectStatus(t, ts, register(bID, map[string]any{"email": "dup@example.com", "password": "password of b"}), http.StatusCreated)
			expectStatus(t, ts, req{method: "POST", path: "/api/register", body: map[string]string{"email": "dup@example.com", "password": "password of core"}}, http.StatusCreated)
			login(t, ts, aID, "dup@example.com", testPassword)
			login(t, ts, bID, "dup@example.com", "password of b")
			login(t, ts, "", "dup@example.com", "password of core")
			for _, wrong := range []struct{ tenant, password string }{{aID, "password of b"}, {bID, testPassword}, {"", testPassword}} {
				path := "/api/login"
				if wrong.tenant != "" {
					path = "/api/tenant/auth/login"
				}
				r := doChecked(t, ts, req{method: "POST", path: path, tenant: wrong.tenant, body: map[string]string{"email": "dup@example.com", "password": wrong.password}})
				if r.status != http.StatusUnauthorized {
					t.Errorf("login to %q with another directory's password = %d; want 401", wrong.tenant, r.status)
				}
			}
		})

		t.Run("isolation", func(t *testing.T) {
			ua := checkUser(t, expectStatus(t, ts, register(a.Slug, map[string]any{"email": "same@example.com", "password": testPassword, "display_name": "In A"}), http.StatusCreated))
			ub := checkUser(t, expectStatus(t, ts, register(b.Slug, map[string]any{"email": "same@example.com", "password": testPassword, "display_name": "In B"}), http.StatusCreated))
			ta := login(t, ts, a.Slug, "same@example.com", testPassword)
			tb := login(t, ts, b.Slug, "same@example.com", testPassword)
			// A token works with either form of its own tenant's X-Tenant.
			for _, hint := range []string{aID, a.Slug} {
				if me := getMe(t, ts, hint, ta); me.ID != ua.ID || !equalPtr(me.DisplayName, ptr("In A")) {
					t.Errorf("me in A via %q = %+v; want the user of A", hint, me)
				}
			}
			for _, hint := range []string{bID, b.Slug} {
				if me := getMe(t, ts, hint, tb); me.ID != ub.ID || !equalPtr(me.DisplayName, ptr("In B")) {
					t.Errorf("me in B via %q = %+v; want the user of B", hint, me)
				}
			}
			// An update in A is not seen in B.
			expectStatus(t, ts, req{method: "PUT", path: "/api/tenant/users/me", tenant: aID, token: ta, body: map[string]string{"display_name": "Changed in A"}}, http.StatusOK)
			if me := getMe(t, ts, bID, tb); !equalPtr(me.DisplayName, ptr("In B")) {
				t.Errorf("display_name in B after an update in A = %s; want %q", showPtr(me.DisplayName), "In B")
			}
		})

		t.Run("login failures look the same", func(t *testing.T) {
			expectStatus(t, ts, register(aID, map[string]any{"email": "victim@example.com", "password": testPassword}), http.StatusCreated)
			tests := []struct{ name, tenant, email, password string }{
				{"wrong password", aID, "victim@example.com", "wrong password!"},
				{"unknown email", aID, "nobody@example.com", testPassword},
				{"user of another tenant", bID, "victim@example.com", testPassword},
				{"malformed email", aID, "not an email", testPassword},
				{"short password", aID, "victim@example.com", "short"},
				{"257-character password", aID, "victim@example.com", strings.Repeat("p", 257)},
			}
			var first response
			for i, tt := range tests {
				r := expectStatus(t, ts, req{method: "POST", path: "/api/tenant/auth/login", tenant: tt.tenant, body: map[string]string{"email": tt.email, "password": tt.password}}, http.StatusUnauthorized)
				if got := r.header.Get("WWW-Authenticate"); got != "Bearer" {
					t.Errorf("%s: WWW-Authenticate = %q; want %q", tt.name, got, "Bearer")
				}
				if i == 0 {
					first = r
				} else if !bytes.Equal(r.body, first.body) {
					t.Errorf("%s: body %s; want the same body as %q: %s", tt.name, r.body, tests[0].name, first.body)
				}
			}
		})

		t.Run("invalid X-Tenant", func(t *testing.T) {
			tok := ts.tenantUser(t, aID, "hint-user@example.com")
			before := tenantStorage(t, ts)
			hints := []struct {
				name   string
				values []string
			}{
				{"underscore", []string{"1_0"}},
				{"leading zero", []string{"0" + aID}},
				{"plus sign", []string{"+" + aID}},
				{"inner space", []string{"1 0"}},
				{"inner tab", []string{"1\t0"}},
				{"zero", []string{"0"}},
				{"negative", []string{"-1"}},
				{"2^63", []string{"9223372036854775808"}},
				{"20 digits", []string{"12345678901234567890"}},
				{"upper case", []string{"AB"}},
				{"upper-case slug", []string{strings.ToUpper(a.Slug)}},
				{"one letter", []string{"a"}},
				{"two letters", []string{"ab"}},
				{"path", []string{"../x"}},
				{"slashes", []string{"a/b/c"}},
				{"dot", []string{"."}},
				{"leading dash", []string{"-" + a.Slug}},
				{"trailing dash", []string{a.Slug + "-"}},
				{"64 characters", []string{strings.Repeat("x", 64)}},
				{"non-ASCII", []string{"tenänt"}},
				{"percent-encoded", []string{"%31"}},
				{"SQL", []string{"1' OR '1'='1"}},
				{"empty", []string{""}},
				{"spaces only", []string{"   "}},
				{"two headers", []string{aID, aID}},
				{"two header slugs", []string{a.Slug, a.Slug}},
				{"two tenants", []string{aID, bID}},
				{"list in one header", []string{aID + "," + bID}},
			}
			for _, h := range hints {
				t.Run(h.name, func(t *testing.T) {
					hdr := http.Header{"X-Tenant": h.values}
					for _, q := range []req{
						{method: "POST", path: "/api/tenant/auth/register", header: hdr, body: map[string]string{"email": "hint@example.com", "password": testPassword}},
						{method: "POST", path: "/api/tenant/auth/login", header: hdr, body: map[string]string{"email": "hint-user@example.com", "password": testPassword}},
						{method: "GET", path: "/api/tenant/users/me", header: hdr, token: tok},
						{method: "PUT", path: "/api/tenant/users/me", header: hdr, token: tok, body: map[string]string{"display_name": "changed"}},
					} {
						expectStatus(t, ts, q, http.StatusBadRequest)
					}
				})
			}
			t.Run("none", func(t *testing.T) {
				expectStatus(t, ts, register("", map[string]any{"email": "hint@example.com", "password": testPassword}), http.StatusBadRequest)
				expectStatus(t, ts, req{method: "GET", path: "/api/tenant/users/me", token: tok}, http.StatusBadRequest)
			})
			checkStorageUnchanged(t, ts, before)
			wantUser(t, "after refused requests", getMe(t, ts, aID, tok), "hint-user@example.com", nil)
		})

		t.Run("unknown tenant", func(t *testing.T) {
			tok := ts.tenantUser(t, aID, "unknown-user@example.com")
			before := tenantStorage(t, ts)
			for _, hint := range []string{"999999", "9223372036854775807", "1000000000000000000", "no-such-org", "org-999999", strings.Repeat("z", 63)} {
				t.Run(hint, func(t *testing.T) {
					expectStatus(t, ts, register(hint, map[string]any{"email": "x@example.com", "password": testPassword}), http.StatusNotFound)
					expectStatus(t, ts, req{method: "POST", path: "/api/tenant/auth/login", tenant: hint, body: map[string]string{"email": "x@example.com", "password": testPassword}}, http.StatusNotFound)
					expectStatus(t, ts, req{method: "GET", path: "/api/tenant/users/me", tenant: hint}, http.StatusNotFound)
					expectStatus(t, ts, req{method: "GET", path: "/api/tenant/users/me", tenant: hint, token: tok}, http.StatusNotFound)
				})
			}
			checkStorageUnchanged(t, ts, before)
		})

		t.Run("unknown slug then created", func(t *testing.T) {
			// A 404 is not remembered past the organization's creation.
			body := map[string]any{"email": "later@example.com", "password": testPassword}
			expectStatus(t, ts, register("later-org", body), http.StatusNotFound)
			createOrg(t, ts, owner, map[string]any{"name": "Later", "slug": "later-org"})
			expectStatus(t, ts, register("later-org", body), http.StatusCreated)
		})

		t.Run("invalid register body", func(t *testing.T) {
			for _, e := range invalidEmails {
				t.Run("email "+e.name, func(t *testing.T) {
					expect422(t, ts, register(aID, map[string]any{"email": e.email, "password": testPassword}), "email")
				})
			}
			for _, n := range invalidDisplayNames {
				t.Run("display_name "+n.name, func(t *testing.T) {
					expect422(t, ts, register(aID, map[string]any{"email": "dn@example.com", "password": testPassword, "display_name": n.value}), "display_name")
				})
			}
			tests := []struct {
				name   string
				body   map[string]any
				fields []string
			}{
				{"7-character password", map[string]any{"email": "pw@example.com", "password": "1234567"}, []string{"password"}},
				{"257-character password", map[string]any{"email": "pw@example.com", "password": strings.Repeat("p", 257)}, []string{"password"}},
				{"null display_name", map[string]any{"email": "pw@example.com", "password": testPassword, "display_name": nil}, []string{"display_name"}},
				{"every field bad", map[string]any{"email": "x", "password": "short", "display_name": strings.Repeat("d", 101)}, []string{"display_name", "email", "password"}},
				{"is_active given", map[string]any{"email": "pw@example.com", "password": testPassword, "is_active": false}, []string{"is_active"}},
				{"id given", map[string]any{"email": "pw@example.com", "password": testPassword, "id": 1}, []string{"id"}},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) { expect422(t, ts, register(aID, tt.body), tt.fields...) })
			}
			t.Run("8 emoji password", func(t *testing.T) {
				expectStatus(t, ts, register(aID, map[string]any{"email": "emoji@example.com", "password": strings.Repeat("🔑", 8)}), http.StatusCreated)
				login(t, ts, aID, "emoji@example.com", strings.Repeat("🔑", 8))
			})
		})

		t.Run("update me", func(t *testing.T) {
			expectStatus(t, ts, register(aID, map[string]any{"email": "taken@example.com", "password": testPassword}), http.StatusCreated)
			u := checkUser(t, expectStatus(t, ts, register(aID, map[string]any{"email": "me@example.com", "password": testPassword, "display_name": "Me"}), http.StatusCreated))
			tok := login(t, ts, aID, "me@example.com", testPassword)
			put := func(body map[string]any) req {
				return req{method: "PUT", path: "/api/tenant/users/me", tenant: aID, token: tok, body: body}
			}
			// In order: each step starts from the state the one before left.
			steps := []struct {
				name  string
				body  map[string]any
				email string
				dn    *string
			}{
				{"nothing", map[string]any{}, "me@example.com", ptr("Me")},
				{"display name only", map[string]any{"display_name": "Bob"}, "me@example.com", ptr("Bob")},
				{"email only, normalized", map[string]any{"email": "  New.Me@Example.COM\t"}, "new.me@example.com", ptr("Bob")},
				{"display name trimmed", map[string]any{"display_name": "\t Bobby \n"}, "new.me@example.com", ptr("Bobby")},
				{"empty display name is null", map[string]any{"display_name": ""}, "new.me@example.com", nil},
				{"display name again", map[string]any{"display_name": strings.Repeat("😀", 100)}, "new.me@example.com", ptr(strings.Repeat("😀", 100))},
				{"whitespace display name is null", map[string]any{"display_name": " \t "}, "new.me@example.com", nil},
				{"both", map[string]any{"email": "both@example.com", "display_name": "Both"}, "both@example.com", ptr("Both")},
				{"own email again", map[string]any{"email": "BOTH@example.com"}, "both@example.com", ptr("Both")},
			}
			for _, s := range steps {
				t.Run(s.name, func(t *testing.T) {
					got := checkUser(t, expectStatus(t, ts, put(s.body), http.StatusOK))
					wantUser(t, "PUT response", got, s.email, s.dn)
					if got.ID != u.ID || got.rawCreated != u.rawCreated {
						t.Errorf("id, created_at = %d, %s; want %d, %s unchanged", got.ID, got.rawCreated, u.ID, u.rawCreated)
					}
					wantUser(t, "GET after PUT", getMe(t, ts, aID, tok), s.email, s.dn)
				})
			}
			t.Run("conflict changes nothing", func(t *testing.T) {
				for _, body := range []map[string]any{
					{"email": "taken@example.com"},
					{"email": " TAKEN@example.com "},
					{"email": "taken@example.com", "display_name": "Should Not Stick"},
				} {
					expectStatus(t, ts, put(body), http.StatusConflict)
				}
				wantUser(t, "after 409", getMe(t, ts, aID, tok), "both@example.com", ptr("Both"))
			})
			t.Run("invalid", func(t *testing.T) {
				for _, e := range invalidEmails {
					t.Run("email "+e.name, func(t *testing.T) { expect422(t, ts, put(map[string]any{"email": e.email}), "email") })
				}
				for _, n := range invalidDisplayNames {
					t.Run("display_name "+n.name, func(t *testing.T) { expect422(t, ts, put(map[string]any{"display_name": n.value}), "display_name") })
				}
				tests := []struct {
					name   string
					body   map[string]any
					fields []string
				}{
					{"null email", map[string]any{"email": nil}, []string{"email"}},
					{"null display_name", map[string]any{"display_name": nil}, []string{"display_name"}},
					{"both bad", map[string]any{"email": "x", "display_name": "a\u200bb"}, []string{"display_name", "email"}},
					{"password", map[string]any{"password": "new password!"}, []string{"password"}},
					{"is_active", map[string]any{"is_active": false}, []string{"is_active"}},
					{"id", map[string]any{"id": 2}, []string{"id"}},
					{"valid field and unknown field", map[string]any{"display_name": "Not Applied", "created_at": "2000-01-01T00:00:00Z"}, []string{"created_at"}},
				}
				for _, tt := range tests {
					t.Run(tt.name, func(t *testing.T) { expect422(t, ts, put(tt.body), tt.fields...) })
				}
				wantUser(t, "after 422s", getMe(t, ts, aID, tok), "both@example.com", ptr("Both"))
			})
			t.Run("log in with the new email", func(t *testing.T) {
				login(t, ts, aID, "both@example.com", testPassword)
				r := doChecked(t, ts, req{method: "POST", path: "/api/tenant/auth/login", tenant: aID, body: map[string]string{"email": "me@example.com", "password": testPassword}})
				if r.status != http.StatusUnauthorized {
					t.Errorf("login with the old email = %d; want 401", r.status)
				}
				// The old email is free again.
				expectStatus(t, ts, register(aID, map[string]any{"email": "me@example.com", "password": testPassword}), http.StatusCreated)
			})
		})
	})
}

// ---------------------------------------------------------------------------
// Organization states. The API has no endpoint that suspends or deletes an
// organization yet, so the test moves it through the core store and drops
// the cached lookups, as the service does.

func TestTenantStatus(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ts *testServer) {
		ctx := context.Background()
		owner := ts.coreUser(t, "status-owner@example.com")
		o := createOrg(t, ts, owner, map[string]any{"name": "Status Org"})
		id := strconv.FormatInt(o.ID, 10)
		tok := ts.tenantUser(t, id, "status-user@example.com")
		setStatus := func(t *testing.T, from, to OrgStatus) {
			t.Helper()
			if err := setOrgStatus(ctx, ts.app, o.ID, from, to); err != nil {
				t.Fatalf("set status %s -> %s: %v", from, to, err)
			}
			ts.app.lookup.Invalidate(id, o.Slug)
		}
		listed := func(t *testing.T) []orgDoc {
			t.Helper()
			return checkOrgList(t, expectStatus(t, ts, req{method: "GET", path: "/api/organizations", token: owner}, http.StatusOK))
		}
		requests := func(hint string) []req {
			return []req{
				{method: "GET", path: "/api/tenant/users/me", tenant: hint},
				{method: "GET", path: "/api/tenant/users/me", tenant: hint, token: tok},
				{method: "PUT", path: "/api/tenant/users/me", tenant: hint, token: tok, body: map[string]string{"display_name": "Changed"}},
				{method: "POST", path: "/api/tenant/auth/register", tenant: hint, body: map[string]string{"email": "new@example.com", "password": testPassword}},
				{method: "POST", path: "/api/tenant/auth/login", tenant: hint, body: map[string]string{"email": "status-user@example.com", "password": testPassword}},
			}
		}

		t.Run("provisioning", func(t *testing.T) {
			setStatus(t, OrgActive, OrgProvisioning)
			for _, hint := range []string{id, o.Slug} {
				for _, q := range requests(hint) {
					r := expectStatus(t, ts, q, http.StatusServiceUnavailable)
					if s := r.header.Get("Retry-After"); s == "" || strings.Trim(s, "0123456789") != "" {
						t.Errorf("%s %s: Retry-After = %q; want seconds", q.method, q.path, s)
					}
				}
			}
			if got := listed(t); len(got) != 1 || got[0].Status != "provisioning" {
				t.Errorf("list = %+v; want the organization with status provisioning", got)
			}
			r := expectStatus(t, ts, req{method: "GET", path: "/api/organizations/" + id, token: owner}, http.StatusOK)
			if got := checkOrgDoc(t, decodeDoc(t, r)); got.Status != "provisioning" {
				t.Errorf("status = %q; want provisioning", got.Status)
			}
		})

		t.Run("suspended", func(t *testing.T) {
			setStatus(t, OrgProvisioning, OrgSuspended)
			for _, hint := range []string{id, o.Slug} {
				for _, q := range requests(hint) {
					r := expectStatus(t, ts, q, http.StatusForbidden)
					if p := problemOf(r); !strings.Contains(strings.ToLower(p.Detail), "suspended") {
						t.Errorf("%s %s: detail = %q; want it to say the organization is suspended", q.method, q.path, p.Detail)
					}
				}
			}
			if got := listed(t); len(got) != 1 || got[0].Status != "suspended" {
				t.Errorf("list = %+v; want the organization with status suspended", got)
			}
		})

		t.Run("active again", func(t *testing.T) {
			setStatus(t, OrgSuspended, OrgActive)
			wantUser(t, "me, unchanged by refused requests", getMe(t, ts, id, tok), "status-user@example.com", nil)
		})

		t.Run("deleted", func(t *testing.T) {
			if err := deleteOrgRecords(ctx, ts.app, o.ID); err != nil {
				t.Fatal(err)
			}
			ts.app.lookup.Invalidate(id, o.Slug)
			for _, hint := range []string{id, o.Slug} {
				for _, q := range requests(hint) {
					expectStatus(t, ts, q, http.StatusNotFound)
				}
			}
			expectStatus(t, ts, req{method: "GET", path: "/api/organizations/" + id, token: owner}, http.StatusNotFound)
			if got := listed(t); len(got) != 0 {
				t.Errorf("list = %+v; want no organizations", got)
			}
		})
	})
}
