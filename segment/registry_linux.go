package segment

import (
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// The process registry. Entry i is owned by whoever holds an OFD write
// lock on byte lockBase+i of the segment file. The kernel drops OFD locks
// when the last descriptor of the open file description closes, which
// includes death by SIGKILL, so a free lock means the entry's owner is
// gone, whatever PID it recorded (PIDs are reused and mean nothing across
// namespaces; they are kept for display).
//
// Entry layout (RegistryEntrySize bytes at RegistryOff + i*RegistryEntrySize):
//
//	+0  u32 pid at attach (0: never used or released)
//	+4  u32 incarnation: +1 by each process that takes the entry (wraps), so
//	        that a mark naming the entry (a load lease) can tell its maker
//	        from a later holder of the same entry
//	+8  i64 attach time, Unix nanoseconds
const lockBase = 1 << 40

func (s *Segment) entryOff(i int) uint64 {
	return s.Layout.RegistryOff + uint64(i)*RegistryEntrySize
}

func (s *Segment) lockByte(i int, typ int16, cmd int) (unix.Flock_t, error) {
	lk := unix.Flock_t{Type: typ, Whence: 0, Start: lockBase + int64(i), Len: 1}
	err := unix.FcntlFlock(s.file.Fd(), cmd, &lk)
	return lk, err
}

// claimEntry takes the first registry entry whose lock is free.
func (s *Segment) claimEntry() error {
	for i := 0; i < int(s.Layout.MaxProcs); i++ {
		_, err := s.lockByte(i, unix.F_WRLCK, unix.F_OFD_SETLK)
		if err != nil {
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EACCES) {
				continue // a live process owns it
			}
			return fmt.Errorf("shmdict: lock registry entry of %s: %w", s.Path, err)
		}
		off := s.entryOff(i)
		err = s.guard(func() {
			s.Mem.Add32(off+4, 1)
			s.Mem.Store64(off+8, uint64(time.Now().UnixNano()))
			s.Mem.Store32(off, uint32(os.Getpid()))
		})
		if err != nil {
			s.lockByte(i, unix.F_UNLCK, unix.F_OFD_SETLK)
			return err
		}
		s.regIndex = i
		s.clearCrashed()
		return nil
	}
	return fmt.Errorf("%w: %s: all %d process registry entries are held by live processes", ErrInUse, s.Path, s.Layout.MaxProcs)
}

// clearCrashed clears the pid of every entry whose process died with the
// segment open (a pid, but a free lock). Such an entry makes the
// segment's last use unknown (Info.Crashed: the file's time is that of an
// attach, not of the last write); once this process has attached, its own
// close records a real last use. The pid and the incarnation are one
// 64-bit word, so the CAS fails if a process took the entry after the
// probe (it bumps the incarnation before it stores its pid). Best effort.
func (s *Segment) clearCrashed() {
	type used struct {
		i int
		w uint64 // pid | incarnation<<32
	}
	var seen []used
	if s.guard(func() {
		for i := 0; i < int(s.Layout.MaxProcs); i++ {
			if w := s.Mem.Load64(s.entryOff(i)); uint32(w) != 0 && i != s.regIndex {
				seen = append(seen, used{i, w})
			}
		}
	}) != nil {
		return
	}
	for _, u := range seen {
		if lk, err := s.lockByte(u.i, unix.F_WRLCK, unix.F_OFD_GETLK); err != nil || lk.Type != unix.F_UNLCK {
			continue // live, or unknown
		}
		s.guard(func() { s.Mem.CAS64(s.entryOff(u.i), u.w, u.w&^0xffffffff) })
	}
}

// Process is an attached process as the registry records it.
type Process struct {
	Entry int       // registry entry index
	PID   int       // PID at attach time (for display only)
	Since time.Time // attach time
	Self  bool      // this Segment's own entry
}

// Processes lists the live processes attached to the segment, this one
// included. An entry whose lock is free is skipped, even if its PID now
// belongs to some unrelated live process. A heap segment lists only the
// calling process.
func (s *Segment) Processes() ([]Process, error) {
	if s.closed.IsSet() {
		return nil, ErrClosed
	}
	if s.file == nil {
		return []Process{{Entry: -1, PID: os.Getpid(), Self: true}}, nil
	}
	var out []Process
	for i := 0; i < int(s.Layout.MaxProcs); i++ {
		off := s.entryOff(i)
		pid := s.Mem.Load32(off)
		if i == s.regIndex {
			out = append(out, Process{Entry: i, PID: int(pid), Since: time.Unix(0, int64(s.Mem.Load64(off+8))), Self: true})
			continue
		}
		if pid == 0 {
			continue
		}
		lk, err := s.lockByte(i, unix.F_WRLCK, unix.F_OFD_GETLK)
		if err != nil {
			return nil, fmt.Errorf("shmdict: probe registry entry %d of %s: %w", i, s.Path, err)
		}
		if lk.Type == unix.F_UNLCK {
			continue // its owner died without releasing it
		}
		out = append(out, Process{Entry: i, PID: int(pid), Since: time.Unix(0, int64(s.Mem.Load64(off+8)))})
	}
	return out, nil
}

// Entry returns this process's registry entry index, or -1 (a heap
// segment, or none).
func (s *Segment) Entry() int { return s.regIndex }

// EntryIncarnation returns the incarnation of registry entry i: how many
// processes have taken it (mod 2^32). Together with EntryAlive it says
// whether the process that held entry i at some moment still does. It is 0
// for a heap segment or an index out of range. It reads the mapping: call
// it where faults are guarded.
func (s *Segment) EntryIncarnation(i int) uint32 {
	if s.file == nil || i < 0 || i >= int(s.Layout.MaxProcs) {
		return 0
	}
	return s.Mem.Load32(s.entryOff(i) + 4)
}

// EntryAlive reports whether registry entry i is held by a live process
// (this one included). For a heap segment every entry counts as alive.
func (s *Segment) EntryAlive(i int) bool {
	if s.file == nil || i == s.regIndex {
		return true
	}
	if i < 0 || i >= int(s.Layout.MaxProcs) || s.closed.IsSet() {
		return false
	}
	lk, err := s.lockByte(i, unix.F_WRLCK, unix.F_OFD_GETLK)
	return err != nil || lk.Type != unix.F_UNLCK // an error: assume alive, and let the deadline decide
}
