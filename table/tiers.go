package table

import (
	"fmt"
	"math/bits"

	"github.com/shmdict/shmdict/segment"
)

// Growth by tiers (format version 6, Options.MaxCapacity). The slot array
// of a growing table is a row of tiers reserved at create as address
// space: tier i has Slots<<i slots (groups<<i probe groups), starts at
// slot Slots*(2^i - 1), and takes claims up to ClaimBudget<<i. The
// OffTiers word says how many tiers are in use; only the newest takes
// claims. When a claim finds the newest tier full (its budget spent, or
// no slot on the key's path), it reserves the next tier's pages and
// raises OffTiers by one CAS (grow): the table has grown, and nothing
// moved. Keys stay in the slot they were claimed in for the segment's
// life, so handles, iterators, events and waiters never have to follow
// one.
//
// A key can have a slot in several tiers (it was deleted from an old
// tier and set again, which claims it in the newest). One rule keeps its
// value in at most one of them: an absent value word in a tier that is no
// longer the newest never receives a value. A write that would give it
// one seals it instead (CAS absent → sealed, casValue), and looks for the
// key again; a lookup that meets a sealed slot knows that the key has no
// older slot that can hold a value either (see find's tiered walk), and
// the write then claims the key in the newest tier. A write reads
// OffTiers after it loaded the absent word it replaces, so a write that
// saw its tier newest raced the growth: the claimer in the new tier looked
// for the key in the old tier after the growth, and either found its slot
// (and sealed it, or saw the value) or the slot's claim came later (and
// its writer sees the growth). docs/DESIGN.md has the whole argument.

// sealedWord is the value word of a sealed slot: absent, with a version
// that nextValueWord never hands out, so that a validated read, a waiter
// or a CAS can never take it for a live absent word.
const sealedWord = uint64(versionMask) << 32

// isSealed reports whether value word w1 is sealed.
func isSealed(w1 uint64) bool { return w1 == sealedWord }

// tierOf returns the tier holding slot.
func (t *Table) tierOf(slot uint64) uint32 {
	return uint32(bits.Len64(slot>>t.slotsShift+1) - 1)
}

// Overflow bits (growing tables). A lookup of an absent key looks in
// every tier, and in a tier loaded to its claim budget (3/4) a third of
// the 4-slot groups are full, which would send it on to the next group of
// its path, often another cache miss. A claim that passes a full group
// first sets the group's overflow bit (claim.go); bits are only ever set.
// A lookup that finds a full group without its key and with the bit clear
// knows no key homed at that group or passing through it lies further on
// (set before any such claim), so the key is absent from the tier.

// overflowed reports whether the group of global slot base (a multiple of
// 4) has its overflow bit set.
func (t *Table) overflowed(base uint64) bool {
	g := base / segment.GroupSlots
	return t.mem.Load32(t.ovfOff+g/32*4)>>(g%32)&1 != 0
}

// setOverflow sets the overflow bit of the group of global slot base.
func (t *Table) setOverflow(base uint64) {
	g := base / segment.GroupSlots
	off, bit := t.ovfOff+g/32*4, uint32(1)<<(g%32)
	if t.mem.Load32(off)&bit == 0 {
		t.mem.Or32(off, bit)
	}
}

// closedAt reports whether slot's tier is no longer the newest. The
// caller loaded the slot's absent value word before calling it.
func (t *Table) closedAt(slot uint64) bool {
	return t.grows && t.tierOf(slot)+1 < t.tierCount()
}

// sealInstead is the tier rule of a write that would replace slot's
// absent value word w with a value, in a growing table: if the slot is
// sealed, or its tier is closed, the write must not (sealed is true), and
// it seals the slot. moved then says the slot is sealed for good (the
// write looks for its key again); otherwise the seal lost to another
// change of the word, which the write reloads.
func (t *Table) sealInstead(slot, w uint64) (moved, sealed bool) {
	if isSealed(w) {
		return true, true
	}
	if !t.closedAt(slot) {
		return false, false
	}
	if t.mem.CAS64(t.valueWordOff(slot), w, sealedWord) {
		segment.Failpoint(fpTierSealed)
		return true, true
	}
	return false, true
}

// grow makes tier n the newest, if n tiers are in use: it reserves the
// tier's pages (a full file system is ErrNoSpace, and nothing changes)
// and raises OffTiers from n to n+1. Of several processes growing at once
// one CAS wins; the others find the tier grown. A process killed between
// the two steps leaves pages reserved for a tier not in use, which the
// next grower reserves again (fallocate of allocated pages changes
// nothing).
func (t *Table) grow(n uint32) error {
	l := t.seg.Layout
	if n >= t.maxTiers {
		return t.errMaxCapacity()
	}
	if raw := t.mem.Load64(segment.OffTiers); raw != uint64(n) {
		if raw > uint64(n) && raw <= uint64(t.maxTiers) {
			return nil // grown meanwhile
		}
		return fmt.Errorf("%w: the tier count word is %d, outside [1, %d] (%s); run Repair", ErrCorrupt, raw, t.maxTiers, t.name)
	}
	if err := t.seg.Reserve(l.SlotsOff+l.TierFirst(n)*segment.SlotSize, (l.Slots<<n)*segment.SlotSize); err != nil {
		return err
	}
	if err := t.seg.Reserve(l.OverflowOff+l.OverflowBytes(n), l.OverflowBytes(n+1)-l.OverflowBytes(n)); err != nil {
		return err
	}
	segment.Failpoint(fpTierReserved)
	if t.mem.CAS64(segment.OffTiers, uint64(n), uint64(n)+1) {
		segment.Failpoint(fpTierGrown)
	}
	return nil
}

// errTierFull is what claim returns when a tier of a growing table that
// is not its last is full: claimTiered grows the table and never returns
// it.
var errTierFull = fmt.Errorf("%w: tier full", ErrFull)

// errTierSealed is what claim returns when it meets its key sealed in a
// tier that is closed by now: claimTiered looks for the key again.
var errTierSealed = fmt.Errorf("%w: key sealed in a closed tier", ErrFull)

// tierFull is what a claim in tier of a growing table returns when the
// tier is full: errTierFull (claimTiered grows the table), or, in the
// last tier, errMaxCapacity.
func (t *Table) tierFull(tier uint32) error {
	if tier+1 < t.maxTiers {
		return errTierFull
	}
	return t.errMaxCapacity()
}

// errMaxCapacity is the ErrFull of a growing table whose last tier is
// full.
func (t *Table) errMaxCapacity() error {
	return fmt.Errorf("%w: the table has grown to its MaxCapacity (%d keys in %d tiers, %d keys present; slots of deleted keys are freed only by compaction) (%s); compact it with a larger MaxCapacity",
		ErrFull, t.capacity(t.maxTiers), t.maxTiers, t.Len(), t.name)
}
