package atomicx

// Typed views and per-element atomics for the array package, which keeps
// unsafe and sync/atomic out of its own code. Elements are numpy's fixed
// size numbers (1, 2, 4 or 8 bytes), little-endian as on every platform
// this module builds for (amd64, arm64).
//
// Go has no 8- or 16-bit atomics, so an element of 1 or 2 bytes is read,
// written and compare-and-swapped through the aligned 32-bit word that
// holds it: a load of the word and a shift to read; a CAS loop on the word
// to write, which leaves the word's other bytes as they are even when
// another goroutine or process changes them at the same time. The word may
// reach past the element's slice (up to 3 bytes): the caller guarantees
// that those bytes are mapped (the array layout pads its data region to 64
// bytes).

import (
	"sync/atomic"
	"unsafe"
)

// Number is the set of element types these helpers accept.
type Number interface {
	~uint8 | ~int8 | ~uint16 | ~int16 | ~uint32 | ~int32 | ~uint64 | ~int64 | ~float32 | ~float64
}

// SliceOf returns the n elements of type T at off as a slice aliasing the
// region. off must be aligned to T's size and the n elements inside the
// region (it panics otherwise: a bug of the caller, which validates offsets
// read from shared memory before passing them).
func SliceOf[T Number](m Mem, off uint64, n int) []T {
	var z T
	size := uint64(unsafe.Sizeof(z))
	if n < 0 || uint64(n) > m.size/size {
		m.badAccess(off)
	}
	m.check(off, uint64(n)*size, size)
	if n == 0 {
		return []T{}
	}
	return unsafe.Slice((*T)(unsafe.Add(m.base, off)), n)
}

// BytesOf returns s's memory as a byte slice (len(s) times T's size).
func BytesOf[T Number](s []T) []byte {
	if len(s) == 0 {
		return []byte{}
	}
	var z T
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), uintptr(len(s))*unsafe.Sizeof(z))
}

// wordOf returns the aligned 32-bit word holding the 1- or 2-byte element
// at p, and the element's bit shift inside it (little-endian).
func wordOf(p unsafe.Pointer) (*uint32, uint) {
	mis := uintptr(p) & 3
	return (*uint32)(unsafe.Add(p, -int(mis))), uint(mis) * 8
}

// bits returns v's bit pattern, zero-extended.
func bits[T Number](v T) uint64 {
	switch unsafe.Sizeof(v) {
	case 1:
		return uint64(*(*uint8)(unsafe.Pointer(&v)))
	case 2:
		return uint64(*(*uint16)(unsafe.Pointer(&v)))
	case 4:
		return uint64(*(*uint32)(unsafe.Pointer(&v)))
	}
	return *(*uint64)(unsafe.Pointer(&v))
}

// fromBits is bits' inverse (the high bits beyond T's size are ignored).
func fromBits[T Number](u uint64) T {
	var v T
	switch unsafe.Sizeof(v) {
	case 1:
		*(*uint8)(unsafe.Pointer(&v)) = uint8(u)
	case 2:
		*(*uint16)(unsafe.Pointer(&v)) = uint16(u)
	case 4:
		*(*uint32)(unsafe.Pointer(&v)) = uint32(u)
	default:
		*(*uint64)(unsafe.Pointer(&v)) = u
	}
	return v
}

// Load atomically loads *p.
func Load[T Number](p *T) T {
	switch unsafe.Sizeof(*p) {
	case 8:
		return fromBits[T](atomic.LoadUint64((*uint64)(unsafe.Pointer(p))))
	case 4:
		return fromBits[T](uint64(atomic.LoadUint32((*uint32)(unsafe.Pointer(p)))))
	}
	w, sh := wordOf(unsafe.Pointer(p))
	return fromBits[T](uint64(atomic.LoadUint32(w) >> sh))
}

// Store atomically stores v at *p.
func Store[T Number](p *T, v T) {
	switch unsafe.Sizeof(v) {
	case 8:
		atomic.StoreUint64((*uint64)(unsafe.Pointer(p)), bits(v))
		return
	case 4:
		atomic.StoreUint32((*uint32)(unsafe.Pointer(p)), uint32(bits(v)))
		return
	}
	w, sh := wordOf(unsafe.Pointer(p))
	mask := uint32(1)<<(8*unsafe.Sizeof(v)) - 1
	for {
		old := atomic.LoadUint32(w)
		if atomic.CompareAndSwapUint32(w, old, old&^(mask<<sh)|uint32(bits(v))<<sh) {
			return
		}
	}
}

// CompareAndSwap atomically replaces *p with new if it holds old, comparing
// bit patterns (so for floats, -0 is not 0 and a NaN matches itself), and
// reports whether it did.
func CompareAndSwap[T Number](p *T, old, new T) bool {
	switch unsafe.Sizeof(old) {
	case 8:
		return atomic.CompareAndSwapUint64((*uint64)(unsafe.Pointer(p)), bits(old), bits(new))
	case 4:
		return atomic.CompareAndSwapUint32((*uint32)(unsafe.Pointer(p)), uint32(bits(old)), uint32(bits(new)))
	}
	w, sh := wordOf(unsafe.Pointer(p))
	mask := uint32(1)<<(8*unsafe.Sizeof(old)) - 1
	o, n := uint32(bits(old)), uint32(bits(new))
	for {
		cur := atomic.LoadUint32(w)
		if cur>>sh&mask != o {
			return false
		}
		// Only another byte of the word may have changed: retry then.
		if atomic.CompareAndSwapUint32(w, cur, cur&^(mask<<sh)|n<<sh) {
			return true
		}
	}
}

// Add atomically adds delta to *p and returns the new value. Integers
// wrap around as Go's do; 32- and 64-bit integers use the hardware's add,
// floats and 8- and 16-bit integers a CAS loop.
func Add[T Number](p *T, delta T) T {
	var z T
	isFloat := T(1)/T(2) != z // integer division truncates to 0
	size := unsafe.Sizeof(z)
	if !isFloat {
		switch size {
		case 8:
			return fromBits[T](atomic.AddUint64((*uint64)(unsafe.Pointer(p)), bits(delta)))
		case 4:
			return fromBits[T](uint64(atomic.AddUint32((*uint32)(unsafe.Pointer(p)), uint32(bits(delta)))))
		}
	}
	for {
		old := Load(p)
		// The CAS compares the bits loaded, so a NaN element is replaced
		// too (a value comparison would never match it).
		n := old + delta
		if CompareAndSwap(p, old, n) {
			return n
		}
	}
}

// Fixed-size fast paths, small enough to inline (the generic functions
// above are not, whatever T is: the compiler costs every case of their
// size switch). The caller guarantees T's size: 8 for the *8 functions, 4
// for the *4 ones; they panic otherwise.

// Load8 is Load for an 8-byte T.
func Load8[T Number](p *T) T {
	u := atomic.LoadUint64((*uint64)(unsafe.Pointer(p)))
	return *(*T)(unsafe.Pointer(&u))
}

// Load4 is Load for a 4-byte T.
func Load4[T Number](p *T) T {
	u := atomic.LoadUint32((*uint32)(unsafe.Pointer(p)))
	return *(*T)(unsafe.Pointer(&u))
}

// Store8 is Store for an 8-byte T.
func Store8[T Number](p *T, v T) {
	atomic.StoreUint64((*uint64)(unsafe.Pointer(p)), *(*uint64)(unsafe.Pointer(&v)))
}

// Store4 is Store for a 4-byte T.
func Store4[T Number](p *T, v T) {
	atomic.StoreUint32((*uint32)(unsafe.Pointer(p)), *(*uint32)(unsafe.Pointer(&v)))
}

// AddInt8 is Add for an 8-byte integer T.
func AddInt8[T Number](p *T, delta T) T {
	u := atomic.AddUint64((*uint64)(unsafe.Pointer(p)), *(*uint64)(unsafe.Pointer(&delta)))
	return *(*T)(unsafe.Pointer(&u))
}

// AddInt4 is Add for a 4-byte integer T.
func AddInt4[T Number](p *T, delta T) T {
	u := atomic.AddUint32((*uint32)(unsafe.Pointer(p)), *(*uint32)(unsafe.Pointer(&delta)))
	return *(*T)(unsafe.Pointer(&u))
}
