//go:build amd64 || arm64

package atomicx

// prefetch issues a prefetch-for-read of the line holding addr into every
// cache level (PREFETCHT0 on amd64, PRFM PLDL1KEEP on arm64). Neither
// faults on an unmapped or invalid address.
//
//go:noescape
func prefetch(addr uintptr)
