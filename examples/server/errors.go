package main

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/tenantkit/tenantkit/auth"
	"github.com/tenantkit/tenantkit/dbstrategy"
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
// fixed human sentence, and the Retry-After that goes with it. Every 401
// also carries WWW-Authenticate: Bearer.
type errorCode struct {
	err        error
	status     int // 0: the library's own (tenancy.HTTPStatus, auth.HTTPStatus)
	detail     string
	retryAfter string // seconds; "" for none
}

// errorCodes is the one table that maps domain, library and envelope
// errors to HTTP statuses. The first row whose err matches (errors.Is)
// answers. Details are fixed sentences: problem bodies never carry
// per-request values, SQL, paths or secrets. The library's errors keep the
// library's statuses but the server's sentences, and its Retry-After for a
// tenant being provisioned (2 s; tenancy's own handlers say 5).
var errorCodes = []errorCode{
	{errUnsupportedMediaType, http.StatusUnsupportedMediaType, "Request bodies must be application/json.", ""},
	{errAuthBodyTooLarge, http.StatusRequestEntityTooLarge, "Login and registration bodies are at most 8 KiB.", ""},
	{errBodyTooLarge, http.StatusRequestEntityTooLarge, "The request body is larger than 1 MiB.", ""},
	{ErrConflict, http.StatusConflict, "That value is already taken.", ""},
	{ErrInProgress, http.StatusConflict, "An earlier request for this resource is still in progress; retry shortly.", "2"},
	{ErrNotFound, http.StatusNotFound, "No such resource.", ""},
	{ErrUnauthorized, http.StatusUnauthorized, "Invalid credentials.", ""},
	{auth.ErrBusy, 0, "Too many passwords are being checked; retry shortly.", "2"},
	{ErrUnavailable, http.StatusServiceUnavailable, "The service is temporarily unavailable.", "5"},
	{ErrWritesPaused, http.StatusServiceUnavailable, "The organization is moving to another database server; retry shortly.", "1"},
	{dbstrategy.ErrSchemaBehind, http.StatusServiceUnavailable, "The organization's database is being upgraded; retry shortly.", "5"},
	{auth.ErrNoToken, 0, "A valid bearer token is required.", ""},
	{auth.ErrInvalidToken, 0, "A valid bearer token is required.", ""},
	{tenancy.ErrNoTenant, 0, "The X-Tenant header is required.", ""},
	{tenancy.ErrInvalidTenant, 0, "The X-Tenant header must be an organization id or slug.", ""},
	{tenancy.ErrUnknownTenant, 0, "No such organization.", ""},
	{tenancy.ErrTenantNotReady, 0, "The organization is being provisioned; retry shortly.", "2"},
	{tenancy.ErrTenantSuspended, 0, "The organization is suspended.", ""},
	{ErrQuotaExceeded, http.StatusForbidden, "You own as many organizations as allowed; delete one to create another.", ""},
}

// libraryStatus is the status package tenancy or auth maps err to, or 0.
func libraryStatus(err error) int {
	if code, _ := tenancy.HTTPStatus(err); code != 0 {
		return code
	}
	code, _ := auth.HTTPStatus(err)
	return code
}

// writeError answers err as a problem. Unknown errors are logged and
// answered 500 without detail; other 5xx answers are logged as warnings,
// a tenant whose schema is behind with the tenant and both versions.
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
		if !errors.Is(err, c.err) {
			continue
		}
		status := c.status
		if status == 0 {
			status = libraryStatus(err)
		}
		if c.retryAfter != "" {
			w.Header().Set("Retry-After", c.retryAfter)
		}
		if status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", "Bearer")
		}
		if status >= 500 {
			attrs := []slog.Attr{slog.String("err", err.Error())}
			var behind *dbstrategy.SchemaBehindError
			if errors.As(err, &behind) {
				attrs = append(attrs, slog.String("tenant", behind.TenantID),
					slog.Int64("schema_version", behind.Have), slog.Int64("want_version", behind.Want))
			}
			log.LogAttrs(r.Context(), slog.LevelWarn, "request failed", attrs...)
		}
		writeProblem(w, problem{Status: status, Detail: c.detail})
		return
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
