package main

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

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
