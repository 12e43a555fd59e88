package main

// Many clients across many tenants at once: every response carries its
// own tenant's data. Run with -race.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
)

// tryDo is ts.do for goroutines other than the test's: it reports failures
// as errors instead of stopping the test. The body is marshalled to JSON.
func tryDo(ts *testServer, q req) (response, error) {
	var body io.Reader
	if q.body != nil {
		b, err := json.Marshal(q.body)
		if err != nil {
			return response{}, err
		}
		body = bytes.NewReader(b)
	}
	r, err := http.NewRequest(q.method, ts.URL+q.path, body)
	if err != nil {
		return response{}, err
	}
	if q.body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	if q.token != "" {
		r.Header.Set("Authorization", "Bearer "+q.token)
	}
	if q.tenant != "" {
		r.Header.Set("X-Tenant", q.tenant)
	}
	res, err := ts.Client().Do(r)
	if err != nil {
		return response{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return response{}, err
	}
	return response{status: res.StatusCode, header: res.Header, body: b}, nil
}

// client is one goroutine's view: it records the first failure and stops.
type client struct {
	t    *testing.T
	ts   *testServer
	name string
	err  error
}

// call sends q unless an earlier call failed, and checks the status.
func (c *client) call(q req, want int, out any) bool {
	if c.err != nil {
		return false
	}
	r, err := tryDo(c.ts, q)
	switch {
	case err != nil:
		c.err = fmt.Errorf("%s %s: %v", q.method, q.path, err)
	case r.status != want:
		c.err = fmt.Errorf("%s %s (X-Tenant %q) = %d %s; want %d", q.method, q.path, q.tenant, r.status, r.body, want)
	case r.header.Get("X-Content-Type-Options") != "nosniff":
		c.err = fmt.Errorf("%s %s: no X-Content-Type-Options: nosniff", q.method, q.path)
	case out != nil:
		if err := json.Unmarshal(r.body, out); err != nil {
			c.err = fmt.Errorf("%s %s: body %s: %v", q.method, q.path, r.body, err)
		}
	}
	if c.err != nil {
		c.t.Errorf("%s: %v", c.name, c.err)
		return false
	}
	return true
}

// check records a mismatch between a response and what this client owns.
func (c *client) check(what, got, want string) {
	if c.err == nil && got != want {
		c.err = fmt.Errorf("%s = %q; want %q", what, got, want)
		c.t.Errorf("%s: %v", c.name, c.err)
	}
}

type concUser struct {
	ID          int64   `json:"id"`
	Email       string  `json:"email"`
	DisplayName *string `json:"display_name"`
}

func (u concUser) dn() string {
	if u.DisplayName == nil {
		return "<null>"
	}
	return *u.DisplayName
}

func TestConcurrentTenants(t *testing.T) {
	const (
		tenants = 8
		workers = 16 // two per tenant
		rounds  = 4
	)
	forEachBackend(t, func(t *testing.T, ts *testServer) {
		// Phase 1: each owner registers, logs in and creates its tenant,
		// all at once.
		type tenantInfo struct {
			id, slug string
		}
		infos := make([]tenantInfo, tenants)
		var wg sync.WaitGroup
		for i := range tenants {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := &client{t: t, ts: ts, name: fmt.Sprintf("owner %d", i)}
				creds := map[string]string{"email": fmt.Sprintf("owner-%d@example.com", i), "password": testPassword}
				var tok struct {
					AccessToken string `json:"access_token"`
				}
				var org struct {
					ID   int64  `json:"id"`
					Name string `json:"name"`
					Slug string `json:"slug"`
				}
				var list struct {
					Items []struct {
						ID   int64  `json:"id"`
						Slug string `json:"slug"`
					} `json:"items"`
				}
				c.call(req{method: "POST", path: "/api/register", body: creds}, http.StatusCreated, nil)
				c.call(req{method: "POST", path: "/api/login", body: creds}, http.StatusOK, &tok)
				name := fmt.Sprintf("Concurrent Tenant %d", i)
				if !c.call(req{method: "POST", path: "/api/organizations", token: tok.AccessToken, body: map[string]string{"name": name}}, http.StatusCreated, &org) {
					return
				}
				c.check("organization name", org.Name, name)
				c.check("organization slug", org.Slug, fmt.Sprintf("concurrent-tenant-%d", i))
				c.call(req{method: "GET", path: "/api/organizations", token: tok.AccessToken}, http.StatusOK, &list)
				if c.err == nil && (len(list.Items) != 1 || list.Items[0].ID != org.ID) {
					c.t.Errorf("%s: list = %+v; want only organization %d", c.name, list.Items, org.ID)
				}
				infos[i] = tenantInfo{id: strconv.FormatInt(org.ID, 10), slug: org.Slug}
			}()
		}
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}

		// Phase 2: two workers per tenant register, log in, read and update
		// their profiles, all at once; both also race for one shared email.
		var sharedWins [tenants]atomic.Int32
		for g := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ti := g % tenants
				info := infos[ti]
				hint := info.id // half the workers name the tenant by slug
				if g/tenants == 1 {
					hint = info.slug
				}
				c := &client{t: t, ts: ts, name: fmt.Sprintf("worker %d of tenant %d", g, ti)}
				email := fmt.Sprintf("worker-%02d@tenant-%d.example.com", g, ti)
				dn := fmt.Sprintf("T%d G%d", ti, g)
				var u concUser
				c.call(req{method: "POST", path: "/api/tenant/auth/register", tenant: hint,
					body: map[string]string{"email": email, "password": testPassword, "display_name": dn}}, http.StatusCreated, &u)
				c.check("registered email", u.Email, email)
				c.check("registered display_name", u.dn(), dn)

				var tok struct {
					AccessToken string `json:"access_token"`
				}
				c.call(req{method: "POST", path: "/api/tenant/auth/login", tenant: hint,
					body: map[string]string{"email": email, "password": testPassword}}, http.StatusOK, &tok)
				for round := range rounds {
					var me concUser
					c.call(req{method: "GET", path: "/api/tenant/users/me", tenant: hint, token: tok.AccessToken}, http.StatusOK, &me)
					c.check("me email", me.Email, email)
					c.check("me display_name", me.dn(), dn)
					dn = fmt.Sprintf("T%d G%d v%d", ti, g, round)
					var upd concUser
					c.call(req{method: "PUT", path: "/api/tenant/users/me", tenant: hint, token: tok.AccessToken,
						body: map[string]string{"display_name": dn}}, http.StatusOK, &upd)
					c.check("updated email", upd.Email, email)
					c.check("updated display_name", upd.dn(), dn)
					if upd.ID != u.ID && c.err == nil {
						c.t.Errorf("%s: updated user id = %d; want %d", c.name, upd.ID, u.ID)
					}
				}
				// The token of this tenant is refused by the next one.
				other := infos[(ti+1)%tenants].id
				c.call(req{method: "GET", path: "/api/tenant/users/me", tenant: other, token: tok.AccessToken}, http.StatusUnauthorized, nil)

				// Both workers of the tenant register the same email.
				if c.err != nil {
					return
				}
				r, err := tryDo(ts, req{method: "POST", path: "/api/tenant/auth/register", tenant: hint,
					body: map[string]string{"email": fmt.Sprintf("shared@tenant-%d.example.com", ti), "password": testPassword}})
				switch {
				case err != nil:
					t.Errorf("%s: shared register: %v", c.name, err)
				case r.status == http.StatusCreated:
					sharedWins[ti].Add(1)
				case r.status != http.StatusConflict:
					t.Errorf("%s: shared register = %d %s; want 201 or 409", c.name, r.status, r.body)
				}
			}()
		}
		wg.Wait()
		for ti := range tenants {
			if n := sharedWins[ti].Load(); n != 1 {
				t.Errorf("tenant %d: %d registrations of the shared email succeeded; want exactly 1", ti, n)
			}
		}

		// Afterwards each tenant holds exactly its own users, each with
		// its last display name.
		for g := range workers {
			ti := g % tenants
			email := fmt.Sprintf("worker-%02d@tenant-%d.example.com", g, ti)
			tok := login(t, ts, infos[ti].id, email, testPassword)
			wantUser(t, fmt.Sprintf("worker %d at the end", g), getMe(t, ts, infos[ti].id, tok), email, ptr(fmt.Sprintf("T%d G%d v%d", ti, g, rounds-1)))
			for other := range tenants {
				if other == ti {
					continue
				}
				r := doChecked(t, ts, req{method: "POST", path: "/api/tenant/auth/login", tenant: infos[other].id,
					body: map[string]string{"email": email, "password": testPassword}})
				if r.status != http.StatusUnauthorized {
					t.Errorf("worker %d's login in tenant %d = %d; want 401 (a user of tenant %d only)", g, other, r.status, ti)
				}
			}
		}
	})
}
