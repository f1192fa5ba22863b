package table

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"runtime/debug"
	"slices"

	"github.com/shmdict/shmdict/arena"
	"github.com/shmdict/shmdict/segment"
)

func checkKey(key []byte) error {
	if len(key) > MaxKeyLen {
		return fmt.Errorf("%w: %d bytes, the limit is %d (hash long keys first)", ErrKeyTooLarge, len(key), MaxKeyLen)
	}
	return nil
}

func checkValue(v []byte) error {
	if len(v) > MaxValueLen {
		return fmt.Errorf("%w: %d bytes, the limit is %d (store large values elsewhere and keep a reference)", ErrValueTooLarge, len(v), MaxValueLen)
	}
	return nil
}

// checkRecord rejects a value that, with its key as prefix, fits no
// arena block, before anything is claimed for it.
func checkRecord(key, value []byte, head int) error {
	if arena.ClassFor(arena.PrefixSpan(uint64(len(key)))+uint64(head+len(value))) < 0 {
		return fmt.Errorf("%w: %d bytes with a %d-byte key; a value and its key (padded to 8 bytes) must fit in %d bytes (store large values elsewhere and keep a reference)",
			ErrValueTooLarge, len(value), len(key), arena.MaxPayload)
	}
	return nil
}

// valueWordOff is the offset of a slot's value word.
func (t *Table) valueWordOff(slot uint64) uint64 { return t.slotOff(slot) + 8 }

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

// Get returns a copy of key's value, which the caller owns, or ErrNotFound.
// A counter (see Add) reads as its value in 8 little-endian bytes.
func (t *Table) Get(key []byte) ([]byte, error) {
	v, err := t.AppendGet(nil, key)
	if err != nil {
		return nil, err
	}
	if v == nil {
		v = []byte{}
	}
	return v, nil
}

// AppendGet appends key's value to dst and returns the extended slice, or
// dst and ErrNotFound. It allocates nothing when dst has room.
func (t *Table) AppendGet(dst, key []byte) ([]byte, error) {
	if len(key) > MaxKeyLen {
		return dst, checkKey(key)
	}
	if t.seg.Closed() {
		return dst, ErrClosed
	}
	h := hash64(key, t.seed)
	if out, ok := t.getFast(dst, key, h); ok {
		return out, nil
	}
	return t.appendGetSlow(dst, key, h)
}

// appendGetSlow is AppendGet for what getFast does not settle, under the
// full fault guard: a fault here (which a fault in getFast leads to as
// well) becomes the operation's ErrFault or ErrClosed.
func (t *Table) appendGetSlow(dst, key []byte, h uint64) (out []byte, err error) {
	old, err := t.enter()
	if err != nil {
		return dst, err
	}
	defer t.exit(old, &err)
	slot, sn, ok, err := t.find(key, h)
	if err != nil || !ok {
		return dst, orNotFound(err)
	}
	out, present, err := t.readValue(dst, t.valueWordOff(slot), sn)
	if err != nil || !present {
		return dst, orNotFound(err)
	}
	t.touch(slot)
	return out, nil
}

// getFast is AppendGet's common case in one pass: the key in its first
// probe group, holding a plain (not counter, not expiring) value whose
// record's key prefix matches. It reads the value word, the record's key
// copy and value, then rechecks the value word once for all of it. ok is
// false, with dst as it came, for anything else (absent keys, counters,
// expiring values, tag collisions, a change under the read, corruption):
// the general path then answers.
//
// It guards itself against memory faults (a truncated file, a Close
// under the call): a fault makes it return ok false, and the general path,
// under the full guard, faults again and reports it. Its deferred function
// neither names nor sets the results. A guard that sets the caller's
// error result (exit) puts the results through memory around the deferred
// call, and at 1M keys that cost a third of a Get (AppendGet 565 ns
// against 457 ns here, medians of 7 interleaved BenchmarkGet runs; with no
// recover at all, 461 ns). Fewer instructions per lookup let the CPU
// overlap the cache misses of consecutive lookups.
func (t *Table) getFast(dst, key []byte, h uint64) ([]byte, bool) {
	old := debug.SetPanicOnFault(true)
	defer func() {
		debug.SetPanicOnFault(old)
		if r := recover(); r != nil {
			t.seg.FaultError(r) // re-panics anything but a memory fault
		}
	}()
	// One function with inlined loads: each call or check on this path
	// lengthens it, and a shorter path lets the CPU start the next
	// lookup's misses while this one's are outstanding.
	m := &t.mem
	base := h & (t.groups - 1) * segment.GroupSlots
	off := t.slotsOff + base*segment.SlotSize
	want, keep := wantWord(h), t.hiKeep
	match := bit((m.Load64(off)>>32^want)&keep == 0) |
		bit((m.Load64(off+segment.SlotSize)>>32^want)&keep == 0)<<1 |
		bit((m.Load64(off+2*segment.SlotSize)>>32^want)&keep == 0)<<2 |
		bit((m.Load64(off+3*segment.SlotSize)>>32^want)&keep == 0)<<3
	if match == 0 {
		return dst, false
	}
	j := uint64(bits.TrailingZeros64(match))
	woff := off + j*segment.SlotSize + 8
	w1 := m.Load64(woff)
	u := uint64(uint32(w1))
	if w1&(counterBit|expiresBit) != 0 || u-1 >= t.units-1 { // u is 0 or past the arena
		return dst, false
	}
	roff := t.arenaOff + u*arena.Unit
	hdr := m.Load64(roff)
	p, n := hdr>>32&0xFFFF, hdr&0xFFFFFFFF
	kl := uint64(len(key))
	span := arena.PrefixSpan(kl)
	// The record must be live, carry a key as long as ours, and end
	// inside the arena; its class is not checked (what is read lies in
	// the arena, and the recheck below catches a recycled block).
	// GetMany's copyFast makes the same checks: change both together.
	if hdr>>56 != arena.LiveMagic || p != kl || (u*arena.Unit+arena.HeaderBytes+span+n) > t.units*arena.Unit {
		return dst, false
	}
	out, ok := m.EqualCopyOut(dst, roff+arena.HeaderBytes, key, roff+arena.HeaderBytes+span, n)
	if !ok || m.Load64(woff) != w1 {
		return dst, false
	}
	// The record's key copy matched: w1 was key's value, whichever key
	// word the slot has now.
	if t.reuse {
		t.touch(base + j)
	}
	return out, true
}

// fastDone ends the fault guard of a write's fast path (addFast, addAt,
// Adder.addFast), started by `defer t.fastDone(debug.SetPanicOnFault(true))`:
// it restores the goroutine's setting and swallows a memory fault without
// setting the caller's results (it re-panics anything else), so that the
// fast path reports "not done" and its caller takes the guarded slow path,
// which faults again and reports it. getFast has the same guard written
// out (a closure), as measured for the Get path.
func (t *Table) fastDone(old bool) {
	debug.SetPanicOnFault(old)
	if r := recover(); r != nil {
		t.seg.FaultError(r) // re-panics anything but a memory fault
	}
}

func orNotFound(err error) error {
	if err != nil {
		return err
	}
	return ErrNotFound
}

// Contains reports whether key is present.
func (t *Table) Contains(key []byte) (found bool, err error) {
	if err := checkKey(key); err != nil {
		return false, err
	}
	old, err := t.enter()
	if err != nil {
		return false, err
	}
	defer t.exit(old, &err)
	slot, sn, ok, err := t.find(key, hash64(key, t.seed))
	if err != nil || !ok {
		return false, err
	}
	woff := t.valueWordOff(slot)
	for {
		w := t.mem.Load64(woff)
		live, stable := t.present(woff, w)
		if !stable {
			continue
		}
		if ok, moved := t.confirm(t.slotOff(slot), sn.w0, w); ok || moved {
			return live && ok, nil
		}
	}
}

// Set stores value under key, replacing any value or counter. The bytes
// are copied into the table; the old value's space is reused.
func (t *Table) Set(key, value []byte) error { return t.set(key, value, 0) }

// set stores value under key, with a deadline (Unix ns) unless 0.
func (t *Table) set(key, value []byte, deadline int64) (err error) {
	if err := checkKey(key); err != nil {
		return err
	}
	if err := checkValue(value); err != nil {
		return err
	}
	head := 0
	if deadline != 0 {
		head = 8
	}
	if err := checkRecord(key, value, head); err != nil {
		return err
	}
	old, err := t.enter()
	if err != nil {
		return err
	}
	committed := false
	defer t.exitWrite(old, &err, &committed)
	if err := t.notReplaced(); err != nil {
		return err
	}
	h := hash64(key, t.seed)
	var u uint32
	pinned := false // u is the key record of the slot it claimed
	defer func() {
		if !committed && !pinned && u != 0 {
			t.ar.Free(u, int(h%segment.FreeShards))
		}
	}()
	prepare := func() (_ uint32, err error) {
		if u == 0 {
			u, err = t.writeRecord(key, deadline, value, int(h%segment.FreeShards))
		}
		if deadline != 0 || !t.pinnable(key, value) {
			return 0, err // expiring or large: the claim writes a key record
		}
		return u, err
	}
	for {
		slot, kw, err := t.findOrClaimPrepared(key, h, prepare)
		if err != nil {
			return err
		}
		pinned = pinned || (u != 0 && unitOf(kw) == u)
		if u == 0 {
			// From the slot's shard, where its old record will be freed:
			// the allocator tries that shard's free list before the bump.
			// Only for a key that find found: an absent key's record was
			// written before its claim (prepare), so a write that fails
			// here claimed nothing and gives nothing back. The slot may be
			// another writer's claim, between its promotion and its value.
			if u, err = t.writeRecord(key, deadline, value, shardOf(slot)); err != nil {
				return err
			}
		}
		woff := t.valueWordOff(slot)
		for {
			w := t.mem.Load64(woff)
			nw := nextValueWord(w, u)
			if deadline != 0 {
				nw |= expiresBit
			}
			ok, moved := t.casValue(slot, kw, w, nw)
			if ok {
				committed = true
				segment.Failpoint(fpValuePublished)
				t.retire(slot, kw, w)
				if !isAbsent(w) {
					t.touch(slot) // an overwrite is a use; an insert is not (CLOCK evicts new keys first)
				}
				t.notify(h, slot, w, nw, EventSet)
				t.sweepSome(deadline != 0)
				return nil
			}
			if moved {
				break // the slot was retired: find the key again
			}
		}
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

// Delete removes key and reports whether it was present.
func (t *Table) Delete(key []byte) (deleted bool, err error) {
	if err := checkKey(key); err != nil {
		return false, err
	}
	old, err := t.enter()
	if err != nil {
		return false, err
	}
	defer t.exitWrite(old, &err, &deleted)
	if err := t.notReplaced(); err != nil {
		return false, err
	}
	h := hash64(key, t.seed)
	slot, sn, ok, err := t.find(key, h)
	if err != nil || !ok {
		return false, err
	}
	if t.reuse {
		return t.deleteReuse(slot, sn.w0, &deleted), nil
	}
	return t.clearSlot(slot, h, &deleted), nil
}

// clearSlot empties slot's value word and reports whether it held a
// value; it sets *committed as soon as it has.
func (t *Table) clearSlot(slot, h uint64, committed *bool) bool {
	woff := t.valueWordOff(slot)
	for {
		w := t.mem.Load64(woff)
		if isAbsent(w) {
			return false
		}
		// An expired value is removed too, but was not there to delete.
		exp, stable := t.expired(woff, w)
		if !stable {
			continue
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

// Add atomically adds delta to the counter at key and returns the new
// value. An absent key starts at 0; Add(key, 0) reads a counter without
// creating it. A key holding a byte value gives ErrNotCounter, and a
// result outside [MinCounter, MaxCounter] gives ErrRange (the counter is
// left unchanged). On a key that is a striped adder (Table.Adder), Add
// adds delta to this process's lane and returns the adder's sum, which
// includes every add that returned before Add was called (and may include
// ones made meanwhile); an adder's sum is not range-checked.
func (t *Table) Add(key []byte, delta int64) (int64, error) {
	if len(key) <= MaxKeyLen && delta != 0 && delta <= MaxCounter && delta >= MinCounter && !t.reuse && !t.seg.Closed() {
		if n, ok := t.addFast(key, hash64(key, t.seed), delta); ok {
			return n, nil
		}
	}
	return t.addSlow(key, delta)
}

// addSlow is Add for what addFast does not settle, under the full fault
// guard: a fault here (which a fault in addFast leads to as well, see
// addFast) becomes the operation's ErrFault or ErrClosed.
func (t *Table) addSlow(key []byte, delta int64) (n int64, err error) {
	if err := checkKey(key); err != nil {
		return 0, err
	}
	if delta > MaxCounter || delta < MinCounter {
		return 0, fmt.Errorf("%w: delta %d leaves [%d, %d]", ErrRange, delta, int64(MinCounter), int64(MaxCounter))
	}
	old, err := t.enter()
	if err != nil {
		return 0, err
	}
	committed := false
	defer t.exitWrite(old, &err, &committed)
	if err := t.notReplaced(); err != nil {
		return 0, err
	}
	h := hash64(key, t.seed)
retry:
	for {
		var slot, kw uint64
		if delta == 0 {
			var sn seen
			var ok bool
			slot, sn, ok, err = t.find(key, h)
			if err != nil || !ok {
				return 0, err
			}
			kw = sn.w0
		} else if slot, kw, err = t.findOrClaim(key, h); err != nil {
			return 0, err
		}
		woff := t.valueWordOff(slot)
		for {
			w := t.mem.Load64(woff)
			var cur int64
			switch {
			case isCounter(w):
				cur = counterOf(w)
			case isAdder(w):
				return t.addAdder(slot, h, w, delta, &committed)
			case unitOf(w) != 0:
				exp, stable := t.expired(woff, w)
				if !stable {
					continue
				}
				if !exp {
					ok, moved := t.confirm(t.slotOff(slot), kw, w)
					switch {
					case ok:
						return 0, fmt.Errorf("%w: %q", ErrNotCounter, clip(key))
					case moved:
						continue retry
					}
					continue
				}
				// An expired value counts as absent: the counter starts at 0.
			}
			if delta == 0 {
				ok, moved := t.confirm(t.slotOff(slot), kw, w)
				switch {
				case ok:
					return cur, nil
				case moved:
					return 0, nil // retired: absent reads as 0
				}
				continue
			}
			next, inRange := addCounter(cur, delta)
			if !inRange {
				return cur, fmt.Errorf("%w: %d + %d leaves [%d, %d]", ErrRange, cur, delta, int64(MinCounter), int64(MaxCounter))
			}
			nw := counterWord(next)
			ok, moved := t.casValue(slot, kw, w, nw)
			if ok {
				committed = true
				n = next
				segment.Failpoint(fpAddPublished)
				t.retire(slot, kw, w) // absent: count the key; expired: free its record
				if !isAbsent(w) {
					t.touch(slot)
				}
				t.notify(h, slot, w, nw, EventAdd)
				return next, nil
			}
			if moved {
				continue retry
			}
		}
	}
}

// addFast is Add's common case in one pass: an existing counter or adder
// in the key's first probe group, in a segment without slot reuse,
// changed by one CAS (or one atomic add to this process's lane of an
// adder) that nothing else has to follow (no Len change, no record to
// free). ok is false for anything else, and Add then takes the general
// path; nothing changed then, except after a fault that came after the
// change (a Close under it, a file truncated under it), and then the
// general path fails too (ErrClosed, ErrFault): a change is never made
// twice. Like getFast, it has a fault guard of its own whose deferred
// function sets no results, and exists to cut instructions: counters are
// the hot loop of many users.
func (t *Table) addFast(key []byte, h uint64, delta int64) (n int64, ok bool) {
	defer t.fastDone(debug.SetPanicOnFault(true))
	if t.replaced.Load() != 0 {
		return 0, false
	}
	base, match, _ := t.firstGroup(h)
	if match == 0 {
		return 0, false
	}
	j := uint64(bits.TrailingZeros64(match))
	woff := t.valueWordOff(base + j)
	// Key words and key records never change in a segment without reuse:
	// one comparison settles whose slot this is. The key record's header
	// is checked inline, as getFast does (a live record whose prefix is as
	// long as the key and ends inside the arena); anything else takes the
	// general path, which reports corruption.
	u := uint64(unitOf(t.mem.Load64(t.slotOff(base + j))))
	kl := uint64(len(key))
	if u-1 >= t.units-1 { // u is 0 or past the arena
		return 0, false
	}
	roff := t.arenaOff + u*arena.Unit
	hdr := t.mem.Load64(roff)
	if hdr>>56 != arena.LiveMagic || hdr>>32&0xFFFF != kl || u*arena.Unit+arena.HeaderBytes+kl > t.units*arena.Unit ||
		!t.mem.Equal(roff+arena.HeaderBytes, key) {
		return 0, false
	}
	for range 4 {
		w := t.mem.Load64(woff)
		if !isCounter(w) {
			if !isAdder(w) {
				return 0, false
			}
			committed := false
			n, err := t.addAdder(base+j, h, w, delta, &committed)
			return n, err == nil || committed
		}
		cur := counterOf(w)
		next, inRange := addCounter(cur, delta)
		if !inRange {
			return 0, false // the general path reports ErrRange
		}
		nw := counterWord(next)
		if t.mem.CAS64(woff, w, nw) {
			segment.Failpoint(fpAddPublished)
			t.notify(h, base+j, w, nw, EventAdd)
			return next, true
		}
	}
	return 0, false // heavy contention: the general path retries
}

// addAdder is Add on slot's adder, whose value word is w: it adds delta
// to this process's lane (setting *committed) and returns the sum. It
// runs under a fault guard.
func (t *Table) addAdder(slot, h, w uint64, delta int64, committed *bool) (int64, error) {
	i := adderIndex(w)
	if delta == 0 {
		return t.sumAt(i)
	}
	cell, err := t.laneCell(i)
	if err != nil {
		return 0, err
	}
	own := int64(cell.Add(delta))
	*committed = true
	segment.Failpoint(fpAdderAdded)
	t.notify(h, slot, w, w, EventAdd)
	// This lane's part is the add's own result; laneCell marked the lane.
	used := t.mem.Load64(segment.OffLanesUsed) & t.laneMask &^ (1 << t.lanes.lane)
	return own + t.sumLanes(used, i), nil
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

// clip shortens a key for an error message.
func clip(key []byte) []byte {
	if len(key) > 64 {
		return key[:64]
	}
	return key
}

// CompareAndSwap replaces key's value with new if it currently equals old
// (a counter compares as its 8-byte little-endian form) and reports
// whether it did. An absent key never matches.
func (t *Table) CompareAndSwap(key, old, new []byte) (swapped bool, err error) {
	if err := checkRecord(key, new, 0); err != nil {
		return false, err
	}
	return t.compareAnd(key, old, new, false)
}

// CompareAndDelete deletes key if its value currently equals old and
// reports whether it did.
func (t *Table) CompareAndDelete(key, old []byte) (deleted bool, err error) {
	return t.compareAnd(key, old, nil, true)
}

func (t *Table) compareAnd(key, old, new []byte, del bool) (done bool, err error) {
	if err := checkKey(key); err != nil {
		return false, err
	}
	fo, err := t.enter()
	if err != nil {
		return false, err
	}
	defer t.exitWrite(fo, &err, &done)
	if err := t.notReplaced(); err != nil {
		return false, err
	}
	h := hash64(key, t.seed)
	slot, sn, ok, err := t.find(key, h)
	if err != nil || !ok {
		return false, err
	}
	kw := sn.w0
	woff := t.valueWordOff(slot)
	var u uint32
	defer func() {
		if !done && u != 0 {
			t.ar.Free(u, shardOf(slot))
		}
	}()
	for {
		w := t.mem.Load64(woff)
		eq, stable, err := t.valueEquals(woff, w, old)
		if err != nil {
			return false, err
		}
		if !stable {
			continue
		}
		if !eq {
			if ok, moved := t.confirm(t.slotOff(slot), kw, w); ok || moved {
				return false, nil // a different value, or retired: no match
			}
			continue
		}
		if del && t.reuse {
			// Deleting retires the slot. A slot retired under us means
			// the key was absent at that moment: no match.
			if t.retireKey(slot, kw, w) {
				done = true
				return true, nil
			}
			if !t.keyStill(slot, kw) {
				return false, nil
			}
			continue
		}
		if !del && u == 0 {
			if u, err = t.writeRecord(key, 0, new, shardOf(slot)); err != nil {
				return false, err
			}
		}
		nw := nextValueWord(w, u)
		swapped, moved := t.casValue(slot, kw, w, nw)
		if moved {
			return false, nil // retired under us: the key was absent then
		}
		if swapped {
			done = true // u is published now: the deferred free must not touch it
			segment.Failpoint(fpValuePublished)
			t.freeValue(slot, kw, w)
			kind := EventSet
			if del {
				t.addLen(slot, -1)
				kind = EventDelete
			}
			t.notify(h, slot, w, nw, kind)
			return true, nil
		}
	}
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

// GetOrSet returns key's value if it is present (loaded=true); otherwise
// it stores value and returns it (loaded=false). Across processes exactly
// one of several concurrent GetOrSet calls on an absent key stores.
func (t *Table) GetOrSet(key, value []byte) (actual []byte, loaded bool, err error) {
	return t.getOrSet(key, value, true)
}

// SetIfAbsent stores value under key only if key is absent and reports
// whether it did.
func (t *Table) SetIfAbsent(key, value []byte) (stored bool, err error) {
	_, loaded, err := t.getOrSet(key, value, false)
	return err == nil && !loaded, err
}

func (t *Table) getOrSet(key, value []byte, wantOld bool) (actual []byte, loaded bool, err error) {
	if err := checkKey(key); err != nil {
		return nil, false, err
	}
	if err := checkRecord(key, value, 0); err != nil {
		return nil, false, err
	}
	fo, err := t.enter()
	if err != nil {
		return nil, false, err
	}
	committed := false
	defer t.exitWrite(fo, &err, &committed)
	if err := t.notReplaced(); err != nil {
		return nil, false, err
	}
	h := hash64(key, t.seed)
	var u uint32
	pinned := false // u is the key record of the slot it claimed
	defer func() {
		if !committed && !pinned && u != 0 {
			t.ar.Free(u, int(h%segment.FreeShards))
		}
	}()
	prepare := func() (_ uint32, err error) {
		if u == 0 {
			u, err = t.writeRecord(key, 0, value, int(h%segment.FreeShards))
		}
		if !t.pinnable(key, value) {
			return 0, err
		}
		return u, err
	}
retry:
	for {
		slot, kw, err := t.findOrClaimPrepared(key, h, prepare)
		if err != nil {
			return nil, false, err
		}
		pinned = pinned || (u != 0 && unitOf(kw) == u)
		woff := t.valueWordOff(slot)
		for {
			w := t.mem.Load64(woff)
			live, stable := t.present(woff, w)
			if !stable {
				continue
			}
			if live {
				if !wantOld {
					ok, moved := t.confirm(t.slotOff(slot), kw, w)
					switch {
					case ok:
						return nil, true, nil
					case moved:
						continue retry
					}
					continue
				}
				v, present, err := t.readValue(nil, woff, seen{w0: kw, w1: w})
				if err != nil {
					return nil, false, err
				}
				if !present {
					if !t.keyStill(slot, kw) {
						// Retired while we read it: the slot may hold
						// another key now, whose value readValue would
						// refuse for ever. Look for the key again.
						continue retry
					}
					continue // deleted (or expired) while we read it
				}
				if v == nil {
					v = []byte{}
				}
				return v, true, nil
			}
			if u == 0 {
				// As in set: the key was found, not claimed by this call.
				if u, err = t.writeRecord(key, 0, value, shardOf(slot)); err != nil {
					return nil, false, err
				}
			}
			nw := nextValueWord(w, u)
			ok, moved := t.casValue(slot, kw, w, nw)
			if ok {
				committed, actual = true, value
				segment.Failpoint(fpValuePublished)
				t.retire(slot, kw, w) // absent: count the key; expired: free its record
				t.notify(h, slot, w, nw, EventSet)
				return value, false, nil
			}
			if moved {
				continue retry
			}
		}
	}
}
