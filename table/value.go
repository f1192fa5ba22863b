package table

import (
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/shmdict/shmdict/arena"
	"github.com/shmdict/shmdict/segment"
)

// readValue appends the value of value word w1 (loaded from woff) to dst:
// the validated, seqlock-style read. It copies the record with atomic
// loads, then reloads the value word; if the word changed, the record may
// have been recycled mid-copy, so it starts over with the new word.
// present is false if the key is absent.
func (t *Table) readValue(dst []byte, woff uint64, sn seen) (out []byte, present bool, err error) {
	w1 := sn.w1
	// settled confirms an answer based on w1 (see confirm): ok to give it,
	// or absent because the key was retired, or again with the new word.
	settled := func() (ok, moved bool) {
		ok, moved = t.confirm(woff-8, sn.w0, w1)
		if !ok && !moved {
			w1 = t.mem.Load64(woff)
		}
		return ok, moved
	}
	for {
		if isCounter(w1) {
			ok, moved := settled()
			switch {
			case ok:
				return binary.LittleEndian.AppendUint64(dst, uint64(counterOf(w1))), true, nil
			case moved:
				return dst, false, nil // retired: the key was absent then
			}
			continue
		}
		if isAdder(w1) {
			// An index is never handed out twice: the sum read belongs
			// to this adder, whatever the word is by now.
			n, err := t.sumAt(adderIndex(w1))
			if err != nil {
				return dst, false, err
			}
			return binary.LittleEndian.AppendUint64(dst, uint64(n)), true, nil
		}
		u := unitOf(w1)
		if u == 0 {
			if ok, moved := settled(); ok || moved {
				return dst, false, nil
			}
			continue
		}
		p, n, ok := sn.p, sn.n, sn.known
		if !ok {
			_, p, n, ok = t.ar.ReadPrefixed(u)
		}
		sn.known = false // good for the first round only
		if !ok {
			if w := t.mem.Load64(woff); w != w1 {
				w1 = w
				continue
			}
			return dst, false, fmt.Errorf("%w: value record at arena unit %d is malformed (%s)", ErrCorrupt, u, t.name)
		}
		off := t.ar.Off(u) + arena.HeaderBytes + arena.PrefixSpan(p)
		if expires(w1) {
			// The payload starts with the deadline; past it, the key
			// reads as absent (a writer reclaims it later).
			if n < 8 {
				if w := t.mem.Load64(woff); w != w1 {
					w1 = w
					continue
				}
				return dst, false, fmt.Errorf("%w: expiring value record at arena unit %d is too short (%s)", ErrCorrupt, u, t.name)
			}
			dl := int64(t.mem.Load64(off))
			if w := t.mem.Load64(woff); w != w1 {
				w1 = w
				continue
			}
			if dl <= t.now() {
				if ok, moved := settled(); ok || moved {
					return dst, false, nil
				}
				continue
			}
			off, n = off+8, n-8
		}
		mark := len(dst)
		dst = slices.Grow(dst, int(n))
		dst = t.mem.CopyOut(dst, off, n)
		w := t.mem.Load64(woff)
		if w == w1 {
			ok, moved := settled()
			switch {
			case ok:
				return dst, true, nil
			case moved:
				return dst[:mark], false, nil // retired: the key was absent then
			}
			dst = dst[:mark]
			continue
		}
		dst, w1 = dst[:mark], w
	}
}

// retire accounts for value word w having been replaced by a present
// value in slot, whose key word is kw: it frees w's record (unless it is
// the key record, see freeValue), or counts a new key if w was absent.
func (t *Table) retire(slot, kw, w uint64) {
	if isAbsent(w) {
		t.addLen(slot, 1)
		return
	}
	t.freeValue(slot, kw, w)
}

// clearSlot empties slot's value word and reports whether it held a
// value; it sets *committed as soon as it has.
func (t *Table) clearSlot(slot, h, _ uint64, committed *bool) bool {
	woff := t.valueWordOff(slot)
	for {
		// An expired value is removed too, but was not there to delete.
		w, present, exp := t.settled(woff)
		if !present {
			return false
		}
		nw := nextValueWord(w, 0)
		if t.mem.CAS64(woff, w, nw) {
			*committed = true
			segment.Failpoint(fpDeletePublished)
			// The key word of a slot that is never reused cannot change.
			t.freeValue(slot, t.mem.Load64(t.slotOff(slot)), w)
			t.addLen(slot, -1)
			t.notify(h, slot, w, nw, EventDelete)
			return !exp
		}
	}
}

// deleteKey removes the present key of slot (hash h, key word kw) by its
// format's protocol: clearSlot empties its value word (version 5: the
// slot keeps its key), deleteReuse retires its slot (version 3). It
// reports whether the key had a live value, and sets *committed once the
// change is made.
func (t *Table) deleteKey(slot, h, kw uint64, committed *bool) bool {
	if t.reuse {
		return t.deleteReuse(slot, h, kw, committed)
	}
	return t.clearSlot(slot, h, kw, committed)
}

// counterStep is the counter word that adds delta to counter word w, and
// the new value; inRange is false if it would leave [MinCounter,
// MaxCounter]. Every counter CAS (Add's paths, Counter.Add) builds its
// new word here.
func counterStep(w uint64, delta int64) (next int64, nw uint64, inRange bool) {
	next, inRange = addCounter(counterOf(w), delta)
	return next, counterWord(next), inRange
}

// published finishes a write whose CAS just replaced slot's value word w
// with nw (key word kw, key hash h), which every process can see, and
// whose failpoint the caller passed: it retires w (frees its record, or
// counts a new key if it was absent), counts an overwrite as a use
// (CLOCK), and notifies waiters and subscribers. Set, GetOrSet,
// CompareAndSwap and Add end this way.
func (t *Table) published(slot, kw, h, w, nw uint64, kind EventKind) {
	t.retire(slot, kw, w)
	if !isAbsent(w) {
		t.touch(slot) // an overwrite is a use; an insert is not (CLOCK evicts new keys first)
	}
	t.notify(h, slot, w, nw, kind)
}

// addCounter returns cur + delta and whether it stays in [MinCounter,
// MaxCounter] without overflowing.
func addCounter(cur, delta int64) (next int64, ok bool) {
	next = cur + delta
	if delta > 0 {
		return next, next >= cur && next <= MaxCounter
	}
	return next, next <= cur && next >= MinCounter
}

// valueEquals compares value word w's value with b in place (atomic
// loads, no copy); stable is false if the word changed meanwhile.
func (t *Table) valueEquals(woff, w uint64, b []byte) (eq, stable bool, err error) {
	if isCounter(w) {
		return len(b) == 8 && binary.LittleEndian.Uint64(b) == uint64(counterOf(w)), true, nil
	}
	if isAdder(w) {
		// The sum at one moment: adds may change it before the caller's
		// CAS, which replaces the adder (its value word did not change).
		n, err := t.sumAt(adderIndex(w))
		return err == nil && len(b) == 8 && binary.LittleEndian.Uint64(b) == uint64(n), true, err
	}
	u := unitOf(w)
	if u == 0 {
		return false, true, nil
	}
	_, p, n, ok := t.ar.ReadPrefixed(u)
	if !ok {
		if t.mem.Load64(woff) != w {
			return false, false, nil
		}
		return false, false, fmt.Errorf("%w: value record at arena unit %d is malformed (%s)", ErrCorrupt, u, t.name)
	}
	off := t.ar.Off(u) + arena.HeaderBytes + arena.PrefixSpan(p)
	if expires(w) {
		// An expired value never matches; a live one compares after its deadline.
		if n < 8 {
			return false, t.mem.Load64(woff) == w, nil
		}
		if int64(t.mem.Load64(off)) <= t.now() {
			return false, t.mem.Load64(woff) == w, nil
		}
		off, n = off+8, n-8
	}
	eq = n == uint64(len(b)) && t.mem.Equal(off, b)
	return eq, t.mem.Load64(woff) == w, nil
}
