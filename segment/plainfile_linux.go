package segment

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Helpers for other file formats that live beside segments in the same
// shared directories (the array package's .npy files): the same atomic
// create and the same trust rules as a segment, without a segment's header,
// registry or locks.

// CreateFile makes a new file at path of size bytes, shared as a says
// (Access), all of its blocks allocated (a full file system fails here,
// with ErrNoSpace, not later with SIGBUS). init writes its contents through
// the descriptor of a temp file in the same directory; only then is the
// file linked under path, so no one ever sees it half made. ErrExist if
// path is taken. The returned file is open read-write; the caller closes
// it.
func CreateFile(path string, size int64, a Access, init func(f *os.File) error) (*os.File, error) {
	f, tmp, err := tempFile(path, a)
	if err != nil {
		return nil, err
	}
	fd := int(f.Fd())
	ok := false
	defer func() {
		if !ok {
			f.Close()
		}
		unix.Unlink(tmp) // linked under the final name, or abandoned
	}()
	if err := unix.Ftruncate(fd, size); err != nil {
		return nil, fmt.Errorf("shmdict: size %s to %d bytes: %w", path, size, err)
	}
	if err := reserve(fd, 0, uint64(size)); err != nil {
		if errors.Is(err, unix.ENOSPC) {
			return nil, fmt.Errorf("%w: %s needs %s: %v; free space on that file system (for /dev/shm: `df /dev/shm`)", ErrNoSpace, path, humanBytes(uint64(size)), err)
		}
		return nil, fmt.Errorf("shmdict: allocate %d bytes for %s: %w", size, path, err)
	}
	if err := init(f); err != nil {
		return nil, err
	}
	unix.Flock(fd, unix.LOCK_UN)
	if err := unix.Link(tmp, path); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return nil, fmt.Errorf("%w: %s", ErrExist, path)
		}
		return nil, fmt.Errorf("shmdict: link %s: %w", path, err)
	}
	ok = true
	return f, nil // its Name is the temp file's, unlinked now
}

// OpenFile opens the existing file at path, read-write if write is set,
// with the checks Attach makes before reading anything: a regular file
// (never through a symbolic link, never blocking on a FIFO), owned and
// shared as a allows (see Access; a.Mode is not used). ErrNotExist if there
// is none.
func OpenFile(path string, write bool, a Access) (*os.File, error) {
	gid, err := a.gid()
	if err != nil {
		return nil, err
	}
	flags := unix.O_RDONLY
	if write {
		flags = unix.O_RDWR
	}
	fd, st, err := openName(path, flags)
	if err != nil {
		return nil, err
	}
	if err := checkOwner(path, st, gid); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), path), nil
}
