package auth_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tenantkit/tenantkit/auth"
)

// echoSubject is the protected handler: it answers the subject it finds in
// the request context.
var echoSubject = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	c, ok := auth.FromContext(r.Context())
	if !ok {
		http.Error(w, "no claims in context", http.StatusTeapot)
		return
	}
	fmt.Fprint(w, c.Subject)
})

func serve(h http.Handler, headers ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, "/me", nil)
	for _, v := range headers {
		r.Header.Add("Authorization", v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestRequireToken(t *testing.T) {
	core := deriveKey(t, testMaster, "core")
	i := newIssuer(t, core, "core")
	good, _ := issue(t, i, "42")
	expired, _ := issue(t, newIssuer(t, core, "core", auth.WithNow(clock(testNow.Add(-2*time.Hour)))), "42")
	v := newVerifier(t, "core", []auth.Key{core})

	tests := []struct {
		name        string
		headers     []string
		wantStatus  int
		wantBody    string
		wantErr     error // seen by the error handler
		wantExpired bool
	}{
		{"valid", []string{"Bearer " + good}, 200, "42", nil, false},
		{"scheme lower case", []string{"bearer " + good}, 200, "42", nil, false},
		{"scheme upper case", []string{"BEARER " + good}, 200, "42", nil, false},
		{"two spaces", []string{"Bearer  " + good}, 200, "42", nil, false},
		{"no header", nil, 401, "", auth.ErrNoToken, false},
		{"empty header", []string{""}, 401, "", auth.ErrNoToken, false},
		{"scheme only", []string{"Bearer"}, 401, "", auth.ErrNoToken, false},
		{"scheme and space", []string{"Bearer "}, 401, "", auth.ErrNoToken, false},
		{"basic", []string{"Basic dXNlcjpwYXNz"}, 401, "", auth.ErrNoToken, false},
		{"token without scheme", []string{good}, 401, "", auth.ErrNoToken, false},
		{"scheme glued", []string{"Bearer" + good}, 401, "", auth.ErrNoToken, false},
		{"tab separator", []string{"Bearer\t" + good}, 401, "", auth.ErrNoToken, false},
		{"two tokens", []string{"Bearer " + good + " " + good}, 401, "", auth.ErrNoToken, false},
		{"two headers", []string{"Bearer " + good, "Bearer " + good}, 401, "", auth.ErrNoToken, false},
		{"garbage token", []string{"Bearer garbage"}, 401, "", auth.ErrInvalidToken, false},
		{"tampered token", []string{"Bearer " + good[:len(good)-3] + "AAA"}, 401, "", auth.ErrInvalidToken, false},
		{"expired token", []string{"Bearer " + expired}, 401, "", auth.ErrInvalidToken, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := serve(must(auth.RequireToken(v))(echoSubject), tt.headers...)
			if w.Code != tt.wantStatus {
				t.Fatalf("status = %d; want %d (body %q)", w.Code, tt.wantStatus, w.Body)
			}
			if tt.wantStatus == 200 {
				if got := w.Body.String(); got != tt.wantBody {
					t.Errorf("body = %q; want %q", got, tt.wantBody)
				}
				return
			}
			if got := w.Header().Get("WWW-Authenticate"); got != "Bearer" {
				t.Errorf("WWW-Authenticate = %q; want %q", got, "Bearer")
			}
			if got, want := w.Body.String(), "Unauthorized\n"; got != want {
				t.Errorf("body = %q; want %q", got, want)
			}

			// The error handler sees why.
			var got error
			record := auth.WithErrorHandler(func(w http.ResponseWriter, r *http.Request, err error) {
				got = err
				w.WriteHeader(http.StatusUnauthorized)
			})
			serve(must(auth.RequireToken(v, record))(echoSubject), tt.headers...)
			if !errors.Is(got, tt.wantErr) || errors.Is(got, auth.ErrTokenExpired) != tt.wantExpired {
				t.Errorf("error handler got %v; want %v (expired: %v)", got, tt.wantErr, tt.wantExpired)
			}
		})
	}
}

func TestRequireTokenFunc(t *testing.T) {
	keyA := deriveKey(t, testMaster, "tenant:1")
	keyB := deriveKey(t, testMaster, "tenant:2")
	verifiers := map[string]*auth.Verifier{
		"1": newVerifier(t, "tenant:1", []auth.Key{keyA}),
		"2": newVerifier(t, "tenant:2", []auth.Key{keyB}),
	}
	errUnknownTenant := errors.New("unknown tenant")
	choose := func(r *http.Request) (*auth.Verifier, error) {
		switch id := r.Header.Get("X-Tenant"); id {
		case "nil":
			return nil, nil
		default:
			v, ok := verifiers[id]
			if !ok {
				return nil, errUnknownTenant
			}
			return v, nil
		}
	}
	tokA, _ := issue(t, newIssuer(t, keyA, "tenant:1"), "alice")

	tests := []struct {
		name, tenant, auth string
		wantStatus         int
		wantErr            error
	}{
		{"own tenant", "1", "Bearer " + tokA, 200, nil},
		{"other tenant", "2", "Bearer " + tokA, 401, auth.ErrInvalidToken},
		{"no token", "1", "", 401, auth.ErrNoToken},
		{"choose fails", "9", "Bearer " + tokA, 500, errUnknownTenant},
		{"choose returns no verifier", "nil", "Bearer " + tokA, 500, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got error
			handlers := map[string]auth.MiddlewareOption{
				"default": auth.WithErrorHandler(nil),
				"custom": auth.WithErrorHandler(func(w http.ResponseWriter, r *http.Request, err error) {
					got = err
					auth.DefaultErrorHandler(w, r, err)
				}),
			}
			for hname, opt := range handlers {
				r := httptest.NewRequest(http.MethodGet, "/me", nil)
				r.Header.Set("X-Tenant", tt.tenant)
				if tt.auth != "" {
					r.Header.Set("Authorization", tt.auth)
				}
				w := httptest.NewRecorder()
				must(auth.RequireTokenFunc(choose, opt))(echoSubject).ServeHTTP(w, r)
				if w.Code != tt.wantStatus {
					t.Errorf("%s handler: status = %d; want %d", hname, w.Code, tt.wantStatus)
				}
				if w.Code == 500 {
					if h := w.Header().Get("WWW-Authenticate"); h != "" {
						t.Errorf("%s handler: 500 with WWW-Authenticate %q; want none", hname, h)
					}
					if body := w.Body.String(); body != "Internal Server Error\n" {
						t.Errorf("%s handler: body = %q; want the plain status text", hname, body)
					}
				}
			}
			if tt.wantErr != nil && !errors.Is(got, tt.wantErr) {
				t.Errorf("error handler got %v; want %v", got, tt.wantErr)
			}
		})
	}
}

// A misconfigured middleware is an error at start-up, wrapping
// ErrInvalidConfig, not a 500 on every request.
func TestRequireTokenMisconfigured(t *testing.T) {
	v := newVerifier(t, "core", []auth.Key{deriveKey(t, testMaster, "core")})
	choose := func(*http.Request) (*auth.Verifier, error) { return v, nil }
	for name, new := range map[string]func() (func(http.Handler) http.Handler, error){
		"nil verifier":     func() (func(http.Handler) http.Handler, error) { return auth.RequireToken(nil) },
		"nil choose":       func() (func(http.Handler) http.Handler, error) { return auth.RequireTokenFunc(nil) },
		"nil option":       func() (func(http.Handler) http.Handler, error) { return auth.RequireToken(v, nil) },
		"func, nil option": func() (func(http.Handler) http.Handler, error) { return auth.RequireTokenFunc(choose, nil) },
	} {
		mw, err := new()
		if mw != nil || !errors.Is(err, auth.ErrInvalidConfig) {
			t.Errorf("%s: got %p, %v; want nil and an error wrapping ErrInvalidConfig", name, mw, err)
		}
	}
}

func TestErrorBodyNeverEchoes(t *testing.T) {
	core := deriveKey(t, testMaster, "core")
	v := newVerifier(t, "core", []auth.Key{core})
	secretish := "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9."
	w := serve(must(auth.RequireToken(v))(echoSubject), "Bearer "+secretish)
	body, _ := io.ReadAll(w.Body)
	if strings.Contains(string(body), secretish) || strings.Contains(string(body), "auth:") {
		t.Errorf("body %q echoes the token or the error", body)
	}
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type = %q; want text/plain", ct)
	}
}

func TestClaimsContext(t *testing.T) {
	if c, ok := auth.FromContext(context.Background()); ok || c != (auth.Claims{}) {
		t.Errorf("FromContext(empty) = %v, %v; want zero, false", c, ok)
	}
	//lint:ignore SA1012 FromContext must not panic on a nil context
	if c, ok := auth.FromContext(nil); ok || c != (auth.Claims{}) { //nolint:staticcheck
		t.Errorf("FromContext(nil) = %v, %v; want zero, false", c, ok)
	}
	want := auth.Claims{Subject: "42"}
	if c, ok := auth.FromContext(auth.NewContext(context.Background(), want)); !ok || c != want {
		t.Errorf("FromContext() = %v, %v; want %v, true", c, ok, want)
	}
}
