package auth_test

import (
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tenantkit/tenantkit/auth"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) now() time.Time          { return testNow.Add(time.Duration(c.ns.Load())) }
func (c *fakeClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

func newThrottle(t testing.TB, opts ...auth.ThrottleOption) (*auth.Throttle, *fakeClock) {
	t.Helper()
	c := &fakeClock{}
	th, err := auth.NewThrottle(append([]auth.ThrottleOption{auth.WithNow(c.now)}, opts...)...)
	if err != nil {
		t.Fatalf("NewThrottle() error = %v", err)
	}
	return th, c
}

// attempt is a login attempt: Allow, then Fail or Succeed if let through.
func attempt(th *auth.Throttle, key string, ok bool) (allowed bool, retryAfter time.Duration) {
	allowed, retryAfter = th.Allow(key)
	if allowed {
		if ok {
			th.Succeed(key)
		} else {
			th.Fail(key)
		}
	}
	return allowed, retryAfter
}

func TestThrottleBurstAndRefill(t *testing.T) {
	th, clk := newThrottle(t, auth.WithBurst(3), auth.WithRefill(10*time.Second))
	const key = "core|alice@example.com"
	steps := []struct {
		name      string
		advance   time.Duration
		wantOK    bool
		wantRetry time.Duration
	}{
		{"failure 1", 0, true, 0},
		{"failure 2", 0, true, 0},
		{"failure 3", 0, true, 0},
		{"burst used up", 0, false, 10 * time.Second},
		{"still refused", 4 * time.Second, false, 6 * time.Second},
		{"just before refill", 6*time.Second - 1, false, 1},
		{"one attempt back", 1, true, 0},
		{"and used", 0, false, 10 * time.Second},
		{"two more back after 20s", 20 * time.Second, true, 0},
		{"second of them", 0, true, 0},
		{"refused again", 0, false, 10 * time.Second},
		{"full after 30s: burst again", 30 * time.Second, true, 0},
		{"2", 0, true, 0},
		{"3", 0, true, 0},
		{"4 refused", 0, false, 10 * time.Second},
	}
	for _, s := range steps {
		clk.advance(s.advance)
		ok, retry := attempt(th, key, false)
		if ok != s.wantOK || retry != s.wantRetry {
			t.Fatalf("%s: Allow() = %v, %v; want %v, %v", s.name, ok, retry, s.wantOK, s.wantRetry)
		}
	}
}

func TestThrottleRefusedAttemptsDoNotCount(t *testing.T) {
	th, clk := newThrottle(t, auth.WithBurst(1), auth.WithRefill(time.Minute))
	attempt(th, "k", false)
	for range 1000 { // a client hammering while refused
		if ok, _ := th.Allow("k"); ok {
			t.Fatal("Allow() = true while the burst is used up")
		}
	}
	clk.advance(time.Minute)
	if ok, retry := th.Allow("k"); !ok {
		t.Errorf("Allow() after one interval = false, %v; want true: refused attempts must not extend the wait", retry)
	}
}

func TestThrottleSuccessesDoNotCount(t *testing.T) {
	th, _ := newThrottle(t, auth.WithBurst(2), auth.WithRefill(time.Hour))
	for i := range 100 {
		if ok, retry := attempt(th, "k", true); !ok {
			t.Fatalf("successful attempt %d: Allow() = false, %v; want true", i, retry)
		}
	}
	if n := th.Len(); n != 0 {
		t.Errorf("Len() after successes only = %d; want 0", n)
	}
	// Succeed gives back this attempt only: earlier failures still count
	// (a client address must not be cleared by one valid login).
	attempt(th, "ip|192.0.2.1", false)
	attempt(th, "ip|192.0.2.1", true)
	attempt(th, "ip|192.0.2.1", false)
	if ok, _ := th.Allow("ip|192.0.2.1"); ok {
		t.Errorf("Allow() after fail, success, fail with burst 2 = true; want false")
	}
	// Reset forgets them all.
	th.Reset("ip|192.0.2.1")
	if ok, _ := th.Allow("ip|192.0.2.1"); !ok {
		t.Errorf("Allow() after Reset = false; want true")
	}
	// Succeed and Reset on keys never seen do nothing.
	th.Succeed("never seen")
	th.Reset("never seen either")
	th.Succeed("ip|192.0.2.1")
	if n := th.Len(); n != 0 {
		t.Errorf("Len() = %d; want 0", n)
	}
}

// TestThrottleConcurrentAttempts: attempts on one key that all arrive
// before any has failed get through only up to the burst.
func TestThrottleConcurrentAttempts(t *testing.T) {
	th, _ := newThrottle(t, auth.WithBurst(5), auth.WithRefill(time.Hour))
	var allowed atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 200 {
		wg.Go(func() {
			<-start
			if ok, _ := th.Allow("core|victim@example.com"); ok {
				allowed.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	if got := allowed.Load(); got != 5 {
		t.Errorf("concurrent Allow() let %d through; want 5 (the burst)", got)
	}
	// The five then fail: no extra charge.
	for range 5 {
		th.Fail("core|victim@example.com")
	}
	if ok, retry := th.Allow("core|victim@example.com"); ok || retry != time.Hour {
		t.Errorf("Allow() = %v, %v; want false, 1h", ok, retry)
	}
}

// TestThrottleUnsettledAttemptsCount: an attempt Allow let through that is
// never confirmed either way (a crashed handler) counts as a failure.
func TestThrottleUnsettledAttemptsCount(t *testing.T) {
	th, clk := newThrottle(t, auth.WithBurst(3), auth.WithRefill(time.Minute))
	for range 3 {
		th.Allow("k")
	}
	if ok, _ := th.Allow("k"); ok {
		t.Errorf("Allow() after 3 unsettled attempts with burst 3 = true; want false")
	}
	clk.advance(3 * time.Minute)
	if ok, _ := attempt(th, "k", true); !ok {
		t.Errorf("Allow() once refilled = false; want true")
	}
}

func TestThrottleFailWithoutAllow(t *testing.T) {
	th, clk := newThrottle(t, auth.WithBurst(3), auth.WithRefill(time.Minute))
	for range 100 {
		th.Fail("k")
	}
	if ok, retry := th.Allow("k"); ok || retry != time.Minute {
		t.Errorf("Allow() after 100 failures = %v, %v; want false, 1m (never worse than an empty bucket)", ok, retry)
	}
	clk.advance(time.Minute)
	if ok, _ := th.Allow("k"); !ok {
		t.Errorf("Allow() one interval later = false; want true")
	}
}

func TestThrottleKeysAreIndependent(t *testing.T) {
	th, _ := newThrottle(t, auth.WithBurst(2), auth.WithRefill(time.Hour))
	const locked = "core|alice@example.com"
	for range 2 {
		attempt(th, locked, false)
	}
	if ok, _ := th.Allow(locked); ok {
		t.Fatalf("Allow(%q) = true; want false", locked)
	}
	for _, key := range []string{
		"core|bob@example.com", "tenant:42|alice@example.com", "tenant:4|2alice@example.com",
		"ip|192.0.2.1", "core|alice@example.com ", "core|ALICE@example.com", "", "core|alice@example.co",
	} {
		if ok, retry := th.Allow(key); !ok {
			t.Errorf("Allow(%q) = false, %v; want true: only %q is used up", key, retry, locked)
		}
	}
}

func TestThrottleClockGoesBack(t *testing.T) {
	th, clk := newThrottle(t, auth.WithBurst(1), auth.WithRefill(time.Minute))
	clk.advance(time.Hour)
	attempt(th, "k", false)
	clk.advance(-2 * time.Hour)
	if ok, retry := th.Allow("k"); ok || retry <= 0 {
		t.Errorf("Allow() after the clock went back = %v, %v; want false and a positive wait", ok, retry)
	}
}

func TestThrottleMemoryBound(t *testing.T) {
	const maxKeys = 10_000
	n := 1_000_000
	if raceEnabled {
		n = 200_000 // the race detector makes each call ~10 times slower
	}
	th, clk := newThrottle(t, auth.WithBurst(5), auth.WithRefill(time.Minute), auth.WithMaxKeys(maxKeys))
	// A victim's key, used up before the flood, is the last to be evicted:
	// the flood's keys are nearer to refilled.
	const victim = "core|victim@example.com"
	for range 5 {
		attempt(th, victim, false)
	}
	for i := range n {
		attempt(th, "ip|"+strconv.Itoa(i), false)
		if i%1000 == 0 {
			clk.advance(time.Millisecond) // a flood takes time
		}
		if i%50_000 == 0 {
			if got := th.Len(); got > maxKeys {
				t.Fatalf("Len() after %d keys = %d; want at most %d", i+1, got, maxKeys)
			}
		}
	}
	if got := th.Len(); got > maxKeys || got < maxKeys*9/10 {
		t.Errorf("Len() after %d keys = %d; want %d or a little less", n, got, maxKeys)
	}
	if ok, _ := th.Allow(victim); ok {
		t.Errorf("Allow(victim) after a flood of %d other keys = true; want false: the flood evicted a used-up key", n)
	}

	// Keys whose bucket has refilled are dropped as new keys come.
	clk.advance(5 * time.Minute)
	for i := range maxKeys {
		attempt(th, "fresh|"+strconv.Itoa(i), true)
	}
	for i := range 4 * maxKeys {
		th.Reset("other|" + strconv.Itoa(i))
	}
	attempt(th, "one more", false)
	if got := th.Len(); got > maxKeys {
		t.Errorf("Len() = %d; want at most %d", got, maxKeys)
	}
}

func TestThrottleNoGrowthWithoutFailures(t *testing.T) {
	th, _ := newThrottle(t, auth.WithBurst(1), auth.WithRefill(time.Hour), auth.WithMaxKeys(1000))
	n := 50_000
	if raceEnabled {
		n = 10_000
	}
	for i := range n {
		key := "core|user" + strconv.Itoa(i) + "@example.com"
		// Successful logins, refused attempts, resets: no state kept.
		if ok, _ := attempt(th, key, true); !ok {
			t.Fatalf("Allow(%q) = false; want true", key)
		}
		th.Reset(key)
		th.Succeed(key)
	}
	if got := th.Len(); got != 0 {
		t.Errorf("Len() after successes on %d keys = %d; want 0", n, got)
	}
	attempt(th, "locked", false)
	for range n {
		th.Allow("locked") // refused: nothing to add
	}
	if got := th.Len(); got != 1 {
		t.Errorf("Len() after refused attempts = %d; want 1", got)
	}
}

func TestThrottleConcurrentUse(t *testing.T) {
	th, clk := newThrottle(t, auth.WithBurst(3), auth.WithRefill(time.Second), auth.WithMaxKeys(64))
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				key := "k" + strconv.Itoa((g*7+i)%100)
				switch i % 5 {
				case 0:
					th.Reset(key)
				case 1:
					clk.advance(time.Millisecond)
				case 2:
					_ = th.Len()
				}
				attempt(th, key, i%3 == 0)
			}
		})
	}
	wg.Wait()
	if got := th.Len(); got > 64 {
		t.Errorf("Len() = %d; want at most 64", got)
	}
}

func TestNewThrottleOptions(t *testing.T) {
	tests := []struct {
		name    string
		opts    []auth.ThrottleOption
		wantErr bool
	}{
		{"defaults", nil, false},
		{"burst 1", []auth.ThrottleOption{auth.WithBurst(1)}, false},
		{"burst max", []auth.ThrottleOption{auth.WithBurst(10_000), auth.WithRefill(24 * time.Hour)}, false},
		{"refill 1ms", []auth.ThrottleOption{auth.WithRefill(time.Millisecond)}, false},
		{"one key", []auth.ThrottleOption{auth.WithMaxKeys(1)}, false},
		{"burst 0", []auth.ThrottleOption{auth.WithBurst(0)}, true},
		{"burst negative", []auth.ThrottleOption{auth.WithBurst(-1)}, true},
		{"burst huge", []auth.ThrottleOption{auth.WithBurst(10_001)}, true},
		{"refill 0", []auth.ThrottleOption{auth.WithRefill(0)}, true},
		{"refill negative", []auth.ThrottleOption{auth.WithRefill(-time.Second)}, true},
		{"refill below 1ms", []auth.ThrottleOption{auth.WithRefill(time.Microsecond)}, true},
		{"refill over a day", []auth.ThrottleOption{auth.WithRefill(25 * time.Hour)}, true},
		{"max keys 0", []auth.ThrottleOption{auth.WithMaxKeys(0)}, true},
		{"max keys huge", []auth.ThrottleOption{auth.WithMaxKeys(1 << 30)}, true},
		{"nil clock means the default", []auth.ThrottleOption{auth.WithNow(nil)}, false},
		{"nil option", []auth.ThrottleOption{auth.WithBurst(3), nil}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			th, err := auth.NewThrottle(tt.opts...)
			if (err != nil) != tt.wantErr || (th == nil) != tt.wantErr {
				t.Errorf("NewThrottle() = %v, %v; want error %v", th, err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, auth.ErrInvalidConfig) {
				t.Errorf("NewThrottle() error %v does not wrap ErrInvalidConfig", err)
			}
		})
	}
}

func TestThrottleDefaults(t *testing.T) {
	th, clk := newThrottle(t)
	for i := range 10 {
		if ok, _ := attempt(th, "k", false); !ok {
			t.Fatalf("failure %d: Allow() = false; want true (default burst 10)", i+1)
		}
	}
	if ok, retry := th.Allow("k"); ok || retry != time.Minute {
		t.Errorf("Allow() after 10 failures = %v, %v; want false, 1m", ok, retry)
	}
	clk.advance(time.Minute)
	if ok, _ := th.Allow("k"); !ok {
		t.Errorf("Allow() a minute later = false; want true")
	}
}

func BenchmarkThrottle(b *testing.B) {
	b.Run("success", func(b *testing.B) {
		th, _ := newThrottle(b)
		b.ReportAllocs()
		for b.Loop() {
			attempt(th, "core|alice@example.com", true)
		}
	})
	b.Run("failure-distinct-keys-parallel", func(b *testing.B) {
		th, _ := newThrottle(b)
		keys := make([]string, 1<<16)
		for i := range keys {
			keys[i] = "ip|" + strconv.Itoa(i)
		}
		var next atomic.Int64
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := int(next.Add(1)) * 7919
			for pb.Next() {
				i++
				attempt(th, keys[i&(len(keys)-1)], false)
			}
		})
	})
	b.Run("refused", func(b *testing.B) {
		th, _ := newThrottle(b, auth.WithBurst(1))
		attempt(th, "k", false)
		b.ReportAllocs()
		for b.Loop() {
			th.Allow("k")
		}
	})
}

// BenchmarkThrottleMemory reports the heap a full throttle holds per key.
func BenchmarkThrottleMemory(b *testing.B) {
	const n = 100_000
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("tenant:%d|user%d@example.com", i%1000, i)
	}
	var perKey float64
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		th, _ := newThrottle(b, auth.WithMaxKeys(2*n))
		for _, k := range keys {
			th.Fail(k)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		if th.Len() != n {
			b.Fatalf("Len() = %d; want %d", th.Len(), n)
		}
		perKey = float64(after.HeapAlloc-before.HeapAlloc) / n
		runtime.KeepAlive(th)
	}
	b.ReportMetric(perKey, "B/key")
}
