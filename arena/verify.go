package arena

import (
	"fmt"

	"github.com/shmdict/shmdict/segment"
)

// UnitSet is a bitmap over the arena's units, used by checkers to mark
// the units that live and free blocks cover.
type UnitSet struct{ bits []uint64 }

// NewUnitSet returns an empty set over n units.
func NewUnitSet(n uint64) *UnitSet { return &UnitSet{bits: make([]uint64, (n+63)/64)} }

// MarkRange marks units [u, u+n) and reports whether any was marked
// already (two blocks overlap, or a list has a cycle).
func (s *UnitSet) MarkRange(u, n uint64) (overlap bool) {
	for i := u; i < u+n; i++ {
		w, b := i/64, uint64(1)<<(i%64)
		if s.bits[w]&b != 0 {
			overlap = true
		}
		s.bits[w] |= b
	}
	return overlap
}

// Clone returns a copy of s.
func (s *UnitSet) Clone() *UnitSet { return &UnitSet{bits: append([]uint64(nil), s.bits...)} }

// Has reports whether unit u is marked.
func (s *UnitSet) Has(u uint64) bool { return s.bits[u/64]&(1<<(u%64)) != 0 }

// MarkLive checks the live block at u (a record some published word
// points to) and marks it in used. It returns a problem description, or
// "" if the block is well formed and overlaps nothing marked before.
func (a *Arena) MarkLive(u uint32, used *UnitSet) string {
	class, _, _, ok := a.ReadPrefixed(u)
	if !ok {
		return fmt.Sprintf("record at unit %d has a bad header %#x", u, a.rawHeader(u))
	}
	if used.MarkRange(uint64(u), ClassUnits(class)) {
		return fmt.Sprintf("record at unit %d (class %d) overlaps another block", u, class)
	}
	return ""
}

func (a *Arena) rawHeader(u uint32) uint64 {
	if u == 0 || uint64(u) >= a.units {
		return 0
	}
	return a.mem.Load64(a.Off(u))
}

// FreeStats summarizes the free lists.
type FreeStats struct {
	Blocks  uint64 // blocks on the lists
	Bytes   uint64 // walked
	Counted uint64 // the shards' free-byte counters
}

// WalkFree walks every free list, marking its blocks in used, and returns
// their totals and the problems found: an out-of-range link, a block
// whose header is not a free block of the list's class, a block that
// overlaps a live block or another free block (which is also how a cycle
// shows). A list is abandoned at its first problem. It reads only, and is
// exact only when no other process is allocating or freeing.
func (a *Arena) WalkFree(used *UnitSet) (FreeStats, []string) {
	var st FreeStats
	var problems []string
	for shard := 0; shard < segment.FreeShards; shard++ {
		st.Counted += a.mem.Load64(freeBytesOff(shard))
		for c := 0; c < segment.MaxClasses; c++ {
			h := a.mem.Load64(headOff(shard, c))
			u := h & 0xFFFFFFFF
			if c >= NumClasses {
				if u != 0 {
					problems = append(problems, fmt.Sprintf("free list %d/%d is beyond the last class but not empty", shard, c))
				}
				continue
			}
			for steps := uint64(0); u != 0; steps++ {
				if !a.inBounds(u, c) {
					problems = append(problems, fmt.Sprintf("free list %d/%d links to unit %d, outside the arena", shard, c, u))
					break
				}
				hdr := a.mem.Load64(a.Off(uint32(u)))
				if hdr>>56 != magicFree || int(hdr>>48&0xFF) != c {
					problems = append(problems, fmt.Sprintf("free list %d/%d: block at unit %d has header %#x, not a free block of its class", shard, c, u, hdr))
					break
				}
				if bump := a.Bump(); u+ClassUnits(c) > bump {
					problems = append(problems, fmt.Sprintf("free list %d/%d: block at unit %d ends above the bump pointer %d", shard, c, u, bump))
					break
				}
				if used.MarkRange(u, ClassUnits(c)) {
					problems = append(problems, fmt.Sprintf("free list %d/%d: block at unit %d overlaps a live block or another free block (or the list has a cycle)", shard, c, u))
					break
				}
				st.Blocks++
				st.Bytes += ClassUnits(c) * Unit
				u = a.mem.Load64(a.Off(uint32(u)) + 8)
			}
		}
	}
	return st, problems
}

// Leaked counts the units below the bump pointer that no block in used
// covers: space handed out to a process that died before publishing or
// freeing it.
func (a *Arena) Leaked(used *UnitSet) uint64 {
	bump := min(a.Bump(), a.units)
	var n uint64
	for u := uint64(1); u < bump; u++ {
		if !used.Has(u) {
			n++
		}
	}
	return n
}

// RebuildFree replaces every free list with one built from scratch: all
// units below the bump pointer that used does not cover are carved into
// free blocks (largest class first) and pushed. It fixes leaks, cycles and
// corrupt links at once. The caller must have the segment to itself. It
// returns the number of blocks and bytes now free on lists.
func (a *Arena) RebuildFree(used *UnitSet) (blocks, bytes uint64) {
	bump := a.Bump()
	if bump == 0 || bump > a.units {
		bump = a.units
		a.mem.Store64(segment.OffBump, bump)
	}
	for shard := 0; shard < segment.FreeShards; shard++ {
		a.mem.Store64(freeBytesOff(shard), 0)
		for c := 0; c < segment.MaxClasses; c++ {
			a.mem.Store64(headOff(shard, c), 0)
		}
	}
	shard := 0
	for u := uint64(1); u < bump; {
		if used.Has(u) {
			u++
			continue
		}
		run := uint64(1)
		for u+run < bump && !used.Has(u+run) {
			run++
		}
		for run > 0 {
			c := largestClassWithin(run)
			n := ClassUnits(c)
			a.mem.Store64(a.Off(uint32(u)), packHeader(magicLive, c, 0))
			if err := a.Free(uint32(u), shard); err == nil {
				blocks++
				bytes += n * Unit
			}
			shard = (shard + 1) % segment.FreeShards
			u += n
			run -= n
		}
	}
	return blocks, bytes
}

// largestClassWithin returns the largest class of at most n units (n >= 1).
func largestClassWithin(n uint64) int {
	c := NumClasses - 1
	for ClassUnits(c) > n {
		c--
	}
	return c
}
