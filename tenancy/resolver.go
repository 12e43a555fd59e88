package tenancy

import (
	"errors"
	"net/http"
	"strings"
)

// Resolver reports which tenant a request names: it returns the raw tenant
// hint, or an error wrapping [ErrNoTenant] when the request names none.
// Malformed input gives an error wrapping [ErrInvalidTenant]. A Resolver
// extracts but does not decide: [Middleware] still validates the hint before
// any lookup.
//
// The resolvers of this package are values: [Header] and [PathValue] are
// strings, [Subdomain] a list of base domains, [Chain] and [Agree] lists
// of resolvers, and [ResolverFunc] adapts any function:
//
//	tenancy.Agree{tenancy.Subdomain{"example.com"}, tenancy.Header("X-Tenant")}
//
// [Middleware] checks them when it is called, and refuses a configuration
// mistake (a bad header name, an empty list...) with an error wrapping
// [ErrInvalidConfig], so a mistake fails at start-up. Resolve never panics
// on such a value: the part of it a request reaches returns the same error
// (a nil [ResolverFunc] too). All are safe for concurrent use, as long as
// the lists are not modified.
type Resolver interface {
	Resolve(r *http.Request) (string, error)
}

// ResolverFunc adapts an ordinary function to a [Resolver].
type ResolverFunc func(*http.Request) (string, error)

// Resolve returns f(r), or an error wrapping [ErrInvalidConfig] if f is
// nil.
func (f ResolverFunc) Resolve(r *http.Request) (string, error) {
	if f == nil {
		return "", configErrorf("tenancy: nil ResolverFunc")
	}
	return f(r)
}

// maxRawLen bounds any value a resolver of this package hands on. It is far
// above any DNS name, so no legitimate hint is refused.
const maxRawLen = 255

// checkRaw refuses values no validator should have to see: empty ones, ones
// with surrounding spaces or tabs, control characters (ASCII C0 and DEL) and
// overlong ones. It never allocates.
func checkRaw(v string) error {
	n := len(v)
	switch {
	case n == 0:
		return errRawEmpty
	case n > maxRawLen:
		return errRawLong
	case isSpace(v[0]) || isSpace(v[n-1]):
		return errRawSpace
	}
	for i := 0; i < n; i++ {
		if c := v[i]; c < 0x20 || c == 0x7f {
			return errRawControl
		}
	}
	return nil
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' }

// checker is implemented by the resolvers and lookups of this package
// whose configuration can be wrong: check reports the mistake, with an
// error wrapping [ErrInvalidConfig]. [Middleware] calls it at start-up.
type checker interface {
	check() error
}

// maxNesting bounds how deep [Chain] and [Agree] may nest, so that check
// cannot recurse forever on a list that holds itself.
const maxNesting = 32

// checkResolver returns the configuration error of res, if it is a
// resolver of this package (or holds some) with a bad configuration.
func checkResolver(res Resolver) error {
	return checkNested(res, 0)
}

func checkNested(res Resolver, depth int) error {
	switch res := res.(type) {
	case Chain:
		return checkList("Chain", res, depth)
	case Agree:
		return checkList("Agree", res, depth)
	case checker:
		return res.check()
	}
	return nil
}

// checkList refuses an empty list, a nil resolver and a resolver with a
// bad configuration, for fn, naming its position (counted from 1).
func checkList(fn string, resolvers []Resolver, depth int) error {
	if depth >= maxNesting {
		return configErrorf("tenancy: %s: nested more than %d deep", fn, maxNesting)
	}
	if len(resolvers) == 0 {
		return configErrorf("tenancy: %s: no resolver", fn)
	}
	for i, res := range resolvers {
		if isNil(res) {
			return configErrorf("tenancy: %s: resolver %d is nil", fn, i+1)
		}
		if err := checkNested(res, depth+1); err != nil {
			return configErrorf("tenancy: %s: resolver %d: %s", fn, i+1, strings.TrimPrefix(err.Error(), "tenancy: "))
		}
	}
	return nil
}

// Header is a [Resolver] that takes the tenant from the request header it
// names, as in Header("X-Tenant"). The header must appear exactly once,
// with a value of at most 255 bytes, without surrounding whitespace or
// control characters; otherwise Resolve returns an error wrapping
// [ErrInvalidTenant] (an empty value included: a client that sends the
// header means to name a tenant). A request without the header gives
// [ErrNoTenant].
//
// The name is matched case-insensitively, as HTTP requires: Resolve reads
// the header under the canonical form of the name
// ([textproto.CanonicalMIMEHeaderKey]), the form net/http stores parsed
// headers in. A name already in canonical form ("X-Tenant") is the fastest
// and costs no allocation; another ("x-tenant") costs a scan of the
// request's header names, and no allocation either.
//
// The name must be a valid header field name (an RFC 9110 token):
// [Middleware] refuses a Header that is not, with an error wrapping
// [ErrInvalidConfig], and so does its Resolve, at every request.
type Header string

// check refuses a name that is not a header field name.
func (h Header) check() error {
	if valid, _ := headerNameForm(string(h)); !valid {
		return configErrorf("tenancy: Header(%q): not a valid header name", string(h))
	}
	return nil
}

// headerNameForm reports whether name is an HTTP field name, a non-empty
// token of RFC 9110, and whether it is in the canonical form of
// [textproto.CanonicalMIMEHeaderKey]: upper case at the start and after
// each '-', lower case elsewhere. It never allocates.
func headerNameForm(name string) (valid, canonical bool) {
	if name == "" {
		return false, false
	}
	canonical, upper := true, true
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case 'a' <= c && c <= 'z':
			canonical = canonical && !upper
		case 'A' <= c && c <= 'Z':
			canonical = canonical && upper
		case '0' <= c && c <= '9':
		default:
			switch c {
			case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
			default:
				return false, false
			}
		}
		upper = name[i] == '-'
	}
	return true, canonical
}

// isCanonicalOf reports whether key is the canonical form of name, a valid
// field name, without allocating it.
func isCanonicalOf(key, name string) bool {
	if len(key) != len(name) {
		return false
	}
	upper := true
	for i := 0; i < len(name); i++ {
		c := name[i]
		if upper && 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		} else if !upper && 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if key[i] != c {
			return false
		}
		upper = c == '-'
	}
	return true
}

// Resolve returns the single value of the header.
func (h Header) Resolve(r *http.Request) (string, error) {
	var vals []string
	switch valid, canonical := headerNameForm(string(h)); {
	case canonical:
		vals = r.Header[string(h)]
	case valid:
		for key, v := range r.Header {
			if isCanonicalOf(key, string(h)) {
				vals = v
				break
			}
		}
	default:
		return "", h.check()
	}
	switch len(vals) {
	case 0:
		return "", ErrNoTenant
	case 1:
	default:
		return "", errSeveral
	}
	if err := checkRaw(vals[0]); err != nil {
		return "", err
	}
	return vals[0], nil
}

// PathValue is a [Resolver] that takes the tenant from the [http.ServeMux]
// wildcard it names, as in PathValue("tenant") for the pattern
// "/t/{tenant}/...". The value is the one [http.Request.PathValue] returns
// (already unescaped). A missing or empty wildcard gives [ErrNoTenant];
// surrounding whitespace, control characters and values over 255 bytes
// give [ErrInvalidTenant].
//
// The name must be an ASCII Go identifier, as a wildcard name is:
// [Middleware] refuses a PathValue that is not, with an error wrapping
// [ErrInvalidConfig], and so does its Resolve, at every request.
type PathValue string

// check refuses a name that is not a wildcard name.
func (p PathValue) check() error {
	if !validWildcard(string(p)) {
		return configErrorf("tenancy: PathValue(%q): not a valid wildcard name", string(p))
	}
	return nil
}

// validWildcard reports whether name is an ASCII Go identifier, the form
// http.ServeMux requires of a wildcard name.
func validWildcard(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', c == '_':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// Resolve returns r.PathValue of the wildcard.
func (p PathValue) Resolve(r *http.Request) (string, error) {
	if !validWildcard(string(p)) {
		return "", p.check()
	}
	v := r.PathValue(string(p))
	if v == "" {
		return "", ErrNoTenant
	}
	if err := checkRaw(v); err != nil {
		return "", err
	}
	return v, nil
}

// Chain is a [Resolver] that tries its resolvers in order: the first that
// finds a hint wins. A resolver that returns [ErrNoTenant] (or an empty
// hint) passes the turn to the next; any other error stops the chain and is
// returned, so a malformed header is refused rather than silently
// overridden by a subdomain. When no resolver finds a hint, the chain
// returns [ErrNoTenant].
//
// A Chain takes the first hint it finds and does not look further: with
// Chain{subdomain, header}, a request for acme.example.com with X-Tenant:
// globex is for acme. To refuse such a request instead, use [Agree].
//
// [Middleware] refuses, with an error wrapping [ErrInvalidConfig], a Chain
// that is empty, holds a nil resolver or holds a resolver of this package
// that it would refuse on its own (the error names the position, counted
// from 1). Resolve, which stops at the first hint, gives the same error
// for an empty Chain and for a nil resolver it reaches. A Chain must not be
// modified while it is in use.
type Chain []Resolver

// check refuses an empty chain and bad resolvers.
func (c Chain) check() error { return checkList("Chain", c, 0) }

// Resolve returns the hint of the first resolver in c that finds one.
func (c Chain) Resolve(r *http.Request) (string, error) {
	if len(c) == 0 {
		return "", c.check()
	}
	for i, res := range c {
		if res == nil {
			return "", configErrorf("tenancy: Chain: resolver %d is nil", i+1)
		}
		hint, err := res.Resolve(r)
		switch {
		case err == nil && hint != "":
			return hint, nil
		case err == nil, errors.Is(err, ErrNoTenant):
			continue
		default:
			return "", err
		}
	}
	return "", ErrNoTenant
}

// Agree is a [Resolver] that, like [Chain], takes the tenant from
// whichever of its resolvers names one, but asks them all, and refuses a
// request in which two of them name different tenants: with
// Agree{subdomain, header}, a request for acme.example.com with X-Tenant:
// globex gets a [*ConflictError], wrapping [ErrConflictingTenant] and
// [ErrInvalidTenant] (400 Bad Request from [DefaultErrorHandler]), and is
// never looked up. A request that names the same tenant in both places,
// or in only one of them, is served.
//
// Hints are compared exactly, before any lookup: if a tenant has several
// names (an ID and a slug), a request that uses one name in the host and
// the other in the header is refused too. A resolver that returns
// [ErrNoTenant] (or an empty hint) names nothing; any other error stops
// Agree and is returned, as in Chain. When no resolver finds a hint,
// Agree returns [ErrNoTenant]. A request whose resolvers agree costs no
// allocation beyond theirs.
//
// [Middleware] refuses an Agree as it refuses a [Chain]: empty, holding a
// nil resolver or a bad resolver of this package. Resolve gives the same
// error for an empty Agree and for a nil resolver it reaches. An Agree
// must not be modified while it is in use.
type Agree []Resolver

// check refuses an empty list and bad resolvers.
func (a Agree) check() error { return checkList("Agree", a, 0) }

// Resolve returns the hint every resolver of a that finds one finds.
func (a Agree) Resolve(r *http.Request) (string, error) {
	if len(a) == 0 {
		return "", a.check()
	}
	found, at := "", 0
	for i, res := range a {
		if res == nil {
			return "", configErrorf("tenancy: Agree: resolver %d is nil", i+1)
		}
		hint, err := res.Resolve(r)
		switch {
		case err == nil && hint != "":
		case err == nil, errors.Is(err, ErrNoTenant):
			continue
		default:
			return "", err
		}
		switch {
		case at == 0:
			found, at = hint, i+1
		case hint != found:
			return "", &ConflictError{Hints: [2]string{found, hint}, Resolvers: [2]int{at, i + 1}}
		}
	}
	if at == 0 {
		return "", ErrNoTenant
	}
	return found, nil
}

// Subdomain is a [Resolver] that takes the tenant from the label just
// below one of its base domains: under Subdomain{"example.com"}, the host
// "acme.example.com" names "acme". The host comes from
// [http.Request.Host] (or the URL's host when that is empty); a port and
// one trailing dot are ignored, and base domains match case-insensitively
// (ASCII only: the Kelvin sign is not a 'k'). The label is returned in
// lower case (ASCII only).
//
// A host that is not below any base domain, a base domain itself and an IP
// literal give [ErrNoTenant]. More than one label below the base
// ("a.b.example.com"), an empty label and a malformed port give
// [ErrInvalidTenant]. When base domains nest ("example.com" and
// "eu.example.com") the longest that matches decides, so "eu.example.com"
// names no tenant and "acme.eu.example.com" names "acme".
//
// Each base domain must be a domain name of labels of ASCII letters,
// digits and inner '-' (upper case and one trailing dot are accepted):
// [Middleware] refuses a Subdomain that is empty or holds another name,
// with an error wrapping [ErrInvalidConfig]. Resolve, used without
// Middleware, returns that error for an empty Subdomain and for a request
// whose host matches a base domain that is not a domain name; a host that
// matches none gives [ErrNoTenant], as always. Resolve allocates only to
// lower-case a label that has upper case. A Subdomain must not be
// modified while it is in use.
type Subdomain []string

// check refuses an empty list and names that are not domain names.
func (s Subdomain) check() error {
	if len(s) == 0 {
		return configErrorf("tenancy: Subdomain: no base domain")
	}
	for _, d := range s {
		if !validDomain(strings.TrimSuffix(d, ".")) {
			return configErrorf("tenancy: Subdomain: invalid base domain %q", d)
		}
	}
	return nil
}

// validDomain reports whether d is dot-separated DNS labels: 1 to 63
// bytes each of ASCII letters (either case), digits and '-', neither
// starting nor ending with '-', 253 bytes in all at most. It never
// allocates.
func validDomain(d string) bool {
	if d == "" || len(d) > 253 {
		return false
	}
	start := 0 // of the current label
	for i := 0; i <= len(d); i++ {
		if i == len(d) || d[i] == '.' {
			if n := i - start; n == 0 || n > 63 || d[start] == '-' || d[i-1] == '-' {
				return false
			}
			start = i + 1
			continue
		}
		if c := d[i]; (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

// Resolve returns the label of r's host just below a base domain.
func (s Subdomain) Resolve(r *http.Request) (string, error) {
	if len(s) == 0 {
		return "", s.check()
	}
	host := r.Host
	if host == "" && r.URL != nil {
		host = r.URL.Host
	}
	if host == "" || host[0] == '[' {
		return "", ErrNoTenant // no host, or an IPv6 literal
	}
	if i := strings.LastIndexByte(host, ':'); i >= 0 {
		if !allDigits(host[i+1:]) || strings.IndexByte(host[:i], ':') >= 0 {
			return "", errHostPort
		}
		host = host[:i]
	}
	host = strings.TrimSuffix(host, ".")
	// best is the longest base domain that host is or is below, and
	// label what is below it.
	best, label := "", ""
	for _, base := range s {
		base = strings.TrimSuffix(base, ".")
		n := len(base)
		switch {
		case n <= len(best):
		case len(host) == n && equalFold(host, base):
			best, label = base, ""
		case len(host) > n && host[len(host)-n-1] == '.' && equalFold(host[len(host)-n:], base):
			best, label = base, host[:len(host)-n-1]
		}
	}
	switch {
	case best == "":
		return "", ErrNoTenant // below no base domain
	case !validDomain(best):
		return "", s.check() // only the base domain that matched is checked
	case len(host) == len(best):
		return "", ErrNoTenant // a base domain itself
	case label == "":
		return "", errHostEmptyLbl
	case strings.IndexByte(label, '.') >= 0:
		return "", errHostNested
	}
	if err := checkRaw(label); err != nil {
		return "", err
	}
	return asciiLower(label), nil
}

// equalFold is asciiEqualFold with a fast path for equal strings, the
// common case of a lower-case host and base domain.
func equalFold(a, b string) bool {
	return a == b || asciiEqualFold(a, b)
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// asciiEqualFold reports whether a and b are equal when ASCII letters are
// folded to lower case, and only those: unlike strings.EqualFold it never
// matches the Kelvin sign to 'k'.
func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		c, d := a[i], b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if 'A' <= d && d <= 'Z' {
			d += 'a' - 'A'
		}
		if c != d {
			return false
		}
	}
	return true
}

// asciiLower lower-cases ASCII letters only, allocating only when s has
// an upper-case letter.
func asciiLower(s string) string {
	i := 0
	for i < len(s) && (s[i] < 'A' || s[i] > 'Z') {
		i++
	}
	if i == len(s) {
		return s
	}
	b := []byte(s)
	for ; i < len(b); i++ {
		if 'A' <= b[i] && b[i] <= 'Z' {
			b[i] += 'a' - 'A'
		}
	}
	return string(b)
}

// Compile-time checks that the resolvers implement Resolver, and that those
// whose configuration can be wrong can be checked.
var (
	_ Resolver = ResolverFunc(nil)
	_ Resolver = Header("")
	_ Resolver = PathValue("")
	_ Resolver = Chain(nil)
	_ Resolver = Agree(nil)
	_ Resolver = Subdomain(nil)
	_ checker  = Header("")
	_ checker  = PathValue("")
	_ checker  = Chain(nil)
	_ checker  = Agree(nil)
	_ checker  = Subdomain(nil)
)
