package main

// notes.go is the application: the handlers and their SQL. It uses the
// library only through values glue.go made (the manager, the hasher, the
// keyring, the token directory function, the error handler) and through tenancy.FromContext and
// auth.FromContext.

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tenantkit/tenantkit/auth"
	"github.com/tenantkit/tenantkit/dbstrategy"
	"github.com/tenantkit/tenantkit/tenancy"
)

// app holds what the handlers need.
type app struct {
	dbs    *dbstrategy.Manager
	hasher *auth.Hasher
	ring   *auth.Keyring
	// dir names the token directory of the request's tenant.
	dir func(*http.Request) (string, error)
	// fail answers every error: the library's as their packages map
	// them, the app's through appErrors.
	fail func(http.ResponseWriter, *http.Request, error)
}

// Limits of the input.
const (
	maxBody        = 64 << 10
	maxEmail       = 254
	minPassword    = 8
	maxNote        = 10000
	maxNotesListed = 1000
)

type credentials struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// signup handles POST /signup: a new user of the request's tenant.
func (a *app) signup() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in credentials
		if err := decode(w, r, &in); err != nil {
			a.fail(w, r, err)
			return
		}
		in.Email = strings.ToLower(in.Email)
		if err := checkCredentials(in); err != nil {
			a.fail(w, r, err)
			return
		}
		hash, err := a.hasher.Hash(r.Context(), in.Password) // before the lease: tens of ms
		if err != nil {
			a.fail(w, r, err)
			return
		}
		t, _ := tenancy.FromContext(r.Context())
		var id int64
		err = a.dbs.Do(r.Context(), t.ID, func(ctx context.Context, db dbstrategy.DB) error {
			err := db.QueryRowContext(ctx, `INSERT INTO users (email, password_hash) VALUES ($1, $2)
				ON CONFLICT (email) DO NOTHING RETURNING id`, in.Email, hash).Scan(&id)
			if errors.Is(err, sql.ErrNoRows) {
				return &appError{http.StatusConflict, "email already registered"}
			}
			return err
		})
		if err != nil {
			a.fail(w, r, err)
			return
		}
		writeJSON(w, http.StatusCreated, map[string]any{"id": id, "email": in.Email})
	})
}

// login handles POST /login: a token for a user of the request's tenant.
func (a *app) login() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in credentials
		if err := decode(w, r, &in); err != nil {
			a.fail(w, r, err)
			return
		}
		t, _ := tenancy.FromContext(r.Context())
		var id int64
		var hash string // stays "" for an unknown email
		err := a.dbs.Do(r.Context(), t.ID, func(ctx context.Context, db dbstrategy.DB) error {
			err := db.QueryRowContext(ctx, `SELECT id, password_hash FROM users WHERE email = $1`,
				strings.ToLower(in.Email)).Scan(&id, &hash)
			if errors.Is(err, sql.ErrNoRows) {
				return nil
			}
			return err
		})
		if err != nil {
			a.fail(w, r, err)
			return
		}
		// After the lease; as slow for an unknown email as for a wrong password.
		if err := a.hasher.Verify(r.Context(), hash, in.Password); err != nil {
			a.fail(w, r, err) // auth.ErrPasswordMismatch: 401
			return
		}
		dir, err := a.dir(r)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		token, claims, err := a.ring.Issue(dir, strconv.FormatInt(id, 10))
		if err != nil {
			a.fail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"access_token": token,
			"token_type":   "Bearer",
			"expires_in":   int(time.Until(claims.ExpiresAt).Seconds()),
		})
	})
}

// note is a note as the API shows it.
type note struct {
	ID        int64     `json:"id"`
	Body      string    `json:"body"`
	CreatedAt time.Time `json:"created_at"`
}

// createNote handles POST /notes: a note of the token's user.
func (a *app) createNote() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Body string `json:"body"`
		}
		if err := decode(w, r, &in); err != nil {
			a.fail(w, r, err)
			return
		}
		if in.Body == "" || utf8.RuneCountInString(in.Body) > maxNote {
			a.fail(w, r, &appError{http.StatusUnprocessableEntity, fmt.Sprintf("body must be 1 to %d characters", maxNote)})
			return
		}
		t, _ := tenancy.FromContext(r.Context())
		n := note{Body: in.Body, CreatedAt: time.Now().UTC().Truncate(time.Second)}
		err := a.dbs.Do(r.Context(), t.ID, func(ctx context.Context, db dbstrategy.DB) error {
			return db.QueryRowContext(ctx, `INSERT INTO notes (user_id, body, created_at) VALUES ($1, $2, $3) RETURNING id`,
				userID(r), n.Body, n.CreatedAt).Scan(&n.ID)
		})
		if err != nil {
			a.fail(w, r, err)
			return
		}
		writeJSON(w, http.StatusCreated, n)
	})
}

// listNotes handles GET /notes: the token's user's notes, oldest first.
func (a *app) listNotes() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t, _ := tenancy.FromContext(r.Context())
		notes := []note{}
		err := a.dbs.Do(r.Context(), t.ID, func(ctx context.Context, db dbstrategy.DB) error {
			rows, err := db.QueryContext(ctx, `SELECT id, body, created_at FROM notes WHERE user_id = $1 ORDER BY id LIMIT $2`,
				userID(r), maxNotesListed)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var n note
				if err := rows.Scan(&n.ID, &n.Body, &n.CreatedAt); err != nil {
					return err
				}
				notes = append(notes, n)
			}
			return rows.Err()
		})
		if err != nil {
			a.fail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"notes": notes})
	})
}

// userID is the user of the request's token. The token was issued by
// login with the user's ID as its subject, so it parses.
func userID(r *http.Request) int64 {
	c, _ := auth.FromContext(r.Context())
	id, _ := strconv.ParseInt(c.Subject, 10, 64)
	return id
}

func checkCredentials(in credentials) error {
	at := strings.IndexByte(in.Email, '@')
	switch {
	case at < 1 || at == len(in.Email)-1 || len(in.Email) > maxEmail:
		return &appError{http.StatusUnprocessableEntity, "email is not valid"}
	case utf8.RuneCountInString(in.Password) < minPassword:
		return &appError{http.StatusUnprocessableEntity, fmt.Sprintf("password must be at least %d characters", minPassword)}
	}
	return nil
}

// decode reads the JSON object of the request body into v.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return &appError{http.StatusUnsupportedMediaType, "body must be application/json"}
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return &appError{http.StatusBadRequest, "body must be one JSON object of the documented fields"}
	}
	if dec.More() {
		return &appError{http.StatusBadRequest, "body must be one JSON object of the documented fields"}
	}
	return nil
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// appError is an error of the app's own with the status and the text to
// answer.
type appError struct {
	code   int
	detail string
}

func (e *appError) Error() string { return e.detail }

// appErrors answers the errors that neither tenancy, auth nor dbstrategy
// classify, as application/problem+json too. Anything but an appError is
// logged and answered 500 (or 503 while the server shuts down), without its
// text.
func appErrors(log *slog.Logger) func(http.ResponseWriter, *http.Request, error) {
	return func(w http.ResponseWriter, r *http.Request, err error) {
		var ae *appError
		switch {
		case errors.As(err, &ae):
			writeProblem(w, ae.code, ae.detail)
		case errors.Is(err, context.Canceled):
			writeProblem(w, http.StatusServiceUnavailable, "shutting down")
		default:
			log.ErrorContext(r.Context(), "notes: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
			writeProblem(w, http.StatusInternalServerError, "internal server error")
		}
	}
}

// writeProblem writes an RFC 9457 problem, as tenancy and auth do.
func writeProblem(w http.ResponseWriter, code int, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(struct {
		Type   string `json:"type"`
		Title  string `json:"title"`
		Status int    `json:"status"`
		Detail string `json:"detail"`
	}{"about:blank", http.StatusText(code), code, detail})
}
