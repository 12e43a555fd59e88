package main

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/tenantkit/tenantkit/auth"
	"github.com/tenantkit/tenantkit/tenancy"
)

// Response bodies.
type (
	userJSON struct {
		ID          int64   `json:"id"`
		Email       string  `json:"email"`
		DisplayName *string `json:"display_name"`
		IsActive    bool    `json:"is_active"`
		CreatedAt   string  `json:"created_at"`
	}
	coreUserJSON struct {
		ID        int64  `json:"id"`
		Email     string `json:"email"`
		CreatedAt string `json:"created_at"`
	}
	orgJSON struct {
		ID        int64  `json:"id"`
		Name      string `json:"name"`
		Slug      string `json:"slug"`
		Status    string `json:"status"`
		CreatedAt string `json:"created_at"`
	}
	orgListJSON struct {
		Items      []orgJSON `json:"items"`
		NextCursor string    `json:"next_cursor,omitempty"` // absent on the last page
	}
	tokenJSON struct {
		AccessToken  string `json:"access_token"`
		TokenType    string `json:"token_type"`
		ExpiresIn    int64  `json:"expires_in"`
		RefreshToken string `json:"refresh_token"`
	}
)

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func toUserJSON(u User) userJSON {
	j := userJSON{ID: u.ID, Email: u.Email, IsActive: u.IsActive, CreatedAt: formatTime(u.CreatedAt)}
	if u.DisplayName != "" {
		dn := u.DisplayName
		j.DisplayName = &dn
	}
	return j
}

func toOrgJSON(o Organization) orgJSON {
	return orgJSON{ID: o.ID, Name: o.Name, Slug: o.Slug, Status: string(o.Status), CreatedAt: formatTime(o.CreatedAt)}
}

func writeToken(w http.ResponseWriter, t Token) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, tokenJSON{AccessToken: t.AccessToken, TokenType: "bearer",
		ExpiresIn: int64(t.ExpiresIn / time.Second), RefreshToken: t.RefreshToken})
}

func handleRegister(log *slog.Logger, s *CoreService) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var email, password *string
		if err := decodeAuthObject(w, r,
			field{name: "email", required: true, dst: &email},
			field{name: "password", required: true, dst: &password}); err != nil {
			writeError(w, r, log, withValueProblems(err, func(v *ValidationError) {
				checkEmail(v, email)
				checkNewPassword(v, password)
			}))
			return
		}
		u, err := s.Register(r.Context(), *email, *password, clientAddr(r))
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		writeJSON(w, http.StatusCreated, coreUserJSON{ID: u.ID, Email: u.Email, CreatedAt: formatTime(u.CreatedAt)})
	})
}

// credentials decodes a login body. Only its shape is checked here: bad
// credentials of any kind are a 401, never a 422.
func credentials(w http.ResponseWriter, r *http.Request) (email, password string, err error) {
	var e, p *string
	if err := decodeAuthObject(w, r, field{name: "email", required: true, dst: &e}, field{name: "password", required: true, dst: &p}); err != nil {
		return "", "", err
	}
	return *e, *p, nil
}

// handleLogin answers a login of one directory: login checks the
// credentials and starts a session.
func handleLogin(log *slog.Logger, login func(r *http.Request, email, password string) (Token, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		email, password, err := credentials(w, r)
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		t, err := login(r, email, password)
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		writeToken(w, t)
	})
}

func handleCreateOrganization(log *slog.Logger, s *CoreService) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		uid, err := userID(r)
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		var name, slug *string
		if err := decodeObject(w, r, field{name: "name", required: true, dst: &name}, field{name: "slug", dst: &slug}); err != nil {
			writeError(w, r, log, withValueProblems(err, func(v *ValidationError) {
				checkOrgName(v, name)
				checkSlug(v, slug)
			}))
			return
		}
		o, err := s.CreateOrganization(r.Context(), uid, *name, slug, r.Header.Get("Idempotency-Key"))
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		writeJSON(w, http.StatusCreated, toOrgJSON(o))
	})
}

func handleListOrganizations(log *slog.Logger, s *CoreService) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		uid, err := userID(r)
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		p, err := parsePage(r.URL.Query())
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		orgs, next, err := s.Organizations(r.Context(), uid, p)
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		out := orgListJSON{Items: make([]orgJSON, 0, len(orgs)), NextCursor: next}
		for _, o := range orgs {
			out.Items = append(out.Items, toOrgJSON(o))
		}
		writeJSON(w, http.StatusOK, out)
	})
}

func handleGetOrganization(log *slog.Logger, s *CoreService) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		uid, err := userID(r)
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		id, ok := parseID(r.PathValue("id"))
		if !ok {
			writeError(w, r, log, ErrNotFound)
			return
		}
		o, err := s.Organization(r.Context(), uid, id)
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		writeJSON(w, http.StatusOK, toOrgJSON(o))
	})
}

func handleDeleteOrganization(log *slog.Logger, s *CoreService) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		uid, err := userID(r)
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		id, ok := parseID(r.PathValue("id"))
		if !ok {
			writeError(w, r, log, ErrNotFound)
			return
		}
		if err := s.DeleteOrganization(r.Context(), uid, id); err != nil {
			writeError(w, r, log, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

func handleTenantRegister(log *slog.Logger, s *TenantService) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var email, password, dn *string
		if err := decodeAuthObject(w, r,
			field{name: "email", required: true, dst: &email},
			field{name: "password", required: true, dst: &password},
			field{name: "display_name", dst: &dn}); err != nil {
			writeError(w, r, log, withValueProblems(err, func(v *ValidationError) {
				checkEmail(v, email)
				checkNewPassword(v, password)
				checkDisplayName(v, dn)
			}))
			return
		}
		u, err := s.Register(r.Context(), tenantID(r), *email, *password, dn, clientAddr(r))
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		writeJSON(w, http.StatusCreated, toUserJSON(u))
	})
}

func handleGetMe(log *slog.Logger, s *TenantService) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		uid, err := userID(r)
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		u, err := s.Me(r.Context(), tenantID(r), uid)
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		writeJSON(w, http.StatusOK, toUserJSON(u))
	})
}

func handleUpdateMe(log *slog.Logger, s *TenantService) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		uid, err := userID(r)
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		var p UserPatch
		if err := decodeObject(w, r, field{name: "email", dst: &p.Email}, field{name: "display_name", dst: &p.DisplayName}); err != nil {
			writeError(w, r, log, withValueProblems(err, func(v *ValidationError) {
				checkEmail(v, p.Email)
				checkDisplayName(v, p.DisplayName)
			}))
			return
		}
		u, err := s.UpdateMe(r.Context(), tenantID(r), uid, p)
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		writeJSON(w, http.StatusOK, toUserJSON(u))
	})
}

// refreshToken decodes a {"refresh_token"} body.
func refreshToken(w http.ResponseWriter, r *http.Request) (string, error) {
	var t *string
	if err := decodeObject(w, r, field{name: "refresh_token", required: true, dst: &t}); err != nil {
		return "", err
	}
	return *t, nil
}

// handleRefresh answers a refresh request of one directory: refresh spends
// the token and returns the new pair.
func handleRefresh(log *slog.Logger, refresh func(r *http.Request, token string) (Token, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rt, err := refreshToken(w, r)
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		t, err := refresh(r, rt)
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		writeToken(w, t)
	})
}

// handleLogout answers a logout request of one directory.
func handleLogout(log *slog.Logger, logout func(r *http.Request, token string) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rt, err := refreshToken(w, r)
		if err == nil {
			err = logout(r, rt)
		}
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// clientAddr is the address a request came from, for the login throttle:
// the peer of the connection. Behind a proxy, that is the proxy; headers
// like X-Forwarded-For are not trusted, since any client can set them.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// handleJWKS publishes the public keys of the core directory, or of the
// tenant X-Tenant names, so other services can verify EdDSA tokens. With
// HS256 there are none to publish: the document lists no keys.
func handleJWKS(log *slog.Logger, tokens *tokenService, lookup tenancy.Lookup) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dir := coreDirectory
		if len(r.Header.Values("X-Tenant")) > 0 {
			t, err := jwksTenant(r, lookup)
			if err != nil {
				writeError(w, r, log, err)
				return
			}
			dir = tenantDirectory(t.ID)
		}
		jwks, err := tokens.jwks(dir)
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		_, _ = w.Write(jwks)
	})
}

// jwksTenant resolves X-Tenant as the tenancy middleware does.
func jwksTenant(r *http.Request, lookup tenancy.Lookup) (tenancy.Tenant, error) {
	hint, err := tenancy.Header("X-Tenant").Resolve(r)
	if err != nil {
		return tenancy.Tenant{}, err
	}
	if err := validTenantHint(hint); err != nil {
		return tenancy.Tenant{}, err
	}
	t, err := lookup.Lookup(r.Context(), hint)
	if err != nil {
		return tenancy.Tenant{}, err
	}
	return t, tenancy.CheckStatus(t)
}

func handleHealthz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
}

func handleReadyz(log *slog.Logger, store CoreStore) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := store.Ping(r.Context()); err != nil {
			writeError(w, r, log, ErrUnavailable)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
}

// userID is the user a verified token names. The token middleware runs
// first, so a missing or malformed subject is a refused token.
func userID(r *http.Request) (int64, error) {
	c, ok := auth.FromContext(r.Context())
	if !ok {
		return 0, auth.ErrNoToken
	}
	id, ok := parseID(c.Subject)
	if !ok {
		return 0, auth.ErrInvalidToken
	}
	return id, nil
}

// tenantID is the tenant the tenancy middleware put in the context. The
// routes mount that middleware on every tenant endpoint; a request without
// one never reaches a handler.
func tenantID(r *http.Request) string {
	t, _ := tenancy.FromContext(r.Context())
	return t.ID
}

var errNoTenantInContext = errors.New("no tenant in context")

// requireTenant guards a handler against being mounted without the
// tenancy middleware: it refuses to run without a tenant. It also notes the
// caller for the request log.
func requireTenant(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t, ok := tenancy.FromContext(r.Context())
		if !ok || t.ID == "" {
			writeError(w, r, log, errNoTenantInContext)
			return
		}
		noteTenant(w, t.ID)
		next.ServeHTTP(w, r)
	})
}
