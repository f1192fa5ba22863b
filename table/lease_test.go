package table

import (
	"math"
	"testing"
	"time"
)

// TestLeaseWord pins the lease word's fields: a lease's deadline
// saturates at the largest its 42 bits hold instead of wrapping into the
// past (a lease of math.MaxInt64 would be stale at once), and the
// incarnation bits stay out of the deadline.
func TestLeaseWord(t *testing.T) {
	now := time.UnixMilli(1_700_000_000_000)
	for _, c := range []struct {
		d    time.Duration
		want uint64
	}{
		{time.Second, 1_700_000_001_000},
		{time.Hour, 1_700_003_600_000},
		{math.MaxInt64, leaseDeadline},
		{time.Duration(leaseDeadline-1_700_000_000_000) * time.Millisecond, leaseDeadline},
		{time.Duration(leaseDeadline-1_700_000_000_001) * time.Millisecond, leaseDeadline - 1},
	} {
		if got := leaseDeadlineAfter(now, c.d); got != c.want {
			t.Errorf("leaseDeadlineAfter(%v) = %d, want %d", c.d, got, c.want)
		}
	}
	if got := leaseDeadlineAfter(time.UnixMilli(-10_000), time.Second); got != 0 {
		t.Errorf("leaseDeadlineAfter before 1970 = %#x, want 0 (it must not spill into the owner bits)", got)
	}
	if leaseDeadline != 1<<42-1 || leaseIncMask != 63 || leaseIncShift != 42 || leaseOwnerShift != 48 {
		t.Errorf("lease fields: deadline mask %#x, incarnation mask %#x at %d, owner at %d", leaseDeadline, leaseIncMask, leaseIncShift, leaseOwnerShift)
	}
	tb, err := New(Options{Capacity: 16})
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	w := uint64(leaseNoOwner)<<leaseOwnerShift | leaseDeadlineAfter(time.Now(), math.MaxInt64)
	if tb.leaseStale(w, time.Now()) {
		t.Errorf("a lease of math.MaxInt64 is stale at once")
	}
}
