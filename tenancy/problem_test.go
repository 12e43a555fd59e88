package tenancy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tenantkit/tenantkit/tenancy"
)

// problemCases are the errors of this package and what they are answered
// with, by HTTPStatus, DefaultErrorHandler and ProblemHandler alike.
var problemCases = []struct {
	err         error
	wantCode    int
	wantMessage string
	wantRetry   string
}{
	{tenancy.ErrNoTenant, 400, "missing tenant", ""},
	{fmt.Errorf("x: %w", tenancy.ErrInvalidTenant), 400, "invalid tenant", ""},
	{&tenancy.ConflictError{Hints: [2]string{"a", "b"}, Resolvers: [2]int{1, 2}}, 400, "conflicting tenants", ""},
	{fmt.Errorf("x: %w", tenancy.ErrUnknownTenant), 404, "unknown tenant", ""},
	{fmt.Errorf("x: %w", tenancy.ErrTenantSuspended), 403, "tenant suspended", ""},
	{fmt.Errorf("x: %w", tenancy.ErrTenantNotReady), 503, "tenant not ready", "5"},
	{&tenancy.IncompleteTenantError{Hint: "acme", Field: "Status"}, 500, "tenant registry error", ""},
	{tenancy.CheckStatus(tenancy.Tenant{ID: "1"}), 500, "tenant registry error", ""},
	{tenancy.CheckStatus(leaving), 404, "unknown tenant", ""},
}

func TestHTTPStatus(t *testing.T) {
	for _, tt := range problemCases {
		if code, msg := tenancy.HTTPStatus(tt.err); code != tt.wantCode || msg != tt.wantMessage {
			t.Errorf("HTTPStatus(%v) = %d, %q; want %d, %q", tt.err, code, msg, tt.wantCode, tt.wantMessage)
		}
	}
	for _, err := range []error{nil, errors.New("dial tcp: refused"), context.Canceled, tenancy.ErrInvalidConfig} {
		if code, msg := tenancy.HTTPStatus(err); code != 0 || msg != "" {
			t.Errorf("HTTPStatus(%v) = %d, %q; want 0, \"\"", err, code, msg)
		}
	}
}

// TestDefaultErrorHandlerUsesHTTPStatus checks the plain-text handler
// against the exported mapping.
func TestDefaultErrorHandlerUsesHTTPStatus(t *testing.T) {
	for _, tt := range problemCases {
		rec := httptest.NewRecorder()
		tenancy.DefaultErrorHandler(rec, httptest.NewRequest(http.MethodGet, "/", nil), tt.err)
		if rec.Code != tt.wantCode || rec.Body.String() != tt.wantMessage+"\n" || rec.Header().Get("Retry-After") != tt.wantRetry {
			t.Errorf("%v: %d %q Retry-After %q; want %d %q %q", tt.err, rec.Code, rec.Body, rec.Header().Get("Retry-After"), tt.wantCode, tt.wantMessage+"\n", tt.wantRetry)
		}
	}
}

// logRecorder keeps the records a logger writes.
type logRecorder struct {
	buf bytes.Buffer
}

func (l *logRecorder) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(&l.buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// problemBody decodes an RFC 9457 body, failing on unknown fields.
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
	secret := "pq: password authentication failed for user admin at 10.0.0.7"
	for _, tt := range problemCases {
		t.Run(tt.wantMessage, func(t *testing.T) {
			var logs logRecorder
			nextCalled := false
			h := tenancy.ProblemHandler(logs.logger(), func(http.ResponseWriter, *http.Request, error) { nextCalled = true })
			rec := httptest.NewRecorder()
			err := fmt.Errorf("%s: %w", secret, tt.err)
			h(rec, httptest.NewRequest(http.MethodGet, "/", nil), err)
			if nextCalled {
				t.Fatalf("next called for %v", err)
			}
			if rec.Code != tt.wantCode || rec.Header().Get("Retry-After") != tt.wantRetry {
				t.Errorf("status %d, Retry-After %q; want %d, %q", rec.Code, rec.Header().Get("Retry-After"), tt.wantCode, tt.wantRetry)
			}
			want := problemBody{Type: "about:blank", Title: http.StatusText(tt.wantCode), Status: tt.wantCode, Detail: tt.wantMessage}
			if got := decodeProblem(t, rec); got != want {
				t.Errorf("body = %+v; want %+v", got, want)
			}
			logged := logs.buf.String()
			if tt.wantCode >= 500 != strings.Contains(logged, secret) {
				t.Errorf("log = %q; want the error logged only for a 5xx", logged)
			}
		})
	}
}

func TestProblemHandlerOtherErrors(t *testing.T) {
	backend := errors.New("registry down: dial tcp 10.0.0.7:5432")
	t.Run("to next", func(t *testing.T) {
		var got error
		h := tenancy.ProblemHandler(nil, func(w http.ResponseWriter, r *http.Request, err error) {
			got = err
			w.WriteHeader(http.StatusTeapot)
		})
		rec := httptest.NewRecorder()
		h(rec, httptest.NewRequest(http.MethodGet, "/", nil), backend)
		if got != backend || rec.Code != http.StatusTeapot {
			t.Errorf("next got %v, answered %d; want %v, 418", got, rec.Code, backend)
		}
	})
	t.Run("nil next", func(t *testing.T) {
		var logs logRecorder
		rec := httptest.NewRecorder()
		tenancy.ProblemHandler(logs.logger(), nil)(rec, httptest.NewRequest(http.MethodGet, "/", nil), backend)
		want := problemBody{Type: "about:blank", Title: "Service Unavailable", Status: 503, Detail: "tenant lookup unavailable"}
		if got := decodeProblem(t, rec); got != want || rec.Code != 503 {
			t.Errorf("answer = %d %+v; want 503 %+v", rec.Code, got, want)
		}
		if !strings.Contains(logs.buf.String(), "level=WARN") || !strings.Contains(logs.buf.String(), "registry down") {
			t.Errorf("log = %q; want a warning with the error", logs.buf.String())
		}
	})
}

// TestProblemHandlerLogsIncompleteTenant checks the end of item "a
// registry that forgets Status": through Middleware, the log names the
// field to set.
func TestProblemHandlerLogsIncompleteTenant(t *testing.T) {
	var logs logRecorder
	mw := newMiddleware(t, tenancy.Header("X-Tenant"), newRegistry(blank),
		tenancy.WithErrorHandler(tenancy.ProblemHandler(logs.logger(), nil)))
	rec := httptest.NewRecorder()
	mw(echoTenant()).ServeHTTP(rec, newRequest("X-Tenant", "blank"))
	if rec.Code != http.StatusInternalServerError {
		t.Errorf("status %d; want 500", rec.Code)
	}
	logged := logs.buf.String()
	for _, want := range []string{"level=ERROR", `lookup of \"blank\" returned tenant \"7\"`, "must set Tenant.Status"} {
		if !strings.Contains(logged, want) {
			t.Errorf("log = %s; want it to contain %s", logged, want)
		}
	}
	if strings.Contains(rec.Body.String(), `"blank"`) || strings.Contains(rec.Body.String(), "Tenant.Status") {
		t.Errorf("body %q echoes the hint", rec.Body)
	}
}
