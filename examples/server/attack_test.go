package main

// Every token-protected endpoint refuses every wrong credential with 401
// and WWW-Authenticate: Bearer, and a refused request changes nothing.

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tenantkit/tenantkit/auth"
)

// mintToken signs an access token for subject in directory dir ("core" or
// "tenant:<id>") the way tokens.go does, with the server's master secret,
// as if issued at issuedAt with lifetime ttl. issuer and audience override
// the real ones when not empty; key, when not nil, replaces the derived key.
func mintToken(t testing.TB, ts *testServer, dir, subject string, issuedAt time.Time, ttl time.Duration, opts ...func(*mintOptions)) string {
	t.Helper()
	key, err := auth.DeriveKey([]byte(ts.cfg.jwtSecret), dir)
	if err != nil {
		t.Fatal(err)
	}
	o := mintOptions{key: key, issuer: tokenIssuer, audience: dir}
	for _, f := range opts {
		f(&o)
	}
	iss, err := auth.NewIssuer(o.key, o.issuer, o.audience, auth.WithTTL(ttl), auth.WithIssuerNow(func() time.Time { return issuedAt }))
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := iss.Issue(subject)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

type mintOptions struct {
	key              auth.Key
	issuer, audience string
}

// tokenParts splits a JWT into its decoded header and claims.
func tokenParts(t testing.TB, tok string) (header, claims map[string]any, sig string) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q has %d parts; want 3", tok, len(parts))
	}
	for i, dst := range []*map[string]any{&header, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, dst); err != nil {
			t.Fatal(err)
		}
	}
	return header, claims, parts[2]
}

func b64JSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// attackTarget is a token-protected endpoint and the directory whose
// tokens it takes.
type attackTarget struct {
	name         string
	method, path string
	tenant       string // X-Tenant; "" on core routes
	body         any    // a valid body: accepted, it would change something
	dir          string // "core" or "tenant:<id>"
	valid        string // a valid token of dir for the victim
	otherUser    string // the id of another user of dir
	wrongDir     []struct{ name, token string }
	control      req // the same endpoint with the valid token, harmless
	controlWant  int
}

func TestAttacks(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ts *testServer) {
		core := ts.coreUser(t, "attack-owner@example.com")
		ts.coreUser(t, "attack-second@example.com")
		a := createOrg(t, ts, core, map[string]any{"name": "Attack A"})
		b := createOrg(t, ts, core, map[string]any{"name": "Attack B"})
		aID, bID := strconv.FormatInt(a.ID, 10), strconv.FormatInt(b.ID, 10)
		// User 1 of A and user 1 of B: a token of one, if accepted by the
		// other, would name a real user there.
		tokA := ts.tenantUser(t, aID, "victim-a@example.com")
		tokB := ts.tenantUser(t, bID, "victim-b@example.com")
		ts.tenantUser(t, bID, "second-b@example.com")
		meA, meB := getMe(t, ts, aID, tokA), getMe(t, ts, bID, tokB)
		if meA.ID != meB.ID {
			t.Logf("first users of A and B have ids %d and %d; the cross-tenant cases are weaker", meA.ID, meB.ID)
		}
		_, coreClaims, _ := tokenParts(t, core)
		coreSub, _ := coreClaims["sub"].(string)
		_, bClaims, _ := tokenParts(t, tokB)
		bSub, _ := bClaims["sub"].(string)
		otherCore := strconv.Itoa(mustAtoi(t, coreSub) + 1)
		otherB := strconv.Itoa(mustAtoi(t, bSub) + 1)

		coreRoutes := []attackTarget{
			{name: "create organization", method: "POST", path: "/api/organizations", body: map[string]string{"name": "Hacked", "slug": "hacked"},
				control: req{method: "POST", path: "/api/organizations", body: map[string]string{"name": ""}}, controlWant: 422},
			{name: "list organizations", method: "GET", path: "/api/organizations",
				control: req{method: "GET", path: "/api/organizations"}, controlWant: 200},
			{name: "get organization", method: "GET", path: "/api/organizations/" + aID,
				control: req{method: "GET", path: "/api/organizations/" + aID}, controlWant: 200},
		}
		for i := range coreRoutes {
			c := &coreRoutes[i]
			c.dir, c.valid, c.otherUser = "core", core, otherCore
			c.wrongDir = []struct{ name, token string }{{"tenant token", tokB}, {"tenant token of A", tokA}}
		}
		tenantRoutes := []attackTarget{
			{name: "get me", method: "GET", path: "/api/tenant/users/me",
				control: req{method: "GET", path: "/api/tenant/users/me"}, controlWant: 200},
			{name: "update me", method: "PUT", path: "/api/tenant/users/me", body: map[string]string{"display_name": "Hacked", "email": "hacked@example.com"},
				control: req{method: "PUT", path: "/api/tenant/users/me", body: map[string]string{}}, controlWant: 200},
		}
		for i := range tenantRoutes {
			c := &tenantRoutes[i]
			c.tenant, c.dir, c.valid, c.otherUser = bID, "tenant:"+bID, tokB, otherB
			c.wrongDir = []struct{ name, token string }{{"token of tenant A", tokA}, {"core token", core}}
			c.control.tenant = bID
		}
		// The same routes named by slug.
		for _, r := range []attackTarget{tenantRoutes[0], tenantRoutes[1]} {
			r.name += " (slug)"
			r.tenant, r.control.tenant = b.Slug, b.Slug
			tenantRoutes = append(tenantRoutes, r)
		}
		targets := append(coreRoutes, tenantRoutes...)

		before := tenantStorage(t, ts)
		now := time.Now()

		// credentials returns, for one target, every wrong Authorization
		// header (or other change to the request).
		type credential struct {
			name  string
			apply func(q *req)
		}
		credentials := func(tg attackTarget) []credential {
			bearer := func(tok string) func(q *req) {
				return func(q *req) { q.header = http.Header{"Authorization": {"Bearer " + tok}} }
			}
			raw := func(v string) func(q *req) {
				return func(q *req) { q.header = http.Header{"Authorization": {v}} }
			}
			header, claims, sig := tokenParts(t, tg.valid)
			h64 := strings.SplitN(tg.valid, ".", 2)[0]
			c64 := strings.Split(tg.valid, ".")[1]

			tamperedClaims := map[string]any{}
			for k, v := range claims {
				tamperedClaims[k] = v
			}
			tamperedClaims["sub"] = tg.otherUser
			longLived := map[string]any{}
			for k, v := range claims {
				longLived[k] = v
			}
			longLived["exp"] = now.Add(100 * 24 * time.Hour).Unix()
			flipped := []byte(sig)
			if flipped[0] == 'A' {
				flipped[0] = 'B'
			} else {
				flipped[0] = 'A'
			}
			noneHeader := b64JSON(t, map[string]any{"alg": "none", "typ": "JWT"})
			noneHeaderKid := b64JSON(t, map[string]any{"alg": "none", "typ": "JWT", "kid": header["kid"]})
			realKey, err := auth.DeriveKey([]byte(ts.cfg.jwtSecret), tg.dir)
			if err != nil {
				t.Fatal(err)
			}
			wrongKey, err := auth.DeriveKey([]byte("another-secret-0123456789abcdef0123456789"), tg.dir)
			if err != nil {
				t.Fatal(err)
			}
			sub := claims["sub"].(string)
			hs384 := jwt.NewWithClaims(jwt.SigningMethodHS384, jwt.MapClaims(claims))
			hs384.Header["kid"] = header["kid"]
			hs384Tok, err := hs384.SignedString(realKey.Secret)
			if err != nil {
				t.Fatal(err)
			}
			withKey := func(k auth.Key) func(*mintOptions) { return func(o *mintOptions) { o.key = k } }

			creds := []credential{
				{"no Authorization", func(q *req) {}},
				{"Bearer without token", raw("Bearer")},
				{"Basic", raw("Basic dXNlcjpwYXNzd29yZA==")},
				{"Basic with the valid token", raw("Basic " + tg.valid)},
				{"token without scheme", raw(tg.valid)},
				{"token in the query string", func(q *req) { q.path += "?access_token=" + tg.valid }},
				{"garbage", bearer("not.a.jwt")},
				{"two parts", bearer(h64 + "." + c64)},
				{"too long", bearer(tg.valid + strings.Repeat("A", 5000))},
				{"tampered payload (other user)", bearer(h64 + "." + b64JSON(t, tamperedClaims) + "." + sig)},
				{"tampered payload (later expiry)", bearer(h64 + "." + b64JSON(t, longLived) + "." + sig)},
				{"tampered signature", bearer(h64 + "." + c64 + "." + string(flipped))},
				{"signature removed", bearer(h64 + "." + c64 + ".")},
				{"alg none", bearer(noneHeader + "." + c64 + ".")},
				{"alg none with kid", bearer(noneHeaderKid + "." + c64 + ".")},
				{"alg none with signature", bearer(noneHeader + "." + c64 + "." + sig)},
				{"HS384 with the real key", bearer(hs384Tok)},
				{"HS256 with a wrong key", bearer(mintToken(t, ts, tg.dir, sub, now, time.Hour, withKey(auth.Key{ID: realKey.ID, Secret: wrongKey.Secret})))},
				{"HS256 with another master secret", bearer(mintToken(t, ts, tg.dir, sub, now, time.Hour, withKey(wrongKey)))},
				{"unknown kid", bearer(mintToken(t, ts, tg.dir, sub, now, time.Hour, withKey(auth.Key{ID: "unknown-kid", Secret: realKey.Secret})))},
				{"expired", bearer(mintToken(t, ts, tg.dir, sub, now.Add(-2*time.Hour), time.Hour))},
				{"issued in the future", bearer(mintToken(t, ts, tg.dir, sub, now.Add(time.Hour), time.Hour))},
				{"wrong issuer", bearer(mintToken(t, ts, tg.dir, sub, now, time.Hour, func(o *mintOptions) { o.issuer = "evil" }))},
				{"wrong audience, right key", bearer(mintToken(t, ts, tg.dir, sub, now, time.Hour, func(o *mintOptions) { o.audience = "tenant:999999" }))},
				{"non-numeric subject", bearer(mintToken(t, ts, tg.dir, "admin", now, time.Hour))},
				{"zero subject", bearer(mintToken(t, ts, tg.dir, "0", now, time.Hour))},
			}
			for _, w := range tg.wrongDir {
				creds = append(creds, credential{w.name, bearer(w.token)})
			}
			return creds
		}

		for _, tg := range targets {
			t.Run(tg.name, func(t *testing.T) {
				for _, c := range credentials(tg) {
					q := req{method: tg.method, path: tg.path, tenant: tg.tenant, body: tg.body}
					c.apply(&q)
					r := doChecked(t, ts, q)
					if r.status != http.StatusUnauthorized {
						t.Errorf("%s: %s %s = %d %s; want 401", c.name, q.method, q.path, r.status, r.body)
						continue
					}
					if got := r.header.Get("WWW-Authenticate"); got != "Bearer" {
						t.Errorf("%s: WWW-Authenticate = %q; want %q", c.name, got, "Bearer")
					}
				}
			})
		}

		t.Run("nothing changed", func(t *testing.T) {
			checkStorageUnchanged(t, ts, before)
			wantUser(t, "user 1 of A", getMe(t, ts, aID, tokA), "victim-a@example.com", nil)
			wantUser(t, "user 1 of B", getMe(t, ts, bID, tokB), "victim-b@example.com", nil)
			second := login(t, ts, bID, "second-b@example.com", testPassword)
			wantUser(t, "user 2 of B", getMe(t, ts, bID, second), "second-b@example.com", nil)
			orgs := checkOrgList(t, expectStatus(t, ts, req{method: "GET", path: "/api/organizations", token: core}, http.StatusOK))
			if len(orgs) != 2 {
				t.Errorf("organizations after the attacks = %+v; want only A and B", orgs)
			}
			expectStatus(t, ts, req{method: "POST", path: "/api/tenant/auth/register", tenant: "hacked", body: map[string]string{"email": "x@example.com", "password": testPassword}}, http.StatusNotFound)
		})

		// The valid token, and one minted here with the server's key
		// material, pass on every target: the refusals above are the
		// credentials' fault, and the minted cases test what they claim.
		t.Run("valid tokens pass", func(t *testing.T) {
			for _, tg := range targets {
				_, claims, _ := tokenParts(t, tg.valid)
				minted := mintToken(t, ts, tg.dir, claims["sub"].(string), time.Now(), time.Hour)
				for _, tok := range []string{tg.valid, minted} {
					q := tg.control
					q.token = tok
					r := doChecked(t, ts, q)
					if r.status != tg.controlWant {
						t.Errorf("%s with a valid token: %s %s = %d %s; want %d", tg.name, q.method, q.path, r.status, r.body, tg.controlWant)
					}
				}
			}
		})
	})
}

func mustAtoi(t testing.TB, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("subject %q is not a number: %v", s, err)
	}
	return n
}
