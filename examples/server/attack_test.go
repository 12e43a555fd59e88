package main

// Every endpoint that takes a credential refuses every wrong one, and a
// refused request changes nothing: the access-token endpoints with 401 and
// WWW-Authenticate: Bearer, the refresh endpoints with 401, and logout,
// idempotent, with 204 while ending no session but the one presented.

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
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
	iss, err := auth.NewIssuer(o.issuer, o.audience, o.key, auth.WithTTL(ttl), auth.WithNow(func() time.Time { return issuedAt }))
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

// attackTarget is an endpoint that takes a credential, the directory it
// belongs to, and whose credentials a wrong one would stand in for. Add an
// endpoint by adding a row below; add a wrong credential in
// bearerCredentials or sessionCredentials, and every row gets it.
type attackTarget struct {
	name         string
	method, path string
	tenant       string    // X-Tenant; "" on core routes
	dir          string    // "core" or "tenant:<id>"
	victim       account   // the user whose credentials the target takes
	others       []account // users of other directories: their tokens are wrong here
	// Bearer targets: the credential is the Authorization header.
	body        any    // a valid body: accepted, it would change something
	valid       string // a valid access token of dir for the victim
	otherUser   string // the id of another user of dir
	control     req    // the same endpoint with the valid token, harmless
	controlWant int    // also the status of a right credential on session targets
	// Session targets (refresh, logout): the credential is the body's
	// refresh_token; refused is the status of a wrong one: 401, or 204 at
	// logout, which is idempotent and tells nothing about the token.
	session bool
	refused int
}

// account is a user of one directory: a login gives its tokens.
type account struct {
	name   string // for messages: whose token it is
	tenant string // X-Tenant of its login and refresh routes; "" for the core
	email  string
}

// credential is one wrong way to present a credential to a target.
type credential struct {
	name  string
	apply func(q *req)
	want  int // the status it must get; 0: the target's refused status
	// live, when not nil, is a refresh token that must still refresh at
	// its home after the attempt: neither spent nor revoked by it.
	live *liveToken
}

// liveToken is a refresh token and the X-Tenant of its home directory
// ("" for the core).
type liveToken struct{ tenant, token string }

// resign returns the header and claims of tok, changed by mod, signed
// again (HS256) with the real key of dir: a token the server itself could
// have issued, but for what mod changed.
func resign(t testing.TB, ts *testServer, dir, tok string, mod func(header map[string]any, claims jwt.MapClaims)) string {
	t.Helper()
	header, claims, _ := tokenParts(t, tok)
	key, err := auth.DeriveKey([]byte(ts.cfg.jwtSecret), dir)
	if err != nil {
		t.Fatal(err)
	}
	c := jwt.MapClaims{}
	for k, v := range claims {
		c[k] = v
	}
	j := jwt.NewWithClaims(jwt.SigningMethodHS256, c)
	j.Header["kid"] = header["kid"]
	mod(j.Header, c)
	s, err := j.SignedString(key.Secret)
	if err != nil {
		t.Fatal(err)
	}
	return s
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
			// Without equal ids a token of A presented to B names no
			// user there, and the cross-tenant cases prove nothing.
			t.Fatalf("first users of A and B have ids %d and %d; want equal ids, so that a token of one names a real user of the other", meA.ID, meB.ID)
		}
		_, coreClaims, _ := tokenParts(t, core)
		coreSub, _ := coreClaims["sub"].(string)
		_, bClaims, _ := tokenParts(t, tokB)
		bSub, _ := bClaims["sub"].(string)
		otherCore := strconv.Itoa(mustAtoi(t, coreSub) + 1)
		otherB := strconv.Itoa(mustAtoi(t, bSub) + 1)

		coreVictim := account{"core", "", "attack-owner@example.com"}
		victimA := account{"tenant A", aID, "victim-a@example.com"}
		victimB := account{"tenant B", bID, "victim-b@example.com"}

		coreRoutes := []attackTarget{
			{name: "create organization", method: "POST", path: "/api/organizations", body: map[string]string{"name": "Hacked", "slug": "hacked"},
				control: req{method: "POST", path: "/api/organizations", body: map[string]string{"name": ""}}, controlWant: 422},
			{name: "list organizations", method: "GET", path: "/api/organizations",
				control: req{method: "GET", path: "/api/organizations"}, controlWant: 200},
			{name: "get organization", method: "GET", path: "/api/organizations/" + aID,
				control: req{method: "GET", path: "/api/organizations/" + aID}, controlWant: 200},
			{name: "delete organization", method: "DELETE", path: "/api/organizations/" + aID,
				control: req{method: "DELETE", path: "/api/organizations/999999"}, controlWant: 404},
		}
		for i := range coreRoutes {
			c := &coreRoutes[i]
			c.dir, c.victim, c.valid, c.otherUser = "core", coreVictim, core, otherCore
			c.others = []account{victimB, victimA}
		}
		tenantRoutes := []attackTarget{
			{name: "get me", method: "GET", path: "/api/tenant/users/me",
				control: req{method: "GET", path: "/api/tenant/users/me"}, controlWant: 200},
			{name: "update me", method: "PUT", path: "/api/tenant/users/me", body: map[string]string{"display_name": "Hacked", "email": "hacked@example.com"},
				control: req{method: "PUT", path: "/api/tenant/users/me", body: map[string]string{}}, controlWant: 200},
		}
		for i := range tenantRoutes {
			c := &tenantRoutes[i]
			c.tenant, c.dir, c.victim, c.valid, c.otherUser = bID, "tenant:"+bID, victimB, tokB, otherB
			c.others = []account{victimA, coreVictim}
			c.control.tenant = bID
		}
		sessionRoutes := []attackTarget{
			{name: "refresh", path: "/api/token/refresh", refused: 401, controlWant: 200},
			{name: "logout", path: "/api/logout", refused: 204, controlWant: 204},
			{name: "tenant refresh", path: "/api/tenant/auth/refresh", tenant: bID, refused: 401, controlWant: 200},
			{name: "tenant logout", path: "/api/tenant/auth/logout", tenant: bID, refused: 204, controlWant: 204},
		}
		for i := range sessionRoutes {
			c := &sessionRoutes[i]
			c.method, c.session = "POST", true
			if c.tenant == "" {
				c.dir, c.victim, c.others = "core", coreVictim, []account{victimB, victimA}
			} else {
				c.dir, c.victim, c.others = "tenant:"+bID, victimB, []account{victimA, coreVictim}
			}
		}
		// The tenant routes again, the tenant named by its slug.
		for _, r := range []attackTarget{tenantRoutes[0], tenantRoutes[1], sessionRoutes[2], sessionRoutes[3]} {
			r.name += " (slug)"
			r.tenant = b.Slug
			if !r.session {
				r.control.tenant = b.Slug
			}
			if r.session {
				sessionRoutes = append(sessionRoutes, r)
			} else {
				tenantRoutes = append(tenantRoutes, r)
			}
		}
		targets := slices.Concat(coreRoutes, tenantRoutes, sessionRoutes)

		before := tenantStorage(t, ts)
		now := time.Now()

		// bearerCredentials returns, for a bearer target, every wrong
		// Authorization header (or other change to the request).
		//
		// Not among them: the access token of a session that has logged
		// out. Access tokens are stateless and stay valid until they
		// expire (docs/security.md, "Known limits"); logout ends the
		// refresh token's family, which sessionCredentials covers.
		bearerCredentials := func(t *testing.T, tg attackTarget) []credential {
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
			// Beyond the verifier's leeway (30s), not by hours: the
			// nearest refusal.
			soon := now.Add(2 * time.Minute).Unix()

			// The victim's own refresh tokens: a live one, and one of a
			// session that has logged out.
			own := loginPair(t, ts, tg.victim.tenant, tg.victim.email)
			ended := loginPair(t, ts, tg.victim.tenant, tg.victim.email)
			logout(t, ts, tg.victim.tenant, ended.Refresh)

			creds := []credential{
				{name: "no Authorization", apply: func(q *req) {}},
				{name: "Bearer without token", apply: raw("Bearer")},
				{name: "Basic", apply: raw("Basic dXNlcjpwYXNzd29yZA==")},
				{name: "Basic with the valid token", apply: raw("Basic " + tg.valid)},
				{name: "token without scheme", apply: raw(tg.valid)},
				{name: "token in the query string", apply: func(q *req) { q.path += "?access_token=" + tg.valid }},
				{name: "garbage", apply: bearer("not.a.jwt")},
				{name: "two parts", apply: bearer(h64 + "." + c64)},
				{name: "too long", apply: bearer(tg.valid + strings.Repeat("A", 5000))},
				{name: "tampered payload (other user)", apply: bearer(h64 + "." + b64JSON(t, tamperedClaims) + "." + sig)},
				{name: "tampered payload (later expiry)", apply: bearer(h64 + "." + b64JSON(t, longLived) + "." + sig)},
				{name: "tampered signature", apply: bearer(h64 + "." + c64 + "." + string(flipped))},
				{name: "signature removed", apply: bearer(h64 + "." + c64 + ".")},
				{name: "alg none", apply: bearer(noneHeader + "." + c64 + ".")},
				{name: "alg none with kid", apply: bearer(noneHeaderKid + "." + c64 + ".")},
				{name: "alg none with signature", apply: bearer(noneHeader + "." + c64 + "." + sig)},
				{name: "HS384 with the real key", apply: bearer(hs384Tok)},
				{name: "HS256 with a wrong key", apply: bearer(mintToken(t, ts, tg.dir, sub, now, time.Hour, withKey(auth.Key{ID: realKey.ID, Secret: wrongKey.Secret})))},
				{name: "HS256 with another master secret", apply: bearer(mintToken(t, ts, tg.dir, sub, now, time.Hour, withKey(wrongKey)))},
				{name: "unknown kid", apply: bearer(mintToken(t, ts, tg.dir, sub, now, time.Hour, withKey(auth.Key{ID: "unknown-kid", Secret: realKey.Secret})))},
				{name: "kid removed", apply: bearer(resign(t, ts, tg.dir, tg.valid, func(h map[string]any, _ jwt.MapClaims) { delete(h, "kid") }))},
				{name: "expired", apply: bearer(mintToken(t, ts, tg.dir, sub, now.Add(-2*time.Hour), time.Hour))},
				{name: "issued in the future", apply: bearer(mintToken(t, ts, tg.dir, sub, now.Add(time.Hour), time.Hour))},
				{name: "not yet valid (nbf past the leeway)", apply: bearer(resign(t, ts, tg.dir, tg.valid, func(_ map[string]any, c jwt.MapClaims) { c["nbf"] = soon }))},
				{name: "iat past the leeway", apply: bearer(resign(t, ts, tg.dir, tg.valid, func(_ map[string]any, c jwt.MapClaims) { c["iat"] = soon }))},
				{name: "without exp", apply: bearer(resign(t, ts, tg.dir, tg.valid, func(_ map[string]any, c jwt.MapClaims) { delete(c, "exp") }))},
				{name: "typ refresh", apply: bearer(resign(t, ts, tg.dir, tg.valid, func(_ map[string]any, c jwt.MapClaims) { c["typ"] = "refresh" }))},
				{name: "wrong issuer", apply: bearer(mintToken(t, ts, tg.dir, sub, now, time.Hour, func(o *mintOptions) { o.issuer = "evil" }))},
				{name: "wrong audience, right key", apply: bearer(mintToken(t, ts, tg.dir, sub, now, time.Hour, func(o *mintOptions) { o.audience = "tenant:999999" }))},
				{name: "non-numeric subject", apply: bearer(mintToken(t, ts, tg.dir, "admin", now, time.Hour))},
				{name: "zero subject", apply: bearer(mintToken(t, ts, tg.dir, "0", now, time.Hour))},
				{name: "refresh token", apply: bearer(own.Refresh), live: &liveToken{tg.victim.tenant, own.Refresh}},
				{name: "refresh token of a logged-out session", apply: bearer(ended.Refresh)},
			}
			for _, o := range tg.others {
				p := loginPair(t, ts, o.tenant, o.email)
				creds = append(creds,
					credential{name: o.name + " access token", apply: bearer(p.Access)},
					credential{name: o.name + " refresh token", apply: bearer(p.Refresh), live: &liveToken{o.tenant, p.Refresh}})
			}
			return creds
		}

		// sessionCredentials returns, for a session target, every wrong
		// refresh_token (or other change to the request), and the victim's
		// live refresh token, of a family of its own, which every attempt
		// must leave working. The loop below refreshes it after each
		// attempt and stores the new one there; the credentials made from
		// it (variants, other places) read it when they are applied.
		sessionCredentials := func(t *testing.T, tg attackTarget) ([]credential, *string) {
			token := func(tok string) func(q *req) {
				return func(q *req) { q.body = map[string]string{"refresh_token": tok} }
			}
			body := func(v any) func(q *req) { return func(q *req) { q.body = v } }
			home := tg.victim.tenant
			first := loginPair(t, ts, home, tg.victim.email)
			victim := &first.Refresh
			// variant presents the victim's current token, changed by f.
			variant := func(f func(tok string) string) func(q *req) {
				return func(q *req) { q.body = map[string]string{"refresh_token": f(*victim)} }
			}
			// A spent token, and one of a logged-out session, each of its
			// own family (presenting the spent one revokes its family).
			spent := loginPair(t, ts, home, tg.victim.email)
			wantRefresh(t, refresh(t, ts, home, spent.Refresh), http.StatusOK, "spend a token")
			ended := loginPair(t, ts, home, tg.victim.email)
			logout(t, ts, home, ended.Refresh)
			unknown, _ := auth.NewRefreshToken()
			prefix := auth.RefreshTokenPrefix

			creds := []credential{
				{name: "no body", apply: body(nil), want: 415},
				{name: "no refresh_token", apply: body(map[string]any{}), want: 422},
				{name: "null refresh_token", apply: body(map[string]any{"refresh_token": nil}), want: 422},
				{name: "numeric refresh_token", apply: body(map[string]any{"refresh_token": 1}), want: 422},
				{name: "token in the Authorization header only", apply: func(q *req) {
					q.body = map[string]any{}
					q.header = http.Header{"Authorization": {"Bearer " + *victim}}
				}, want: 422},
				{name: "token in the query string only", apply: func(q *req) {
					q.body = map[string]any{}
					q.path += "?refresh_token=" + *victim
				}, want: 422},
				{name: "empty", apply: token("")},
				{name: "prefix only", apply: token(prefix)},
				{name: "rt_ garbage", apply: token(prefix + "x")},
				{name: "rt_ unknown, well-formed", apply: token(unknown)},
				// One base64url character changed, away from the last one
				// (whose trailing bits must be zero): well-formed, unknown.
				{name: "rt_ tampered (one character)", apply: variant(func(v string) string {
					b := []byte(v)
					if i := len(prefix) + 10; b[i] == 'A' {
						b[i] = 'B'
					} else {
						b[i] = 'A'
					}
					return string(b)
				})},
				{name: "rt_ with a trailing newline", apply: variant(func(v string) string { return v + "\n" })},
				{name: "rt_ with a leading space", apply: variant(func(v string) string { return " " + v })},
				{name: "upper-case prefix", apply: variant(func(v string) string { return strings.ToUpper(prefix) + v[len(prefix):] })},
				{name: "without prefix", apply: variant(func(v string) string { return v[len(prefix):] })},
				{name: "too long", apply: variant(func(v string) string { return v + strings.Repeat("A", 5000) })},
				{name: "access token", apply: token(first.Access)},
				{name: "spent", apply: token(spent.Refresh)},
				{name: "revoked (logged out)", apply: token(ended.Refresh)},
			}
			for _, o := range tg.others {
				p := loginPair(t, ts, o.tenant, o.email)
				creds = append(creds,
					credential{name: o.name + " refresh token", apply: token(p.Refresh), live: &liveToken{o.tenant, p.Refresh}},
					credential{name: o.name + " access token", apply: token(p.Access)})
			}
			return creds, victim
		}

		for _, tg := range targets {
			t.Run(tg.name, func(t *testing.T) {
				var creds []credential
				var victim *string // session targets: the victim's live refresh token
				if tg.session {
					creds, victim = sessionCredentials(t, tg)
				} else {
					creds = bearerCredentials(t, tg)
				}
				for _, c := range creds {
					q := req{method: tg.method, path: tg.path, tenant: tg.tenant, body: tg.body}
					c.apply(&q)
					want := c.want
					if want == 0 {
						want = tg.refused
					}
					if want == 0 {
						want = http.StatusUnauthorized
					}
					r := doChecked(t, ts, q)
					if r.status != want {
						t.Errorf("%s: %s %s = %d %s; want %d", c.name, q.method, q.path, r.status, r.body, want)
					} else if want == http.StatusUnauthorized {
						if got := r.header.Get("WWW-Authenticate"); got != "Bearer" {
							t.Errorf("%s: WWW-Authenticate = %q; want %q", c.name, got, "Bearer")
						}
					}
					// The attempt spent or revoked no real session.
					if c.live != nil {
						if r := refresh(t, ts, c.live.tenant, c.live.token); r.status != http.StatusOK {
							t.Errorf("%s: the token presented no longer refreshes at home: %d %s; want 200", c.name, r.status, r.body)
						}
					}
					if victim != nil {
						r := refresh(t, ts, tg.victim.tenant, *victim)
						var p pair
						if r.status != http.StatusOK || json.Unmarshal(r.body, &p) != nil || p.Refresh == "" {
							t.Errorf("%s: the victim's session no longer refreshes: %d %s; want 200", c.name, r.status, r.body)
							p = loginPair(t, ts, tg.victim.tenant, tg.victim.email) // a new session for the next attempts
						}
						*victim = p.Refresh
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

		// The right credentials pass on every target: the refusals above
		// are the credentials' fault, and the minted and re-signed cases
		// test what they claim.
		t.Run("valid tokens pass", func(t *testing.T) {
			for _, tg := range targets {
				if tg.session {
					p := loginPair(t, ts, tg.victim.tenant, tg.victim.email)
					q := req{method: tg.method, path: tg.path, tenant: tg.tenant, body: map[string]string{"refresh_token": p.Refresh}}
					if r := doChecked(t, ts, q); r.status != tg.controlWant {
						t.Errorf("%s with a valid refresh token: %s %s = %d %s; want %d", tg.name, q.method, q.path, r.status, r.body, tg.controlWant)
					}
					continue
				}
				_, claims, _ := tokenParts(t, tg.valid)
				minted := mintToken(t, ts, tg.dir, claims["sub"].(string), time.Now(), time.Hour)
				resigned := resign(t, ts, tg.dir, tg.valid, func(map[string]any, jwt.MapClaims) {})
				for _, tok := range []string{tg.valid, minted, resigned} {
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
