package atomicx

import (
	"fmt"
	"sync/atomic"
	"unsafe"
)

// Mem is a view of a region of memory addressed by byte offsets. The zero
// Mem is empty; every access to it panics.
type Mem struct {
	base unsafe.Pointer
	size uint64
}

// FromBytes returns a Mem over b. b's first byte must be 8-byte aligned and b
// must stay reachable (or mapped) for as long as the Mem is used.
func FromBytes(b []byte) Mem {
	if len(b) == 0 {
		return Mem{}
	}
	p := unsafe.Pointer(unsafe.SliceData(b))
	if uintptr(p)%8 != 0 {
		panic("atomicx: FromBytes: region is not 8-byte aligned")
	}
	return Mem{base: p, size: uint64(len(b))}
}

// HeapBytes allocates a zeroed, 8-byte aligned Go-heap region of n bytes
// (rounded up to a multiple of 8). It backs heap segments, where the race
// detector can see every access.
func HeapBytes(n int) []byte {
	words := make([]uint64, (n+7)/8)
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(words))), len(words)*8)
}

// Size is the region's length in bytes.
func (m Mem) Size() uint64 { return m.size }

// check panics unless [off, off+n) lies inside the region and off is
// aligned to align. It guards against programmer bugs only: data from
// shared memory is validated by callers before it reaches here.
func (m Mem) check(off, n, align uint64) {
	if off%align != 0 || off > m.size || n > m.size-off {
		panic(fmt.Sprintf("atomicx: access [%d,+%d) align %d outside region of %d bytes", off, n, align, m.size))
	}
}

func (m Mem) p64(off uint64) *uint64 {
	m.check(off, 8, 8)
	return (*uint64)(unsafe.Add(m.base, off))
}

func (m Mem) p32(off uint64) *uint32 {
	m.check(off, 4, 4)
	return (*uint32)(unsafe.Add(m.base, off))
}

// Load64 atomically loads the word at off.
func (m Mem) Load64(off uint64) uint64 { return atomic.LoadUint64(m.p64(off)) }

// Store64 atomically stores v at off.
func (m Mem) Store64(off, v uint64) { atomic.StoreUint64(m.p64(off), v) }

// CAS64 atomically replaces old with new at off and reports whether it did.
func (m Mem) CAS64(off, old, new uint64) bool {
	return atomic.CompareAndSwapUint64(m.p64(off), old, new)
}

// Add64 atomically adds delta to the word at off and returns the new value.
func (m Mem) Add64(off uint64, delta int64) uint64 {
	return atomic.AddUint64(m.p64(off), uint64(delta))
}

// Put64 stores v at off in a word that only the caller may write but that
// others may be reading optimistically (a block the caller owns): a plain
// aligned store, which the hardware makes indivisible, or an atomic one
// under the race detector.
func (m Mem) Put64(off, v uint64) {
	if raceEnabled {
		m.Store64(off, v)
		return
	}
	*m.p64(off) = v
}

// Load32 atomically loads the 32-bit word at off.
func (m Mem) Load32(off uint64) uint32 { return atomic.LoadUint32(m.p32(off)) }

// Store32 atomically stores v at off.
func (m Mem) Store32(off uint64, v uint32) { atomic.StoreUint32(m.p32(off), v) }

// CAS32 atomically replaces old with new at off and reports whether it did.
func (m Mem) CAS32(off uint64, old, new uint32) bool {
	return atomic.CompareAndSwapUint32(m.p32(off), old, new)
}

// Add32 atomically adds delta to the 32-bit word at off and returns the new value.
func (m Mem) Add32(off uint64, delta int32) uint32 {
	return atomic.AddUint32(m.p32(off), uint32(delta))
}

// Bytes returns the n bytes at off as a slice aliasing the region. Use it
// only for bytes nobody else can change while the slice is used: records
// that are immutable once published (key records), or private blocks
// before they are published. The header is read this way before mapping.
func (m Mem) Bytes(off, n uint64) []byte {
	m.check(off, n, 1)
	if n == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Add(m.base, off)), n)
}

// CopyIn writes src at off, which must be 8-byte aligned and private to
// the caller (not yet published). A plain copy: the publishing CAS orders
// it. Under the race detector it stores whole words atomically instead, so
// that concurrent validated readers of a recycled block are not reported.
func (m Mem) CopyIn(off uint64, src []byte) {
	m.check(off, uint64(len(src)), 8)
	if !raceEnabled {
		copy(unsafe.Slice((*byte)(unsafe.Add(m.base, off)), len(src)), src)
		return
	}
	for i := 0; i < len(src); i += 8 {
		var w [8]byte
		n := copy(w[:], src[i:])
		if n < 8 {
			// Keep the bytes past the end of src as they were.
			old := m.Load64(off + uint64(i))
			for j := n; j < 8; j++ {
				w[j] = byte(old >> (8 * j))
			}
		}
		m.Store64(off+uint64(i), leUint64(w[:]))
	}
}

// CopyOut appends the n bytes at off to dst using atomic word loads, so
// that the copy is safe while another process recycles the block; the
// caller validates the result (seqlock-style) before trusting it. off must
// be 8-byte aligned and [off, off+roundup(n,8)) inside the region.
func (m Mem) CopyOut(dst []byte, off, n uint64) []byte {
	m.check(off, (n+7)&^7, 8)
	for i := uint64(0); i < n; i += 8 {
		w := m.Load64(off + i)
		k := n - i
		if k >= 8 {
			dst = appendLE(dst, w)
			continue
		}
		for j := uint64(0); j < k; j++ {
			dst = append(dst, byte(w>>(8*j)))
		}
	}
	return dst
}

// Equal reports whether the len(b) bytes at off equal b, reading with
// atomic word loads (see CopyOut). off must be 8-byte aligned.
func (m Mem) Equal(off uint64, b []byte) bool {
	n := uint64(len(b))
	m.check(off, (n+7)&^7, 8)
	i := uint64(0)
	for ; i+8 <= n; i += 8 {
		if m.Load64(off+i) != leUint64(b[i:]) {
			return false
		}
	}
	if i < n {
		w := m.Load64(off + i)
		for j := i; j < n; j++ {
			if byte(w>>(8*(j-i))) != b[j] {
				return false
			}
		}
	}
	return true
}

func leUint64(b []byte) uint64 {
	_ = b[7]
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

func appendLE(dst []byte, w uint64) []byte {
	return append(dst, byte(w), byte(w>>8), byte(w>>16), byte(w>>24),
		byte(w>>32), byte(w>>40), byte(w>>48), byte(w>>56))
}
