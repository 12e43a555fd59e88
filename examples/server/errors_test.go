package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"

	"github.com/ncruces/go-sqlite3"

	"github.com/jackc/pgx/v5/pgconn"
)

// TestErrorCodesHaveStatuses checks that every row of the error table
// answers with a status: the rows that take the library's status name an
// error the library classifies.
func TestErrorCodesHaveStatuses(t *testing.T) {
	for _, c := range errorCodes {
		status := c.status
		if status == 0 {
			status = libraryStatus(c.err)
		}
		if http.StatusText(status) == "" || status < 400 {
			t.Errorf("error %q answers status %d; want an error status", c.err, status)
		}
	}
}

// TestWritesPausedAnswers503: a write refused because the tenant is
// moving (placement.Pause: SQLSTATE 25006) is a 503 with Retry-After,
// not a 500.
func TestWritesPausedAnswers503(t *testing.T) {
	err := storeErr("update user", &pgconn.PgError{Code: "25006", Message: "tenant 7 is paused: its writes wait for a move"})
	w := httptest.NewRecorder()
	writeError(w, httptest.NewRequest("PUT", "/api/tenant/users/me", nil), slog.New(slog.DiscardHandler), err)
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
		t.Errorf("paused write = %d, Retry-After %q; want 503 with Retry-After", w.Code, w.Header().Get("Retry-After"))
	}
}

// TestStoreErrStatuses: the database errors that say the database is out
// of reach for now answer 503 with Retry-After, a connection that ended
// mid-statement among them; the others keep their own status, or 500.
func TestStoreErrStatuses(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("tenant query: %w", err) }
	for _, tt := range []struct {
		name string
		err  error
		want int
	}{
		{"connection ended mid-statement", wrap(io.ErrUnexpectedEOF), http.StatusServiceUnavailable},
		{"connection ended between messages", wrap(io.EOF), http.StatusServiceUnavailable},
		{"connection used after it broke", wrap(pgconn.ErrConnClosed), http.StatusServiceUnavailable},
		{"connection reset", wrap(syscall.ECONNRESET), http.StatusServiceUnavailable},
		{"server shutting down", wrap(&pgconn.PgError{Code: "57P01", Message: "terminating connection due to administrator command"}), http.StatusServiceUnavailable},
		{"too many connections", wrap(&pgconn.PgError{Code: "53300"}), http.StatusServiceUnavailable},
		{"SQLite busy", wrap(sqlite3.BUSY), http.StatusServiceUnavailable},
		{"unique violation", wrap(&pgconn.PgError{Code: "23505"}), http.StatusConflict},
		{"syntax error", wrap(&pgconn.PgError{Code: "42601", Message: "syntax error"}), http.StatusInternalServerError},
		{"anything else", wrap(errors.New("boom")), http.StatusInternalServerError},
	} {
		w := httptest.NewRecorder()
		writeError(w, httptest.NewRequest("GET", "/api/tenant/users/me", nil), slog.New(slog.DiscardHandler), storeErr("user by id", tt.err))
		if w.Code != tt.want {
			t.Errorf("%s: status = %d; want %d", tt.name, w.Code, tt.want)
		}
		if tt.want == http.StatusServiceUnavailable && w.Header().Get("Retry-After") == "" {
			t.Errorf("%s: 503 without Retry-After", tt.name)
		}
	}
}
