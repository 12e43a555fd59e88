package main

import (
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"
)

// emailCases: the ASCII rule holds before any case folding.
var emailCases = []struct {
	in, normalized string
	valid          bool
}{
	{"Info@Example.COM", "info@example.com", true},
	{"  user@example.com ", "user@example.com", true},
	{"\u212Aelvin@example.com", "\u212Aelvin@example.com", false}, // KELVIN SIGN: ToLower made it 'k'
	{"\u0130nfo@example.com", "\u0130nfo@example.com", false},     // LATIN CAPITAL I WITH DOT
	{"user@\u212Aexample.com", "user@\u212Aexample.com", false},
	{"\u017Fam@example.com", "\u017Fam@example.com", false}, // LONG S, which folds to 's'
	{"ÅNGSTRÖM@example.com", "Ångström@example.com", false},
	{"\uFF41dmin@example.com", "\uFF41dmin@example.com", false}, // fullwidth a
}

func TestEmailASCIIBeforeFolding(t *testing.T) {
	for _, c := range emailCases {
		if got := normalizeEmail(c.in); got != c.normalized && c.valid {
			t.Errorf("normalizeEmail(%q) = %q; want %q", c.in, got, c.normalized)
		}
		var v ValidationError
		in := c.in
		checkEmail(&v, &in)
		if got := v.err() == nil; got != c.valid {
			t.Errorf("checkEmail(%q) valid = %v; want %v", c.in, got, c.valid)
		}
	}
}

// nameCases: organization names and display names refuse control, format
// and invisible characters; leading and trailing spaces are trimmed.
var nameCases = []struct {
	name string
	in   string
	ok   bool
}{
	{"plain", "Acme Corp", true},
	{"accents", "Café Ünïcode", true},
	{"CJK", "東京 株式会社", true},
	{"fullwidth", "Ａｃｍｅ", true},
	{"emoji with variation selector", "\u2764\uFE0F Love", true},
	{"ideographic space inside", "Acme\u3000Corp", true},
	{"trailing line separator trimmed", "Acme\u2028", true},
	{"Hangul filler U+3164", "\u3164", false},
	{"Hangul filler inside", "Ac\u3164me", false},
	{"Hangul choseong filler U+115F", "\u115FAcme", false},
	{"Hangul jungseong filler U+1160", "Acme\u1160", false},
	{"halfwidth Hangul filler U+FFA0", "Acme\uFFA0", false},
	{"combining grapheme joiner U+034F", "Ac\u034Fme", false},
	{"zero width space", "Ac\u200Bme", false},
	{"zero width non-joiner", "Ac\u200Cme", false},
	{"zero width joiner", "Ac\u200Dme", false},
	{"left-to-right mark", "Ac\u200Eme", false},
	{"right-to-left mark", "Ac\u200Fme", false},
	{"word joiner", "Ac\u2060me", false},
	{"invisible plus U+2064", "Ac\u2064me", false},
	{"byte order mark", "\uFEFFAcme", false},
	{"inner line separator", "Ac\u2028me", false},
	{"inner paragraph separator", "Ac\u2029me", false},
	{"Mongolian vowel separator", "Ac\u180Eme", false},
	{"Braille blank", "\u2800", false},
	{"Khmer inherent vowel", "Ac\u17B4me", false},
	{"right-to-left override", "Acme\u202Egpj.exe", false},
	{"private use", "Ac\uE000me", false},
	{"replacement character", "Ac\uFFFDme", false},
	{"tab inside", "Ac\tme", false},
	{"NUL", "Ac\x00me", false},
	{"DEL", "Ac\x7Fme", false},
	{"C1 control", "Ac\u0085me", false},
	{"only spaces", "   ", false},
}

func TestNamesRefuseInvisible(t *testing.T) {
	for _, c := range nameCases {
		t.Run(c.name, func(t *testing.T) {
			var v ValidationError
			in := c.in
			checkOrgName(&v, &in)
			if got := v.err() == nil; got != c.ok {
				t.Errorf("checkOrgName(%q) ok = %v (%v); want %v", c.in, got, v.Errors, c.ok)
			}
			if c.in == "   " {
				return // a display name may be empty
			}
			v = ValidationError{}
			checkDisplayName(&v, &in)
			if got := v.err() == nil; got != c.ok {
				t.Errorf("checkDisplayName(%q) ok = %v; want %v", c.in, got, c.ok)
			}
		})
	}
}

// TestValidationOverHTTP: a Kelvin-sign email is refused at registration
// (422) and is not another spelling of an ASCII address at login (401);
// an organization named with an invisible character is refused (422).
func TestValidationOverHTTP(t *testing.T) {
	ts := startServer(t, sqliteConfig(t))
	tok := ts.coreUser(t, "kelvin@example.com")
	kelvin := map[string]string{"email": "\u212Aelvin@example.com", "password": "correct horse battery"}
	expect422(t, ts, req{method: "POST", path: "/api/register", body: kelvin}, "email")
	expectStatus(t, ts, req{method: "POST", path: "/api/login", body: kelvin}, http.StatusUnauthorized)
	for _, name := range []string{"\u3164", "Ac\u034Fme", "Ac\u2028me", "\u115F\u1160"} {
		expect422(t, ts, req{method: "POST", path: "/api/organizations", token: tok, body: map[string]string{"name": name}}, "name")
	}
	id, _ := ts.org(t, tok, "Visible")
	ts.tenantUser(t, id, "member@example.com")
	expect422(t, ts, req{method: "POST", path: "/api/tenant/auth/register", tenant: id,
		body: map[string]string{"email": "\u212Aate@example.com", "password": "correct horse battery"}}, "email")
	expect422(t, ts, req{method: "POST", path: "/api/tenant/auth/register", tenant: id,
		body: map[string]string{"email": "ann@example.com", "password": "correct horse battery", "display_name": "Ann\u200B"}}, "display_name")
}

// FuzzCleanText: whatever cleanText accepts is trimmed, within its
// bounds, free of invisible characters, and accepted again unchanged.
func FuzzCleanText(f *testing.F) {
	for _, c := range nameCases {
		f.Add(c.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			return // the JSON decoder refuses invalid UTF-8 first
		}
		out, problem := cleanText(s, 1, maxNameLen)
		if problem != "" {
			return
		}
		if out != strings.TrimSpace(out) {
			t.Fatalf("cleanText(%q) = %q: not trimmed", s, out)
		}
		if n := utf8.RuneCountInString(out); n < 1 || n > maxNameLen {
			t.Fatalf("cleanText(%q) = %q: %d characters", s, out, n)
		}
		for _, r := range out {
			if invisible(r) {
				t.Fatalf("cleanText(%q) = %q holds %U", s, out, r)
			}
		}
		if again, p := cleanText(out, 1, maxNameLen); again != out || p != "" {
			t.Fatalf("cleanText(%q) = %q, %q; want it unchanged", out, again, p)
		}
	})
}

// FuzzNormalizeEmail: normalizing folds only ASCII letters, and an email
// it makes valid is all ASCII.
func FuzzNormalizeEmail(f *testing.F) {
	for _, c := range emailCases {
		f.Add(c.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := normalizeEmail(s)
		if strings.ToLower(n) != n && strings.ContainsFunc(n, func(r rune) bool { return r >= 'A' && r <= 'Z' }) {
			t.Fatalf("normalizeEmail(%q) = %q keeps ASCII capitals", s, n)
		}
		trimmed := strings.TrimSpace(s)
		if len(n) != len(trimmed) {
			t.Fatalf("normalizeEmail(%q) = %q changed more than ASCII case", s, n)
		}
		if validEmail(n) {
			for i := 0; i < len(n); i++ {
				if n[i] >= utf8.RuneSelf {
					t.Fatalf("validEmail(%q) = true for a non-ASCII email", n)
				}
			}
		}
	})
}
