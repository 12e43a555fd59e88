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
	issuer, err := auth.NewIssuer(key, "example-app", "core", auth.WithTTL(15*time.Minute))
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
	issuer, _ := auth.NewIssuer(key, "example-app", "core")
	verifier, _ := auth.NewVerifier("example-app", "core", []auth.Key{key})

	me := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, _ := auth.ClaimsFromContext(r.Context())
		fmt.Fprintf(w, "hello %s", claims.Subject)
	})
	mux := http.NewServeMux()
	mux.Handle("GET /me", auth.RequireToken(verifier)(me))

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
