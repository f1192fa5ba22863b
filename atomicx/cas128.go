package atomicx

import (
	"sync/atomic"
	"unsafe"
)

// cas128 atomically replaces the 16 bytes at p, (lo, hi) = (old0, old1), with
// (new0, new1) and reports whether it did. p must be 16-byte aligned.
// Implemented in assembly: CMPXCHG16B on amd64, LDAXP/STLXP on arm64.
//
//go:noescape
func cas128(p *uint64, old0, old1, new0, new1 uint64) bool

// CAS128 atomically replaces the two 64-bit words at off and off+8, if
// they hold old0 and old1, with new0 and new1, and reports whether it did.
// off must be 16-byte aligned in memory. It mixes safely with the 64-bit
// atomics on either word: a 64-bit CAS or store on one of them makes a
// concurrent CAS128 that expected the old word fail.
func (m Mem) CAS128(off, old0, old1, new0, new1 uint64) bool {
	if off+8 >= m.end8 || (uintptr(m.base)+uintptr(off))&15 != 0 {
		m.badAccess(off)
	}
	return cas128((*uint64)(unsafe.Add(m.base, off)), old0, old1, new0, new1)
}

// Or32 atomically sets the bits of mask in the 32-bit word at off.
func (m Mem) Or32(off uint64, mask uint32) { atomic.OrUint32(m.p32(off), mask) }

// And32 atomically keeps only the bits of mask in the 32-bit word at off.
func (m Mem) And32(off uint64, mask uint32) { atomic.AndUint32(m.p32(off), mask) }
