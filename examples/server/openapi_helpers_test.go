package main

// Helpers of the OpenAPI tests (docs_test.go): the parsed document, its
// operations and $refs, the validator of instances against its schemas, and
// docChecker, which holds real responses to the document.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
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
// Validation of instances against the document's schemas, by
// github.com/santhosh-tekuri/jsonschema/v6: OpenAPI 3.1 schemas are JSON
// Schema 2020-12. The whole document is one resource, so
// "#/components/schemas/X" refs resolve as they do for any reader of it.

// schemaKeywords are the JSON Schema keywords the document uses. A keyword
// outside the list fails TestOpenAPIDocument: JSON Schema ignores a keyword
// it does not know, so a misspelt one ("minLenght") would constrain nothing.
var schemaKeywords = map[string]bool{
	"$ref": true, "type": true, "enum": true, "const": true, "format": true,
	"required": true, "properties": true, "additionalProperties": true,
	"items": true, "minItems": true, "maxItems": true,
	"minLength": true, "maxLength": true, "pattern": true, "minimum": true, "maximum": true,
	"description": true, "title": true, "examples": true,
}

// openAPIBase is the URL the document is known by to the compiler; nothing
// is fetched from it.
const openAPIBase = "https://tenantkit.invalid/openapi.json"

// schemaValidator checks instances against the document's schemas. strict
// also refuses object members a schema does not declare, even where it
// allows them (no additionalProperties): responses must not carry fields
// the document does not describe. It does so by validating against a copy
// of the document whose object schemas without additionalProperties get
// "unevaluatedProperties": false.
type schemaValidator struct {
	c      *jsonschema.Compiler
	cache  map[string]*jsonschema.Schema
	strict bool
}

// newSchemaValidator compiles against doc, which it does not change.
func newSchemaValidator(t testing.TB, doc apiDoc, strict bool) *schemaValidator {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	for _, f := range apiFormats {
		c.RegisterFormat(f)
	}
	var root any = map[string]any(doc)
	if strict {
		root = closeSchemas(root, false)
	}
	if err := c.AddResource(openAPIBase, root); err != nil {
		t.Fatal(err)
	}
	return &schemaValidator{c: c, cache: map[string]*jsonschema.Schema{}, strict: strict}
}

// validate returns every problem with v against schema (a schema of the
// document, inline or a $ref), each line naming its JSON location.
func (vd *schemaValidator) validate(schema, v any) []string {
	if vd.strict {
		schema = closeSchema(schema)
	}
	abs := absoluteRefs(schema)
	key, err := json.Marshal(abs)
	if err != nil {
		return []string{err.Error()}
	}
	sch, ok := vd.cache[string(key)]
	if !ok {
		url := fmt.Sprintf("https://tenantkit.invalid/inline/%d.json", len(vd.cache))
		if err := vd.c.AddResource(url, abs); err != nil {
			return []string{err.Error()}
		}
		if sch, err = vd.c.Compile(url); err != nil {
			return []string{"schema does not compile: " + err.Error()}
		}
		vd.cache[string(key)] = sch
	}
	if err := sch.Validate(v); err != nil {
		return strings.Split(err.Error(), "\n")
	}
	return nil
}

// absoluteRefs returns a copy of the schema s whose local refs
// ("#/components/...") name the document, so s can be compiled on its own.
func absoluteRefs(s any) any {
	switch s := s.(type) {
	case map[string]any:
		out := make(map[string]any, len(s))
		for k, v := range s {
			if ref, ok := v.(string); ok && k == "$ref" && strings.HasPrefix(ref, "#") {
				v = openAPIBase + ref
			}
			out[k] = absoluteRefs(v)
		}
		return out
	case []any:
		out := make([]any, len(s))
		for i, v := range s {
			out[i] = absoluteRefs(v)
		}
		return out
	}
	return s
}

// closeSchemas returns a copy of the document v with every schema in it
// closed (closeSchema). inSchemas tells that v is the members of
// #/components/schemas.
func closeSchemas(v any, inSchemas bool) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, c := range v {
			switch {
			case inSchemas || k == "schema":
				out[k] = closeSchema(c)
			default:
				out[k] = closeSchemas(c, false)
			}
		}
		if s, ok := v["components"].(map[string]any); ok {
			if schemas, ok := s["schemas"]; ok {
				comps := out["components"].(map[string]any)
				comps["schemas"] = closeSchemas(schemas, true)
			}
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, c := range v {
			out[i] = closeSchemas(c, false)
		}
		return out
	}
	return v
}

// closeSchema returns a copy of the schema s in which every object schema
// that does not say what other members may be (additionalProperties) allows
// none, at every depth.
func closeSchema(s any) any {
	m, ok := s.(map[string]any)
	if !ok {
		return s
	}
	out := maps.Clone(m)
	if _, ok := m["properties"]; ok {
		if _, ok := m["additionalProperties"]; !ok {
			out["unevaluatedProperties"] = false
		}
	}
	if props, ok := m["properties"].(map[string]any); ok {
		closed := make(map[string]any, len(props))
		for k, p := range props {
			closed[k] = closeSchema(p)
		}
		out["properties"] = closed
	}
	for _, k := range []string{"items", "additionalProperties"} {
		if c, ok := m[k].(map[string]any); ok {
			out[k] = closeSchema(c)
		}
	}
	return out
}

// apiFormats are the formats of API.md, stricter than JSON Schema's own:
// times are RFC 3339 in UTC with a Z, an email's domain has a dot, and
// int64 is OpenAPI's.
var apiFormats = []*jsonschema.Format{
	{Name: "date-time", Validate: func(v any) error {
		s, ok := v.(string)
		if !ok {
			return nil
		}
		if ts, err := time.Parse(time.RFC3339Nano, s); err != nil || !strings.HasSuffix(s, "Z") || ts.Location() != time.UTC {
			return fmt.Errorf("%q is not an RFC 3339 time in UTC with Z", s)
		}
		return nil
	}},
	{Name: "email", Validate: func(v any) error {
		s, ok := v.(string)
		if !ok {
			return nil
		}
		local, domain, ok := strings.Cut(s, "@")
		if !ok || local == "" || !strings.Contains(domain, ".") || strings.ContainsAny(s, " \t\r\n<>") || strings.Count(s, "@") != 1 {
			return fmt.Errorf("%q is not an email address", s)
		}
		return nil
	}},
	{Name: "int64", Validate: func(v any) error {
		n, ok := v.(json.Number)
		if !ok {
			return nil
		}
		if _, err := strconv.ParseInt(n.String(), 10, 64); err != nil {
			return fmt.Errorf("%s is not an int64", n)
		}
		return nil
	}},
}

func docSchemaInt(s map[string]any, k string) (int, bool) {
	n, ok := s[k].(json.Number)
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(n.String())
	return i, err == nil
}

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
	// strict validates bodies, lax headers.
	strict, lax *schemaValidator
}

// newDocChecker returns a docChecker of ts against openapi.json.
func newDocChecker(t *testing.T, ts *testServer) *docChecker {
	doc := loadOpenAPI(t)
	return &docChecker{t: t, ts: ts, doc: doc, seen: map[string]map[string]bool{},
		strict: newSchemaValidator(t, doc, true), lax: newSchemaValidator(t, doc, false)}
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
		if errs := c.strict.validate(media["schema"], v); len(errs) > 0 {
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
		if errs := c.lax.validate(hs["schema"], val[0]); len(errs) > 0 {
			t.Errorf("%s %d: header: %q", name, r.status, errs)
		}
	}
	return r
}
