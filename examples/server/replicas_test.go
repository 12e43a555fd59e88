package main

import (
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"
)

// TestThrottleAcrossReplicas: two replicas share one core database; an
// attacker who sends wrong passwords to each in turn gets one burst of
// failures in all, not one per replica. With -login-throttle local each
// replica counts alone, which is the documented bound of that mode: N
// replicas allow N bursts.
func TestThrottleAcrossReplicas(t *testing.T) {
	for _, b := range backends()[:2] { // the core database: SQLite, PostgreSQL
		for _, mode := range []string{throttleShared, throttleLocal} {
			t.Run(b.name+"/"+mode, func(t *testing.T) {
				t.Parallel()
				cfg := b.config(t)
				cfg.loginThrottle = mode
				limits := throttleLimits{accountBurst: 4, accountRefill: time.Hour, addrBurst: 1000, addrRefill: time.Millisecond}
				opts := appOptions{hashParams: &testHashParams, throttle: &limits}
				replicas := []*testServer{startServerWith(t, cfg, opts), startServerWith(t, cfg, opts)}
				creds := map[string]string{"email": "owner@example.com", "password": "correct horse battery"}
				replicas[0].mustStatus(t, req{method: "POST", path: "/api/register", body: creds}, http.StatusCreated)

				attacker := fromAddr(t, "127.0.0.2")
				failures := 0
				for i := range 4 * limits.accountBurst {
					r := sendFrom(t, attacker, replicas[i%2], req{method: "POST", path: "/api/login",
						body: map[string]string{"email": "owner@example.com", "password": "wrong"}})
					switch r.status {
					case http.StatusUnauthorized:
						failures++
					case http.StatusTooManyRequests:
						if r.header.Get("Retry-After") == "" {
							t.Errorf("attempt %d: 429 without Retry-After", i+1)
						}
					default:
						t.Fatalf("attempt %d on replica %d = %d %s; want 401 or 429", i+1, i%2, r.status, r.body)
					}
				}
				want := limits.accountBurst
				if mode == throttleLocal {
					want *= len(replicas)
				}
				if failures != want {
					t.Errorf("wrong passwords checked over %d replicas = %d; want %d", len(replicas), failures, want)
				}
				// The owner, from another address, still logs in on both.
				owner := fromAddr(t, "127.0.0.3")
				for i, ts := range replicas {
					wantStatus(t, fmt.Sprintf("owner on replica %d", i), sendFrom(t, owner, ts, req{method: "POST", path: "/api/login", body: creds}), http.StatusOK)
				}
			})
		}
	}
}

// TestStateChangeAcrossReplicas: a suspend, a resume and a delete made
// through one replica reach the other, which shares the core database:
// on PostgreSQL through the registry's notifications, on SQLite within
// the poll interval. The delays it logs are the propagation figures of
// docs/operations.md (BenchmarkStateChangeAcrossReplicas measures them
// over more changes).
func TestStateChangeAcrossReplicas(t *testing.T) {
	for _, b := range backends()[:2] {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			cfg := b.config(t)
			a, other := startServer(t, cfg), startServer(t, cfg)
			owner := a.coreUser(t, "owner@example.com")
			id, _ := a.org(t, owner, "Replicated")
			tok := a.tenantUser(t, id, "member@example.com")
			me := req{method: "GET", path: "/api/tenant/users/me", tenant: id, token: tok}
			other.mustStatus(t, me, http.StatusOK) // cached there now
			oid, _ := parseID(id)
			ctx := t.Context()
			var delays []time.Duration
			for i := range 5 {
				for _, step := range []struct {
					from, to OrgStatus
					want     int
				}{{OrgActive, OrgSuspended, http.StatusForbidden}, {OrgSuspended, OrgActive, http.StatusOK}} {
					start := time.Now()
					if _, err := a.app.core.SetStatus(ctx, oid, step.from, step.to); err != nil {
						t.Fatalf("round %d: %s → %s: %v", i, step.from, step.to, err)
					}
					awaitStatusFast(t, other, me, step.want, crossProcessDeadline)
					delays = append(delays, time.Since(start))
				}
			}
			a.mustStatus(t, req{method: "DELETE", path: "/api/organizations/" + id, token: owner}, http.StatusNoContent)
			awaitStatusFast(t, other, me, http.StatusNotFound, crossProcessDeadline)
			slices.Sort(delays)
			t.Logf("%s: a state change made on one replica served by the other after %v (median), %v (max) over %d changes",
				b.name, delays[len(delays)/2], delays[len(delays)-1], len(delays))
		})
	}
}

// awaitStatusFast is awaitStatus polling every millisecond, to time the
// change's arrival.
func awaitStatusFast(t testing.TB, ts *testServer, q req, want int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		r := ts.do(t, q)
		if r.status == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s %s (X-Tenant %q) = %d %s after %v; want %d", q.method, q.path, q.tenant, r.status, r.body, within, want)
		}
		time.Sleep(time.Millisecond)
	}
}
