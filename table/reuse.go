package table

import (
	"github.com/shmdict/shmdict/segment"
)

// Slot reuse and eviction, for segments created with Options.Eviction
// (format version 3). Everything here is off (t.reuse false) in other
// segments, whose slots belong to their key until Compact.
//
// A slot is retired by one 16-byte CAS of (key word, value word) from
// (K, any value) to (dead, absent with the next version); its records are
// then freed. A dead slot can be claimed again. Because a slot can change
// keys, every change of a value word in such a segment is a 16-byte CAS
// that also checks the key word the writer matched (casValue), so a writer
// that stalled between reading a value word and its CAS can never land in
// another key's slot (a counter word carries no version, so a 64-bit CAS
// could, by ABA), and every answer a read gives from a value word is
// confirmed together with the key word (confirm), or by the key copy in a
// value record.
//
// Claims go through a pending state so that two processes inserting the
// same new key cannot end up in two slots: the claimer takes the first
// dead or empty slot on the key's probe path as PENDING(key), scans the
// whole path (up to the first empty slot, which is past every claim made
// before the scan), kills any other PENDING claim of the key there, gives
// way to a live copy of the key if one appeared, and only then promotes
// its slot to live with a CAS that fails if its claim was killed. Of two
// claims whose scans overlap, the later scan sees the earlier claim, so at
// most one is ever promoted. See docs/DESIGN.md.

// casValue replaces slot's value word old with new. In a segment that
// reuses slots it checks that the key word is still kw in the same atomic
// step, and moved reports a failure caused by the key word: the slot no
// longer holds the key, and the operation must start again from find.
func (t *Table) casValue(slot, kw, old, new uint64) (ok, moved bool) {
	if !t.reuse {
		if t.grows && isAbsent(old) && !isAbsent(new) {
			if moved, sealed := t.sealInstead(slot, old); sealed {
				return false, moved
			}
		}
		return t.mem.CAS64(t.valueWordOff(slot), old, new), false
	}
	if t.mem.CAS128(t.slotOff(slot), kw, old, kw, new) {
		return true, false
	}
	return false, t.mem.Load64(t.slotOff(slot)) != kw
}

// touch marks slot recently used, for CLOCK. A reference bit is written
// only when clear, so reads of a hot key do not keep writing its line.
func (t *Table) touch(slot uint64) {
	if !t.reuse {
		return
	}
	off := t.refOff + slot/32*4
	bit := uint32(1) << (slot % 32)
	if t.mem.Load32(off)&bit == 0 {
		t.mem.Or32(off, bit)
	}
}

// evict retires up to need keys chosen by CLOCK. It returns how many keys
// it evicted, and how many abandoned claims (claims without a value, see
// reapClaim) it reclaimed: not evictions, but each gives back a
// reservation. The hand moves 32 slots (one word of reference bits) at a
// time; a key whose bit is set gets a second chance (the bit is cleared),
// one whose bit is clear is evicted. It gives up after two turns of the
// hand, which is enough for a key that had its second chance to come round
// again.
//
// With minClass > 0 (room for a record of that size class is wanted), only
// keys that hold a block of that class or larger are candidates: evicting
// smaller ones would not help, and their reference bits are left alone (a
// pass that could not use a key must not spend its second chance). Such a
// call also gives up once it has passed evictScanLimit slots without a
// candidate, so that a value that no eviction can make room for costs
// bounded work, not two turns of the hand per failed write.
func (t *Table) evict(need, minClass int) (evicted, reclaimed int) {
	slots := t.seg.Layout.Slots
	per := min(uint64(32), slots)
	var start, barren uint64
	for turn := uint64(0); evicted < need && turn < 2*slots/per; turn++ {
		pos := t.mem.Add64(segment.OffClockHand, int64(per)) - per
		if turn == 0 {
			start = pos
		}
		// Claims without a value are looked at only while this call has
		// not been round the table yet: the hand marks them the first time
		// it sees them and reclaims them when it finds them marked, and a
		// call that did both would kill claims in flight at first sight
		// (in a table of up to 64 slots, every call passed each slot
		// twice). Other processes' passes may come round sooner, which is
		// why the cost of a wrong kill is only a retry.
		firstPass := pos-start < slots
		first := pos & (slots - 1) &^ (per - 1)
		roff := t.refOff + first/8
		ref := t.mem.Load32(roff)
		var chances uint32 // reference bits to clear: the second chances given
		candidates := false
		for k := uint64(0); k < per && evicted < need; k++ {
			slot := first + k
			bit := uint32(1) << k
			w0 := t.mem.Load64(t.slotOff(slot))
			pending := isPending(w0)
			if !pending && !live(w0) {
				continue
			}
			var w1 uint64
			if !pending {
				w1 = t.mem.Load64(t.valueWordOff(slot))
			}
			if pending || isAbsent(w1) {
				if firstPass && t.reapClaim(slot, w0, w1, roff, bit) {
					reclaimed++
				}
				continue
			}
			if minClass > 0 && !t.holdsClass(w0, w1, minClass) {
				continue
			}
			candidates = true
			if ref&bit != 0 {
				chances |= bit
				continue
			}
			if t.retireKey(slot, w0, w1) {
				t.mem.Add64(segment.OffEvicted, 1)
				evicted++
			}
		}
		if chances != 0 {
			t.mem.And32(roff, ^chances)
		}
		if minClass > 0 {
			if barren += per; candidates {
				barren = 0
			}
			if barren >= evictScanLimit {
				break
			}
		}
	}
	return evicted, reclaimed
}

// reapClaim handles a claim that the hand found without a value: pending
// (w0 is a pending word), or live with an absent value word w1. Its
// claimer may be at work still, or may have been killed. The first time
// the hand sees it, it sets the slot's reference bit; if the bit is set
// already, the claim has outlived a whole pass and is reclaimed: a pending
// claim is killed (its key record stays allocated until Repair, and its
// reservation is given back by recountClaims), a live one is retired. A
// claimer still at work then sees its CAS fail and starts again. The bit
// is loaded again here rather than taken from the word's snapshot: a claim
// clears its slot's bit before it becomes visible (clearRef), so a bit
// read after the claim's word was seen is a mark made since, never the
// previous key's.
func (t *Table) reapClaim(slot, w0, w1, roff uint64, bit uint32) bool {
	if t.mem.Load32(roff)&bit == 0 {
		t.mem.Or32(roff, bit)
		return false
	}
	if isPending(w0) {
		return t.mem.CAS64(t.slotOff(slot), w0, t.deadFor(w0))
	}
	return t.retireKey(slot, w0, w1)
}

// clearRef clears slot's reference bit. A claim does it before its slot
// becomes visible: a new key must not inherit the previous key's second
// chance, nor have its claim taken for one the hand marked.
func (t *Table) clearRef(slot uint64) {
	off := t.refOff + slot/32*4
	if bit := uint32(1) << (slot % 32); t.mem.Load32(off)&bit != 0 {
		t.mem.And32(off, ^bit)
	}
}

// makeRoom evicts (or reclaims abandoned claims) for a claim that found
// the claim budget used up or no free slot on its path, and reports
// whether anything was freed.
func (t *Table) makeRoom() bool {
	evicted, reclaimed := t.evict(evictBatch, 0)
	return evicted+reclaimed > 0 || t.recountClaims()
}

// retireKey retires slot, which held key word kw and value word w1: one
// 16-byte CAS makes it dead (and the value absent), then its records are
// freed and the counters updated. It fails if either word changed.
func (t *Table) retireKey(slot, kw, w1 uint64) bool {
	nw := nextValueWord(w1, 0)
	if !t.mem.CAS128(t.slotOff(slot), kw, w1, t.deadFor(kw), nw) {
		return false
	}
	segment.Failpoint(fpRetirePublished)
	var h uint64
	var buf [64]byte
	hashed := false
	if key, err := t.recordKey(buf[:0], unitOf(kw)); err == nil {
		h, hashed = hash64(key, t.seed), true
	}
	if !isAbsent(w1) {
		if !isCounter(w1) {
			_ = t.ar.Free(unitOf(w1), shardOf(slot))
		}
		t.addLen(slot, -1)
	}
	_ = t.ar.Free(unitOf(kw), shardOf(slot))
	t.mem.Add64(segment.OffClaimed, -1)
	if hashed {
		t.notify(h, slot, w1, nw, EventDelete)
	}
	return true
}

// deleteReuse deletes the key of slot (key word kw) by retiring the slot.
// It reports whether the key had a live value; *committed is set once the
// retiring CAS is done.
func (t *Table) deleteReuse(slot, _, kw uint64, committed *bool) bool {
	woff := t.valueWordOff(slot)
	for {
		w, present, exp := t.settled(woff)
		if !present {
			// No value: the key is absent, and the slot is a claim in
			// flight (its writer about to store its value) or abandoned
			// (the CLOCK hand reclaims it). Retiring it would only make
			// the writer start again.
			return false
		}
		if t.retireKey(slot, kw, w) {
			*committed = true
			return !isAbsent(w) && !exp
		}
		if t.mem.Load64(t.slotOff(slot)) != kw {
			return false // retired by someone else: the key is gone
		}
	}
}

// confirm checks, in a segment that reuses slots, that the slot at byte
// offset soff still holds key word kw together with value word w1, as one
// atomic observation: a 16-byte CAS that writes back what it compares.
// Rereading the key word is not enough: a counter or an absent value word
// names no key, and the key word reads the same again after the same key
// re-claimed the slot with the same record unit, so a value word read in
// between could have been another key's. moved reports that the key word
// changed: the key was retired meanwhile, and a read may answer "absent"
// as of that moment. Otherwise a failed check means the value word
// changed: the reader reads it again. Always true without slot reuse.
func (t *Table) confirm(soff, kw, w1 uint64) (ok, moved bool) {
	if !t.reuse || t.mem.CAS128(soff, kw, w1, kw, w1) {
		return true, false
	}
	return false, t.mem.Load64(soff) != kw
}

// holdsClass reports whether key word w0 or value word w1 names a record
// of size class c or larger. The answer is a hint (the words may change).
func (t *Table) holdsClass(w0, w1 uint64, c int) bool {
	if kc, _, _, ok := t.ar.ReadPrefixed(unitOf(w0)); ok && kc >= c {
		return true
	}
	if isCounter(w1) || isAbsent(w1) {
		return false
	}
	vc, _, _, ok := t.ar.ReadPrefixed(unitOf(w1))
	return ok && vc >= c
}

// recountClaims lowers the claimed-slot counter to the number of live and
// pending slots, and reports whether it did. Processes killed inside a
// claim or a retirement leave the counter too high (a reservation nobody
// will give back); without this, an evicting table would slowly lose its
// budget until Repair. It runs only when a claim found the budget used up
// and nothing to evict. The count is no snapshot: claims that have
// reserved but not yet taken a slot are not counted, and a retirement
// between its CAS and its decrement is subtracted twice, so the counter
// can end up that many below the truth, and stays so until Repair (a
// recount only lowers it): the budget is exceeded by that many claims.
// The slot array has room for some (the budget is 3/4 of the slots).
func (t *Table) recountClaims() bool {
	var n uint64
	for slot := uint64(0); slot < t.seg.Layout.Slots; slot++ {
		if w0 := t.mem.Load64(t.slotOff(slot)); live(w0) || isPending(w0) {
			n++
		}
	}
	for {
		c := t.mem.Load64(segment.OffClaimed)
		if c <= n {
			return false
		}
		if t.mem.CAS64(segment.OffClaimed, c, n) {
			return true
		}
	}
}
