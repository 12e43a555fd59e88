package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"
)

// maxBodyBytes is the largest request body accepted (API.md: 1 MiB);
// maxAuthBodyBytes the largest login or registration body (8 KiB), read
// before any password hashing.
const (
	maxBodyBytes     = 1 << 20
	maxAuthBodyBytes = 8 << 10
)

// Errors of the request envelope, before the body is looked at.
// errAuthBodyTooLarge also matches errBodyTooLarge.
var (
	errUnsupportedMediaType = errors.New("unsupported media type")
	errBodyTooLarge         = errors.New("request body too large")
	errAuthBodyTooLarge     = fmt.Errorf("%w for a login or registration", errBodyTooLarge)
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
	return decodeLimited(w, r, maxBodyBytes, errBodyTooLarge, fields)
}

// decodeAuthObject is decodeObject for login and registration bodies: at
// most maxAuthBodyBytes, else errAuthBodyTooLarge, before any of it is
// parsed.
func decodeAuthObject(w http.ResponseWriter, r *http.Request, fields ...field) error {
	return decodeLimited(w, r, maxAuthBodyBytes, errAuthBodyTooLarge, fields)
}

// decodeLimited is decodeObject with a size limit and the error for a
// body over it.
func decodeLimited(w http.ResponseWriter, r *http.Request, limit int64, tooLarge error, fields []field) error {
	if !isJSON(r.Header.Get("Content-Type")) {
		return errUnsupportedMediaType
	}
	if r.ContentLength > limit {
		return tooLarge
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return tooLarge
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
		if loneSurrogate(raw) {
			// encoding/json would decode it as U+FFFD: two inputs, one
			// value. Refused like invalid UTF-8.
			verr.add(key, "must be valid Unicode text: no escaped lone surrogate")
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

// loneSurrogate reports whether a JSON string literal (with its quotes,
// already known to be valid) holds a \u escape of a UTF-16 surrogate
// (D800 to DFFF) that is not a high one followed at once by an escaped low
// one.
func loneSurrogate(lit []byte) bool {
	for i := 0; i < len(lit); i++ {
		if lit[i] != '\\' {
			continue
		}
		if i+1 >= len(lit) || lit[i+1] != 'u' {
			i++ // a two-character escape: skip the escaped character
			continue
		}
		c, ok := hex4(lit, i+2)
		if !ok {
			return false // not valid JSON: the caller already refused it
		}
		i += 5 // on the last hex digit
		switch {
		case c >= 0xDC00 && c <= 0xDFFF:
			return true // a low surrogate first
		case c >= 0xD800 && c <= 0xDBFF:
			if i+2 >= len(lit) || lit[i+1] != '\\' || lit[i+2] != 'u' {
				return true
			}
			lo, ok := hex4(lit, i+3)
			if !ok || lo < 0xDC00 || lo > 0xDFFF {
				return true
			}
			i += 6
		}
	}
	return false
}

// hex4 parses the four hex digits of a \u escape at b[i:i+4].
func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var c rune
	for _, h := range b[i : i+4] {
		switch {
		case h >= '0' && h <= '9':
			c = c<<4 | rune(h-'0')
		case h >= 'a' && h <= 'f':
			c = c<<4 | rune(h-'a'+10)
		case h >= 'A' && h <= 'F':
			c = c<<4 | rune(h-'A'+10)
		default:
			return 0, false
		}
	}
	return c, true
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
