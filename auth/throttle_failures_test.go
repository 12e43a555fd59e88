package auth_test

import (
	"testing"
	"time"

	"github.com/tenantkit/tenantkit/auth"
)

// TestThrottleFailures counts what weighs on a key: failures, pending
// attempts, and nothing once refilled or given back.
func TestThrottleFailures(t *testing.T) {
	th, clock := newThrottle(t, auth.WithBurst(5), auth.WithRefill(time.Minute))
	if n := th.Failures("k"); n != 0 {
		t.Fatalf("Failures(new key) = %d; want 0", n)
	}
	attempt(th, "k", false)
	attempt(th, "k", false)
	if n := th.Failures("k"); n != 2 {
		t.Errorf("Failures after 2 failures = %d; want 2", n)
	}
	th.Allow("k") // pending
	if n := th.Failures("k"); n != 3 {
		t.Errorf("Failures with one attempt pending = %d; want 3", n)
	}
	th.Succeed("k")
	if n := th.Failures("k"); n != 2 {
		t.Errorf("Failures after the pending attempt succeeded = %d; want 2", n)
	}
	clock.advance(time.Minute + time.Second)
	if n := th.Failures("k"); n != 1 {
		t.Errorf("Failures a refill later = %d; want 1", n)
	}
	clock.advance(time.Minute)
	if n := th.Failures("k"); n != 0 {
		t.Errorf("Failures once refilled = %d; want 0", n)
	}
	if n := th.Failures("other"); n != 0 {
		t.Errorf("Failures(other key) = %d; want 0", n)
	}
}
