package auth

import (
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TypeAccess is the value of the "typ" claim of access tokens, the only
// tokens a [Verifier] accepts.
const TypeAccess = "access"

// maxTokenLen bounds the tokens Verify looks at. Ours are about 300 bytes.
const maxTokenLen = 4096

// Claims are the claims of an access token.
type Claims struct {
	Issuer   string // "iss"
	Subject  string // "sub": the user
	Audience string // "aud": the user directory
	ID       string // "jti": random, unique per token
	Type     string // "typ": always TypeAccess in a verified token

	// "iat", "nbf" and "exp", in UTC and whole seconds. IssuedAt and
	// NotBefore are zero if the token does not carry them.
	IssuedAt, NotBefore, ExpiresAt time.Time
}

// wireClaims is the JSON form of Claims.
type wireClaims struct {
	jwt.RegisteredClaims
	Type string `json:"typ,omitempty"`
}

// Issuer signs access tokens for one user directory: one issuer ("iss"),
// one audience ("aud") and one [Key]. It is safe for concurrent use.
type Issuer struct {
	kid      string
	secret   []byte
	issuer   string
	audience string
	ttl      time.Duration
	now      func() time.Time
}

// NewIssuer returns an Issuer that signs tokens with key (HS256), naming
// issuer and audience, which must not be empty. It returns an error if the
// key is unusable (see [Key]) or an option is invalid.
func NewIssuer(key Key, issuer, audience string, opts ...IssuerOption) (*Issuer, error) {
	if err := key.validate(); err != nil {
		return nil, err
	}
	if issuer == "" || audience == "" {
		return nil, errors.New("auth: NewIssuer: issuer and audience must not be empty")
	}
	cfg := issuerConfig{ttl: time.Hour, now: time.Now}
	for _, o := range opts {
		if err := o.apply(&cfg); err != nil {
			return nil, err
		}
	}
	return &Issuer{
		kid:      key.ID,
		secret:   slices.Clone(key.Secret),
		issuer:   issuer,
		audience: audience,
		ttl:      cfg.ttl,
		now:      cfg.now,
	}, nil
}

// TTL returns the lifetime of the tokens i issues.
func (i *Issuer) TTL() time.Duration { return i.ttl }

// Issue returns a signed access token for subject (the user), and its
// claims: the key's ID as `kid`, "typ" [TypeAccess], iat and nbf now, exp
// now plus the TTL, and a random jti. Times are whole seconds, as in the
// token. It returns an error only if subject is empty.
func (i *Issuer) Issue(subject string) (token string, c Claims, err error) {
	if subject == "" {
		return "", Claims{}, errors.New("auth: Issue: empty subject")
	}
	now := i.now().UTC().Truncate(time.Second)
	c = Claims{
		Issuer:    i.issuer,
		Subject:   subject,
		Audience:  i.audience,
		ID:        newTokenID(),
		Type:      TypeAccess,
		IssuedAt:  now,
		NotBefore: now,
		ExpiresAt: now.Add(i.ttl).Truncate(time.Second),
	}
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, wireClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    c.Issuer,
			Subject:   c.Subject,
			Audience:  jwt.ClaimStrings{c.Audience},
			ExpiresAt: jwt.NewNumericDate(c.ExpiresAt),
			NotBefore: jwt.NewNumericDate(c.NotBefore),
			IssuedAt:  jwt.NewNumericDate(c.IssuedAt),
			ID:        c.ID,
		},
		Type: c.Type,
	})
	t.Header["kid"] = i.kid
	token, err = t.SignedString(i.secret)
	if err != nil { // only for a key of the wrong type: cannot happen
		return "", Claims{}, fmt.Errorf("auth: sign token: %v", err)
	}
	return token, c, nil
}

// newTokenID returns 128 random bits, base64url-encoded.
func newTokenID() string {
	return base64.RawURLEncoding.EncodeToString(randomBytes(16))
}

// Verifier checks access tokens of one user directory. It is safe for
// concurrent use.
//
// Its checks are fixed: the algorithm must be HS256 (none, RS256, HS384 and
// every other are refused); the `kid` header must name one of the
// verifier's own keys, and the signature must be that key's; iss and aud
// must equal the verifier's (aud as its only value); exp is required; nbf
// and iat, when present, must not be in the future; typ must be
// [TypeAccess]; sub must not be empty. Times are compared with a leeway
// for clock skew (see [WithLeeway]).
type Verifier struct {
	issuer   string
	audience string
	keys     map[string][]byte
	leeway   time.Duration
	now      func() time.Time
	parser   *jwt.Parser
	keyfunc  jwt.Keyfunc
}

// NewVerifier returns a Verifier for tokens from issuer to audience, signed
// by one of keys. Pass several keys during a rotation: tokens signed by any
// of them verify, and once the old key is dropped, its tokens do not.
// It returns an error if issuer or audience is empty, keys is empty, a key
// is unusable (see [Key]), two keys share an ID, or an option is invalid.
func NewVerifier(issuer, audience string, keys []Key, opts ...VerifierOption) (*Verifier, error) {
	if issuer == "" || audience == "" {
		return nil, errors.New("auth: NewVerifier: issuer and audience must not be empty")
	}
	if len(keys) == 0 {
		return nil, errors.New("auth: NewVerifier: no keys")
	}
	v := &Verifier{
		issuer:   issuer,
		audience: audience,
		keys:     make(map[string][]byte, len(keys)),
		leeway:   30 * time.Second,
		now:      time.Now,
	}
	for _, k := range keys {
		if err := k.validate(); err != nil {
			return nil, err
		}
		if _, dup := v.keys[k.ID]; dup {
			return nil, fmt.Errorf("auth: NewVerifier: two keys with ID %q", k.ID)
		}
		v.keys[k.ID] = slices.Clone(k.Secret)
	}
	cfg := verifierConfig{leeway: v.leeway, now: v.now}
	for _, o := range opts {
		if err := o.apply(&cfg); err != nil {
			return nil, err
		}
	}
	v.leeway, v.now = cfg.leeway, cfg.now
	// The parser checks the format, the algorithm and the signature; the
	// claims are checked by Verify itself, so that every rule is visible in
	// one place and an expired token is reported as such only when expiry
	// is its only fault.
	v.parser = jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithStrictDecoding(),
		jwt.WithoutClaimsValidation(),
	)
	v.keyfunc = v.key
	return v, nil
}

// Errors of Verifier.key, recognized by Verify.
var (
	errNoKeyID      = errors.New("missing key id")
	errUnknownKeyID = errors.New("unknown key id")
	errBadAlg       = errors.New("algorithm not allowed")
	errCrit         = errors.New("unsupported critical header")
)

// key chooses the key to check t's signature with, among v's keys only.
func (v *Verifier) key(t *jwt.Token) (any, error) {
	// Identity, not name: refuses a method registered over jwt's HS256.
	if t.Method != jwt.SigningMethodHS256 {
		return nil, errBadAlg
	}
	if _, ok := t.Header["crit"]; ok {
		return nil, errCrit
	}
	kid, ok := t.Header["kid"].(string)
	if !ok {
		return nil, errNoKeyID
	}
	secret, ok := v.keys[kid]
	if !ok {
		return nil, errUnknownKeyID
	}
	return secret, nil
}

// Verify checks token as described on [Verifier] and returns its claims.
// Every error it returns wraps [ErrInvalidToken]; the error of a token
// that is valid in every way but expired also wraps [ErrTokenExpired].
// Error messages never quote the token.
func (v *Verifier) Verify(token string) (*Claims, error) {
	if token == "" {
		return nil, &tokenError{reason: "empty"}
	}
	if len(token) > maxTokenLen {
		return nil, &tokenError{reason: "too long"}
	}
	if !compactJWS(token) {
		return nil, &tokenError{reason: "malformed"}
	}
	var wc wireClaims
	t, err := v.parser.ParseWithClaims(token, &wc, v.keyfunc)
	if err != nil {
		return nil, parseError(t, err)
	}
	c := &Claims{Issuer: wc.Issuer, Subject: wc.Subject, ID: wc.ID, Type: wc.Type}
	switch {
	case wc.Issuer != v.issuer:
		return nil, &tokenError{reason: "wrong issuer"}
	case len(wc.Audience) != 1 || wc.Audience[0] != v.audience:
		return nil, &tokenError{reason: "wrong audience"}
	case wc.Type != TypeAccess:
		return nil, &tokenError{reason: "not an access token"}
	case wc.Subject == "":
		return nil, &tokenError{reason: "missing subject"}
	case wc.ExpiresAt == nil:
		return nil, &tokenError{reason: "missing expiry"}
	}
	c.Audience = wc.Audience[0]
	c.ExpiresAt = wc.ExpiresAt.UTC()
	now := v.now()
	if wc.NotBefore != nil {
		c.NotBefore = wc.NotBefore.UTC()
		if now.Before(c.NotBefore.Add(-v.leeway)) {
			return nil, &tokenError{reason: "not valid yet"}
		}
	}
	if wc.IssuedAt != nil {
		c.IssuedAt = wc.IssuedAt.UTC()
		if now.Before(c.IssuedAt.Add(-v.leeway)) {
			return nil, &tokenError{reason: "issued in the future"}
		}
	}
	if !now.Before(c.ExpiresAt.Add(v.leeway)) {
		return nil, &tokenError{reason: "expired", expired: true}
	}
	return c, nil
}

// compactJWS reports whether token holds only the characters of the JWS
// compact form: base64url and dots. The base64 decoders skip \r and \n,
// and a token must have exactly one spelling.
func compactJWS(token string) bool {
	for i := 0; i < len(token); i++ {
		switch c := token[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_', c == '.':
		default:
			return false
		}
	}
	return true
}

// parseError turns an error of jwt's parser into a tokenError with a fixed
// reason.
func parseError(t *jwt.Token, err error) error {
	switch {
	case errors.Is(err, errNoKeyID):
		return &tokenError{reason: "missing key id"}
	case errors.Is(err, errUnknownKeyID):
		return &tokenError{reason: "unknown key id"}
	case errors.Is(err, errCrit):
		return &tokenError{reason: "unsupported critical header"}
	case errors.Is(err, errBadAlg),
		t != nil && t.Method != jwt.SigningMethodHS256 &&
			(errors.Is(err, jwt.ErrTokenUnverifiable) || errors.Is(err, jwt.ErrTokenSignatureInvalid)):
		return &tokenError{reason: "algorithm not allowed"}
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return &tokenError{reason: "bad signature"}
	case errors.Is(err, jwt.ErrTokenMalformed):
		return &tokenError{reason: "malformed"}
	}
	return &tokenError{reason: "rejected"}
}
