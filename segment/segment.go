package segment

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/shmdict/shmdict/atomicx"
)

// DefaultDir is where a name without a slash lives.
const DefaultDir = "/dev/shm"

// Segment is one attached segment: its memory and, for file-backed
// segments, the open file that holds the registry lock and the shared
// flock.
type Segment struct {
	Mem    atomicx.Mem
	Layout Layout
	Path   string // "" for a heap segment

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
		return filepath.Clean(name), nil
	}
	if name == "." || name == ".." || len(name) > 255 || strings.HasPrefix(name, ".") {
		return "", fmt.Errorf("%w: %q (names must not start with '.' and must be at most 255 bytes)", ErrInvalid, name)
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
	var errs []error
	if s.regIndex >= 0 {
		s.releaseEntry()
	}
	if err := protectNone(s.mapping); err != nil {
		errs = append(errs, fmt.Errorf("shmdict: close %s: %w", s.Path, err))
	}
	if err := s.file.Close(); err != nil {
		errs = append(errs, fmt.Errorf("shmdict: close %s: %w", s.Path, err))
	}
	return errors.Join(errs...)
}

// FaultError turns a value recovered from a panic during an access to the
// segment into an error: a memory fault becomes ErrClosed (if the segment
// was closed under the operation) or ErrFault. Any other panic is a bug
// and is re-raised.
func (s *Segment) FaultError(r any) error {
	if re, ok := r.(runtime.Error); ok {
		if _, isFault := r.(interface{ Addr() uintptr }); isFault {
			if s.closed.IsSet() {
				return ErrClosed
			}
			return fmt.Errorf("%w: %s: %v", ErrFault, s.Path, re)
		}
	}
	panic(r)
}
