package main

import (
	"fmt"
	"net/http"
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
