package arena

import (
	"math/bits"

	"github.com/shmdict/shmdict/segment"
)

// Size classes, in units of 16 bytes. Classes 0..7 are 1..8 units (16 to
// 128 bytes, exact for small records, which dominate). Above that each
// power of two P >= 8 units is split into P*5/4, P*6/4, P*7/4 and 2P, so
// a record wastes at most a quarter of its block.
const (
	smallClasses = 8
	// MaxUnits is the largest block: 2^20 units = 16 MiB.
	MaxUnits = 1 << 20
	// NumClasses is the number of size classes: 8 small ones plus 4 per
	// doubling from 8 to 2^20 units.
	NumClasses = smallClasses + 4*(20-3)
	// MaxPayload is the largest payload a block can carry.
	MaxPayload = MaxUnits*Unit - HeaderBytes
	// Unit is the allocation unit in bytes. The segment format defines it
	// (record offsets in slots count units), so it is segment.Unit.
	Unit = segment.Unit
	// HeaderBytes is the size of a block's header word.
	HeaderBytes = 8
)

// classUnits caches ClassUnits: lookups sit on every record read.
var classUnits = func() (t [NumClasses]uint64) {
	for c := range t {
		t[c] = computeClassUnits(c)
	}
	return t
}()

// ClassUnits returns the block size of class c (0 <= c < NumClasses) in units.
func ClassUnits(c int) uint64 { return classUnits[c] }

func computeClassUnits(c int) uint64 {
	if c < smallClasses {
		return uint64(c + 1)
	}
	j := c - smallClasses
	p := uint64(8) << (j / 4)
	return p + p/4*uint64(j%4+1)
}

// ClassFor returns the smallest class whose block holds a payload of n
// bytes after the header word, or -1 if n exceeds MaxPayload.
func ClassFor(n uint64) int {
	if n > MaxPayload {
		return -1
	}
	u := (n + HeaderBytes + Unit - 1) / Unit
	if u <= smallClasses {
		return int(max(u, 1)) - 1
	}
	k := bits.Len64(u-1) - 1 // p = 2^k < u <= 2^(k+1)
	p := uint64(1) << k
	q := p / 4
	idx := (u - p + q - 1) / q // 1..4
	return smallClasses + (k-3)*4 + int(idx) - 1
}
