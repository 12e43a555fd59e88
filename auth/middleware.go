package auth

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// RequireToken returns middleware that lets a request through only if it
// carries exactly one `Authorization: Bearer <token>` header (the scheme in
// any case) whose token v accepts. The token's claims are stored in the
// request context, for [FromContext]. A refused request goes to the error
// handler (see [WithErrorHandler]) and not to the next handler.
//
// RequireToken returns an error wrapping [ErrInvalidConfig] if v is nil or
// an option is nil or invalid, so a wiring mistake shows at start-up, not as
// a 500 on every request.
func RequireToken(v *Verifier, opts ...MiddlewareOption) (func(http.Handler) http.Handler, error) {
	if v == nil {
		return nil, configErrorf("auth: RequireToken: nil Verifier")
	}
	return requireToken("RequireToken", func(*http.Request) (*Verifier, error) { return v, nil }, opts)
}

// RequireTokenFunc is [RequireToken] with the verifier chosen per request,
// for example the verifier of the tenant the request is for. choose runs
// after the token has been read from the request; if it returns an error,
// or no verifier, the error handler gets a server-side error (500 by
// default). RequireTokenFunc returns an error wrapping [ErrInvalidConfig]
// if choose is nil or an option is nil or invalid.
func RequireTokenFunc(choose func(*http.Request) (*Verifier, error), opts ...MiddlewareOption) (func(http.Handler) http.Handler, error) {
	if choose == nil {
		return nil, configErrorf("auth: RequireTokenFunc: nil choose function")
	}
	return requireToken("RequireTokenFunc", choose, opts)
}

func requireToken(fn string, choose func(*http.Request) (*Verifier, error), opts []MiddlewareOption) (func(http.Handler) http.Handler, error) {
	cfg := middlewareConfig{errorHandler: DefaultErrorHandler}
	if err := configure(fn, opts, func(o MiddlewareOption) error { return o.applyMiddleware(&cfg) }); err != nil {
		return nil, err
	}
	fail := cfg.errorHandler
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			token, err := bearerToken(r)
			if err != nil {
				fail(w, r, err)
				return
			}
			v, err := choose(r)
			if err == nil && v == nil {
				err = errors.New("auth: RequireTokenFunc: choose returned no verifier")
			}
			if err != nil {
				fail(w, r, err)
				return
			}
			c, err := v.verify(token)
			if err != nil {
				fail(w, r, err)
				return
			}
			next.ServeHTTP(w, r.WithContext(newContextPtr(r.Context(), c)))
		})
	}, nil
}

// bearerToken returns the token of the request's only Authorization header,
// or an error wrapping ErrNoToken.
func bearerToken(r *http.Request) (string, error) {
	values := r.Header.Values("Authorization")
	switch len(values) {
	case 0:
		return "", ErrNoToken
	case 1:
	default:
		return "", fmt.Errorf("%w: several Authorization headers", ErrNoToken)
	}
	scheme, token, ok := strings.Cut(values[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", fmt.Errorf("%w: not a bearer token", ErrNoToken)
	}
	token = strings.TrimLeft(token, " ")
	if token == "" {
		return "", fmt.Errorf("%w: empty bearer token", ErrNoToken)
	}
	if strings.ContainsAny(token, " \t") {
		return "", fmt.Errorf("%w: malformed bearer token", ErrNoToken)
	}
	return token, nil
}

// DefaultErrorHandler answers a request refused by [RequireToken] with the
// status of [HTTPStatus]: for an error wrapping [ErrNoToken] or
// [ErrInvalidToken] (or [ErrPasswordMismatch]), 401 Unauthorized with
// `WWW-Authenticate: Bearer`; for [ErrBusy], 503 with Retry-After; for any
// other error (a server-side failure, such as one from the choose function
// of [RequireTokenFunc]), 500. The body is the plain-text status text: it
// never echoes the token or the error. [ProblemHandler] answers the same
// statuses as application/problem+json.
func DefaultErrorHandler(w http.ResponseWriter, r *http.Request, err error) {
	code, _ := HTTPStatus(err)
	if code == 0 {
		code = http.StatusInternalServerError
	}
	setHeaders(w.Header(), code)
	http.Error(w, http.StatusText(code), code)
}
