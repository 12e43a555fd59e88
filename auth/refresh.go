package auth

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
)

// RefreshTokenPrefix starts every refresh token. A JWT starts with "ey"
// (base64url of `{"`), so the two kinds can never be mistaken for each
// other, and secret scanners can recognize leaked refresh tokens.
const RefreshTokenPrefix = "rt_"

const (
	refreshTokenBytes = 32 // 256 random bits
	refreshTokenLen   = len(RefreshTokenPrefix) + 43
)

// refreshB64 refuses non-zero trailing bits, so a refresh token has
// exactly one spelling.
var refreshB64 = base64.RawURLEncoding.Strict()

// NewRefreshToken returns a new refresh token and the hash to store in its
// place. The token is RefreshTokenPrefix followed by 256 bits from
// crypto/rand in unpadded base64url (46 characters in all): opaque, so it
// carries no claims and means only what the server's record of it says.
// Hand the token to the client once, and store only the hash (with the
// user, the user directory, the expiry and the token family), so that a
// leaked database holds no usable token; look a presented token up with
// [HashRefreshToken]. Store and look up each directory's tokens apart, so
// a refresh token of one directory or tenant is refused by every other.
// It cannot fail (crypto/rand does not), so it returns no error.
func NewRefreshToken() (token, hash string) {
	b := make([]byte, len(RefreshTokenPrefix), refreshTokenLen)
	copy(b, RefreshTokenPrefix)
	b = refreshB64.AppendEncode(b, randomBytes(refreshTokenBytes))
	token = string(b)
	return token, hashRefreshToken(token)
}

// HashRefreshToken returns the hash under which the server stored token
// (see [NewRefreshToken]): the lower-case hex SHA-256 of the whole token,
// 64 characters. It checks the format strictly first, and returns an
// error wrapping [ErrInvalidToken] for anything else: another prefix (an
// access token included), another length, a character outside base64url,
// or non-zero trailing bits. The error never quotes the token.
//
// A fast, unsalted hash is right here, unlike for passwords: argon2id and
// bcrypt are slow and salted to make guessing a low-entropy password from
// its hash expensive, but a refresh token holds 256 random bits, which no
// amount of hashing speed lets anyone guess, nor invert SHA-256 to find.
// The hash being deterministic is what lets the server find the token's
// record by an indexed lookup, and being fast keeps a refresh from costing
// what a login does (and from being a denial-of-service lever).
func HashRefreshToken(token string) (string, error) {
	if len(token) != refreshTokenLen || token[:len(RefreshTokenPrefix)] != RefreshTokenPrefix {
		return "", &tokenError{reason: "not a refresh token"}
	}
	body := token[len(RefreshTokenPrefix):]
	for i := 0; i < len(body); i++ {
		switch c := body[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_':
		default:
			return "", &tokenError{reason: "malformed refresh token"}
		}
	}
	var raw [refreshTokenBytes]byte
	if n, err := refreshB64.Decode(raw[:], []byte(body)); err != nil || n != refreshTokenBytes {
		return "", &tokenError{reason: "malformed refresh token"}
	}
	return hashRefreshToken(token), nil
}

func hashRefreshToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
