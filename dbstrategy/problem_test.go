package dbstrategy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/tenantkit/tenantkit/dbstrategy"
	"github.com/tenantkit/tenantkit/dbstrategy/sqlitestrategy"
)

// problemCases are the errors of this package and what they are answered
// with, by HTTPStatus and ProblemHandler alike.
var problemCases = []struct {
	name        string
	err         error
	wantCode    int
	wantMessage string
	wantRetry   string
	wantLevel   slog.Level
}{
	{"not found", fmt.Errorf("acquire: %w", dbstrategy.ErrNotFound), 404, "tenant not found", "", slog.LevelWarn},
	{"schema behind", &dbstrategy.SchemaBehindError{TenantID: "acme", Have: 1, Want: 2}, 503, "tenant being migrated", "10", slog.LevelWarn},
	{"closed", dbstrategy.ErrClosed, 503, "shutting down", "2", slog.LevelWarn},
	{"budget wait", fmt.Errorf("dbstrategy: acquire %q: waiting for a free handle: %w", "acme", context.DeadlineExceeded), 503, "tenant database busy", "5", slog.LevelWarn},
	{"invalid key", fmt.Errorf("x: %w", dbstrategy.ErrInvalidKey), 500, "tenant database error", "", slog.LevelError},
	{"released", dbstrategy.ErrReleased, 500, "tenant database error", "", slog.LevelError},
	{"no migrations", dbstrategy.ErrNoMigrations, 500, "tenant database error", "", slog.LevelError},
	{"migration failed", &dbstrategy.MigrateError{TenantID: "acme", Err: errors.New("near \"CREAT\": syntax error")}, 500, "tenant database error", "", slog.LevelError},
	{"migration of a missing tenant", &dbstrategy.MigrateError{TenantID: "acme", Err: dbstrategy.ErrNotFound}, 404, "tenant not found", "", slog.LevelWarn},
	{"migration timed out", &dbstrategy.MigrateError{TenantID: "acme", Err: context.DeadlineExceeded}, 503, "tenant database busy", "5", slog.LevelWarn},
}

func TestHTTPStatus(t *testing.T) {
	for _, tt := range problemCases {
		if code, msg := dbstrategy.HTTPStatus(tt.err); code != tt.wantCode || msg != tt.wantMessage {
			t.Errorf("%s: HTTPStatus(%v) = %d, %q; want %d, %q", tt.name, tt.err, code, msg, tt.wantCode, tt.wantMessage)
		}
	}
	for _, err := range []error{nil, errors.New("disk I/O error"), context.Canceled, dbstrategy.ErrInvalidConfig,
		fmt.Errorf("%w: WithMaxOpen(0)", dbstrategy.ErrInvalidConfig)} {
		if code, msg := dbstrategy.HTTPStatus(err); code != 0 || msg != "" {
			t.Errorf("HTTPStatus(%v) = %d, %q; want 0, \"\"", err, code, msg)
		}
	}
}

// TestHTTPStatusOfManagerErrors checks the mapping against the errors a
// real Manager returns, not only the sentinels.
func TestHTTPStatusOfManagerErrors(t *testing.T) {
	s, err := sqlitestrategy.New(sqlitestrategy.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	m, err := dbstrategy.NewManager(s)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_, errMissing := m.Acquire(ctx, "nobody")
	_, errKey := m.Acquire(ctx, "Not A Key")
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	_, errClosed := m.Acquire(ctx, "acme")
	for _, tt := range []struct {
		name string
		err  error
		want int
	}{
		{"missing tenant", errMissing, http.StatusNotFound},
		{"invalid key", errKey, http.StatusInternalServerError},
		{"closed", errClosed, http.StatusServiceUnavailable},
	} {
		if code, _ := dbstrategy.HTTPStatus(tt.err); code != tt.want {
			t.Errorf("%s: HTTPStatus(%v) = %d; want %d", tt.name, tt.err, code, tt.want)
		}
	}
}

func TestProblemHandler(t *testing.T) {
	for _, tt := range problemCases {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			h := dbstrategy.ProblemHandler(log, func(http.ResponseWriter, *http.Request, error) {
				t.Errorf("next called for %v", tt.err)
			})
			rec := httptest.NewRecorder()
			h(rec, httptest.NewRequest(http.MethodGet, "/", nil), tt.err)
			if rec.Code != tt.wantCode || rec.Header().Get("Retry-After") != tt.wantRetry {
				t.Errorf("status %d, Retry-After %q; want %d, %q", rec.Code, rec.Header().Get("Retry-After"), tt.wantCode, tt.wantRetry)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("Content-Type = %q", ct)
			}
			var body struct {
				Type, Title, Detail string
				Status              int
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("body %q: %v", rec.Body, err)
			}
			want := struct {
				Type, Title, Detail string
				Status              int
			}{"about:blank", http.StatusText(tt.wantCode), tt.wantMessage, tt.wantCode}
			if body != want {
				t.Errorf("body = %+v; want %+v", body, want)
			}
			if strings.Contains(rec.Body.String(), "acme") || strings.Contains(rec.Body.String(), "syntax") {
				t.Errorf("body %q echoes the error's text", rec.Body)
			}
			var entry struct {
				Level  string
				Status int
				Err    string
			}
			if err := json.Unmarshal(logs.Bytes(), &entry); err != nil {
				t.Fatalf("log %q: %v", logs.String(), err)
			}
			if entry.Level != tt.wantLevel.String() || entry.Status != tt.wantCode || entry.Err != tt.err.Error() {
				t.Errorf("log = %+v; want level %v, status %d, err %q", entry, tt.wantLevel, tt.wantCode, tt.err)
			}
		})
	}
}

func TestProblemHandlerOtherErrors(t *testing.T) {
	other := errors.New("no such column: title")
	var got error
	h := dbstrategy.ProblemHandler(nil, func(w http.ResponseWriter, _ *http.Request, err error) {
		got = err
		w.WriteHeader(http.StatusTeapot)
	})
	rec := httptest.NewRecorder()
	h(rec, httptest.NewRequest(http.MethodGet, "/", nil), other)
	if got != other || rec.Code != http.StatusTeapot {
		t.Errorf("next got %v and answered %d; want %v, %d", got, rec.Code, other, http.StatusTeapot)
	}

	// Without next: 500, logged at Error, without the error's text.
	var logs bytes.Buffer
	h = dbstrategy.ProblemHandler(slog.New(slog.NewTextHandler(&logs, nil)), nil)
	rec = httptest.NewRecorder()
	h(rec, httptest.NewRequest(http.MethodGet, "/", nil), other)
	if rec.Code != http.StatusInternalServerError || strings.Contains(rec.Body.String(), "no such column") {
		t.Errorf("nil next: %d %q; want 500 without the error's text", rec.Code, rec.Body)
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "no such column") {
		t.Errorf("log = %q; want the error at level ERROR", logs.String())
	}

	// A nil log logs nothing, and does not panic.
	rec = httptest.NewRecorder()
	dbstrategy.ProblemHandler(nil, nil)(rec, httptest.NewRequest(http.MethodGet, "/", nil), dbstrategy.ErrClosed)
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("nil log: %d; want 503", rec.Code)
	}
}

// TestCloseStrategy checks WithCloseStrategy: the Manager closes the
// strategy after its handles only when told to, and reports its error.
func TestCloseStrategy(t *testing.T) {
	for _, own := range []bool{false, true} {
		s, err := sqlitestrategy.New(sqlitestrategy.Config{Dir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		cs := &closingStrategy{Strategy: s, err: errors.New("boom")}
		m, err := dbstrategy.NewManager(cs, dbstrategy.WithCloseStrategy(own))
		if err != nil {
			t.Fatal(err)
		}
		err = m.Close()
		if cs.closed != own || (err != nil) != own {
			t.Errorf("WithCloseStrategy(%v): strategy closed %v, Close() = %v", own, cs.closed, err)
		}
		if own && !strings.Contains(fmt.Sprint(err), "close strategy: boom") {
			t.Errorf("Close() = %v; want the strategy's error", err)
		}
		if err2 := m.Close(); err2 != err || (own && !cs.closed) {
			t.Errorf("second Close() = %v; want %v", err2, err)
		}
	}
}

// closingStrategy is a Strategy with a Close method that records the call.
type closingStrategy struct {
	dbstrategy.Strategy
	closed bool
	err    error
}

func (c *closingStrategy) Close() error {
	if c.closed {
		return errors.New("closed twice")
	}
	c.closed = true
	return c.err
}

var _ io.Closer = (*closingStrategy)(nil)

func ExampleProblemHandler() {
	dir, err := os.MkdirTemp("", "tenants")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	m, err := sqlitestrategy.NewManager(sqlitestrategy.Config{Dir: dir})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()

	// The app's own errors would go to next; here, none.
	problems := dbstrategy.ProblemHandler(nil, nil)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := m.Do(r.Context(), r.PathValue("tenant"), func(ctx context.Context, db dbstrategy.DB) error {
			_, err := db.ExecContext(ctx, "SELECT 1")
			return err
		})
		if err != nil {
			problems(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux := http.NewServeMux()
	mux.Handle("GET /t/{tenant}", h)

	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/t/acme", nil)) // never created
	fmt.Print(w.Code, " ", w.Header().Get("Content-Type"), " ", w.Body)

	if err := m.Create(context.Background(), "acme"); err != nil {
		fmt.Println(err)
		return
	}
	w = httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/t/acme", nil))
	fmt.Println(w.Code)
	// Output:
	// 404 application/problem+json {"type":"about:blank","title":"Not Found","status":404,"detail":"tenant not found"}
	// 204
}
