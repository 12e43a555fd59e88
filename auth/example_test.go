package auth_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/tenantkit/tenantkit/auth"
)

func ExampleHasher() {
	ctx := context.Background()
	h, err := auth.NewHasher() // OWASP parameters
	if err != nil {
		panic(err)
	}

	// At registration: store the PHC string, never the password.
	encoded, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		panic(err)
	}
	fmt.Println(encoded[:31]) // then the random salt and the hash

	// At login.
	fmt.Println(h.Verify(ctx, encoded, "correct horse battery staple"))
	err = h.Verify(ctx, encoded, "Tr0ub4dor&3")
	fmt.Println(errors.Is(err, auth.ErrPasswordMismatch))

	// No user with that email: verify against "" all the same, so the
	// answer takes as long as for a wrong password.
	err = h.Verify(ctx, "", "correct horse battery staple")
	fmt.Println(errors.Is(err, auth.ErrPasswordMismatch))
	fmt.Println(h.NeedsRehash(encoded))
	// Output:
	// $argon2id$v=19$m=19456,t=2,p=1$
	// <nil>
	// true
	// true
	// false
}

func ExampleIssuer() {
	master := []byte("load at least 32 random bytes from your secret store")
	key, err := auth.DeriveKey(master, "core")
	if err != nil {
		panic(err)
	}
	issuer, err := auth.NewIssuer("example-app", "core", key, auth.WithTTL(15*time.Minute))
	if err != nil {
		panic(err)
	}
	verifier, err := auth.NewVerifier("example-app", "core", []auth.Key{key})
	if err != nil {
		panic(err)
	}

	token, _, err := issuer.Issue("user-42")
	if err != nil {
		panic(err)
	}
	claims, err := verifier.Verify(token)
	if err != nil {
		panic(err)
	}
	fmt.Println(claims.Subject, claims.Audience, claims.Type, claims.ExpiresAt.Sub(claims.IssuedAt))
	// Output: user-42 core access 15m0s
}

func ExampleRequireToken() {
	master := []byte("load at least 32 random bytes from your secret store")
	key, _ := auth.DeriveKey(master, "core")
	issuer, _ := auth.NewIssuer("example-app", "core", key)
	verifier, _ := auth.NewVerifier("example-app", "core", []auth.Key{key})

	me := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, _ := auth.FromContext(r.Context())
		fmt.Fprintf(w, "hello %s", claims.Subject)
	})
	requireToken, err := auth.RequireToken(verifier)
	if err != nil { // a nil verifier or a bad option: found at start-up
		fmt.Println(err)
		return
	}
	mux := http.NewServeMux()
	mux.Handle("GET /me", requireToken(me))

	token, _, _ := issuer.Issue("user-42")
	for _, header := range []string{"Bearer " + token, ""} {
		r := httptest.NewRequest("GET", "/me", nil)
		if header != "" {
			r.Header.Set("Authorization", header)
		}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		fmt.Printf("%d %q %q\n", w.Code, w.Header().Get("WWW-Authenticate"), w.Body.String())
	}
	// Output:
	// 200 "" "hello user-42"
	// 401 "Bearer" "Unauthorized\n"
}

func ExampleDeriveKey() {
	master := []byte("load at least 32 random bytes from your secret store")
	core, _ := auth.DeriveKey(master, "core")
	tenant, _ := auth.DeriveKey(master, "tenant:42")
	again, _ := auth.DeriveKey(master, "core")

	fmt.Println(len(core.Secret), len(core.ID))
	fmt.Println(core.ID == again.ID, core.ID == tenant.ID)
	fmt.Println(core) // the secret is never printed
	// Output:
	// 32 12
	// true false
	// auth.Key{ID: "csyrMUJmn_7E"}
}

// A server configured with JWT_SECRET (the current master) and
// JWT_PREVIOUS_SECRETS (masters being retired) signs with the current one
// and accepts tokens of all of them, until a master leaves the list.
func ExampleDeriveKeys() {
	oldMaster := []byte("the master secret we are retiring, 32+ bytes")
	newMaster := []byte("the new master secret, from the secret store")

	// Before the rotation: JWT_SECRET=old.
	before, _ := auth.DeriveKeys([][]byte{oldMaster}, "tenant:42")
	oldIssuer, _ := auth.NewIssuer("example-app", "tenant:42", before[0])
	oldToken, _, _ := oldIssuer.Issue("user-7")

	// During: JWT_SECRET=new, JWT_PREVIOUS_SECRETS=old.
	during, _ := auth.DeriveKeys([][]byte{newMaster, oldMaster}, "tenant:42")
	issuer, _ := auth.NewIssuer("example-app", "tenant:42", during[0])
	verifier, _ := auth.NewVerifier("example-app", "tenant:42", during)
	newToken, _, _ := issuer.Issue("user-7")
	_, errOld := verifier.Verify(oldToken)
	_, errNew := verifier.Verify(newToken)
	fmt.Println("during:", errOld, errNew)

	// After the access token TTL: JWT_PREVIOUS_SECRETS is emptied.
	after, _ := auth.DeriveKeys([][]byte{newMaster}, "tenant:42")
	verifier, _ = auth.NewVerifier("example-app", "tenant:42", after)
	_, errOld = verifier.Verify(oldToken)
	_, errNew = verifier.Verify(newToken)
	fmt.Println("after:", errors.Is(errOld, auth.ErrInvalidToken), errNew)
	// Output:
	// during: <nil> <nil>
	// after: true <nil>
}

// Tokens signed with Ed25519 can be verified by other services from the
// published public keys alone.
func ExampleJWKS() {
	// In production: auth.NewEd25519Key() once, keep Private.Seed() in the
	// secret store, and load it with Ed25519KeyFromSeed.
	seed := make([]byte, 32)
	key, err := auth.Ed25519KeyFromSeed(seed)
	if err != nil {
		panic(err)
	}
	issuer, _ := auth.NewIssuer("example-app", "core", key)
	token, _, _ := issuer.Issue("user-42")

	// Serve this at /.well-known/jwks.json.
	pub, _ := key.PublicKey()
	jwks, _ := auth.JWKS(pub)
	fmt.Println(string(jwks))

	// Another service verifies with the public key only.
	verifier, _ := auth.NewVerifier("example-app", "core", []auth.Key{{ID: pub.ID, Public: pub.Key}})
	claims, err := verifier.Verify(token)
	fmt.Println(key.Alg(), claims.Subject, err)
	// Output:
	// {"keys":[{"kty":"OKP","crv":"Ed25519","x":"O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik","kid":"9ZP03Nu8GrXPAUkbKNxHOKBzxPX83SShgFkRNK-f2lw","alg":"EdDSA","use":"sig"}]}
	// EdDSA user-42 <nil>
}

func ExampleNewRefreshToken() {
	token, hash := auth.NewRefreshToken()
	// Give token to the client; store only hash.
	fmt.Println(token[:3], len(token), len(hash))

	// On refresh: look the presented token up by its hash.
	lookup, err := auth.HashRefreshToken(token)
	fmt.Println(err, lookup == hash)

	// An access token is never a refresh token.
	_, err = auth.HashRefreshToken("eyJhbGciOiJIUzI1NiJ9.e30.sig")
	fmt.Println(errors.Is(err, auth.ErrInvalidToken))
	// Output:
	// rt_ 46 64
	// <nil> true
	// true
}

func ExampleThrottle() {
	// Two failures per account, then one more per minute.
	throttle, err := auth.NewThrottle(auth.WithBurst(2), auth.WithRefill(time.Minute))
	if err != nil {
		panic(err)
	}
	login := func(email string, passwordOK bool) string {
		key := "core|" + email
		if ok, retryAfter := throttle.Allow(key); !ok {
			return fmt.Sprintf("429 Retry-After: %.0f", retryAfter.Seconds())
		}
		if !passwordOK { // the hasher said ErrPasswordMismatch
			throttle.Fail(key)
			return "401"
		}
		throttle.Reset(key)
		return "200"
	}
	fmt.Println(login("alice@example.com", false))
	fmt.Println(login("alice@example.com", false))
	fmt.Println(login("alice@example.com", true)) // even the right password waits
	fmt.Println(login("bob@example.com", true))
	// Output:
	// 401
	// 401
	// 429 Retry-After: 60
	// 200
}

func ExampleProblemHandler() {
	key, _ := auth.DeriveKey([]byte("load at least 32 random bytes from your secret store"), "core")
	verifier, _ := auth.NewVerifier("example-app", "core", []auth.Key{key})
	// Errors of auth as application/problem+json; any other error goes to
	// the next handler (here none: 500, logged).
	requireToken, err := auth.RequireToken(verifier, auth.WithErrorHandler(auth.ProblemHandler(nil, nil)))
	if err != nil {
		fmt.Println(err)
		return
	}
	h := requireToken(http.NotFoundHandler())

	for _, header := range []string{"", "Bearer not.a.token"} {
		r := httptest.NewRequest("GET", "/me", nil)
		if header != "" {
			r.Header.Set("Authorization", header)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		fmt.Print(w.Code, " ", w.Header().Get("WWW-Authenticate"), " ", w.Body)
	}
	// Output:
	// 401 Bearer {"type":"about:blank","title":"Unauthorized","status":401,"detail":"missing bearer token"}
	// 401 Bearer {"type":"about:blank","title":"Unauthorized","status":401,"detail":"invalid token"}
}
