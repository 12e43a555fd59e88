// Package auth answers "who is the user?" for a net/http service with
// several user directories (a core one, and one per tenant): it hashes and
// verifies passwords, issues and verifies access tokens, and guards
// handlers with a bearer-token middleware.
//
// # Passwords
//
// A [Hasher] hashes passwords with argon2id, OWASP's parameters by default
// ([DefaultParams]), and stores them as PHC strings:
//
//	$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>
//
// Passwords are never truncated. [Hasher.Verify] reads the parameters from
// the stored string (capped, so a stored string cannot exhaust the server),
// compares in constant time, and given an empty hash (an unknown user) does
// the same work before failing, so unknown users cannot be found by timing.
// A Hasher runs at most a fixed number of hashes at once
// ([WithMaxConcurrent]); other callers wait, bounded by their context, so a
// login flood cannot exhaust memory.
//
// # Tokens
//
// Access tokens are JWTs. Each user directory has its own audience and its
// own [Key], derived from one master secret by [DeriveKey] (or
// configured), so a token of one directory never verifies in another, even
// if a claim check were wrong. An [Issuer] signs tokens; a [Verifier]
// checks them with fixed rules that callers cannot loosen: a `kid` naming
// one of its keys, the algorithm of that key and no other, exact iss and
// aud, a required exp, nbf and iat not in the future, typ "access" and a
// subject. [Issuer.Issue] and [Verifier.Verify] return the same [Claims].
// A Verifier remembers the tokens it has accepted, in a bounded cache
// ([WithCache]) keyed by the whole token and used only until the token's
// exp, so a client sending the same token again pays for the signature and
// the JSON once.
//
// Keys are HMAC-SHA256 (HS256) by default. Ed25519 keys (EdDSA, from
// [NewEd25519Key] or [Ed25519KeyFromSeed]) are the option for tokens that
// other services verify: they need only the public keys, which [JWKS]
// publishes as a JSON Web Key Set. The verifier takes the algorithm from
// the key the kid names, never from the token, so an HS256 token "signed"
// with an Ed25519 public key is refused, and so is an EdDSA token naming
// an HMAC key.
//
// # Key rotation
//
// A Verifier with several keys accepts tokens of each. [DeriveKeys] turns
// the configured masters (the current one first, then those being
// retired) into a directory's keys: the issuer signs with the first, the
// verifier accepts all, and a master removed from the configuration stops
// verifying. Rotate by putting a new master in front, then removing the
// old one once the tokens it signed have expired.
//
// # Many directories: the Keyring
//
// A [Keyring] does the above for every directory an app has, from one set
// of masters: it derives each directory's keys on first use (the same
// keys DeriveKeys gives, so tokens cross between the two), keeps a bounded
// number of issuers and verifiers ([WithMaxDirectories]), and rotates
// ([Keyring.Rotate]: a new master signs at once, the others verify until
// the tokens they signed have expired). A login handler calls
// [Keyring.Issue]; [Keyring.VerifierFunc] gives [RequireTokenFunc] the
// verifier of the directory a request is for:
//
//	ring, err := auth.NewKeyring("my-service", masters, auth.WithTTL(time.Hour))
//	token, claims, err := ring.Issue("tenant:"+t.ID, userID) // at login
//	requireToken, err := auth.RequireTokenFunc(ring.VerifierFunc(func(r *http.Request) (string, error) {
//		t, ok := tenancy.FromContext(r.Context())
//		if !ok {
//			return "", errors.New("no tenant in context")
//		}
//		return "tenant:" + t.ID, nil
//	}))
//
// # Refresh tokens
//
// [NewRefreshToken] makes an opaque refresh token ("rt_" and 256 random
// bits) and the SHA-256 hash to store in its place; [HashRefreshToken]
// finds a presented token's hash, after checking its format strictly. The
// server keeps the records (expiry, single use, families); this package
// makes sure a refresh token is never taken for an access token, nor the
// reverse.
//
// # Login throttling
//
// A [Throttle] limits failed attempts per key, such as "core|<email>",
// "tenant:42|<email>" and "ip|<address>": a token bucket per key, with a
// fixed bound on memory however many keys an attacker uses. Successful
// attempts do not count, and concurrent attempts cannot get past the limit
// by all arriving before the first failure is recorded. A Throttle is
// one process's: N replicas behind a load balancer would allow N times the
// failures. [SQLThrottle] keeps the same buckets in a SQL database the
// replicas share (SQLite or PostgreSQL, one statement per call), so
// together they allow what one allows.
//
// # Middleware
//
// [RequireToken] (or [RequireTokenFunc], which picks the verifier per
// request) reads `Authorization: Bearer <token>`, verifies it and stores
// the claims in the request context, where [FromContext] finds them (and
// [NewContext] puts them, for tests). Refused requests get 401 with
// `WWW-Authenticate: Bearer` by default ([DefaultErrorHandler]), or whatever
// [WithErrorHandler] writes.
//
// # Errors over HTTP
//
// [HTTPStatus] is the mapping of this package's errors to an HTTP status
// and a fixed message (401 for a missing, invalid or expired token and a
// wrong password, 503 for [ErrBusy]), which [DefaultErrorHandler] answers
// with and [ProblemHandler] writes as application/problem+json (RFC 9457),
// logging the 5xx ones. ProblemHandler passes errors that are not this
// package's to the next handler, so it chains with the tenancy package's
// handler of the same shape and an app's own, and the whole API answers
// alike:
//
//	problems := tenancy.ProblemHandler(log, auth.ProblemHandler(log, appErrors))
//	requireToken, err := auth.RequireToken(verifier, auth.WithErrorHandler(problems))
//
// # Configuration
//
// Every constructor ([NewHasher], [NewIssuer], [NewVerifier],
// [NewKeyring], [NewThrottle], [RequireToken], [RequireTokenFunc]) reports a
// configuration mistake when it is called, with an error wrapping
// [ErrInvalidConfig], and never panics; what it returns never fails a
// request because of its configuration. A nil option is such an error,
// naming its position ("option 2 is nil"). An option given a nil function
// ([WithErrorHandler], [WithNow]) means that option's default. One
// [WithNow] value sets the clock of every constructor that reads one, and
// [WithTTL], [WithLeeway] and [WithCache] configure a [Keyring] as they
// configure an Issuer or a Verifier.
//
// # Usage
//
//	hasher, err := auth.NewHasher()
//	// register:
//	encoded, err := hasher.Hash(ctx, password) // store encoded
//	// login (encoded is "" if no user has that email):
//	err = hasher.Verify(ctx, encoded, password) // nil, ErrPasswordMismatch, ...
//
//	key, err := auth.DeriveKey(masterSecret, "core")
//	issuer, err := auth.NewIssuer("my-service", "core", key, auth.WithTTL(time.Hour))
//	token, claims, err := issuer.Issue(userID)
//
//	verifier, err := auth.NewVerifier("my-service", "core", []auth.Key{key})
//	requireToken, err := auth.RequireToken(verifier)
//	mux.Handle("GET /me", requireToken(handleMe))
//
//	// in handleMe:
//	claims, ok := auth.FromContext(r.Context())
//
//	// key rotation: JWT_SECRET=new, JWT_PREVIOUS_SECRETS=old
//	keys, err := auth.DeriveKeys([][]byte{newMaster, oldMaster}, "core")
//	issuer, err = auth.NewIssuer("my-service", "core", keys[0])
//	verifier, err = auth.NewVerifier("my-service", "core", keys)
//
//	// refresh tokens: hand out token, store hash
//	token, hash := auth.NewRefreshToken()
//	hash, err = auth.HashRefreshToken(presented) // ErrInvalidToken if malformed
//
//	// login throttling
//	throttle, err := auth.NewThrottle(auth.WithBurst(10), auth.WithRefill(time.Minute))
//	if ok, retryAfter := throttle.Allow("core|" + email); !ok { /* 429 */ }
//	// after checking the password: throttle.Fail(key), or on success
//	// throttle.Reset(key) (an account) / throttle.Succeed(key) (an address)
//
// All types are safe for concurrent use, and none holds resources that need
// closing or starts a goroutine.
package auth
