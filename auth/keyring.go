package auth

import (
	"crypto/subtle"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Keyring makes, caches and rotates the [Issuer] and [Verifier] of many
// user directories (a core one, and one per tenant) from one set of master
// secrets, so an app does not keep its own map of them. It is safe for
// concurrent use, starts no goroutine and holds nothing that needs
// closing.
//
// # Keys
//
// A directory's keys are derived from the masters by [DeriveKeys]: one key
// per master, HMAC-SHA256 by default, or with [WithAlgorithm]("EdDSA") the
// Ed25519 key seeded by that derived secret ([Ed25519KeyFromSeed]), so no
// key material is stored anywhere. The issuer of a directory signs with
// the key of the current master (the first), its verifier accepts the keys
// of every master, and each key's ID travels in the `kid` header of the
// tokens it signs. The directory name is the tokens' audience; the issuer
// name given to [NewKeyring] is their iss. So a token of one directory
// never verifies in another: its kid names no key there, and even with a
// forged kid its signature and audience are wrong.
//
// The same masters, directory name, issuer name and algorithm always give
// the same keys, in every process and after every restart: a Keyring
// verifies the tokens that an app deriving its keys with DeriveKeys (and,
// for EdDSA, Ed25519KeyFromSeed of the derived secret) issued, and the
// reverse.
//
// # Cache
//
// A directory's issuer and verifier are made on first use, in a few
// microseconds (HKDF per master; about 20 µs more per master for EdDSA),
// and kept: at most [WithMaxDirectories] of them, evicting one that was not
// used since the last eviction looked at it (else any) when full. An
// evicted directory is made again, with the same keys, when it is next
// used; only its verifier's cache of accepted tokens is lost. Concurrent
// first uses of one directory may each derive its keys, but all get the
// same issuer and verifier back. [Keyring.Forget] drops a directory at once,
// for a deleted tenant. A hit costs a map lookup under a read lock and
// does not allocate.
//
// # Rotation
//
// There are two ways to rotate, and both keep tokens already issued valid
// until they expire:
//
//   - By configuration, across restarts: give NewKeyring the new master
//     first and the old one after it (say JWT_SECRET=new,
//     JWT_PREVIOUS_SECRETS=old); once the old master's tokens have expired
//     (the TTL plus the leeway), remove it from the configuration. Masters
//     given to NewKeyring are never dropped by the Keyring itself. This is
//     the way for a fleet of processes: every process accepts both masters
//     before any of them signs with the new one.
//   - At run time, in one process: [Keyring.Rotate] makes a new master the
//     current one at once. Every other master keeps verifying until the
//     tokens it could have signed have expired (the TTL plus the leeway
//     after the call), and is then dropped.
//
// After either, each directory gets a new issuer and verifier on its next
// use (and so an empty token cache).
type Keyring struct {
	issuer string
	cfg    keyringConfig

	// due is the time, in Unix nanoseconds, at which the earliest
	// retiring master must be dropped; 0 when none is retiring. It is
	// read on every lookup, without the lock.
	due atomic.Int64

	mu sync.RWMutex
	// masters is the current master first, then the others. It is
	// replaced, never modified in place, so a copy of the slice taken
	// under the lock may be read after it is released.
	masters []master
	// gen counts the changes of masters; a directory made under another
	// generation is stale.
	gen  uint64
	dirs map[string]*ringDirectory
}

// master is one master secret and when it stops verifying.
type master struct {
	secret []byte
	retire time.Time // zero: never
}

// ringDirectory is the issuer and verifier of one directory, made from
// the masters of generation gen.
type ringDirectory struct {
	gen      uint64
	issuer   *Issuer
	verifier *Verifier
	public   []PublicKey // EdDSA only
	// used is set by every lookup and cleared by eviction scans: an
	// entry found unused by a scan was not used since the previous one.
	used atomic.Bool
}

// Bounds of a Keyring.
const (
	defaultMaxDirectories = 4096
	maxMaxDirectories     = 1 << 20
	maxMasters            = 16
	maxDirectoryLen       = 128
	keyringEvictSample    = 8
)

// A KeyringOption configures [NewKeyring]. [WithTTL], [WithLeeway],
// [WithCache] and [WithNow] are KeyringOptions too, applied to every
// issuer and verifier the Keyring makes.
type KeyringOption interface {
	applyKeyring(*keyringConfig) error
}

type keyringConfig struct {
	alg       string
	maxDirs   int
	ttl       time.Duration
	leeway    time.Duration
	cacheSize int
	now       func() time.Time
}

type keyringOptionFunc func(*keyringConfig) error

func (f keyringOptionFunc) applyKeyring(c *keyringConfig) error { return f(c) }

// WithAlgorithm sets how the tokens of a [Keyring] are signed: "HS256"
// (HMAC-SHA256, with the derived secret) or "EdDSA" (Ed25519, with the key
// the derived secret seeds, whose public half [Keyring.PublicKeys] gives
// for a JWKS). Default: "HS256".
func WithAlgorithm(alg string) KeyringOption {
	return keyringOptionFunc(func(c *keyringConfig) error {
		if alg != algHS256 && alg != algEdDSA {
			return configErrorf("auth: WithAlgorithm(%q): must be %q or %q", alg, algHS256, algEdDSA)
		}
		c.alg = alg
		return nil
	})
}

// WithMaxDirectories caps how many directories a [Keyring] keeps the
// issuer and verifier of, from 1 to 1048576. Each costs a few kilobytes,
// plus its verifier's cache of accepted tokens (see [WithCache]). Default:
// 4096.
func WithMaxDirectories(n int) KeyringOption {
	return keyringOptionFunc(func(c *keyringConfig) error {
		if n < 1 || n > maxMaxDirectories {
			return configErrorf("auth: WithMaxDirectories(%d): must be 1 to %d", n, maxMaxDirectories)
		}
		c.maxDirs = n
		return nil
	})
}

// NewKeyring returns a Keyring whose tokens name issuer as their iss, with
// keys derived from masters: masters[0] is the current master, which signs;
// the others are previous masters, which still verify (see "Rotation" on
// [Keyring]). Each master must be at least 32 bytes from a secret store
// (crypto/rand); the Keyring keeps its own copies. It returns an error
// wrapping [ErrInvalidConfig] if issuer is empty, masters is empty or holds
// more than 16 secrets, a master is shorter than 32 bytes, two masters are
// the same secret, or an option is nil or invalid.
func NewKeyring(issuer string, masters [][]byte, opts ...KeyringOption) (*Keyring, error) {
	if issuer == "" {
		return nil, configErrorf("auth: NewKeyring: issuer must not be empty")
	}
	if len(masters) == 0 || len(masters) > maxMasters {
		return nil, configErrorf("auth: NewKeyring: need 1 to %d master secrets, got %d", maxMasters, len(masters))
	}
	for i, m := range masters {
		if len(m) < minSecretLen {
			return nil, configErrorf("auth: NewKeyring: master %d must be at least %d bytes, got %d", i, minSecretLen, len(m))
		}
		for j := range i {
			if subtle.ConstantTimeCompare(masters[j], m) == 1 {
				return nil, configErrorf("auth: NewKeyring: masters %d and %d are the same secret", j, i)
			}
		}
	}
	cfg := keyringConfig{
		alg:       algHS256,
		maxDirs:   defaultMaxDirectories,
		ttl:       time.Hour,
		leeway:    30 * time.Second,
		cacheSize: defaultCacheSize,
		now:       time.Now,
	}
	if err := configure("NewKeyring", opts, func(o KeyringOption) error { return o.applyKeyring(&cfg) }); err != nil {
		return nil, err
	}
	k := &Keyring{issuer: issuer, cfg: cfg, dirs: make(map[string]*ringDirectory)}
	for _, m := range masters {
		k.masters = append(k.masters, master{secret: slices.Clone(m)})
	}
	// Make one directory now, so that a problem with the options shows
	// here rather than on the first request.
	if _, err := k.newDirectory("keyring", k.masters, 0); err != nil {
		return nil, configErrorf("auth: NewKeyring: %v", err)
	}
	return k, nil
}

// TTL returns the lifetime of the tokens the Keyring's issuers issue.
func (k *Keyring) TTL() time.Duration { return k.cfg.ttl }

// Issuer returns the issuer of directory (for example "core" or
// "tenant:42"): it signs with the current master's key, and names
// directory as the audience. It returns an error for a directory name that
// is empty, longer than 128 bytes or not printable ASCII without spaces.
func (k *Keyring) Issuer(directory string) (*Issuer, error) {
	d, err := k.directory(directory)
	if err != nil {
		return nil, err
	}
	return d.issuer, nil
}

// Verifier returns the verifier of directory: it accepts the tokens of
// that directory signed with the key of any master the Keyring holds. Its
// errors are those of [Keyring.Issuer].
func (k *Keyring) Verifier(directory string) (*Verifier, error) {
	d, err := k.directory(directory)
	if err != nil {
		return nil, err
	}
	return d.verifier, nil
}

// Issue issues an access token for subject in directory, as
// [Issuer.Issue] does with the directory's issuer: what a login handler
// calls once the password is checked.
func (k *Keyring) Issue(directory, subject string) (token string, c Claims, err error) {
	d, err := k.directory(directory)
	if err != nil {
		return "", Claims{}, err
	}
	return d.issuer.Issue(subject)
}

// Verify checks token as [Verifier.Verify] does with the verifier of
// directory. Errors for the token wrap [ErrInvalidToken]; an invalid
// directory name gives another error (see [Keyring.Issuer]).
func (k *Keyring) Verify(directory, token string) (Claims, error) {
	d, err := k.directory(directory)
	if err != nil {
		return Claims{}, err
	}
	return d.verifier.Verify(token)
}

// VerifierFunc returns a choose function for [RequireTokenFunc] that picks
// the verifier of the directory that directory names for the request, for
// example that of the tenant the request is for:
//
//	requireToken, err := auth.RequireTokenFunc(ring.VerifierFunc(func(r *http.Request) (string, error) {
//		t, ok := tenancy.FromContext(r.Context())
//		if !ok {
//			return "", errors.New("no tenant in context")
//		}
//		return "tenant:" + t.ID, nil
//	}))
//
// An error from directory, or an invalid directory name, goes to the error
// handler as a server-side failure (500 by default). If directory is nil,
// VerifierFunc returns nil, which RequireTokenFunc refuses at start-up.
//
// Name directories after data the app has checked (a tenant the tenancy
// middleware found), never after raw request input: each new name costs a
// key derivation and takes a place in the cache.
func (k *Keyring) VerifierFunc(directory func(*http.Request) (string, error)) func(*http.Request) (*Verifier, error) {
	if directory == nil {
		return nil
	}
	return func(r *http.Request) (*Verifier, error) {
		name, err := directory(r)
		if err != nil {
			return nil, err
		}
		return k.Verifier(name)
	}
}

// PublicKeys returns the public keys of directory, the current one first,
// to publish with [JWKS] so that other services can verify its tokens. It
// returns none for HS256, whose keys have no public half. Its errors are
// those of [Keyring.Issuer].
func (k *Keyring) PublicKeys(directory string) ([]PublicKey, error) {
	d, err := k.directory(directory)
	if err != nil {
		return nil, err
	}
	return slices.Clone(d.public), nil
}

// Forget drops the issuer and verifier of directory, if the Keyring holds
// them: call it when a tenant is deleted. Its tokens still verify if the
// directory is used again (the keys are derived, not stored): refuse them
// by refusing the directory, as the tenancy middleware does for a deleted
// tenant.
func (k *Keyring) Forget(directory string) {
	k.mu.Lock()
	delete(k.dirs, directory)
	k.mu.Unlock()
}

// Len returns how many directories the Keyring holds the issuer and
// verifier of. It never exceeds the [WithMaxDirectories] bound.
func (k *Keyring) Len() int {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return len(k.dirs)
}

// Rotate makes secret the current master, at once: from now on every
// directory's issuer signs with the key derived from it. Every other master
// keeps verifying until the tokens it may have signed have expired (the
// TTL plus the leeway after this call, or sooner if an earlier rotation
// set that), and is then dropped, so its keys' IDs become unknown. Tokens
// signed with secret by another process before this call verify here
// already.
//
// Rotate retires only what this process signed: in a fleet of processes,
// one that has not rotated yet keeps signing with the old master, and its
// tokens stop verifying here the TTL plus the leeway after this call.
// Rotate every process within the leeway, or rotate by configuration (see
// [Keyring]).
//
// It returns an error wrapping [ErrInvalidConfig], and changes nothing, if
// secret is shorter than 32 bytes, is already one of the Keyring's masters,
// or would make more than 16 masters at once.
func (k *Keyring) Rotate(secret []byte) error {
	if len(secret) < minSecretLen {
		return configErrorf("auth: Keyring.Rotate: master secret must be at least %d bytes, got %d", minSecretLen, len(secret))
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.cfg.now()
	live := k.live(now)
	for _, m := range live {
		if subtle.ConstantTimeCompare(m.secret, secret) == 1 {
			return configErrorf("auth: Keyring.Rotate: the master secret is already in the keyring")
		}
	}
	if len(live) >= maxMasters {
		return configErrorf("auth: Keyring.Rotate: %d masters are still verifying; wait for the oldest to retire", len(live))
	}
	retire := now.Add(k.cfg.ttl + k.cfg.leeway)
	next := make([]master, 0, len(live)+1)
	next = append(next, masterOf(secret))
	for _, m := range live {
		if m.retire.IsZero() || retire.Before(m.retire) {
			m.retire = retire
		}
		next = append(next, m)
	}
	k.setMasters(next)
	return nil
}

func masterOf(secret []byte) master { return master{secret: slices.Clone(secret)} }

// live returns the masters that have not retired at now. k.mu must be
// held.
func (k *Keyring) live(now time.Time) []master {
	keep := make([]master, 0, len(k.masters))
	for _, m := range k.masters {
		if m.retire.IsZero() || now.Before(m.retire) {
			keep = append(keep, m)
		}
	}
	return keep
}

// setMasters replaces the masters, makes every directory stale, and sets
// the time of the next retirement. k.mu must be held for writing.
func (k *Keyring) setMasters(ms []master) {
	k.masters = ms
	k.gen++
	var due int64
	for _, m := range ms {
		if !m.retire.IsZero() && (due == 0 || m.retire.UnixNano() < due) {
			due = m.retire.UnixNano()
		}
	}
	k.due.Store(due)
}

// retire drops the masters whose time has come.
func (k *Keyring) retire() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if live := k.live(k.cfg.now()); len(live) != len(k.masters) {
		k.setMasters(live)
	}
}

// directory returns the issuer and verifier of name, from the cache or
// made now.
func (k *Keyring) directory(name string) (*ringDirectory, error) {
	if due := k.due.Load(); due != 0 && k.cfg.now().UnixNano() >= due {
		k.retire()
	}
	k.mu.RLock()
	d, ok := k.dirs[name]
	gen := k.gen
	k.mu.RUnlock()
	if ok && d.gen == gen {
		if !d.used.Load() {
			d.used.Store(true)
		}
		return d, nil
	}
	return k.miss(name)
}

// miss makes the issuer and verifier of name and caches them, unless
// another caller did first or the masters changed meanwhile.
func (k *Keyring) miss(name string) (*ringDirectory, error) {
	if err := validDirectory(name); err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		k.mu.RLock()
		masters, gen := k.masters, k.gen
		k.mu.RUnlock()
		d, err := k.newDirectory(name, masters, gen)
		if err != nil {
			return nil, err
		}
		d.used.Store(true)
		k.mu.Lock()
		if k.gen != gen { // rotated meanwhile: d is stale
			k.mu.Unlock()
			if attempt < 3 {
				continue
			}
			return d, nil // rotations in a loop: serve d, uncached
		}
		cur, ok := k.dirs[name]
		if ok && cur.gen == gen {
			k.mu.Unlock()
			return cur, nil
		}
		if !ok && len(k.dirs) >= k.cfg.maxDirs {
			k.evict()
		}
		k.dirs[strings.Clone(name)] = d
		k.mu.Unlock()
		return d, nil
	}
}

// evict makes room for one directory: it drops the stale entries among a
// few (Go randomizes where map iteration starts), or else the first of
// them not used since the previous scan, or else the first, and marks
// those it passes over as unused. k.mu must be held for writing.
func (k *Keyring) evict() {
	var first, unused string
	seen, dropped, found := 0, false, false
	for name, d := range k.dirs {
		if seen == 0 {
			first = name
		}
		switch {
		case d.gen != k.gen:
			delete(k.dirs, name)
			dropped = true
		case !d.used.Load() && !found:
			unused, found = name, true
		default:
			d.used.Store(false)
		}
		if seen++; seen >= keyringEvictSample {
			break
		}
	}
	switch {
	case dropped:
	case found:
		delete(k.dirs, unused)
	case seen > 0:
		delete(k.dirs, first)
	}
}

// newDirectory makes the issuer and verifier of name from masters.
func (k *Keyring) newDirectory(name string, masters []master, gen uint64) (*ringDirectory, error) {
	secrets := make([][]byte, len(masters))
	for i, m := range masters {
		secrets[i] = m.secret
	}
	keys, err := DeriveKeys(secrets, name)
	if err != nil {
		return nil, err
	}
	d := &ringDirectory{gen: gen}
	if k.cfg.alg == algEdDSA {
		for i, key := range keys {
			if keys[i], err = Ed25519KeyFromSeed(key.Secret); err != nil {
				return nil, err
			}
			pub, _ := keys[i].PublicKey()
			d.public = append(d.public, pub)
		}
	}
	now := WithNow(k.cfg.now)
	if d.issuer, err = NewIssuer(k.issuer, name, keys[0], WithTTL(k.cfg.ttl), now); err != nil {
		return nil, err
	}
	if d.verifier, err = NewVerifier(k.issuer, name, keys, WithLeeway(k.cfg.leeway), WithCache(k.cfg.cacheSize), now); err != nil {
		return nil, err
	}
	return d, nil
}

// validDirectory refuses a directory name that may not be an audience: 1
// to 128 bytes of printable ASCII without spaces.
func validDirectory(name string) error {
	if name == "" || len(name) > maxDirectoryLen {
		return fmt.Errorf("auth: keyring: directory name must be 1 to %d bytes, got %d", maxDirectoryLen, len(name))
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 0x21 || c > 0x7e {
			return fmt.Errorf("auth: keyring: directory name %.64q: must be printable ASCII without spaces", name)
		}
	}
	return nil
}
