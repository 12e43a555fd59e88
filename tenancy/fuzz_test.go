package tenancy_test

import (
	"bufio"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"regexp"
	"strings"
	"testing"

	"github.com/tenantkit/tenantkit/tenancy"
)

// hintRule is the rule ValidHint implements, written independently.
var hintRule = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,47}$`)

// isHint reports whether s matches hintRule (Go's $ is the end of the text).
func isHint(s string) bool { return hintRule.MatchString(s) }

func FuzzValidHint(f *testing.F) {
	for _, s := range []string{"acme", "1", "01", "1_0", "+1", " 1", "a b", "../x", "ácme", "-a", "a-", "a-b",
		strings.Repeat("a", 48), strings.Repeat("a", 49), "_a", "a_", "a\n", "", "\x00", "A", "\u212a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, hint string) {
		err := tenancy.ValidHint(hint)
		if want := isHint(hint); (err == nil) != want {
			t.Fatalf("ValidHint(%q) = %v; want ok=%v", hint, err, want)
		}
		if err != nil && !errors.Is(err, tenancy.ErrInvalidTenant) {
			t.Fatalf("ValidHint(%q) = %v; want an error wrapping ErrInvalidTenant", hint, err)
		}
	})
}

// FuzzHeader sends arbitrary X-Tenant values, set directly and parsed from
// the wire, through the Header resolver and the Middleware, and checks that
// only hints that satisfy ValidHint, unchanged, ever reach the lookup.
func FuzzHeader(f *testing.F) {
	for _, s := range []string{"acme", "1", "01", "1_0", "+1", " 1", "1 ", "a b", "../x", "ácme", "", "a\r\nX-Tenant: b",
		"a,b", strings.Repeat("a", 300), "\x7f", "a\tb"} {
		f.Add(s, "")
		f.Add(s, "1")
	}
	f.Fuzz(func(t *testing.T, value, second string) {
		var reached []string
		lookup := tenancy.LookupFunc(func(_ context.Context, hint string) (tenancy.Tenant, error) {
			reached = append(reached, hint)
			return tenancy.Tenant{ID: hint, Slug: hint, Status: tenancy.StatusActive}, nil
		})
		var served string
		mw, err := tenancy.Middleware(tenancy.Header("X-Tenant"), lookup)
		if err != nil {
			t.Fatal(err)
		}
		h := mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			tt, _ := tenancy.FromContext(r.Context())
			served = tt.ID
		}))

		check := func(r *http.Request, values []string) {
			reached, served = nil, ""
			got, err := tenancy.Header("X-Tenant").Resolve(r)
			switch {
			case err == nil:
				if len(values) != 1 || got != values[0] {
					t.Fatalf("Resolve(%q) = %q; want the single value", values, got)
				}
				if got == "" || strings.TrimSpace(got) != got || strings.ContainsFunc(got, func(c rune) bool { return c < 0x20 || c == 0x7f }) {
					t.Fatalf("Resolve(%q) = %q: passes a value it should refuse", values, got)
				}
			case !errors.Is(err, tenancy.ErrNoTenant) && !errors.Is(err, tenancy.ErrInvalidTenant):
				t.Fatalf("Resolve(%q) error %v matches no sentinel", values, err)
			}
			h.ServeHTTP(httptest.NewRecorder(), r)
			for _, hint := range reached {
				if tenancy.ValidHint(hint) != nil || hint != got {
					t.Fatalf("lookup reached with %q for values %q (resolved %q)", hint, values, got)
				}
			}
			if served != "" && (len(reached) != 1 || served != reached[0]) {
				t.Fatalf("served tenant %q, looked up %q", served, reached)
			}
		}

		values := []string{value}
		if second != "" {
			values = append(values, second)
		}
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		for _, v := range values {
			r.Header.Add("X-Tenant", v)
		}
		check(r, values)

		raw := "GET / HTTP/1.1\r\nHost: example.com\r\nX-Tenant: " + value + "\r\n"
		if second != "" {
			raw += "X-Tenant: " + second + "\r\n"
		}
		if wire, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw + "\r\n"))); err == nil {
			check(wire, wire.Header.Values("X-Tenant"))
		}
	})
}

// FuzzSubdomain checks that whatever the Host, a resolved hint is one
// lower-case label that, joined to a base domain, is the host.
func FuzzSubdomain(f *testing.F) {
	for _, s := range []string{"acme.example.com", "ACME.example.com:8080", "example.com", "a.b.example.com", ".example.com",
		"acme.eu.example.com", "eu.example.com", "[::1]:80", "1.2.3.4", "acme.example.com.", "évil.example.com",
		"acme.example.\u212aom", "a:b:c", "", "acme.example.com:x", "1_0.example.com"} {
		f.Add(s)
	}
	res := tenancy.Subdomain{"example.com", "eu.example.com"}
	f.Fuzz(func(t *testing.T, host string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Host = host
		hint, err := res.Resolve(r)
		if err != nil {
			if hint != "" {
				t.Fatalf("Resolve(%q) = %q, %v; want no hint with an error", host, hint, err)
			}
			if !errors.Is(err, tenancy.ErrNoTenant) && !errors.Is(err, tenancy.ErrInvalidTenant) {
				t.Fatalf("Resolve(%q) error %v matches no sentinel", host, err)
			}
			return
		}
		if hint == "" || strings.ContainsAny(hint, ".:") || strings.ContainsAny(hint, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") {
			t.Fatalf("Resolve(%q) = %q: not one lower-case label", host, hint)
		}
		h := host
		if i := strings.LastIndexByte(h, ':'); i >= 0 {
			h = h[:i]
		}
		h = strings.TrimSuffix(h, ".")
		lower := []byte(h)
		for i, c := range lower {
			if 'A' <= c && c <= 'Z' {
				lower[i] = c + 'a' - 'A'
			}
		}
		if l := string(lower); l != hint+".example.com" && l != hint+".eu.example.com" {
			t.Fatalf("Resolve(%q) = %q: host is not the hint under a base domain", host, hint)
		}
		if hint+".example.com" == "eu.example.com" {
			t.Fatalf("Resolve(%q) = %q: a base domain named a tenant", host, hint)
		}
	})
}

// FuzzHeaderName checks the name check of Header: a name Middleware
// refuses is an ErrInvalidConfig there and in Resolve, and a name it
// accepts finds the value of that header, however the name is cased, as
// the header stored under the canonical name.
func FuzzHeaderName(f *testing.F) {
	for _, s := range []string{"X-Tenant", "x-tenant", "", " ", "X Tenant", "X-Tenant:", "a\r\nb", "é", "!#$%&'*+-.^_`|~", "1", "x--y", "-x", "ab-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		res := tenancy.Header(name)
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header[textproto.CanonicalMIMEHeaderKey(name)] = []string{"acme"}
		r.Header["X-Other"] = []string{"globex"}
		got, err := res.Resolve(r)
		if _, merr := tenancy.Middleware(res, tenancy.Static{"acme"}); merr != nil {
			if !errors.Is(merr, tenancy.ErrInvalidConfig) || !errors.Is(err, tenancy.ErrInvalidConfig) || got != "" {
				t.Fatalf("Header(%q): Middleware error %v, Resolve = %q, %v; want ErrInvalidConfig from both", name, merr, got, err)
			}
			return
		}
		if name != "X-Other" && (got != "acme" || err != nil) {
			t.Fatalf("Header(%q).Resolve = %q, %v; want \"acme\"", name, got, err)
		}
	})
}

// FuzzAgree sends arbitrary hosts and X-Tenant values through
// Agree(subdomain, header) and checks it against the two resolvers alone:
// a hint is returned only if every resolver that names one names it, and a
// conflict is reported only if two name different hints.
func FuzzAgree(f *testing.F) {
	for _, tc := range [][2]string{{"acme.example.com", "acme"}, {"acme.example.com", "globex"}, {"example.com", "acme"},
		{"ACME.example.com", "acme"}, {"a.b.example.com", "acme"}, {"acme.example.com", ""}, {"acme.example.com:1", " acme"}} {
		f.Add(tc[0], tc[1])
	}
	sub := tenancy.Subdomain{"example.com"}
	header := tenancy.Header("X-Tenant")
	res := tenancy.Agree{sub, header}
	f.Fuzz(func(t *testing.T, host, value string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Host = host
		if value != "" {
			r.Header.Set("X-Tenant", value)
		}
		s, serr := sub.Resolve(r)
		h, herr := header.Resolve(r)
		got, err := res.Resolve(r)
		names := func(hint string, err error) bool { return err == nil && hint != "" }
		switch {
		case serr != nil && !errors.Is(serr, tenancy.ErrNoTenant):
			if err != serr {
				t.Fatalf("Agree = %q, %v; want the subdomain's error %v", got, err, serr)
			}
		case herr != nil && !errors.Is(herr, tenancy.ErrNoTenant):
			if err != herr {
				t.Fatalf("Agree = %q, %v; want the header's error %v", got, err, herr)
			}
		case names(s, serr) && names(h, herr) && s != h:
			var ce *tenancy.ConflictError
			if !errors.As(err, &ce) || ce.Hints != [2]string{s, h} || !errors.Is(err, tenancy.ErrInvalidTenant) || got != "" {
				t.Fatalf("Agree = %q, %v; want a conflict between %q and %q", got, err, s, h)
			}
		case names(s, serr) || names(h, herr):
			want := s
			if !names(s, serr) {
				want = h
			}
			if err != nil || got != want {
				t.Fatalf("Agree = %q, %v; want %q", got, err, want)
			}
		default:
			if !errors.Is(err, tenancy.ErrNoTenant) {
				t.Fatalf("Agree = %q, %v; want ErrNoTenant", got, err)
			}
		}
	})
}
