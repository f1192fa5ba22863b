package segment

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// mapShared maps size bytes of fd read-write and shared.
func mapShared(fd int, size uint64) ([]byte, error) {
	p, err := unix.MmapPtr(fd, 0, nil, uintptr(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, err
	}
	return unsafe.Slice((*byte)(p), size), nil
}

// unmap releases a mapping that no operation can be using yet.
func unmap(b []byte) {
	unix.MunmapPtr(unsafe.Pointer(unsafe.SliceData(b)), uintptr(len(b)))
}

// protectNone atomically replaces the mapping b with an inaccessible,
// memory-less one over the same addresses (MAP_FIXED), so that an
// operation still in flight faults instead of reaching whatever a later
// mmap would put there. The file's pages are released by the kernel.
func protectNone(b []byte) error {
	_, err := unix.MmapPtr(-1, 0, unsafe.Pointer(unsafe.SliceData(b)), uintptr(len(b)),
		unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED|unix.MAP_NORESERVE)
	return err
}
