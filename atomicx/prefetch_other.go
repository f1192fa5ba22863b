//go:build !amd64 && !arm64

package atomicx

// prefetch does nothing where no prefetch instruction is wired up: it is
// only a hint.
func prefetch(addr uintptr) {}
