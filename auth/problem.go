package auth

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/tenantkit/tenantkit/internal/problem"
)

// retryBusy is the Retry-After, in seconds, of the answer to ErrBusy.
const retryBusy = "2"

// statuses is the mapping of HTTPStatus, most specific error first.
var statuses = [...]struct {
	err     error
	code    int
	message string
}{
	{ErrNoToken, http.StatusUnauthorized, "missing bearer token"},
	{ErrTokenExpired, http.StatusUnauthorized, "token expired"}, // before ErrInvalidToken, which it comes with
	{ErrInvalidToken, http.StatusUnauthorized, "invalid token"},
	{ErrPasswordMismatch, http.StatusUnauthorized, "invalid credentials"},
	{ErrBusy, http.StatusServiceUnavailable, "password hashing busy"},
}

// HTTPStatus maps an error of this package to the HTTP status code it
// calls for and a short fixed message that says why, the mapping
// [DefaultErrorHandler] and [ProblemHandler] answer with:
//
//	ErrNoToken           401  "missing bearer token"
//	ErrTokenExpired      401  "token expired"
//	ErrInvalidToken      401  "invalid token"
//	ErrPasswordMismatch  401  "invalid credentials"
//	ErrBusy              503  "password hashing busy" (answered with Retry-After: 2)
//
// Every 401 is answered with `WWW-Authenticate: Bearer`, as HTTP requires.
// The first row that err matches (errors.Is) answers. For any other error,
// nil included, HTTPStatus returns 0 and "": the error is not this
// package's to classify (the errors of [NewHasher], [NewIssuer] and the
// other constructors are start-up errors, and [ErrInvalidPassword] is a
// 422 or a 401 depending on the endpoint, which the app decides). The
// message never holds any part of err's text. Apps that write their own
// error responses use HTTPStatus so that they answer the errors of this
// package as the rest of the library does.
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

// setHeaders sets the headers that go with status code.
func setHeaders(h http.Header, code int) {
	switch code {
	case http.StatusUnauthorized:
		h.Set("WWW-Authenticate", "Bearer")
	case http.StatusServiceUnavailable:
		h.Set("Retry-After", retryBusy)
	}
}

// ProblemHandler returns an error handler, for [WithErrorHandler] or for
// an app's own handlers (a login handler answering [ErrPasswordMismatch]
// or [ErrBusy]), that answers the errors [HTTPStatus] classifies as
// application/problem+json (RFC 9457), with `WWW-Authenticate: Bearer` on
// every 401 and Retry-After on 503:
//
//	{"type":"about:blank","title":"Unauthorized","status":401,"detail":"invalid token"}
//
// title is the status code's reason phrase and detail the message of
// HTTPStatus; neither ever holds any part of the error's text or of the
// token. Any other error goes to next, so handlers chain: with the tenancy
// package's handler of the same shape,
//
//	problems := tenancy.ProblemHandler(log, auth.ProblemHandler(log, appErrors))
//
// answers the errors of both packages alike and leaves the app's own to
// appErrors. A nil next answers any other error as DefaultErrorHandler
// does, 500 "internal server error" (in [RequireTokenFunc], such an error
// comes from the choose function).
//
// Every 5xx answer it writes is logged to log with the error's text
// (attribute "err"): at level Warn for [ErrBusy] and Error otherwise. A
// nil log logs nothing.
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
		if code >= 500 {
			level := slog.LevelError
			if errors.Is(err, ErrBusy) {
				level = slog.LevelWarn
			}
			log.LogAttrs(r.Context(), level, "auth: request refused", slog.Int("status", code), slog.Any("err", err))
		}
		setHeaders(w.Header(), code)
		problem.Write(w, code, message)
	}
}
