package segment

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/shmdict/shmdict/atomicx"
)

// DefaultDir is where a name without a slash lives.
const DefaultDir = "/dev/shm"

// MaxNameLen bounds a name (or a path's last element): the temp file made
// while creating adds about 30 bytes and must stay under NAME_MAX (255).
const MaxNameLen = 200

// Segment is one attached segment: its memory and, for file-backed
// segments, the open file that holds the registry lock and the shared
// flock.
type Segment struct {
	Mem    atomicx.Mem // the whole segment, addressed by byte offsets
	Layout Layout      // validated at create or attach
	Path   string      // "" for a heap segment

	file     *os.File // nil for a heap segment
	mapping  []byte   // the MAP_SHARED mapping; nil for a heap segment
	heap     []byte   // keeps a heap segment's memory reachable
	regIndex int      // our registry entry, or -1
	closed   atomicx.Flag
	closeMu  sync.Mutex
}

// Path resolves a table name: a name without a slash is a file in
// DefaultDir; a name with a slash is a file path used as given.
func Path(name string) (string, error) {
	if name == "" || strings.IndexByte(name, 0) >= 0 {
		return "", fmt.Errorf("%w: %q (a name is a non-empty string without NUL bytes)", ErrInvalid, name)
	}
	if strings.Contains(name, "/") {
		if strings.HasSuffix(name, "/") {
			return "", fmt.Errorf("%w: %q names a directory, not a file", ErrInvalid, name)
		}
		if len(filepath.Base(name)) > MaxNameLen {
			return "", fmt.Errorf("%w: %q (a file name must be at most %d bytes)", ErrInvalid, name, MaxNameLen)
		}
		return filepath.Clean(name), nil
	}
	if name == "." || name == ".." || len(name) > MaxNameLen || strings.HasPrefix(name, ".") {
		return "", fmt.Errorf("%w: %q (names must not start with '.' and must be at most %d bytes)", ErrInvalid, name, MaxNameLen)
	}
	return filepath.Join(DefaultDir, name), nil
}

func newSeed() uint64 {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("shmdict: crypto/rand failed: " + err.Error()) // crypto/rand never fails on Linux
	}
	return binary.LittleEndian.Uint64(b[:])
}

// initialize writes a fresh segment image into m: header last, so that a
// reader that checks the checksum sees either nothing or everything.
func initialize(m atomicx.Mem, l Layout) {
	m.Store64(OffBump, 1) // unit 0 is the nil offset
	if l.Grows() {
		m.Store64(OffTiers, 1)
	}
	m.CopyIn(0, encodeHeader(l))
}

// NewHeap returns a segment in Go-heap memory with layout l (seed and
// creation time are filled in). It behaves like a file-backed segment
// shared by the goroutines of one process, and lets the race detector see
// every access of the protocol.
func NewHeap(l Layout) (*Segment, error) {
	if l.Seed == 0 {
		l.Seed = newSeed()
	}
	l.CreatedNano = time.Now().UnixNano()
	l.derive()
	if l.TotalSize > 1<<40 {
		return nil, fmt.Errorf("%w: heap segment of %d bytes is too large", ErrInvalid, l.TotalSize)
	}
	buf := atomicx.HeapBytes(int(l.TotalSize))
	m := atomicx.FromBytes(buf)
	initialize(m, l)
	return &Segment{Mem: m, Layout: l, heap: buf, regIndex: -1}, nil
}

// AttachImage returns a heap segment holding a copy of image, the bytes
// of a segment file, after the checks Attach makes on a file's contents
// (checkImage): a valid header and exactly the size it gives. What Attach
// checks beyond the bytes (file type, owner, mode, locks) has no
// counterpart in memory. Fuzz targets and tests use it to open damaged
// segments at memory speed, without a file per input.
func AttachImage(image []byte) (*Segment, error) {
	l, err := checkImage(image, uint64(len(image)))
	if err != nil {
		return nil, fmt.Errorf("%w (heap image)", err)
	}
	buf := atomicx.HeapBytes(len(image))
	copy(buf, image)
	return &Segment{Mem: atomicx.FromBytes(buf), Layout: l, heap: buf, regIndex: -1}, nil
}

// checkImage validates the start of a segment's bytes (the header, or
// fewer bytes if the segment is shorter) and the segment's size: the one
// content check shared by Attach and AttachImage.
func checkImage(head []byte, size uint64) (Layout, error) {
	l, err := decodeHeader(head[:min(len(head), HeaderSize)])
	if err != nil {
		return Layout{}, err
	}
	if size != l.TotalSize {
		return Layout{}, fmt.Errorf("%w: segment is %d bytes, its header says %d (truncated or extended)", ErrCorrupt, size, l.TotalSize)
	}
	return l, nil
}

// Closed reports whether Close was called.
func (s *Segment) Closed() bool { return s.closed.IsSet() }

// IsHeap reports whether s lives in Go-heap memory.
func (s *Segment) IsHeap() bool { return s.file == nil }

// Close detaches from the segment: it frees this process's registry
// entry, drops the file locks, and replaces the mapping with an
// inaccessible one, so that an operation still running in another
// goroutine faults (and returns ErrClosed) instead of touching memory that
// might be reused. The address range stays reserved; no memory is kept.
func (s *Segment) Close() error {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if !s.closed.Set() {
		return ErrClosed
	}
	if s.file == nil {
		return nil
	}
	// The last use (mtime, for 'gc --unused-for') is recorded before the
	// entry's pid is cleared: a process killed between the two leaves its
	// pid as a crash marker (Info.Crashed): at every moment the segment
	// has a recent mtime or a marker. The other order let a kill in between
	// leave a free entry and the mtime of the attach, and gc would take a
	// table used until a moment ago for long unused.
	// The pid is cleared before the unmap so that listings show the entry
	// free. Unmap (in effect) next, then close the file, which drops the
	// registry entry's OFD lock and the shared flock: nobody sees this
	// process as detached while an operation of it may still be running.
	var errs []error
	touch(int(s.file.Fd()))
	if testHookCloseTouched != nil {
		testHookCloseTouched()
	}
	if s.regIndex >= 0 {
		if err := s.guard(func() { s.Mem.Store32(s.entryOff(s.regIndex), 0) }); err != nil {
			errs = append(errs, err)
		}
	}
	if err := protectNone(s.mapping); err != nil {
		errs = append(errs, fmt.Errorf("shmdict: close %s: %w", s.Path, err))
	}
	if err := s.file.Close(); err != nil {
		errs = append(errs, fmt.Errorf("shmdict: close %s: %w", s.Path, err))
	}
	return errors.Join(errs...)
}

// testHookCloseTouched, when set by a test, runs in Close between
// recording the last use and clearing the registry entry's pid (a test
// kills the process there).
var testHookCloseTouched func()

// guard runs f with memory faults turned into an error (ErrFault).
func (s *Segment) guard(f func()) (err error) {
	defer func(old bool) {
		debug.SetPanicOnFault(old)
		if r := recover(); r != nil {
			err = s.faultError(r)
		}
	}(debug.SetPanicOnFault(true))
	f()
	return nil
}

// FaultError turns a value recovered from a panic during an access to the
// segment into an error: a memory fault becomes ErrClosed (if the segment
// was closed under the operation) or ErrFault. Any other panic is a bug
// and is re-raised.
func (s *Segment) FaultError(r any) error {
	if s.closed.IsSet() {
		if err := s.faultError(r); err != nil {
			return ErrClosed
		}
	}
	return s.faultError(r)
}

func (s *Segment) faultError(r any) error {
	if _, ok := r.(runtime.Error); ok {
		if f, isFault := r.(interface{ Addr() uintptr }); isFault {
			return fmt.Errorf("%w: %s: fault at address %#x", ErrFault, s.Path, f.Addr())
		}
	}
	panic(r)
}
