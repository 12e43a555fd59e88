package auth_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/argon2"

	"github.com/tenantkit/tenantkit/auth"
)

// gatedHasher is a cheap hasher whose derivations block until released,
// and which reports each caller that starts waiting for a slot.
type gatedHasher struct {
	*auth.Hasher
	entered chan string   // the password of each derivation, as it starts
	gate    chan struct{} // one receive lets one derivation finish
	queued  chan string   // "verify" or "hash", as a caller starts waiting
}

func newGatedHasher(t *testing.T, opts ...auth.HasherOption) *gatedHasher {
	t.Helper()
	g := &gatedHasher{
		Hasher:  newCheapHasher(t, opts...),
		entered: make(chan string, 64),
		gate:    make(chan struct{}),
		queued:  make(chan string, 64),
	}
	auth.SetKeyFunc(g.Hasher, func(password, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte {
		g.entered <- string(password)
		<-g.gate
		return argon2.IDKey(password, salt, time, memory, threads, keyLen)
	})
	auth.SetWaitHook(g.Hasher, func(class string) { g.queued <- class })
	return g
}

// TestHasherQueueFull: with the one slot taken and the queue of Verify
// calls full, another Verify gets ErrBusy at once, and so does a Hash once
// its own queue is full; the waiting callers are served afterwards.
func TestHasherQueueFull(t *testing.T) {
	ctx := context.Background()
	g := newGatedHasher(t, auth.WithMaxConcurrent(1), auth.WithMaxQueue(2))
	stored, err := newCheapHasher(t).Hash(ctx, "stored password")
	if err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	errs := make(chan error, 8)
	wg.Go(func() { _, err := g.Hash(ctx, "holder"); errs <- err })
	if got := <-g.entered; got != "holder" {
		t.Fatalf("first derivation = %q; want holder", got)
	}
	for range 2 {
		wg.Go(func() { errs <- g.Verify(ctx, stored, "wrong") })
		if c := <-g.queued; c != "verify" {
			t.Fatalf("queued %q; want verify", c)
		}
	}
	if err := g.Verify(ctx, stored, "wrong"); !errors.Is(err, auth.ErrBusy) {
		t.Errorf("Verify with the queue full = %v; want ErrBusy", err)
	}
	// The Hash queue is separate: two may still wait.
	for range 2 {
		wg.Go(func() { _, err := g.Hash(ctx, "registration"); errs <- err })
		if c := <-g.queued; c != "hash" {
			t.Fatalf("queued %q; want hash", c)
		}
	}
	if _, err := g.Hash(ctx, "registration"); !errors.Is(err, auth.ErrBusy) {
		t.Errorf("Hash with its queue full = %v; want ErrBusy", err)
	}
	if v, h := auth.Waiting(g.Hasher); v != 2 || h != 2 {
		t.Errorf("waiting = %d Verify, %d Hash; want 2 and 2", v, h)
	}
	// Let everyone through: all five calls end without ErrBusy.
	g.gate <- struct{}{}
	for range 4 {
		<-g.entered
		g.gate <- struct{}{}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil && !errors.Is(err, auth.ErrPasswordMismatch) {
			t.Errorf("queued call = %v; want nil or ErrPasswordMismatch", err)
		}
	}
}

// TestHasherLoginsFirst: when the slot frees up, waiting Verify calls
// (logins) are served before Hash calls (registrations) that queued
// earlier.
func TestHasherLoginsFirst(t *testing.T) {
	ctx := context.Background()
	g := newGatedHasher(t, auth.WithMaxConcurrent(1))
	var wg sync.WaitGroup
	wg.Go(func() { _, _ = g.Hash(ctx, "holder") })
	<-g.entered
	for _, pw := range []string{"register-1", "register-2"} {
		wg.Go(func() { _, _ = g.Hash(ctx, pw) })
		<-g.queued
	}
	for _, pw := range []string{"login-1", "login-2"} {
		wg.Go(func() { _ = g.Verify(ctx, "", pw) })
		<-g.queued
	}
	var order []string
	for range 4 {
		g.gate <- struct{}{}
		order = append(order, <-g.entered)
	}
	g.gate <- struct{}{}
	wg.Wait()
	want := []string{"login-1", "login-2", "register-1", "register-2"}
	if strings.Join(order, ",") != strings.Join(want, ",") {
		t.Errorf("served %v; want %v", order, want)
	}
}

// TestHasherRefusesBeforeWaiting: passwords over the maximum and invalid
// UTF-8 are refused even when no slot could be had: nothing is derived and
// nothing waits.
func TestHasherRefusesBeforeWaiting(t *testing.T) {
	ctx := context.Background()
	g := newGatedHasher(t, auth.WithMaxConcurrent(1), auth.WithMaxQueue(0))
	done := make(chan struct{})
	go func() { defer close(done); _, _ = g.Hash(ctx, "holder") }()
	<-g.entered

	long := strings.Repeat("é", auth.DefaultMaxPasswordLen+1)
	huge := strings.Repeat("x", 1<<20)
	for name, pw := range map[string]string{"257 characters": long, "1 MiB": huge, "invalid UTF-8": "password\xff\xfe"} {
		if _, err := g.Hash(ctx, pw); !errors.Is(err, auth.ErrInvalidPassword) {
			t.Errorf("Hash(%s) = %v; want ErrInvalidPassword", name, err)
		}
		if err := g.CheckPassword(pw); !errors.Is(err, auth.ErrInvalidPassword) {
			t.Errorf("CheckPassword(%s) = %v; want ErrInvalidPassword", name, err)
		}
	}
	for name, pw := range map[string]string{"257 characters": long, "1 MiB": huge} {
		if err := g.Verify(ctx, "", pw); err != auth.ErrPasswordMismatch {
			t.Errorf("Verify(%s) = %v; want ErrPasswordMismatch", name, err)
		}
	}
	// 256 characters of up to 4 bytes each are fine (only ErrBusy here).
	ok := strings.Repeat("😀", auth.DefaultMaxPasswordLen)
	if err := g.CheckPassword(ok); err != nil {
		t.Errorf("CheckPassword(256 emoji) = %v; want nil", err)
	}
	if _, err := g.Hash(ctx, ok); !errors.Is(err, auth.ErrBusy) {
		t.Errorf("Hash(256 emoji) with no slot and no queue = %v; want ErrBusy", err)
	}
	g.gate <- struct{}{}
	<-done
	select {
	case pw := <-g.entered:
		t.Errorf("derived %.20q; want no derivation besides the holder's", pw)
	default:
	}
}

// TestHasherQueueCancel: a caller whose context ends while it waits
// leaves the queue, making room for another.
func TestHasherQueueCancel(t *testing.T) {
	g := newGatedHasher(t, auth.WithMaxConcurrent(1), auth.WithMaxQueue(1))
	done := make(chan struct{})
	go func() { defer close(done); _, _ = g.Hash(context.Background(), "holder") }()
	<-g.entered

	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- g.Verify(ctx, "", "waiting") }()
	<-g.queued
	if err := g.Verify(context.Background(), "", "x"); !errors.Is(err, auth.ErrBusy) {
		t.Fatalf("Verify with the queue full = %v; want ErrBusy", err)
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Verify = %v; want context.Canceled", err)
	}
	if v, _ := auth.Waiting(g.Hasher); v != 0 {
		t.Errorf("%d Verify calls still waiting; want 0", v)
	}
	// The slot is still the holder's; the freed place in the queue takes
	// a new caller, which gets the slot after the holder.
	errc2 := make(chan error, 1)
	go func() { errc2 <- g.Verify(context.Background(), "", "next") }()
	<-g.queued
	g.gate <- struct{}{}
	<-done
	if pw := <-g.entered; pw != "next" {
		t.Errorf("derived %q; want next", pw)
	}
	g.gate <- struct{}{}
	if err := <-errc2; err != auth.ErrPasswordMismatch {
		t.Errorf("Verify(unknown user) = %v; want ErrPasswordMismatch", err)
	}
}

func TestHasherQueueOptions(t *testing.T) {
	for _, tt := range []struct {
		name string
		opt  auth.HasherOption
		ok   bool
	}{
		{"queue 0", auth.WithMaxQueue(0), true},
		{"queue -1", auth.WithMaxQueue(-1), false},
		{"queue huge", auth.WithMaxQueue(1<<20 + 1), false},
		{"max len 64", auth.WithMaxPasswordLen(64), true},
		{"max len 63", auth.WithMaxPasswordLen(63), false},
		{"max len huge", auth.WithMaxPasswordLen(1<<16 + 1), false},
	} {
		_, err := auth.NewHasher(tt.opt)
		if (err == nil) != tt.ok {
			t.Errorf("%s: NewHasher error = %v; want ok %v", tt.name, err, tt.ok)
		}
	}
	h := newCheapHasher(t, auth.WithMaxPasswordLen(1000))
	pw := strings.Repeat("x", 1000)
	enc, err := h.Hash(context.Background(), pw)
	if err != nil {
		t.Fatalf("Hash(1000 characters) with WithMaxPasswordLen(1000) = %v", err)
	}
	if err := h.Verify(context.Background(), enc, pw); err != nil {
		t.Errorf("Verify = %v; want nil", err)
	}
}
