// Package problem writes the RFC 9457 problem details that tenancy, auth
// and dbstrategy answer errors with, so the three packages (siblings that
// do not import each other) write the same bytes for the same kind of
// error.
package problem

import (
	"encoding/json"
	"net/http"
)

// ContentType is the media type of a problem details body.
const ContentType = "application/problem+json"

// body is an RFC 9457 problem details object. Type is always
// "about:blank", so Title is the status code's reason phrase (RFC 9457
// section 4.2.1) and Detail says what went wrong.
type body struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
}

// Write answers status with a problem details body whose detail is detail,
// a fixed text that must never hold per-request values or an error's text.
// Headers the caller set before are kept; Content-Type and
// X-Content-Type-Options are set here.
func Write(w http.ResponseWriter, status int, detail string) {
	b, err := json.Marshal(body{Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: detail})
	if err != nil { // strings and an int only: cannot happen
		b = []byte(`{"type":"about:blank"}`)
	}
	h := w.Header()
	h.Set("Content-Type", ContentType)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Del("Content-Length")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
