package segment

import (
	"errors"
	"os"
	"runtime"
	"runtime/debug"

	"golang.org/x/sys/unix"
)

// Prefaulting: a process that has just attached has none of the segment's
// pages in its page tables, and its first operations take a minor fault
// for each 64 KiB window (fault-around) of the slot array and arena they
// touch: about 2,050 faults for a 1M-key table (97 MB used), about 10 ms that the
// first ~20,000 Gets pay, doubling the cost of the first 10,000
// (BenchmarkGetFresh in table/bench_fresh_test.go). Attach therefore maps
// the used part of a tmpfs segment into the process's page tables itself,
// before it returns (see prefaultMode for why not from a goroutine that
// races ahead of the first operations).
//
// Only tmpfs (/dev/shm) segments are prefaulted: their pages are in memory
// already, so prefaulting costs page-table entries and CPU time (about
// 0.3 µs a page), never new memory; the resident set (RssShmem) grows by
// the mapped part, which is shared with every other process mapping it. A
// segment on a disk file system is left to the page cache: populating it
// would read the whole file from disk at every attach.
//
// Prefaulting never fails an attach and never faults the process: errors
// (a kernel without MADV_POPULATE_READ uses the fallback, a segment
// truncated by someone makes madvise return EFAULT, a Close under it
// makes the range inaccessible) just end it early.
//
// $SHMDICT_PREFAULT overrides the default for a process: "off" disables
// prefaulting, "background" runs it in a goroutine that Attach does not
// wait for (what it has not reached yet faults as before); by default
// Attach waits for it ("sync"): the first operations never fault, and
// attach takes the ~12 ms for a 1M-key table itself.

// prefaultEnv names the environment variable that overrides the default.
const prefaultEnv = "SHMDICT_PREFAULT"

const (
	// madvPopulateRead (MADV_POPULATE_READ, Linux 5.14) maps the pages of
	// a range as read faults would, without touching them from user space,
	// and reports a would-be SIGBUS as EFAULT.
	madvPopulateRead = 22
	// prefaultChunk is how much one madvise call maps (~1-2 ms on tmpfs):
	// small enough that a Close soon after attach stops the goroutine
	// quickly, large enough that the syscalls cost nothing next to the
	// faults they replace.
	prefaultChunk = 4 << 20
	// tmpfsMagic is statfs's f_type for tmpfs (and so /dev/shm).
	tmpfsMagic = 0x01021994
)

// prefaultMode is how Attach prefaults: prefaultSync unless
// $SHMDICT_PREFAULT says otherwise.
//
// Sync is the default because a background prefault only helps when a
// core is idle: with as many busy processes as cores (the harness's
// get-fresh from 2 worker processes on 2 cores), the goroutine competes
// with the Gets it should race ahead of, and a fresh worker's first 100k
// Gets cost 1.9x its later ones against 1.1x with one worker. Attach
// paying ~12 ms for a 1M-key table (0.3 µs a page) is the cheaper place.
type prefaultMode uint8

const (
	prefaultSync prefaultMode = iota
	prefaultOff
	prefaultBackground
)

func prefaultFromEnv() prefaultMode {
	switch os.Getenv(prefaultEnv) {
	case "off", "0", "no", "false":
		return prefaultOff
	case "background":
		return prefaultBackground
	}
	return prefaultSync
}

// testHookPrefaultDone, when set by a test, is called when a prefault
// ends, with the bytes it mapped and the error that ended it early.
var testHookPrefaultDone func(mapped uint64, err error)

// startPrefault prefaults s's mapping as $SHMDICT_PREFAULT says, if s is
// a tmpfs segment. Attach calls it once s is fully attached.
func (s *Segment) startPrefault() {
	mode := prefaultFromEnv()
	if mode == prefaultOff || !onTmpfs(int(s.file.Fd())) {
		return
	}
	if mode == prefaultSync {
		s.prefault()
		return
	}
	go s.prefault()
}

// onTmpfs reports whether fd's file lives on tmpfs.
func onTmpfs(fd int) bool {
	var st unix.Statfs_t
	return unix.Fstatfs(fd, &st) == nil && st.Type == tmpfsMagic
}

// prefault maps the used part of the segment into this process's page
// tables, hottest first: everything up to the arena (control region,
// registry, ring, slot array: what every operation reads; in a growing
// segment only the tiers in use, and their overflow bits), then the arena
// up to its bump pointer. The arena beyond it holds no records yet; the
// writers that allocate there fault it in.
func (s *Segment) prefault() {
	var mapped uint64
	var err error
	defer func() {
		if testHookPrefaultDone != nil {
			testHookPrefaultDone(mapped, err)
		}
	}()
	var bump, tiers uint64
	if err = s.guard(func() {
		bump = s.Mem.Load64(OffBump)
		tiers = s.Mem.Load64(OffTiers)
	}); err != nil {
		return
	}
	l := s.Layout
	end := min(l.ArenaOff+min(bump*Unit, l.ArenaSize), l.TotalSize)
	end = min(alignUp(end, PageAlign), uint64(len(s.mapping)))
	if !l.Grows() {
		mapped, err = populate(s.mapping[:end], s.Closed)
		return
	}
	// A growing segment's slot array and overflow bits are reserved for
	// every tier, but only the tiers in use hold anything: populating the
	// holes of the others would allocate them (tmpfs gives a read fault
	// on a hole a page of its own).
	n := uint32(min(max(tiers, 1), uint64(l.TierCount())))
	ranges := [][2]uint64{
		{0, l.SlotsOff + l.SlotsIn(n)*SlotSize},
		{l.OverflowOff, l.OverflowOff + l.OverflowBytes(n)},
		{l.ArenaOff, end},
	}
	for _, r := range ranges {
		lo, hi := r[0]&^(PageAlign-1), min(alignUp(r[1], PageAlign), uint64(len(s.mapping)))
		if lo >= hi {
			continue
		}
		var done uint64
		done, err = populate(s.mapping[lo:hi], s.Closed)
		mapped += done
		if err != nil {
			return
		}
	}
}

// errPrefaultStopped: the segment was closed while prefaulting.
var errPrefaultStopped = errors.New("shmdict: prefault stopped by Close")

// populate maps b's pages into the page tables, a chunk at a time, until
// stop says to stop. It returns how many bytes it mapped. Without
// MADV_POPULATE_READ (EINVAL: Linux before 5.14) it reads a byte of each
// page instead, with memory faults turned into an error.
func populate(b []byte, stop func() bool) (uint64, error) {
	var done uint64
	for done < uint64(len(b)) {
		if stop() {
			return done, errPrefaultStopped
		}
		chunk := b[done:min(done+prefaultChunk, uint64(len(b)))]
		err := unix.Madvise(chunk, madvPopulateRead)
		if errors.Is(err, unix.EINVAL) {
			err = touchPages(chunk)
		}
		if err != nil {
			return done, err
		}
		done += uint64(len(chunk))
	}
	return done, nil
}

// touchPages reads a byte of every page of b, the fallback for kernels
// without MADV_POPULATE_READ. A page beyond the end of a truncated file
// raises SIGBUS, which SetPanicOnFault turns into a recovered panic.
func touchPages(b []byte) (err error) {
	defer func(old bool) {
		debug.SetPanicOnFault(old)
		if r := recover(); r != nil {
			if _, isFault := r.(interface{ Addr() uintptr }); !isFault {
				panic(r)
			}
			err = errPrefaultFault
		}
	}(debug.SetPanicOnFault(true))
	var sink byte
	for i := 0; i < len(b); i += PageAlign {
		sink += b[i]
	}
	runtime.KeepAlive(sink) // the reads are the point
	return nil
}

// errPrefaultFault: touching a page faulted (the file was truncated).
var errPrefaultFault = errors.New("shmdict: prefault touched a page beyond the end of the file")
