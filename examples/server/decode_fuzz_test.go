package main

// Fuzz targets for the server's parsers: the request body parser and the
// email, slug and id rules.

import (
	"encoding/json"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseObject: parseObject never panics; it accepts a body only if the
// body is one JSON object of known string fields with every required one
// present, and then hands out exactly the values the object holds; it
// refuses everything else with a *ValidationError of at least one entry.
func FuzzParseObject(f *testing.F) {
	for _, seed := range []string{
		`{"email":"a@example.com","password":"correct horse"}`,
		`{"email":"a@example.com","password":"correct horse","display_name":"Zoë"}`,
		`{"email":"a@example.com","password":"x","display_name":null}`,
		`{"email":"a@example.com"}`,
		`{}`, ``, ` `, `[]`, `"x"`, `42`, `null`, `true`,
		`{"email":"a","email":"b","password":"p"}`,
		`{"email":"a","password":"p"} {}`,
		`{"email":"a","password":"p"}x`,
		`{"email":1,"password":true,"zzz":{}}`,
		`{"email":"\u00e9\ud83d\ude00","password":"\\\""}`,
		`{"email":"a","password":"p",}`,
		`{"email":"a" "password":"p"}`,
		"{\"email\":\"\xff\",\"password\":\"p\"}",
		`{"Email":"a","password":"p"}`,
		`{"email":"a","password":"p","display_name":"` + strings.Repeat("d", 200) + `"}`,
		`{"zzz":[[[[[[[[[[]]]]]]]]]]}`,
		`{"email":"a","password":1e999}`,
		`{"email":"\ud800","password":"p"}`,
		"\ufeff{}",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var email, password, displayName *string
		fields := []field{
			{name: "email", required: true, dst: &email},
			{name: "password", required: true, dst: &password},
			{name: "display_name", dst: &displayName},
		}
		err := parseObject(body, fields)
		if err != nil {
			var verr *ValidationError
			if !errors.As(err, &verr) || len(verr.Errors) == 0 {
				t.Fatalf("parseObject(%q) = %v; want a *ValidationError with at least one entry", body, err)
			}
			return
		}
		if email == nil || password == nil {
			t.Fatalf("parseObject(%q) = nil with email %v, password %v; want every required field set", body, email, password)
		}
		if !utf8.Valid(body) {
			t.Fatalf("parseObject(%q) = nil; want invalid UTF-8 refused", body)
		}
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil || m == nil {
			t.Fatalf("parseObject(%q) = nil, but the body is not one JSON object: %v", body, err)
		}
		got := map[string]*string{"email": email, "password": password, "display_name": displayName}
		for k, v := range m {
			p, known := got[k]
			s, isString := v.(string)
			if !known || !isString || p == nil || *p != s {
				t.Fatalf("parseObject(%q) = nil with %q handed out as %s; want only known string fields, handed out as %#v", body, k, showPtr(p), v)
			}
		}
		if displayName != nil {
			if _, ok := m["display_name"]; !ok {
				t.Fatalf("parseObject(%q) set display_name, which the body does not hold", body)
			}
		}
	})
}

// emailRule is API.md's email rule written independently of validEmail:
// a dot-atom local part of the listed characters, '@', two or more labels
// of letters, digits and inner hyphens (at most 63 characters each, as DNS
// has it: API.md does not say so, validEmail does).
var emailRule = regexp.MustCompile("^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*" +
	`@[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$`)

func refValidEmail(s string) bool {
	at := strings.IndexByte(s, '@')
	return len(s) <= 254 && at >= 1 && at <= 64 && emailRule.MatchString(s)
}

// FuzzValidEmail: validEmail agrees with an independent reading of the
// rule, and never accepts what normalizing would change but trimming.
func FuzzValidEmail(f *testing.F) {
	for _, seed := range []string{
		"a@example.com", "A@Example.COM", "!#$%&'*+/=?^_`{|}~-.x@example.com", email254, email255,
		"", "@", "a@", "@b.c", "a@b", "a@b.", "a@.b", "a@b..c", ".a@b.c", "a.@b.c", "a..b@c.d",
		`"a"@b.c`, "a@[1.2.3.4]", "A <a@b.c>", "a@-b.c", "a@b-.c", "a@b_c.d", "é@b.c", "a@é.c",
		strings.Repeat("l", 64) + "@b.c", strings.Repeat("l", 65) + "@b.c", "a@" + strings.Repeat("d", 63) + ".c",
		"a@" + strings.Repeat("d", 64) + ".c", "a@b@c.d", "a b@c.d", "a@1.2", "a\x00@b.c",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := validEmail(s)
		if want := refValidEmail(s); got != want {
			t.Fatalf("validEmail(%q) = %v; want %v (API.md's rule)", s, got, want)
		}
		if got && !validEmail(normalizeEmail(s)) {
			t.Fatalf("validEmail(%q) = true but validEmail(%q) = false", s, normalizeEmail(s))
		}
	})
}

var nonSlugRuns = regexp.MustCompile(`[^a-z0-9]+`)

// refDeriveSlug is API.md's derivation written independently of
// deriveSlug. The rule cuts after trimming, which may leave a trailing '-'
// that no slug may have; it goes too.
func refDeriveSlug(name string) string {
	s := nonSlugRuns.ReplaceAllString(strings.ToLower(name), "-")
	s = strings.Trim(s, "-")
	if len(s) > 50 {
		s = strings.TrimRight(s[:50], "-")
	}
	if len(s) < 3 || strings.Trim(s, "0123456789") == "" {
		s = strings.TrimRight("org-"+s, "-")
	}
	return s
}

// FuzzDeriveSlug: whatever the name, the derived slug is a valid slug, at
// most 54 characters (so "-N" suffixes stay within 63), and the one
// API.md's rule gives.
func FuzzDeriveSlug(f *testing.F) {
	for _, seed := range []string{
		"Acme, Inc.", "12", "!!", "", " ", "x", "ab", "abc", "1 2", "Ünïcode Straße", "\u212a", "İstanbul",
		strings.Repeat("a", 60), strings.Repeat("b", 49) + " c", strings.Repeat("7", 60), "--a--", "a\xffb",
		strings.Repeat("é", 100), "org", "-", "0", "a_b_c",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, name string) {
		got := deriveSlug(name)
		if !validSlug(got) {
			t.Fatalf("deriveSlug(%q) = %q; want a valid slug", name, got)
		}
		if len(got) > 54 {
			t.Fatalf("deriveSlug(%q) = %q (%d characters); want at most 54", name, got, len(got))
		}
		if want := refDeriveSlug(name); got != want {
			t.Fatalf("deriveSlug(%q) = %q; want %q (API.md's rule)", name, got, want)
		}
	})
}

// FuzzParseID: parseID accepts exactly the canonical decimal form of a
// positive int64 (1 to 19 digits, no sign, no leading zero), which is what
// X-Tenant ids and path ids must be.
func FuzzParseID(f *testing.F) {
	for _, seed := range []string{"1", "42", "0", "01", "+1", "-1", " 1", "1 ", "1_0", "1e3", "0x1",
		"9223372036854775807", "9223372036854775808", "12345678901234567890", "", "١"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseID(s)
		n, err := strconv.ParseInt(s, 10, 64)
		wantOK := err == nil && n > 0 && strconv.FormatInt(n, 10) == s
		if ok != wantOK || ok && got != n {
			t.Fatalf("parseID(%q) = %d, %v; want %d, %v", s, got, ok, n, wantOK)
		}
	})
}
