package tenancy

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/tenantkit/tenantkit/internal/problem"
)

// retryNotReady is the Retry-After, in seconds, of the answer to
// ErrTenantNotReady: provisioning takes a few seconds.
const retryNotReady = "5"

// statuses is the mapping of HTTPStatus, most specific error first.
var statuses = [...]struct {
	err     error
	code    int
	message string
}{
	{ErrNoTenant, http.StatusBadRequest, "missing tenant"},
	{ErrConflictingTenant, http.StatusBadRequest, "conflicting tenants"}, // before ErrInvalidTenant, which it wraps
	{ErrInvalidTenant, http.StatusBadRequest, "invalid tenant"},
	{ErrUnknownTenant, http.StatusNotFound, "unknown tenant"},
	{ErrTenantSuspended, http.StatusForbidden, "tenant suspended"},
	{ErrTenantNotReady, http.StatusServiceUnavailable, "tenant not ready"},
	{ErrIncompleteTenant, http.StatusInternalServerError, "tenant registry error"},
}

// HTTPStatus maps an error of this package to the HTTP status code it
// calls for and a short fixed message that says why, the mapping
// [DefaultErrorHandler] and [ProblemHandler] answer with:
//
//	ErrNoTenant           400  "missing tenant"
//	ErrConflictingTenant  400  "conflicting tenants"
//	ErrInvalidTenant      400  "invalid tenant"
//	ErrUnknownTenant      404  "unknown tenant"
//	ErrTenantSuspended    403  "tenant suspended"
//	ErrTenantNotReady     503  "tenant not ready" (answered with Retry-After: 5)
//	ErrIncompleteTenant   500  "tenant registry error"
//
// The first row that err matches (errors.Is) answers. For any other error,
// nil included, HTTPStatus returns 0 and "": the error is not this
// package's to classify (in [Middleware], such an error is a failure of the
// resolver or the lookup backend). The message never holds any part of
// err's text. Apps that write their own error responses use HTTPStatus so
// that they answer the errors of this package as the rest of the
// library does.
func HTTPStatus(err error) (code int, message string) {
	if err == nil {
		return 0, ""
	}
	for _, s := range statuses {
		if errors.Is(err, s.err) {
			return s.code, s.message
		}
	}
	return 0, ""
}

// lookupFailed is the answer to an error HTTPStatus does not classify:
// in Middleware, the resolver or the lookup backend failed.
const (
	lookupFailedCode    = http.StatusServiceUnavailable
	lookupFailedMessage = "tenant lookup unavailable"
)

// setHeaders sets the headers that go with err's status.
func setHeaders(h http.Header, err error) {
	if errors.Is(err, ErrTenantNotReady) {
		h.Set("Retry-After", retryNotReady)
	}
}

// ProblemHandler returns an error handler, for [WithErrorHandler] or for
// an app's own handlers, that answers the errors [HTTPStatus] classifies
// as application/problem+json (RFC 9457), with the same statuses and
// headers as [DefaultErrorHandler]:
//
//	{"type":"about:blank","title":"Not Found","status":404,"detail":"unknown tenant"}
//
// title is the status code's reason phrase and detail the message of
// HTTPStatus; neither ever holds any part of the error's text. Any other
// error goes to next, so handlers chain: with auth's handler of the same
// shape,
//
//	problems := tenancy.ProblemHandler(log, auth.ProblemHandler(log, appErrors))
//
// answers the errors of both packages alike and leaves the app's own to
// appErrors. A nil next answers any other error as DefaultErrorHandler
// does, 503 "tenant lookup unavailable", since in [Middleware] it is a
// failure of the resolver or the lookup backend.
//
// Every 5xx answer it writes is logged to log with the error's text
// (attribute "err"): at level Error for [ErrIncompleteTenant] (a bug in the
// registry; the text says which field it forgot) and Warn otherwise. A nil
// log logs nothing.
func ProblemHandler(log *slog.Logger, next func(w http.ResponseWriter, r *http.Request, err error)) func(w http.ResponseWriter, r *http.Request, err error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return func(w http.ResponseWriter, r *http.Request, err error) {
		code, message := HTTPStatus(err)
		if code == 0 {
			if next != nil {
				next(w, r, err)
				return
			}
			code, message = lookupFailedCode, lookupFailedMessage
		}
		if code >= 500 {
			level := slog.LevelWarn
			if errors.Is(err, ErrIncompleteTenant) {
				level = slog.LevelError
			}
			log.LogAttrs(r.Context(), level, "tenancy: request refused", slog.Int("status", code), slog.Any("err", err))
		}
		setHeaders(w.Header(), err)
		problem.Write(w, code, message)
	}
}
