package wiring_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tenantkit/tenantkit/auth"
	"github.com/tenantkit/tenantkit/tenancy"
)

// TestProblemHandlersChain wires tenancy's and auth's problem handlers
// into one, as an app does, and checks that every refusal of either
// middleware is application/problem+json with the package's status, and
// that the app's own errors reach the app's handler.
func TestProblemHandlersChain(t *testing.T) {
	errApp := errors.New("app: no such note")
	appErrors := func(w http.ResponseWriter, r *http.Request, err error) {
		if errors.Is(err, errApp) {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.WriteHeader(http.StatusInternalServerError)
	}
	problems := tenancy.ProblemHandler(nil, auth.ProblemHandler(nil, appErrors))

	registry := tenancy.LookupFunc(func(_ context.Context, hint string) (tenancy.Tenant, error) {
		switch hint {
		case "acme":
			return tenancy.Tenant{ID: "1", Slug: "acme", Status: tenancy.StatusActive}, nil
		case "newco":
			return tenancy.Tenant{ID: "2", Slug: "newco", Status: tenancy.StatusProvisioning}, nil
		}
		return tenancy.Tenant{}, tenancy.ErrUnknownTenant
	})
	withTenant, err := tenancy.Middleware(tenancy.Header("X-Tenant"), registry, tenancy.WithErrorHandler(problems))
	if err != nil {
		t.Fatal(err)
	}
	ring, err := auth.NewKeyring("wiring", [][]byte{[]byte("a master secret of at least 32 bytes for the test")})
	if err != nil {
		t.Fatal(err)
	}
	requireToken, err := auth.RequireTokenFunc(ring.VerifierFunc(func(r *http.Request) (string, error) {
		tn, ok := tenancy.FromContext(r.Context())
		if !ok {
			return "", errors.New("no tenant in context")
		}
		return "tenant:" + tn.ID, nil
	}), auth.WithErrorHandler(problems))
	if err != nil {
		t.Fatal(err)
	}
	h := withTenant(requireToken(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		problems(w, r, errApp)
	})))
	token, _, err := ring.Issue("tenant:1", "user-7")
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := ring.Issue("tenant:2", "user-7")
	if err != nil {
		t.Fatal(err)
	}

	for _, tt := range []struct {
		name, tenant, token string
		wantCode            int
		wantDetail          string // "" for the app's own answer
	}{
		{"no tenant", "", "", 400, "missing tenant"},
		{"unknown tenant", "nope", "", 404, "unknown tenant"},
		{"not ready", "newco", "", 503, "tenant not ready"},
		{"no token", "acme", "", 401, "missing bearer token"},
		{"another tenant's token", "acme", other, 401, "invalid token"},
		{"the app's error", "acme", token, 404, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/notes/1", nil)
			if tt.tenant != "" {
				r.Header.Set("X-Tenant", tt.tenant)
			}
			if tt.token != "" {
				r.Header.Set("Authorization", "Bearer "+tt.token)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			if rec.Code != tt.wantCode {
				t.Fatalf("status %d; want %d", rec.Code, tt.wantCode)
			}
			if tt.wantDetail == "" {
				if rec.Body.Len() != 0 {
					t.Errorf("body %q; want the app's empty answer", rec.Body)
				}
				return
			}
			var p struct {
				Type, Title, Detail string
				Status              int
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("Content-Type = %q", ct)
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.Status != tt.wantCode || p.Detail != tt.wantDetail ||
				p.Type != "about:blank" || p.Title != http.StatusText(tt.wantCode) {
				t.Errorf("body %q (%v); want status %d, detail %q", rec.Body, err, tt.wantCode, tt.wantDetail)
			}
		})
	}
}
