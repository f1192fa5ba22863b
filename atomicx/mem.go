package atomicx

import (
	"encoding/binary"
	"fmt"
	"slices"
	"sync/atomic"
	"unsafe"
)

// Mem is a view of a region of memory addressed by byte offsets. The zero
// Mem is empty; every access to it panics.
type Mem struct {
	base unsafe.Pointer
	size uint64
	end8 uint64 // a 64-bit word may start below end8 (0 if size < 8)
	end4 uint64 // a 32-bit word may start below end4 (0 if size < 4)
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
	n := uint64(len(b))
	m := Mem{base: p, size: n}
	if n >= 8 {
		m.end8 = n - 7
	}
	if n >= 4 {
		m.end4 = n - 3
	}
	return m
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
// aligned to align. The word accessors (p64, p32) check bounds only, to
// stay inlinable: every word offset is a layout constant or a multiple of
// 16 from an aligned region start, so misalignment could only be a bug in
// this repository (layout tests pin it), and on arm64 it would fault into
// ErrFault rather than corrupt anything. It guards against programmer bugs only: data from
// shared memory is validated by callers before it reaches here.
// It is small enough to inline; the message is built out of line.
func (m Mem) check(off, n, align uint64) {
	if off > m.size || n > m.size-off || off&(align-1) != 0 {
		m.badAccess(off)
	}
}

//go:noinline
func (m Mem) badAccess(off uint64) {
	panic(fmt.Sprintf("atomicx: access at offset %d misaligned or outside region of %d bytes", off, m.size))
}

func (m Mem) p64(off uint64) *uint64 {
	if off >= m.end8 {
		m.badAccess(off)
	}
	return (*uint64)(unsafe.Add(m.base, off))
}

func (m Mem) p32(off uint64) *uint32 {
	if off >= m.end4 {
		m.badAccess(off)
	}
	return (*uint32)(unsafe.Add(m.base, off))
}

// Word returns the 8-byte-aligned word at off as a Word, for a hot loop
// that updates one word many times without an offset check per access.
// It is good while the region stays mapped.
func (m Mem) Word(off uint64) Word { return Word{m.p64(off)} }

// Word is one 64-bit word of a Mem (see Mem.Word); the zero Word is none.
type Word struct{ p *uint64 }

// IsZero reports whether w is the zero Word (no word).
func (w Word) IsZero() bool { return w.p == nil }

// Load atomically loads the word.
func (w Word) Load() uint64 { return atomic.LoadUint64(w.p) }

// Add atomically adds delta to the word and returns the new value.
func (w Word) Add(delta int64) uint64 { return atomic.AddUint64(w.p, uint64(delta)) }

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
	if len(src) == 0 {
		return // off may be the end of the memory: no pointer to form there
	}
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
		m.Store64(off+uint64(i), binary.LittleEndian.Uint64(w[:]))
	}
}

// CopyOut appends the n bytes at off to dst using atomic word loads, so
// that the copy is safe while another process recycles the block; the
// caller validates the result (seqlock-style) before trusting it. off must
// be 8-byte aligned and [off, off+roundup(n,8)) inside the region.
func (m Mem) CopyOut(dst []byte, off, n uint64) []byte {
	m.check(off, (n+7)&^7, 8)
	if n == 0 {
		return dst // off may be the end of the memory: no pointer to form there
	}
	p := unsafe.Add(m.base, off)
	if plainReads {
		if l := len(dst); uint64(cap(dst)-l) >= n {
			out := dst[:l+int(n)]
			copy(out[l:], unsafe.Slice((*byte)(p), n))
			return out
		}
		return append(dst, unsafe.Slice((*byte)(p), n)...)
	}
	l := len(dst)
	dst = slices.Grow(dst, int(n))[:l+int(n)]
	out := dst[l:]
	i := uint64(0)
	for ; i+8 <= n; i += 8 {
		binary.LittleEndian.PutUint64(out[i:], atomic.LoadUint64((*uint64)(unsafe.Add(p, i))))
	}
	if i < n {
		w := atomic.LoadUint64((*uint64)(unsafe.Add(p, i)))
		for j := i; j < n; j++ {
			out[j] = byte(w >> (8 * (j - i)))
		}
	}
	return dst
}

// EqualCopyOut is Equal(koff, key) followed, if it holds, by
// CopyOut(dst, voff, n), in one call: a lookup's fast path compares a
// record's key copy and copies its value with it. ok is false, with dst
// as it came, if the key differs. Both ranges must satisfy Equal's and
// CopyOut's conditions.
func (m Mem) EqualCopyOut(dst []byte, koff uint64, key []byte, voff, n uint64) (out []byte, ok bool) {
	kn := uint64(len(key))
	m.check(koff, (kn+7)&^7, 8)
	m.check(voff, (n+7)&^7, 8)
	if !plainReads || kn < 8 || kn > 16 || n == 0 || uint64(cap(dst)-len(dst)) < n {
		if !m.Equal(koff, key) {
			return dst, false
		}
		return m.CopyOut(dst, voff, n), true
	}
	// The common case inline: a key of 8 to 16 bytes (first and last 8
	// bytes, see Equal) and a value that fits dst.
	p := unsafe.Add(m.base, koff)
	if *(*uint64)(p) != binary.LittleEndian.Uint64(key) ||
		*(*uint64)(unsafe.Add(p, kn-8)) != binary.LittleEndian.Uint64(key[kn-8:]) {
		return dst, false
	}
	l := len(dst)
	out = dst[:l+int(n)]
	copy(out[l:], unsafe.Slice((*byte)(unsafe.Add(m.base, voff)), n))
	return out, true
}

// Equal reports whether the len(b) bytes at off equal b, reading with
// atomic word loads (see CopyOut). off must be 8-byte aligned.
func (m Mem) Equal(off uint64, b []byte) bool {
	n := uint64(len(b))
	m.check(off, (n+7)&^7, 8)
	if n == 0 {
		return true // off may be the end of the memory: no pointer to form there
	}
	p := unsafe.Add(m.base, off)
	if plainReads {
		if n >= 8 && n <= 16 {
			// The first and the last 8 bytes (overlapping when n < 16):
			// four loads instead of a call, for the common short key.
			q := unsafe.Add(p, n-8)
			return *(*uint64)(p) == binary.LittleEndian.Uint64(b) &&
				*(*uint64)(q) == binary.LittleEndian.Uint64(b[n-8:])
		}
		return string(unsafe.Slice((*byte)(p), n)) == string(b) // memequal, no copy
	}
	i := uint64(0)
	for ; i+8 <= n; i += 8 {
		if atomic.LoadUint64((*uint64)(unsafe.Add(p, i))) != binary.LittleEndian.Uint64(b[i:]) {
			return false
		}
	}
	if i < n {
		w := atomic.LoadUint64((*uint64)(unsafe.Add(p, i)))
		for j := i; j < n; j++ {
			if byte(w>>(8*(j-i))) != b[j] {
				return false
			}
		}
	}
	return true
}
