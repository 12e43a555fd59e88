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
// request context, for [ClaimsFromContext]. A refused request goes to the
// error handler (see [WithErrorHandler]) and not to the next handler.
//
// A nil v, or an invalid option, makes every request fail with a
// server-side error: the middleware never lets a request through unchecked.
func RequireToken(v *Verifier, opts ...MiddlewareOption) func(http.Handler) http.Handler {
	if v == nil {
		return requireToken(nil, errors.New("auth: RequireToken: nil verifier"), opts)
	}
	return requireToken(func(*http.Request) (*Verifier, error) { return v, nil }, nil, opts)
}

// RequireTokenFunc is [RequireToken] with the verifier chosen per request,
// for example the verifier of the tenant the request is for. choose runs
// after the token has been read from the request; if it returns an error,
// the error handler gets that error. A nil choose, a nil verifier from
// choose, or an invalid option, makes every request fail with a
// server-side error.
func RequireTokenFunc(choose func(*http.Request) (*Verifier, error), opts ...MiddlewareOption) func(http.Handler) http.Handler {
	if choose == nil {
		return requireToken(nil, errors.New("auth: RequireTokenFunc: nil choose function"), opts)
	}
	return requireToken(choose, nil, opts)
}

func requireToken(choose func(*http.Request) (*Verifier, error), cfgErr error, opts []MiddlewareOption) func(http.Handler) http.Handler {
	cfg := middlewareConfig{errorHandler: DefaultErrorHandler}
	for _, o := range opts {
		if err := o.apply(&cfg); err != nil && cfgErr == nil {
			cfgErr = err
		}
	}
	fail := cfg.errorHandler
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if cfgErr != nil {
				fail(w, r, cfgErr)
				return
			}
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
			c, err := v.Verify(token)
			if err != nil {
				fail(w, r, err)
				return
			}
			next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), c)))
		})
	}
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

// DefaultErrorHandler answers a request refused by [RequireToken]. For an
// error wrapping [ErrNoToken] or [ErrInvalidToken] it answers 401
// Unauthorized with `WWW-Authenticate: Bearer`; for any other error (a
// server-side failure, such as one from the choose function of
// [RequireTokenFunc]) it answers 500. The body is the plain-text status
// text: it never echoes the token or the error.
func DefaultErrorHandler(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, ErrNoToken) || errors.Is(err, ErrInvalidToken) {
		w.Header().Set("WWW-Authenticate", "Bearer")
		http.Error(w, http.StatusText(http.StatusUnauthorized), http.StatusUnauthorized)
		return
	}
	http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
}
