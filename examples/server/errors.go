package main

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/tenantkit/tenantkit/auth"
	"github.com/tenantkit/tenantkit/tenancy"
)

// problem is an RFC 9457 problem details body.
type problem struct {
	Type   string       `json:"type"`
	Title  string       `json:"title"`
	Status int          `json:"status"`
	Detail string       `json:"detail"`
	Errors []FieldError `json:"errors,omitempty"`
}

// errorCode is one row of the error table: the status an error maps to, a
// fixed human sentence, and headers that go with it.
type errorCode struct {
	err    error
	status int
	detail string
	header [2]string // optional header name and value
}

// errorCodes is the one table that maps domain, library and envelope
// errors to HTTP statuses. The first row whose err matches (errors.Is)
// answers. Details are fixed sentences: problem bodies never carry
// per-request values, SQL, paths or secrets.
var errorCodes = []errorCode{
	{err: errUnsupportedMediaType, status: http.StatusUnsupportedMediaType, detail: "Request bodies must be application/json."},
	{err: errAuthBodyTooLarge, status: http.StatusRequestEntityTooLarge, detail: "Login and registration bodies are at most 8 KiB."},
	{err: errBodyTooLarge, status: http.StatusRequestEntityTooLarge, detail: "The request body is larger than 1 MiB."},
	{err: ErrConflict, status: http.StatusConflict, detail: "That value is already taken."},
	{err: ErrInProgress, status: http.StatusConflict, detail: "An earlier request for this resource is still in progress; retry shortly.", header: [2]string{"Retry-After", "2"}},
	{err: ErrNotFound, status: http.StatusNotFound, detail: "No such resource."},
	{err: ErrUnauthorized, status: http.StatusUnauthorized, detail: "Invalid credentials.", header: [2]string{"WWW-Authenticate", "Bearer"}},
	{err: auth.ErrBusy, status: http.StatusServiceUnavailable, detail: "Too many passwords are being checked; retry shortly.", header: [2]string{"Retry-After", "2"}},
	{err: ErrUnavailable, status: http.StatusServiceUnavailable, detail: "The service is temporarily unavailable.", header: [2]string{"Retry-After", "5"}},
	{err: auth.ErrNoToken, status: http.StatusUnauthorized, detail: "A valid bearer token is required.", header: [2]string{"WWW-Authenticate", "Bearer"}},
	{err: auth.ErrInvalidToken, status: http.StatusUnauthorized, detail: "A valid bearer token is required.", header: [2]string{"WWW-Authenticate", "Bearer"}},
	{err: tenancy.ErrNoTenant, status: http.StatusBadRequest, detail: "The X-Tenant header is required."},
	{err: tenancy.ErrInvalidTenant, status: http.StatusBadRequest, detail: "The X-Tenant header must be an organization id or slug."},
	{err: tenancy.ErrUnknownTenant, status: http.StatusNotFound, detail: "No such organization."},
	{err: tenancy.ErrTenantNotReady, status: http.StatusServiceUnavailable, detail: "The organization is being provisioned; retry shortly.", header: [2]string{"Retry-After", "2"}},
	{err: tenancy.ErrTenantSuspended, status: http.StatusForbidden, detail: "The organization is suspended."},
	{err: ErrQuotaExceeded, status: http.StatusForbidden, detail: "You own as many organizations as allowed; delete one to create another."},
}

// writeError answers err as a problem. Unknown errors are logged and
// answered 500 without detail.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	var rl *RateLimitError
	if errors.As(err, &rl) {
		w.Header().Set("Retry-After", retryAfterSeconds(rl.RetryAfter))
		writeProblem(w, problem{Status: http.StatusTooManyRequests, Detail: "Too many failed logins; retry later."})
		return
	}
	var cr *CreateRateError
	if errors.As(err, &cr) {
		w.Header().Set("Retry-After", retryAfterSeconds(cr.RetryAfter))
		writeProblem(w, problem{Status: http.StatusTooManyRequests, Detail: "Too many organizations created; retry later."})
		return
	}
	var regl *RegisterLimitError
	if errors.As(err, &regl) {
		w.Header().Set("Retry-After", retryAfterSeconds(regl.RetryAfter))
		writeProblem(w, problem{Status: http.StatusTooManyRequests, Detail: "Too many registrations from this address; retry later."})
		return
	}
	var verr *ValidationError
	if errors.As(err, &verr) {
		writeProblem(w, problem{
			Status: http.StatusUnprocessableEntity,
			Detail: "The request body is invalid.",
			Errors: verr.Errors,
		})
		return
	}
	for _, c := range errorCodes {
		if errors.Is(err, c.err) {
			if c.header[0] != "" {
				w.Header().Set(c.header[0], c.header[1])
			}
			if c.status >= 500 {
				log.LogAttrs(r.Context(), slog.LevelWarn, "request failed", slog.String("err", err.Error()))
			}
			writeProblem(w, problem{Status: c.status, Detail: c.detail})
			return
		}
	}
	log.LogAttrs(r.Context(), slog.LevelError, "request failed", slog.String("err", err.Error()))
	writeProblem(w, problem{Status: http.StatusInternalServerError, Detail: "Internal server error."})
}

// writeProblem writes p as application/problem+json, filling in type and
// title.
func writeProblem(w http.ResponseWriter, p problem) {
	if p.Type == "" {
		p.Type = "about:blank"
	}
	p.Title = http.StatusText(p.Status)
	if p.Detail == "" {
		p.Detail = p.Title + "."
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// writeJSON writes v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// retryAfterSeconds is a Retry-After value: d in whole seconds, rounded
// up, at least 1.
func retryAfterSeconds(d time.Duration) string {
	return strconv.FormatInt(max(int64((d+time.Second-1)/time.Second), 1), 10)
}
