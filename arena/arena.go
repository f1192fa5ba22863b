package arena

import (
	"fmt"

	"github.com/shmdict/shmdict/atomicx"
	"github.com/shmdict/shmdict/segment"
)

// Block header word:
//
//	bits 63..56  magic: magicLive (a record) or magicFree (on a free list)
//	bits 55..48  size class
//	bits 47..32  prefix length in bytes (live blocks; 0 when free)
//	bits 31..0   payload length in bytes (live blocks; 0 when free)
//
// A live block holds the header, then the prefix padded to a multiple of
// 8 bytes, then the payload (the table stores a value record's key as its
// prefix, so that a lookup can match the key and copy the value from one
// cache line).
//
// The word at +8 of a free block holds the unit index of the next free
// block of the same list (0 ends the list).
const (
	magicLive = 0xA5
	magicFree = 0xF3
)

// LiveMagic is the top byte of a live block's header word, for readers
// that decode headers inline on a fast path (they must also bound the
// lengths, as ReadPrefixed does).
const LiveMagic = magicLive

func packHeader(magic uint64, class int, n uint64) uint64 {
	return magic<<56 | uint64(class)<<48 | n
}

// Header packs the header word of a live block of class c holding an
// n-byte payload and no prefix.
func Header(c int, n uint64) uint64 { return packHeader(magicLive, c, n) }

// PrefixedHeader packs the header word of a live block of class c holding
// a prefix of p bytes (p < 2^16) and an n-byte payload.
func PrefixedHeader(c int, p, n uint64) uint64 { return packHeader(magicLive, c, p<<32|n) }

// MaxPrefix is the longest prefix a header can describe.
const MaxPrefix = 1<<16 - 1

// PrefixSpan is the space a p-byte prefix takes before the payload.
func PrefixSpan(p uint64) uint64 { return (p + 7) &^ 7 }

// ErrFull reports that no block of the requested size is free (the
// table reports it as its ErrFull). It is not segment.ErrNoSpace, the
// file system's lack of room, which Alloc returns when it cannot reserve
// the next chunk of the arena: the table evicts for the one and not the
// other.
var ErrFull = fmt.Errorf("shmdict: arena has no free block of the requested size")

// Arena allocates blocks inside a segment's arena region.
type Arena struct {
	mem     atomicx.Mem
	base    uint64 // byte offset of unit 0
	units   uint64 // arena size in units
	reserve func(off, n uint64) error
}

// New returns the arena of size bytes (a multiple of Unit) that starts at
// byte offset base of the segment mapped at mem: a segment's
// Layout.ArenaOff and Layout.ArenaSize.
func New(mem atomicx.Mem, base, size uint64) *Arena {
	return &Arena{mem: mem, base: base, units: size / Unit}
}

// Units is the arena's size in units.
func (a *Arena) Units() uint64 { return a.units }

// Off returns the byte offset (in the segment) of unit u.
func (a *Arena) Off(u uint32) uint64 { return a.base + uint64(u)*Unit }

func headOff(shard, class int) uint64 {
	return segment.OffFreeShards + uint64(shard)*segment.ShardStride + segment.ShardHeadsOff + uint64(class)*8
}

func freeBytesOff(shard int) uint64 {
	return segment.OffFreeShards + uint64(shard)*segment.ShardStride
}

// inBounds reports whether a block of class c at unit u lies inside the arena.
func (a *Arena) inBounds(u uint64, c int) bool {
	return u >= 1 && u < a.units && ClassUnits(c) <= a.units-u
}

// Alloc returns a block of class c or larger: from shard's free list,
// else from the bump pointer, else from any free list of class c or
// larger. The block comes stamped with a live header of its real class and
// zero lengths (see SetLengths). The caller owns it privately until it
// publishes it.
func (a *Arena) Alloc(c int, shard int) (uint32, error) {
	u, class, err := a.alloc(c, shard)
	if u != 0 {
		a.mem.Put64(a.Off(u), packHeader(magicLive, class, 0))
	}
	return u, err
}

func (a *Arena) alloc(c int, shard int) (uint32, int, error) {
	if u, err := a.pop(shard, c); u != 0 || err != nil {
		return u, c, err
	}
	u, bumpErr := a.bump(ClassUnits(c), shard)
	if u != 0 {
		return u, c, nil
	}
	for cc := c; cc < NumClasses; cc++ {
		for i := 1; i <= segment.FreeShards; i++ {
			if u, err := a.pop((shard+i)%segment.FreeShards, cc); u != 0 || err != nil {
				return u, cc, err
			}
		}
	}
	if bumpErr != nil {
		return 0, 0, bumpErr // the file system has no room for more of the arena
	}
	return 0, 0, fmt.Errorf("%w (%d bytes; %d of %d arena bytes free, in blocks of other sizes)",
		ErrFull, ClassUnits(c)*Unit, a.FreeBytes()+(a.units-min(a.Bump(), a.units))*Unit, a.units*Unit)
}

// Bump returns the bump pointer in units (everything below it has been
// handed out at least once).
func (a *Arena) Bump() uint64 { return a.mem.Load64(segment.OffBump) }

// lineUnits is the number of units in a cache line.
const lineUnits = 4

// bump carves n units from the bump pointer. A block of up to a line is
// placed so that it does not cross a cache-line boundary, and a larger one
// starts on a line: a record then costs one cache miss to read (or as few
// as its size allows), not one more for straddling. The units skipped to
// get there (at most 3) go to a free list, where small records use them.
//
// Units below the bump pointer lie in chunks the segment file has
// reserved (see SetReserve): a bump that reaches into a new chunk
// reserves it before its CAS, so a failure takes nothing.
func (a *Arena) bump(n uint64, shard int) (uint32, error) {
	for {
		b := a.mem.Load64(segment.OffBump)
		if b == 0 || b > a.units {
			return 0, nil
		}
		start := b
		if n > lineUnits || b%lineUnits+n > lineUnits {
			start = (b + lineUnits - 1) &^ (lineUnits - 1)
		}
		if start > a.units || n > a.units-start {
			return 0, nil
		}
		if a.reserve != nil {
			done, need := roundUp(b, reserveUnits), roundUp(start+n, reserveUnits)
			if need > done {
				if err := a.reserve(a.base+done*Unit, (min(need, a.units)-done)*Unit); err != nil {
					return 0, err
				}
			}
		}
		if a.mem.CAS64(segment.OffBump, b, start+n) {
			segment.Failpoint(FPBumped)
			if gap := start - b; gap > 0 {
				// Stamp the gap as a live block of its exact size, then free it.
				a.mem.Put64(a.Off(uint32(b)), packHeader(magicLive, int(gap)-1, 0))
				a.Free(uint32(b), shard)
			}
			return uint32(start), nil
		}
	}
}

// reserveUnits is segment.ReserveChunk in units.
const reserveUnits = segment.ReserveChunk / Unit

func roundUp(x, m uint64) uint64 { return (x + m - 1) / m * m }

// SetReserve sets the function that reserves bytes [off, off+n) of the
// segment (Segment.Reserve) before the bump pointer hands them out. An
// arena without one (a heap segment) reserves nothing.
func (a *Arena) SetReserve(f func(off, n uint64) error) { a.reserve = f }

// pop takes the top block of one free list, or returns 0 if it is empty.
func (a *Arena) pop(shard, c int) (uint32, error) {
	ho := headOff(shard, c)
	for {
		h := a.mem.Load64(ho)
		u := h & 0xFFFFFFFF
		if u == 0 {
			return 0, nil
		}
		if !a.inBounds(u, c) {
			if a.mem.Load64(ho) != h {
				continue
			}
			return 0, fmt.Errorf("%w: free list %d/%d head points at unit %d, outside the arena", segment.ErrCorrupt, shard, c, u)
		}
		off := a.Off(uint32(u))
		next := a.mem.Load64(off + 8)
		if next >= a.units {
			if a.mem.Load64(ho) != h {
				continue // the block was reused under us
			}
			return 0, fmt.Errorf("%w: free block at unit %d links to unit %d, outside the arena", segment.ErrCorrupt, u, next)
		}
		if a.mem.CAS64(ho, h, (h>>32+1)<<32|next) {
			hdr := a.mem.Load64(off)
			if hdr>>56 != magicFree || int(hdr>>48&0xFF) != c {
				return 0, fmt.Errorf("%w: block at unit %d on free list of class %d has header %#x", segment.ErrCorrupt, u, c, hdr)
			}
			segment.Failpoint(FPPopped)
			a.mem.Add64(freeBytesOff(shard), -int64(ClassUnits(c)*Unit))
			return uint32(u), nil
		}
	}
}

// Free returns the live block at unit u to shard's free list of its class.
// The caller must own u exclusively (it just unpublished it).
func (a *Arena) Free(u uint32, shard int) error {
	if u == 0 || uint64(u) >= a.units {
		return fmt.Errorf("%w: free of unit %d outside the arena", segment.ErrCorrupt, u)
	}
	off := a.Off(u)
	hdr := a.mem.Load64(off)
	c := int(hdr >> 48 & 0xFF)
	if hdr>>56 != magicLive || c >= NumClasses || !a.inBounds(uint64(u), c) {
		return fmt.Errorf("%w: free of unit %d with bad header %#x", segment.ErrCorrupt, u, hdr)
	}
	a.mem.Put64(off, packHeader(magicFree, c, 0))
	segment.Failpoint(FPFreeMarked)
	ho := headOff(shard, c)
	for {
		h := a.mem.Load64(ho)
		a.mem.Put64(off+8, h&0xFFFFFFFF)
		if a.mem.CAS64(ho, h, (h>>32+1)<<32|uint64(u)) {
			segment.Failpoint(FPPushed)
			a.mem.Add64(freeBytesOff(shard), int64(ClassUnits(c)*Unit))
			return nil
		}
	}
}

// SetLengths fills in the prefix and payload lengths of the block at u,
// which the caller got from Alloc and still owns privately.
func (a *Arena) SetLengths(u uint32, p, n uint64) {
	off := a.Off(u)
	class := int(a.mem.Load64(off) >> 48 & 0xFF)
	a.mem.Put64(off, PrefixedHeader(class, p, n))
}

// ReadHeader returns the class and payload length of the block at u, read
// atomically, after checking that the block and payload lie in the arena.
// ok is false if they do not (the block may be being recycled, or the
// segment is corrupt).
func (a *Arena) ReadHeader(u uint32) (class int, n uint64, ok bool) {
	class, _, n, ok = a.ReadPrefixed(u)
	return class, n, ok
}

// ReadPrefixed is ReadHeader for a block with a prefix: it also returns
// the prefix length p. The payload starts at Off(u)+HeaderBytes+PrefixSpan(p).
func (a *Arena) ReadPrefixed(u uint32) (class int, p, n uint64, ok bool) {
	if u == 0 || uint64(u) >= a.units {
		return 0, 0, 0, false
	}
	hdr := a.mem.Load64(a.Off(u))
	class = int(hdr >> 48 & 0xFF)
	p = hdr >> 32 & 0xFFFF
	n = hdr & 0xFFFFFFFF
	if hdr>>56 != magicLive || class >= NumClasses || !a.inBounds(uint64(u), class) ||
		HeaderBytes+PrefixSpan(p)+n > ClassUnits(class)*Unit {
		return 0, 0, 0, false
	}
	return class, p, n, true
}

// FreeBytes is the total size of blocks on free lists.
func (a *Arena) FreeBytes() uint64 {
	var sum int64
	for s := 0; s < segment.FreeShards; s++ {
		sum += int64(a.mem.Load64(freeBytesOff(s)))
	}
	return uint64(max(sum, 0))
}
