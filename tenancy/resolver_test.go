package tenancy_test

import (
	"bufio"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tenantkit/tenantkit/tenancy"
)

func newRequest(header string, values ...string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "http://example.com/", nil)
	for _, v := range values {
		r.Header.Add(header, v)
	}
	return r
}

func TestHeader(t *testing.T) {
	long := strings.Repeat("a", 300)
	tests := []struct {
		name    string
		values  []string
		want    string
		wantErr error
	}{
		{"slug", []string{"acme"}, "acme", nil},
		{"id", []string{"1"}, "1", nil},
		// The resolver extracts; ValidHint (run by Middleware) refuses these.
		{"underscore passes through unchanged", []string{"1_0"}, "1_0", nil},
		{"leading zero passes through unchanged", []string{"01"}, "01", nil},
		{"plus passes through unchanged", []string{"+1"}, "+1", nil},
		{"inner space passes through", []string{"a b"}, "a b", nil},
		{"traversal passes through", []string{"../x"}, "../x", nil},
		{"unicode passes through", []string{"ácme"}, "ácme", nil},
		{"comma list is one value", []string{"1,2"}, "1,2", nil},
		{"255 bytes", []string{long[:255]}, long[:255], nil},
		{"none", nil, "", tenancy.ErrNoTenant},
		{"empty", []string{""}, "", tenancy.ErrInvalidTenant},
		{"leading space", []string{" 1"}, "", tenancy.ErrInvalidTenant},
		{"trailing space", []string{"1 "}, "", tenancy.ErrInvalidTenant},
		{"leading tab", []string{"\t1"}, "", tenancy.ErrInvalidTenant},
		{"only space", []string{" "}, "", tenancy.ErrInvalidTenant},
		{"nul", []string{"1\x00"}, "", tenancy.ErrInvalidTenant},
		{"newline", []string{"a\nb"}, "", tenancy.ErrInvalidTenant},
		{"carriage return", []string{"a\rb"}, "", tenancy.ErrInvalidTenant},
		{"del", []string{"a\x7f"}, "", tenancy.ErrInvalidTenant},
		{"inner tab", []string{"a\tb"}, "", tenancy.ErrInvalidTenant},
		{"very long", []string{long}, "", tenancy.ErrInvalidTenant},
		{"two values", []string{"1", "2"}, "", tenancy.ErrInvalidTenant},
		{"same value twice", []string{"1", "1"}, "", tenancy.ErrInvalidTenant},
		{"empty and value", []string{"", "1"}, "", tenancy.ErrInvalidTenant},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tenancy.Header("X-Tenant").Resolve(newRequest("X-Tenant", tt.values...))
			if got != tt.want || !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Errorf("Resolve(%q) = %q, %v; want %q, %v", tt.values, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestHeaderName(t *testing.T) {
	r := newRequest("X-Tenant", "acme")
	for _, name := range []string{"X-Tenant", "x-tenant", "X-TENANT"} {
		if got, err := tenancy.Header(name).Resolve(r); got != "acme" || err != nil {
			t.Errorf("Header(%q).Resolve() = %q, %v; want %q, nil", name, got, err, "acme")
		}
	}
	if got, err := tenancy.Header("X-Other").Resolve(r); !errors.Is(err, tenancy.ErrNoTenant) {
		t.Errorf("Header(X-Other).Resolve() = %q, %v; want ErrNoTenant", got, err)
	}
}

// TestHeaderNameCanonical checks that Header reads the header under the
// canonical form of its name, as net/http stores parsed headers, and only
// there: a value stored under another spelling by hand is not found, as
// with r.Header.Get.
func TestHeaderNameCanonical(t *testing.T) {
	tests := []struct {
		name    string
		key     string // the map key the value is stored under
		want    string
		wantErr error
	}{
		{"X-Tenant", "X-Tenant", "acme", nil},
		{"x-tenant", "X-Tenant", "acme", nil},
		{"x-TENANT", "X-Tenant", "acme", nil},
		{"X-Tenant-Id", "X-Tenant-Id", "acme", nil},
		{"x-tenant-id", "X-Tenant-Id", "acme", nil},
		{"x-tenant-id", "X-Tenant-ID", "", tenancy.ErrNoTenant}, // not canonical: Get misses it too
		{"x-tenant", "x-tenant", "", tenancy.ErrNoTenant},
		{"x--y", "X--Y", "acme", nil},
		{"x_y", "X_y", "acme", nil},
		{"1a", "1a", "acme", nil},
		{"x-tenan", "X-Tenant", "", tenancy.ErrNoTenant},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header[tt.key] = []string{"acme"}
		r.Header["X-Other"] = []string{"globex"}
		got, err := tenancy.Header(tt.name).Resolve(r)
		if got != tt.want || !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
			t.Errorf("Header(%q) on key %q: Resolve() = %q, %v; want %q, %v", tt.name, tt.key, got, err, tt.want, tt.wantErr)
		}
		if get := r.Header.Get(tt.name); get != tt.want {
			t.Errorf("Header(%q) on key %q: Get = %q but Resolve = %q", tt.name, tt.key, get, got)
		}
	}
}

// TestHeaderWire parses real requests, so what net/http does to header
// lines (trimming, folding, repeating) is covered too.
func TestHeaderWire(t *testing.T) {
	tests := []struct {
		name    string
		lines   string
		want    string
		wantErr error
	}{
		{"one line", "X-Tenant: acme\r\n", "acme", nil},
		{"lower-case name", "x-tenant: acme\r\n", "acme", nil},
		{"spaces trimmed by net/http", "X-Tenant:   acme  \r\n", "acme", nil},
		{"two lines", "X-Tenant: acme\r\nX-Tenant: globex\r\n", "", tenancy.ErrInvalidTenant},
		{"two lines differing in case", "X-Tenant: acme\r\nx-tenant: acme\r\n", "", tenancy.ErrInvalidTenant},
		{"empty", "X-Tenant:\r\n", "", tenancy.ErrInvalidTenant},
		{"absent", "X-Other: acme\r\n", "", tenancy.ErrNoTenant},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := "GET / HTTP/1.1\r\nHost: example.com\r\n" + tt.lines + "\r\n"
			r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
			if err != nil {
				t.Fatalf("ReadRequest: %v", err)
			}
			got, err := tenancy.Header("X-Tenant").Resolve(r)
			if got != tt.want || !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Errorf("Resolve() = %q, %v; want %q, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestPathValue(t *testing.T) {
	tests := []struct {
		name    string
		path    string
		want    string
		wantErr error
	}{
		{"slug", "/t/acme/x", "acme", nil},
		{"escaped slash is unescaped", "/t/a%2Fb/x", "a/b", nil},
		{"escaped dots", "/t/%2E%2E/x", "..", nil},
		{"escaped space", "/t/%201/x", "", tenancy.ErrInvalidTenant},
		{"escaped nul", "/t/a%00/x", "", tenancy.ErrInvalidTenant},
		{"escaped newline", "/t/a%0Ab/x", "", tenancy.ErrInvalidTenant},
		{"very long", "/t/" + strings.Repeat("a", 256) + "/x", "", tenancy.ErrInvalidTenant},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got string
			var err error
			mux := http.NewServeMux()
			mux.HandleFunc("/t/{tenant}/x", func(w http.ResponseWriter, r *http.Request) {
				got, err = tenancy.PathValue("tenant").Resolve(r)
			})
			mux.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, tt.path, nil))
			if got != tt.want || !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Errorf("Resolve(%q) = %q, %v; want %q, %v", tt.path, got, err, tt.want, tt.wantErr)
			}
		})
	}
	// Outside a matching pattern the wildcard is unset.
	if got, err := tenancy.PathValue("tenant").Resolve(httptest.NewRequest(http.MethodGet, "/", nil)); !errors.Is(err, tenancy.ErrNoTenant) {
		t.Errorf("Resolve(no pattern) = %q, %v; want ErrNoTenant", got, err)
	}
}

func TestSubdomain(t *testing.T) {
	res := tenancy.Subdomain{"example.com", "EU.Example.com.", "localhost"}
	tests := []struct {
		name    string
		host    string
		want    string
		wantErr error
	}{
		{"label", "acme.example.com", "acme", nil},
		{"port stripped", "acme.example.com:8080", "acme", nil},
		{"empty port", "acme.example.com:", "acme", nil},
		{"trailing dot", "acme.example.com.", "acme", nil},
		{"upper case host", "ACME.Example.COM", "acme", nil},
		{"nested base wins", "acme.eu.example.com", "acme", nil},
		{"digits", "1.example.com", "1", nil},
		{"localhost base", "acme.localhost:8000", "acme", nil},
		// Extracted as is; ValidHint (run by Middleware) refuses these.
		{"underscore", "1_0.example.com", "1_0", nil},
		{"leading zero", "01.example.com", "01", nil},
		{"plus", "+1.example.com", "+1", nil},
		{"unicode label", "ácme.example.com", "ácme", nil},
		{"base itself", "example.com", "", tenancy.ErrNoTenant},
		{"nested base itself", "eu.example.com", "", tenancy.ErrNoTenant},
		{"base with port", "example.com:443", "", tenancy.ErrNoTenant},
		{"other domain", "acme.example.org", "", tenancy.ErrNoTenant},
		{"suffix without dot", "evilexample.com", "", tenancy.ErrNoTenant},
		{"suffix with hyphen", "acme.evil-example.com", "", tenancy.ErrNoTenant},
		{"base as label", "example.com.evil.org", "", tenancy.ErrNoTenant},
		{"ipv4", "127.0.0.1:8000", "", tenancy.ErrNoTenant},
		{"ipv6", "[::1]:8000", "", tenancy.ErrNoTenant},
		{"empty host", "", "", tenancy.ErrNoTenant},
		{"kelvin sign is not k", "acme.example.\u212aom", "", tenancy.ErrNoTenant},
		{"two labels", "a.b.example.com", "", tenancy.ErrInvalidTenant},
		{"two labels under nested base", "a.b.eu.example.com", "", tenancy.ErrInvalidTenant},
		{"empty label", ".example.com", "", tenancy.ErrInvalidTenant},
		{"double dot", "a..example.com", "", tenancy.ErrInvalidTenant},
		{"bad port", "acme.example.com:x", "", tenancy.ErrInvalidTenant},
		{"colons", "a:b:c", "", tenancy.ErrInvalidTenant},
		{"space in label", "a b.example.com", "a b", nil},
		{"leading space", " a.example.com", "", tenancy.ErrInvalidTenant},
		{"control char", "a\x01.example.com", "", tenancy.ErrInvalidTenant},
		{"very long label", strings.Repeat("a", 300) + ".example.com", "", tenancy.ErrInvalidTenant},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.Host = tt.host
			got, err := res.Resolve(r)
			if got != tt.want || !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Errorf("Resolve(Host %q) = %q, %v; want %q, %v", tt.host, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestSubdomainURLHost(t *testing.T) {
	res := tenancy.Subdomain{"example.com"}
	r := httptest.NewRequest(http.MethodGet, "http://acme.example.com/", nil)
	r.Host = ""
	if got, err := res.Resolve(r); got != "acme" || err != nil {
		t.Errorf("Resolve(URL host) = %q, %v; want %q, nil", got, err, "acme")
	}
}

func TestSubdomainConfig(t *testing.T) {
	tests := []struct {
		name  string
		bases []string
		ok    bool
	}{
		{"one", []string{"example.com"}, true},
		{"trailing dot and case", []string{"Example.COM."}, true},
		{"single label", []string{"localhost"}, true},
		{"none", nil, false},
		{"empty", []string{""}, false},
		{"leading dot", []string{".example.com"}, false},
		{"port", []string{"example.com:80"}, false},
		{"wildcard", []string{"*.example.com"}, false},
		{"space", []string{"exa mple.com"}, false},
		{"one bad among good", []string{"example.com", "bad_domain.com"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tenancy.Middleware(tenancy.Subdomain(tt.bases), newRegistry(acme))
			if got := err == nil; got != tt.ok || (!tt.ok && !errors.Is(err, tenancy.ErrInvalidConfig)) {
				t.Errorf("Middleware(Subdomain(%q)) = %v; want ok=%v", tt.bases, err, tt.ok)
			}
		})
	}
}

func TestChain(t *testing.T) {
	sub := tenancy.Subdomain{"example.com"}
	boom := errors.New("boom")
	tests := []struct {
		name    string
		chain   tenancy.Resolver
		host    string
		header  []string
		want    string
		wantErr error
	}{
		{"first wins", tenancy.Chain{tenancy.Header("X-Tenant"), sub}, "globex.example.com", []string{"acme"}, "acme", nil},
		{"falls through on no tenant", tenancy.Chain{tenancy.Header("X-Tenant"), sub}, "globex.example.com", nil, "globex", nil},
		{"invalid stops the chain", tenancy.Chain{tenancy.Header("X-Tenant"), sub}, "globex.example.com", []string{"a", "b"}, "", tenancy.ErrInvalidTenant},
		{"none found", tenancy.Chain{tenancy.Header("X-Tenant"), sub}, "example.com", nil, "", tenancy.ErrNoTenant},
		{"empty hint falls through", tenancy.Chain{
			tenancy.ResolverFunc(func(*http.Request) (string, error) { return "", nil }), sub,
		}, "acme.example.com", nil, "acme", nil},
		{"other error stops the chain", tenancy.Chain{
			tenancy.ResolverFunc(func(*http.Request) (string, error) { return "", boom }), sub,
		}, "acme.example.com", nil, "", boom},
		{"wrapped no tenant falls through", tenancy.Chain{
			tenancy.ResolverFunc(func(*http.Request) (string, error) { return "", errors.Join(tenancy.ErrNoTenant, boom) }), sub,
		}, "acme.example.com", nil, "acme", nil},
		{"nested chain", tenancy.Chain{tenancy.Chain{tenancy.Header("X-Tenant")}, sub}, "acme.example.com", nil, "acme", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRequest("X-Tenant", tt.header...)
			r.Host = tt.host
			got, err := tt.chain.Resolve(r)
			if got != tt.want || !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Errorf("Resolve() = %q, %v; want %q, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestAgree(t *testing.T) {
	sub := tenancy.Subdomain{"example.com"}
	header := tenancy.Header("X-Tenant")
	subHeader := tenancy.Agree{sub, header}
	boom := errors.New("boom")
	empty := tenancy.ResolverFunc(func(*http.Request) (string, error) { return "", nil })
	tests := []struct {
		name     string
		res      tenancy.Resolver
		host     string
		header   []string
		want     string
		wantErr  error
		conflict *tenancy.ConflictError
	}{
		{"both agree", subHeader, "acme.example.com", []string{"acme"}, "acme", nil, nil},
		{"subdomain only", subHeader, "acme.example.com", nil, "acme", nil, nil},
		{"header only", subHeader, "example.com", []string{"acme"}, "acme", nil, nil},
		{"header only, other host", subHeader, "localhost:8080", []string{"acme"}, "acme", nil, nil},
		{"conflict", subHeader, "acme.example.com", []string{"globex"}, "", tenancy.ErrConflictingTenant,
			&tenancy.ConflictError{Hints: [2]string{"acme", "globex"}, Resolvers: [2]int{1, 2}}},
		{"conflict is invalid", subHeader, "acme.example.com", []string{"globex"}, "", tenancy.ErrInvalidTenant, nil},
		{"conflict, header first", tenancy.Agree{header, sub}, "acme.example.com", []string{"globex"}, "", tenancy.ErrConflictingTenant,
			&tenancy.ConflictError{Hints: [2]string{"globex", "acme"}, Resolvers: [2]int{1, 2}}},
		// Hints are compared exactly: an ID and a slug of one tenant differ.
		{"id and slug differ", subHeader, "acme.example.com", []string{"1"}, "", tenancy.ErrConflictingTenant, nil},
		// The subdomain is lower-cased; the header is not, and a differing case is a conflict.
		{"case differs", subHeader, "ACME.example.com", []string{"Acme"}, "", tenancy.ErrConflictingTenant, nil},
		{"case folded host agrees", subHeader, "ACME.example.com", []string{"acme"}, "acme", nil, nil},
		{"none", subHeader, "example.com", nil, "", tenancy.ErrNoTenant, nil},
		{"malformed header is refused though the host names one", subHeader, "acme.example.com", []string{"acme", "acme"}, "", tenancy.ErrInvalidTenant, nil},
		{"malformed host is refused though the header names one", subHeader, "a.b.example.com", []string{"acme"}, "", tenancy.ErrInvalidTenant, nil},
		{"empty hint names nothing", tenancy.Agree{empty, sub, empty}, "acme.example.com", nil, "acme", nil, nil},
		{"other error stops", tenancy.Agree{sub, tenancy.ResolverFunc(func(*http.Request) (string, error) { return "", boom })}, "acme.example.com", nil, "", boom, nil},
		{"third resolver disagrees", tenancy.Agree{sub, header, tenancy.ResolverFunc(func(*http.Request) (string, error) { return "initech", nil })},
			"acme.example.com", []string{"acme"}, "", tenancy.ErrConflictingTenant,
			&tenancy.ConflictError{Hints: [2]string{"acme", "initech"}, Resolvers: [2]int{1, 3}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRequest("X-Tenant", tt.header...)
			r.Host = tt.host
			got, err := tt.res.Resolve(r)
			if got != tt.want || !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("Resolve() = %q, %v; want %q, %v", got, err, tt.want, tt.wantErr)
			}
			if tt.conflict != nil {
				var ce *tenancy.ConflictError
				if !errors.As(err, &ce) || *ce != *tt.conflict {
					t.Errorf("error = %#v; want %#v", err, tt.conflict)
				}
			}
		})
	}
}

func TestConflictErrorText(t *testing.T) {
	e := &tenancy.ConflictError{Hints: [2]string{"acme", "glo\"bex\n" + strings.Repeat("x", 100)}, Resolvers: [2]int{1, 2}}
	want := `tenancy: request names different tenants: resolver 1 names "acme", resolver 2 names "glo\"bex\n` + strings.Repeat("x", 56) + `"`
	if got := e.Error(); got != want {
		t.Errorf("Error() = %s\nwant      %s", got, want)
	}
}

func TestResolverAllocs(t *testing.T) {
	sub := tenancy.Subdomain{"example.com"}
	r := newRequest("X-Tenant", "acme")
	r.Host = "acme.example.com:8080"
	bad := newRequest("X-Tenant", " acme")
	tests := []struct {
		name string
		res  tenancy.Resolver
		r    *http.Request
	}{
		{"header", tenancy.Header("X-Tenant"), r},
		{"header, name not canonical", tenancy.Header("x-tenant"), r},
		{"header refused", tenancy.Header("X-Tenant"), bad},
		{"subdomain", sub, r},
		{"subdomain, nested bases in upper case", tenancy.Subdomain{"EXAMPLE.com.", "eu.example.com", "localhost"}, r},
		{"subdomain, no match", tenancy.Subdomain{"example.org"}, r},
		{"chain", tenancy.Chain{tenancy.Header("X-Missing"), sub}, r},
		{"agree", tenancy.Agree{sub, tenancy.Header("X-Tenant"), tenancy.Header("X-Missing")}, r},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if n := testing.AllocsPerRun(100, func() { _, _ = tt.res.Resolve(tt.r) }); n != 0 {
				t.Errorf("Resolve allocates %v times; want 0", n)
			}
		})
	}
}
