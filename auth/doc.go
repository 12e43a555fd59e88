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
// Access tokens are JWTs signed with HMAC-SHA256. Each user directory has
// its own audience and its own [Key], derived from one master secret by
// [DeriveKey] (or configured), so a token of one directory never verifies
// in another, even if a claim check were wrong. An [Issuer] signs tokens; a
// [Verifier] checks them with fixed rules that callers cannot loosen: alg
// HS256 only, a `kid` naming one of its keys, exact iss and aud, a required
// exp, nbf and iat not in the future, typ "access" and a subject. A
// Verifier with several keys accepts tokens of each, for key rotation.
//
// # Middleware
//
// [RequireToken] (or [RequireTokenFunc], which picks the verifier per
// request) reads `Authorization: Bearer <token>`, verifies it and stores
// the claims in the request context, where [ClaimsFromContext] finds them.
// Refused requests get 401 with `WWW-Authenticate: Bearer` by default
// ([DefaultErrorHandler]), or whatever [WithErrorHandler] writes.
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
//	issuer, err := auth.NewIssuer(key, "my-service", "core", auth.WithTTL(time.Hour))
//	token, claims, err := issuer.Issue(userID)
//
//	verifier, err := auth.NewVerifier("my-service", "core", []auth.Key{key})
//	mux.Handle("GET /me", auth.RequireToken(verifier)(handleMe))
//
//	// in handleMe:
//	claims, ok := auth.ClaimsFromContext(r.Context())
//
// All types are safe for concurrent use, and none holds resources that need
// closing.
package auth
