package atomicx

import "unsafe"

// Prefetch hints to the CPU that the cache line holding byte off will be
// read soon, so that a caller with several independent reads to make
// (a batch of lookups) can start their cache misses together instead of
// waiting for each in turn. It never faults and has no effect on what
// any load returns: off outside the region is ignored, and the hardware
// drops a prefetch of an unmapped page (a truncated file) without a
// signal. On amd64 it is PREFETCHT0 and on arm64 PRFM PLDL1KEEP, in
// assembly (Go has no prefetch intrinsic outside the runtime); elsewhere
// it does nothing.
//
// Why not a plain load that touches the line (which needs no assembly
// call): a load that misses holds its place in the reorder buffer until
// the data comes back, so a few dozen of them stall the core much as the
// lookups would, and a load of a truncated file's page faults. Measured
// with table's BenchmarkGetMany (1M keys, batches of 32, 3 interleaved
// rounds on a noisy 2-core VM), per key: PREFETCHT0 325 ns median
// (148..405), an atomic 32-bit load 483 (286..505), no prefetch 448
// (416..692): the call into assembly does not eat the gain.
func (m Mem) Prefetch(off uint64) {
	if off < m.size {
		prefetch(uintptr(m.base) + uintptr(off))
	}
}

// PrefetchBytes is Prefetch for the first cache line of b, Go memory the
// caller is about to read (a batch's keys, before hashing them).
func PrefetchBytes(b []byte) {
	if len(b) > 0 {
		prefetch(uintptr(unsafe.Pointer(unsafe.SliceData(b))))
	}
}
