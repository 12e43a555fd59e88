package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// orgIDOf decodes the id of an organization response.
func orgIDOf(t testing.TB, r response) int64 {
	t.Helper()
	var o struct {
		ID int64 `json:"id"`
	}
	if err := json.Unmarshal(r.body, &o); err != nil || o.ID == 0 {
		t.Fatalf("organization response %s: no id", r.body)
	}
	return o.ID
}

// TestOrganizationQuota: a core user owns at most -org-quota
// organizations, also when creating them concurrently; past it 403,
// saying so; deleting one makes room.
func TestOrganizationQuota(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel() // databases of its own (see backends)
			const quota = 3
			cfg := b.config(t)
			cfg.limits.orgQuota = quota
			ts := startServer(t, cfg)
			tok := ts.coreUser(t, "owner@example.com")
			create := func(name string) req {
				return req{method: "POST", path: "/api/organizations", token: tok, body: map[string]string{"name": name}}
			}
			var ids []int64
			for i := range quota {
				ids = append(ids, orgIDOf(t, expectStatus(t, ts, create(fmt.Sprintf("Org %d", i)), http.StatusCreated)))
			}
			r := expectStatus(t, ts, create("One too many"), http.StatusForbidden)
			if p := problemOf(r); !strings.Contains(p.Detail, "organizations") {
				t.Errorf("403 detail = %q; want it to say the organization quota is reached", p.Detail)
			}
			// Refused before provisioning: nothing was made.
			list := expectStatus(t, ts, req{method: "GET", path: "/api/organizations", token: tok}, http.StatusOK)
			var l struct {
				Items []json.RawMessage `json:"items"`
			}
			if err := json.Unmarshal(list.body, &l); err != nil || len(l.Items) != quota {
				t.Fatalf("list after a refused creation = %s; want %d items", list.body, quota)
			}
			expectStatus(t, ts, req{method: "DELETE", path: "/api/organizations/" + strconv.FormatInt(ids[0], 10), token: tok}, http.StatusNoContent)
			expectStatus(t, ts, create("Room again"), http.StatusCreated)

			// Concurrent creations count one another: exactly quota of them
			// succeed, whatever the interleaving.
			other := ts.coreUser(t, "racer@example.com")
			const tries = 2 * quota
			var wg sync.WaitGroup
			statuses := make([]int, tries)
			gate := make(chan struct{})
			for i := range tries {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-gate
					body, _ := json.Marshal(map[string]string{"name": fmt.Sprintf("Race %d", i)})
					hr, _ := http.NewRequest("POST", ts.URL+"/api/organizations", bytes.NewReader(body))
					hr.Header.Set("Content-Type", "application/json")
					hr.Header.Set("Authorization", "Bearer "+other)
					res, err := ts.Client().Do(hr)
					if err != nil {
						return // status 0: reported below
					}
					res.Body.Close()
					statuses[i] = res.StatusCode
				}()
			}
			close(gate)
			wg.Wait()
			created := 0
			for _, s := range statuses {
				switch s {
				case http.StatusCreated:
					created++
				case http.StatusForbidden:
				default:
					t.Errorf("concurrent creation = %d; want 201 or 403", s)
				}
			}
			if created != quota {
				t.Errorf("%d of %d concurrent creations succeeded with a quota of %d; want %d", created, tries, quota, quota)
			}
		})
	}
}

// TestOrganizationRate: a core user creates at most -org-rate
// organizations per hour; past it 429 with Retry-After. Replays of an
// Idempotency-Key and failed creations do not count; other users are not
// affected.
func TestOrganizationRate(t *testing.T) {
	const rate = 2
	cfg := sqliteConfig(t)
	cfg.limits.orgRate = rate
	ts := startServer(t, cfg)
	tok := ts.coreUser(t, "owner@example.com")
	create := func(name, slug, key string) req {
		body := map[string]string{"name": name}
		if slug != "" {
			body["slug"] = slug
		}
		q := req{method: "POST", path: "/api/organizations", token: tok, body: body}
		if key != "" {
			q.header = http.Header{"Idempotency-Key": {key}}
		}
		return q
	}
	expectStatus(t, ts, create("First", "first", "key-1"), http.StatusCreated)
	expectStatus(t, ts, create("First", "first", "key-1"), http.StatusCreated) // a replay: free
	expectStatus(t, ts, create("Taken", "first", ""), http.StatusConflict)     // failed: given back
	expectStatus(t, ts, create("Second", "", ""), http.StatusCreated)
	r := expectStatus(t, ts, create("Third", "", ""), http.StatusTooManyRequests)
	secs, err := strconv.Atoi(r.header.Get("Retry-After"))
	if want := int(time.Hour / rate / time.Second); err != nil || secs < 1 || secs > want {
		t.Errorf("Retry-After = %q; want 1 to %d seconds", r.header.Get("Retry-After"), want)
	}
	if p := problemOf(r); !strings.Contains(p.Detail, "organizations") {
		t.Errorf("429 detail = %q; want it to name organization creation", p.Detail)
	}
	// Another user has an allowance of their own.
	other := ts.coreUser(t, "other@example.com")
	expectStatus(t, ts, req{method: "POST", path: "/api/organizations", token: other, body: map[string]string{"name": "Elsewhere"}}, http.StatusCreated)
}

// TestOrganizationPages pages through GET /api/organizations with ?limit=
// and ?cursor= (API.md): every organization once, oldest first; no
// next_cursor on the last page; bad values 422; no parameters is the
// first page of 100, as old clients expect.
func TestOrganizationPages(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel() // databases of its own (see backends)
			ts := startServer(t, b.config(t))
			tok := ts.coreUser(t, "pager@example.com")
			neighbour := ts.coreUser(t, "neighbour@example.com")
			var want []int64
			for i := range 5 {
				want = append(want, orgIDOf(t, expectStatus(t, ts, req{method: "POST", path: "/api/organizations", token: tok,
					body: map[string]string{"name": fmt.Sprintf("Paged %d", i)}}, http.StatusCreated)))
				ts.org(t, neighbour, fmt.Sprintf("Neighbour %d", i)) // interleaved ids of someone else
			}
			type listing struct {
				Items []struct {
					ID int64 `json:"id"`
				} `json:"items"`
				NextCursor *string `json:"next_cursor"`
			}
			list := func(query string) listing {
				t.Helper()
				r := expectStatus(t, ts, req{method: "GET", path: "/api/organizations" + query, token: tok}, http.StatusOK)
				var l listing
				if err := json.Unmarshal(r.body, &l); err != nil {
					t.Fatal(err)
				}
				return l
			}
			all := list("")
			var got []int64
			for _, it := range all.Items {
				got = append(got, it.ID)
			}
			if !slices.Equal(got, want) || all.NextCursor != nil {
				t.Fatalf("list without parameters = %v, next_cursor %v; want %v and no next_cursor", got, all.NextCursor, want)
			}
			got = nil
			pages := 0
			for q := "?limit=2"; ; pages++ {
				l := list(q)
				if len(l.Items) == 0 || len(l.Items) > 2 {
					t.Fatalf("page %d has %d items; want 1 or 2", pages, len(l.Items))
				}
				for _, it := range l.Items {
					got = append(got, it.ID)
				}
				if l.NextCursor == nil {
					break
				}
				if *l.NextCursor == "" {
					t.Fatal("next_cursor is empty; want absent or a cursor")
				}
				q = "?limit=2&cursor=" + *l.NextCursor
			}
			if !slices.Equal(got, want) || pages != 2 {
				t.Errorf("pages of 2 listed %v in %d pages; want %v in 3", got, pages+1, want)
			}
			for _, q := range []string{"limit=0", "limit=1001", "limit=-1", "limit=abc", "limit=01", "limit=", "limit=1&limit=2",
				"cursor=abc", "cursor=0", "cursor=-5", "cursor="} {
				field := strings.SplitN(q, "=", 2)[0]
				expect422(t, ts, req{method: "GET", path: "/api/organizations?" + q, token: tok}, field)
			}
			if l := list("?limit=1000"); len(l.Items) != len(want) {
				t.Errorf("limit=1000 listed %d; want %d", len(l.Items), len(want))
			}
		})
	}
}

// TestLimitFlags: the limits are flags with environment fallbacks and the
// defaults of API.md's "Sessions and abuse limits", listed by -h.
func TestLimitFlags(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	var out bytes.Buffer
	if _, err := parseConfig([]string{"-h"}, env(nil), &out); err != errHelp {
		t.Fatalf("-h: %v", err)
	}
	for _, f := range []string{"-org-quota", "ORG_QUOTA", "-org-rate", "ORG_RATE", "-token-retention", "TOKEN_RETENTION",
		"-idempotency-retention", "IDEMPOTENCY_RETENTION"} {
		if !strings.Contains(out.String(), f) {
			t.Errorf("-h does not list %s", f)
		}
	}
	c, err := parseConfig(nil, env(nil), &out)
	if err != nil {
		t.Fatal(err)
	}
	if want := (limitsConfig{orgQuota: defaultOrgQuota, orgRate: defaultOrgRate, tokenRetention: defaultTokenRetention, idemRetention: defaultIdemRetention}); c.limits != want {
		t.Errorf("default limits = %+v; want %+v", c.limits, want)
	}
	c, err = parseConfig([]string{"-org-quota", "0"}, env(map[string]string{"ORG_QUOTA": "7", "ORG_RATE": "30", "TOKEN_RETENTION": "2h"}), &out)
	if err != nil {
		t.Fatal(err)
	}
	if want := (limitsConfig{orgQuota: 0, orgRate: 30, tokenRetention: 2 * time.Hour, idemRetention: defaultIdemRetention}); c.limits != want {
		t.Errorf("limits from flags and env = %+v; want %+v", c.limits, want)
	}
	for _, args := range [][]string{
		{"-org-quota", "-1"}, {"-org-quota", "many"}, {"-org-rate", "-2"}, {"-org-rate", "3601"},
		{"-token-retention", "0"}, {"-token-retention", "30s"}, {"-idempotency-retention", "soon"}, {"-idempotency-retention", "9000h"},
	} {
		if _, err := parseConfig(args, env(nil), &out); err == nil || !strings.Contains(err.Error(), args[0]) {
			t.Errorf("parseConfig(%v) = %v; want an error naming %s", args, err, args[0])
		}
	}
}
