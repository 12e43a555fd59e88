package auth

import (
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
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
	method   jwt.SigningMethod
	signKey  any // []byte for HS256, ed25519.PrivateKey for EdDSA
	issuer   string
	audience string
	ttl      time.Duration
	now      func() time.Time
}

// NewIssuer returns an Issuer that signs tokens naming issuer and
// audience, which must not be empty, with key: an HMAC key signs with
// HS256, an Ed25519 key with EdDSA (see [Key]). Its arguments come in the
// order of [NewVerifier]'s. It returns an error wrapping [ErrInvalidConfig]
// if issuer or audience is empty, the key is unusable or is an Ed25519 key
// without its private half, or an option is nil or invalid.
func NewIssuer(issuer, audience string, key Key, opts ...IssuerOption) (*Issuer, error) {
	if issuer == "" || audience == "" {
		return nil, configErrorf("auth: NewIssuer: issuer and audience must not be empty")
	}
	if err := key.validate(); err != nil {
		return nil, err
	}
	var method jwt.SigningMethod
	var signKey any
	switch key.Alg() {
	case algHS256:
		method, signKey = jwt.SigningMethodHS256, slices.Clone(key.Secret)
	case algEdDSA:
		if len(key.Private) == 0 {
			return nil, configErrorf("auth: NewIssuer: key %q is a public key: it verifies but cannot sign", key.ID)
		}
		method, signKey = jwt.SigningMethodEdDSA, slices.Clone(key.Private)
	}
	cfg := issuerConfig{ttl: time.Hour, now: time.Now}
	if err := configure("NewIssuer", opts, func(o IssuerOption) error { return o.applyIssuer(&cfg) }); err != nil {
		return nil, err
	}
	return &Issuer{
		kid:      key.ID,
		method:   method,
		signKey:  signKey,
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
// token, exactly as [Verifier.Verify] returns them for the token. It
// returns an error only if subject is empty.
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
	t := jwt.NewWithClaims(i.method, wireClaims{
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
	token, err = t.SignedString(i.signKey)
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
// Its checks are fixed: the `kid` header must name one of the verifier's
// own keys, the algorithm must be that key's (HS256 for an HMAC key, EdDSA
// for an Ed25519 key: see [Key]), and the signature must be that key's;
// none, RS256, HS384 and every other algorithm are refused, and so is a
// token whose alg is not its key's, such as an HS256 token naming an
// Ed25519 key (signed, say, with the public key as HMAC secret). Keys
// carried in the token (jwk, jku, x5c headers) are never used, and a crit
// header is refused. iss and aud must equal the verifier's (aud as its
// only value); exp is required; nbf and iat, when present, must not be in
// the future; typ must be [TypeAccess]; sub must not be empty. Times are
// compared with a leeway for clock skew (see [WithLeeway]). Refresh tokens
// (see [NewRefreshToken]) are refused at once. The time and registered-claim
// checks are golang-jwt's parser options; the others are this package's,
// on top.
//
// # Cache
//
// A Verifier remembers the tokens it has accepted (see [WithCache]), so a
// client that sends the same token on every request pays for the signature
// and the JSON once. The cache holds at most the configured number of
// entries, evicting (an expired entry if it finds one, else an arbitrary
// one) when full. An entry is found by a keyed hash of the whole token
// (hash/maphash, with a random seed per verifier) and used only if the
// token presented is equal, byte for byte, to the one it holds: a token
// that differs in any byte, a tampered one included, goes through every
// check, and even a hash collision cannot change that. (SHA-256 of the
// token would do as well, at ten times the cost per request.) Entries hold
// the token, so a heap dump shows the tokens accepted in the last TTL, as
// it shows the keys that sign them. An entry is used only while the
// verifier's clock ([WithNow]) is before the token's exp (the leeway is not
// added: an expired token goes through every check again) and not before
// the time its nbf and iat allow, so a clock set back does not make the
// cache accept what the full check would refuse. A Verifier's keys are
// fixed when it is made, so rotating keys means making a new Verifier, whose
// cache starts empty: a cached token never outlives the key set that
// accepted it. Only accepted tokens are cached: refused ones cost a full
// check each time.
type Verifier struct {
	issuer   string
	audience string
	keys     map[string]verifyKey
	parser   *jwt.Parser
	keyfunc  jwt.Keyfunc
	now      func() time.Time
	leeway   time.Duration
	cache    *tokenCache // nil when off
}

// verifyKey is a key as the verifier uses it: the one method it verifies,
// and its key in the form that method takes.
type verifyKey struct {
	method jwt.SigningMethod
	key    any // []byte for HS256, ed25519.PublicKey for EdDSA
}

// defaultCacheSize is the default of WithCache: a few hundred kilobytes
// per verifier at most, and a server may hold one verifier per tenant.
const defaultCacheSize = 1024

// maxCacheSize bounds WithCache.
const maxCacheSize = 1 << 20

// NewVerifier returns a Verifier for tokens from issuer to audience, signed
// by one of keys: HMAC keys, Ed25519 keys (their public half is enough), or
// both. Its arguments come in the order of [NewIssuer]'s. Pass several keys
// during a rotation: tokens signed by any of them verify, and once the old
// key is dropped (in a new Verifier), its tokens do not (see
// [DeriveKeys]). It returns an error wrapping [ErrInvalidConfig] if issuer
// or audience is empty, keys is empty, a key is unusable (see [Key]), two
// keys share an ID, or an option is nil or invalid.
func NewVerifier(issuer, audience string, keys []Key, opts ...VerifierOption) (*Verifier, error) {
	if issuer == "" || audience == "" {
		return nil, configErrorf("auth: NewVerifier: issuer and audience must not be empty")
	}
	if len(keys) == 0 {
		return nil, configErrorf("auth: NewVerifier: no keys")
	}
	v := &Verifier{
		issuer:   issuer,
		audience: audience,
		keys:     make(map[string]verifyKey, len(keys)),
	}
	var algs []string
	for _, k := range keys {
		if err := k.validate(); err != nil {
			return nil, err
		}
		if _, dup := v.keys[k.ID]; dup {
			return nil, configErrorf("auth: NewVerifier: two keys with ID %q", k.ID)
		}
		var vk verifyKey
		switch k.Alg() {
		case algHS256:
			vk = verifyKey{method: jwt.SigningMethodHS256, key: slices.Clone(k.Secret)}
		case algEdDSA:
			pub, _ := k.PublicKey()
			vk = verifyKey{method: jwt.SigningMethodEdDSA, key: pub.Key}
		}
		v.keys[k.ID] = vk
		if alg := vk.method.Alg(); !slices.Contains(algs, alg) {
			algs = append(algs, alg)
		}
	}
	cfg := verifierConfig{leeway: 30 * time.Second, now: time.Now, cacheSize: defaultCacheSize}
	if err := configure("NewVerifier", opts, func(o VerifierOption) error { return o.applyVerifier(&cfg) }); err != nil {
		return nil, err
	}
	v.now, v.leeway = cfg.now, cfg.leeway
	if cfg.cacheSize > 0 {
		v.cache = newTokenCache(cfg.cacheSize)
	}
	// golang-jwt checks the format, the algorithm, the signature and the
	// registered claims (iss, aud, exp required, nbf, iat, with the
	// leeway); wireClaims.Validate adds the checks it has no option for.
	// WithValidMethods is a first filter; v.key pins each key to its own
	// method.
	v.parser = jwt.NewParser(
		jwt.WithValidMethods(algs),
		jwt.WithStrictDecoding(),
		jwt.WithIssuer(issuer),
		jwt.WithAudience(audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(cfg.leeway),
		jwt.WithTimeFunc(cfg.now),
	)
	v.keyfunc = v.key
	return v, nil
}

// Errors of wireClaims.Validate, the checks golang-jwt has no option for.
var (
	errAudienceCount = errors.New("audience must have exactly one value")
	errNotAccess     = errors.New("not an access token")
	errNoSubject     = errors.New("missing subject")
)

// Validate is called by golang-jwt's validator after its own checks (it
// implements jwt.ClaimsValidator): aud must be a single value (WithAudience
// checks which), typ must be TypeAccess and sub must not be empty.
func (c *wireClaims) Validate() error {
	switch {
	case len(c.Audience) != 1:
		return errAudienceCount
	case c.Type != TypeAccess:
		return errNotAccess
	case c.Subject == "":
		return errNoSubject
	}
	return nil
}

// Errors of Verifier.key, recognized by Verify.
var (
	errNoKeyID      = errors.New("missing key id")
	errUnknownKeyID = errors.New("unknown key id")
	errBadAlg       = errors.New("algorithm not allowed")
	errCrit         = errors.New("unsupported critical header")
)

// key chooses the key to check t's signature with, among v's keys only,
// and refuses t unless its method is that key's.
func (v *Verifier) key(t *jwt.Token) (any, error) {
	if _, ok := t.Header["crit"]; ok {
		return nil, errCrit
	}
	kid, ok := t.Header["kid"].(string)
	if !ok {
		return nil, errNoKeyID
	}
	k, ok := v.keys[kid]
	if !ok {
		return nil, errUnknownKeyID
	}
	// Identity, not name: refuses a method registered over jwt's own.
	if t.Method != k.method {
		return nil, errBadAlg
	}
	return k.key, nil
}

// Verify checks token as described on [Verifier] and returns its claims,
// the same shape [Issuer.Issue] returns. Every error it returns wraps
// [ErrInvalidToken]; the error of a token that is valid in every way but
// expired also wraps [ErrTokenExpired]. Error messages never quote the
// token. A token found in the cache costs a hash of the token, a map
// lookup and a comparison, and does not allocate.
func (v *Verifier) Verify(token string) (Claims, error) {
	c, err := v.verify(token)
	if err != nil {
		return Claims{}, err
	}
	return *c, nil
}

// verify is Verify returning a pointer that may be shared with the cache:
// nobody may modify the claims it points to.
func (v *Verifier) verify(token string) (*Claims, error) {
	if token == "" {
		return nil, &tokenError{reason: "empty"}
	}
	if len(token) > maxTokenLen {
		return nil, &tokenError{reason: "too long"}
	}
	if v.cache != nil {
		if c := v.cache.get(token, v.now()); c != nil {
			return c, nil
		}
	}
	c, err := v.check(token)
	if err != nil {
		return nil, err
	}
	if v.cache != nil {
		v.cache.put(token, c, v.now(), v.leeway)
	}
	return c, nil
}

// check runs every check of Verify on token, without the cache.
func (v *Verifier) check(token string) (*Claims, error) {
	if strings.HasPrefix(token, RefreshTokenPrefix) {
		return nil, &tokenError{reason: "a refresh token, not an access token"}
	}
	if !compactJWS(token) {
		return nil, &tokenError{reason: "malformed"}
	}
	var wc wireClaims
	t, err := v.parser.ParseWithClaims(token, &wc, v.keyfunc)
	if err != nil {
		return nil, v.parseError(t, err)
	}
	// The parser has checked every claim; copy them out.
	c := &Claims{
		Issuer:    wc.Issuer,
		Subject:   wc.Subject,
		Audience:  wc.Audience[0],
		ID:        wc.ID,
		Type:      wc.Type,
		ExpiresAt: wc.ExpiresAt.UTC(),
	}
	if wc.NotBefore != nil {
		c.NotBefore = wc.NotBefore.UTC()
	}
	if wc.IssuedAt != nil {
		c.IssuedAt = wc.IssuedAt.UTC()
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

// claimReasons maps the claim errors of golang-jwt's validator and of
// wireClaims.Validate to fixed reasons, most important first: a token with
// several faults is reported by the first that matches, and as expired
// only when expiry is its only fault.
var claimReasons = []struct {
	err    error
	reason string
}{
	{jwt.ErrTokenInvalidIssuer, "wrong issuer"},
	{jwt.ErrTokenInvalidAudience, "wrong audience"},
	{errAudienceCount, "wrong audience"},
	{errNotAccess, "not an access token"},
	{errNoSubject, "missing subject"},
	{jwt.ErrTokenRequiredClaimMissing, "missing expiry"},
	{jwt.ErrTokenNotValidYet, "not valid yet"},
	{jwt.ErrTokenUsedBeforeIssued, "issued in the future"},
}

// parseError turns an error of jwt's parser into a tokenError with a fixed
// reason.
func (v *Verifier) parseError(t *jwt.Token, err error) error {
	switch {
	case errors.Is(err, errNoKeyID):
		return &tokenError{reason: "missing key id"}
	case errors.Is(err, errUnknownKeyID):
		return &tokenError{reason: "unknown key id"}
	case errors.Is(err, errCrit):
		return &tokenError{reason: "unsupported critical header"}
	case errors.Is(err, errBadAlg),
		t != nil && !v.verifies(t.Method) &&
			(errors.Is(err, jwt.ErrTokenUnverifiable) || errors.Is(err, jwt.ErrTokenSignatureInvalid)):
		return &tokenError{reason: "algorithm not allowed"}
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return &tokenError{reason: "bad signature"}
	case errors.Is(err, jwt.ErrTokenMalformed):
		return &tokenError{reason: "malformed"}
	case errors.Is(err, jwt.ErrTokenInvalidClaims):
		for _, cr := range claimReasons {
			if errors.Is(err, cr.err) {
				return &tokenError{reason: cr.reason}
			}
		}
		if errors.Is(err, jwt.ErrTokenExpired) {
			return &tokenError{reason: "expired", expired: true}
		}
	}
	return &tokenError{reason: "rejected"}
}

// verifies reports whether one of v's keys verifies with m.
func (v *Verifier) verifies(m jwt.SigningMethod) bool {
	if m == nil {
		return false
	}
	for _, k := range v.keys {
		if k.method == m {
			return true
		}
	}
	return false
}
