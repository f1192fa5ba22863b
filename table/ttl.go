package table

import (
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

// reclaim empties slot's value if it is expired, and reports whether it
// did. The key counted in Len until now.
func (t *Table) reclaim(slot uint64) bool {
	woff := t.valueWordOff(slot)
	for {
		w, _, exp := t.settled(woff)
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
		if t.grows {
			slot = (start + i) % t.usedSlots()
		}
		if expires(t.mem.Load64(t.valueWordOff(slot))) {
			t.reclaim(slot)
		}
	}
}
