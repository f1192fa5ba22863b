package table

import (
	"math/bits"
	"runtime/debug"

	"github.com/shmdict/shmdict/segment"
)

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
	if t.grows {
		return t.getFastTiered(dst, key, h)
	}
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
	if w1&(counterBit|expiresBit) != 0 {
		return dst, false
	}
	return t.copyFast(dst, key, base+j, w1)
}

// getFastTiers is how many of the newest tiers getFastTiered looks in: in
// a grown table they hold 7/8 of the keys.
const getFastTiers = 3

// getFastTiered is getFast in a growing table, under getFast's guard: the
// key's home group in each of the newest getFastTiers tiers (prefetched
// together, so that their misses overlap), newest first. Any slot of the
// key holding a value is the answer (tiers.go); anything else (no match in
// those groups, a match that is not the key, a counter, an absent slot)
// goes to the general path.
func (t *Table) getFastTiered(dst, key []byte, h uint64) ([]byte, bool) {
	n := t.tierCount()
	lo := uint32(max(int(n)-getFastTiers, 0))
	for i := lo; i < n; i++ {
		t.mem.Prefetch(t.slotOff(t.probeSeqIn(i, h).base()))
	}
	for i := int(n) - 1; i >= int(lo); i-- {
		base := t.probeSeqIn(uint32(i), h).base()
		match, _ := t.firstGroup(base, h)
		if match == 0 {
			continue
		}
		j := uint64(bits.TrailingZeros64(match))
		w1 := t.mem.Load64(t.valueWordOff(base + j))
		if w1&(counterBit|expiresBit) != 0 {
			return dst, false
		}
		return t.copyFast(dst, key, base+j, w1)
	}
	return dst, false
}

// Contains reports whether key is present.
func (t *Table) Contains(key []byte) (found bool, err error) {
	old, err := t.enterKey(key)
	if err != nil {
		return false, err
	}
	defer t.exit(old, &err)
	_, slot, sn, ok, err := t.locate(key, false)
	if err != nil || !ok {
		return false, err
	}
	woff := t.valueWordOff(slot)
	for {
		w, present, exp := t.settled(woff)
		live := present && !exp
		if ok, moved := t.confirm(t.slotOff(slot), sn.w0, w); ok || moved {
			return live && ok, nil
		}
	}
}
