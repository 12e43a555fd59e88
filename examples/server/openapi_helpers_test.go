package main

// Helpers of the OpenAPI tests (docs_test.go): the parsed document, its
// operations and $refs, the validator of instances against its schemas, and
// docChecker, which holds real responses to the document.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// ---------------------------------------------------------------------------
// The document.

// apiDoc is the parsed OpenAPI document. Numbers stay json.Numbers so int64
// bounds keep their precision.
type apiDoc map[string]any

func loadOpenAPI(t testing.TB) apiDoc {
	t.Helper()
	v, err := docDecodeJSON(openAPIJSON)
	if err != nil {
		t.Fatalf("openapi.json is not valid JSON: %v", err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("openapi.json is %T; want an object", v)
	}
	return apiDoc(m)
}

// docDecodeJSON decodes one JSON value, keeping numbers as json.Number and
// refusing trailing data.
func docDecodeJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("trailing data after the JSON value")
	}
	return v, nil
}

var docMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// docOperation is one method of one path of the document.
type docOperation struct {
	method string // upper case
	path   string // template, e.g. /api/organizations/{id}
	op     map[string]any
	params []any // path-level then operation-level parameters
}

func (o docOperation) String() string { return o.method + " " + o.path }

// operations lists the document's operations, sorted.
func (d apiDoc) operations(t testing.TB) []docOperation {
	t.Helper()
	paths, ok := d["paths"].(map[string]any)
	if !ok {
		t.Fatal("document has no paths object")
	}
	var ops []docOperation
	for p, v := range paths {
		item, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("path %s is not an object", p)
		}
		shared, _ := item["parameters"].([]any)
		for k, v := range item {
			if !slices.Contains(docMethods, k) {
				continue
			}
			op, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("%s %s is not an object", k, p)
			}
			own, _ := op["parameters"].([]any)
			ops = append(ops, docOperation{method: strings.ToUpper(k), path: p, op: op, params: append(slices.Clone(shared), own...)})
		}
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].String() < ops[j].String() })
	return ops
}

// resolve follows a local $ref ("#/components/...") until it reaches a
// value without one.
func (d apiDoc) resolve(v any) (any, error) {
	for range 16 {
		m, ok := v.(map[string]any)
		if !ok {
			return v, nil
		}
		ref, ok := m["$ref"].(string)
		if !ok {
			return v, nil
		}
		if !strings.HasPrefix(ref, "#/") {
			return nil, fmt.Errorf("$ref %q is not local", ref)
		}
		var cur any = map[string]any(d)
		for _, part := range strings.Split(ref[2:], "/") {
			part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
			cm, ok := cur.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("$ref %q does not resolve", ref)
			}
			if cur, ok = cm[part]; !ok {
				return nil, fmt.Errorf("$ref %q does not resolve", ref)
			}
		}
		v = cur
	}
	return nil, fmt.Errorf("$ref chain too long")
}

func (d apiDoc) mustResolve(t testing.TB, v any) map[string]any {
	t.Helper()
	r, err := d.resolve(v)
	if err != nil {
		t.Fatal(err)
	}
	m, ok := r.(map[string]any)
	if !ok {
		t.Fatalf("%v resolves to %T; want an object", v, r)
	}
	return m
}

// find returns the operation whose method and path template match a
// request.
func (d apiDoc) find(t testing.TB, method, path string) (docOperation, bool) {
	t.Helper()
	got := strings.Split(path, "/")
	for _, o := range d.operations(t) {
		if o.method != method {
			continue
		}
		tmpl := strings.Split(o.path, "/")
		if len(tmpl) != len(got) {
			continue
		}
		match := true
		for i, s := range tmpl {
			if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
				match = match && got[i] != ""
			} else {
				match = match && s == got[i]
			}
		}
		if match {
			return o, true
		}
	}
	return docOperation{}, false
}

// ---------------------------------------------------------------------------
// A JSON Schema validator for the subset of draft 2020-12 the document uses.
// A keyword it does not know is an error, so the document cannot grow
// constraints the tests would silently skip.

var schemaKeywords = map[string]bool{
	"$ref": true, "type": true, "enum": true, "const": true, "format": true,
	"required": true, "properties": true, "additionalProperties": true,
	"items": true, "minItems": true, "maxItems": true,
	"minLength": true, "maxLength": true, "pattern": true, "minimum": true, "maximum": true,
	"description": true, "title": true, "examples": true,
}

// schemaValidator checks instances against the document's schemas. strict also
// refuses object members a schema does not declare, even where it allows
// them: responses must not carry fields the document does not describe.
type schemaValidator struct {
	doc    apiDoc
	strict bool
}

// validate returns every problem with v, each prefixed by its JSON path.
func (vd schemaValidator) validate(schema, v any, at string) []string {
	s, err := vd.doc.resolve(schema)
	if err != nil {
		return []string{at + ": " + err.Error()}
	}
	if b, ok := s.(bool); ok {
		if !b {
			return []string{at + ": no value is allowed"}
		}
		return nil
	}
	sm, ok := s.(map[string]any)
	if !ok {
		return []string{fmt.Sprintf("%s: schema is %T", at, s)}
	}
	var errs []string
	fail := func(format string, args ...any) { errs = append(errs, at+": "+fmt.Sprintf(format, args...)) }
	for k := range sm {
		if !schemaKeywords[k] {
			fail("schema keyword %q is not supported by the test validator", k)
		}
	}
	if ty, ok := sm["type"]; ok {
		var types []string
		switch ty := ty.(type) {
		case string:
			types = []string{ty}
		case []any:
			for _, x := range ty {
				s, _ := x.(string)
				types = append(types, s)
			}
		}
		if !slices.ContainsFunc(types, func(ty string) bool { return docHasType(v, ty) }) {
			fail("%s is not of type %v", docShort(v), types)
			return errs
		}
	}
	if e, ok := sm["enum"].([]any); ok && !slices.ContainsFunc(e, func(x any) bool { return docJSONEqual(x, v) }) {
		fail("%s is not one of %v", docShort(v), e)
	}
	if c, ok := sm["const"]; ok && !docJSONEqual(c, v) {
		fail("%s is not %v", docShort(v), c)
	}
	switch v := v.(type) {
	case string:
		n := utf8.RuneCountInString(v)
		if m, ok := docSchemaInt(sm, "minLength"); ok && n < m {
			fail("%q is shorter than %d", v, m)
		}
		if m, ok := docSchemaInt(sm, "maxLength"); ok && n > m {
			fail("%q is longer than %d", v, m)
		}
		if p, ok := sm["pattern"].(string); ok {
			re, err := regexp.Compile(p)
			switch {
			case err != nil:
				fail("pattern %q does not compile: %v", p, err)
			case !re.MatchString(v):
				fail("%q does not match %q", v, p)
			}
		}
		switch sm["format"] {
		case "date-time":
			if ts, err := time.Parse(time.RFC3339Nano, v); err != nil || !strings.HasSuffix(v, "Z") || ts.Location() != time.UTC {
				fail("%q is not an RFC 3339 time in UTC with Z", v)
			}
		case "email":
			local, domain, ok := strings.Cut(v, "@")
			if !ok || local == "" || !strings.Contains(domain, ".") || strings.ContainsAny(v, " \t\r\n<>") || strings.Count(v, "@") != 1 {
				fail("%q is not an email address", v)
			}
		}
	case json.Number:
		if sm["format"] == "int64" {
			if _, err := strconv.ParseInt(v.String(), 10, 64); err != nil {
				fail("%s is not an int64", v)
			}
		}
		if m, ok := sm["minimum"].(json.Number); ok && docNumCmp(v, m) < 0 {
			fail("%s is less than %s", v, m)
		}
		if m, ok := sm["maximum"].(json.Number); ok && docNumCmp(v, m) > 0 {
			fail("%s is more than %s", v, m)
		}
	case []any:
		if m, ok := docSchemaInt(sm, "minItems"); ok && len(v) < m {
			fail("%d items; want at least %d", len(v), m)
		}
		if m, ok := docSchemaInt(sm, "maxItems"); ok && len(v) > m {
			fail("%d items; want at most %d", len(v), m)
		}
		if items, ok := sm["items"]; ok {
			for i, x := range v {
				errs = append(errs, vd.validate(items, x, fmt.Sprintf("%s[%d]", at, i))...)
			}
		}
	case map[string]any:
		req, _ := sm["required"].([]any)
		for _, r := range req {
			if name, _ := r.(string); !docHasKey(v, name) {
				fail("required member %q is missing", name)
			}
		}
		props, _ := sm["properties"].(map[string]any)
		for _, k := range docSortedKeys(v) {
			if ps, ok := props[k]; ok {
				errs = append(errs, vd.validate(ps, v[k], at+"."+k)...)
				continue
			}
			switch ap := sm["additionalProperties"].(type) {
			case bool:
				if !ap {
					fail("member %q is not allowed", k)
				}
			case map[string]any:
				errs = append(errs, vd.validate(ap, v[k], at+"."+k)...)
				continue
			}
			if vd.strict && sm["additionalProperties"] == nil {
				fail("member %q is not described by the document", k)
			}
		}
	}
	return errs
}

func docHasType(v any, ty string) bool {
	switch ty {
	case "null":
		return v == nil
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "string":
		_, ok := v.(string)
		return ok
	case "number":
		_, ok := v.(json.Number)
		return ok
	case "integer":
		n, ok := v.(json.Number)
		if !ok {
			return false
		}
		f, _, err := big.ParseFloat(n.String(), 10, 256, big.ToNearestEven)
		return err == nil && f.IsInt()
	case "array":
		_, ok := v.([]any)
		return ok
	case "object":
		_, ok := v.(map[string]any)
		return ok
	}
	return false
}

func docNumCmp(a, b json.Number) int {
	x, _, errA := big.ParseFloat(a.String(), 10, 256, big.ToNearestEven)
	y, _, errB := big.ParseFloat(b.String(), 10, 256, big.ToNearestEven)
	if errA != nil || errB != nil {
		return 0
	}
	return x.Cmp(y)
}

func docJSONEqual(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

func docSchemaInt(s map[string]any, k string) (int, bool) {
	n, ok := s[k].(json.Number)
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(n.String())
	return i, err == nil
}

func docHasKey(m map[string]any, k string) bool { _, ok := m[k]; return ok }

func docSortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func docShort(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 80 {
		return string(b[:77]) + "..."
	}
	return string(b)
}

// docChecker validates responses of one server against the document and
// remembers which operations and statuses were seen.
type docChecker struct {
	t    *testing.T
	ts   *testServer
	doc  apiDoc
	seen map[string]map[string]bool // docOperation -> statuses
}

// call sends q, wants status, and checks the response against the
// document: the status is documented for the docOperation, the content type is
// one it lists, the body validates (strictly), and required headers are
// present and valid.
func (c *docChecker) call(q req, want int) response {
	t := c.t
	t.Helper()
	r := c.ts.do(t, q)
	path, _, _ := strings.Cut(q.path, "?")
	name := q.method + " " + q.path
	if r.status != want {
		t.Errorf("%s = %d %s; want %d", name, r.status, r.body, want)
		return r
	}
	o, ok := c.doc.find(t, q.method, path)
	if !ok {
		t.Errorf("%s: no operation in the document", name)
		return r
	}
	if c.seen[o.String()] == nil {
		c.seen[o.String()] = map[string]bool{}
	}
	code := strconv.Itoa(r.status)
	c.seen[o.String()][code] = true
	res, _ := o.op["responses"].(map[string]any)
	spec, ok := res[code]
	if !ok {
		t.Errorf("%s: status %d is not documented for %s", name, r.status, o)
		return r
	}
	rs := c.doc.mustResolve(t, spec)
	content, _ := rs["content"].(map[string]any)
	if len(content) == 0 {
		if len(r.body) != 0 {
			t.Errorf("%s %d: body %q where the document has none", name, r.status, r.body)
		}
		return r
	}
	ct := r.header.Get("Content-Type")
	mt, _, _ := strings.Cut(ct, ";")
	media, ok := content[strings.TrimSpace(mt)].(map[string]any)
	if !ok {
		t.Errorf("%s: content type %q is not documented (have %v)", name, ct, docSortedKeys(content))
		return r
	}
	if strings.HasSuffix(mt, "json") {
		v, err := docDecodeJSON(r.body)
		if err != nil {
			t.Errorf("%s: body is not JSON: %v", name, err)
			return r
		}
		if errs := (schemaValidator{doc: c.doc, strict: true}).validate(media["schema"], v, "$"); len(errs) > 0 {
			t.Errorf("%s %d: body %s does not match the document:\n  %s", name, r.status, docShort(v), strings.Join(errs, "\n  "))
		}
	}
	headers, _ := rs["headers"].(map[string]any)
	for _, h := range docSortedKeys(headers) {
		hs := c.doc.mustResolve(t, headers[h])
		val, present := r.header[http.CanonicalHeaderKey(h)]
		if !present {
			if hs["required"] == true {
				t.Errorf("%s %d: header %s is missing", name, r.status, h)
			}
			continue
		}
		if errs := (schemaValidator{doc: c.doc}).validate(hs["schema"], val[0], h); len(errs) > 0 {
			t.Errorf("%s %d: header: %q", name, r.status, errs)
		}
	}
	return r
}
