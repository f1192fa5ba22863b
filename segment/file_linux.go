package segment

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shmdict/shmdict/atomicx"
)

// Create makes a new segment at path with layout l and attaches to it. It
// fails with ErrExist if path exists. The file appears under its final
// name only when fully initialized, so concurrent attachers never see a
// half-made segment. a says who may share the file (Access).
func Create(path string, l Layout, a Access) (*Segment, error) {
	s, err := create(path, l, a)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Open attaches to the segment at path, or creates it with layout l if it
// does not exist. When two processes race to create the same name, one
// wins and the other attaches to the winner's segment. created reports
// which happened. a applies to both (Access); an invalid a is refused
// before anything is opened.
func Open(path string, l Layout, a Access) (s *Segment, created bool, err error) {
	if _, _, err := a.resolve(); err != nil {
		return nil, false, err
	}
	for attempt := 0; ; attempt++ {
		s, err = Attach(path, a)
		if !errors.Is(err, ErrNotExist) {
			return s, false, err
		}
		s, err = create(path, l, a)
		if !errors.Is(err, ErrExist) || attempt >= 3 {
			return s, err == nil, err
		}
		// Lost the race to create; the winner's segment is in place now
		// (or it was removed again, and we retry creating).
	}
}

func create(path string, l Layout, a Access) (*Segment, error) {
	l.Seed = newSeed()
	l.CreatedNano = time.Now().UnixNano()
	l.derive()
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
	if err := allocate(fd, l); err != nil {
		if errors.Is(err, unix.ENOSPC) {
			need := min(l.ArenaOff+ReserveChunk, l.arenaEnd())
			return nil, fmt.Errorf("%w: %s needs %d bytes (%s) to start, and up to %s as its records fill it: %v",
				ErrNoSpace, path, need, humanBytes(need), humanBytes(l.TotalSize), err)
		}
		return nil, fmt.Errorf("shmdict: allocate %d bytes for %s: %w", l.TotalSize, path, err)
	}
	mapping, err := mapShared(fd, l.TotalSize)
	if err != nil {
		return nil, fmt.Errorf("shmdict: map %s: %w", path, err)
	}
	m := atomicx.FromBytes(mapping)
	initialize(m, l)
	s := &Segment{Mem: m, Layout: l, Path: path, file: f, mapping: mapping, regIndex: -1}
	// Join (shared flock, registry entry) before the segment gets its
	// name, so that RemoveUnused can never see it unattached in between.
	if err := s.join(); err != nil {
		unmap(mapping)
		return nil, err
	}
	if err := unix.Link(tmp, path); err != nil {
		unmap(mapping)
		if errors.Is(err, unix.EEXIST) {
			return nil, fmt.Errorf("%w: %s", ErrExist, path)
		}
		return nil, fmt.Errorf("shmdict: link %s: %w", path, err)
	}
	ok = true
	return s, nil
}

// tempFile makes the temp file that create and CreateFile fill before they
// link it under path: in path's directory, under a random name (anyone
// can make a file in /dev/shm under a name they can guess), exclusively
// flocked (a sweeper, RemoveOrphans, removes only temp files whose lock it
// can take), then given a's group and mode. It is private until then:
// until the fchown it belongs to our own group, whose members must not get
// a descriptor (it would outlive the fchown and fchmod). On error nothing
// is left; otherwise the caller unlinks tmp when done.
func tempFile(path string, a Access) (f *os.File, tmp string, err error) {
	mode, gid, err := a.resolve()
	if err != nil {
		return nil, "", err
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp = filepath.Join(dir, "."+base+".tmp."+strconv.Itoa(os.Getpid())+"."+strconv.FormatUint(newSeed()%1e9, 10))
	fd, err := unix.Open(tmp, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, modePrivate)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil, "", fmt.Errorf("%w: directory %s does not exist: %v", ErrNotExist, dir, err)
		}
		return nil, "", fmt.Errorf("shmdict: create %s: %w", tmp, err)
	}
	f = os.NewFile(uintptr(fd), tmp)
	fail := func(err error) (*os.File, string, error) {
		f.Close()
		unix.Unlink(tmp)
		return nil, "", err
	}
	if testHookTempCreated != nil {
		testHookTempCreated(tmp)
	}
	if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return fail(fmt.Errorf("shmdict: flock %s: %w", tmp, err))
	}
	if gid >= 0 {
		if err := unix.Fchown(fd, -1, gid); err != nil {
			return fail(fmt.Errorf("shmdict: give %s to group %d: %w (are you a member of that group?)", tmp, gid, err))
		}
	}
	if err := unix.Fchmod(fd, mode); err != nil { // umask may have narrowed it
		return fail(fmt.Errorf("shmdict: chmod %s: %w", tmp, err))
	}
	return f, tmp, nil
}

// testHookTempCreated, when set by a test, runs right after create made
// its temp file.
var testHookTempCreated func(tmp string)

// ReserveChunk is how much of the arena a segment file reserves at a
// time: at create, the part before the arena and the arena's first
// chunk; then each bump allocation that reaches into a new chunk reserves
// it first (Segment.Reserve). The memory a table takes is then what its
// records use, not its ArenaBytes, while a full file system still fails a
// write with an error, not with SIGBUS on first touch.
const ReserveChunk = 1 << 20

// allocate gives fd the size of layout l and reserves everything before
// the arena and the arena's first chunk (fallocate where supported;
// elsewhere pages are allocated on first touch). The adder lanes after
// the arena are reserved page by page as processes first use them.
func allocate(fd int, l Layout) error {
	if err := unix.Ftruncate(fd, int64(l.TotalSize)); err != nil {
		return err
	}
	if l.Grows() {
		// Only the first tier of the slot array: the others are reserved
		// as the table grows into them (table/tiers.go).
		if err := reserve(fd, 0, l.SlotsOff+l.Slots*SlotSize); err != nil {
			return err
		}
		if err := reserve(fd, l.OverflowOff, l.OverflowBytes(1)); err != nil {
			return err
		}
		return reserve(fd, l.ArenaOff, min(ReserveChunk, l.arenaEnd()-l.ArenaOff))
	}
	return reserve(fd, 0, min(l.ArenaOff+ReserveChunk, l.arenaEnd()))
}

func reserve(fd int, off, n uint64) error {
	err := unix.Fallocate(fd, 0, int64(off), int64(n))
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) {
		return nil
	}
	return err
}

// Reserve allocates the file's blocks for bytes [off, off+n), so that a
// full file system shows now, as an ErrNoSpace error, rather than as
// SIGBUS when a page is first touched. A heap segment has nothing to do.
func (s *Segment) Reserve(off, n uint64) error {
	if s.file == nil || n == 0 {
		return nil
	}
	err := reserve(int(s.file.Fd()), off, min(n, s.Layout.TotalSize-min(off, s.Layout.TotalSize)))
	if errors.Is(err, unix.ENOSPC) {
		return fmt.Errorf("%w: reserving %s more of %s: %v; free space on that file system (for /dev/shm: other segments, `df /dev/shm`)",
			ErrNoSpace, humanBytes(n), s.Path, err)
	}
	if err != nil {
		return fmt.Errorf("shmdict: reserve %d bytes of %s: %w", n, s.Path, err)
	}
	return nil
}

// Clear makes bytes [off, off+n) of the segment zero and, in a file,
// gives their memory back (FALLOCATE_FL_PUNCH_HOLE: they read as zeros
// again and take memory only once written). Only for a caller that holds
// the segment exclusively (Repair): a concurrent writer's bytes there would
// be lost.
func (s *Segment) Clear(off, n uint64) error {
	end := min(off+n, s.Layout.TotalSize)
	if off >= end {
		return nil
	}
	if s.file == nil {
		for i := off; i < end; i += 8 {
			if s.Mem.Load64(i) != 0 {
				s.Mem.Store64(i, 0)
			}
		}
		return nil
	}
	err := unix.Fallocate(int(s.file.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, int64(off), int64(end-off))
	if err != nil {
		return fmt.Errorf("shmdict: clear %d bytes of %s: %w", end-off, s.Path, err)
	}
	return nil
}

// Allocated returns how many bytes of the segment's file take memory (or
// disk): its allocated blocks. A heap segment's whole size is allocated.
func (s *Segment) Allocated() (int64, error) {
	if s.file == nil {
		return int64(s.Layout.TotalSize), nil
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(s.file.Fd()), &st); err != nil {
		return 0, fmt.Errorf("shmdict: stat %s: %w", s.Path, err)
	}
	return st.Blocks * 512, nil
}

// Attach maps the existing segment at path after validating its owner,
// mode, header and size. It fails with ErrNotExist if there is none,
// ErrCorrupt or ErrVersion if the file is not a valid segment of this
// format, ErrInvalid for a world-writable file or anything but a regular
// file (a symbolic link, FIFO, socket, device or directory: never
// followed, never blocked on), an error matching os.ErrPermission for a
// file that a does not trust (see Access), ErrBusy while an exclusive
// operation holds it, and ErrInUse when its registry is full. a.Mode is
// not used.
func Attach(path string, a Access) (*Segment, error) {
	gid, err := a.gid()
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		s, err := attach(path, gid)
		if !errors.Is(err, errReplaced) {
			return s, err
		}
		if attempt >= 3 {
			return nil, fmt.Errorf("%w: %s keeps being replaced while attaching", ErrBusy, path)
		}
	}
}

// errReplaced: the file at the path changed while attaching; try again.
var errReplaced = errors.New("shmdict: segment replaced during attach")

// samePath reports whether fd is still the file at path, so that a
// process never ends up attached to a segment that was unlinked (or
// replaced) while it attached.
func samePath(fd int, path string) (bool, error) {
	var a, b unix.Stat_t
	if err := unix.Fstat(fd, &a); err != nil {
		return false, err
	}
	if err := unix.Lstat(path, &b); err != nil { // a link swapped in is not the file
		if errors.Is(err, unix.ENOENT) {
			return false, nil
		}
		return false, err
	}
	return a.Dev == b.Dev && a.Ino == b.Ino && a.Nlink > 0, nil
}

func attach(path string, gid int) (*Segment, error) {
	fd, st, err := openName(path, unix.O_RDWR)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), path)
	ok := false
	defer func() {
		if !ok {
			f.Close()
		}
	}()
	if err := checkOwner(path, st, gid); err != nil {
		return nil, err
	}
	hdr := make([]byte, HeaderSize)
	n, err := io.ReadFull(f, hdr)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("shmdict: read header of %s: %w", path, err)
	}
	l, err := checkImage(hdr[:n], uint64(st.Size))
	if err != nil {
		return nil, fmt.Errorf("%w (file %s)", err, path)
	}
	mapping, err := mapShared(fd, l.TotalSize)
	if err != nil {
		return nil, fmt.Errorf("shmdict: map %s: %w", path, err)
	}
	s := &Segment{Mem: atomicx.FromBytes(mapping), Layout: l, Path: path, file: f, mapping: mapping, regIndex: -1}
	if err := s.join(); err != nil {
		unmap(mapping)
		return nil, err
	}
	// Holding the shared flock now, check that the path still names this
	// file: RemoveUnused may have unlinked it before we locked it.
	if same, err := samePath(fd, path); err != nil || !same {
		unmap(mapping)
		if err != nil {
			return nil, fmt.Errorf("shmdict: stat %s: %w", path, err)
		}
		if _, serr := os.Stat(path); errors.Is(serr, os.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s (removed while attaching)", ErrNotExist, path)
		}
		return nil, errReplaced
	}
	ok = true
	s.startPrefault() // warm_linux.go
	return s, nil
}

// Named reports whether s's path still names the file s is attached to:
// false once it was removed, or replaced by another file. A heap segment
// is always named.
func (s *Segment) Named() (bool, error) {
	if s.file == nil {
		return true, nil
	}
	return samePath(int(s.file.Fd()), s.Path)
}

// openError describes a failure to open an existing segment file.
func openError(path string, err error) error {
	switch {
	case errors.Is(err, unix.ENOENT):
		return fmt.Errorf("%w: %s", ErrNotExist, path)
	case errors.Is(err, unix.EISDIR):
		return fmt.Errorf("%w: %s is a directory, not a segment file", ErrInvalid, path)
	case errors.Is(err, unix.ENXIO):
		return fmt.Errorf("%w: %s is a socket or a device, not a segment file (remove it if you did not make it)", ErrInvalid, path)
	case errors.Is(err, unix.ELOOP):
		return fmt.Errorf("%w: %s is a symbolic link; segments in shared directories are never opened through links (name the target itself)", ErrInvalid, path)
	case errors.Is(err, unix.EACCES), errors.Is(err, unix.EPERM):
		return fmt.Errorf("shmdict: open %s: %w (the segment belongs to another user, or its mode does not let you write it)", path, os.ErrPermission)
	}
	return fmt.Errorf("shmdict: open %s: %w", path, err)
}

// join takes the shared flock (exclusive maintenance waits for none) and
// a registry entry.
func (s *Segment) join() error {
	if err := unix.Flock(int(s.file.Fd()), unix.LOCK_SH|unix.LOCK_NB); err != nil {
		if errors.Is(err, unix.EWOULDBLOCK) {
			return fmt.Errorf("%w: %s", ErrBusy, s.Path)
		}
		return fmt.Errorf("shmdict: flock %s: %w", s.Path, err)
	}
	if err := s.claimEntry(); err != nil {
		return err
	}
	touch(int(s.file.Fd()))
	return nil
}

// Remove unlinks the segment at path. Like shm_unlink, processes that have
// it attached keep using it; its memory is freed when the last one
// detaches. It fails with ErrNotExist if there is no such file.
func Remove(path string) error {
	if err := unix.Unlink(path); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("%w: %s", ErrNotExist, path)
		}
		return fmt.Errorf("shmdict: remove %s: %w", path, err)
	}
	return nil
}

// RemoveUnused unlinks the segment at path only if no process has it
// attached (ErrInUse otherwise). The check and the unlink happen under an
// exclusive flock, so no process can attach in between. Like every open of
// a name, it refuses anything but a regular file (ErrInvalid) and, since
// it locks the file, a file another user owns (os.ErrPermission).
func RemoveUnused(path string) error { return removeUnused(path, time.Time{}) }

// RemoveUnusedBefore is RemoveUnused for a segment that must also have
// been last used (created, attached or closed: Info.Modified) before
// cutoff; one used since fails with ErrInUse. The time is checked again
// under the exclusive flock. So does a segment that a process had open
// when it died (Info.Crashed): it never closed it, so its last use is
// unknown.
func RemoveUnusedBefore(path string, cutoff time.Time) error { return removeUnused(path, cutoff) }

func removeUnused(path string, cutoff time.Time) error {
	fd, st, err := lockToRemove(path, "has attached processes; detach them or use Remove")
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if !cutoff.IsZero() {
		// Fstat again: an attach and close since the first one touched it.
		if err := unix.Fstat(fd, st); err != nil {
			return fmt.Errorf("shmdict: stat %s: %w", path, err)
		}
		if used := time.Unix(st.Mtim.Unix()); !used.Before(cutoff) {
			return fmt.Errorf("%w: %s was used at %s, after the cutoff %s", ErrInUse, path, used.Format(time.RFC3339), cutoff.Format(time.RFC3339))
		}
		// A process that died with the segment open never closed it, so
		// its last use is unknown: it may have written until a moment ago.
		if n, err := crashedUsers(fd, st); err != nil {
			return fmt.Errorf("shmdict: read registry of %s: %w", path, err)
		} else if n > 0 {
			return fmt.Errorf("%w: %s: %d process(es) died with it open, so when it was last used is unknown; it is kept until a process opens and closes it again (or remove it by hand)", ErrInUse, path, n)
		}
	}
	return Remove(path)
}

// lockToRemove opens path, which must be a regular file of this user, and
// takes its exclusive flock without waiting, for a removal: ErrInUse
// (with inUse's words) while a holder has it, ErrBusy if path names
// another file by the time the lock is held (only the file checked may be
// unlinked). The caller closes the descriptor.
func lockToRemove(path, inUse string) (int, *unix.Stat_t, error) {
	fd, st, err := openName(path, unix.O_RDONLY)
	if err != nil {
		return -1, nil, err
	}
	fail := func(err error) (int, *unix.Stat_t, error) {
		unix.Close(fd)
		return -1, nil, err
	}
	if err := checkMine(path, st); err != nil {
		return fail(err)
	}
	if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		if errors.Is(err, unix.EWOULDBLOCK) {
			return fail(fmt.Errorf("%w: %s %s", ErrInUse, path, inUse))
		}
		return fail(fmt.Errorf("shmdict: flock %s: %w", path, err))
	}
	if same, err := samePath(fd, path); err != nil || !same {
		return fail(fmt.Errorf("%w: %s was replaced while checking it; retry", ErrBusy, path))
	}
	return fd, st, nil
}

// crashedUsers counts the registry entries of processes that died with
// the segment open as fd (see scanRegistry). A file that is not a valid
// segment has none.
func crashedUsers(fd int, st *unix.Stat_t) (int, error) {
	hdr := make([]byte, HeaderSize)
	n, _ := unix.Pread(fd, hdr, 0)
	l, err := decodeHeader(hdr[:max(n, 0)])
	if err != nil || uint64(st.Size) != l.TotalSize {
		return 0, nil
	}
	_, crashed, err := scanRegistry(fd, l)
	return crashed, err
}

func humanBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatUint(n, 10) + " B"
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// LockExclusive converts this process's shared flock on the segment into
// an exclusive one, which succeeds only if no other process has the
// segment attached (ErrInUse otherwise); new attachers then get ErrBusy
// until Close. A heap segment is always exclusive.
func (s *Segment) LockExclusive() error {
	if s.file == nil {
		return nil
	}
	if s.closed.IsSet() {
		return ErrClosed
	}
	fd := int(s.file.Fd())
	err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
	if err == nil {
		return nil
	}
	// A failed conversion drops the shared lock (flock(2)); take it back.
	if lerr := unix.Flock(fd, unix.LOCK_SH|unix.LOCK_NB); lerr != nil {
		err = fmt.Errorf("%w (and the shared lock could not be retaken: %v)", err, lerr)
	}
	if errors.Is(err, unix.EWOULDBLOCK) {
		return fmt.Errorf("%w: %s: other processes have it attached; close them first (or force, at the risk of losing their writes)", ErrInUse, s.Path)
	}
	return fmt.Errorf("shmdict: flock %s: %w", s.Path, err)
}
