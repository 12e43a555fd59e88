package main

// A server started again on the same configuration keeps everything: users,
// organizations, tenant users and the tokens issued before.

import (
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

func TestRestart(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel() // databases of its own (see backends)
			cfg := b.config(t)
			// No -jwt-secret: the generated one must be kept for the next
			// start, or the old tokens would stop working.
			cfg.jwtSecret = ""

			first := startServer(t, cfg)
			core := first.coreUser(t, "restart-owner@example.com")
			a := createOrg(t, first, core, map[string]any{"name": "Restart A"})
			bOrg := createOrg(t, first, core, map[string]any{"name": "Restart B", "slug": "restart-b"})
			aID, bID := strconv.FormatInt(a.ID, 10), strconv.FormatInt(bOrg.ID, 10)
			tokA := first.tenantUser(t, aID, "user-a@example.com")
			tokB := first.tenantUser(t, bOrg.Slug, "user-b@example.com")
			expectStatus(t, first, req{method: "PUT", path: "/api/tenant/users/me", tenant: aID, token: tokA,
				body: map[string]string{"display_name": "Before Restart"}}, http.StatusOK)
			meA := getMe(t, first, aID, tokA)
			orgsBefore := checkOrgList(t, expectStatus(t, first, req{method: "GET", path: "/api/organizations", token: core}, http.StatusOK))
			storageBefore := tenantStorage(t, first)

			first.Server.Close()
			if err := first.app.Close(); err != nil {
				t.Fatalf("close the first app: %v", err)
			}

			path := filepath.Join(cfg.dataDir, "jwt.secret")
			if fi, err := os.Stat(path); err != nil {
				t.Errorf("generated secret: %v; want it kept in %s", err, path)
			} else if mode := fi.Mode().Perm(); mode != 0o600 {
				t.Errorf("%s mode = %o; want 600", path, mode)
			}

			second := startServer(t, cfg)
			t.Run("organizations", func(t *testing.T) {
				got := checkOrgList(t, expectStatus(t, second, req{method: "GET", path: "/api/organizations", token: core}, http.StatusOK))
				if len(got) != len(orgsBefore) {
					t.Fatalf("organizations after restart = %+v; want %+v", got, orgsBefore)
				}
				for i := range got {
					w := orgsBefore[i]
					if got[i].ID != w.ID || got[i].Slug != w.Slug || got[i].Name != w.Name || got[i].Status != "active" || !got[i].CreatedAt.Equal(w.CreatedAt) {
						t.Errorf("items[%d] after restart = %+v; want %+v", i, got[i], w)
					}
				}
				expectStatus(t, second, req{method: "GET", path: "/api/organizations/" + aID, token: core}, http.StatusOK)
				checkStorageUnchanged(t, second, storageBefore)
			})
			t.Run("old tokens", func(t *testing.T) {
				me := getMe(t, second, aID, tokA)
				if me.ID != meA.ID || me.rawCreated != meA.rawCreated {
					t.Errorf("me after restart = %+v; want %+v", me, meA)
				}
				wantUser(t, "user of A", me, "user-a@example.com", ptr("Before Restart"))
				wantUser(t, "user of B", getMe(t, second, "restart-b", tokB), "user-b@example.com", nil)
				// Still bound to their own tenant.
				expectStatus(t, second, req{method: "GET", path: "/api/tenant/users/me", tenant: bID, token: tokA}, http.StatusUnauthorized)
				expectStatus(t, second, req{method: "GET", path: "/api/tenant/users/me", tenant: aID, token: core}, http.StatusUnauthorized)
			})
			t.Run("logins", func(t *testing.T) {
				login(t, second, "", "restart-owner@example.com", testPassword)
				tok := login(t, second, aID, "user-a@example.com", testPassword)
				wantUser(t, "user of A", getMe(t, second, aID, tok), "user-a@example.com", ptr("Before Restart"))
				login(t, second, bID, "user-b@example.com", testPassword)
			})
			t.Run("uniqueness survives", func(t *testing.T) {
				expectStatus(t, second, req{method: "POST", path: "/api/register",
					body: map[string]string{"email": "restart-owner@example.com", "password": testPassword}}, http.StatusConflict)
				expectStatus(t, second, req{method: "POST", path: "/api/tenant/auth/register", tenant: aID,
					body: map[string]string{"email": "USER-A@example.com", "password": testPassword}}, http.StatusConflict)
				expectStatus(t, second, req{method: "POST", path: "/api/organizations", token: core,
					body: map[string]string{"name": "Again", "slug": "restart-b"}}, http.StatusConflict)
				c := createOrg(t, second, core, map[string]any{"name": "Restart A"})
				if c.Slug != "restart-a-2" || c.ID <= bOrg.ID {
					t.Errorf("new organization = %+v; want slug restart-a-2 and an id above %d", c, bOrg.ID)
				}
				second.tenantUser(t, c.Slug, "user-a@example.com")
			})
		})
	}
}
