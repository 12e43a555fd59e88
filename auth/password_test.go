package auth_test

import (
	"context"
	"errors"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/crypto/argon2"

	"github.com/tenantkit/tenantkit/auth"
)

// cheapParams make a hash cost well under a millisecond. Tests only.
var cheapParams = auth.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}

func newCheapHasher(t testing.TB, opts ...auth.HasherOption) *auth.Hasher {
	t.Helper()
	h, err := auth.NewHasher(append([]auth.HasherOption{auth.WithParams(cheapParams)}, opts...)...)
	if err != nil {
		t.Fatalf("NewHasher() error = %v", err)
	}
	return h
}

var phcPattern = regexp.MustCompile(`^\$argon2id\$v=19\$m=64,t=1,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)

func TestHasherRoundtrip(t *testing.T) {
	ctx := context.Background()
	h := newCheapHasher(t)
	tests := []struct{ name, password, wrong string }{
		{"ascii", "correct horse battery staple", "correct horse battery stapl"},
		{"empty", "", " "},
		{"unicode", "pässwörd ✓ 密码", "passwörd ✓ 密码"},
		{"case", "Password", "password"},
		{"long", strings.Repeat("x", auth.DefaultMaxPasswordLen), strings.Repeat("x", auth.DefaultMaxPasswordLen-1)},
		{"nul", "a\x00b", "a\x00c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			encoded, err := h.Hash(ctx, tt.password)
			if err != nil {
				t.Fatalf("Hash() error = %v", err)
			}
			if !phcPattern.MatchString(encoded) {
				t.Errorf("Hash() = %q; want a PHC string matching %v", encoded, phcPattern)
			}
			if err := h.Verify(ctx, encoded, tt.password); err != nil {
				t.Errorf("Verify(right password) = %v; want nil", err)
			}
			if err := h.Verify(ctx, encoded, tt.wrong); err != auth.ErrPasswordMismatch {
				t.Errorf("Verify(wrong password) = %v; want ErrPasswordMismatch", err)
			}
			again, err := h.Hash(ctx, tt.password)
			if err != nil {
				t.Fatalf("Hash() error = %v", err)
			}
			if again == encoded {
				t.Errorf("two hashes of one password are equal (%q); want different salts", again)
			}
		})
	}
}

func TestHasherNoTruncation(t *testing.T) {
	ctx := context.Background()
	h := newCheapHasher(t)
	a := strings.Repeat("p", 99) + "a"
	b := strings.Repeat("p", 99) + "b"
	encoded, err := h.Hash(ctx, a)
	if err != nil {
		t.Fatalf("Hash() error = %v", err)
	}
	if err := h.Verify(ctx, encoded, b); err != auth.ErrPasswordMismatch {
		t.Errorf("Verify(100-byte password differing in the last byte) = %v; want ErrPasswordMismatch", err)
	}
	if err := h.Verify(ctx, encoded, a); err != nil {
		t.Errorf("Verify(same password) = %v; want nil", err)
	}
}

// call records one argon2id derivation.
type call struct {
	time, memory uint32
	threads      uint8
	saltLen      int
	keyLen       uint32
}

// recordCalls makes h record its derivations (and still compute them).
func recordCalls(h *auth.Hasher) func() []call {
	var mu sync.Mutex
	var calls []call
	auth.SetKeyFunc(h, func(password, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte {
		mu.Lock()
		calls = append(calls, call{time, memory, threads, len(salt), keyLen})
		mu.Unlock()
		return argon2.IDKey(password, salt, time, memory, threads, keyLen)
	})
	return func() []call {
		mu.Lock()
		defer mu.Unlock()
		return append([]call(nil), calls...)
	}
}

func TestHasherUnknownUser(t *testing.T) {
	ctx := context.Background()
	p := auth.Params{Memory: 128, Iterations: 2, Parallelism: 2, SaltLen: 24, KeyLen: 48}
	h, err := auth.NewHasher(auth.WithParams(p))
	if err != nil {
		t.Fatalf("NewHasher() error = %v", err)
	}
	calls := recordCalls(h)
	for _, pw := range []string{"", "password", "anything at all"} {
		if err := h.Verify(ctx, "", pw); err != auth.ErrPasswordMismatch {
			t.Errorf("Verify(\"\", %q) = %v; want ErrPasswordMismatch", pw, err)
		}
	}
	// Unknown users cost what known ones do: one derivation with the
	// hasher's own parameters each time.
	encoded, err := h.Hash(ctx, "password")
	if err != nil {
		t.Fatalf("Hash() error = %v", err)
	}
	if err := h.Verify(ctx, encoded, "wrong"); err != auth.ErrPasswordMismatch {
		t.Errorf("Verify(wrong) = %v; want ErrPasswordMismatch", err)
	}
	want := call{time: 2, memory: 128, threads: 2, saltLen: 24, keyLen: 48}
	got := calls()
	if len(got) != 5 {
		t.Fatalf("derivations = %d; want 5 (3 unknown-user verifies, 1 hash, 1 verify)", len(got))
	}
	for i, c := range got {
		if c != want {
			t.Errorf("derivation %d = %+v; want %+v", i, c, want)
		}
	}
}

func TestHasherVerifyOtherParams(t *testing.T) {
	ctx := context.Background()
	other := auth.Params{Memory: 256, Iterations: 3, Parallelism: 2, SaltLen: 32, KeyLen: 64}
	ho, err := auth.NewHasher(auth.WithParams(other))
	if err != nil {
		t.Fatalf("NewHasher() error = %v", err)
	}
	h := newCheapHasher(t)
	encoded, err := ho.Hash(ctx, "s3cret")
	if err != nil {
		t.Fatalf("Hash() error = %v", err)
	}
	if want := "$argon2id$v=19$m=256,t=3,p=2$"; !strings.HasPrefix(encoded, want) {
		t.Errorf("Hash() = %q; want prefix %q", encoded, want)
	}
	if err := h.Verify(ctx, encoded, "s3cret"); err != nil {
		t.Errorf("Verify(hash with other params, right password) = %v; want nil", err)
	}
	if err := h.Verify(ctx, encoded, "s3cret!"); err != auth.ErrPasswordMismatch {
		t.Errorf("Verify(hash with other params, wrong password) = %v; want ErrPasswordMismatch", err)
	}
	if !h.NeedsRehash(encoded) {
		t.Errorf("NeedsRehash(other params) = false; want true")
	}
	if ho.NeedsRehash(encoded) {
		t.Errorf("NeedsRehash(own params) = true; want false")
	}
}

// Hashes written by other argon2id implementations verify. The first is a
// test vector of the reference implementation (phc-winner-argon2, test.c).
func TestHasherVerifyReferenceVectors(t *testing.T) {
	ctx := context.Background()
	h := newCheapHasher(t)
	for _, encoded := range []string{
		"$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
		"$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
	} {
		if err := h.Verify(ctx, encoded, "password"); err != nil {
			t.Errorf("Verify(%q, \"password\") = %v; want nil", encoded, err)
		}
		if err := h.Verify(ctx, encoded, "Password"); err != auth.ErrPasswordMismatch {
			t.Errorf("Verify(%q, \"Password\") = %v; want ErrPasswordMismatch", encoded, err)
		}
	}
}

func TestHasherVerifyMalformed(t *testing.T) {
	ctx := context.Background()
	h := newCheapHasher(t)
	const (
		salt = "c29tZXNhbHRzb21lc2FsdA"                      // 16 bytes
		key  = "nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4" // 32 bytes
	)
	valid := "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key
	if err := h.Verify(ctx, valid, "x"); err != auth.ErrPasswordMismatch {
		t.Fatalf("Verify(well-formed hash) = %v; want ErrPasswordMismatch", err)
	}
	tests := []struct{ name, encoded string }{
		{"garbage", "not a hash"},
		{"space", " "},
		{"bcrypt", "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW"},
		{"argon2i", "$argon2i$v=19$m=64,t=1,p=1$" + salt + "$" + key},
		{"argon2d", "$argon2d$v=19$m=64,t=1,p=1$" + salt + "$" + key},
		{"upper case", "$ARGON2ID$v=19$m=64,t=1,p=1$" + salt + "$" + key},
		{"version 16", "$argon2id$v=16$m=64,t=1,p=1$" + salt + "$" + key},
		{"no version", "$argon2id$m=64,t=1,p=1$" + salt + "$" + key},
		{"no params", "$argon2id$v=19$" + salt + "$" + key},
		{"params reordered", "$argon2id$v=19$t=1,m=64,p=1$" + salt + "$" + key},
		{"extra param", "$argon2id$v=19$m=64,t=1,p=1,keyid=abc$" + salt + "$" + key},
		{"leading zero", "$argon2id$v=19$m=064,t=1,p=1$" + salt + "$" + key},
		{"plus sign", "$argon2id$v=19$m=+64,t=1,p=1$" + salt + "$" + key},
		{"negative", "$argon2id$v=19$m=64,t=-1,p=1$" + salt + "$" + key},
		{"empty number", "$argon2id$v=19$m=,t=1,p=1$" + salt + "$" + key},
		{"spaces", "$argon2id$v=19$m=64, t=1, p=1$" + salt + "$" + key},
		{"overflow", "$argon2id$v=19$m=99999999999,t=1,p=1$" + salt + "$" + key},
		{"t=0", "$argon2id$v=19$m=64,t=0,p=1$" + salt + "$" + key},
		{"p=0", "$argon2id$v=19$m=64,t=1,p=0$" + salt + "$" + key},
		{"m below 8p", "$argon2id$v=19$m=15,t=1,p=2$" + salt + "$" + key},
		{"m above cap", "$argon2id$v=19$m=65537,t=1,p=1$" + salt + "$" + key},
		{"m absurd", "$argon2id$v=19$m=4294967295,t=1,p=1$" + salt + "$" + key},
		{"t above cap", "$argon2id$v=19$m=64,t=17,p=1$" + salt + "$" + key},
		{"p above cap", "$argon2id$v=19$m=1024,t=1,p=17$" + salt + "$" + key},
		{"p above uint8", "$argon2id$v=19$m=4096,t=1,p=256$" + salt + "$" + key},
		{"no hash", "$argon2id$v=19$m=64,t=1,p=1$" + salt},
		{"empty hash", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$"},
		{"empty salt", "$argon2id$v=19$m=64,t=1,p=1$$" + key},
		{"extra segment", valid + "$"},
		{"extra segment with data", valid + "$abc"},
		{"padded salt", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "==$" + key},
		{"padded hash", valid + "="},
		{"url alphabet", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + strings.ReplaceAll(key, "/", "_")},
		{"non-canonical trailing bits", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key[:len(key)-1] + "5"},
		{"salt too short", "$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbA$" + key},
		{"hash too short", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$c29tZXNhbHRzb21lc2Fs"},
		{"hash too long", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + strings.Repeat("A", 176)},
		{"too long", valid + strings.Repeat("A", 600)},
		{"trailing newline", valid + "\n"},
		{"leading space", " " + valid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := h.Verify(ctx, tt.encoded, "x")
			if !errors.Is(err, auth.ErrInvalidHash) {
				t.Errorf("Verify(%q) = %v; want an error wrapping ErrInvalidHash", tt.encoded, err)
			}
			if err != nil && strings.Contains(err.Error(), tt.encoded) && tt.encoded != " " {
				t.Errorf("Verify() error %q quotes the stored hash", err)
			}
			if !h.NeedsRehash(tt.encoded) {
				t.Errorf("NeedsRehash(%q) = false; want true", tt.encoded)
			}
		})
	}
}

func TestHasherNeedsRehash(t *testing.T) {
	ctx := context.Background()
	h := newCheapHasher(t)
	tests := []struct {
		name   string
		params auth.Params
		want   bool
	}{
		{"same", cheapParams, false},
		{"memory", auth.Params{Memory: 128, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}, true},
		{"iterations", auth.Params{Memory: 64, Iterations: 2, Parallelism: 1, SaltLen: 16, KeyLen: 32}, true},
		{"parallelism", auth.Params{Memory: 64, Iterations: 1, Parallelism: 2, SaltLen: 16, KeyLen: 32}, true},
		{"salt length", auth.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLen: 32, KeyLen: 32}, true},
		{"key length", auth.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 16}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hp, err := auth.NewHasher(auth.WithParams(tt.params))
			if err != nil {
				t.Fatalf("NewHasher() error = %v", err)
			}
			encoded, err := hp.Hash(ctx, "pw")
			if err != nil {
				t.Fatalf("Hash() error = %v", err)
			}
			if got := h.NeedsRehash(encoded); got != tt.want {
				t.Errorf("NeedsRehash(%q) = %v; want %v", encoded, got, tt.want)
			}
		})
	}
	if !h.NeedsRehash("") {
		t.Errorf("NeedsRehash(\"\") = false; want true")
	}
}

func TestDefaultParams(t *testing.T) {
	want := auth.Params{Memory: 19456, Iterations: 2, Parallelism: 1, SaltLen: 16, KeyLen: 32}
	if got := auth.DefaultParams(); got != want {
		t.Errorf("DefaultParams() = %+v; want %+v", got, want)
	}
	ctx := context.Background()
	h, err := auth.NewHasher()
	if err != nil {
		t.Fatalf("NewHasher() error = %v", err)
	}
	encoded, err := h.Hash(ctx, "hunter2hunter2")
	if err != nil {
		t.Fatalf("Hash() error = %v", err)
	}
	if want := "$argon2id$v=19$m=19456,t=2,p=1$"; !strings.HasPrefix(encoded, want) {
		t.Errorf("Hash() = %q; want prefix %q", encoded, want)
	}
	if err := h.Verify(ctx, encoded, "hunter2hunter2"); err != nil {
		t.Errorf("Verify() = %v; want nil", err)
	}
	if h.NeedsRehash(encoded) {
		t.Errorf("NeedsRehash(own hash) = true; want false")
	}
}

func TestNewHasherOptions(t *testing.T) {
	tests := []struct {
		name    string
		opts    []auth.HasherOption
		wantErr bool
	}{
		{"defaults", nil, false},
		{"cheap", []auth.HasherOption{auth.WithParams(cheapParams)}, false},
		{"argon2 minimum memory", []auth.HasherOption{auth.WithParams(auth.Params{Memory: 32, Iterations: 1, Parallelism: 4, SaltLen: 16, KeyLen: 16})}, false},
		{"max concurrent 1", []auth.HasherOption{auth.WithMaxConcurrent(1)}, false},
		{"zero params", []auth.HasherOption{auth.WithParams(auth.Params{})}, true},
		{"memory below 8p", []auth.HasherOption{auth.WithParams(auth.Params{Memory: 31, Iterations: 1, Parallelism: 4, SaltLen: 16, KeyLen: 32})}, true},
		{"memory absurd", []auth.HasherOption{auth.WithParams(auth.Params{Memory: 8 << 20, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32})}, true},
		{"iterations 0", []auth.HasherOption{auth.WithParams(auth.Params{Memory: 64, Iterations: 0, Parallelism: 1, SaltLen: 16, KeyLen: 32})}, true},
		{"iterations absurd", []auth.HasherOption{auth.WithParams(auth.Params{Memory: 64, Iterations: 1000, Parallelism: 1, SaltLen: 16, KeyLen: 32})}, true},
		{"parallelism 0", []auth.HasherOption{auth.WithParams(auth.Params{Memory: 64, Iterations: 1, Parallelism: 0, SaltLen: 16, KeyLen: 32})}, true},
		{"parallelism absurd", []auth.HasherOption{auth.WithParams(auth.Params{Memory: 4096, Iterations: 1, Parallelism: 200, SaltLen: 16, KeyLen: 32})}, true},
		{"salt short", []auth.HasherOption{auth.WithParams(auth.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLen: 8, KeyLen: 32})}, true},
		{"salt long", []auth.HasherOption{auth.WithParams(auth.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLen: 65, KeyLen: 32})}, true},
		{"key short", []auth.HasherOption{auth.WithParams(auth.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 8})}, true},
		{"key long", []auth.HasherOption{auth.WithParams(auth.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 129})}, true},
		{"max concurrent 0", []auth.HasherOption{auth.WithMaxConcurrent(0)}, true},
		{"max concurrent negative", []auth.HasherOption{auth.WithMaxConcurrent(-1)}, true},
		{"nil option", []auth.HasherOption{auth.WithMaxConcurrent(1), nil}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := auth.NewHasher(tt.opts...)
			if gotErr := err != nil; gotErr != tt.wantErr || (h == nil) != tt.wantErr {
				t.Errorf("NewHasher() = %v, %v; want error %v", h, err, tt.wantErr)
			}
			if err != nil && !strings.HasPrefix(err.Error(), "auth: ") {
				t.Errorf("NewHasher() error %q; want prefix \"auth: \"", err)
			}
			if err != nil && !errors.Is(err, auth.ErrInvalidConfig) {
				t.Errorf("NewHasher() error %v does not wrap ErrInvalidConfig", err)
			}
		})
	}
}

// signalCtx reports, by closing asked, that its Done channel was asked for:
// the caller has reached the point where it waits.
type signalCtx struct {
	context.Context
	once  sync.Once
	asked chan struct{}
}

func (c *signalCtx) Done() <-chan struct{} {
	c.once.Do(func() { close(c.asked) })
	return c.Context.Done()
}

func TestHasherConcurrencyCap(t *testing.T) {
	h := newCheapHasher(t, auth.WithMaxConcurrent(1))
	entered := make(chan struct{}, 2)
	release := make(chan struct{})
	auth.SetKeyFunc(h, func(password, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte {
		entered <- struct{}{}
		<-release
		return argon2.IDKey(password, salt, time, memory, threads, keyLen)
	})

	// The first hash takes the only slot and holds it until release.
	first := make(chan error, 1)
	go func() {
		_, err := h.Hash(context.Background(), "first")
		first <- err
	}()
	<-entered

	// A second caller must wait; cancelling its context ends the wait.
	cctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ctx := &signalCtx{Context: cctx, asked: make(chan struct{})}
	second := make(chan error, 1)
	go func() { second <- h.Verify(ctx, "", "second") }()
	<-ctx.asked
	cancel()
	if err := <-second; !errors.Is(err, context.Canceled) {
		t.Errorf("Verify() while the only slot is taken, ctx cancelled = %v; want context.Canceled", err)
	}
	// An already-cancelled caller does not wait either.
	if _, err := h.Hash(cctx, "third"); !errors.Is(err, context.Canceled) {
		t.Errorf("Hash(cancelled ctx) = %v; want context.Canceled", err)
	}
	if n := len(entered); n != 0 {
		t.Errorf("%d more derivations started while the only slot was taken; want 0", n)
	}

	close(release)
	if err := <-first; err != nil {
		t.Errorf("first Hash() = %v; want nil", err)
	}
	// The slot is free again: waiting callers released nothing they did not take.
	if _, err := h.Hash(context.Background(), "fourth"); err != nil {
		t.Errorf("Hash() after release = %v; want nil", err)
	}
}

func TestHasherCancelledContext(t *testing.T) {
	h := newCheapHasher(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.Hash(ctx, "pw"); !errors.Is(err, context.Canceled) {
		t.Errorf("Hash(cancelled) = %v; want context.Canceled", err)
	}
	if err := h.Verify(ctx, "", "pw"); !errors.Is(err, context.Canceled) {
		t.Errorf("Verify(cancelled) = %v; want context.Canceled", err)
	}
}

func TestHasherConcurrentUse(t *testing.T) {
	ctx := context.Background()
	h := newCheapHasher(t, auth.WithMaxConcurrent(2))
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			pw := strings.Repeat("x", i+1)
			encoded, err := h.Hash(ctx, pw)
			if err != nil {
				t.Errorf("Hash() error = %v", err)
				return
			}
			if err := h.Verify(ctx, encoded, pw); err != nil {
				t.Errorf("Verify() = %v; want nil", err)
			}
			if err := h.Verify(ctx, "", pw); err != auth.ErrPasswordMismatch {
				t.Errorf("Verify(unknown user) = %v; want ErrPasswordMismatch", err)
			}
		})
	}
	wg.Wait()
}

// TestHasherFlood sends 200 concurrent password checks to a hasher that
// may run 2 at once: no more than 2 derivations ever run together, and
// every caller gets its answer (the queue is sized to hold them all; see
// TestHasherQueueFull for a full one). The first two derivations wait for
// each other, so the peak of 2 is reached whatever the scheduling.
func TestHasherFlood(t *testing.T) {
	const maxConcurrent, callers = 2, 200
	ctx := context.Background()
	h := newCheapHasher(t, auth.WithMaxConcurrent(maxConcurrent), auth.WithMaxQueue(callers))
	encoded, err := h.Hash(ctx, "right")
	if err != nil {
		t.Fatalf("Hash() error = %v", err)
	}
	var inFlight, peak, calls atomic.Int64
	bothIn := make(chan struct{})
	auth.SetKeyFunc(h, func(password, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		switch calls.Add(1) {
		case maxConcurrent:
			close(bothIn)
		case 1:
			<-bothIn
		}
		for range 3 {
			runtime.Gosched() // let the others try to get in
		}
		return argon2.IDKey(password, salt, time, memory, threads, keyLen)
	})

	var wg sync.WaitGroup
	var mismatches, matches atomic.Int64
	for i := range callers {
		wg.Go(func() {
			var err error
			switch i % 3 {
			case 0:
				err = h.Verify(ctx, encoded, "right")
			case 1:
				err = h.Verify(ctx, encoded, "wrong")
			default:
				err = h.Verify(ctx, "", "unknown user")
			}
			switch {
			case err == nil:
				matches.Add(1)
			case errors.Is(err, auth.ErrPasswordMismatch):
				mismatches.Add(1)
			default:
				t.Errorf("Verify() = %v; want nil or ErrPasswordMismatch", err)
			}
		})
	}
	wg.Wait()
	if got := peak.Load(); got != maxConcurrent {
		t.Errorf("peak derivations in flight = %d; want exactly %d", got, maxConcurrent)
	}
	if got := calls.Load(); got != callers {
		t.Errorf("derivations = %d; want %d", got, callers)
	}
	if got, want := matches.Load(), int64((callers+2)/3); got != want {
		t.Errorf("matches = %d; want %d", got, want)
	}
	if got, want := mismatches.Load(), int64(callers-(callers+2)/3); got != want {
		t.Errorf("mismatches = %d; want %d", got, want)
	}
}

func FuzzVerifyHash(f *testing.F) {
	ctx := context.Background()
	h := newCheapHasher(f)
	valid, err := h.Hash(ctx, "password")
	if err != nil {
		f.Fatalf("Hash() error = %v", err)
	}
	f.Add(valid, "password")
	f.Add(valid, "wrong")
	f.Add("", "password")
	f.Add("$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4", "password")
	f.Add("$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4", "password")
	f.Add("$argon2id$v=19$m=0,t=0,p=0$$", "")
	f.Add("$argon2id$v=19$m=4294967295,t=4294967295,p=255$AAAA$AAAA", "x")
	f.Add("$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ=$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4=", "x")
	f.Add("$argon2i$v=19$m=65536,t=2,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG", "password")
	f.Add("$$$$$$", "")
	f.Add("$argon2id$v=19$m=01,t=1,p=1$x$y", "")

	f.Fuzz(func(t *testing.T, encoded, password string) {
		p, salt, key, perr := auth.DecodeHash(h, encoded)
		if perr != nil {
			if !errors.Is(perr, auth.ErrInvalidHash) {
				t.Fatalf("DecodeHash() error = %v; want it to wrap ErrInvalidHash", perr)
			}
			if encoded == "" {
				return // the unknown-user path, tested elsewhere
			}
			if err := h.Verify(ctx, encoded, password); !errors.Is(err, auth.ErrInvalidHash) {
				t.Fatalf("Verify(unparsable) = %v; want an error wrapping ErrInvalidHash", err)
			}
			if !h.NeedsRehash(encoded) {
				t.Fatalf("NeedsRehash(unparsable) = false; want true")
			}
			return
		}
		// The parser accepts only the canonical form.
		if got := auth.EncodeHash(p, salt, key); got != encoded {
			t.Fatalf("EncodeHash(DecodeHash(%q)) = %q; want the input back", encoded, got)
		}
		if p.Memory > 64<<10 || p.Iterations > 16 || p.Parallelism > 16 || len(salt) > 64 || len(key) > 128 {
			t.Fatalf("DecodeHash(%q) accepted params %+v beyond the caps", encoded, p)
		}
		if uint64(p.Memory)*uint64(p.Iterations) > 4096 {
			return // valid but too slow to derive on every fuzz input
		}
		err := h.Verify(ctx, encoded, password)
		if err != nil && err != auth.ErrPasswordMismatch {
			t.Fatalf("Verify(parsable) = %v; want nil or ErrPasswordMismatch", err)
		}
	})
}

func BenchmarkHashDefault(b *testing.B) {
	ctx := context.Background()
	h, err := auth.NewHasher()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Hash(ctx, "correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyPasswordDefault is the cost of a login (and of a login
// attempt for an unknown user).
func BenchmarkVerifyPasswordDefault(b *testing.B) {
	ctx := context.Background()
	h, err := auth.NewHasher()
	if err != nil {
		b.Fatal(err)
	}
	encoded, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct{ name, encoded string }{{"known", encoded}, {"unknown", ""}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = h.Verify(ctx, bc.encoded, "correct horse battery staple")
			}
		})
	}
}

// BenchmarkLoginFlood is a login flood against a hasher with the default
// parameters and concurrency cap: 16 callers per core (GOMAXPROCS) check
// passwords at once (known users with wrong passwords, and unknown
// users), as a server would under attack. It reports logins/s/core, the
// throughput one core sustains, and the peak number of derivations that
// ran at once (never above the cap).
func BenchmarkLoginFlood(b *testing.B) {
	ctx := context.Background()
	h, err := auth.NewHasher()
	if err != nil {
		b.Fatal(err)
	}
	encoded, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		b.Fatal(err)
	}
	var inFlight, peak atomic.Int64
	auth.SetKeyFunc(h, func(password, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		return argon2.IDKey(password, salt, time, memory, threads, keyLen)
	})
	var caller atomic.Int64
	b.SetParallelism(16)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		stored := encoded
		if caller.Add(1)%2 == 0 {
			stored = "" // unknown user
		}
		for pb.Next() {
			if err := h.Verify(ctx, stored, "Tr0ub4dor&3"); err != auth.ErrPasswordMismatch {
				b.Errorf("Verify() = %v; want ErrPasswordMismatch", err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds()/float64(runtime.GOMAXPROCS(0)), "logins/s/core")
	b.ReportMetric(float64(peak.Load()), "peak-in-flight")
}
