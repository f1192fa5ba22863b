package table

import (
	"fmt"
	"math/bits"

	"github.com/shmdict/shmdict/arena"
	"github.com/shmdict/shmdict/segment"
)

// Probing. The slot array is split into groups of 4 slots (one cache
// line). A key's probe sequence visits groups g0, g0+1, g0+3, g0+6, ...
// (triangular numbers, which cover every group of a power-of-two table:
// probeSeq), and the slots of each group in order, up to maxProbe groups.
// A claimed slot never becomes empty again (in a table with eviction a
// retired slot is dead, and claims reuse it under the pending protocol of
// reuse.go and claim.go), so a lookup that meets an empty slot knows the
// key is absent. Without eviction a key lives in the first slot of its
// sequence that was empty when it was inserted, and two processes
// inserting the same key meet at the same slot (the loser of the claim
// CAS sees the winner's key and uses that slot).

// seen is what matching a slot learned about its value: the value word
// and, when known is set, the prefix and payload lengths of its record as
// read while that word was in place. A later read that rechecks the word
// can skip rereading the header.
type seen struct {
	w0    uint64 // the key word that matched (set by find)
	w1    uint64
	p, n  uint64
	known bool
	// tiers is, when find found the key absent in a growing table, the
	// tier count it looked under (claimTiered).
	tiers uint32
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

// locate finds key for an operation that has entered (enterKey): its hash,
// and its slot if present. A write first checks that the table was not
// replaced under it (ErrReplaced).
func (t *Table) locate(key []byte, write bool) (h, slot uint64, sn seen, ok bool, err error) {
	if write {
		if err := t.notReplaced(); err != nil {
			return 0, 0, seen{}, false, err
		}
	}
	h = hash64(key, t.seed)
	slot, sn, ok, err = t.find(key, h)
	return h, slot, sn, ok, err
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
	if t.grows {
		return t.findTiered(key, h)
	}
	if slot, sn, ok, done, err := t.findFirstGroup(key, h); done {
		return slot, sn, ok, err
	}
	p := t.probeSeq(h)
	limit := t.maxProbe
	if t.reuse {
		limit = t.probeBound(p.g) // no key homed here lies beyond it
	}
	return t.findOn(p, limit, key, h)
}

// findTiered is find in a growing table: the key's slot in the newest
// tier that has one, unless that slot is sealed. A sealed slot means the
// key is absent: the write that sealed it had found no value in any
// older slot of the key (each of those is sealed, or a claim that lost a
// race with a growth and will be sealed by its own writer), and it
// claims the key in a newer tier, where this walk found nothing. An
// absent slot in a closed tier is returned as it is: it reads as absent,
// and a write to it seals it and comes back (casValue).
//
// The home groups of all tiers are prefetched first, so that their cache
// misses overlap, and a tier whose home group has no tag match before an
// empty slot is passed on its masks alone (as findFirstGroup does): a
// lookup of an absent key, which every insert starts with, costs about
// one miss however many tiers there are.
func (t *Table) findTiered(key []byte, h uint64) (slot uint64, sn seen, ok bool, err error) {
	n := t.tierCount()
	for i := range n {
		p := t.probeSeqIn(i, h)
		t.mem.Prefetch(t.slotOff(p.base()))
	}
	for i := int(n) - 1; i >= 0; i-- {
		p := t.probeSeqIn(uint32(i), h)
		if match, empty := t.firstGroup(p.base(), h); match&(empty&-empty-1) == 0 && (empty != 0 || !t.overflowed(p.base())) {
			continue
		}
		slot, sn, ok, err = t.findOn(p, t.maxProbe, key, h)
		if err != nil || ok {
			if ok && isSealed(sn.w1) {
				return 0, seen{tiers: n}, false, nil
			}
			return slot, sn, ok, err
		}
	}
	return 0, seen{tiers: n}, false, nil
}

// findOn walks probe path p for key, up to limit groups or an empty slot.
func (t *Table) findOn(p probeSeq, limit uint64, key []byte, h uint64) (slot uint64, sn seen, ok bool, err error) {
	tag := tagOf(h)
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
		if t.grows && !t.overflowed(base) {
			return 0, seen{}, false, nil // no claim passed this full group
		}
	}
	return 0, seen{}, false, nil
}

// findFirstGroup settles the common lookups, a key in its first probe
// group or absent before that group's first empty slot. done is false
// when the lookup needs the general probe loop (a tag collision, a full
// first group with no match, or a key word that changed under it).
func (t *Table) findFirstGroup(key []byte, h uint64) (slot uint64, sn seen, ok, done bool, err error) {
	base := t.homeBase(h)
	match, empty := t.firstGroup(base, h)
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

// testHookMatchBefore and testHookMatchLoaded run (when tests set them)
// before and after matches loads a value word, to replay slot-reuse races.
var testHookMatchBefore, testHookMatchLoaded func()

// testHookFound runs (when tests set it) when find returns a slot that
// matched, so that tests can retire and re-claim that slot before the
// operation uses it.
var testHookFound func()

// liveMatch reports whether slot's live key word w0 (tag already checked)
// names key, confirming against a recycled key record.
func (t *Table) liveMatch(slot, w0 uint64, key []byte) (bool, error) {
	eq, _, err := t.matches(slot, w0, key)
	if err != nil || !eq {
		return false, err
	}
	return t.mem.Load64(t.slotOff(slot)) == w0, nil
}
