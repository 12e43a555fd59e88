package main

import (
	"errors"
	"time"
)

// User is a member of a user directory: the core one or a tenant's.
type User struct {
	ID           int64
	Email        string
	PasswordHash string
	DisplayName  string // tenant users only; "" means unset
	IsActive     bool
	CreatedAt    time.Time
}

// OrgStatus is where an organization is in its lifecycle.
type OrgStatus string

// The organization states. Only active organizations receive traffic.
const (
	OrgProvisioning OrgStatus = "provisioning"
	OrgActive       OrgStatus = "active"
	OrgSuspended    OrgStatus = "suspended"
	OrgDeleting     OrgStatus = "deleting"
)

// Organization is a tenant: it owns one isolated database.
type Organization struct {
	ID        int64
	Name      string
	Slug      string
	Status    OrgStatus
	OwnerID   int64
	CreatedAt time.Time

	SchemaVersion  int64  // tenant schema version last recorded by a migration
	MigrationError string // why the last migration failed; "" if it did not
	// Server is the tenant server that holds its database, as the
	// registry records it: "" is the first -tenant-db server.
	Server string
}

// IdemRecord is an Idempotency-Key with the hash of the request it came
// with.
type IdemRecord struct {
	Key  string
	Hash string
}

// Token is what a successful login returns.
type Token struct {
	AccessToken  string
	RefreshToken string
	ExpiresIn    time.Duration
}

// UserPatch is a partial update of a tenant user; nil fields are unchanged.
type UserPatch struct {
	Email       *string
	DisplayName *string
}

// Domain errors. The HTTP layer maps them to statuses in one table
// (errors.go); use cases and stores return them wrapped or as they are.
var (
	// ErrConflict: a unique value (email, slug) is taken.
	ErrConflict = errors.New("conflict")
	// ErrNotFound: the thing does not exist or the caller may not see it.
	ErrNotFound = errors.New("not found")
	// ErrUnauthorized: credentials or token do not match.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrUnavailable: a dependency (a database) cannot serve right now.
	ErrUnavailable = errors.New("unavailable")
	// ErrInProgress: an earlier request with the same Idempotency-Key is
	// still running.
	ErrInProgress = errors.New("in progress")
	// ErrWritesPaused: the organization's writes are paused while it
	// moves to another database server; reads go on.
	ErrWritesPaused = errors.New("writes paused")

	// errIdemTaken: a concurrent request recorded the same Idempotency-Key
	// first (stores only; the use case resolves it).
	errIdemTaken = errors.New("idempotency key taken")
)

// FieldError is one problem with one field of a request body. Field is ""
// for a problem with the body as a whole.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// ValidationError lists every problem found in a request at once.
type ValidationError struct {
	Errors []FieldError
}

func (e *ValidationError) Error() string {
	if len(e.Errors) == 1 {
		return "invalid request: " + e.Errors[0].Field + " " + e.Errors[0].Message
	}
	return "invalid request"
}

// add records a problem with field.
func (e *ValidationError) add(field, message string) {
	e.Errors = append(e.Errors, FieldError{Field: field, Message: message})
}

// err returns e if it holds any problem, else nil.
func (e *ValidationError) err() error {
	if len(e.Errors) == 0 {
		return nil
	}
	return e
}
