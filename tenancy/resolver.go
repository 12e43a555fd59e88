package tenancy

import (
	"errors"
	"net/http"
	"net/textproto"
	"sort"
	"strings"
)

// Resolver reports which tenant a request names: it returns the raw tenant
// hint, or an error wrapping [ErrNoTenant] when the request names none.
// Malformed input gives an error wrapping [ErrInvalidTenant]. A Resolver
// extracts but does not decide: [Middleware] still validates the hint before
// any lookup.
//
// The constructors [Header], [PathValue], [Subdomain] and [Chain] return
// the resolvers of this package, each with an error for a bad argument;
// [ResolverFunc] adapts any function. All are safe for concurrent use.
type Resolver interface {
	Resolve(r *http.Request) (string, error)
}

// ResolverFunc adapts an ordinary function to a [Resolver].
type ResolverFunc func(*http.Request) (string, error)

// Resolve returns f(r).
func (f ResolverFunc) Resolve(r *http.Request) (string, error) { return f(r) }

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

// header is the Resolver built by Header.
type header struct {
	key string // canonical header name
}

// Header returns a [Resolver] that takes the tenant from the request header
// name, as in Header("X-Tenant"). The header must appear exactly once, with
// a value of at most 255 bytes, without surrounding whitespace or control
// characters; otherwise Resolve returns an error wrapping
// [ErrInvalidTenant] (an empty value included: a client that sends the
// header means to name a tenant). A request without the header gives
// [ErrNoTenant]. The name is matched case-insensitively, as HTTP requires
// (it is put in canonical form once, here).
//
// Header returns an error wrapping [ErrInvalidConfig] if name is not a
// valid header field name.
func Header(name string) (Resolver, error) {
	if !validFieldName(name) {
		return nil, configErrorf("tenancy: Header(%q): not a valid header name", name)
	}
	return header{key: textproto.CanonicalMIMEHeaderKey(name)}, nil
}

// validFieldName reports whether name is an HTTP field name: a non-empty
// token of RFC 9110.
func validFieldName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// Resolve returns the single value of the header.
func (h header) Resolve(r *http.Request) (string, error) {
	vals := r.Header[h.key]
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

// pathValue is the Resolver built by PathValue.
type pathValue struct {
	name string
}

// PathValue returns a [Resolver] that takes the tenant from the
// [http.ServeMux] wildcard name, as in PathValue("tenant") for the pattern
// "/t/{tenant}/...". The value is the one [http.Request.PathValue] returns
// (already unescaped). A missing or empty wildcard gives [ErrNoTenant];
// surrounding whitespace, control characters and values over 255 bytes
// give [ErrInvalidTenant].
//
// PathValue returns an error wrapping [ErrInvalidConfig] if name is empty
// or not a Go identifier, which a wildcard name must be.
func PathValue(name string) (Resolver, error) {
	if !validWildcard(name) {
		return nil, configErrorf("tenancy: PathValue(%q): not a valid wildcard name", name)
	}
	return pathValue{name: name}, nil
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
func (p pathValue) Resolve(r *http.Request) (string, error) {
	v := r.PathValue(p.name)
	if v == "" {
		return "", ErrNoTenant
	}
	if err := checkRaw(v); err != nil {
		return "", err
	}
	return v, nil
}

// chain is the Resolver built by Chain.
type chain []Resolver

// Chain returns a [Resolver] that tries resolvers in order: the first that
// finds a hint wins. A resolver that returns [ErrNoTenant] (or an empty
// hint) passes the turn to the next; any other error stops the chain and is
// returned, so a malformed header is refused rather than silently
// overridden by a subdomain. When no resolver finds a hint, the chain
// returns [ErrNoTenant].
//
// A Chain takes the first hint it finds and does not look further: with
// Chain(subdomain, header), a request for acme.example.com with X-Tenant:
// globex is for acme. To refuse such a request instead, use [Agree].
//
// Chain returns an error wrapping [ErrInvalidConfig] if resolvers is empty
// or one of them is nil (naming its position, counted from 1).
func Chain(resolvers ...Resolver) (Resolver, error) {
	if err := checkResolvers("Chain", resolvers); err != nil {
		return nil, err
	}
	return chain(append([]Resolver(nil), resolvers...)), nil
}

// checkResolvers refuses an empty list or a nil resolver, for fn.
func checkResolvers(fn string, resolvers []Resolver) error {
	if len(resolvers) == 0 {
		return configErrorf("tenancy: %s: no resolver", fn)
	}
	for i, res := range resolvers {
		if isNil(res) {
			return configErrorf("tenancy: %s: resolver %d is nil", fn, i+1)
		}
	}
	return nil
}

// Resolve returns the hint of the first resolver in c that finds one.
func (c chain) Resolve(r *http.Request) (string, error) {
	for _, res := range c {
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

// agree is the Resolver built by Agree.
type agree []Resolver

// Agree returns a [Resolver] that, like [Chain], takes the tenant from
// whichever of resolvers names one, but asks them all, and refuses a
// request in which two of them name different tenants: with
// Agree(subdomain, header), a request for acme.example.com with X-Tenant:
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
// Agree returns an error wrapping [ErrInvalidConfig] if resolvers is empty
// or one of them is nil (naming its position, counted from 1).
func Agree(resolvers ...Resolver) (Resolver, error) {
	if err := checkResolvers("Agree", resolvers); err != nil {
		return nil, err
	}
	return agree(append([]Resolver(nil), resolvers...)), nil
}

// Resolve returns the hint every resolver of a that finds one finds.
func (a agree) Resolve(r *http.Request) (string, error) {
	found, at := "", 0
	for i, res := range a {
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

// subdomain is the Resolver built by Subdomain.
type subdomain struct {
	// bases are the base domains in lower case with a leading '.', longest
	// first, so the most specific base wins.
	bases []string
}

// Subdomain returns a [Resolver] that takes the tenant from the label just
// below one of baseDomains: under "example.com", the host
// "acme.example.com" names "acme". The host comes from [http.Request.Host]
// (or the URL's host when that is empty); a port and one trailing dot are
// ignored, and base domains match case-insensitively (ASCII only). The
// label is returned in lower case.
//
// A host that is not below any base domain, a base domain itself and an IP
// literal give [ErrNoTenant]. More than one label below the base
// ("a.b.example.com"), an empty label and a malformed port give
// [ErrInvalidTenant]. When base domains nest ("example.com" and
// "eu.example.com") the longest that matches decides, so "eu.example.com"
// names no tenant and "acme.eu.example.com" names "acme".
//
// Subdomain returns an error wrapping [ErrInvalidConfig] if baseDomains is
// empty or holds a name that is not a domain name of labels of a-z, 0-9 and
// inner '-' (upper case and a trailing dot are accepted).
func Subdomain(baseDomains ...string) (Resolver, error) {
	if len(baseDomains) == 0 {
		return nil, configErrorf("tenancy: Subdomain: no base domain")
	}
	s := &subdomain{bases: make([]string, 0, len(baseDomains))}
	for _, d := range baseDomains {
		norm := strings.TrimSuffix(strings.ToLower(d), ".")
		if !validDomain(norm) {
			return nil, configErrorf("tenancy: Subdomain: invalid base domain %q", d)
		}
		s.bases = append(s.bases, "."+norm)
	}
	sort.SliceStable(s.bases, func(i, j int) bool { return len(s.bases[i]) > len(s.bases[j]) })
	return s, nil
}

// validDomain reports whether d is dot-separated DNS labels in lower case.
func validDomain(d string) bool {
	if d == "" || len(d) > 253 {
		return false
	}
	for label := range strings.SplitSeq(d, ".") {
		if !validLabel(label) {
			return false
		}
	}
	return true
}

// Resolve returns the label of r's host just below a base domain.
func (s *subdomain) Resolve(r *http.Request) (string, error) {
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
	for _, base := range s.bases {
		switch {
		case len(host) == len(base)-1 && asciiEqualFold(host, base[1:]):
			return "", ErrNoTenant // the base domain itself
		case len(host) < len(base) || !asciiEqualFold(host[len(host)-len(base):], base):
			continue
		}
		label := host[:len(host)-len(base)]
		switch {
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
	return "", ErrNoTenant
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// asciiEqualFold compares s to lower, which is already lower case, folding
// only ASCII letters: unlike strings.EqualFold it never matches the Kelvin
// sign to 'k'.
func asciiEqualFold(s, lower string) bool {
	if len(s) != len(lower) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
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

// Compile-time checks that the resolvers implement Resolver.
var (
	_ Resolver = ResolverFunc(nil)
	_ Resolver = header{}
	_ Resolver = pathValue{}
	_ Resolver = chain(nil)
	_ Resolver = agree(nil)
	_ Resolver = (*subdomain)(nil)
)
