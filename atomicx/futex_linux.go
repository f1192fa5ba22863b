package atomicx

import (
	"errors"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Futex operations (linux/futex.h). x/sys/unix has SYS_FUTEX but not the
// operation constants. The shared (not FUTEX_PRIVATE_FLAG) forms are used:
// the kernel keys them by inode, page and offset, so processes that map
// the same file at different addresses meet on the same word.
const (
	futexWait = 0
	futexWake = 1
)

// FutexWait blocks while the 32-bit word at off holds val, until a
// FutexWake on it, a signal, or timeout (which must be positive) elapses.
// It returns true if it may have been woken and false on timeout;
// spurious wake-ups happen, so callers re-check their condition.
func (m Mem) FutexWait(off uint64, val uint32, timeout time.Duration) bool {
	p := m.p32(off)
	if atomic.LoadUint32(p) != val {
		return true
	}
	ts := unix.NsecToTimespec(int64(timeout))
	_, _, e := unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(p)), futexWait, uintptr(val),
		uintptr(unsafe.Pointer(&ts)), 0, 0)
	return !errors.Is(e, unix.ETIMEDOUT)
}

// futexWakes counts FutexWake calls made by this process (FutexWakes).
var futexWakes atomic.Uint64

// FutexWakes returns how many FutexWake system calls this process made:
// tests use it to check that writes with nobody waiting make none.
func FutexWakes() uint64 { return futexWakes.Load() }

// FutexWake wakes up to n processes or threads blocked in FutexWait on
// the word at off.
func (m Mem) FutexWake(off uint64, n int) {
	futexWakes.Add(1)
	p := m.p32(off)
	unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(p)), futexWake, uintptr(n), 0, 0, 0)
}
