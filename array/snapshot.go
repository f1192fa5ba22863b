package array

import (
	"fmt"
	"os"

	"github.com/shmdict/shmdict/atomicx"
	"github.com/shmdict/shmdict/segment"
)

// Snapshots: triple buffering with one published word (layout.go).
//
// A writer (one at a time, by the writer lease) fills the buffer after the
// published one, (idx+1)%3, privately, and publishes it with a single CAS
// of the published word from (v, idx) to (v+1, (idx+1)%3). Readers load
// the word, copy the buffer it names, and load the word again: if its
// version is still v or v+1 the copy is whole, because the buffer a reader
// copies for v is written again only when version v+3 is filled, which
// starts after v+2 was published. Otherwise they retry. Nobody waits for
// anybody: a writer killed at any point leaves the word naming the last
// buffer it published, complete, and its half-filled buffer is never
// named; the next writer takes the dead writer's lease over and fills the
// same buffer again from the start.

// Version returns the version of the last published snapshot (0: none
// yet) without copying it: the number of Publish calls that completed.
// ErrClosed after Close.
func (a *Array[T]) Version() (uint64, error) {
	if a.closed.IsSet() {
		return 0, fmt.Errorf("%w: array %s", ErrClosed, a.path)
	}
	v, _ := a.published()
	return v, nil
}

// published loads the published word: version and buffer index.
func (a *Array[T]) published() (version uint64, idx uint64) {
	w := a.mem.Load64(a.geo.trailer + offPublished)
	return w >> pubIndexBits, w & pubIndexMask
}

// buffer returns snapshot buffer i.
func (a *Array[T]) buffer(i uint64) []T {
	return atomicx.SliceOf[T](a.mem, a.geo.snapOff+i*a.geo.bufLen, int(a.geo.count))
}

// Publish publishes a new snapshot: fill writes every element of dst (a
// private buffer in the file, holding an older snapshot: write all of it),
// then one atomic step makes it the one Snapshot returns. It returns the
// new version (1 for the first). One process publishes at a time: while
// another live process is publishing, Publish fails with ErrBusy; a
// process that died while publishing is taken over. fill must not keep
// dst. Publish and Snapshot never touch the live data of Slice, which
// numpy sees.
func (a *Array[T]) Publish(fill func(dst []T)) (version uint64, err error) {
	if a.closed.IsSet() {
		return 0, fmt.Errorf("%w: array %s", ErrClosed, a.path)
	}
	if err := a.lease(); err != nil {
		return 0, err
	}
	defer a.mem.CAS64(a.geo.trailer+offLease, a.leaseWord(), 0)
	segment.Failpoint("array.leased")
	pubOff := a.geo.trailer + offPublished
	w := a.mem.Load64(pubOff)
	v, idx := w>>pubIndexBits, w&pubIndexMask
	if idx >= snapshotBufs {
		return 0, errorf(ErrCorrupt, "array %s: published word %#x names buffer %d of %d", a.path, w, idx, snapshotBufs)
	}
	next := (idx + 1) % snapshotBufs
	fill(a.buffer(next))
	segment.Failpoint("array.filled")
	if !a.mem.CAS64(pubOff, w, (v+1)<<pubIndexBits|next) {
		// Only a writer holding the lease changes the word, and we hold
		// it: someone ignored the protocol (or the file was damaged).
		return 0, fmt.Errorf("%w: array %s: the published word changed while this process held the writer lease", ErrBusy, a.path)
	}
	segment.Failpoint("array.published")
	return v + 1, nil
}

// leaseWord is this process's value of the writer lease: its pid and
// start time (proc_linux.go).
func (a *Array[T]) leaseWord() uint64 { return uint64(os.Getpid())<<32 | uint64(selfStart) }

// lease takes the writer lease, or takes it over from a process that is
// gone (holderAlive: no such pid, a zombie, or the pid reused by a process
// that started at another time). Goroutines of one process, through one
// Array or several, publish one at a time too: the lease holds this
// process's own word then, and they get ErrBusy.
func (a *Array[T]) lease() error {
	off := a.geo.trailer + offLease
	mine := a.leaseWord()
	for {
		cur := a.mem.Load64(off)
		if cur == 0 {
			if a.mem.CAS64(off, 0, mine) {
				return nil
			}
			continue
		}
		pid := int(cur >> 32)
		if pid != os.Getpid() && !holderAlive(cur) {
			if a.mem.CAS64(off, cur, mine) {
				return nil
			}
			continue
		}
		return fmt.Errorf("%w: array %s: process %d is publishing a snapshot (one writer at a time); retry when it is done", ErrBusy, a.path, pid)
	}
}

// Snapshot copies the latest published snapshot into dst, whose length
// must be Len() (ErrShape otherwise), and returns its version. It never
// waits for a writer; while writers publish faster than the copy takes it
// retries. ErrNoSnapshot if nothing was published yet.
func (a *Array[T]) Snapshot(dst []T) (version uint64, err error) {
	if a.closed.IsSet() {
		return 0, fmt.Errorf("%w: array %s", ErrClosed, a.path)
	}
	if len(dst) != len(a.data) {
		return 0, fmt.Errorf("%w: Snapshot of %s into %d elements; it has %d", ErrShape, a.path, len(dst), len(a.data))
	}
	out := atomicx.BytesOf(dst)[:0]
	n := a.geo.dataLen
	for {
		v, idx := a.published()
		if v == 0 {
			return 0, fmt.Errorf("%w: %s", ErrNoSnapshot, a.path)
		}
		if idx >= snapshotBufs {
			return 0, errorf(ErrCorrupt, "array %s: published word names buffer %d of %d", a.path, idx, snapshotBufs)
		}
		a.mem.CopyOut(out, a.geo.snapOff+idx*a.geo.bufLen, n)
		if v2, _ := a.published(); v2-v <= 1 {
			return v, nil
		}
	}
}
