package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// pair is a token response.
type pair struct {
	Access  string `json:"access_token"`
	Refresh string `json:"refresh_token"`
}

// loginPair logs in (tenant "" is the core directory) and returns both
// tokens.
func loginPair(t *testing.T, ts *testServer, tenant, email string) pair {
	t.Helper()
	path := "/api/login"
	if tenant != "" {
		path = "/api/tenant/auth/login"
	}
	r := expectStatus(t, ts, req{method: "POST", path: path, tenant: tenant,
		body: map[string]string{"email": email, "password": "correct horse battery"}}, http.StatusOK)
	var p pair
	if err := json.Unmarshal(r.body, &p); err != nil || p.Access == "" || p.Refresh == "" {
		t.Fatalf("login response %s: want an access and a refresh token", r.body)
	}
	if cc := r.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("login Cache-Control = %q; want no-store", cc)
	}
	return p
}

// refresh spends a refresh token; tenant "" is the core directory.
func refresh(t *testing.T, ts *testServer, tenant, token string) response {
	t.Helper()
	path := "/api/token/refresh"
	if tenant != "" {
		path = "/api/tenant/auth/refresh"
	}
	return ts.do(t, req{method: "POST", path: path, tenant: tenant, body: map[string]string{"refresh_token": token}})
}

func logout(t *testing.T, ts *testServer, tenant, token string) {
	t.Helper()
	path := "/api/logout"
	if tenant != "" {
		path = "/api/tenant/auth/logout"
	}
	expectStatus(t, ts, req{method: "POST", path: path, tenant: tenant, body: map[string]string{"refresh_token": token}}, http.StatusNoContent)
}

func wantRefresh(t *testing.T, r response, want int, what string) pair {
	t.Helper()
	if r.status != want {
		t.Fatalf("%s: refresh = %d %s; want %d", what, r.status, r.body, want)
	}
	var p pair
	if want == http.StatusOK {
		if err := json.Unmarshal(r.body, &p); err != nil || p.Access == "" || p.Refresh == "" {
			t.Fatalf("%s: refresh response %s: want a new token pair", what, r.body)
		}
		if cc := r.header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("%s: Cache-Control = %q; want no-store", what, cc)
		}
	} else if r.header.Get("WWW-Authenticate") != "Bearer" {
		t.Errorf("%s: WWW-Authenticate = %q; want Bearer", what, r.header.Get("WWW-Authenticate"))
	}
	return p
}

// TestRefreshTokens runs the session rules of API.md on every backend, for
// the core directory and for a tenant.
func TestRefreshTokens(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ts *testServer) {
		owner := ts.coreUser(t, "owner@example.com")
		a, _ := ts.org(t, owner, "Tenant A")
		b, _ := ts.org(t, owner, "Tenant B")
		ts.tenantUser(t, a, "user@example.com")
		ts.tenantUser(t, b, "user@example.com")

		for _, dir := range []string{"", a} { // core, then a tenant
			name := "core"
			email := "owner@example.com"
			if dir != "" {
				name, email = "tenant", "user@example.com"
			}
			t.Run(name, func(t *testing.T) {
				p1 := loginPair(t, ts, dir, email)
				p2 := wantRefresh(t, refresh(t, ts, dir, p1.Refresh), http.StatusOK, "first use")
				if p2.Refresh == p1.Refresh || p2.Access == "" {
					t.Fatalf("refresh returned the same refresh token")
				}
				// The new access token works.
				if dir != "" {
					getMe(t, ts, dir, p2.Access)
				} else {
					expectStatus(t, ts, req{method: "GET", path: "/api/organizations", token: p2.Access}, http.StatusOK)
				}
				p3 := wantRefresh(t, refresh(t, ts, dir, p2.Refresh), http.StatusOK, "second use")
				// Reuse of a spent token revokes the family: the newest
				// token of the family is refused from then on.
				wantRefresh(t, refresh(t, ts, dir, p1.Refresh), http.StatusUnauthorized, "reuse of a spent token")
				wantRefresh(t, refresh(t, ts, dir, p3.Refresh), http.StatusUnauthorized, "newest token after reuse")

				// Another login is another family, untouched.
				q := loginPair(t, ts, dir, email)
				q2 := wantRefresh(t, refresh(t, ts, dir, q.Refresh), http.StatusOK, "other family")
				logout(t, ts, dir, q2.Refresh)
				wantRefresh(t, refresh(t, ts, dir, q2.Refresh), http.StatusUnauthorized, "after logout")
				logout(t, ts, dir, q2.Refresh) // idempotent
				logout(t, ts, dir, "rt_unknown")
			})
		}

		t.Run("cross-directory", func(t *testing.T) {
			core := loginPair(t, ts, "", "owner@example.com")
			ta := loginPair(t, ts, a, "user@example.com")
			cases := []struct {
				name, dir, token string
			}{
				{"core token at a tenant", a, core.Refresh},
				{"tenant A token at tenant B", b, ta.Refresh},
				{"tenant token at the core", "", ta.Refresh},
				{"access token as refresh token", a, ta.Access},
				{"core access token as refresh token", "", core.Access},
				{"empty", a, ""},
				{"garbage", "", "rt_" + "x"},
			}
			for _, c := range cases {
				wantRefresh(t, refresh(t, ts, c.dir, c.token), http.StatusUnauthorized, c.name)
			}
			// The refused attempts did not spend or revoke the real tokens.
			wantRefresh(t, refresh(t, ts, "", core.Refresh), http.StatusOK, "core token at home")
			wantRefresh(t, refresh(t, ts, a, ta.Refresh), http.StatusOK, "tenant token at home")

			// A refresh token is never an access token.
			for _, q := range []req{
				{method: "GET", path: "/api/tenant/users/me", tenant: a, token: ta.Refresh},
				{method: "GET", path: "/api/organizations", token: core.Refresh},
			} {
				r := ts.do(t, q)
				if r.status != http.StatusUnauthorized {
					t.Errorf("%s %s with a refresh token as bearer = %d; want 401", q.method, q.path, r.status)
				}
			}
		})

		t.Run("email change ends other sessions", func(t *testing.T) {
			ts.tenantUser(t, a, "mover@example.com")
			old := loginPair(t, ts, a, "mover@example.com")
			cur := loginPair(t, ts, a, "mover@example.com")
			expectStatus(t, ts, req{method: "PUT", path: "/api/tenant/users/me", tenant: a, token: cur.Access,
				body: map[string]string{"display_name": "Same Email"}}, http.StatusOK)
			wantRefresh(t, refresh(t, ts, a, old.Refresh), http.StatusOK, "after a display name change")
			expectStatus(t, ts, req{method: "PUT", path: "/api/tenant/users/me", tenant: a, token: cur.Access,
				body: map[string]string{"email": "moved@example.com"}}, http.StatusOK)
			wantRefresh(t, refresh(t, ts, a, cur.Refresh), http.StatusUnauthorized, "after an email change")
			loginPair(t, ts, a, "moved@example.com")
		})
	})
}

// TestSessionExpiry moves the sessions' clock past the idle and absolute
// limits on a real core database.
func TestSessionExpiry(t *testing.T) {
	ts := startServer(t, sqliteConfig(t))
	ctx := context.Background()
	ts.coreUser(t, "clock@example.com")
	u, err := ts.app.store.UserByEmail(ctx, "clock@example.com")
	if err != nil {
		t.Fatal(err)
	}
	st := ts.app.store.Refresh()
	at := time.Now()
	clock := sessions{now: func() time.Time { return at }}

	tok, err := clock.start(ctx, st, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	at = at.Add(refreshIdleTTL + time.Second)
	if _, _, err := clock.rotate(ctx, st, tok); err != ErrUnauthorized {
		t.Fatalf("rotate after the idle limit = %v; want ErrUnauthorized", err)
	}

	// Active all along, a family still ends at the absolute limit.
	at = time.Now()
	tok, err = clock.start(ctx, st, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	for elapsed := time.Duration(0); ; {
		step := refreshIdleTTL / 2
		at = at.Add(step)
		elapsed += step
		_, next, err := clock.rotate(ctx, st, tok)
		if elapsed >= refreshAbsoluteTTL {
			if err != ErrUnauthorized {
				t.Fatalf("rotate %s after login = %v; want ErrUnauthorized (absolute limit %s)", elapsed, err, refreshAbsoluteTTL)
			}
			break
		}
		if err != nil {
			t.Fatalf("rotate %s after login = %v; want a new token", elapsed, err)
		}
		tok = next
	}
}

// TestLoginThrottle runs the default limits: failed logins per account,
// unknown emails included, and successful logins that never count.
func TestLoginThrottle(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel() // databases of its own (see backends)
			ts := startServerWith(t, b.config(t), appOptions{hashParams: &testHashParams})
			owner := ts.coreUser(t, "owner@example.com")
			id, _ := ts.org(t, owner, "Throttled")
			ts.tenantUser(t, id, "member@example.com")

			for _, dir := range []string{"", id} {
				path := "/api/login"
				if dir != "" {
					path = "/api/tenant/auth/login"
				}
				emails := []string{"owner@example.com", "nobody@example.com"} // core
				if dir != "" {
					emails = []string{"member@example.com", "nobody@example.com"}
				}
				for _, email := range emails {
					bad := req{method: "POST", path: path, tenant: dir, body: map[string]string{"email": email, "password": "wrong password"}}
					for i := 0; i < accountBurst; i++ {
						expectStatus(t, ts, bad, http.StatusUnauthorized)
					}
					r := expectStatus(t, ts, bad, http.StatusTooManyRequests)
					secs, err := strconv.Atoi(r.header.Get("Retry-After"))
					if err != nil || secs < 1 || secs > int(accountRefill/time.Second)+1 {
						t.Errorf("%s %s: Retry-After = %q; want 1 to %d seconds", path, email, r.header.Get("Retry-After"), int(accountRefill/time.Second)+1)
					}
					checkProblemBody(t, ts, bad, r)
				}
			}
			// The same email in another directory is another account:
			// member@ is throttled in the tenant, not in the core.
			ts.coreUser(t, "member@example.com")

			// Successful logins never count.
			ts.tenantUser(t, id, "regular@example.com")
			for i := 0; i < accountBurst+5; i++ {
				loginPair(t, ts, id, "regular@example.com")
			}
		})
	}
}

// TestLoginThrottlePerAddress fills the per-address limit with failures
// on many accounts: the next login from that address is refused, even a
// correct one.
func TestLoginThrottlePerAddress(t *testing.T) {
	limits := throttleLimits{accountBurst: 100, accountRefill: time.Minute, addrBurst: 5, addrRefill: time.Minute}
	ts := startServerWith(t, sqliteConfig(t), appOptions{hashParams: &testHashParams, throttle: &limits})
	creds := map[string]string{"email": "good@example.com", "password": "correct horse battery"}
	expectStatus(t, ts, req{method: "POST", path: "/api/register", body: creds}, http.StatusCreated)
	for i := 0; i < limits.addrBurst; i++ {
		expectStatus(t, ts, req{method: "POST", path: "/api/login",
			body: map[string]string{"email": "guess" + strconv.Itoa(i) + "@example.com", "password": "wrong password"}}, http.StatusUnauthorized)
	}
	r := expectStatus(t, ts, req{method: "POST", path: "/api/login", body: creds}, http.StatusTooManyRequests)
	if r.header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
}
