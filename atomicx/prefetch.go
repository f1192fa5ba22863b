package atomicx

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
// Why not a plain load that touches the line: a load that misses holds
// its place in the reorder buffer until the data comes back, so a few
// dozen of them stall the core exactly as the lookups would, and a load
// of a truncated file's page faults. BenchmarkGetMany measured both (see
// table/getmany.go): the call into assembly costs about 1 ns, the load
// gains less than the prefetch.
func (m Mem) Prefetch(off uint64) {
	if off < m.size {
		prefetch(uintptr(m.base) + uintptr(off))
	}
}
