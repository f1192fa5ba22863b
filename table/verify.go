package table

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/shmdict/shmdict/arena"
	"github.com/shmdict/shmdict/segment"
)

// Report is what Verify or Repair found (and, for Repair, fixed).
type Report struct {
	Slots        int // slots in the index
	ClaimedSlots int // slots holding a key word (live or dead; with eviction, live ones with a value: dead slots are free)
	DeadSlots    int // slots retired by an earlier Repair (or, with eviction, by deletes and evictions)
	PendingSlots int // eviction tables: claims not yet promoted (in flight, or left by a killed process)
	Keys         int // keys with a value or counter
	Counters     int // of which counters
	Adders       int // of which striped adders (counted in Counters too)
	Tombstones   int // claimed slots without a value

	LenCounter     int // what Len reported (the striped counters)
	ClaimedCounter int // the shared claimed-slot counter

	LiveBlocks   int    // key and value records reachable from slots
	LiveBytes    uint64 // their block sizes
	FreeBlocks   int    // blocks on free lists
	FreeBytes    uint64 // their sizes, as walked
	FreeCounter  uint64 // the free-byte counters
	LeakedBytes  uint64 // arena space below the bump pointer in no live or free block
	UnusedBytes  uint64 // arena space above the bump pointer
	OtherProcess int    // other live processes attached during the check
	// OverBudget: more slots are claimed than the claim budget allows (only
	// corruption does this). New keys get ErrFull; Compact fixes it.
	OverBudget bool

	// Problems lists broken invariants, each with where it was found.
	// Leaked space is not a problem (a killed writer leaves some); it is
	// reported in LeakedBytes and reclaimed by Repair.
	Problems []string
	// Fixed lists what Repair changed.
	Fixed []string
}

// OK reports whether no invariant was found broken.
func (r Report) OK() bool { return len(r.Problems) == 0 }

// String formats the report for people, one fact per line.
func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "slots %d, claimed %d (dead %d), keys %d (counters %d, of them adders %d), tombstones %d\n",
		r.Slots, r.ClaimedSlots, r.DeadSlots, r.Keys, r.Counters, r.Adders, r.Tombstones)
	if r.PendingSlots > 0 {
		fmt.Fprintf(&b, "pending claims: %d\n", r.PendingSlots)
	}
	fmt.Fprintf(&b, "counters: Len %d, claimed %d\n", r.LenCounter, r.ClaimedCounter)
	fmt.Fprintf(&b, "arena: live %d blocks / %d B, free %d blocks / %d B (counter %d B), leaked %d B, unused %d B\n",
		r.LiveBlocks, r.LiveBytes, r.FreeBlocks, r.FreeBytes, r.FreeCounter, r.LeakedBytes, r.UnusedBytes)
	if r.OverBudget {
		fmt.Fprintf(&b, "note: more slots are claimed than the budget allows; compact the table\n")
	}
	if r.OtherProcess > 0 {
		fmt.Fprintf(&b, "note: %d other processes were attached; counts may have moved during the check\n", r.OtherProcess)
	}
	for _, p := range r.Problems {
		fmt.Fprintf(&b, "problem: %s\n", p)
	}
	for _, f := range r.Fixed {
		fmt.Fprintf(&b, "fixed: %s\n", f)
	}
	return b.String()
}

// maxListedProblems caps Problems so that a wrecked segment gives a
// readable report; the count of the rest is appended.
const maxListedProblems = 100

// Verify checks every invariant of the table: each key word names a
// well-formed key record and sits on its key's probe path, no key is in
// two slots, every value record is well formed and carries its key, empty
// and (with eviction) dead slots hold no value, no two
// blocks overlap, the free lists are acyclic and hold only free blocks,
// and the shared counters match what the slots say. It only reads, never
// blocks others, and is safe while they work; but counts can move under
// it, so it is exact only when no other process writes (Report.OtherProcess
// says how many were attached). It returns an error matching ErrCorrupt
// if it found a problem.
func (t *Table) Verify() (Report, error) {
	var rep Report
	err := t.check(&rep, false)
	return rep, err
}

// slotFix is a change Repair makes to one slot.
type slotFix struct {
	slot    uint64
	kill    bool // retire the slot (dead key word, absent value)
	dropVal bool // empty the value word only
}

// check runs the checker; with repair set it also fixes what it found
// (the caller holds the segment exclusively).
func (t *Table) check(rep *Report, repair bool) (err error) {
	fo, err := t.enter()
	if err != nil {
		return err
	}
	defer t.exit(fo, &err)
	if repair && t.mem.Load64(segment.OffReplaced) != 0 {
		// Repair reaches a segment by its name (or owns a heap copy), and
		// Compact marks only the copy it took the name from: a mark here is
		// damage, and left alone it would fail every write for good.
		t.mem.Store64(segment.OffReplaced, 0)
		rep.Fixed = append(rep.Fixed, "cleared a replaced mark (the table under the name was never replaced)")
	}
	procs, err := t.seg.Processes()
	if err != nil {
		return err
	}
	for _, p := range procs {
		if !p.Self {
			rep.OtherProcess++
		}
	}
	c := &checker{
		t:         t,
		rep:       rep,
		used:      arena.NewUnitSet(t.ar.Units()),
		firstSlot: map[uint64][]uint64{},
		adderSlot: map[uint64]uint64{},
		adderNext: t.mem.Load64(segment.OffAdderNext),
		stripes:   make([]int64, segment.LenStripes),
		repairing: repair,
	}
	c.tiers(repair)
	rep.LenCounter = t.Len()
	for slot := uint64(0); slot < t.usedSlots(); slot++ {
		c.slot(slot)
	}
	c.totals()
	if repair {
		t.applyRepair(rep, c.fixes, c.used, c.stripes, c.claimed, c.liveEnd)
	}
	if len(rep.Problems) > 0 && !repair {
		return fmt.Errorf("%w: %s: %d problems, first: %s", ErrCorrupt, t.name, len(rep.Problems), rep.Problems[0])
	}
	return nil
}

// tiers checks the tier count of a growing table (Repair brings one out
// of range back into it) and reads the claimed-slot counters.
func (c *checker) tiers(repair bool) {
	t, rep := c.t, c.rep
	c.claimed = make([]int, t.maxTiers)
	if !t.grows {
		rep.Slots = int(t.usedSlots())
		rep.ClaimedCounter = int(t.mem.Load64(segment.OffClaimed))
		return
	}
	// The tier count should be in range and cover every tier that has
	// claims (their counters say so): a count lowered by damage would hide
	// the keys of the tiers above it.
	l := t.seg.Layout
	raw, want := t.mem.Load64(segment.OffTiers), uint64(t.tierCount())
	for i := uint32(1); i < t.maxTiers; i++ {
		if t.mem.Load64(l.TierClaimedOff(i)) != 0 {
			want = max(want, uint64(i)+1)
		}
	}
	if raw != want {
		c.problem("tier count %d, want %d (in [1, %d], covering every tier with claimed slots)", raw, want, t.maxTiers)
		if repair {
			t.mem.Store64(segment.OffTiers, want)
			rep.Fixed = append(rep.Fixed, fmt.Sprintf("tier count set to %d (was %d)", want, raw))
		}
	}
	if repair {
		// Tiers not in use hold nothing: make them zero (and give back
		// pages a grower killed before it raised the count had reserved),
		// so that damage there cannot surface once the table grows.
		n := t.tierCount()
		end := l.SlotsOff + l.TotalSlots()*segment.SlotSize
		if err := t.seg.Clear(l.SlotsOff+l.SlotsIn(n)*segment.SlotSize, end-(l.SlotsOff+l.SlotsIn(n)*segment.SlotSize)); err == nil {
			for i := n; i < t.maxTiers; i++ {
				t.mem.Store64(l.TierClaimedOff(i), 0)
			}
		}
		// Their overflow bits too: from the first group past the tiers in
		// use (whose word may hold bits of the last tier in use).
		g := l.SlotsIn(n) / segment.GroupSlots
		if w := t.ovfOff + g/32*4; g%32 != 0 {
			t.mem.Store32(w, t.mem.Load32(w)&(1<<(g%32)-1))
			g += 32 - g%32
		}
		t.seg.Clear(t.ovfOff+g/32*4, l.OverflowBytes(t.maxTiers)-g/32*4)
	}
	rep.Slots = int(t.usedSlots())
	for i := range t.tierCount() {
		rep.ClaimedCounter += int(t.mem.Load64(t.seg.Layout.TierClaimedOff(i)))
	}
}

// checker is one run of check: what it has seen of the slots so far.
type checker struct {
	t         *Table
	rep       *Report
	used      *arena.UnitSet      // blocks that slots reference
	firstSlot map[uint64][]uint64 // key hash -> slots holding a key with that hash
	adderSlot map[uint64]uint64   // adder index -> the slot holding it
	adderNext uint64              // adder indices handed out
	fixes     []slotFix
	stripes   []int64 // Len per stripe, as the slots say
	claimed   []int   // claimed slots per tier, as the slots say
	liveEnd   uint64  // end (in units) of the highest live block
	repairing bool    // check runs for Repair: fixes that need no slot go in at once
}

func (c *checker) problem(format string, args ...any) {
	if len(c.rep.Problems) < maxListedProblems {
		c.rep.Problems = append(c.rep.Problems, fmt.Sprintf(format, args...))
	} else if len(c.rep.Problems) == maxListedProblems {
		c.rep.Problems = append(c.rep.Problems, "more problems not listed")
	}
}

// markLive marks the block at u live, or says what is wrong with it.
func (c *checker) markLive(u uint32) string {
	msg := c.t.ar.MarkLive(u, c.used)
	if msg == "" {
		c.liveEnd = max(c.liveEnd, uint64(u)+blockBytes(c.t.ar, u)/arena.Unit)
	}
	return msg
}

func (c *checker) fix(f slotFix) { c.fixes = append(c.fixes, f) }

// slot checks one slot: its key word, its key, and then its value.
func (c *checker) slot(slot uint64) {
	t, rep := c.t, c.rep
	w0 := t.mem.Load64(t.slotOff(slot))
	if w0 == 0 {
		if w1 := t.mem.Load64(t.valueWordOff(slot)); w1 != 0 {
			c.problem("slot %d is empty but its value word is %#x", slot, w1)
			c.fix(slotFix{slot: slot, dropVal: true})
		}
		return
	}
	if t.reuse && !c.reuseSlot(slot, w0) {
		return
	}
	rep.ClaimedSlots++
	c.claimed[t.tierOf(slot)]++
	if w0 == deadWord {
		rep.DeadSlots++
		return
	}
	if !live(w0) {
		c.problem("slot %d: key word %#x has an invalid state", slot, w0)
		c.fix(slotFix{slot: slot, kill: true})
		return
	}
	key, ok := c.key(slot, w0)
	if !ok {
		return
	}
	c.value(slot, unitOf(w0), key)
}

// reuseSlot checks the states only a segment that reuses slots has (dead
// slots free for claims, pending claims, claims without a value), and
// reports whether the slot is a live key's, to check further.
func (c *checker) reuseSlot(slot, w0 uint64) bool {
	t, rep := c.t, c.rep
	if w0 == t.deadFor(w0) || isPending(w0) {
		// Dead and pending slots hold no value: retiring makes it
		// absent, and a claim stores one only once promoted. One that
		// names a record is a trap (the next claim of a dead slot takes
		// it over with the key word alone, and its writer would free
		// that record, perhaps another key's, as its old value).
		if w1 := t.mem.Load64(t.valueWordOff(slot)); !isAbsent(w1) {
			c.problem("slot %d is free or a pending claim (key word %#x) but its value word is %#x", slot, w0, w1)
			if !isPending(w0) {
				c.fix(slotFix{slot: slot, dropVal: true})
			}
		}
	}
	switch {
	case w0 == t.deadFor(w0):
		// With slot reuse, dead slots are free for claims and hold no
		// reservation (their value word is checked above).
		rep.DeadSlots++
		return false
	case isPending(w0):
		// A claim in flight, or one a killed process left: it holds a
		// reservation and its key record until Repair kills it.
		rep.PendingSlots++
		c.fix(slotFix{slot: slot, kill: true})
		return false
	case live(w0) && isAbsent(t.mem.Load64(t.valueWordOff(slot))):
		// A claim whose writer has not stored a value yet, or was
		// killed before it did: Repair retires it (and frees its key
		// record, reported as leaked until then).
		rep.Tombstones++
		c.fix(slotFix{slot: slot, kill: true})
		return false
	}
	return true
}

// key checks a live slot's key: its record, its tag, its place on its
// probe path, that no other slot holds it. It marks the key record live
// and returns the key, or ok false if the slot is done with (retired by a
// fix, or changed under the check).
func (c *checker) key(slot, w0 uint64) (key []byte, ok bool) {
	t, rep := c.t, c.rep
	ku := unitOf(w0)
	koff, n, ok := t.keyAt(ku)
	// In a segment that reuses slots, other processes may retire this
	// slot (and recycle its key record) while Verify reads it: a slot
	// whose key word changed is skipped, not reported.
	stale := func() bool {
		if t.reuse && t.mem.Load64(t.slotOff(slot)) != w0 {
			rep.ClaimedSlots--
			c.claimed[0]--
			return true
		}
		return false
	}
	if !ok {
		if !stale() {
			c.problem("slot %d: key record at unit %d is malformed", slot, ku)
			c.fix(slotFix{slot: slot, kill: true})
		}
		return nil, false
	}
	key = t.mem.CopyOut(make([]byte, 0, n), koff, n)
	if stale() {
		return nil, false
	}
	h := hash64(key, t.seed)
	msg := ""
	switch {
	case !t.tagIs(w0, tagOf(h)):
		msg = fmt.Sprintf("key %q has tag %#x, its hash says %#x", clip(key), wordTag(w0), tagOf(h))
	case !t.onProbePath(h, slot):
		msg = fmt.Sprintf("key %q is not on its probe path before an empty slot (lookups cannot find it)", clip(key))
	case t.grows && !t.pathMarked(h, slot, c.repairing):
		c.problem("slot %d: key %q lies past a group whose overflow bit is clear (lookups of it could stop there)", slot, clip(key))
		if c.repairing {
			c.rep.Fixed = append(c.rep.Fixed, fmt.Sprintf("slot %d: overflow bits set on its key's path", slot))
		}
	}
	if msg != "" {
		c.problem("slot %d: %s", slot, msg)
		c.fix(slotFix{slot: slot, kill: true})
		return nil, false
	}
	dup := false
	for _, other := range c.firstSlot[h] {
		ou := unitOf(t.mem.Load64(t.slotOff(other)))
		if ooff, on, _ := t.keyAt(ou); on == n && bytes.Equal(t.mem.Bytes(ooff, n), key) {
			if t.grows && t.tierOf(other) != t.tierOf(slot) && isAbsent(t.mem.Load64(t.valueWordOff(other))) {
				// A key set again after its delete from an older tier:
				// the older slot is sealed, or absent for good (tiers.go).
				continue
			}
			c.problem("slot %d: key %q is also in slot %d", slot, clip(key), other)
			dup = true
		}
	}
	if dup {
		c.fix(slotFix{slot: slot, kill: true})
		return nil, false
	}
	// Mark the key record only now: a slot retired above must leave
	// its record unmarked, so that Repair reclaims it at once.
	if msg := c.markLive(ku); msg != "" {
		c.problem("slot %d: key %s", slot, msg)
		c.fix(slotFix{slot: slot, kill: true})
		return nil, false
	}
	rep.LiveBlocks++
	rep.LiveBytes += blockBytes(t.ar, ku)
	c.firstSlot[h] = append(c.firstSlot[h], slot)
	return key, true
}

// value checks the value word of a slot whose key (record at ku) checked.
func (c *checker) value(slot uint64, ku uint32, key []byte) {
	t, rep := c.t, c.rep
	w1 := t.mem.Load64(t.valueWordOff(slot))
	switch {
	case isCounter(w1):
		rep.Counters++
	case isAdder(w1):
		if msg := c.adder(slot, adderIndex(w1)); msg != "" {
			c.problem("slot %d: key %q %s", slot, clip(key), msg)
			c.drop(slot)
			return
		}
		rep.Counters++
		rep.Adders++
	case unitOf(w1) == 0:
		rep.Tombstones++
		return
	default:
		vu := unitOf(w1)
		_, vp, vn, ok := t.ar.ReadPrefixed(vu)
		if !ok || vp != uint64(len(key)) || !t.mem.Equal(t.ar.Off(vu)+arena.HeaderBytes, key) || (expires(w1) && vn < 8) {
			c.problem("slot %d: value record at unit %d of key %q is malformed or carries another key", slot, vu, clip(key))
			c.drop(slot)
			return
		}
		// In version 5 the key's first value record may also be its key
		// record, marked already.
		if vu != ku || t.reuse {
			if msg := c.markLive(vu); msg != "" {
				c.problem("slot %d: value %s", slot, msg)
				c.drop(slot)
				return
			}
			rep.LiveBlocks++
			rep.LiveBytes += blockBytes(t.ar, vu)
		}
	}
	rep.Keys++
	c.stripes[slot%segment.LenStripes]++
}

// adder checks an adder's index i: handed out, and held by no other
// slot. It returns what is wrong, or "".
func (c *checker) adder(slot, i uint64) string {
	l := &c.t.seg.Layout
	if i >= l.Adders || i >= c.adderNext {
		return fmt.Sprintf("is an adder of index %d, which was never handed out (%d of %d were)", i, min(c.adderNext, l.Adders), l.Adders)
	}
	if other, dup := c.adderSlot[i]; dup {
		return fmt.Sprintf("is an adder of index %d, which slot %d's adder has too", i, other)
	}
	c.adderSlot[i] = slot
	return ""
}

// drop fixes a slot whose value is bad (see dropValueFix).
func (c *checker) drop(slot uint64) {
	c.fix(c.t.dropValueFix(slot, c.rep))
	c.rep.Tombstones++
}

// totals checks the shared counters and the arena against the slots.
func (c *checker) totals() {
	t, rep := c.t, c.rep
	if rep.LenCounter != rep.Keys {
		c.problem("Len counters say %d keys, the slots hold %d", rep.LenCounter, rep.Keys)
	}
	if rep.ClaimedCounter != rep.ClaimedSlots {
		c.problem("claimed-slot counter says %d, %d slots are claimed", rep.ClaimedCounter, rep.ClaimedSlots)
	}
	// More claimed slots than the budget only comes from corruption; the
	// table works (new keys get ErrFull), and only Compact can shrink it.
	rep.OverBudget = rep.ClaimedSlots > int(t.capacity(t.tierCount()))
	bump := t.ar.Bump()
	if bump == 0 || bump > t.ar.Units() {
		c.problem("arena bump pointer %d is outside [1, %d]", bump, t.ar.Units())
	} else if c.liveEnd > bump {
		c.problem("arena bump pointer %d is below live records (which end at unit %d): new records would overwrite them", bump, c.liveEnd)
	}
	covered := c.used.Clone() // live blocks, then free ones too
	fs, freeProblems := t.ar.WalkFree(covered)
	for _, p := range freeProblems {
		c.problem("%s", p)
	}
	rep.FreeBlocks, rep.FreeBytes, rep.FreeCounter = int(fs.Blocks), fs.Bytes, fs.Counted
	if len(freeProblems) == 0 && fs.Bytes != fs.Counted {
		c.problem("free-byte counters say %d, the free lists hold %d", fs.Counted, fs.Bytes)
	}
	rep.LeakedBytes = t.ar.Leaked(covered) * arena.Unit
	rep.UnusedBytes = (t.ar.Units() - min(bump, t.ar.Units())) * arena.Unit
}

// blockBytes is the size of the live block at u (already validated).
func blockBytes(a *arena.Arena, u uint32) uint64 {
	c, _, _, _ := a.ReadPrefixed(u)
	return arena.ClassUnits(c) * arena.Unit
}

// onProbePath reports whether slot is on the probe path of hash h with
// every slot before it claimed, so that a lookup reaches it.
func (t *Table) onProbePath(h, slot uint64) bool {
	limit := t.maxProbe
	if t.reuse {
		limit = t.probeBound(h & (t.groups - 1)) // lookups stop there too
	}
	found := false
	t.walkFrom(t.probeSeqIn(t.tierOf(slot), h), limit, func(s, w0, _ uint64) bool {
		found = s == slot
		return !found && w0 != 0
	})
	return found
}

// pathMarked reports whether every group before slot's on the probe path
// of hash h (in slot's tier) has its overflow bit set, as the claim that
// passed them set it; with fix set, it sets those that are not.
func (t *Table) pathMarked(h, slot uint64, fix bool) bool {
	ok := true
	for p := t.probeSeqIn(t.tierOf(slot), h); p.dist < t.maxProbe; p.next() {
		base := p.base()
		if slot >= base && slot < base+segment.GroupSlots {
			return ok
		}
		if !t.overflowed(base) {
			ok = false
			if fix {
				t.setOverflow(base)
			}
		}
	}
	return ok
}

// dropValueFix is the fix for a slot whose value is bad: empty its value
// word, or, in a segment that reuses slots (where a claimed slot without a
// value is a claim in flight, not a tombstone), retire the slot; it then
// no longer counts as claimed. Its key record stays marked, so it shows as
// leaked until the next Repair.
func (t *Table) dropValueFix(slot uint64, rep *Report) slotFix {
	if t.reuse {
		rep.ClaimedSlots--
		return slotFix{slot: slot, kill: true}
	}
	return slotFix{slot: slot, dropVal: true}
}

// applyRepair makes the fixes check collected, then rebuilds the counters
// and the free lists from what the slots reference.
func (t *Table) applyRepair(rep *Report, fixes []slotFix, used *arena.UnitSet, stripes []int64, claimed []int, liveEnd uint64) {
	// The value word a fix leaves: 0 in an empty slot and in a segment
	// without reuse; otherwise absent with the next version, as retiring
	// leaves it, so that the slot's versions run on (see takeSlot).
	absent := func(slot uint64) uint64 {
		woff := t.valueWordOff(slot)
		if !t.reuse || t.mem.Load64(t.slotOff(slot)) == 0 {
			return 0
		}
		return nextValueWord(t.mem.Load64(woff), 0)
	}
	for _, f := range fixes {
		if f.kill {
			t.mem.Store64(t.valueWordOff(f.slot), absent(f.slot))
			t.mem.Store64(t.slotOff(f.slot), t.deadFor(t.mem.Load64(t.slotOff(f.slot))))
			rep.Fixed = append(rep.Fixed, fmt.Sprintf("slot %d retired (its key and any value are lost)", f.slot))
		} else if f.dropVal {
			t.mem.Store64(t.valueWordOff(f.slot), absent(f.slot))
			rep.Fixed = append(rep.Fixed, fmt.Sprintf("slot %d: bad value dropped", f.slot))
		}
	}
	for i, n := range stripes {
		t.mem.Store64(segment.OffLenStripes+uint64(i)*segment.LineSize, uint64(n))
	}
	if rep.LenCounter != rep.Keys {
		rep.Fixed = append(rep.Fixed, fmt.Sprintf("Len counters set to %d (were %d)", rep.Keys, rep.LenCounter))
	}
	if bump := t.ar.Bump(); bump < liveEnd || bump > t.ar.Units() {
		t.mem.Store64(segment.OffBump, max(liveEnd, 1))
		rep.Fixed = append(rep.Fixed, fmt.Sprintf("arena bump pointer set to %d (was %d)", max(liveEnd, 1), bump))
	}
	if t.reuse {
		// Retired slots do not count as claimed here: count what the
		// fixes left (live slots; pending ones were all retired).
		claimed[0] = 0
		for slot := uint64(0); slot < t.seg.Layout.Slots; slot++ {
			if w0 := t.mem.Load64(t.slotOff(slot)); live(w0) || isPending(w0) {
				claimed[0]++
			}
		}
	}
	if t.grows {
		for i, n := range claimed {
			off := t.seg.Layout.TierClaimedOff(uint32(i))
			if was := t.mem.Load64(off); was != uint64(n) {
				t.mem.Store64(off, uint64(n))
				rep.Fixed = append(rep.Fixed, fmt.Sprintf("claimed-slot counter of tier %d set to %d (was %d)", i, n, was))
			}
		}
	} else {
		t.mem.Store64(segment.OffClaimed, uint64(claimed[0]))
		if rep.ClaimedCounter != claimed[0] {
			rep.Fixed = append(rep.Fixed, fmt.Sprintf("claimed-slot counter set to %d (was %d)", claimed[0], rep.ClaimedCounter))
		}
	}
	blocks, freeBytes := t.ar.RebuildFree(used)
	rep.Fixed = append(rep.Fixed, fmt.Sprintf("free lists rebuilt: %d blocks, %d B (reclaimed %d leaked B)", blocks, freeBytes, rep.LeakedBytes))
}

// Repair opens the table called name exclusively, checks it like Verify,
// and fixes what a crash or corruption left: leaked blocks go back to the
// free lists, the counters are recomputed, corrupt free lists are rebuilt,
// and slots or values that break an invariant are retired (their data is
// lost and listed in Report.Fixed). A replaced mark on the table (see
// ErrReplaced) is cleared: the table under the name was never replaced,
// and left alone the mark would fail every write. It refuses with
// ErrInUse while other live processes have the table open, unless force
// is set; forcing while they write can lose their writes or corrupt the
// table. While Repair runs, other processes cannot attach (ErrBusy).
func Repair(name string, force bool) (Report, error) { return RepairShared(name, "", force) }

// RepairShared is Repair for a table shared through group (see
// Options.Group).
func RepairShared(name, group string, force bool) (Report, error) {
	t, err := AttachShared(name, group)
	if err != nil {
		return Report{}, err
	}
	defer t.Close()
	if err := t.seg.LockExclusive(); err != nil && !(force && errors.Is(err, ErrInUse)) {
		return Report{}, err
	}
	var rep Report
	if err := t.check(&rep, true); err != nil {
		return rep, err
	}
	return rep, nil
}

// Repair checks and fixes t as the function Repair does, for a table in
// this process's own memory (New, AttachImage), which no other process can
// use. A table on a segment file fails with ErrInvalid: repair it by name
// with the function Repair, which holds the file exclusively.
func (t *Table) Repair() (Report, error) {
	if !t.seg.IsHeap() {
		return Report{}, fmt.Errorf("%w: %s is a segment file; use table.Repair(name, force), which locks it exclusively", ErrInvalid, t.seg.Path)
	}
	var rep Report
	if err := t.check(&rep, true); err != nil {
		return rep, err
	}
	return rep, nil
}
