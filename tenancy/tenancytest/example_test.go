package tenancytest_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/tenantkit/tenantkit/tenancy/tenancytest"
)

// newNotesApp is an app's handler: POST /notes stores the body as a note
// of the tenant named by X-Tenant, GET /notes lists that tenant's notes.
func newNotesApp() http.Handler {
	var mu sync.Mutex
	notes := map[string][]string{}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /notes", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		notes[r.Header.Get("X-Tenant")] = append(notes[r.Header.Get("X-Tenant")], string(b))
		w.WriteHeader(http.StatusCreated)
	})
	mux.HandleFunc("GET /notes", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(w, "%q\n", notes[r.Header.Get("X-Tenant")])
	})
	return mux
}

// An app's isolation test: each tenant posts a note holding its marker,
// then GET /notes of every tenant must show its own note and no other,
// under 8 concurrent clients. This is the body of func TestIsolation(t
// *testing.T) in the app's tests.
func ExampleIsolation() {
	var t *testing.T // the test's t (or a benchmark's b)

	h := newNotesApp()
	post := func(tenant, marker string) *http.Request {
		r := httptest.NewRequest("POST", "/notes", strings.NewReader("remember "+marker))
		r.Header.Set("X-Tenant", tenant)
		return r
	}
	list := func(tenant, marker string) *http.Request {
		r := httptest.NewRequest("GET", "/notes", nil)
		r.Header.Set("X-Tenant", tenant)
		return r
	}
	tenancytest.Isolation(t, h, []string{"acme", "globex", "initech"}, tenancytest.SeedRequest(h, post), list,
		tenancytest.WithClients(8), tenancytest.WithRequests(100))
}

// A SeedFunc made of one request: the handler must answer it with a 2xx
// status.
func ExampleSeedRequest() {
	h := newNotesApp()
	seed := tenancytest.SeedRequest(h, func(tenant, marker string) *http.Request {
		r := httptest.NewRequest("POST", "/notes", strings.NewReader(marker))
		r.Header.Set("X-Tenant", tenant)
		return r
	})
	fmt.Println(seed(context.Background(), "acme", "marker0123"))

	r := httptest.NewRequest("GET", "/notes", nil)
	r.Header.Set("X-Tenant", "acme")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	fmt.Print(w.Body)

	// A seed the handler refuses is an error, which fails the test.
	seed = tenancytest.SeedRequest(h, func(tenant, marker string) *http.Request {
		return httptest.NewRequest("PUT", "/notes", strings.NewReader(marker))
	})
	fmt.Println(seed(context.Background(), "acme", "marker0123"))
	// Output:
	// <nil>
	// ["marker0123"]
	// PUT example.com/notes: status 405, want 2xx: "Method Not Allowed\n"
}
