package table

import (
	"errors"
	"fmt"
	"math/bits"

	"github.com/shmdict/shmdict/arena"
	"github.com/shmdict/shmdict/segment"
)

// Probing. The slot array is split into groups of 4 slots (one cache
// line). A key's probe sequence visits groups g0, g0+1, g0+3, g0+6, ...
// (triangular numbers, which cover every group of a power-of-two table),
// and the slots of each group in order, up to maxProbe groups. Because
// slots are never emptied, a key lives in the first slot of its sequence
// that was empty when it was inserted: a lookup that meets an empty slot
// knows the key is absent, and two processes inserting the same key meet
// at the same slot (the loser of the claim CAS sees the winner's key and
// uses that slot).

// slotOff returns the byte offset of slot i.
func (t *Table) slotOff(i uint64) uint64 { return t.slotsOff + i*segment.SlotSize }

// shardOf picks the free-list shard for a slot's records.
func shardOf(slot uint64) int { return int(slot % segment.FreeShards) }

// keyMatches reports whether the key record of key word w0 holds key.
// Key records are immutable once published, so a plain comparison is
// safe; a record that fails its bounds check is corruption.
func (t *Table) keyMatches(w0 uint64, key []byte) (bool, error) {
	u := unitOf(w0)
	off, n, ok := t.keyAt(u)
	if !ok {
		return false, errCorruptKey(t, u)
	}
	if n != uint64(len(key)) {
		return false, nil
	}
	// Read as a validated read is (Mem.Equal): in a segment that reuses
	// slots, a key record can be freed (and rewritten) under a reader that
	// loaded its key word earlier; the reader then rechecks the key word.
	return t.mem.Equal(off, key), nil
}

// keyAt locates the key in the key record at arena unit u, the record a
// key word names: the offset and length of the key's bytes. In a version-4
// segment the key record is a record whose prefix is the key: the key's
// first value record (a Set that claimed the slot), or one with an empty
// payload (a claim without a value: Add, Counter). In a version-3 segment
// (eviction) it is a record of its own whose payload is the key. ok is
// false for a malformed record.
func (t *Table) keyAt(u uint32) (off, n uint64, ok bool) {
	_, p, n, ok := t.ar.ReadPrefixed(u)
	switch {
	case !ok:
		return 0, 0, false
	case !t.reuse:
		n = p
	case p != 0:
		return 0, 0, false
	}
	if n > MaxKeyLen {
		return 0, 0, false
	}
	return t.ar.Off(u) + arena.HeaderBytes, n, true
}

// pinClass is the largest size class of a first value record that a
// claim keeps as the key record (see keyAt): 64 bytes, one cache line. A
// key whose value is overwritten keeps its first record until Compact, so
// a larger first record (or an expiring one, which is soon dead) gets a
// key record of its own instead.
const pinClass = 3

// pinnable reports whether the first value record of key, holding value,
// may serve as its key record.
func (t *Table) pinnable(key, value []byte) bool {
	c := arena.ClassFor(arena.PrefixSpan(uint64(len(key))) + uint64(len(value)))
	return !t.reuse && c >= 0 && c <= pinClass
}

// keyRecord writes a key record for key (see keyAt), privately: the
// caller publishes it with its claim or frees it.
func (t *Table) keyRecord(key []byte, shard int) (uint32, error) {
	if t.reuse {
		return t.writeRecord(nil, 0, key, shard)
	}
	return t.writeRecord(key, 0, nil, shard)
}

// freeValue frees the record of value word w, just unpublished from slot
// whose key word is kw, unless the key word names it: in a version-4
// segment the key's first value record stays as its key record for the
// life of the slot. Counters and absent values have no record.
func (t *Table) freeValue(slot, kw, w uint64) {
	if isCounter(w) || unitOf(w) == 0 || unitOf(w) == unitOf(kw) {
		return
	}
	// A bad header means corruption; the block is left where it is (a
	// leak that fsck reports) rather than trusted.
	_ = t.ar.Free(unitOf(w), shardOf(slot))
}

// seen is what matching a slot learned about its value: the value word
// and, when known is set, the prefix and payload lengths of its record as
// read while that word was in place. A later read that rechecks the word
// can skip rereading the header.
type seen struct {
	w0    uint64 // the key word that matched (set by find)
	w1    uint64
	p, n  uint64
	known bool
}

// matches reports whether slot, whose key word w0 carries key's tag,
// holds key. It tries the value record first: it carries a copy of the key
// (as its prefix) and is the line a Get reads next anyway, so a lookup
// costs two cache lines (slot, record) instead of three. A record that is
// recycled under us fails the value word's recheck and is retried. Absent
// values and counters fall back to the immutable key record.
func (t *Table) matches(slot, w0 uint64, key []byte) (bool, seen, error) {
	woff := t.valueWordOff(slot)
	for {
		if testHookMatchBefore != nil {
			testHookMatchBefore()
		}
		w1 := t.mem.Load64(woff)
		if testHookMatchLoaded != nil {
			testHookMatchLoaded()
		}
		if !holdsRecord(w1) {
			eq, err := t.keyMatchesAt(slot, w0, key)
			return eq, seen{w1: w1}, err
		}
		u := unitOf(w1)
		_, p, n, ok := t.ar.ReadPrefixed(u)
		eq := ok && p == uint64(len(key)) && t.mem.Equal(t.ar.Off(u)+arena.HeaderBytes, key)
		if t.mem.Load64(woff) != w1 {
			continue
		}
		if !ok {
			return false, seen{}, fmt.Errorf("%w: value record at arena unit %d is malformed (%s)", ErrCorrupt, u, t.name)
		}
		if !eq {
			// A negative answer comes from the immutable key record only:
			// a value word that went through an ABA under the check above
			// must not make a key look absent (its inserter would claim a
			// second slot for it).
			eq, err := t.keyMatchesAt(slot, w0, key)
			return eq, seen{w1: w1}, err
		}
		return true, seen{w1: w1, p: p, n: n, known: true}, nil
	}
}

// find returns the slot index holding key, or ok=false if it is absent,
// and what it saw of the slot's key and value words. In a segment that
// reuses slots, a match is confirmed by rereading the key word: a key
// record compared after its slot was retired may have been recycled.
func (t *Table) find(key []byte, h uint64) (slot uint64, sn seen, ok bool, err error) {
	for {
		slot, sn, ok, err = t.find1(key, h)
		if !ok || err != nil || !t.reuse || t.mem.Load64(t.slotOff(slot)) == sn.w0 {
			if ok && testHookFound != nil {
				testHookFound()
			}
			return slot, sn, ok, err
		}
	}
}

func (t *Table) find1(key []byte, h uint64) (slot uint64, sn seen, ok bool, err error) {
	tag := tagOf(h)
	if slot, sn, ok, done, err := t.findFirstGroup(key, h); done {
		return slot, sn, ok, err
	}
	p := t.probeSeq(h)
	limit := t.maxProbe
	if t.reuse {
		limit = t.probeBound(p.g) // no key homed here lies beyond it
	}
	for ; p.dist < limit; p.next() {
		base := p.base()
		for j := uint64(0); j < segment.GroupSlots; j++ {
			w0 := t.mem.Load64(t.slotOff(base + j))
			if w0 == 0 {
				return 0, seen{}, false, nil
			}
			if !live(w0) || !t.tagIs(w0, tag) {
				continue
			}
			match, sn, err := t.matches(base+j, w0, key)
			if err != nil {
				return 0, seen{}, false, err
			}
			if match {
				sn.w0 = w0
				return base + j, sn, true, nil
			}
		}
	}
	return 0, seen{}, false, nil
}

// firstGroup loads the four key words of the first probe group of key
// hash h and returns the group's first slot and two bit masks over its
// slots: live ones whose tag is h's, and empty ones. Masks rather than a
// branch per slot: a key's position in its group is random, so branching
// on each word mispredicts about once per lookup, and a mispredict that
// waits for the slot's cache miss discards the next lookup's overlapping
// work. A caller that needs a matched key word loads it again and checks
// it still matches (in a segment that reuses slots it can change).
func (t *Table) firstGroup(h uint64) (base, match, empty uint64) {
	base = h & (t.groups - 1) * segment.GroupSlots
	off := t.slotOff(base)
	want, keep := wantWord(h), t.hiKeep
	w0 := t.mem.Load64(off)
	w1 := t.mem.Load64(off + segment.SlotSize)
	w2 := t.mem.Load64(off + 2*segment.SlotSize)
	w3 := t.mem.Load64(off + 3*segment.SlotSize)
	match = bit((w0>>32^want)&keep == 0) | bit((w1>>32^want)&keep == 0)<<1 |
		bit((w2>>32^want)&keep == 0)<<2 | bit((w3>>32^want)&keep == 0)<<3
	empty = bit(w0 == 0) | bit(w1 == 0)<<1 | bit(w2 == 0)<<2 | bit(w3 == 0)<<3
	return base, match, empty
}

// wantWord is the high half of the key word of a live key with hash h
// (in an eviction segment, with generation 0: compare it under hiKeep).
func wantWord(h uint64) uint64 { return uint64(stateClaimed)<<(stateShift-32) | tagOf(h) }

// findFirstGroup settles the common lookups, a key in its first probe
// group or absent before that group's first empty slot. done is false
// when the lookup needs the general probe loop (a tag collision, a full
// first group with no match, or a key word that changed under it).
func (t *Table) findFirstGroup(key []byte, h uint64) (slot uint64, sn seen, ok, done bool, err error) {
	base, match, empty := t.firstGroup(h)
	// Only matches before the first empty slot count; with no empty slot,
	// empty&-empty is 0 and the mask below keeps every match.
	cand := match & (empty&-empty - 1)
	if cand == 0 {
		return 0, seen{}, false, empty != 0, nil
	}
	j := uint64(bits.TrailingZeros64(cand))
	w := t.mem.Load64(t.slotOff(base + j))
	if (w>>32^wantWord(h))&t.hiKeep != 0 {
		return 0, seen{}, false, false, nil
	}
	eq, sn, err := t.matches(base+j, w, key)
	if err != nil {
		return 0, seen{}, false, true, err
	}
	if eq {
		sn.w0 = w
		return base + j, sn, true, true, nil
	}
	return 0, seen{}, false, false, nil
}

// bit is 1 for true and 0 for false, without a branch.
func bit(b bool) uint64 {
	var x uint64
	if b {
		x = 1
	}
	return x
}

// testHookMatchBefore and testHookMatchLoaded run (when tests set them)
// before and after matches loads a value word, to replay slot-reuse races.
var testHookMatchBefore, testHookMatchLoaded func()

// testHookFound runs (when tests set it) when find returns a slot that
// matched, so that tests can retire and re-claim that slot before the
// operation uses it.
var testHookFound func()

// findOrClaim returns the slot index holding key and its key word,
// claiming a slot for it if it has none. Claiming reserves one unit of the
// claim budget, writes the key record privately, then publishes it with
// one CAS on the key word (through a pending claim in a segment that
// reuses slots: see reuse.go).
func (t *Table) findOrClaim(key []byte, h uint64) (slot, kw uint64, err error) {
	// Most writes are to keys that exist: take the read-only path first.
	if slot, sn, ok, err := t.find(key, h); ok || err != nil {
		return slot, sn.w0, err
	}
	if t.reuse {
		return t.claimReuse(key, h)
	}
	return t.claim(key, h, 0)
}

// findOrClaimPrepared is findOrClaim for a write that stores a record of
// its own: for an absent key, prepare (which writes the record) runs
// before a slot is claimed. In a segment that never reuses slots a claim
// cannot be given back (its slot keeps the key for good), so a write that
// fails for want of arena space must fail before it claims: it then takes
// nothing, and the caller frees the record unless it published it. In a
// segment that reuses slots, no claim of this write stays without a value
// while it allocates, and perhaps evicts for arena space: the CLOCK hand
// takes a claim without a value for an abandoned one once a pass has
// marked it.
//
// In a version-4 segment the prepared record (prepare returns its unit, a
// record whose prefix is key) is also what the claim publishes as the key
// record: the key word names it for the life of the slot. The caller knows
// its record was taken so when kw's unit is that record's: it must then
// not free it, even if its value CAS never happens.
func (t *Table) findOrClaimPrepared(key []byte, h uint64, prepare func() (uint32, error)) (slot, kw uint64, err error) {
	if slot, sn, ok, err := t.find(key, h); ok || err != nil {
		return slot, sn.w0, err
	}
	rec, err := prepare()
	if err != nil {
		return 0, 0, err
	}
	if t.reuse {
		return t.claimReuse(key, h)
	}
	return t.claim(key, h, rec)
}

// claim is findOrClaim's slow path, for a key that was absent a moment
// ago (another process may be inserting it right now). rec, if not 0, is
// a record the caller wrote whose prefix is key: the claim publishes it as
// the key record (and leaves it to the caller if it claims nothing).
// Otherwise the claim writes a key record of its own.
func (t *Table) claim(key []byte, h uint64, rec uint32) (slot, kw uint64, err error) {
	tag := tagOf(h)
	c := claimRes{t: t, h: h, keyUnit: rec, borrowed: rec != 0}
	release := c.release
	for p := t.probeSeq(h); p.dist < t.maxProbe; p.next() {
		base := p.base()
		for j := uint64(0); j < segment.GroupSlots; j++ {
			off := t.slotOff(base + j)
			w0 := t.mem.Load64(off)
			if w0 == 0 {
				if !c.reserved {
					if err := t.reserveSlot(); err != nil {
						release()
						return 0, 0, err
					}
					c.reserved = true
					segment.Failpoint(fpClaimReserved)
				}
				if err := c.writeKey(key); err != nil {
					release()
					return 0, 0, err
				}
				if kw := keyWord(tag, c.keyUnit); t.mem.CAS64(off, 0, kw) {
					segment.Failpoint(fpClaimPublished)
					return base + j, kw, nil
				}
				w0 = t.mem.Load64(off) // another key took it; look at which
			}
			if !live(w0) || !t.tagIs(w0, tag) {
				continue
			}
			match, _, err := t.matches(base+j, w0, key)
			if err != nil {
				release()
				return 0, 0, err
			}
			if match {
				release()
				return base + j, w0, nil
			}
		}
	}
	release()
	return 0, 0, fmt.Errorf("%w: no free slot within %d probe groups for this key (%s: %d of %d slots claimed); compact the table or create it with a larger Capacity",
		ErrFull, t.maxProbe, t.name, t.mem.Load64(segment.OffClaimed), t.seg.Layout.Slots)
}

// claimRes is what a claim in progress holds: a unit of the claim budget
// and a key record, both given back if the claim ends without taking a
// slot (another process inserted the key, or an error).
type claimRes struct {
	t        *Table
	h        uint64
	keyUnit  uint32
	borrowed bool // keyUnit is the caller's record: not ours to free
	reserved bool
}

// writeKey writes the key record, once.
func (c *claimRes) writeKey(key []byte) error {
	if c.keyUnit != 0 {
		return nil
	}
	u, err := c.t.keyRecord(key, int(c.h%segment.FreeShards))
	if err != nil {
		return err
	}
	c.keyUnit = u
	segment.Failpoint(fpClaimKeyWritten)
	return nil
}

// release gives back what the claim holds.
func (c *claimRes) release() {
	if c.keyUnit != 0 && !c.borrowed {
		c.t.ar.Free(c.keyUnit, int(c.h%segment.FreeShards))
	}
	if c.reserved {
		c.t.mem.Add64(segment.OffClaimed, -1)
	}
}

// reserveSlot takes one unit of the claim budget, or returns ErrFull.
func (t *Table) reserveSlot() error {
	if !t.tryReserve() {
		return t.errBudgetFull()
	}
	return nil
}

// tryReserve takes one unit of the claim budget and reports whether it
// did.
func (t *Table) tryReserve() bool {
	if t.mem.Add64(segment.OffClaimed, 1) > t.budget {
		t.mem.Add64(segment.OffClaimed, -1)
		return false
	}
	return true
}

// errBudgetFull builds the ErrFull error of a claim that found the claim
// budget used up. It only reads: a caller that gives up must not come away
// holding a reservation (or a slot) by building its error.
func (t *Table) errBudgetFull() error {
	keys := t.Len()
	if t.reuse {
		return fmt.Errorf("%w: all %d key slots are claimed and no key could be evicted (%s: %d keys present; other slots are claims in progress, or left by a killed process until Repair); create the table with a larger Capacity",
			ErrFull, t.budget, t.name, keys)
	}
	return fmt.Errorf("%w: all %d key slots are claimed (%s: %d keys present, %d slots held by deleted keys, which only compaction frees); create the table with a larger Capacity",
		ErrFull, t.budget, t.name, keys, max(int(t.budget)-keys, 0))
}

// writeRecord allocates a block from shard and fills it privately with
// prefix and payload; the caller publishes it with a CAS or frees it. Key
// records have no prefix; value records have their key as prefix. A
// nonzero deadline (Unix ns) is written as an i64 before the payload, for
// a value word with expiresBit.
func (t *Table) writeRecord(prefix []byte, deadline int64, payload []byte, shard int) (uint32, error) {
	span := arena.PrefixSpan(uint64(len(prefix)))
	head := uint64(0)
	if deadline != 0 {
		head = 8
	}
	c := arena.ClassFor(span + head + uint64(len(payload)))
	if c < 0 {
		return 0, fmt.Errorf("%w: %d bytes with a %d-byte key, the limit is %d in all (store large values elsewhere and keep a reference)",
			ErrValueTooLarge, len(payload), len(prefix), arena.MaxPayload)
	}
	u, err := t.allocRecord(c, shard)
	if err != nil {
		return 0, err
	}
	off := t.ar.Off(u)
	t.ar.SetLengths(u, uint64(len(prefix)), head+uint64(len(payload)))
	t.mem.CopyIn(off+arena.HeaderBytes, prefix)
	if head != 0 {
		t.mem.Put64(off+arena.HeaderBytes+span, uint64(deadline))
	}
	t.mem.CopyIn(off+arena.HeaderBytes+span+head, payload)
	segment.Failpoint(fpValueWritten)
	return u, nil
}

// allocRecord allocates a block of class c from shard. In an evicting
// segment, a full arena makes it evict keys that hold a block of class c
// or larger (the arena does not merge smaller free blocks) and try again.
func (t *Table) allocRecord(c, shard int) (uint32, error) {
	for round := 0; ; round++ {
		u, err := t.ar.Alloc(c, shard)
		if err == nil {
			return u, nil
		}
		if !errors.Is(err, arena.ErrFull) {
			return 0, fmt.Errorf("%w (%s)", err, t.name)
		}
		// A block larger than the whole arena is never there to evict for.
		if t.reuse && round < evictRounds && arena.ClassUnits(c) < t.ar.Units() {
			if evicted, _ := t.evict(evictBatch, c); evicted > 0 {
				continue
			}
		}
		st := t.Stats()
		return 0, fmt.Errorf("%w: %v (%s: %d keys; %d of %d arena bytes in use); create the table with a larger ArenaBytes, or delete keys",
			ErrFull, err, t.name, st.Keys, st.ArenaUsed, st.ArenaBytes)
	}
}

func errCorruptKey(t *Table, u uint32) error {
	return fmt.Errorf("%w: key record at arena unit %d is malformed (%s)", ErrCorrupt, u, t.name)
}
