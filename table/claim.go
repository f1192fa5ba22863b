package table

import (
	"fmt"
	"math/rand/v2"

	"github.com/shmdict/shmdict/segment"
)

// testHookClaimScanned, if set (by tests, before any goroutine uses a
// table), runs between a claim's scan and its pending CAS: tests widen
// that window to make racing claims of one key likely.
var testHookClaimScanned func()

// testHookBeforeKill and testHookBeforePromote run before a claim's kill
// CAS on another pending claim and before its own promote CAS; tests
// replay the interleavings an adversarial review found with them.
var testHookBeforeKill, testHookBeforePromote func()

// testHookClaimFull runs when a claim gives up for want of a reservation,
// just before it reports ErrFull: tests free a slot there, as another
// process deleting a key at that moment would.
var testHookClaimFull func()

// claimReuse is findOrClaim's slow path in a segment that reuses slots:
// the pending-claim protocol described at the top of reuse.go. It writes
// a key record of its own (a version-3 key record holds just the key), so
// it takes no prepared record (rec).
func (t *Table) claimReuse(key []byte, h uint64, _ uint32) (slot, kw uint64, err error) {
	rc := reuseClaim{t: t, key: key, h: h, tag: tagOf(h), g0: h & (t.groups - 1), c: claimRes{t: t, h: h}}
	for round := 0; ; {
		// 1. Find a live copy of the key (within the probe bound), and the
		// first dead or empty slot.
		cand, candWord, candDist, haveCand, err := rc.scan()
		switch {
		case err != nil:
			rc.c.release()
			return 0, 0, err
		case rc.haveFound:
			rc.c.release()
			return rc.found, rc.foundWord, nil
		case !haveCand:
			// Every slot on the path is taken (only an over-full table,
			// left so by corruption, gets here): evict and look again.
			if round < evictRounds && t.makeRoom() {
				round++
				continue
			}
			rc.c.release()
			return 0, 0, fmt.Errorf("%w: no free slot within %d probe groups for this key (%s); compact the table or create it with a larger Capacity",
				ErrFull, t.maxProbe, t.name)
		}
		if again, err := rc.reserve(&round); err != nil || again {
			if err != nil {
				return 0, 0, err
			}
			continue
		}
		if testHookClaimScanned != nil {
			testHookClaimScanned()
		}
		t.raiseBound(rc.g0, candDist)
		t.clearRef(cand)
		ctag := t.claimTag(rc.tag, candWord)
		pw := pendingWord(ctag, rc.c.keyUnit)
		if !t.takeSlot(cand, candWord, pw) {
			continue // taken under us: look again
		}
		segment.Failpoint(fpClaimPending)

		// 2. The full-path check: kill other pending claims of the key,
		// give way to a live copy.
		if err := rc.checkPath(cand); err != nil || rc.haveFound {
			// Our pending claim goes back to dead (unless killed already).
			t.mem.CAS64(t.slotOff(cand), pw, t.deadFor(pw))
			rc.c.release()
			if err != nil {
				return 0, 0, err
			}
			return rc.found, rc.foundWord, nil
		}

		// 3. Promote; a killed claim starts over with the same record.
		lw := keyWord(ctag, rc.c.keyUnit)
		if testHookBeforePromote != nil {
			testHookBeforePromote()
		}
		if t.mem.CAS64(t.slotOff(cand), pw, lw) {
			segment.Failpoint(fpClaimPublished)
			return cand, lw, nil
		}
	}
}

// reuseClaim is one claimReuse: the key, and what its scans found. It
// lives on claimReuse's stack: nothing of it is kept (errors are
// returned, not stored), so the key does not escape, and callers' keys
// can stay on their stacks (Map.Set's, for one).
type reuseClaim struct {
	t         *Table
	key       []byte
	h, tag    uint64
	g0        uint64 // the key's home group
	c         claimRes
	found     uint64 // a live copy of the key, if haveFound
	foundWord uint64
	haveFound bool
}

// liveCopy records s if it holds a live copy of the key, and reports
// whether a scan should stop there (a copy, or an error comparing it).
func (rc *reuseClaim) liveCopy(s, w0 uint64) (stop bool, err error) {
	if !live(w0) || !rc.t.tagIs(w0, rc.tag) {
		return false, nil
	}
	eq, err := rc.t.liveMatch(s, w0, rc.key)
	if err != nil {
		return true, err
	}
	if eq {
		rc.found, rc.foundWord, rc.haveFound = s, w0, true
	}
	return eq, nil
}

// scan walks the key's path up to its probe bound for a live copy of the
// key, and returns the first dead or empty slot (haveCand) with its word
// and its distance from the home group.
func (rc *reuseClaim) scan() (cand, candWord, candDist uint64, haveCand bool, err error) {
	bound := rc.t.probeBound(rc.g0)
	rc.t.walkPath(rc.h, rc.t.maxProbe, func(s, w0, dist uint64) bool {
		switch {
		case haveCand && dist >= bound:
			return false
		case w0 == 0:
			if !haveCand {
				cand, candWord, candDist, haveCand = s, 0, dist, true
			}
			return false
		case isDead(w0):
			if !haveCand {
				cand, candWord, candDist, haveCand = s, w0, dist, true
			}
			return true
		}
		if dist >= bound {
			return true
		}
		var stop bool
		stop, err = rc.liveCopy(s, w0)
		return !stop
	})
	return cand, candWord, candDist, haveCand, err
}

// reserve takes the claim's budget unit (once) and writes its key record:
// again reports that room was made and the scan should run again.
func (rc *reuseClaim) reserve(round *int) (again bool, err error) {
	t, c := rc.t, &rc.c
	if !c.reserved {
		if !t.tryReserve(0) {
			// At the budget: make room and look again, and fail only
			// when nothing could be freed. The error is built by a
			// function that takes nothing: every return of a slot
			// below is of one this claim holds.
			if *round < evictRounds && t.makeRoom() {
				*round++
				return true, nil
			}
			c.release()
			if testHookClaimFull != nil {
				testHookClaimFull()
			}
			return false, t.errBudgetFull()
		}
		c.reserved = true
		segment.Failpoint(fpClaimReserved)
	}
	if err := c.writeKey(rc.key); err != nil {
		c.release()
		return false, err
	}
	return false, nil
}

// checkPath is the full-path check after taking cand as pending: it kills
// other pending claims of the key and records a live copy to give way to.
func (rc *reuseClaim) checkPath(cand uint64) (err error) {
	t := rc.t
	t.walkPath(rc.h, t.probeBound(rc.g0), func(s, w0, _ uint64) bool {
		switch {
		case s == cand:
			return true
		case w0 == 0:
			return false
		case isPending(w0) && t.tagIs(w0, rc.tag):
			if eq, err := t.keyMatchesAt(s, w0, rc.key); err != nil || !eq {
				return true
			}
			if testHookBeforeKill != nil {
				testHookBeforeKill()
			}
			if t.mem.CAS64(t.slotOff(s), w0, t.deadFor(w0)) {
				return true
			}
			// The kill failed: the other claim changed meanwhile. If
			// it was promoted, it is a live copy of the key that our
			// scan has not seen yet: give way to it.
			w0 = t.mem.Load64(t.slotOff(s))
		}
		var stop bool
		stop, err = rc.liveCopy(s, w0)
		return !stop
	})
	return err
}

// takeSlot CASes slot's key word from cand (empty or dead) to pending
// word pw. A never-used slot also gets its value word's version sequence
// started at a random point, in the same 16-byte CAS: a key that is
// deleted and set again in another slot, with the same recycled value
// record, would otherwise start again at version 1, and a waiter holding
// the Version of its first value would see no change. A dead slot's value
// word already carries the version after its last key's (retireKey), so
// every slot's versions run on from a random start, and a key that moves
// repeats a Version only by a 1 in 2^30 chance (and then only if it also
// gets the same value record).
func (t *Table) takeSlot(slot, cand, pw uint64) bool {
	if cand != 0 {
		return t.mem.CAS64(t.slotOff(slot), cand, pw)
	}
	start := uint64(rand.Uint32()&versionMask) << 32
	// An empty slot's value word is 0 unless the segment is corrupt
	// (Verify reports it); compare what is there, as a CAS of the key
	// word alone would, so that such a slot cannot make a claim retry
	// for ever.
	w1 := t.mem.Load64(t.valueWordOff(slot))
	return t.mem.CAS128(t.slotOff(slot), 0, w1, pw, start)
}

// findOrClaim returns the slot index holding key and its key word,
// claiming a slot for it if it has none. Claiming reserves one unit of the
// claim budget, writes the key record privately, then publishes it with
// one CAS on the key word (through a pending claim in a segment that
// reuses slots: see reuse.go).
func (t *Table) findOrClaim(key []byte, h uint64) (slot, kw uint64, err error) {
	// Most writes are to keys that exist: take the read-only path first.
	slot, sn, ok, err := t.find(key, h)
	if ok || err != nil {
		return slot, sn.w0, err
	}
	return t.claimKey(key, h, 0, sn.tiers)
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
	slot, sn, ok, err := t.find(key, h)
	if ok || err != nil {
		return slot, sn.w0, err
	}
	rec, err := prepare()
	if err != nil {
		return 0, 0, err
	}
	return t.claimKey(key, h, rec, sn.tiers)
}

// claimKey gives an absent key a slot by its format's protocol: claim's
// CAS of an empty key word (version 5), or claimReuse's pending claim
// (version 3). rec is a prepared record a version-5 claim may take as
// the key record. One place decides; a direct call, so that the key does
// not escape (a call through a function value would make every caller's
// key escape to the heap). tiers is the tier count under which find last
// found the key absent (seen.tiers; growing tables only).
func (t *Table) claimKey(key []byte, h uint64, rec uint32, tiers uint32) (slot, kw uint64, err error) {
	if t.reuse {
		return t.claimReuse(key, h, rec)
	}
	if t.grows {
		return t.claimTiered(key, h, rec, tiers)
	}
	return t.claim(key, h, rec, 0)
}

// claimTiered is claim in a growing table: in the newest tier, growing
// the table when that tier is full (tiers.go). It claims in tier n-1 only
// after a lookup under the same tier count n found the key absent in
// every tier: a claim of the key in an older tier by another process then
// either came before that lookup (which found it) or after it, and that
// process's write reads the tier count after its claim, sees its tier
// closed and seals it. A claim under a newer count than the lookup's
// could miss a claim in the tier that was newest for the lookup, and the
// key would get a value in two tiers. So after a growth, or when the
// count moved since the caller's lookup, the key is looked for again.
func (t *Table) claimTiered(key []byte, h uint64, rec uint32, tiers uint32) (slot, kw uint64, err error) {
	for {
		n := t.tierCount()
		if n != tiers {
			slot, sn, ok, err := t.find(key, h)
			if ok || err != nil {
				return slot, sn.w0, err
			}
			tiers = sn.tiers
			continue
		}
		slot, kw, err = t.claim(key, h, rec, n-1)
		if err == errTierSealed {
			tiers = 0 // the table grew: look again
			continue
		}
		if err != errTierFull {
			return slot, kw, err
		}
		if err := t.grow(n); err != nil {
			return 0, 0, err
		}
	}
}

// claim is findOrClaim's slow path, for a key that was absent a moment
// ago (another process may be inserting it right now). rec, if not 0, is
// a record the caller wrote whose prefix is key: the claim publishes it as
// the key record (and leaves it to the caller if it claims nothing).
// Otherwise the claim writes a key record of its own.
//
// tier is the tier it claims in (0 in a fixed table); in a growing table
// a full tier that is not the last is errTierFull.
func (t *Table) claim(key []byte, h uint64, rec uint32, tier uint32) (slot, kw uint64, err error) {
	tag := tagOf(h)
	c := claimRes{t: t, h: h, keyUnit: rec, borrowed: rec != 0, tier: tier}
	release := c.release
	p0 := t.probeSeq(h)
	if t.grows {
		p0 = t.probeSeqIn(tier, h)
	}
	for p := p0; p.dist < t.maxProbe; p.next() {
		base := p.base()
		for j := uint64(0); j < segment.GroupSlots; j++ {
			off := t.slotOff(base + j)
			w0 := t.mem.Load64(off)
			if w0 == 0 {
				if !c.reserved {
					if err := t.reserveSlot(tier); err != nil {
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
				if t.grows && isSealed(t.mem.Load64(t.valueWordOff(base+j))) {
					// Sealed, so its tier is closed by now: a newer tier
					// holds the key or will (claimTiered looks again).
					// In the tier that is still the newest it is damage.
					if t.tierCount() > tier+1 {
						return 0, 0, errTierSealed
					}
					return 0, 0, fmt.Errorf("%w: a key is sealed in slot %d of the newest tier (%s); run Repair", ErrCorrupt, base+j, t.name)
				}
				return base + j, w0, nil
			}
		}
		if t.grows {
			t.setOverflow(base) // before any claim further on (tiers.go)
		}
	}
	release()
	if t.grows {
		return 0, 0, t.tierFull(tier)
	}
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
	tier     uint32 // the tier whose budget it reserved from
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
		c.t.mem.Add64(c.t.seg.Layout.TierClaimedOff(c.tier), -1)
	}
}

// reserveSlot takes one unit of tier's claim budget, or returns ErrFull
// (errTierFull for a tier of a growing table that is not its last).
func (t *Table) reserveSlot(tier uint32) error {
	if !t.tryReserve(tier) {
		if t.grows {
			return t.tierFull(tier)
		}
		return t.errBudgetFull()
	}
	return nil
}

// tryReserve takes one unit of tier's claim budget and reports whether it
// did.
func (t *Table) tryReserve(tier uint32) bool {
	if !t.grows {
		// A fixed table's one counter, without the tier arithmetic: it
		// is on every insert's path (interleaved BenchmarkInsert runs
		// were 5-8% slower with the general form).
		if t.mem.Add64(segment.OffClaimed, 1) > t.budget {
			t.mem.Add64(segment.OffClaimed, -1)
			return false
		}
		return true
	}
	off := t.seg.Layout.TierClaimedOff(tier)
	if t.mem.Add64(off, 1) > t.tierBudget(tier) {
		t.mem.Add64(off, -1)
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
