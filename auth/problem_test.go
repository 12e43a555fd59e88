package auth_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tenantkit/tenantkit/auth"
)

// problemCases are the errors of this package and what they are answered
// with, by HTTPStatus, DefaultErrorHandler and ProblemHandler alike.
var problemCases = []struct {
	err         error
	wantCode    int
	wantMessage string
	wantHeader  [2]string
}{
	{auth.ErrNoToken, 401, "missing bearer token", [2]string{"WWW-Authenticate", "Bearer"}},
	{fmt.Errorf("%w: several Authorization headers", auth.ErrNoToken), 401, "missing bearer token", [2]string{"WWW-Authenticate", "Bearer"}},
	{fmt.Errorf("x: %w", auth.ErrInvalidToken), 401, "invalid token", [2]string{"WWW-Authenticate", "Bearer"}},
	{errors.Join(auth.ErrInvalidToken, auth.ErrTokenExpired), 401, "token expired", [2]string{"WWW-Authenticate", "Bearer"}},
	{auth.ErrPasswordMismatch, 401, "invalid credentials", [2]string{"WWW-Authenticate", "Bearer"}},
	{auth.ErrBusy, 503, "password hashing busy", [2]string{"Retry-After", "2"}},
}

func TestHTTPStatus(t *testing.T) {
	for _, tt := range problemCases {
		if code, msg := auth.HTTPStatus(tt.err); code != tt.wantCode || msg != tt.wantMessage {
			t.Errorf("HTTPStatus(%v) = %d, %q; want %d, %q", tt.err, code, msg, tt.wantCode, tt.wantMessage)
		}
	}
	for _, err := range []error{nil, errors.New("db down"), auth.ErrInvalidConfig, auth.ErrInvalidPassword, auth.ErrInvalidHash} {
		if code, msg := auth.HTTPStatus(err); code != 0 || msg != "" {
			t.Errorf("HTTPStatus(%v) = %d, %q; want 0, \"\"", err, code, msg)
		}
	}
}

// TestHTTPStatusOfVerify checks the mapping on the errors Verify really
// returns: an expired token is told apart from a bad one.
func TestHTTPStatusOfVerify(t *testing.T) {
	key := deriveKey(t, testMaster, "core")
	tok, _ := issue(t, newIssuer(t, key, "core"), "u1")
	late := newVerifier(t, "core", []auth.Key{key}, auth.WithNow(clock(testNow.Add(2*time.Hour))))
	_, err := late.Verify(tok)
	if code, msg := auth.HTTPStatus(err); code != 401 || msg != "token expired" {
		t.Errorf("expired: HTTPStatus(%v) = %d, %q; want 401, token expired", err, code, msg)
	}
	_, err = newVerifier(t, "core", []auth.Key{key}).Verify(tok + "x")
	if code, msg := auth.HTTPStatus(err); code != 401 || msg != "invalid token" {
		t.Errorf("tampered: HTTPStatus(%v) = %d, %q; want 401, invalid token", err, code, msg)
	}
}

func TestDefaultErrorHandlerUsesHTTPStatus(t *testing.T) {
	for _, tt := range problemCases {
		rec := httptest.NewRecorder()
		auth.DefaultErrorHandler(rec, httptest.NewRequest(http.MethodGet, "/", nil), tt.err)
		if rec.Code != tt.wantCode || rec.Body.String() != http.StatusText(tt.wantCode)+"\n" || rec.Header().Get(tt.wantHeader[0]) != tt.wantHeader[1] {
			t.Errorf("%v: %d %q %v; want %d %q %v", tt.err, rec.Code, rec.Body, rec.Header(), tt.wantCode, http.StatusText(tt.wantCode), tt.wantHeader)
		}
	}
}

type problemBody struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
}

func decodeProblem(t *testing.T, rec *httptest.ResponseRecorder) problemBody {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type = %q; want application/problem+json", ct)
	}
	var p problemBody
	dec := json.NewDecoder(rec.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("decode problem: %v", err)
	}
	return p
}

func TestProblemHandler(t *testing.T) {
	secret := "eyJhbGciOiJIUzI1NiJ9.secret-token"
	for _, tt := range problemCases {
		t.Run(tt.wantMessage, func(t *testing.T) {
			var logs bytes.Buffer
			h := auth.ProblemHandler(slog.New(slog.NewTextHandler(&logs, nil)), func(http.ResponseWriter, *http.Request, error) {
				t.Fatal("next called")
			})
			rec := httptest.NewRecorder()
			h(rec, httptest.NewRequest(http.MethodGet, "/", nil), fmt.Errorf("%s: %w", secret, tt.err))
			if rec.Code != tt.wantCode || rec.Header().Get(tt.wantHeader[0]) != tt.wantHeader[1] {
				t.Errorf("status %d, headers %v; want %d, %v", rec.Code, rec.Header(), tt.wantCode, tt.wantHeader)
			}
			want := problemBody{Type: "about:blank", Title: http.StatusText(tt.wantCode), Status: tt.wantCode, Detail: tt.wantMessage}
			if got := decodeProblem(t, rec); got != want {
				t.Errorf("body = %+v; want %+v", got, want)
			}
			if tt.wantCode >= 500 != strings.Contains(logs.String(), secret) {
				t.Errorf("log = %q; want the error logged only for a 5xx", logs.String())
			}
		})
	}
}

func TestProblemHandlerOtherErrors(t *testing.T) {
	failure := errors.New("tenant registry down")
	var got error
	h := auth.ProblemHandler(nil, func(w http.ResponseWriter, r *http.Request, err error) {
		got = err
		w.WriteHeader(http.StatusTeapot)
	})
	rec := httptest.NewRecorder()
	h(rec, httptest.NewRequest(http.MethodGet, "/", nil), failure)
	if got != failure || rec.Code != http.StatusTeapot {
		t.Errorf("next got %v, answered %d; want %v, 418", got, rec.Code, failure)
	}

	var logs bytes.Buffer
	rec = httptest.NewRecorder()
	auth.ProblemHandler(slog.New(slog.NewTextHandler(&logs, nil)), nil)(rec, httptest.NewRequest(http.MethodGet, "/", nil), failure)
	want := problemBody{Type: "about:blank", Title: "Internal Server Error", Status: 500, Detail: "internal server error"}
	if p := decodeProblem(t, rec); p != want || rec.Code != 500 || rec.Header().Get("WWW-Authenticate") != "" {
		t.Errorf("answer = %d %+v %v; want 500 %+v without WWW-Authenticate", rec.Code, p, rec.Header(), want)
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "tenant registry down") {
		t.Errorf("log = %q; want an error with its text", logs.String())
	}
}

// TestRequireTokenProblems checks the middleware with ProblemHandler: a
// missing, a tampered and an expired token.
func TestRequireTokenProblems(t *testing.T) {
	key := deriveKey(t, testMaster, "core")
	tok, _ := issue(t, newIssuer(t, key, "core"), "u1")
	v := newVerifier(t, "core", []auth.Key{key}, auth.WithNow(clock(testNow.Add(2*time.Hour))))
	mw, err := auth.RequireToken(v, auth.WithErrorHandler(auth.ProblemHandler(nil, nil)))
	if err != nil {
		t.Fatal(err)
	}
	h := mw(echoSubject)
	// Tampered: one character of the signature replaced by another, away
	// from its last two characters, whose unused bits could leave the
	// decoded signature as it was.
	tampered := []byte(tok)
	i := len(tampered) - 10
	if tampered[i] == 'A' {
		tampered[i] = 'B'
	} else {
		tampered[i] = 'A'
	}
	for _, tt := range []struct{ header, detail string }{
		{"", "missing bearer token"},
		{"Bearer " + string(tampered), "invalid token"},
		{"Bearer " + tok, "token expired"},
	} {
		rec := serve(h, tt.header)
		if p := decodeProblem(t, rec); rec.Code != 401 || p.Detail != tt.detail || rec.Header().Get("WWW-Authenticate") != "Bearer" {
			t.Errorf("%.20q: %d %+v; want 401 %q with WWW-Authenticate", tt.header, rec.Code, p, tt.detail)
		}
	}
}
