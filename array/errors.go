package array

import (
	"errors"
	"fmt"

	"github.com/shmdict/shmdict/segment"
)

// Sentinel errors, matched with errors.Is. Most are the segment package's,
// so that one errors.Is check covers tables and arrays alike.
var (
	// ErrExist: Create found a file already at that name.
	ErrExist = segment.ErrExist
	// ErrNotExist: Attach found no file at that name.
	ErrNotExist = segment.ErrNotExist
	// ErrCorrupt: the file is not a valid array file: garbage, truncated,
	// a trailer that disagrees with the .npy header, or a .npy file that
	// shmdict did not make.
	ErrCorrupt = segment.ErrCorrupt
	// ErrVersion: the file's .npy or trailer version is not one this
	// package reads.
	ErrVersion = segment.ErrVersion
	// ErrInvalid: the name, shape or options cannot describe an array, or
	// the file is not a regular file, or it is world-writable.
	ErrInvalid = segment.ErrInvalid
	// ErrClosed: the array was closed in this process.
	ErrClosed = segment.ErrClosed
	// ErrNoSpace: the file system could not hold the new array.
	ErrNoSpace = segment.ErrNoSpace
	// ErrBusy: another live process is publishing a snapshot of the array
	// (one writer at a time).
	ErrBusy = segment.ErrBusy

	// ErrDType: the file holds elements of another type than asked for.
	ErrDType = errors.New("shmdict: array element type mismatch")
	// ErrShape: the file has another shape than asked for, or a buffer
	// has the wrong length.
	ErrShape = errors.New("shmdict: array shape mismatch")
	// ErrNoSnapshot: Snapshot found nothing published yet.
	ErrNoSnapshot = errors.New("shmdict: array has no published snapshot yet (Publish one first)")
)

// errorf wraps a sentinel with a message: "<sentinel>: <message>".
func errorf(sentinel error, format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{sentinel}, args...)...)
}
