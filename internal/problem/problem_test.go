package problem_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tenantkit/tenantkit/internal/problem"
)

func TestWrite(t *testing.T) {
	rec := httptest.NewRecorder()
	rec.Header().Set("Retry-After", "5")
	problem.Write(rec, http.StatusServiceUnavailable, `tenant "not" ready <now>`)
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("status %d; want 503", rec.Code)
	}
	for k, want := range map[string]string{"Content-Type": "application/problem+json", "Retry-After": "5", "X-Content-Type-Options": "nosniff"} {
		if got := rec.Header().Get(k); got != want {
			t.Errorf("%s = %q; want %q", k, got, want)
		}
	}
	var got map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatalf("body %q: %v", rec.Body, err)
	}
	want := map[string]any{"type": "about:blank", "title": "Service Unavailable", "status": 503.0, "detail": `tenant "not" ready <now>`}
	if len(got) != len(want) {
		t.Errorf("body = %v; want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("body[%q] = %v; want %v", k, got[k], v)
		}
	}
}
