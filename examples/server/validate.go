package main

import (
	"errors"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits from API.md.
const (
	minPasswordLen    = 8
	maxPasswordLen    = 256
	maxNameLen        = 100
	maxDisplayNameLen = 100
	maxEmailLen       = 254
	maxLocalLen       = 64
	minSlugLen        = 3
	maxSlugLen        = 63
	derivedSlugLen    = 50
)

// normalizeEmail trims an email and lower-cases its ASCII letters;
// validEmail checks the result. Only ASCII is folded: strings.ToLower
// would turn U+212A KELVIN SIGN into 'k' (and U+0130 into 'i' and a
// combining dot), making an address that breaks the ASCII rule pass it
// and collide with another.
func normalizeEmail(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'A' && r <= 'Z' {
			return r + ('a' - 'A')
		}
		return r
	}, strings.TrimSpace(s))
}

// validEmail reports whether s (already normalized) is an email API.md
// accepts: ASCII, a dot-atom local part of 1 to 64 characters, '@', and a
// domain of two or more labels of letters, digits and inner hyphens, at
// most 254 characters in all.
func validEmail(s string) bool {
	if len(s) > maxEmailLen {
		return false
	}
	at := strings.IndexByte(s, '@')
	if at < 1 || at > maxLocalLen {
		return false
	}
	local, domain := s[:at], s[at+1:]
	if local[0] == '.' || local[len(local)-1] == '.' || strings.Contains(local, "..") {
		return false
	}
	for i := 0; i < len(local); i++ {
		c := local[i]
		if !isAlnum(c) && c != '.' && !strings.ContainsRune("!#$%&'*+/=?^_`{|}~-", rune(c)) {
			return false
		}
	}
	labels := strings.Split(domain, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if !validLabel(l) {
			return false
		}
	}
	return true
}

// validLabel: 1 to 63 letters, digits and inner hyphens.
func validLabel(l string) bool {
	if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for i := 0; i < len(l); i++ {
		if !isAlnum(l[i]) && l[i] != '-' {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// passwordProblem returns why p is not an acceptable password, or "".
// It looks at no more of p than the limit needs: a 1 MiB password is
// refused as fast as a 257-character one.
func passwordProblem(p string) string {
	if tooLongPassword(p) || utf8.RuneCountInString(p) < minPasswordLen {
		return "must be 8 to 256 characters"
	}
	if !utf8.ValidString(p) {
		return "must be valid UTF-8"
	}
	return ""
}

// tooLongPassword reports whether p has more than maxPasswordLen
// characters, without counting the whole of a huge one. A login refuses
// such a password at once, like any wrong credential, and a registration
// with a 422: neither hashes it nor waits for a hashing slot.
func tooLongPassword(p string) bool {
	if len(p) <= maxPasswordLen {
		return false
	}
	return len(p) > utf8.UTFMax*maxPasswordLen || utf8.RuneCountInString(p) > maxPasswordLen
}

// cleanText trims s and reports a problem if it holds control, format or
// invisible characters (see invisible) or has fewer than min or more than
// max characters.
func cleanText(s string, min, max int) (string, string) {
	s = strings.TrimSpace(s)
	for _, r := range s {
		if invisible(r) {
			return s, "must not contain control, format or invisible characters"
		}
	}
	if n := utf8.RuneCountInString(s); n < min || n > max {
		return s, "must be " + strconv.Itoa(min) + " to " + strconv.Itoa(max) + " characters"
	}
	return s, ""
}

// invisible reports whether r is a character a name must not hold: a
// control or format character (Unicode Cc, Cf: U+200B to U+200F, U+2060
// to U+2064, U+FEFF...), a line or paragraph separator (Zl, Zp: U+2028,
// U+2029), a private-use or surrogate code point, U+FFFD (what a lone
// surrogate escape decodes to: refused rather than stored as another
// input), or one that renders as nothing although it is a letter or
// mark: the Hangul fillers, U+034F COMBINING GRAPHEME JOINER, the Khmer
// inherent vowels, the Mongolian variation selectors and U+2800 BRAILLE
// PATTERN BLANK. Such characters make two names that look the same
// compare different. Variation selectors (U+FE00 to U+FE0F) stay
// allowed: emoji need them.
func invisible(r rune) bool {
	switch r {
	case 0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x2800, 0x3164, 0xFFA0, utf8.RuneError:
		return true
	}
	return 0x180B <= r && r <= 0x180F ||
		unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp, unicode.Co, unicode.Cs)
}

// validSlug reports whether s is 3 to 63 characters of a-z, 0-9 and '-',
// starting and ending with a letter or digit, and not all digits.
func validSlug(s string) bool {
	if len(s) < minSlugLen || len(s) > maxSlugLen || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	digits := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
		case c >= 'a' && c <= 'z', c == '-':
			digits = false
		default:
			return false
		}
	}
	return !digits
}

// deriveSlug turns an organization name into a slug base: lower-cased,
// runs of characters outside a-z0-9 folded to one '-', '-' trimmed, cut to
// 50 characters, and prefixed with "org-" if that is too short or all
// digits.
func deriveSlug(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(r)
			continue
		}
		dash = true
	}
	s := b.String()
	if len(s) > derivedSlugLen {
		s = strings.TrimRight(s[:derivedSlugLen], "-")
	}
	if len(s) < minSlugLen || !validSlug(s) {
		s = strings.TrimRight("org-"+s, "-")
	}
	return s
}

// parseID parses a positive 64-bit decimal id with no sign, no leading
// zero and no other characters: 1 to 19 digits.
func parseID(s string) (int64, bool) {
	if len(s) == 0 || len(s) > 19 || s[0] == '0' {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 1 {
		return 0, false
	}
	return n, true
}

// The check functions add the problems of one request field to v. A nil
// field is absent (or of the wrong type) and adds nothing. Use cases call
// them to validate; handlers call them too when the body's shape was
// already wrong, so a 422 lists every problem at once.

func checkEmail(v *ValidationError, email *string) {
	if email != nil && !validEmail(normalizeEmail(*email)) {
		v.add("email", "must be a valid email address")
	}
}

func checkNewPassword(v *ValidationError, password *string) {
	if password == nil {
		return
	}
	if p := passwordProblem(*password); p != "" {
		v.add("password", p)
	}
}

func checkDisplayName(v *ValidationError, dn *string) {
	if dn == nil {
		return
	}
	if _, p := cleanText(*dn, 0, maxDisplayNameLen); p != "" {
		v.add("display_name", p)
	}
}

func checkOrgName(v *ValidationError, name *string) {
	if name == nil {
		return
	}
	if _, p := cleanText(*name, 1, maxNameLen); p != "" {
		v.add("name", p)
	}
}

func checkSlug(v *ValidationError, slug *string) {
	if slug != nil && !validSlug(*slug) {
		v.add("slug", "must be 3 to 63 characters of a-z, 0-9 and '-', starting and ending with a letter or digit, not all digits")
	}
}

// withValueProblems adds the value problems check finds to a body shape
// error, so one 422 lists them all. Other errors pass unchanged.
func withValueProblems(err error, check func(v *ValidationError)) error {
	var verr *ValidationError
	if errors.As(err, &verr) {
		check(verr)
	}
	return err
}
