package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tenantkit/tenantkit/auth"
)

// manifestVersion changes when the manifest's shape does.
const manifestVersion = 1

// tokenTTL is the lifetime of the tokens the harness mints, and the
// -token-ttl of the server it starts: long enough to reuse a data set.
const tokenTTL = 24 * time.Hour

// tokenSlack is how long a token must still be valid to be used by a run.
const tokenSlack = 2 * time.Hour

// manifest is the provisioned data set: what -reuse keeps between runs.
type manifest struct {
	Version    int       `json:"version"`
	Created    time.Time `json:"created"`
	DB         string    `json:"db"` // sqlite or postgres
	Secret     string    `json:"jwt_secret"`
	Password   string    `json:"password"` // of every user, core and tenant
	RunID      string    `json:"run_id"`
	Prefix     string    `json:"tenant_db_prefix"`
	CoreDB     string    `json:"core_db,omitempty"`          // PostgreSQL core database
	Isolation  string    `json:"tenant_isolation,omitempty"` // "schema": a schema per tenant in schemasDB(); "": a database per tenant
	OwnerEmail string    `json:"owner_email"`
	Tenants    []tenant  `json:"tenants"`
}

// tenant is one provisioned organization and its users.
type tenant struct {
	ID    int64  `json:"id"`
	Slug  string `json:"slug"`
	Users []user `json:"users"`
}

// user is one tenant user and a token for it.
type user struct {
	ID      int64     `json:"id"`
	Email   string    `json:"email"`
	Token   string    `json:"token,omitempty"`
	Expires time.Time `json:"expires,omitzero"`
}

// schemasDB is the database of a schema-per-tenant data set's schemas:
// under the prefix, so that the cleanup drops it with the tenant roles.
func (m *manifest) schemasDB() string { return m.Prefix + "schemas" }

// isolation is the server's -tenant-isolation for the data set.
func (m *manifest) isolation() string {
	if m.Isolation == "" {
		return "database"
	}
	return m.Isolation
}

// newManifest starts an empty data set with fresh secrets.
func newManifest(db, prefix string) (*manifest, error) {
	secret, err := randomHex(32)
	if err != nil {
		return nil, err
	}
	pw, err := randomHex(12)
	if err != nil {
		return nil, err
	}
	id, err := randomHex(3)
	if err != nil {
		return nil, err
	}
	m := &manifest{Version: manifestVersion, Created: time.Now().UTC(), DB: db, Secret: secret, Password: pw, RunID: id}
	m.OwnerEmail = "owner-" + id + "@loadtest.example.com"
	m.Prefix = prefix
	if prefix == "" {
		m.Prefix = "tenant_"
		if db == "postgres" {
			m.Prefix = "lt" + id + "_"
		}
	}
	if db == "postgres" {
		m.CoreDB = "ltcore_" + id
	}
	return m, nil
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// loadManifest reads a manifest, or returns nil if the file does not exist.
func loadManifest(path string) (*manifest, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var m manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", path, err)
	}
	if m.Version != manifestVersion {
		return nil, fmt.Errorf("manifest %s: version %d, want %d; remove the folder", path, m.Version, manifestVersion)
	}
	return &m, nil
}

// save writes the manifest atomically (mode 0600: it holds the secret).
func (m *manifest) save(path string) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// tenantEmail is the email of user j (from 1) of every tenant.
func tenantEmail(j int) string { return "u" + strconv.Itoa(j) + "@loadtest.example.com" }

// api is a small client of the reference server's API.
type api struct {
	base   string
	client *http.Client
}

// do sends a JSON request and decodes a JSON answer into out (if not nil).
// It returns the status; an unexpected status is an error naming it.
func (a *api) do(ctx context.Context, method, path string, hdr map[string]string, in, out any, want int) (int, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, body)
	if err != nil {
		return 0, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode != want {
		return resp.StatusCode, fmt.Errorf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, want, bytes.TrimSpace(b))
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: %w", method, path, err)
		}
	}
	return resp.StatusCode, nil
}

// provisionStats describes what provisioning did and how long it took.
type provisionStats struct {
	Tenants        int           `json:"tenants"`
	UsersPerTenant int           `json:"users_per_tenant"`
	NewTenants     int           `json:"new_tenants"`
	NewUsers       int           `json:"new_users"`
	Workers        int           `json:"workers"`
	Seconds        float64       `json:"seconds"`
	TokenMode      string        `json:"token_mode"` // mint or login
	OrgCreateProbe *latencyStats `json:"org_create_serial_ms,omitempty"`
	OrgCreateAll   *latencyStats `json:"org_create_concurrent_ms,omitempty"`
	Register       *latencyStats `json:"register_ms,omitempty"`
}

// provisioner brings a manifest up to the requested size.
type provisioner struct {
	api      *api
	m        *manifest
	tenants  int
	users    int
	workers  int
	probe    int
	probeGap time.Duration // pause before each probe creation
	tokens   string        // auto, mint or login
	canMint  bool
	log      func(format string, args ...any)
	progress time.Duration
}

// run creates the missing organizations and users, then makes sure every
// user has a token valid for a while. Tenants created so far stay in the
// manifest even when it fails.
func (p *provisioner) run(ctx context.Context) (st provisionStats, err error) {
	st = provisionStats{Tenants: p.tenants, UsersPerTenant: p.users, Workers: p.workers}
	start := time.Now()
	defer func() { st.Seconds = time.Since(start).Seconds() }()

	coreToken, err := p.owner(ctx)
	if err != nil {
		return st, err
	}
	authz := map[string]string{"Authorization": "Bearer " + coreToken}

	have := len(p.m.Tenants)
	var probeLat, allLat, regLat []time.Duration
	var mu sync.Mutex // guards the latency slices and p.m.Tenants' users
	createOrg := func(i int) (tenant, time.Duration, error) {
		slug := "lt-" + p.m.RunID + "-" + strconv.Itoa(i+1)
		var org struct {
			ID     int64  `json:"id"`
			Slug   string `json:"slug"`
			Status string `json:"status"`
		}
		t0 := time.Now()
		_, err := p.api.do(ctx, "POST", "/api/organizations", authz,
			map[string]string{"name": "Load test " + strconv.Itoa(i+1), "slug": slug}, &org, http.StatusCreated)
		d := time.Since(t0)
		if err != nil {
			return tenant{}, d, err
		}
		return tenant{ID: org.ID, Slug: org.Slug}, d, nil
	}
	// The first organizations are created one at a time, nothing else
	// running, for an uncontended latency.
	for i := have; i < p.tenants && i < have+p.probe && len(p.m.Tenants) == i; i++ {
		if p.probeGap > 0 {
			select {
			case <-time.After(p.probeGap):
			case <-ctx.Done():
				return st, ctx.Err()
			}
		}
		t, d, err := createOrg(i)
		if err != nil {
			return st, err
		}
		probeLat = append(probeLat, d)
		allLat = append(allLat, d)
		p.m.Tenants = append(p.m.Tenants, t)
	}
	// The rest, and every tenant's users, by the workers.
	for len(p.m.Tenants) < p.tenants {
		p.m.Tenants = append(p.m.Tenants, tenant{})
	}
	var done, newUsers atomic.Int64
	work := make(chan int)
	errc := make(chan error, p.workers)
	var wg sync.WaitGroup
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range p.workers {
		wg.Go(func() { // ends when work is closed or a request fails
			for i := range work {
				t := p.m.Tenants[i]
				if t.ID == 0 {
					var d time.Duration
					var err error
					if t, d, err = createOrg(i); err != nil {
						errc <- err
						cancel()
						return
					}
					mu.Lock()
					allLat = append(allLat, d)
					p.m.Tenants[i] = t
					mu.Unlock()
				}
				for j := len(t.Users) + 1; j <= p.users; j++ {
					var u struct {
						ID    int64  `json:"id"`
						Email string `json:"email"`
					}
					t0 := time.Now()
					_, err := p.api.do(wctx, "POST", "/api/tenant/auth/register", map[string]string{"X-Tenant": strconv.FormatInt(t.ID, 10)},
						map[string]string{"email": tenantEmail(j), "password": p.m.Password}, &u, http.StatusCreated)
					d := time.Since(t0)
					if err != nil {
						errc <- fmt.Errorf("tenant %d: %w", t.ID, err)
						cancel()
						return
					}
					t.Users = append(t.Users, user{ID: u.ID, Email: u.Email})
					mu.Lock()
					regLat = append(regLat, d)
					p.m.Tenants[i] = t
					mu.Unlock()
					newUsers.Add(1)
				}
				done.Add(1)
			}
		})
	}
	stopProgress := p.showProgress(func() string {
		return fmt.Sprintf("provisioning: %d/%d tenants done, %d users registered", done.Load(), p.tenants-have, newUsers.Load())
	})
feed:
	for i := have; i < p.tenants; i++ {
		if p.m.Tenants[i].ID != 0 && len(p.m.Tenants[i].Users) >= p.users {
			continue
		}
		select {
		case work <- i:
		case <-wctx.Done():
			break feed
		}
	}
	// Earlier tenants may lack users when -users-per-tenant grew.
	for i := 0; i < have && wctx.Err() == nil; i++ {
		if len(p.m.Tenants[i].Users) < p.users {
			select {
			case work <- i:
			case <-wctx.Done():
			}
		}
	}
	close(work)
	wg.Wait()
	stopProgress()
	// Keep only the tenants that were made, so a failed run's manifest is
	// still true.
	kept := p.m.Tenants[:0]
	for _, t := range p.m.Tenants {
		if t.ID != 0 {
			kept = append(kept, t)
		}
	}
	p.m.Tenants = kept
	st.NewTenants = len(allLat)
	st.NewUsers = int(newUsers.Load())
	st.OrgCreateProbe = newLatencyStats(probeLat)
	st.OrgCreateAll = newLatencyStats(allLat)
	st.Register = newLatencyStats(regLat)
	select {
	case err := <-errc:
		return st, err
	default:
	}
	if err := ctx.Err(); err != nil {
		return st, err
	}
	st.TokenMode, err = p.ensureTokens(ctx)
	return st, err
}

// owner registers the core user that owns every organization (once) and
// logs it in.
func (p *provisioner) owner(ctx context.Context) (string, error) {
	creds := map[string]string{"email": p.m.OwnerEmail, "password": p.m.Password}
	status, err := p.api.do(ctx, "POST", "/api/register", nil, creds, nil, http.StatusCreated)
	if err != nil && status != http.StatusConflict {
		return "", err
	}
	var tok tokenJSON
	if _, err := p.api.do(ctx, "POST", "/api/login", nil, creds, &tok, http.StatusOK); err != nil {
		return "", err
	}
	return tok.AccessToken, nil
}

// ensureTokens gives every user a token valid for at least tokenSlack:
// minted with the server's key derivation when the secret is known (and a
// minted token is accepted), else by logging in. It returns the mode used.
func (p *provisioner) ensureTokens(ctx context.Context) (string, error) {
	mode := p.tokens
	if mode == "auto" {
		mode = "login"
		if p.canMint {
			mode = "mint"
		}
	}
	if mode == "mint" {
		if !p.canMint {
			return mode, errors.New("-tokens mint: the server's secret is not known")
		}
		ok, err := p.mintWorks(ctx)
		if err != nil {
			return mode, err
		}
		if !ok {
			if p.tokens == "mint" {
				return mode, errors.New("-tokens mint: the server refused a minted token")
			}
			mode = "login"
		}
	}
	deadline := time.Now().Add(tokenSlack)
	var todo []*user
	var tenantOf []int64
	for i := range p.m.Tenants {
		for j := range p.m.Tenants[i].Users {
			u := &p.m.Tenants[i].Users[j]
			if u.Token == "" || u.Expires.Before(deadline) {
				todo = append(todo, u)
				tenantOf = append(tenantOf, p.m.Tenants[i].ID)
			}
		}
	}
	if mode == "mint" {
		for k, u := range todo {
			tok, exp, err := mintTenantToken(p.m.Secret, tenantOf[k], u.ID)
			if err != nil {
				return mode, err
			}
			u.Token, u.Expires = tok, exp
		}
		return mode, nil
	}
	var next, done atomic.Int64
	errc := make(chan error, p.workers)
	var wg sync.WaitGroup
	stopProgress := p.showProgress(func() string {
		return fmt.Sprintf("logging in: %d/%d users", done.Load(), len(todo))
	})
	for range p.workers {
		wg.Go(func() { // ends when todo is exhausted or a login fails
			for {
				k := int(next.Add(1)) - 1
				if k >= len(todo) || ctx.Err() != nil {
					return
				}
				var tok tokenJSON
				t0 := time.Now()
				_, err := p.api.do(ctx, "POST", "/api/tenant/auth/login", map[string]string{"X-Tenant": strconv.FormatInt(tenantOf[k], 10)},
					map[string]string{"email": todo[k].Email, "password": p.m.Password}, &tok, http.StatusOK)
				if err != nil {
					errc <- err
					return
				}
				todo[k].Token = tok.AccessToken
				todo[k].Expires = t0.Add(time.Duration(tok.ExpiresIn) * time.Second)
				done.Add(1)
			}
		})
	}
	wg.Wait()
	stopProgress()
	select {
	case err := <-errc:
		return mode, err
	default:
	}
	return mode, ctx.Err()
}

// mintWorks mints a token for the first user and asks the server whether
// it accepts it.
func (p *provisioner) mintWorks(ctx context.Context) (bool, error) {
	if len(p.m.Tenants) == 0 || len(p.m.Tenants[0].Users) == 0 {
		return false, errors.New("no users to check a token with")
	}
	t := p.m.Tenants[0]
	tok, _, err := mintTenantToken(p.m.Secret, t.ID, t.Users[0].ID)
	if err != nil {
		return false, err
	}
	status, err := p.api.do(ctx, "GET", "/api/tenant/users/me",
		map[string]string{"X-Tenant": strconv.FormatInt(t.ID, 10), "Authorization": "Bearer " + tok}, nil, nil, http.StatusOK)
	switch {
	case err == nil:
		return true, nil
	case status == http.StatusUnauthorized:
		return false, nil
	}
	return false, err
}

// mintTenantToken makes the token the reference server would issue to user
// userID of tenant tenantID: its key is derived from the master secret for
// the directory "tenant:<id>", and its issuer is "tenantkit-server" (see
// examples/server/tokens.go). mintWorks checks that the server agrees.
func mintTenantToken(secret string, tenantID, userID int64) (string, time.Time, error) {
	dir := "tenant:" + strconv.FormatInt(tenantID, 10)
	return mintToken(secret, dir, userID)
}

func mintToken(secret, directory string, userID int64) (string, time.Time, error) {
	key, err := auth.DeriveKey([]byte(secret), directory)
	if err != nil {
		return "", time.Time{}, err
	}
	iss, err := auth.NewIssuer(tokenIssuer, directory, key, auth.WithTTL(tokenTTL))
	if err != nil {
		return "", time.Time{}, err
	}
	tok, c, err := iss.Issue(strconv.FormatInt(userID, 10))
	return tok, c.ExpiresAt, err
}

// showProgress prints line() every p.progress until the returned function
// is called; that function waits for the printing goroutine to end.
func (p *provisioner) showProgress(line func() string) func() {
	if p.progress <= 0 || p.log == nil {
		return func() {}
	}
	done, exited := make(chan struct{}), make(chan struct{})
	go func() { // ends when done is closed
		defer close(exited)
		t := time.NewTicker(max(p.progress, 2*time.Second))
		defer t.Stop()
		for {
			select {
			case <-done:
				p.log("%s\n", line())
				return
			case <-t.C:
				p.log("%s\n", line())
			}
		}
	}()
	return func() {
		close(done)
		<-exited
	}
}

// manifestPath and dataPath name the files of a -reuse folder.
func manifestPath(dir string) string { return filepath.Join(dir, "manifest.json") }
func dataPath(dir string) string     { return filepath.Join(dir, "data") }
