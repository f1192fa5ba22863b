package table

import (
	"math"
	"time"

	"github.com/shmdict/shmdict/arena"
	"github.com/shmdict/shmdict/segment"
)

// Time to live. A value set with SetWithTTL has a deadline (Unix ns) at
// the start of its record's payload, and its value word carries
// expiresBit. Past the deadline the key reads as absent everywhere (Get,
// Contains, All, CompareAndSwap, GetOrSet, Add) but still holds its record
// and still counts in Len until it is reclaimed: by the writer that next
// replaces it, by the sweep that every Set of this process does over a few
// slots (once any process has used a TTL on the table), or by Expire. No
// background goroutine or process is needed.

// sweepSlots is how many slots each Set inspects for expired values, once
// the table has used TTLs: a few keeps the cost of a Set to a few cache
// lines while the sweep passes over the whole table every Slots/4 Sets.
const sweepSlots = 4

// SetClock replaces the clock the table uses for TTLs in this process
// (time.Now by default). For tests: give every process the same clock.
func (t *Table) SetClock(now func() time.Time) {
	t.clock = now
}

func (t *Table) now() int64 {
	if t.clock != nil {
		return t.clock().UnixNano()
	}
	return time.Now().UnixNano()
}

// deadlineAfter returns the deadline ttl (positive) after now, both in
// Unix nanoseconds, saturated at math.MaxInt64: the sum wraps negative
// for a huge ttl, and a value stored with a past deadline would read as
// absent at once. A deadline of 0 means "none" in a record, so the one
// sum that lands on it (a clock before 1970) is moved 1 ns later.
func deadlineAfter(now int64, ttl time.Duration) int64 {
	if now >= 0 && int64(ttl) > math.MaxInt64-now {
		return math.MaxInt64
	}
	if dl := now + int64(ttl); dl != 0 {
		return dl
	}
	return 1
}

// deadline reads the deadline of expiring value word w1's record; the
// caller validates by re-loading the value word.
func (t *Table) deadline(w1 uint64) (int64, bool) {
	u := unitOf(w1)
	_, p, n, ok := t.ar.ReadPrefixed(u)
	if !ok || n < 8 {
		return 0, false
	}
	return int64(t.mem.Load64(t.ar.Off(u) + arena.HeaderBytes + arena.PrefixSpan(p))), true
}

// expired reports whether value word w1 (loaded from woff) is a value
// past its deadline; stable is false if the word changed meanwhile.
func (t *Table) expired(woff, w1 uint64) (exp, stable bool) {
	if !expires(w1) {
		return false, true
	}
	dl, ok := t.deadline(w1)
	if t.mem.Load64(woff) != w1 {
		return false, false
	}
	return ok && dl <= t.now(), true
}

// present reports whether value word w1 (loaded from woff) holds a live
// value: not absent, not expired. stable is false if it changed meanwhile.
func (t *Table) present(woff, w1 uint64) (live, stable bool) {
	if isAbsent(w1) {
		return false, true
	}
	exp, stable := t.expired(woff, w1)
	return !exp, stable
}

// reclaim empties slot's value if it is expired, and reports whether it
// did. The key counted in Len until now.
func (t *Table) reclaim(slot uint64) bool {
	woff := t.valueWordOff(slot)
	for {
		w := t.mem.Load64(woff)
		exp, stable := t.expired(woff, w)
		if !stable {
			continue
		}
		if !exp {
			return false
		}
		if t.reuse {
			w0 := t.mem.Load64(t.slotOff(slot))
			if !live(w0) {
				return false
			}
			if t.retireKey(slot, w0, w) {
				t.mem.Add64(segment.OffExpired, 1)
				return true
			}
			continue
		}
		nw := nextValueWord(w, 0)
		if t.mem.CAS64(woff, w, nw) {
			t.freeValue(slot, t.mem.Load64(t.slotOff(slot)), w)
			t.addLen(slot, -1)
			t.mem.Add64(segment.OffExpired, 1)
			if key, err := t.slotKey(slot); err == nil && key != nil {
				t.notify(hash64(key, t.seed), slot, w, nw, EventDelete)
			}
			return true
		}
	}
}

// sweepSome reclaims expired values in the next few slots of this
// process's sweep, if the table has ever used TTLs.
func (t *Table) sweepSome(ttlUsed bool) {
	if !ttlUsed && t.mem.Load64(segment.OffTTLUsed) == 0 {
		return
	}
	start := t.sweep.Add(sweepSlots) - sweepSlots
	for i := uint64(0); i < sweepSlots; i++ {
		slot := (start + i) & (t.seg.Layout.Slots - 1)
		if expires(t.mem.Load64(t.valueWordOff(slot))) {
			t.reclaim(slot)
		}
	}
}
