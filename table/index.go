package table

import (
	"github.com/shmdict/shmdict/segment"
)

// probeSeq is the probe path of a key hash, group by group: its home
// group, then the group 1 further on, then 2 further than that, and so on
// (the home group plus the triangular numbers dist(dist+1)/2, mod the
// group count). Lookups, claims, Verify and the eviction scans all walk
// it, so that they agree on where a key can be.
//
// It visits every group: the group count is a power of two, 2^k, and the
// triangular numbers d(d+1)/2 for d in [0, 2^k) are distinct mod 2^k. If
// d(d+1)/2 and e(e+1)/2 were equal mod 2^k, then (d-e)(d+e+1) would be 0
// mod 2^(k+1); one of the two factors is odd, so the other would be a
// multiple of 2^(k+1), which neither is (0 < d-e < 2^k, 0 < d+e+1 <
// 2^(k+1)). So the first 2^k groups of the path are all the groups.
type probeSeq struct {
	mask  uint64 // group count - 1
	g     uint64 // the current group
	dist  uint64 // how many groups were passed to reach it
	first uint64 // the first slot of the tier (tiers.go; 0 in a fixed table)
}

// probeSeq returns the probe path of key hash h, at its home group, in
// the first (in a fixed table, the only) tier.
func (t *Table) probeSeq(h uint64) probeSeq {
	return probeSeq{mask: t.groups - 1, g: h & (t.groups - 1)}
}

// probeSeqIn returns the probe path of key hash h in tier i.
func (t *Table) probeSeqIn(i uint32, h uint64) probeSeq {
	mask := t.groups<<i - 1
	return probeSeq{mask: mask, g: h & mask, first: t.seg.Layout.TierFirst(i)}
}

// homeBase returns the first slot of key hash h's home group where the
// fast paths (getFast, addFast, GetMany) look: in the first tier of a
// fixed table; in the newest tier of a growing one, where most of its keys
// live. Any slot of a key that holds a value is the key's (a key has a
// value in one slot at most: tiers.go), so a hit anywhere is an answer; a
// miss sends them to the general path.
func (t *Table) homeBase(h uint64) uint64 {
	if t.grows {
		return t.newestHome(h) // a call: homeBase stays inlined in fixed tables
	}
	return h & (t.groups - 1) * segment.GroupSlots
}

// newestHome is homeBase in a growing table.
func (t *Table) newestHome(h uint64) uint64 { return t.probeSeqIn(t.tierCount()-1, h).base() }

// base is the first slot of the current group.
func (p probeSeq) base() uint64 { return p.first + p.g*segment.GroupSlots }

// next moves to the next group of the path.
func (p *probeSeq) next() {
	p.dist++
	p.g = (p.g + p.dist) & p.mask
}

// valueWordOff is the offset of a slot's value word.
func (t *Table) valueWordOff(slot uint64) uint64 { return t.slotOff(slot) + 8 }

// walkPath calls f with each slot of key hash h's probe path, its key
// word and its group's probe distance, in probe order, until f returns
// false or after limit groups.
func (t *Table) walkPath(h, limit uint64, f func(slot, w0, dist uint64) bool) {
	t.walkFrom(t.probeSeq(h), limit, f)
}

// walkFrom is walkPath from probe path p (of any tier).
func (t *Table) walkFrom(p probeSeq, limit uint64, f func(slot, w0, dist uint64) bool) {
	for ; p.dist < limit; p.next() {
		base := p.base()
		for j := uint64(0); j < segment.GroupSlots; j++ {
			if !f(base+j, t.mem.Load64(t.slotOff(base+j)), p.dist) {
				return
			}
		}
	}
}

// probeBound returns how many probe groups a lookup of a key homed at
// group g must visit: one more than the farthest group a key homed there
// was ever claimed in. Without it, lookups of absent keys would scan to the
// probe limit once retired slots have filled every empty one (slots never
// become empty again).
func (t *Table) probeBound(g uint64) uint64 {
	off, shift := t.dispOff+g/4*4, g%4*8
	return min(uint64(t.mem.Load32(off)>>shift&0xFF)+1, t.maxProbe)
}

// raiseBound records that a key homed at group g is being claimed in the
// group at probe distance d (0-based). It is raised before the claim is
// visible, so a lookup or a claim scan that can meet the key reads a bound
// that covers it.
func (t *Table) raiseBound(g, d uint64) {
	off, shift := t.dispOff+g/4*4, g%4*8
	for {
		w := t.mem.Load32(off)
		if uint64(w>>shift&0xFF) >= d {
			return
		}
		if t.mem.CAS32(off, w, w&^(0xFF<<shift)|uint32(d)<<shift) {
			return
		}
	}
}

// slotOff returns the byte offset of slot i.
func (t *Table) slotOff(i uint64) uint64 { return t.slotsOff + i*segment.SlotSize }

// shardOf picks the free-list shard for a slot's records. The rule, for
// every record: a record is freed to its slot's shard once it was
// published (freeValue, retireKey: eviction frees without the key's hash),
// and a record written for a slot already found is taken from that shard
// too, so that a key's overwrites reuse their own blocks. A record written
// before its key has a slot (a claim's key record, a Set's prepared
// record) is taken from the key hash's shard, and goes back there if the
// write ends without publishing it. Any shard serves any record: the rule
// is for locality and contention, not correctness.
func shardOf(slot uint64) int { return int(slot % segment.FreeShards) }

// firstGroup loads the four key words of the probe group whose first slot
// is base (the home group of key hash h: homeBase) and returns two bit
// masks over its slots: live ones whose tag is h's, and empty ones. Masks
// rather than a branch per slot: a key's position in its group is random,
// so branching on each word mispredicts about once per lookup, and a
// mispredict that waits for the slot's cache miss discards the next
// lookup's overlapping work. A caller that needs a matched key word loads
// it again and checks it still matches (in a segment that reuses slots it
// can change).
func (t *Table) firstGroup(base, h uint64) (match, empty uint64) {
	off := t.slotOff(base)
	want, keep := wantWord(h), t.hiKeep
	w0 := t.mem.Load64(off)
	w1 := t.mem.Load64(off + segment.SlotSize)
	w2 := t.mem.Load64(off + 2*segment.SlotSize)
	w3 := t.mem.Load64(off + 3*segment.SlotSize)
	match = bit((w0>>32^want)&keep == 0) | bit((w1>>32^want)&keep == 0)<<1 |
		bit((w2>>32^want)&keep == 0)<<2 | bit((w3>>32^want)&keep == 0)<<3
	empty = bit(w0 == 0) | bit(w1 == 0)<<1 | bit(w2 == 0)<<2 | bit(w3 == 0)<<3
	return match, empty
}

// wantWord is the high half of the key word of a live key with hash h
// (in an eviction segment, with generation 0: compare it under hiKeep).
func wantWord(h uint64) uint64 { return uint64(stateClaimed)<<(stateShift-32) | tagOf(h) }

// bit is 1 for true and 0 for false, without a branch.
func bit(b bool) uint64 {
	var x uint64
	if b {
		x = 1
	}
	return x
}

// tagIs reports whether key word w0 carries tag (a key hash's tagOf),
// comparing the bits that the segment's key words keep of it.
func (t *Table) tagIs(w0, tag uint64) bool { return (wordTag(w0)^tag)&t.tagKeep == 0 }

// deadFor returns the dead word that ends the claim whose key word is w0:
// with its generation in an eviction segment, exactly deadWord otherwise.
func (t *Table) deadFor(w0 uint64) uint64 {
	if !t.reuse {
		return deadWord
	}
	return deadWord | w0&genField
}

// claimTag returns the tag field of a claim of key tag tag over key word
// cand (empty or dead): in an eviction segment, the next generation.
func (t *Table) claimTag(tag, cand uint64) uint64 {
	if !t.reuse {
		return tag
	}
	return tag&^genMask | (genOf(cand)+1)&genMask
}

// keyStill reports whether slot still holds the key whose key word was
// kw; always true in a segment that does not reuse slots. A reader calls
// it after validating the value word: if the key word is unchanged, the
// value word it read belonged to its key.
func (t *Table) keyStill(slot, kw uint64) bool {
	return !t.reuse || t.mem.Load64(t.slotOff(slot)) == kw
}
