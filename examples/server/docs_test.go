package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// The OpenAPI document is hand-written (openapi.json). These tests keep it
// honest: it names exactly the routes the server registers, real responses
// validate against its schemas (github.com/santhosh-tekuri/jsonschema/v6,
// openapi_helpers_test.go), and it uses only the JSON Schema keywords in
// schemaKeywords, so a misspelt one cannot silently constrain nothing.

// TestSchemaValidator holds the validation the OpenAPI tests rely on (the
// library, the document loaded as its resource, the strict mode and API.md's
// formats) to known answers: valid documents pass and each wrong one is
// rejected, so validation is active, not vacuous.
func TestSchemaValidator(t *testing.T) {
	doc := loadOpenAPI(t)
	strict, lax := newSchemaValidator(t, doc, true), newSchemaValidator(t, doc, false)
	user := map[string]any{"$ref": "#/components/schemas/User"}
	tests := []struct {
		name   string
		schema any
		body   string
		strict bool
		ok     bool
	}{
		{"user", user, `{"id": 1, "email": "a@example.com", "display_name": null, "is_active": true, "created_at": "2025-01-02T03:04:05.5Z"}`, true, true},
		{"user with name", user, `{"id": 9223372036854775807, "email": "a@example.com", "display_name": "A", "is_active": false, "created_at": "2025-01-02T03:04:05Z"}`, true, true},
		{"id too big", user, `{"id": 9223372036854775808, "email": "a@example.com", "display_name": null, "is_active": true, "created_at": "2025-01-02T03:04:05Z"}`, true, false},
		{"id zero", user, `{"id": 0, "email": "a@example.com", "display_name": null, "is_active": true, "created_at": "2025-01-02T03:04:05Z"}`, true, false},
		{"id fraction", user, `{"id": 1.5, "email": "a@example.com", "display_name": null, "is_active": true, "created_at": "2025-01-02T03:04:05Z"}`, true, false},
		{"missing display_name", user, `{"id": 1, "email": "a@example.com", "is_active": true, "created_at": "2025-01-02T03:04:05Z"}`, true, false},
		{"display_name number", user, `{"id": 1, "email": "a@example.com", "display_name": 5, "is_active": true, "created_at": "2025-01-02T03:04:05Z"}`, true, false},
		{"time with offset", user, `{"id": 1, "email": "a@example.com", "display_name": null, "is_active": true, "created_at": "2025-01-02T03:04:05+01:00"}`, true, false},
		{"bad email", user, `{"id": 1, "email": "nope", "display_name": null, "is_active": true, "created_at": "2025-01-02T03:04:05Z"}`, true, false},
		{"email without dot", user, `{"id": 1, "email": "a@localhost", "display_name": null, "is_active": true, "created_at": "2025-01-02T03:04:05Z"}`, true, false},
		{"extra member strict", user, `{"id": 1, "email": "a@example.com", "display_name": null, "is_active": true, "created_at": "2025-01-02T03:04:05Z", "x": 1}`, true, false},
		{"extra member lax", user, `{"id": 1, "email": "a@example.com", "display_name": null, "is_active": true, "created_at": "2025-01-02T03:04:05Z", "x": 1}`, false, true},
		{"closed request", map[string]any{"$ref": "#/components/schemas/RegisterRequest"}, `{"email": "a@example.com", "password": "12345678", "x": 1}`, false, false},
		{"short password", map[string]any{"$ref": "#/components/schemas/RegisterRequest"}, `{"email": "a@example.com", "password": "1234567"}`, false, false},
		{"enum", map[string]any{"$ref": "#/components/schemas/Token"}, `{"access_token": "x", "token_type": "mac", "expires_in": 3600}`, true, false},
		{"problem items", map[string]any{"$ref": "#/components/schemas/ValidationProblem"}, `{"type": "about:blank", "title": "x", "status": 422, "detail": "d", "errors": [{"field": "a"}]}`, true, false},
		{"empty errors", map[string]any{"$ref": "#/components/schemas/ValidationProblem"}, `{"type": "about:blank", "title": "x", "status": 422, "detail": "d", "errors": []}`, true, false},
		{"slug pattern", map[string]any{"$ref": "#/components/schemas/CreateOrganizationRequest"}, `{"name": "n", "slug": "-ab"}`, false, false},
		{"inline schema", map[string]any{"type": "string", "maxLength": json.Number("2")}, `"xyz"`, false, false},
		{"unknown ref", map[string]any{"$ref": "#/components/schemas/Nope"}, `"x"`, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := docDecodeJSON([]byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			vd := lax
			if tt.strict {
				vd = strict
			}
			errs := vd.validate(tt.schema, v)
			if got := len(errs) == 0; got != tt.ok {
				t.Errorf("valid = %v (%q); want %v", got, errs, tt.ok)
			}
		})
	}
}

// ---------------------------------------------------------------------------
// (d) The document itself.

func TestOpenAPIDocument(t *testing.T) {
	doc := loadOpenAPI(t)
	lax := newSchemaValidator(t, doc, false)
	if v, _ := doc["openapi"].(string); !regexp.MustCompile(`^3\.1\.\d+$`).MatchString(v) {
		t.Errorf("openapi = %q; want 3.1.x", v)
	}
	info, _ := doc["info"].(map[string]any)
	if s, _ := info["title"].(string); s == "" {
		t.Error("info.title is empty")
	}
	if s, _ := info["version"].(string); s == "" {
		t.Error("info.version is empty")
	}
	comps, _ := doc["components"].(map[string]any)
	schemes, _ := comps["securitySchemes"].(map[string]any)
	var tags []string
	for _, tg := range doc["tags"].([]any) {
		tags = append(tags, tg.(map[string]any)["name"].(string))
	}

	ids := map[string]string{}
	for _, o := range doc.operations(t) {
		id, _ := o.op["operationId"].(string)
		switch {
		case id == "":
			t.Errorf("%s has no operationId", o)
		case ids[id] != "":
			t.Errorf("%s: operationId %q is also %s's", o, id, ids[id])
		default:
			ids[id] = o.String()
		}
		if s, _ := o.op["summary"].(string); s == "" {
			t.Errorf("%s has no summary", o)
		}
		for _, tg := range o.op["tags"].([]any) {
			if !slices.Contains(tags, tg.(string)) {
				t.Errorf("%s: tag %q is not declared", o, tg)
			}
		}
		res, _ := o.op["responses"].(map[string]any)
		if len(res) == 0 {
			t.Errorf("%s has no responses", o)
		}
		success := false
		for code, r := range res {
			if !regexp.MustCompile(`^[1-5][0-9][0-9]$`).MatchString(code) {
				t.Errorf("%s: response %q is not a status code", o, code)
			}
			success = success || code[0] == '2'
			rm := doc.mustResolve(t, r)
			if s, _ := rm["description"].(string); s == "" {
				t.Errorf("%s %s: response has no description", o, code)
			}
			if code >= "400" {
				content, _ := rm["content"].(map[string]any)
				pj, ok := content["application/problem+json"].(map[string]any)
				if !ok || len(content) != 1 {
					t.Errorf("%s %s: error response is not only application/problem+json", o, code)
					continue
				}
				s := doc.mustResolve(t, pj["schema"])
				if props, _ := s["properties"].(map[string]any); props["errors"] == nil || props["detail"] == nil {
					t.Errorf("%s %s: error schema is not a Problem", o, code)
				}
			}
			if code == "422" {
				content := rm["content"].(map[string]any)
				if ref := content["application/problem+json"].(map[string]any)["schema"].(map[string]any)["$ref"]; ref != "#/components/schemas/ValidationProblem" {
					t.Errorf("%s 422: schema is %v; want ValidationProblem", o, ref)
				}
			}
		}
		if !success {
			t.Errorf("%s has no 2xx response", o)
		}
		if rb, ok := o.op["requestBody"]; ok {
			rb := doc.mustResolve(t, rb)
			if _, has415 := res["415"]; !has415 {
				t.Errorf("%s takes a body but documents no 415", o)
			}
			content, _ := rb["content"].(map[string]any)
			mt, ok := content["application/json"].(map[string]any)
			if !ok || len(content) != 1 {
				t.Errorf("%s: request body is not only application/json", o)
				continue
			}
			s := doc.mustResolve(t, mt["schema"])
			if ap, ok := s["additionalProperties"].(bool); !ok || ap {
				t.Errorf("%s: request schema lacks additionalProperties: false", o)
			}
			if ex, ok := mt["example"]; ok {
				if errs := lax.validate(mt["schema"], ex); len(errs) > 0 {
					t.Errorf("%s: request example is invalid: %q", o, errs)
				}
			}
		}
		// Path parameters: every {name} in the template is declared, and
		// nothing else is.
		var declared []string
		for _, p := range o.params {
			pm := doc.mustResolve(t, p)
			if pm["in"] == "path" {
				declared = append(declared, pm["name"].(string))
				if pm["required"] != true {
					t.Errorf("%s: path parameter %v is not required", o, pm["name"])
				}
			}
		}
		var inPath []string
		for _, m := range regexp.MustCompile(`\{([^}]+)\}`).FindAllStringSubmatch(o.path, -1) {
			inPath = append(inPath, m[1])
		}
		slices.Sort(declared)
		slices.Sort(inPath)
		if !slices.Equal(declared, inPath) {
			t.Errorf("%s: path parameters %v; template has %v", o, declared, inPath)
		}
		if sec, ok := o.op["security"].([]any); ok {
			for _, req := range sec {
				for name := range req.(map[string]any) {
					if schemes[name] == nil {
						t.Errorf("%s: security scheme %q is not declared", o, name)
					}
				}
			}
		}
		// Tenant endpoints need X-Tenant; bearer-protected ones document 401.
		if strings.HasPrefix(o.path, "/api/tenant/") && !usesScheme(o.op, "tenantHeader") {
			t.Errorf("%s: tenant endpoint without the tenantHeader scheme", o)
		}
		if usesScheme(o.op, "bearerAuth") && res["401"] == nil {
			t.Errorf("%s: bearer-protected without a 401 response", o)
		}
		if usesScheme(o.op, "tenantHeader") {
			for _, code := range []string{"400", "403", "404", "503"} {
				if res[code] == nil {
					t.Errorf("%s: tenant endpoint without a %s response", o, code)
				}
			}
		}
	}

	if bearer, _ := schemes["bearerAuth"].(map[string]any); bearer["type"] != "http" || bearer["scheme"] != "bearer" || bearer["bearerFormat"] != "JWT" {
		t.Errorf("bearerAuth = %v; want http bearer JWT", bearer)
	}
	if th, _ := schemes["tenantHeader"].(map[string]any); th["type"] != "apiKey" || th["in"] != "header" || th["name"] != "X-Tenant" {
		t.Errorf("tenantHeader = %v; want apiKey in header X-Tenant", th)
	}

	// Every schema anywhere in the document is within the validator's
	// subset, every $ref resolves, and every example is valid.
	walkSchemas(t, doc, lax, map[string]any(doc), "#")
}

func usesScheme(op map[string]any, name string) bool {
	sec, _ := op["security"].([]any)
	for _, req := range sec {
		if _, ok := req.(map[string]any)[name]; ok {
			return true
		}
	}
	return false
}

// walkSchemas finds every "schema" member and every component schema in v
// and checks each: only supported keywords, resolvable refs, valid
// examples.
func walkSchemas(t *testing.T, doc apiDoc, lax *schemaValidator, v any, at string) {
	switch v := v.(type) {
	case map[string]any:
		if ref, ok := v["$ref"].(string); ok {
			if _, err := doc.resolve(v); err != nil {
				t.Errorf("%s: %v", at, ref)
			}
		}
		for _, k := range docSortedKeys(v) {
			child := v[k]
			if k == "schema" || at == "#/components/schemas" {
				checkSchema(t, doc, lax, child, at+"/"+k)
			}
			walkSchemas(t, doc, lax, child, at+"/"+k)
		}
	case []any:
		for i, x := range v {
			walkSchemas(t, doc, lax, x, fmt.Sprintf("%s/%d", at, i))
		}
	}
}

func checkSchema(t *testing.T, doc apiDoc, lax *schemaValidator, s any, at string) {
	sm, ok := s.(map[string]any)
	if !ok {
		t.Errorf("%s: schema is %T", at, s)
		return
	}
	for k := range sm {
		if !schemaKeywords[k] {
			t.Errorf("%s: keyword %q is outside the tested subset", at, k)
		}
	}
	if p, ok := sm["pattern"].(string); ok {
		if _, err := regexp.Compile(p); err != nil {
			t.Errorf("%s: pattern %q: %v", at, p, err)
		}
	}
	if ex, ok := sm["examples"].([]any); ok {
		for i, x := range ex {
			if errs := lax.validate(s, x); len(errs) > 0 {
				t.Errorf("%s/examples/%d: invalid example: %q", at, i, errs)
			}
		}
	}
	for _, k := range []string{"items", "additionalProperties"} {
		if c, ok := sm[k].(map[string]any); ok {
			checkSchema(t, doc, lax, c, at+"/"+k)
		}
	}
	if props, ok := sm["properties"].(map[string]any); ok {
		for _, k := range docSortedKeys(props) {
			checkSchema(t, doc, lax, props[k], at+"/properties/"+k)
		}
	}
}

// TestSlugPattern holds the document's slug pattern (with its length
// bounds) to the server's own rule.
func TestSlugPattern(t *testing.T) {
	doc := loadOpenAPI(t)
	s := doc.mustResolve(t, map[string]any{"$ref": "#/components/schemas/CreateOrganizationRequest"})
	slug := s["properties"].(map[string]any)["slug"].(map[string]any)
	re := regexp.MustCompile(slug["pattern"].(string))
	minLen, _ := docSchemaInt(slug, "minLength")
	maxLen, _ := docSchemaInt(slug, "maxLength")
	inputs := []string{"", "a", "ab", "abc", "a-c", "-ab", "ab-", "123", "1a1", "1-1", "12a", "a12", "acme-corp",
		"ABC", "a_c", "a.c", "org-1", "00a", "a--b", "ab c", "é12",
		strings.Repeat("a", 63), strings.Repeat("a", 64), strings.Repeat("1", 62) + "a", strings.Repeat("1", 63)}
	for _, in := range inputs {
		n := utf8.RuneCountInString(in)
		got := re.MatchString(in) && n >= minLen && n <= maxLen
		if want := validSlug(in); got != want {
			t.Errorf("document accepts %q = %v; server: %v", in, got, want)
		}
	}
}

// ---------------------------------------------------------------------------
// (a) Routes and operations are the same set.

func TestOpenAPIMatchesRoutes(t *testing.T) {
	ts := startServer(t, sqliteConfig(t))
	doc := loadOpenAPI(t)
	documented := map[string]bool{}
	for _, o := range doc.operations(t) {
		documented[o.String()] = true
	}
	served := map[string]bool{}
	for _, p := range ts.app.srv.patterns {
		method, path, ok := strings.Cut(p, " ")
		if !ok || strings.ContainsAny(method, "/{") {
			t.Errorf("route %q has no method: the document cannot describe it", p)
			continue
		}
		served[method+" "+path] = true
	}
	for _, k := range docSortedKeys(served) {
		if !documented[k] {
			t.Errorf("route %s is served but not documented", k)
		}
	}
	for _, k := range docSortedKeys(documented) {
		if !served[k] {
			t.Errorf("operation %s is documented but not served", k)
		}
	}
	if len(served) == 0 {
		t.Error("the server registered no routes")
	}
}

// ---------------------------------------------------------------------------
// (b) Real responses validate against the document.

func TestOpenAPIContract(t *testing.T) {
	ts := startServer(t, sqliteConfig(t))
	c := newDocChecker(t, ts)
	ctx := context.Background()
	const pw = "correct horse battery"
	creds := map[string]string{"email": "Doc.Owner@Example.com ", "password": pw}

	// Core directory.
	c.call(req{method: "POST", path: "/api/register", body: creds}, http.StatusCreated)
	c.call(req{method: "POST", path: "/api/register", body: creds}, http.StatusConflict)
	c.call(req{method: "POST", path: "/api/register", body: map[string]any{"email": "nope", "password": "short", "extra": 1}}, http.StatusUnprocessableEntity)
	c.call(req{method: "POST", path: "/api/register", body: `[]`}, http.StatusUnprocessableEntity)
	c.call(req{method: "POST", path: "/api/register", body: `{}`, contentType: "text/plain"}, http.StatusUnsupportedMediaType)
	c.call(req{method: "POST", path: "/api/register", body: `{"email": "` + strings.Repeat("a", maxBodyBytes) + `"}`}, http.StatusRequestEntityTooLarge)
	r := c.call(req{method: "POST", path: "/api/login", body: creds}, http.StatusOK)
	var tok struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	json.Unmarshal(r.body, &tok)
	r = c.call(req{method: "POST", path: "/api/token/refresh", body: map[string]string{"refresh_token": tok.RefreshToken}}, http.StatusOK)
	var refreshed struct {
		RefreshToken string `json:"refresh_token"`
	}
	json.Unmarshal(r.body, &refreshed)
	c.call(req{method: "POST", path: "/api/token/refresh", body: map[string]string{"refresh_token": tok.RefreshToken}}, http.StatusUnauthorized) // spent
	c.call(req{method: "POST", path: "/api/token/refresh", body: map[string]any{"refresh_token": 1}}, http.StatusUnprocessableEntity)
	c.call(req{method: "POST", path: "/api/logout", body: map[string]string{"refresh_token": refreshed.RefreshToken}}, http.StatusNoContent)
	c.call(req{method: "POST", path: "/api/logout", body: `{}`}, http.StatusUnprocessableEntity)
	c.call(req{method: "POST", path: "/api/login", body: map[string]string{"email": "doc.owner@example.com", "password": "wrong password"}}, http.StatusUnauthorized)
	c.call(req{method: "POST", path: "/api/login", body: map[string]any{"email": 1}}, http.StatusUnprocessableEntity)

	c.call(req{method: "GET", path: "/api/organizations", token: tok.AccessToken}, http.StatusOK) // empty list
	c.call(req{method: "POST", path: "/api/organizations", body: map[string]string{"name": "Doc Org"}}, http.StatusUnauthorized)
	r = c.call(req{method: "POST", path: "/api/organizations", token: tok.AccessToken, body: map[string]string{"name": "Doc Org", "slug": "doc-org"}}, http.StatusCreated)
	var org struct {
		ID   int64  `json:"id"`
		Slug string `json:"slug"`
	}
	json.Unmarshal(r.body, &org)
	c.call(req{method: "POST", path: "/api/organizations", token: tok.AccessToken, body: map[string]string{"name": "Again", "slug": "doc-org"}}, http.StatusConflict)
	c.call(req{method: "POST", path: "/api/organizations", token: tok.AccessToken, body: map[string]any{"name": " ", "slug": "-x"}}, http.StatusUnprocessableEntity)
	r = c.call(req{method: "POST", path: "/api/organizations", token: tok.AccessToken, body: map[string]string{"name": "Derived Slug Org"}}, http.StatusCreated)
	var derived struct {
		ID int64 `json:"id"`
	}
	json.Unmarshal(r.body, &derived)
	c.call(req{method: "GET", path: "/api/organizations", token: tok.AccessToken}, http.StatusOK)
	c.call(req{method: "GET", path: "/api/organizations", token: "not-a-token"}, http.StatusUnauthorized)
	id := strconv.FormatInt(org.ID, 10)
	c.call(req{method: "GET", path: "/api/organizations/" + id, token: tok.AccessToken}, http.StatusOK)
	c.call(req{method: "GET", path: "/api/organizations/999999", token: tok.AccessToken}, http.StatusNotFound)
	c.call(req{method: "GET", path: "/api/organizations/abc", token: tok.AccessToken}, http.StatusNotFound)
	c.call(req{method: "GET", path: "/api/organizations/" + id}, http.StatusUnauthorized)

	// Tenant directory.
	tcreds := map[string]string{"email": "member@example.com", "password": pw}
	c.call(req{method: "POST", path: "/api/tenant/auth/register", tenant: org.Slug, body: tcreds}, http.StatusCreated) // display_name null
	c.call(req{method: "POST", path: "/api/tenant/auth/register", tenant: id, body: map[string]string{"email": "named@example.com", "password": pw, "display_name": "Named"}}, http.StatusCreated)
	c.call(req{method: "POST", path: "/api/tenant/auth/register", tenant: id, body: tcreds}, http.StatusConflict)
	c.call(req{method: "POST", path: "/api/tenant/auth/register", body: tcreds}, http.StatusBadRequest)
	c.call(req{method: "POST", path: "/api/tenant/auth/register", tenant: "-bad-", body: tcreds}, http.StatusBadRequest)
	c.call(req{method: "POST", path: "/api/tenant/auth/register", tenant: "no-such-org", body: tcreds}, http.StatusNotFound)
	c.call(req{method: "POST", path: "/api/tenant/auth/register", tenant: id, body: map[string]any{"email": "x@example.com", "password": pw, "display_name": nil}}, http.StatusUnprocessableEntity)
	c.call(req{method: "POST", path: "/api/tenant/auth/register", tenant: id, body: `{}`, contentType: "application/xml"}, http.StatusUnsupportedMediaType)
	r = c.call(req{method: "POST", path: "/api/tenant/auth/login", tenant: id, body: tcreds}, http.StatusOK)
	var ttok struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	json.Unmarshal(r.body, &ttok)
	c.call(req{method: "POST", path: "/api/tenant/auth/refresh", tenant: id, body: map[string]string{"refresh_token": tok.RefreshToken}}, http.StatusUnauthorized) // a core token
	r = c.call(req{method: "POST", path: "/api/tenant/auth/refresh", tenant: id, body: map[string]string{"refresh_token": ttok.RefreshToken}}, http.StatusOK)
	json.Unmarshal(r.body, &refreshed)
	c.call(req{method: "POST", path: "/api/tenant/auth/logout", tenant: id, body: map[string]string{"refresh_token": refreshed.RefreshToken}}, http.StatusNoContent)
	c.call(req{method: "POST", path: "/api/tenant/auth/logout", body: map[string]string{"refresh_token": refreshed.RefreshToken}}, http.StatusBadRequest)
	c.call(req{method: "POST", path: "/api/tenant/auth/login", tenant: id, body: map[string]string{"email": "member@example.com", "password": "wrong password"}}, http.StatusUnauthorized)
	c.call(req{method: "POST", path: "/api/tenant/auth/login", tenant: id, body: `{"email": "a", "email": "b"}`}, http.StatusUnprocessableEntity)
	c.call(req{method: "GET", path: "/api/tenant/users/me", tenant: id, token: ttok.AccessToken}, http.StatusOK)
	c.call(req{method: "GET", path: "/api/tenant/users/me", tenant: id}, http.StatusUnauthorized)
	c.call(req{method: "GET", path: "/api/tenant/users/me", tenant: id, token: tok.AccessToken}, http.StatusUnauthorized) // a core token
	c.call(req{method: "GET", path: "/api/tenant/users/me", token: ttok.AccessToken}, http.StatusBadRequest)
	c.call(req{method: "PUT", path: "/api/tenant/users/me", tenant: id, token: ttok.AccessToken, body: map[string]string{"display_name": "Member"}}, http.StatusOK)
	c.call(req{method: "PUT", path: "/api/tenant/users/me", tenant: id, token: ttok.AccessToken, body: map[string]string{"display_name": ""}}, http.StatusOK)
	c.call(req{method: "PUT", path: "/api/tenant/users/me", tenant: id, token: ttok.AccessToken, body: map[string]string{"email": "named@example.com"}}, http.StatusConflict)
	c.call(req{method: "PUT", path: "/api/tenant/users/me", tenant: id, token: ttok.AccessToken, body: map[string]any{"email": "not an email", "nick": "x"}}, http.StatusUnprocessableEntity)
	c.call(req{method: "PUT", path: "/api/tenant/users/me", tenant: id, token: ttok.AccessToken, body: `{}`, contentType: "text/plain"}, http.StatusUnsupportedMediaType)
	c.call(req{method: "PUT", path: "/api/tenant/users/me", tenant: id, token: ttok.AccessToken, body: `{"display_name": "` + strings.Repeat("a", maxBodyBytes) + `"}`}, http.StatusRequestEntityTooLarge)

	// Organization states the API cannot reach yet: moved through the
	// store, as contract_test.go does.
	setStatus := func(from, to OrgStatus) {
		t.Helper()
		if err := setOrgStatus(ctx, ts.app, org.ID, from, to); err != nil {
			t.Fatalf("set status %s -> %s: %v", from, to, err)
		}
		ts.app.lookup.Invalidate(id, org.Slug)
	}
	setStatus(OrgActive, OrgSuspended)
	c.call(req{method: "GET", path: "/api/tenant/users/me", tenant: id, token: ttok.AccessToken}, http.StatusForbidden)
	c.call(req{method: "POST", path: "/api/tenant/auth/login", tenant: org.Slug, body: tcreds}, http.StatusForbidden)
	setStatus(OrgSuspended, OrgProvisioning)
	c.call(req{method: "PUT", path: "/api/tenant/users/me", tenant: id, token: ttok.AccessToken, body: map[string]string{"display_name": "x"}}, http.StatusServiceUnavailable)
	c.call(req{method: "POST", path: "/api/tenant/auth/register", tenant: id, body: tcreds}, http.StatusServiceUnavailable)
	c.call(req{method: "GET", path: "/api/organizations/" + id, token: tok.AccessToken}, http.StatusOK) // status provisioning
	c.call(req{method: "DELETE", path: "/api/organizations/" + id, token: tok.AccessToken}, http.StatusConflict)
	setStatus(OrgProvisioning, OrgActive)

	derivedPath := "/api/organizations/" + strconv.FormatInt(derived.ID, 10)
	c.call(req{method: "DELETE", path: derivedPath}, http.StatusUnauthorized)
	c.call(req{method: "DELETE", path: derivedPath, token: tok.AccessToken}, http.StatusNoContent)
	c.call(req{method: "DELETE", path: derivedPath, token: tok.AccessToken}, http.StatusNotFound)

	// Operations and documentation.
	c.call(req{method: "GET", path: "/.well-known/jwks.json"}, http.StatusOK)
	c.call(req{method: "GET", path: "/.well-known/jwks.json", tenant: org.Slug}, http.StatusOK)
	c.call(req{method: "GET", path: "/.well-known/jwks.json", tenant: "no-such-org"}, http.StatusNotFound)
	c.call(req{method: "GET", path: "/.well-known/jwks.json", tenant: "01"}, http.StatusBadRequest)
	c.call(req{method: "GET", path: "/healthz"}, http.StatusOK)
	c.call(req{method: "GET", path: "/readyz"}, http.StatusOK)
	c.call(req{method: "GET", path: "/metrics"}, http.StatusOK)
	c.call(req{method: "GET", path: "/openapi.json"}, http.StatusOK)
	c.call(req{method: "GET", path: "/docs"}, http.StatusOK)
	c.call(req{method: "GET", path: "/docs/swagger-ui.css"}, http.StatusOK)
	c.call(req{method: "GET", path: "/docs/swagger-initializer.js"}, http.StatusOK)
	c.call(req{method: "GET", path: "/docs/LICENSE"}, http.StatusOK)
	c.call(req{method: "GET", path: "/docs/nope.js"}, http.StatusNotFound)
	c.call(req{method: "GET", path: "/docs/index.html"}, http.StatusNotFound)

	// Every docOperation was seen answering, with a 2xx among its answers.
	for _, o := range c.doc.operations(t) {
		got := c.seen[o.String()]
		ok2xx := false
		for code := range got {
			ok2xx = ok2xx || code[0] == '2'
		}
		if !ok2xx {
			t.Errorf("%s: no successful response was checked against the document", o)
		}
	}
}

// ---------------------------------------------------------------------------
// (c) The Swagger UI page and its files.

func TestDocsPage(t *testing.T) {
	ts := startServer(t, sqliteConfig(t))
	r := ts.mustStatus(t, req{method: "GET", path: "/docs"}, http.StatusOK)
	if got := r.header.Get("Content-Type"); got != "text/html; charset=utf-8" {
		t.Errorf("Content-Type = %q; want text/html; charset=utf-8", got)
	}
	csp := r.header.Get("Content-Security-Policy")
	if csp != docsCSP {
		t.Errorf("Content-Security-Policy = %q; want %q", csp, docsCSP)
	}
	directives := map[string]string{}
	for d := range strings.SplitSeq(csp, ";") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), " ")
		directives[name] = value
	}
	for name, want := range map[string]string{
		"default-src": "'none'", "script-src": "'self'", "style-src": "'self'", "connect-src": "'self'",
		"frame-ancestors": "'none'", "base-uri": "'none'",
	} {
		if got := directives[name]; got != want {
			t.Errorf("CSP %s = %q; want %q", name, got, want)
		}
	}
	for _, bad := range []string{"'unsafe-eval'", "http:", "https:", "*"} {
		if strings.Contains(csp, bad) {
			t.Errorf("CSP %q allows %s", csp, bad)
		}
	}
	html := string(r.body)
	if strings.Contains(html, "<script>") || strings.Contains(html, "<style") || strings.Contains(html, "style=") {
		t.Error("the page has inline script or style")
	}
	if regexp.MustCompile(`(?i)(src|href)="(https?:)?//`).MatchString(html) {
		t.Error("the page loads something from another origin")
	}
	// Every file the page loads is served, with a type nosniff accepts.
	refs := regexp.MustCompile(`(?:src|href)="(docs/[^"]+)"`).FindAllStringSubmatch(html, -1)
	if len(refs) != 3 {
		t.Errorf("page loads %d files; want the stylesheet, the bundle and the initializer", len(refs))
	}
	for _, m := range refs {
		r := ts.mustStatus(t, req{method: "GET", path: "/" + m[1]}, http.StatusOK)
		ct := r.header.Get("Content-Type")
		if !strings.HasPrefix(ct, "text/javascript") && !strings.HasPrefix(ct, "text/css") {
			t.Errorf("%s: Content-Type = %q", m[1], ct)
		}
		if r.header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: no nosniff", m[1])
		}
	}
	init := ts.mustStatus(t, req{method: "GET", path: "/docs/swagger-initializer.js"}, http.StatusOK)
	if !bytes.Contains(init.body, []byte(`url: "openapi.json"`)) {
		t.Error("the initializer does not load openapi.json")
	}

	doc := ts.mustStatus(t, req{method: "GET", path: "/openapi.json"}, http.StatusOK)
	if got := doc.header.Get("Content-Type"); got != "application/json" {
		t.Errorf("/openapi.json Content-Type = %q; want application/json", got)
	}
	if !bytes.Equal(doc.body, openAPIJSON) {
		t.Error("/openapi.json is not the embedded document")
	}
}

func TestDocsBundle(t *testing.T) {
	ts := startServer(t, sqliteConfig(t))
	zr, err := gzip.NewReader(bytes.NewReader(swaggerBundleJSGz))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("embedded bundle does not decompress: %v", err)
	}
	if !bytes.Contains(plain, []byte("SwaggerUIBundle")) {
		t.Fatal("embedded bundle is not Swagger UI")
	}

	tests := []struct {
		acceptEncoding string
		gzipped        bool
	}{
		{"gzip", true},
		{"gzip, deflate, br, zstd", true},
		{"br;q=1.0, GZIP;q=0.5", true},
		{"*", true},
		{"identity", false},
		{"gzip;q=0", false},
		{"*;q=0", false},
		{"gzip;q=0, *", false},
		{"br", false},
	}
	var etags []string
	for _, tt := range tests {
		t.Run(tt.acceptEncoding, func(t *testing.T) {
			// An explicit Accept-Encoding keeps the client from
			// decompressing for us.
			r := ts.mustStatus(t, req{method: "GET", path: "/docs/swagger-ui-bundle.js",
				header: http.Header{"Accept-Encoding": {tt.acceptEncoding}}}, http.StatusOK)
			if got := r.header.Get("Content-Type"); got != "text/javascript; charset=utf-8" {
				t.Errorf("Content-Type = %q", got)
			}
			if got := r.header.Get("Vary"); got != "Accept-Encoding" {
				t.Errorf("Vary = %q; want Accept-Encoding", got)
			}
			want, enc := plain, ""
			if tt.gzipped {
				want, enc = swaggerBundleJSGz, "gzip"
			}
			if got := r.header.Get("Content-Encoding"); got != enc {
				t.Errorf("Content-Encoding = %q; want %q", got, enc)
			}
			// http.ServeContent leaves an encoded body's length to the
			// transfer (chunked), as it cannot know what a range of it is.
			wantLength := strconv.Itoa(len(want))
			if tt.gzipped {
				wantLength = ""
			}
			if got := r.header.Get("Content-Length"); got != wantLength {
				t.Errorf("Content-Length = %s; want %q", got, wantLength)
			}
			if !bytes.Equal(r.body, want) {
				t.Errorf("body: %d bytes, not the %d expected", len(r.body), len(want))
			}
			etag := r.header.Get("ETag")
			etags = append(etags, etag)
			ts.mustStatus(t, req{method: "GET", path: "/docs/swagger-ui-bundle.js",
				header: http.Header{"Accept-Encoding": {tt.acceptEncoding}, "If-None-Match": {etag}}}, http.StatusNotModified)
			h := ts.mustStatus(t, req{method: "HEAD", path: "/docs/swagger-ui-bundle.js",
				header: http.Header{"Accept-Encoding": {tt.acceptEncoding}}}, http.StatusOK)
			if len(h.body) != 0 || h.header.Get("Content-Length") != wantLength {
				t.Errorf("HEAD: %d body bytes, Content-Length %s", len(h.body), h.header.Get("Content-Length"))
			}
		})
	}
	if slices.Sort(etags); len(slices.Compact(etags)) != 2 {
		t.Errorf("ETags %q; want one per encoding", etags)
	}

	// Git must not track any file over 1 MiB.
	entries, err := os.ReadDir("swaggerui")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		if info.Size() > 1<<20 {
			t.Errorf("%s is %d bytes; files must stay under 1 MiB", filepath.Join("swaggerui", e.Name()), info.Size())
		}
	}
}

func TestAcceptsGzip(t *testing.T) {
	tests := []struct {
		header []string
		want   bool
	}{
		{nil, false},
		{[]string{""}, false},
		{[]string{"gzip"}, true},
		{[]string{"x-gzip"}, true},
		{[]string{" Gzip ; Q=0.001 "}, true},
		{[]string{"gzip;q=0.000"}, false},
		{[]string{"gzip;q=nonsense"}, false},
		{[]string{"deflate", "gzip"}, true},
		{[]string{"*;q=0.1"}, true},
		{[]string{"gzip;q=0", "*"}, false},
		{[]string{"gzip;q=0,gzip;q=1"}, true},
		{[]string{"gzipx"}, false},
		{[]string{",,;;=,"}, false},
	}
	for _, tt := range tests {
		if got := acceptsGzip(tt.header); got != tt.want {
			t.Errorf("acceptsGzip(%q) = %v; want %v", tt.header, got, tt.want)
		}
	}
}

func TestOpenAPILicenseIsTheRepositorys(t *testing.T) {
	// One truth: the license /openapi.json declares is the one in LICENSE.
	b, err := os.ReadFile(filepath.Join("..", "..", "LICENSE"))
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(string(b), "\n")
	spdx := map[string]string{"MIT License": "MIT", "Apache License": "Apache-2.0"}[strings.TrimSpace(first)]
	if spdx == "" {
		t.Fatalf("LICENSE starts with %q: a license this test does not know; add its SPDX identifier", first)
	}
	var doc struct {
		Info struct {
			License struct{ Name, Identifier string } `json:"license"`
		} `json:"info"`
	}
	if err := json.Unmarshal(openAPIJSON, &doc); err != nil {
		t.Fatal(err)
	}
	if l := doc.Info.License; l.Identifier != spdx || l.Name != spdx {
		t.Errorf("/openapi.json license = %+v; want name and identifier %q, as LICENSE", l, spdx)
	}
}

func TestAssetConditionalAndRange(t *testing.T) {
	// http.ServeContent's validators and ranges, on a plain and on a
	// gzipped asset (decompressed for a client that does not accept gzip).
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte("0123456789"))
	zw.Close()
	plain := newAsset([]byte("abcdefghij"), ctText, false)
	zipped := newAsset(gz.Bytes(), ctJS, true)
	tests := []struct {
		name       string
		a          *asset
		method     string
		header     map[string]string
		wantStatus int
		wantBody   string
	}{
		{"whole", plain, "GET", nil, 200, "abcdefghij"},
		{"head", plain, "HEAD", nil, 200, ""},
		{"range", plain, "GET", map[string]string{"Range": "bytes=2-4"}, 206, "cde"},
		{"suffix range", plain, "GET", map[string]string{"Range": "bytes=-3"}, 206, "hij"},
		{"unsatisfiable range", plain, "GET", map[string]string{"Range": "bytes=20-30"}, 416, "invalid range: failed to overlap\n"},
		{"etag", plain, "GET", map[string]string{"If-None-Match": plain.etag}, 304, ""},
		{"weak etag", plain, "GET", map[string]string{"If-None-Match": "W/" + plain.etag}, 304, ""},
		{"star", plain, "GET", map[string]string{"If-None-Match": "*"}, 304, ""},
		{"other etag", plain, "GET", map[string]string{"If-None-Match": `"x", "y"`}, 200, "abcdefghij"},
		{"gzip etag for identity", zipped, "GET", map[string]string{"If-None-Match": strings.TrimSuffix(zipped.etag, `"`) + `-gzip"`}, 200, "0123456789"},
		{"identity range of a gzipped asset", zipped, "GET", map[string]string{"Range": "bytes=8-"}, 206, "89"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, "/docs/x", nil)
			for k, v := range tt.header {
				r.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			tt.a.ServeHTTP(w, r)
			if w.Code != tt.wantStatus || w.Body.String() != tt.wantBody {
				t.Errorf("%s %v: %d %q; want %d %q", tt.method, tt.header, w.Code, w.Body, tt.wantStatus, tt.wantBody)
			}
		})
	}
}

func FuzzAcceptsGzip(f *testing.F) {
	for _, s := range []string{"gzip", "gzip;q=0", "*;q=0.5, br", "x-gzip;q=1;q=0", ";", "gzip;q=1e400"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		got := acceptsGzip([]string{h})
		if got && !strings.Contains(strings.ToLower(h), "gzip") && !strings.Contains(h, "*") {
			t.Errorf("acceptsGzip(%q) = true without gzip or *", h)
		}
		// Refusing gzip explicitly after the header always wins over *.
		if acceptsGzip([]string{h, "gzip;q=0"}) && strings.Count(strings.ToLower(h), "gzip") == 0 {
			t.Errorf("acceptsGzip(%q, gzip;q=0) = true", h)
		}
	})
}

// BenchmarkDocsBundle serves the gzip-compressed bundle as browsers ask for
// it, and decompressed to a client that does not accept gzip.
func BenchmarkDocsBundle(b *testing.B) {
	mux := http.NewServeMux()
	addDocsRoutes(func(p string, h http.Handler) { mux.Handle(p, h) })
	for _, enc := range []string{"gzip, deflate, br", "identity"} {
		b.Run(enc, func(b *testing.B) {
			r := httptest.NewRequest("GET", "/docs/swagger-ui-bundle.js", nil)
			r.Header.Set("Accept-Encoding", enc)
			b.ReportAllocs()
			for b.Loop() {
				w := &docDiscardWriter{h: http.Header{}}
				mux.ServeHTTP(w, r)
				if w.code != http.StatusOK {
					b.Fatal(w.code)
				}
			}
		})
	}
}

// docDiscardWriter is a ResponseWriter that keeps only the status.
type docDiscardWriter struct {
	h    http.Header
	code int
}

func (w *docDiscardWriter) Header() http.Header { return w.h }
func (w *docDiscardWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}
func (w *docDiscardWriter) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return len(b), nil
}
