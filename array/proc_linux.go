package array

import (
	"bytes"
	"errors"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// Process identity for the writer lease. A pid alone is not an identity:
// once a process is gone its number is given to another. The lease
// therefore carries the low 32 bits of the holder's start time (field 22
// of /proc/PID/stat, in clock ticks since boot), and a holder is alive only
// if a process with that pid exists, has that start time, and is not a
// zombie (a zombie runs no code: it has exited, its parent has not reaped
// it yet).

// procStat returns the state (field 3) and start time (field 22) of
// process pid from /proc/PID/stat. ok is false if there is no such
// process; err reports /proc being unreadable.
func procStat(pid int) (state byte, start uint64, ok bool, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ESRCH) {
		return 0, 0, false, nil
	}
	if err != nil {
		return 0, 0, false, err
	}
	// The command name (field 2) is in parentheses and may hold spaces
	// or parentheses itself: the fields after it start after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, false, errors.New("unparsable /proc stat")
	}
	f := bytes.Fields(b[i+1:]) // f[0] is field 3
	if len(f) < 20 {
		return 0, 0, false, errors.New("short /proc stat")
	}
	start, err = strconv.ParseUint(string(f[19]), 10, 64)
	if err != nil || len(f[0]) != 1 {
		return 0, 0, false, errors.New("unparsable /proc stat")
	}
	return f[0][0], start, true, nil
}

// selfStart is this process's start time, low 32 bits: its half of the
// lease word.
var selfStart = func() uint32 {
	_, start, ok, err := procStat(os.Getpid())
	if !ok || err != nil {
		return 0 // /proc unavailable: liveness falls back to kill(pid, 0)
	}
	return uint32(start)
}()

// holderAlive reports whether the process that wrote lease word w may
// still be running.
func holderAlive(w uint64) bool {
	pid, start := int(w>>32), uint32(w)
	if pid <= 0 {
		return false
	}
	state, st, ok, err := procStat(pid)
	if err != nil {
		// No /proc: a signal 0 tells whether the pid exists (EPERM: it
		// does, as another user's process).
		return !errors.Is(unix.Kill(pid, 0), unix.ESRCH)
	}
	return ok && state != 'Z' && state != 'X' && uint32(st) == start
}
