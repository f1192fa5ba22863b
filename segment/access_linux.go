package segment

import (
	"fmt"
	"os"
	"os/user"
	"strconv"

	"golang.org/x/sys/unix"
)

// Access is whom a process trusts with a segment file, and the mode a new
// file gets. Segment names live in shared directories (/dev/shm is
// writable by every local user), so a file under a name proves nothing by
// itself: whoever can write the file, or even only read it, can read what
// we store there, change it under us, or lock us out of it (flock and the
// registry's byte locks only need an open descriptor).
//
// The rule, checked with fstat on the open descriptor before anything is
// read, locked or mapped:
//   - By default a file is accepted only if this process's effective uid
//     owns it (root included: root accepts only root's files) and it gives
//     its group and others no access at all (0600).
//   - With Group set, a file is also accepted if that group owns it and
//     its mode is exactly 0660 (owner and group read-write, nothing for
//     others),
//     whoever its owner is: the caller opted in to sharing with every
//     member of the group.
//
// A new file is 0600, or 0660 with Group (then chowned to the group).
// Modes that give read without write (0640, 0644) are refused: a reader
// could take the exclusive flock or read-lock registry bytes and so lock
// the owner out; every mode we create gives each class of users either
// full access or none.
type Access struct {
	// Mode is a new file's permission bits: 0 (the default: 0600, or 0660
	// with Group), 0600 (only without Group), or 0660 (only with Group).
	Mode os.FileMode
	// Group, a group name or numeric id, shares segments with that group.
	// "" shares nothing.
	Group string
}

// Valid file modes. Anything else is refused at create, and at attach a
// file whose group and other bits are not exactly these is refused.
const (
	modePrivate = 0o600 // owner read-write; group and others nothing
	modeGroup   = 0o660 // owner and group read-write; others nothing
)

// resolve validates a and returns the mode a new file gets and the gid it
// is shared with (-1: none).
func (a Access) resolve() (mode uint32, gid int, err error) {
	if gid, err = a.gid(); err != nil {
		return 0, -1, err
	}
	switch {
	case a.Mode == 0 && gid < 0, a.Mode == modePrivate && gid < 0:
		return modePrivate, gid, nil
	case a.Mode == 0 && gid >= 0, a.Mode == modeGroup && gid >= 0:
		return modeGroup, gid, nil
	case a.Mode == modeGroup:
		return 0, -1, fmt.Errorf("%w: Mode %#o shares the table with a group: name that group in Options.Group (then Mode may stay 0)", ErrInvalid, uint32(a.Mode))
	case a.Mode == modePrivate:
		return 0, -1, fmt.Errorf("%w: Mode %#o shares nothing, but Group %q is set: leave Mode 0 (0660) to share with the group", ErrInvalid, uint32(a.Mode), a.Group)
	}
	return 0, -1, fmt.Errorf("%w: file mode %#o: use 0600 (the default) or, with Options.Group, 0660 (modes that let others read without writing would let them lock the owner out, and world-writable ones let anyone corrupt the table)",
		ErrInvalid, uint32(a.Mode))
}

// Validate returns the error Open and Create give for an invalid a
// (ErrInvalid), without opening anything. Attach does not look at Mode, so
// a caller that may attach first, as table.Open does, validates a itself:
// Mode 0600 with a Group must never attach to a group-shared file.
func (a Access) Validate() error {
	_, _, err := a.resolve()
	return err
}

// gid returns the group a shares with, or -1.
func (a Access) gid() (int, error) {
	if a.Group == "" {
		return -1, nil
	}
	return lookupGroup(a.Group)
}

// lookupGroup resolves a group name or numeric id.
func lookupGroup(name string) (int, error) {
	if id, err := strconv.Atoi(name); err == nil && id >= 0 {
		return id, nil
	}
	g, err := user.LookupGroup(name)
	if err != nil {
		return -1, fmt.Errorf("%w: Group %q: %v", ErrInvalid, name, err)
	}
	id, err := strconv.Atoi(g.Gid)
	if err != nil {
		return -1, fmt.Errorf("%w: Group %q has gid %q", ErrInvalid, name, g.Gid)
	}
	return id, nil
}

// openFlags are added to every open of an existing name: never follow a
// symbolic link planted under it, never block on a FIFO (or a device),
// never make a terminal ours, never leak the descriptor into children.
const openFlags = unix.O_NOFOLLOW | unix.O_NONBLOCK | unix.O_NOCTTY | unix.O_CLOEXEC

// openName opens an existing name with flags|openFlags and fstats the
// descriptor; it returns an error unless the descriptor is a regular file,
// so that nothing is ever read from, locked on or mapped from a FIFO,
// socket, device, directory or symlink.
func openName(path string, flags int) (int, *unix.Stat_t, error) {
	fd, err := unix.Open(path, flags|openFlags, 0)
	if err != nil {
		return -1, nil, openError(path, err)
	}
	st := new(unix.Stat_t)
	if err := unix.Fstat(fd, st); err != nil {
		unix.Close(fd)
		return -1, nil, fmt.Errorf("shmdict: stat %s: %w", path, err)
	}
	if err := checkRegular(path, st); err != nil {
		unix.Close(fd)
		return -1, nil, err
	}
	return fd, st, nil
}

// checkRegular refuses anything but a regular file (ErrInvalid).
func checkRegular(path string, st *unix.Stat_t) error {
	var what string
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		return nil
	case unix.S_IFDIR:
		what = "a directory"
	case unix.S_IFIFO:
		what = "a FIFO"
	case unix.S_IFSOCK:
		what = "a socket"
	case unix.S_IFCHR, unix.S_IFBLK:
		what = "a device"
	case unix.S_IFLNK:
		what = "a symbolic link"
	default:
		what = "not a regular file"
	}
	return fmt.Errorf("%w: %s is %s, not a segment file (remove it if you did not make it)", ErrInvalid, path, what)
}

// checkOwner applies the Access rule (see Access) to an open file:
// world-writable files are ErrInvalid; a file this process did not opt in
// to trusting is an error matching os.ErrPermission. gid is the shared
// group from Access.resolve, or -1.
func checkOwner(path string, st *unix.Stat_t, gid int) error {
	perm := st.Mode & 0o777
	if perm&0o002 != 0 {
		return fmt.Errorf("%w: %s is world-writable; any local user could corrupt it (chmod o-w it if you trust its contents)", ErrInvalid, path)
	}
	euid := uint32(os.Geteuid())
	if st.Uid == euid && perm&0o077 == 0 {
		return nil
	}
	if gid >= 0 && st.Gid == uint32(gid) && perm == modeGroup {
		return nil
	}
	switch {
	case gid >= 0 && st.Gid != uint32(gid):
		return fmt.Errorf("shmdict: %s: %w: owned by uid %d and group %d (mode %#o), not shared through group %d as expected; refusing a segment someone else could control (remove it if you did not make it)",
			path, os.ErrPermission, st.Uid, st.Gid, perm, gid)
	case gid >= 0:
		return fmt.Errorf("shmdict: %s: %w: mode %#o; a group-shared segment must be exactly 0660 (others reading it could lock its users out; chmod 660 it if you trust its contents)",
			path, os.ErrPermission, perm)
	case st.Uid != euid:
		return fmt.Errorf("shmdict: %s: %w: owned by uid %d, not by you (uid %d); refusing a segment another user could have planted (remove it if you did not make it, or set Options.Group, or SHMDICT_GROUP for the shmdict command, to share tables through a group)",
			path, os.ErrPermission, st.Uid, euid)
	}
	return fmt.Errorf("shmdict: %s: %w: mode %#o lets group %d or others in, and this process did not opt in to sharing (set Options.Group, or SHMDICT_GROUP for the shmdict command, to the file's group and make it 0660; or chmod 600 it)",
		path, os.ErrPermission, perm, st.Gid)
}

// checkMine refuses a file another user owns (os.ErrPermission): the
// removal paths lock only files of their own user.
func checkMine(path string, st *unix.Stat_t) error {
	if st.Uid == uint32(os.Geteuid()) {
		return nil
	}
	return fmt.Errorf("shmdict: %s: %w: owned by uid %d, not by you; only its owner removes it this way (Remove, or 'shmdict rm --force', unlinks without checking)",
		path, os.ErrPermission, st.Uid)
}

// touch sets the file's modification time to now. Create, attach and
// close do it, so that for a segment with no live process the time says
// when it was last used (Info.Modified), which is what 'gc --unused-for'
// goes by. Best effort: write access is enough, and a failure only makes
// the file look older.
func touch(fd int) {
	// utimensat(fd, NULL, NULL, 0) sets both times of fd itself to now.
	unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, 0, 0, 0, 0)
}

// Access returns the Access that makes a new file shared as this one is:
// its group when it is group-shared (Compact keeps it). A heap segment
// gives the zero Access.
func (s *Segment) Access() (Access, error) {
	if s.file == nil {
		return Access{}, nil
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(s.file.Fd()), &st); err != nil {
		return Access{}, fmt.Errorf("shmdict: stat %s: %w", s.Path, err)
	}
	if st.Mode&0o070 == 0 {
		return Access{}, nil
	}
	return Access{Group: strconv.FormatUint(uint64(st.Gid), 10)}, nil
}
