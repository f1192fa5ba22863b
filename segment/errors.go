package segment

import "errors"

// Sentinel errors. Callers match them with errors.Is; the table package
// re-exports them under the same names.
var (
	// ErrExist: Create found a segment already at that name.
	ErrExist = errors.New("shmdict: segment already exists (use Open or Attach to use it, or Remove it first)")
	// ErrNotExist: Attach found no segment at that name.
	ErrNotExist = errors.New("shmdict: segment does not exist (create it with Open or Create)")
	// ErrCorrupt: the segment's bytes break an invariant (bad magic,
	// checksum, layout, size, or an out-of-bounds offset inside it).
	ErrCorrupt = errors.New("shmdict: segment is corrupt")
	// ErrVersion: the segment was written by another format version.
	ErrVersion = errors.New("shmdict: segment has an unsupported format version")
	// ErrClosed: the table (or segment) was closed in this process.
	ErrClosed = errors.New("shmdict: table is closed")
	// ErrNoSpace: the file system could not hold a new segment, or more
	// of a segment's arena (reserved as records fill it).
	ErrNoSpace = errors.New("shmdict: no space left on the segment's file system")
	// ErrFault: a memory fault while accessing the mapping, usually because
	// another process truncated the segment file.
	ErrFault = errors.New("shmdict: memory fault accessing segment (was the file truncated or removed by force?)")
	// ErrBusy: an exclusive maintenance operation holds the segment.
	ErrBusy = errors.New("shmdict: segment is locked by an exclusive maintenance operation; retry when it finishes")
	// ErrInUse: an exclusive operation was refused because live processes are attached.
	ErrInUse = errors.New("shmdict: segment is in use by live processes")
	// ErrInvalid: the name or options cannot describe a segment.
	ErrInvalid = errors.New("shmdict: invalid name or options")
)
