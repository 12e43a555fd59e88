package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
)

// raceIterations is how many times each revocation race runs on a
// backend: enough that the old two-statement rotation lost races on both.
// On SQLite every write is serialized and the old code's window was a few
// microseconds wide (about 1 race in 100 lost), so it runs more of them.
// Under the race detector or -short, they run fewer: the figures of the
// issue come from full runs.
func raceIterations(backend string) int {
	switch {
	case raceDetector || testing.Short():
		if backend == "sqlite" {
			return 100
		}
		return 20
	case backend == "sqlite":
		return 1000
	}
	return 50
}

// refreshOutcome is the result of one refresh attempt made off the test
// goroutine.
type refreshOutcome struct {
	status  int
	refresh string // the new refresh token on a 200
	err     error  // a transport or decoding failure
}

// tryRefresh spends token in directory tenant ("" is the core). It may run
// on any goroutine: it reports failures instead of failing the test.
func tryRefresh(ts *testServer, tenant, token string) refreshOutcome {
	path := "/api/token/refresh"
	if tenant != "" {
		path = "/api/tenant/auth/refresh"
	}
	body, _ := json.Marshal(map[string]string{"refresh_token": token})
	r, err := http.NewRequest("POST", ts.URL+path, bytes.NewReader(body))
	if err != nil {
		return refreshOutcome{err: err}
	}
	r.Header.Set("Content-Type", "application/json")
	if tenant != "" {
		r.Header.Set("X-Tenant", tenant)
	}
	res, err := ts.Client().Do(r)
	if err != nil {
		return refreshOutcome{err: err}
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return refreshOutcome{err: err}
	}
	out := refreshOutcome{status: res.StatusCode}
	if res.StatusCode == http.StatusOK {
		var p pair
		if err := json.Unmarshal(b, &p); err != nil || p.Refresh == "" {
			return refreshOutcome{status: res.StatusCode, err: fmt.Errorf("refresh response %s: no refresh token", b)}
		}
		out.refresh = p.Refresh
	} else if res.StatusCode != http.StatusUnauthorized {
		out.err = fmt.Errorf("refresh = %d %s; want 200 or 401", res.StatusCode, b)
	}
	return out
}

// loopResult is what a refresh loop ends with.
type loopResult struct {
	last string // the newest token of the chain the loop received
	n    int    // successful refreshes
	err  error
}

// refreshLoop refreshes the chain starting at token, as a client holding a
// stolen token would, until stop is closed or a refresh is refused. It
// closes started after its first successful refresh (or when it ends
// without one), and sends its result on done.
func refreshLoop(ts *testServer, tenant, token string, started chan<- struct{}, stop <-chan struct{}, done chan<- loopResult) {
	res := loopResult{last: token}
	once := sync.OnceFunc(func() { close(started) })
	defer func() { once(); done <- res }()
	for {
		select {
		case <-stop:
			return
		default:
		}
		o := tryRefresh(ts, tenant, res.last)
		if o.err != nil {
			res.err = o.err
			return
		}
		if o.status != http.StatusOK {
			return // refused: the family was revoked
		}
		res.last, res.n = o.refresh, res.n+1
		once()
	}
}

// loginLoopResult is what a login loop ends with.
type loginLoopResult struct {
	tokens []string // the refresh tokens of the logins that succeeded
	err    error
}

// loginLoop logs email in to a tenant again and again until stop is
// closed or a login is refused, collecting the refresh tokens. It closes
// started after its first successful login (or when it ends without one).
func loginLoop(ts *testServer, tenant, email string, started chan<- struct{}, stop <-chan struct{}, done chan<- loginLoopResult) {
	var res loginLoopResult
	once := sync.OnceFunc(func() { close(started) })
	defer func() { once(); done <- res }()
	body, _ := json.Marshal(map[string]string{"email": email, "password": "correct horse battery"})
	for {
		select {
		case <-stop:
			return
		default:
		}
		r, _ := http.NewRequest("POST", ts.URL+"/api/tenant/auth/login", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("X-Tenant", tenant)
		resp, err := ts.Client().Do(r)
		if err != nil {
			res.err = err
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			res.err = err
			return
		}
		switch resp.StatusCode {
		case http.StatusOK:
			var p pair
			if err := json.Unmarshal(b, &p); err != nil || p.Refresh == "" {
				res.err = fmt.Errorf("login response %s: no refresh token", b)
				return
			}
			res.tokens = append(res.tokens, p.Refresh)
			once()
		case http.StatusUnauthorized:
			return // the email changed
		default:
			res.err = fmt.Errorf("login = %d %s; want 200 or 401", resp.StatusCode, b)
			return
		}
	}
}

// TestRevocationRaces races logout and reuse detection against
// refreshes of the same family, many times, in the core directory and a
// tenant's, on every backend. Whatever the interleaving, once a logout
// answered 204 or a reuse was detected, no token of the family refreshes
// again (API.md, "Sessions and abuse limits").
func TestRevocationRaces(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel() // databases of its own (see backends)
			ts := startServer(t, b.config(t))
			owner := ts.coreUser(t, "owner@example.com")
			org, _ := ts.org(t, owner, "Racing")
			ts.tenantUser(t, org, "user@example.com")
			dirs := []struct{ name, tenant, email string }{
				{"core", "", "owner@example.com"},
				{"tenant", org, "user@example.com"},
			}
			n := raceIterations(b.name)
			for _, d := range dirs {
				t.Run(d.name, func(t *testing.T) {
					t.Run("logout racing a refresh loop", func(t *testing.T) {
						leaks := 0
						for range n {
							p := loginPair(t, ts, d.tenant, d.email)
							started, stop, done := make(chan struct{}), make(chan struct{}), make(chan loopResult, 1)
							go refreshLoop(ts, d.tenant, p.Refresh, started, stop, done)
							<-started
							logout(t, ts, d.tenant, p.Refresh) // the victim's spent token: 204
							close(stop)
							res := <-done
							if res.err != nil {
								t.Fatal(res.err)
							}
							if res.n == 0 {
								t.Fatal("the refresh loop never refreshed")
							}
							if o := tryRefresh(ts, d.tenant, res.last); o.err != nil {
								t.Fatal(o.err)
							} else if o.status == http.StatusOK {
								leaks++
							}
						}
						t.Logf("%d of %d iterations left a token refreshable after logout", leaks, n)
						if leaks > 0 {
							t.Errorf("%d of %d iterations: a token of the family refreshed after logout answered 204", leaks, n)
						}
					})

					t.Run("two refreshes of one token", func(t *testing.T) {
						leaks := 0
						for range n {
							p := loginPair(t, ts, d.tenant, d.email)
							var wg sync.WaitGroup
							var outs [2]refreshOutcome
							gate := make(chan struct{})
							for i := range outs {
								wg.Add(1)
								go func() {
									defer wg.Done()
									<-gate
									outs[i] = tryRefresh(ts, d.tenant, p.Refresh)
								}()
							}
							close(gate)
							wg.Wait()
							var won []string
							for _, o := range outs {
								if o.err != nil {
									t.Fatal(o.err)
								}
								if o.status == http.StatusOK {
									won = append(won, o.refresh)
								}
							}
							if len(won) != 1 {
								t.Fatalf("%d of 2 concurrent refreshes of one token succeeded; want exactly 1", len(won))
							}
							// The loser presented a spent token: reuse, so the
							// winner's new token is revoked with its family.
							if o := tryRefresh(ts, d.tenant, won[0]); o.err != nil {
								t.Fatal(o.err)
							} else if o.status == http.StatusOK {
								leaks++
							}
						}
						t.Logf("%d of %d iterations left the winner's token refreshable after reuse", leaks, n)
						if leaks > 0 {
							t.Errorf("%d of %d iterations: the winner's new token refreshed after the reuse was detected", leaks, n)
						}
					})

					if d.tenant != "" {
						t.Run("email change racing a refresh loop", func(t *testing.T) {
							ts.tenantUser(t, d.tenant, "mover0@example.com")
							leaks := 0
							for i := range n {
								from, to := fmt.Sprintf("mover%d@example.com", i%2), fmt.Sprintf("mover%d@example.com", (i+1)%2)
								p := loginPair(t, ts, d.tenant, from)
								started, stop, done := make(chan struct{}), make(chan struct{}), make(chan loopResult, 1)
								go refreshLoop(ts, d.tenant, p.Refresh, started, stop, done)
								<-started
								expectStatus(t, ts, req{method: "PUT", path: "/api/tenant/users/me", tenant: d.tenant, token: p.Access,
									body: map[string]string{"email": to}}, http.StatusOK)
								close(stop)
								res := <-done
								if res.err != nil {
									t.Fatal(res.err)
								}
								if o := tryRefresh(ts, d.tenant, res.last); o.err != nil {
									t.Fatal(o.err)
								} else if o.status == http.StatusOK {
									leaks++
								}
							}
							t.Logf("%d of %d iterations left a token refreshable after an email change", leaks, n)
							if leaks > 0 {
								t.Errorf("%d of %d iterations: a session refreshed after an email change ended it", leaks, n)
							}
						})
					}

					if d.tenant != "" {
						t.Run("login racing an email change", func(t *testing.T) {
							ts.tenantUser(t, d.tenant, "switch0@example.com")
							leaks := 0
							for i := range n {
								from, to := fmt.Sprintf("switch%d@example.com", i%2), fmt.Sprintf("switch%d@example.com", (i+1)%2)
								p := loginPair(t, ts, d.tenant, from)
								started, stop, done := make(chan struct{}), make(chan struct{}), make(chan loginLoopResult, 1)
								go loginLoop(ts, d.tenant, from, started, stop, done)
								<-started
								expectStatus(t, ts, req{method: "PUT", path: "/api/tenant/users/me", tenant: d.tenant, token: p.Access,
									body: map[string]string{"email": to}}, http.StatusOK)
								close(stop)
								res := <-done
								if res.err != nil {
									t.Fatal(res.err)
								}
								for _, tok := range res.tokens {
									if o := tryRefresh(ts, d.tenant, tok); o.err != nil {
										t.Fatal(o.err)
									} else if o.status == http.StatusOK {
										leaks++
										break
									}
								}
							}
							t.Logf("%d of %d iterations left a session of the old email alive", leaks, n)
							if leaks > 0 {
								t.Errorf("%d of %d iterations: a login with the old email racing the change kept a session", leaks, n)
							}
						})
					}

					t.Run("replay racing a refresh loop", func(t *testing.T) {
						leaks := 0
						for range n {
							p := loginPair(t, ts, d.tenant, d.email)
							p2 := wantRefresh(t, refresh(t, ts, d.tenant, p.Refresh), http.StatusOK, "first refresh")
							started, stop, done := make(chan struct{}), make(chan struct{}), make(chan loopResult, 1)
							go refreshLoop(ts, d.tenant, p2.Refresh, started, stop, done)
							<-started
							// The victim replays its spent token: reuse.
							wantRefresh(t, refresh(t, ts, d.tenant, p.Refresh), http.StatusUnauthorized, "replay of a spent token")
							close(stop)
							res := <-done
							if res.err != nil {
								t.Fatal(res.err)
							}
							if o := tryRefresh(ts, d.tenant, res.last); o.err != nil {
								t.Fatal(o.err)
							} else if o.status == http.StatusOK {
								leaks++
							}
						}
						t.Logf("%d of %d iterations left a token refreshable after reuse", leaks, n)
						if leaks > 0 {
							t.Errorf("%d of %d iterations: a token of the family refreshed after a spent token was replayed", leaks, n)
						}
					})
				})
			}
		})
	}
}
