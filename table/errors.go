package table

import (
	"errors"
	"fmt"

	"github.com/shmdict/shmdict/segment"
)

// Sentinel errors: every error this package returns matches one of them
// with errors.Is, and carries a message that says what to do.
var (
	// ErrNotFound: the key is absent.
	ErrNotFound = errors.New("shmdict: key not found")
	// ErrExist: Create found a segment already at that name.
	ErrExist = segment.ErrExist
	// ErrNotExist: Attach found no segment at that name.
	ErrNotExist = segment.ErrNotExist
	// ErrFull: no slot (the claim budget or probe limit is exhausted) or no
	// arena space for a record; the message says which and what to do.
	ErrFull = errors.New("shmdict: table full")
	// ErrKeyTooLarge: the key is longer than MaxKeyLen.
	ErrKeyTooLarge = errors.New("shmdict: key too large")
	// ErrValueTooLarge: the value is longer than MaxValueLen.
	ErrValueTooLarge = errors.New("shmdict: value too large")
	// ErrCorrupt: the segment breaks an invariant (bad header, size, or an
	// offset or length inside it).
	ErrCorrupt = segment.ErrCorrupt
	// ErrVersion: the segment was written by another format version.
	ErrVersion = segment.ErrVersion
	// ErrClosed: the Table was closed.
	ErrClosed = segment.ErrClosed
	// ErrNotCounter: Add on a key that holds a byte value, not a counter.
	ErrNotCounter = errors.New("shmdict: key holds a byte value, not a counter")
	// ErrRange: Add would take a counter outside [MinCounter, MaxCounter].
	ErrRange = errors.New("shmdict: counter out of range")
	// ErrInvalid: a name or option that cannot describe a table.
	ErrInvalid = segment.ErrInvalid
	// ErrNoSpace: the file system (usually /dev/shm) cannot hold a new
	// segment (Create, Open), or the next chunk of a table's arena, which
	// is reserved as records fill it (a write; free space there, e.g.
	// other segments, and retry).
	ErrNoSpace = segment.ErrNoSpace
	// ErrFault: a memory fault while accessing the segment, usually because
	// another process truncated its file.
	ErrFault = segment.ErrFault
	// ErrBusy: an exclusive maintenance operation holds the segment.
	ErrBusy = segment.ErrBusy
	// ErrInUse: refused because live processes have the segment attached.
	ErrInUse = segment.ErrInUse
	// ErrReplaced: a forced Compact replaced the table while this process
	// had it open. This Table still reads the old copy, which no longer
	// receives other processes' writes: Close it and open the name again.
	// Writes, Wait, Subscribe and GetOrLoad return it; reads do not check.
	// Repair clears such a mark on a table that is still under its name
	// (it can only come from damage there).
	ErrReplaced = errors.New("shmdict: table was replaced by a compaction; close it and open the name again")
)

// withAdvice adds what to do, in the table's options, to an error from
// segment.Create, Open or Attach: the segment says what ran out, the
// table which option to change. There ErrNoSpace can only be the file
// system's refusal of a new segment, and ErrInUse a full registry.
func withAdvice(err error) error {
	switch {
	case errors.Is(err, ErrNoSpace):
		return fmt.Errorf("%w; free space on that file system, or choose a smaller Capacity", err)
	case errors.Is(err, ErrInUse):
		return fmt.Errorf("%w (create the table with a larger MaxProcesses)", err)
	}
	return err
}

func orNotFound(err error) error {
	if err != nil {
		return err
	}
	return ErrNotFound
}

// clip shortens a key for an error message.
func clip(key []byte) []byte {
	if len(key) > 64 {
		return key[:64]
	}
	return key
}
