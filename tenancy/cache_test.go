package tenancy_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tenantkit/tenantkit/tenancy"
)

func newTestCache(t *testing.T, l tenancy.Lookup, opts ...tenancy.CacheOption) *tenancy.Cache {
	t.Helper()
	c, err := tenancy.NewCache(l, opts...)
	if err != nil {
		t.Fatalf("NewCache: %v", err)
	}
	return c
}

func TestNewCacheOptions(t *testing.T) {
	reg := newRegistry()
	tests := []struct {
		name string
		l    tenancy.Lookup
		opts []tenancy.CacheOption
		ok   bool
	}{
		{"defaults", reg, nil, true},
		{"all set", reg, []tenancy.CacheOption{tenancy.WithTTL(time.Minute), tenancy.WithNegativeTTL(time.Second), tenancy.WithMaxEntries(1), tenancy.WithNow(time.Now)}, true},
		{"zero ttls", reg, []tenancy.CacheOption{tenancy.WithTTL(0), tenancy.WithNegativeTTL(0)}, true},
		{"nil option", reg, []tenancy.CacheOption{tenancy.WithTTL(time.Second), nil}, false},
		{"nil lookup", nil, nil, false},
		{"negative ttl", reg, []tenancy.CacheOption{tenancy.WithTTL(-time.Second)}, false},
		{"negative negative ttl", reg, []tenancy.CacheOption{tenancy.WithNegativeTTL(-time.Second)}, false},
		{"zero entries", reg, []tenancy.CacheOption{tenancy.WithMaxEntries(0)}, false},
		{"nil clock means the default", reg, []tenancy.CacheOption{tenancy.WithNow(nil)}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := tenancy.NewCache(tt.l, tt.opts...)
			if got := err == nil; got != tt.ok || (tt.ok && c == nil) {
				t.Errorf("NewCache() = %v, %v; want ok=%v", c, err, tt.ok)
			}
			if err != nil && !errors.Is(err, tenancy.ErrInvalidConfig) {
				t.Errorf("NewCache() error = %v; want it to wrap ErrInvalidConfig", err)
			}
		})
	}
}

// step is one action in a cache scenario: advance the clock, then look a
// hint up (or invalidate keys), and check the answer and how many times the
// registry has been asked for that hint so far.
type step struct {
	advance    time.Duration
	invalidate []string
	setTenants []tenancy.Tenant // replace the registry's content first
	fail       error            // make the registry fail (nil: stop failing)
	hint       string
	want       tenancy.Tenant
	wantErr    error
	wantCalls  int
}

func TestCacheScenarios(t *testing.T) {
	backend := errors.New("registry down")
	renamed := tenancy.Tenant{ID: "1", Slug: "acme-inc", Status: tenancy.StatusActive}
	suspendedAcme := tenancy.Tenant{ID: "1", Slug: "acme", Status: tenancy.StatusSuspended}
	tests := []struct {
		name  string
		steps []step
	}{
		{"hit within ttl", []step{
			{hint: "acme", want: acme, wantCalls: 1},
			{advance: 29 * time.Second, hint: "acme", want: acme, wantCalls: 1},
		}},
		{"expires at ttl", []step{
			{hint: "acme", want: acme, wantCalls: 1},
			{advance: 30 * time.Second, hint: "acme", want: acme, wantCalls: 2},
			{advance: 29 * time.Second, hint: "acme", want: acme, wantCalls: 2},
		}},
		{"hints are cached separately", []step{
			{hint: "acme", want: acme, wantCalls: 1},
			{hint: "1", want: acme, wantCalls: 1},
			{hint: "1", want: acme, wantCalls: 1},
		}},
		{"negative cached for negative ttl", []step{
			{hint: "nope", wantErr: tenancy.ErrUnknownTenant, wantCalls: 1},
			{advance: 4 * time.Second, hint: "nope", wantErr: tenancy.ErrUnknownTenant, wantCalls: 1},
			{advance: time.Second, hint: "nope", wantErr: tenancy.ErrUnknownTenant, wantCalls: 2},
		}},
		{"negative entry hides a new tenant until it expires", []step{
			{hint: "globex", wantErr: tenancy.ErrUnknownTenant, wantCalls: 1},
			{setTenants: []tenancy.Tenant{acme, globex}, hint: "globex", wantErr: tenancy.ErrUnknownTenant, wantCalls: 1},
			{advance: 5 * time.Second, hint: "globex", want: globex, wantCalls: 2},
		}},
		{"backend errors are not cached", []step{
			{fail: backend, hint: "acme", wantErr: backend, wantCalls: 1},
			{fail: backend, hint: "acme", wantErr: backend, wantCalls: 2},
			{hint: "acme", want: acme, wantCalls: 3},
			{hint: "acme", want: acme, wantCalls: 3},
		}},
		{"cached hit survives a backend outage", []step{
			{hint: "acme", want: acme, wantCalls: 1},
			{fail: backend, hint: "acme", want: acme, wantCalls: 1},
		}},
		{"non-active tenants use the shorter ttl", []step{
			{hint: "newco", want: newco, wantCalls: 1},
			{advance: 4 * time.Second, hint: "newco", want: newco, wantCalls: 1},
			{advance: time.Second, hint: "newco", want: newco, wantCalls: 2},
		}},
		{"invalidate by hint", []step{
			{hint: "acme", want: acme, wantCalls: 1},
			{invalidate: []string{"acme"}, hint: "acme", want: acme, wantCalls: 2},
		}},
		{"invalidate by id forgets the slug entry", []step{
			{hint: "acme", want: acme, wantCalls: 1},
			{setTenants: []tenancy.Tenant{suspendedAcme}, invalidate: []string{"1"}, hint: "acme", want: suspendedAcme, wantCalls: 2},
		}},
		{"invalidate by slug forgets the id entry", []step{
			{hint: "1", want: acme, wantCalls: 1},
			{setTenants: []tenancy.Tenant{suspendedAcme}, invalidate: []string{"acme"}, hint: "1", want: suspendedAcme, wantCalls: 2},
		}},
		{"invalidate by old slug after rename", []step{
			{hint: "1", want: acme, wantCalls: 1},
			{hint: "acme", want: acme, wantCalls: 1},
			{setTenants: []tenancy.Tenant{renamed}, invalidate: []string{"1", "acme"}, hint: "acme", wantErr: tenancy.ErrUnknownTenant, wantCalls: 2},
			{hint: "1", want: renamed, wantCalls: 2},
		}},
		{"invalidate forgets the negative entry of a created slug", []step{
			{hint: "globex", wantErr: tenancy.ErrUnknownTenant, wantCalls: 1},
			{setTenants: []tenancy.Tenant{acme, globex}, invalidate: []string{"2", "globex"}, hint: "globex", want: globex, wantCalls: 2},
		}},
		{"invalidate leaves other tenants cached", []step{
			{setTenants: []tenancy.Tenant{acme, globex}, hint: "globex", want: globex, wantCalls: 1},
			{invalidate: []string{"1", "acme"}, hint: "globex", want: globex, wantCalls: 1},
		}},
		{"invalidate with empty keys forgets nothing", []step{
			{hint: "blank", want: blank, wantCalls: 1},
			{invalidate: []string{""}, hint: "blank", want: blank, wantCalls: 1},
			{invalidate: []string{}, hint: "blank", want: blank, wantCalls: 1},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := newRegistry(acme, newco, blank)
			clock := newFakeClock()
			c := newTestCache(t, reg, tenancy.WithNow(clock.Now))
			for i, s := range tt.steps {
				clock.Advance(s.advance)
				if s.setTenants != nil {
					reg.set(s.setTenants...)
				}
				reg.setFail(s.fail)
				if s.invalidate != nil {
					c.Invalidate(s.invalidate...)
				}
				got, err := c.Lookup(context.Background(), s.hint)
				if got != s.want || !errors.Is(err, s.wantErr) || (s.wantErr == nil && err != nil) {
					t.Errorf("step %d: Lookup(%q) = %+v, %v; want %+v, %v", i, s.hint, got, err, s.want, s.wantErr)
				}
				if n := reg.count(s.hint); n != s.wantCalls {
					t.Errorf("step %d: registry asked for %q %d times; want %d", i, s.hint, n, s.wantCalls)
				}
			}
		})
	}
}

func TestCacheZeroTTL(t *testing.T) {
	reg := newRegistry(acme)
	c := newTestCache(t, reg, tenancy.WithTTL(0), tenancy.WithNegativeTTL(0))
	for i := 1; i <= 3; i++ {
		if _, err := c.Lookup(context.Background(), "acme"); err != nil {
			t.Fatalf("Lookup: %v", err)
		}
		if _, err := c.Lookup(context.Background(), "nope"); !errors.Is(err, tenancy.ErrUnknownTenant) {
			t.Fatalf("Lookup(nope) = %v; want ErrUnknownTenant", err)
		}
		if got := reg.total(); got != 2*i {
			t.Fatalf("after %d rounds registry calls = %d; want %d", i, got, 2*i)
		}
	}
	if n := c.Len(); n != 0 {
		t.Errorf("Len() = %d; want 0", n)
	}
}

func TestCacheMaxEntries(t *testing.T) {
	const max = 4
	var tenants []tenancy.Tenant
	for i := range 20 {
		tenants = append(tenants, tenancy.Tenant{ID: fmt.Sprint(i), Slug: fmt.Sprintf("t%d", i), Status: tenancy.StatusActive})
	}
	reg := newRegistry(tenants...)
	clock := newFakeClock()
	c := newTestCache(t, reg, tenancy.WithMaxEntries(max), tenancy.WithNow(clock.Now))
	ctx := context.Background()
	for i := range 20 {
		if _, err := c.Lookup(ctx, fmt.Sprintf("t%d", i)); err != nil {
			t.Fatalf("Lookup: %v", err)
		}
		if _, err := c.Lookup(ctx, fmt.Sprintf("missing%d", i)); !errors.Is(err, tenancy.ErrUnknownTenant) {
			t.Fatalf("Lookup(missing) = %v; want ErrUnknownTenant", err)
		}
		if n := c.Len(); n > max {
			t.Fatalf("Len() = %d after %d inserts; want at most %d", n, 2*(i+1), max)
		}
	}
	// Evicted entries are looked up again, and the answers are still right.
	before := reg.total()
	for i := range 20 {
		got, err := c.Lookup(ctx, fmt.Sprintf("t%d", i))
		if err != nil || got != tenants[i] {
			t.Fatalf("Lookup(t%d) = %+v, %v; want %+v", i, got, err, tenants[i])
		}
	}
	if after := reg.total(); after-before < 20-max {
		t.Errorf("registry calls for 20 hints in a cache of %d = %d; want at least %d", max, after-before, 20-max)
	}
	// Expired entries make room first.
	clock.Advance(time.Minute)
	if _, err := c.Lookup(ctx, "t0"); err != nil {
		t.Fatalf("Lookup: %v", err)
	}
	if n := c.Len(); n > max {
		t.Errorf("Len() = %d; want at most %d", n, max)
	}
}

// TestCacheMaxEntriesPrefersNegative checks that filling the cache with
// unknown hints does not push out a known tenant.
func TestCacheMaxEntriesPrefersNegative(t *testing.T) {
	reg := newRegistry(acme)
	c := newTestCache(t, reg, tenancy.WithMaxEntries(8))
	ctx := context.Background()
	if _, err := c.Lookup(ctx, "acme"); err != nil {
		t.Fatalf("Lookup: %v", err)
	}
	for i := range 100 {
		_, _ = c.Lookup(ctx, fmt.Sprintf("flood%d", i))
	}
	if _, err := c.Lookup(ctx, "acme"); err != nil {
		t.Fatalf("Lookup: %v", err)
	}
	if n := reg.count("acme"); n != 1 {
		t.Errorf("registry asked for acme %d times after a flood of unknown hints; want 1", n)
	}
}

// blockingLookup counts its calls and blocks each until released.
type blockingLookup struct {
	calls   atomic.Int32
	started chan string
	release chan struct{}
	answer  func(n int32, hint string) (tenancy.Tenant, error)
}

func newBlockingLookup(answer func(n int32, hint string) (tenancy.Tenant, error)) *blockingLookup {
	return &blockingLookup{started: make(chan string, 100), release: make(chan struct{}), answer: answer}
}

func (b *blockingLookup) Lookup(ctx context.Context, hint string) (tenancy.Tenant, error) {
	n := b.calls.Add(1)
	b.started <- hint
	<-b.release
	return b.answer(n, hint)
}

// waitCounter counts callers that started waiting on another's lookup.
type waitCounter struct {
	mu    sync.Mutex
	n     int
	reach map[int]chan struct{}
}

func newWaitCounter() *waitCounter { return &waitCounter{reach: make(map[int]chan struct{})} }

func (w *waitCounter) hook() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.n++
	if ch, ok := w.reach[w.n]; ok {
		close(ch)
		delete(w.reach, w.n)
	}
}

// at returns a channel closed once n callers have waited.
func (w *waitCounter) at(n int) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	ch := make(chan struct{})
	if w.n >= n {
		close(ch)
	} else {
		w.reach[n] = ch
	}
	return ch
}

func TestCacheSingleFlight(t *testing.T) {
	const callers = 64
	tests := []struct {
		name    string
		answer  tenancy.Tenant
		err     error
		wantErr error
	}{
		{"found", acme, nil, nil},
		{"unknown", tenancy.Tenant{}, tenancy.ErrUnknownTenant, tenancy.ErrUnknownTenant},
		{"backend error", tenancy.Tenant{}, errors.New("down"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bl := newBlockingLookup(func(int32, string) (tenancy.Tenant, error) { return tt.answer, tt.err })
			c := newTestCache(t, bl)
			w := newWaitCounter()
			tenancy.SetWaitHook(c, w.hook)

			var wg sync.WaitGroup
			results := make([]error, callers)
			got := make([]tenancy.Tenant, callers)
			for i := range callers {
				wg.Go(func() { got[i], results[i] = c.Lookup(context.Background(), "acme") })
			}
			<-bl.started        // one caller leads
			<-w.at(callers - 1) // every other one waits on it
			close(bl.release)
			wg.Wait()
			if n := bl.calls.Load(); n != 1 {
				t.Errorf("lookups = %d for %d concurrent callers; want 1", n, callers)
			}
			for i := range callers {
				if got[i] != tt.answer || !errors.Is(results[i], tt.err) {
					t.Fatalf("caller %d: Lookup() = %+v, %v; want %+v, %v", i, got[i], results[i], tt.answer, tt.err)
				}
			}
		})
	}
}

func TestCacheSingleFlightDistinctHints(t *testing.T) {
	reg := newRegistry(acme, globex)
	c := newTestCache(t, reg)
	var wg sync.WaitGroup
	for i := range 200 {
		hint := []string{"acme", "globex", "1", "2", "nope"}[i%5]
		wg.Go(func() { _, _ = c.Lookup(context.Background(), hint) })
	}
	wg.Wait()
	for _, h := range []string{"acme", "globex", "1", "2", "nope"} {
		if n := reg.count(h); n != 1 {
			t.Errorf("registry asked for %q %d times; want 1", h, n)
		}
	}
}

func TestCacheWaiterContext(t *testing.T) {
	bl := newBlockingLookup(func(int32, string) (tenancy.Tenant, error) { return acme, nil })
	c := newTestCache(t, bl)
	leader := make(chan error, 1)
	go func() {
		_, err := c.Lookup(context.Background(), "acme")
		leader <- err
	}()
	<-bl.started
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Lookup(ctx, "acme"); !errors.Is(err, context.Canceled) {
		t.Errorf("waiter with a cancelled context: Lookup() = %v; want context.Canceled", err)
	}
	close(bl.release)
	if err := <-leader; err != nil {
		t.Errorf("leader: Lookup() = %v; want nil", err)
	}
}

// TestCacheLeaderCancelled checks that a waiter does not inherit the
// context error of the caller whose lookup it joined.
func TestCacheLeaderCancelled(t *testing.T) {
	bl := newBlockingLookup(func(n int32, _ string) (tenancy.Tenant, error) {
		if n == 1 {
			return tenancy.Tenant{}, fmt.Errorf("query: %w", context.Canceled)
		}
		return acme, nil
	})
	c := newTestCache(t, bl)
	w := newWaitCounter()
	tenancy.SetWaitHook(c, w.hook)
	leader := make(chan error, 1)
	go func() {
		_, err := c.Lookup(context.Background(), "acme")
		leader <- err
	}()
	<-bl.started
	waiter := make(chan error, 1)
	go func() {
		got, err := c.Lookup(context.Background(), "acme")
		if err == nil && got != acme {
			err = fmt.Errorf("got %+v", got)
		}
		waiter <- err
	}()
	<-w.at(1)
	close(bl.release)
	if err := <-leader; !errors.Is(err, context.Canceled) {
		t.Errorf("leader: Lookup() = %v; want context.Canceled", err)
	}
	if err := <-waiter; err != nil {
		t.Errorf("waiter: Lookup() = %v; want acme", err)
	}
	if n := bl.calls.Load(); n != 2 {
		t.Errorf("lookups = %d; want 2 (the waiter retries)", n)
	}
}

func TestCacheLookupPanics(t *testing.T) {
	bl := newBlockingLookup(func(int32, string) (tenancy.Tenant, error) { panic("registry bug") })
	c := newTestCache(t, bl)
	w := newWaitCounter()
	tenancy.SetWaitHook(c, w.hook)
	recovered := make(chan any, 1)
	go func() {
		defer func() { recovered <- recover() }()
		_, _ = c.Lookup(context.Background(), "acme")
	}()
	<-bl.started
	waiter := make(chan error, 1)
	go func() {
		_, err := c.Lookup(context.Background(), "acme")
		waiter <- err
	}()
	<-w.at(1)
	close(bl.release)
	if r := <-recovered; r != "registry bug" {
		t.Errorf("leader recovered %v; want the lookup's panic", r)
	}
	if err := <-waiter; err == nil {
		t.Errorf("waiter: Lookup() = nil error; want an error")
	}
	if n := c.Len(); n != 0 {
		t.Errorf("Len() = %d after a panicking lookup; want 0", n)
	}
}

// TestCacheInvalidateDuringLookup checks that an answer read before an
// invalidation is returned to its callers but not cached.
func TestCacheInvalidateDuringLookup(t *testing.T) {
	bl := newBlockingLookup(func(n int32, _ string) (tenancy.Tenant, error) {
		if n == 1 {
			return acme, nil // stale: read before the status change
		}
		return tenancy.Tenant{ID: "1", Slug: "acme", Status: tenancy.StatusSuspended}, nil
	})
	c := newTestCache(t, bl)
	first := make(chan tenancy.Tenant, 1)
	go func() {
		got, _ := c.Lookup(context.Background(), "acme")
		first <- got
	}()
	<-bl.started
	c.Invalidate("1", "acme")
	close(bl.release)
	if got := <-first; got != acme {
		t.Errorf("in-flight Lookup() = %+v; want %+v", got, acme)
	}
	got, err := c.Lookup(context.Background(), "acme")
	if err != nil || got.Status != tenancy.StatusSuspended {
		t.Errorf("Lookup() after Invalidate = %+v, %v; want the suspended tenant", got, err)
	}
	if n := bl.calls.Load(); n != 2 {
		t.Errorf("lookups = %d; want 2", n)
	}
}

func TestCacheConcurrentMixed(t *testing.T) {
	reg := newRegistry(acme, globex)
	c := newTestCache(t, reg, tenancy.WithMaxEntries(3))
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				hint := []string{"acme", "globex", "1", "2", "nope", "x"}[(g+i)%6]
				got, err := c.Lookup(context.Background(), hint)
				if err == nil && got != acme && got != globex {
					t.Errorf("Lookup(%q) = %+v", hint, got)
				}
				if i%50 == 0 {
					c.Invalidate("1", "acme")
				}
			}
		})
	}
	wg.Wait()
	if n := c.Len(); n > 3 {
		t.Errorf("Len() = %d; want at most 3", n)
	}
}

func TestCacheHitAllocs(t *testing.T) {
	reg := newRegistry(acme)
	c := newTestCache(t, reg)
	ctx := context.Background()
	if _, err := c.Lookup(ctx, "acme"); err != nil {
		t.Fatalf("Lookup: %v", err)
	}
	_, _ = c.Lookup(ctx, "nope")
	for _, hint := range []string{"acme", "nope"} {
		if n := testing.AllocsPerRun(100, func() { _, _ = c.Lookup(ctx, hint) }); n != 0 {
			t.Errorf("cache hit for %q allocates %v times; want 0", hint, n)
		}
	}
}
