package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"
)

// maxBodyBytes is the largest request body accepted (API.md: 1 MiB).
const maxBodyBytes = 1 << 20

// Errors of the request envelope, before the body is looked at.
var (
	errUnsupportedMediaType = errors.New("unsupported media type")
	errBodyTooLarge         = errors.New("request body too large")
)

// field describes one member of a request object. Every field of this API
// is a JSON string.
type field struct {
	name     string
	required bool
	dst      **string // set to a pointer to the value when present
}

// decodeObject reads a JSON object body into fields. It enforces the
// conventions of API.md in their order: content type (errUnsupportedMediaType),
// size (errBodyTooLarge), then shape, reported all at once as a
// *ValidationError: not an object, trailing data, invalid UTF-8, duplicate
// or unknown keys, wrong types (null included) and missing required fields.
func decodeObject(w http.ResponseWriter, r *http.Request, fields ...field) error {
	if !isJSON(r.Header.Get("Content-Type")) {
		return errUnsupportedMediaType
	}
	if r.ContentLength > maxBodyBytes {
		return errBodyTooLarge
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errBodyTooLarge
		}
		return &ValidationError{Errors: []FieldError{{Field: "", Message: "could not read the request body"}}}
	}
	return parseObject(body, fields)
}

// parseObject is decodeObject's body parser, separate so it can be fuzzed.
func parseObject(body []byte, fields []field) error {
	var verr ValidationError
	bodyErr := func(msg string) error {
		verr.add("", msg)
		return &verr
	}
	if !utf8.Valid(body) {
		return bodyErr("body must be valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return bodyErr("body must be a JSON object")
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return bodyErr("body must be a JSON object")
	}
	seen := make(map[string]bool, len(fields))
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return bodyErr("body is not valid JSON")
		}
		key, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return bodyErr("body is not valid JSON")
		}
		if seen[key] {
			verr.add(key, "duplicate field")
			continue
		}
		seen[key] = true
		f, ok := lookupField(fields, key)
		if !ok {
			verr.add(key, "unknown field")
			continue
		}
		var s string
		if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
			verr.add(key, "must be a string")
			continue
		}
		*f.dst = &s
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return bodyErr("body is not valid JSON")
	}
	if _, err := dec.Token(); err != io.EOF {
		return bodyErr("body must hold a single JSON object")
	}
	for _, f := range fields {
		if f.required && !seen[f.name] {
			verr.add(f.name, "field required")
		}
	}
	return verr.err()
}

func lookupField(fields []field, key string) (field, bool) {
	for _, f := range fields {
		if f.name == key {
			return f, true
		}
	}
	return field{}, false
}

// isJSON reports whether a Content-Type is application/json, with at most
// a charset=utf-8 parameter (any case).
func isJSON(ct string) bool {
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return false
	}
	for k, v := range params {
		if k != "charset" || !strings.EqualFold(v, "utf-8") {
			return false
		}
	}
	return true
}
