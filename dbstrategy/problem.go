package dbstrategy

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/tenantkit/tenantkit/internal/problem"
)

// statuses is the mapping of HTTPStatus, most specific error first.
// retry is the Retry-After, in seconds, of the answer, or "".
var statuses = [...]struct {
	err     error
	code    int
	message string
	retry   string
}{
	{ErrNotFound, http.StatusNotFound, "tenant not found", ""},
	{ErrSchemaBehind, http.StatusServiceUnavailable, "tenant being migrated", "10"},
	{ErrClosed, http.StatusServiceUnavailable, "shutting down", "2"},
	{context.DeadlineExceeded, http.StatusServiceUnavailable, "tenant database busy", "5"},
	{ErrInvalidKey, http.StatusInternalServerError, "tenant database error", ""},
	{ErrReleased, http.StatusInternalServerError, "tenant database error", ""},
	{ErrNoMigrations, http.StatusInternalServerError, "tenant database error", ""},
}

// HTTPStatus maps an error of this package to the HTTP status code it
// calls for and a short fixed message that says why, the mapping
// [ProblemHandler] answers with:
//
//	ErrNotFound               404  "tenant not found"
//	ErrSchemaBehind           503  "tenant being migrated" (answered with Retry-After: 10)
//	ErrClosed                 503  "shutting down" (Retry-After: 2)
//	context.DeadlineExceeded  503  "tenant database busy" (Retry-After: 5)
//	ErrInvalidKey             500  "tenant database error"
//	ErrReleased               500  "tenant database error"
//	ErrNoMigrations           500  "tenant database error"
//	*MigrateError             500  "tenant database error"
//
// The first row that err matches (errors.Is, and errors.As for
// [*MigrateError]) answers, so a MigrateError for a tenant whose database
// does not exist is a 404. Their reasons:
//
//   - [ErrNotFound]: the tenant has no database (never created, or
//     dropped), which a client cannot tell from a tenant that does not
//     exist, the 404 of the tenancy package's ErrUnknownTenant.
//   - [ErrSchemaBehind] ([PendingRefuse]): the tenant is served again once
//     migrated; [ErrClosed]: the process is shutting down, and another
//     replica, or this one restarted, will answer; a deadline: waiting
//     for a handle under the [WithMaxOpen] and [WithMaxConns] budget, for
//     a connection or for the database took longer than the request may.
//     All three are transient, so 503 with Retry-After.
//   - [ErrInvalidKey], [ErrReleased], [ErrNoMigrations] and a failed
//     migration ([PendingMigrate]) are bugs or broken migrations on the
//     server's side, not the client's fault: 500.
//
// For any other error, nil, context.Canceled (the client went away) and
// [ErrInvalidConfig] (a start-up error) included, HTTPStatus returns 0
// and "": the error is not this package's to classify, such as a driver's
// error from the function given to [Manager.Do]. The message never holds
// any part of err's text. Apps that write their own error responses use
// HTTPStatus so that they answer the errors of this package as the rest
// of the library does.
func HTTPStatus(err error) (code int, message string) {
	if err == nil {
		return 0, ""
	}
	for _, s := range statuses {
		if errors.Is(err, s.err) {
			return s.code, s.message
		}
	}
	var merr *MigrateError
	if errors.As(err, &merr) {
		return http.StatusInternalServerError, "tenant database error"
	}
	return 0, ""
}

// setHeaders sets the headers that go with err's status.
func setHeaders(h http.Header, err error) {
	for _, s := range statuses {
		if errors.Is(err, s.err) {
			if s.retry != "" {
				h.Set("Retry-After", s.retry)
			}
			return
		}
	}
}

// ProblemHandler returns an error handler, for an app's own handlers
// (those that call [Manager.Do] or [Manager.Acquire]) and for the error
// handler options of the tenancy and auth packages, that answers the
// errors [HTTPStatus] classifies as application/problem+json (RFC 9457),
// with Retry-After on the 503s:
//
//	{"type":"about:blank","title":"Service Unavailable","status":503,"detail":"tenant being migrated"}
//
// title is the status code's reason phrase and detail the message of
// HTTPStatus; neither ever holds any part of the error's text. Any other
// error goes to next, so handlers chain: with the tenancy and auth
// packages' handlers of the same shape,
//
//	problems := tenancy.ProblemHandler(log, auth.ProblemHandler(log, dbstrategy.ProblemHandler(log, appErrors)))
//
// answers the errors of the three packages alike and leaves the app's own
// to appErrors. A nil next answers any other error with 500 "internal
// server error" (in a handler that works on a tenant's database, such an
// error is a failure of the database or of the handler's own code).
//
// Every 5xx answer it writes is logged to log with the error's text
// (attribute "err"): at level Warn for the transient 503s and Error
// otherwise. So is a 404 for [ErrNotFound], at level Warn: the tenancy
// package found the tenant, but it has no database, which an operator
// wants to know. A nil log logs nothing.
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
			code, message = http.StatusInternalServerError, "internal server error"
		}
		if code >= 500 || code == http.StatusNotFound {
			level := slog.LevelError
			if code == http.StatusServiceUnavailable || code == http.StatusNotFound {
				level = slog.LevelWarn
			}
			log.LogAttrs(r.Context(), level, "dbstrategy: request refused", slog.Int("status", code), slog.Any("err", err))
		}
		setHeaders(w.Header(), err)
		problem.Write(w, code, message)
	}
}
