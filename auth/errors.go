package auth

import (
	"errors"
	"fmt"
)

// ErrPasswordMismatch is returned by [Hasher.Verify] when the password does
// not match the stored hash, and for every password when the stored hash is
// empty (an unknown user).
var ErrPasswordMismatch = errors.New("auth: password does not match")

// ErrInvalidHash is wrapped by the errors [Hasher.Verify] returns for a stored
// hash that is not an argon2id PHC string this package can verify: malformed,
// another algorithm or version, or parameters beyond the caps documented on
// [Hasher.Verify].
var ErrInvalidHash = errors.New("auth: invalid password hash")

// ErrInvalidToken is wrapped by every error [Verifier.Verify] returns, and so
// reaches the error handler of [RequireToken] for a token that was presented
// but refused. It is also wrapped by the error [HashRefreshToken] returns
// for a string that is not a refresh token.
var ErrInvalidToken = errors.New("auth: invalid token")

// ErrTokenExpired is additionally wrapped by the error [Verifier.Verify]
// returns for a token whose only fault is that it expired (beyond the
// leeway), so clients can be told to refresh rather than to log in again.
var ErrTokenExpired = errors.New("auth: token expired")

// ErrNoToken is returned (possibly wrapped) to the error handler of
// [RequireToken] when a request carries no usable bearer token: no
// Authorization header, several of them, another scheme or an empty token.
var ErrNoToken = errors.New("auth: no bearer token")

// ErrInvalidConfig is wrapped by every configuration error of this
// package: the errors [NewHasher], [NewIssuer], [NewVerifier],
// [NewKeyring], [NewThrottle], [RequireToken] and [RequireTokenFunc]
// return at start-up for a missing or unusable argument (a key included),
// a nil option or an option out of range, and the error [Keyring.Rotate]
// returns for an unusable secret. These constructors never panic, and what
// they return never fails a request because of its configuration.
var ErrInvalidConfig = errors.New("auth: invalid configuration")

// configError is a configuration error: its own message, matching
// ErrInvalidConfig.
type configError struct{ msg string }

func (e *configError) Error() string { return e.msg }

func (e *configError) Unwrap() error { return ErrInvalidConfig }

// configErrorf returns a configError with a formatted message, which
// should start with "auth: " and the constructor or option at fault.
func configErrorf(format string, args ...any) error {
	return &configError{msg: fmt.Sprintf(format, args...)}
}

// tokenError is the error Verifier.Verify returns. It matches ErrInvalidToken
// and, when expired is set, ErrTokenExpired. reason is a fixed phrase that
// never contains any part of the token.
type tokenError struct {
	reason  string
	expired bool
}

func (e *tokenError) Error() string { return "auth: invalid token: " + e.reason }

func (e *tokenError) Is(target error) bool {
	return target == ErrInvalidToken || (e.expired && target == ErrTokenExpired)
}

// ErrBusy is returned by [Hasher.Hash] and [Hasher.Verify], at once, when
// every hashing slot is taken and the queue of callers waiting for one is
// full (see [WithMaxQueue]). Nothing was hashed: the caller should refuse
// the request and ask the client to retry later (HTTP 503 with
// Retry-After).
var ErrBusy = errors.New("auth: password hashing is busy")

// ErrInvalidPassword is wrapped by the error [Hasher.Hash] and
// [Hasher.CheckPassword] return for a password the hasher refuses to hash:
// longer than its maximum (see [WithMaxPasswordLen]) or not valid UTF-8.
var ErrInvalidPassword = errors.New("auth: invalid password")
