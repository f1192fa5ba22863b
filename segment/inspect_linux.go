package segment

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Info describes a segment file seen from outside, without attaching to
// it: Inspect reads it with pread and probes its registry locks, so it
// never counts itself as a user.
type Info struct {
	Path string
	Size int64 // the file's size: its layout's TotalSize, most of it sparse
	// Allocated is how much of the file takes memory (or disk): its
	// allocated blocks. The arena's unused chunks and the adder lanes'
	// unused pages take none.
	Allocated int64
	Layout    Layout
	Keys      int64     // the Len counters' sum (a snapshot)
	Claimed   uint64    // the claimed-slot counter
	Live      []Process // live attached processes
	// Crashed counts registry entries of processes that died with the
	// segment open. They never closed it, so Modified (their attach, or an
	// earlier use) may be long before their last use: the segment's last
	// use is unknown until a process attaches again (which clears them).
	Crashed int
	// Modified is the file's modification time. Create, attach and close
	// set it, so for a segment with no live process it is when the
	// segment was last used (Unused).
	Modified  time.Time
	UID       int   // the file's owner
	Temp      bool  // a temporary file of an interrupted create or compaction
	Err       error // why the file is not a usable segment, if it is not
	TempInUse bool  // for a temp file: its creator still holds it

	ours bool // the file starts with the magic (a damaged segment is still ours)
}

// What a directory scan may remove. List, 'shmdict ls', 'shmdict gc' and
// table.RemoveOrphans all go by these two methods, and nothing else:
//
//   - An orphan is a temporary file whose creator is gone: a create or a
//     compaction was interrupted, and nothing can ever use the file. It is
//     always safe to remove.
//   - An unused segment is a valid table that no live process has open
//     right now. That is its normal state between uses (a table outlives
//     the processes that use it), so it is removed only on request, and
//     only if it has been unused for longer than the caller says.
//
// A damaged segment (Err set) is neither: what to do with it is the
// operator's call (inspect it, restore it from a dump, or remove it).

// Orphan reports whether the file is a temporary file that its creator
// left behind (it died or failed before finishing): safe to remove.
func (i Info) Orphan() bool { return i.Temp && !i.TempInUse }

// Unused reports whether the file is a valid segment with no live process
// attached. Modified says since when.
func (i Info) Unused() bool { return i.Err == nil && !i.Temp && len(i.Live) == 0 }

// IsTempName reports whether a file name is one of the temporary names
// create and compaction use: .<name>.tmp.<pid>.<n> and
// .<name>.compact.<pid>.<n> (.<name>.compact.<pid> from older versions),
// exactly. Other programs name temp files alike, and gc must leave theirs
// alone.
func IsTempName(name string) bool {
	for _, kind := range []string{".tmp.", ".compact."} {
		i := strings.LastIndex(name, kind)
		if i < 2 || name[0] != '.' { // "." and a name of at least one byte come first
			continue
		}
		nums := strings.Split(name[i+len(kind):], ".")
		if len(nums) != 2 && !(kind == ".compact." && len(nums) == 1) {
			continue
		}
		if !slices.ContainsFunc(nums, func(n string) bool { return n == "" || strings.Trim(n, "0123456789") != "" }) {
			return true
		}
	}
	return false
}

// Inspect reads the segment at path: header, counters and live processes.
// A regular file that is not a valid segment gives an Info with Err set
// (and a nil error); the error is for failures to read the file at all,
// and ErrInvalid for a name that is not a regular file (a symbolic link,
// FIFO, socket, device or directory), which is never followed or blocked
// on.
func Inspect(path string) (Info, error) {
	info := Info{Path: path, Temp: IsTempName(filepath.Base(path))}
	// O_NONBLOCK and the regular-file check come before any read: a FIFO
	// named like a table must not hang a listing.
	fd, st, err := openName(path, unix.O_RDONLY)
	if err != nil {
		return info, err
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	info.Size = st.Size
	info.Allocated = st.Blocks * 512
	info.Modified = time.Unix(st.Mtim.Unix())
	info.UID = int(st.Uid)
	head := make([]byte, len(Magic))
	n, _ := f.ReadAt(head, 0)
	info.ours = n == len(Magic) && string(head) == Magic
	if info.Temp {
		// A name alone proves nothing in a shared directory: a temp file
		// of ours belongs to this user and holds zeros (not yet
		// initialized) or a segment header.
		if st.Uid != uint32(os.Geteuid()) || !(info.ours || allZero(head[:n])) {
			info.Temp = false
			info.Err = fmt.Errorf("%w: %s has a temporary file's name but is not one of ours", ErrCorrupt, path)
			return info, nil
		}
		if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
			info.TempInUse = true
		} else {
			unix.Flock(fd, unix.LOCK_UN)
		}
		return info, nil
	}
	ctl := make([]byte, ControlSize)
	n, err = io.ReadFull(f, ctl)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return info, err
	}
	l, err := decodeHeader(ctl[:min(n, HeaderSize)])
	if err == nil && uint64(st.Size) != l.TotalSize {
		err = fmt.Errorf("%w: %s is %d bytes, its header says %d", ErrCorrupt, path, st.Size, l.TotalSize)
	}
	if err != nil {
		info.Err = err
		return info, nil
	}
	info.Layout = l
	le := binary.LittleEndian
	info.Claimed = le.Uint64(ctl[OffClaimed:])
	for i := 0; i < LenStripes; i++ {
		info.Keys += int64(le.Uint64(ctl[OffLenStripes+i*LineSize:]))
	}
	info.Live, info.Crashed, err = scanRegistry(fd, l)
	return info, err
}

// scanRegistry reads the registry of the segment open as fd, with layout
// l (already checked against the file's size), and probes the lock of
// every entry that records a pid: a held lock is a live process; a free
// one is a process that died with the segment open (Close clears the pid
// before it drops the lock).
func scanRegistry(fd int, l Layout) (live []Process, crashed int, err error) {
	le := binary.LittleEndian
	reg := make([]byte, uint64(l.MaxProcs)*RegistryEntrySize)
	if n, err := unix.Pread(fd, reg, int64(l.RegistryOff)); err != nil {
		return nil, 0, err
	} else if n != len(reg) {
		return nil, 0, io.ErrUnexpectedEOF
	}
	for i := 0; i < int(l.MaxProcs); i++ {
		e := reg[i*RegistryEntrySize:]
		pid := le.Uint32(e)
		if pid == 0 {
			continue
		}
		lk := unix.Flock_t{Type: unix.F_WRLCK, Start: lockBase + int64(i), Len: 1}
		if err := unix.FcntlFlock(uintptr(fd), unix.F_OFD_GETLK, &lk); err != nil {
			return nil, 0, err
		}
		if lk.Type != unix.F_UNLCK {
			live = append(live, Process{Entry: i, PID: int(pid), Since: time.Unix(0, int64(le.Uint64(e[8:])))})
		} else {
			crashed++
		}
	}
	return live, crashed, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// List inspects every segment and temporary file in dir. Files that are
// not segments at all (wrong magic, other files in /dev/shm) are skipped;
// damaged segments are listed with Err set.
func List(dir string) ([]Info, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("shmdict: list %s: %w", dir, err)
	}
	var out []Info
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		path := filepath.Join(dir, e.Name())
		if testHookListed != nil {
			testHookListed(path)
		}
		info, err := Inspect(path) // the name may be a FIFO or a link by now
		if err != nil {
			continue // vanished, replaced or unreadable: not ours to report
		}
		if info.Err != nil && !info.ours {
			continue
		}
		out = append(out, info)
	}
	return out, nil
}

// testHookListed, when set by a test, runs between List's ReadDir and its
// Inspect of each file (where another user can swap the file).
var testHookListed func(path string)

// RemoveTemp removes a temporary file left by an interrupted create or
// compaction, if its creator no longer holds it (ErrInUse otherwise). It
// refuses anything but a regular file of this user with a temporary name.
func RemoveTemp(path string) error {
	if !IsTempName(filepath.Base(path)) {
		return fmt.Errorf("%w: %s is not a temporary file's name", ErrInvalid, path)
	}
	fd, _, err := lockToRemove(path, "is being written by its creator")
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return Remove(path)
}
