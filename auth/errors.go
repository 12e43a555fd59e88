package auth

import "errors"

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
