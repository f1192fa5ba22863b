package array

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/cespare/xxhash/v2"
	"golang.org/x/sys/unix"

	"github.com/shmdict/shmdict/atomicx"
	"github.com/shmdict/shmdict/segment"
)

// Element is the set of element types an Array holds: numpy's fixed-size
// numbers, stored little-endian.
type Element interface {
	uint8 | int8 | uint16 | int16 | uint32 | int32 | uint64 | int64 | float32 | float64
}

// Options say who may share a new array file, as table.Options do.
type Options struct {
	// Mode is the new file's permission bits: 0 (the default: 0600, or
	// 0660 with Group), 0600, or 0660 with Group.
	Mode os.FileMode
	// Group, a group name or numeric id, shares the array with that
	// group's members (the file is chowned to it and made 0660); Open
	// then also accepts an existing file of that group. "" shares nothing.
	Group string
}

func (o Options) access() segment.Access { return segment.Access{Mode: o.Mode, Group: o.Group} }

// Array is a typed, fixed-shape array in a shared file that other
// processes (and numpy) map at the same time. Its methods are safe for
// concurrent use by goroutines and processes; Close must not run
// concurrently with the others.
type Array[T Element] struct {
	data    []T         // the live .npy data region, [H, H+D)
	mem     atomicx.Mem // the whole mapping: trailer and snapshot buffers
	mapping []byte
	geo     geometry
	path    string
	kind    kind // picks the element operations' fast path
	closed  atomicx.Flag
}

// Path returns the file a name maps to: a name without a slash is
// /dev/shm/NAME.npy; a name with a slash is a path, used as given (end it
// in .npy so that numpy users recognise it).
func Path(name string) (string, error) {
	if name != "" && !strings.Contains(name, "/") {
		if len(name)+len(".npy") > segment.MaxNameLen {
			return "", errorf(ErrInvalid, "%q (a name must be at most %d bytes)", name, segment.MaxNameLen-len(".npy"))
		}
		name += ".npy"
	}
	return segment.Path(name)
}

// Create makes a new array file of the given shape, every element zero,
// and maps it. The file appears under its name only when complete. It
// takes about four times the data's size, all allocated at once: the live
// data and three snapshot buffers (Publish). It fails with ErrExist if the name is taken, ErrInvalid for a bad shape or
// options, ErrNoSpace if the file system cannot hold it.
func Create[T Element](name string, shape []int, opts Options) (*Array[T], error) {
	path, err := Path(name)
	if err != nil {
		return nil, err
	}
	return create[T](path, shape, opts)
}

func create[T Element](path string, shape []int, opts Options) (*Array[T], error) {
	descr := descrOf[T]()
	size := dtypes[descr]
	count, err := checkShape(shape, size)
	if err != nil {
		return nil, err
	}
	shape = slices.Clone(shape)
	hdr := encodeHeader(descr, shape)
	g := newGeometry(descr, size, shape, count, uint64(len(hdr)))
	var mapping []byte
	f, err := segment.CreateFile(path, int64(g.size), opts.access(), func(f *os.File) error {
		if _, err := f.WriteAt(hdr, 0); err != nil {
			return fmt.Errorf("shmdict: write header of %s: %w", path, err)
		}
		if _, err := f.WriteAt(encodeTrailer(g), int64(g.trailer)); err != nil {
			return fmt.Errorf("shmdict: write trailer of %s: %w", path, err)
		}
		m, err := unix.Mmap(int(f.Fd()), 0, int(g.size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
		if err != nil {
			return fmt.Errorf("shmdict: map %s: %w", path, err)
		}
		mapping = m
		return nil
	})
	if err != nil {
		if mapping != nil {
			unix.Munmap(mapping)
		}
		return nil, err
	}
	f.Close() // the mapping keeps the file
	return newArray[T](path, mapping, g), nil
}

// encodeTrailer returns the trailer's checked fields and checksum.
func encodeTrailer(g geometry) []byte {
	t := make([]byte, offChecksum+8)
	copy(t[offMagic:], trailerMagic)
	binary.LittleEndian.PutUint32(t[offVersion:], trailerVersion)
	binary.LittleEndian.PutUint32(t[offElemSize:], uint32(g.elemSize))
	binary.LittleEndian.PutUint64(t[offDataOff:], g.dataOff)
	binary.LittleEndian.PutUint64(t[offCount:], g.count)
	binary.LittleEndian.PutUint64(t[offSnapOff:], g.snapOff)
	binary.LittleEndian.PutUint32(t[offSnapBufs:], snapshotBufs)
	binary.LittleEndian.PutUint64(t[offChecksum:], xxhash.Sum64(t[:checkedBytes]))
	return t
}

// kind sorts element types by how their operations are done: integers of
// 8 and 4 bytes with the hardware's add, floats of 8 and 4 bytes with
// plain word loads and stores, the rest (narrow) through atomicx's
// generic functions.
type kind uint8

const (
	kindNarrow kind = iota
	kind8
	kind4
	kindInt8
	kindInt4
)

func newArray[T Element](path string, mapping []byte, g geometry) *Array[T] {
	a := &Array[T]{mem: atomicx.FromBytes(mapping), mapping: mapping, geo: g, path: path}
	a.data = atomicx.SliceOf[T](a.mem, g.dataOff, int(g.count))
	switch g.descr {
	case "<i8", "<u8":
		a.kind = kindInt8
	case "<f8":
		a.kind = kind8
	case "<i4", "<u4":
		a.kind = kindInt4
	case "<f4":
		a.kind = kind4
	}
	return a
}

// Attach maps the existing array file of a name, which must hold elements
// of type T. It fails with ErrNotExist if there is none; ErrDType if it
// holds another type (the message says which); ErrCorrupt, ErrVersion or
// ErrInvalid if it is not an array file made by this package (a .npy file
// numpy wrote has no trailer and is refused), is truncated, or is in
// Fortran order; an error matching os.ErrPermission if another user owns
// it or it is shared with others (see Options.Group; Open accepts a
// group's file).
func Attach[T Element](name string) (*Array[T], error) {
	path, err := Path(name)
	if err != nil {
		return nil, err
	}
	return attach[T](path, nil, segment.Access{})
}

// AttachShared is Attach for an array shared through group (see
// Options.Group): it also accepts a file that belongs to that group and
// is exactly 0660.
func AttachShared[T Element](name, group string) (*Array[T], error) {
	path, err := Path(name)
	if err != nil {
		return nil, err
	}
	return attach[T](path, nil, segment.Access{Group: group})
}

// Open attaches to the array file of a name, or creates it with shape if
// there is none. An existing file must hold type T (ErrDType) and have
// exactly this shape (ErrShape); the messages say what the file holds.
// When two processes race to create it, one creates and the other
// attaches. A nil shape is shape () (one element, rank 0), as in Create.
func Open[T Element](name string, shape []int, opts Options) (*Array[T], error) {
	path, err := Path(name)
	if err != nil {
		return nil, err
	}
	if shape == nil {
		shape = []int{} // attach compares it; nil there means "any shape"
	}
	if err := opts.access().Validate(); err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		a, err := attach[T](path, shape, segment.Access{Group: opts.Group})
		if !errors.Is(err, ErrNotExist) {
			return a, err
		}
		a, err = create[T](path, shape, opts)
		if !errors.Is(err, ErrExist) || attempt >= 3 {
			return a, err
		}
	}
}

// attach opens, validates and maps path; shape, if not nil, must match.
func attach[T Element](path string, shape []int, acc segment.Access) (*Array[T], error) {
	f, err := segment.OpenFile(path, true, acc)
	if err != nil {
		return nil, err
	}
	defer f.Close() // the mapping keeps the file
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return nil, fmt.Errorf("shmdict: stat %s: %w", path, err)
	}
	g, err := readGeometry(f, uint64(st.Size))
	if err != nil {
		return nil, fmt.Errorf("%w (file %s)", err, path)
	}
	if want := descrOf[T](); g.descr != want {
		return nil, fmt.Errorf("%w: %s holds %s (numpy %s), not %s (%s): attach it as Attach[%s]",
			ErrDType, path, goName(g.descr), g.descr, goName(want), want, goName(g.descr))
	}
	if shape != nil && !slices.Equal(shape, g.shape) {
		return nil, fmt.Errorf("%w: %s has shape %v, not %v: open it with that shape, or Remove it first", ErrShape, path, g.shape, shape)
	}
	mapping, err := unix.Mmap(int(f.Fd()), 0, int(g.size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("shmdict: map %s: %w", path, err)
	}
	return newArray[T](path, mapping, g), nil
}

// readGeometry reads and validates the .npy header and the trailer of an
// array file of the given size through r, without mapping anything.
func readGeometry(r io.ReaderAt, fileSize uint64) (geometry, error) {
	prefix := make([]byte, npyPrefix2)
	n, err := r.ReadAt(prefix, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return geometry{}, fmt.Errorf("shmdict: read header: %w", err)
	}
	dataOff, prefixLen, err := headerLen(prefix[:n])
	if err != nil {
		return geometry{}, err
	}
	if dataOff > fileSize || dataOff > maxHeaderRead {
		return geometry{}, errorf(ErrCorrupt, "truncated: the .npy header says it is %d bytes long, the file has %d", dataOff, fileSize)
	}
	hdr := make([]byte, dataOff)
	if _, err := r.ReadAt(hdr, 0); err != nil {
		return geometry{}, fmt.Errorf("shmdict: read header: %w", err)
	}
	descr, shape, err := decodeHeader(hdr, prefixLen)
	if err != nil {
		return geometry{}, err
	}
	size := dtypes[descr]
	count, err := checkShape(shape, size)
	if err != nil {
		return geometry{}, errorf(ErrCorrupt, "%v", err)
	}
	if dataOff%dataAlign != 0 {
		return geometry{}, errorf(ErrCorrupt, "a .npy file with its data at offset %d, not a multiple of %d: not a shmdict array file (numpy.save writes such files; create arrays with array.Create)", dataOff, dataAlign)
	}
	g := newGeometry(descr, size, shape, count, dataOff)
	if fileSize < g.trailer+trailerSize {
		return geometry{}, errorf(ErrCorrupt, "%d bytes, too short for %s data of shape %v and the shmdict trailer (%d bytes): truncated, or a .npy file shmdict did not make", fileSize, descr, shape, g.trailer+trailerSize)
	}
	t := make([]byte, offChecksum+8)
	if _, err := r.ReadAt(t, int64(g.trailer)); err != nil {
		return geometry{}, fmt.Errorf("shmdict: read trailer: %w", err)
	}
	if string(t[:8]) != trailerMagic {
		return geometry{}, errorf(ErrCorrupt, "no shmdict trailer at offset %d: a .npy file that shmdict did not make, or a damaged one", g.trailer)
	}
	if v := binary.LittleEndian.Uint32(t[offVersion:]); v != trailerVersion {
		return geometry{}, errorf(ErrVersion, "array trailer version %d; this build reads version %d", v, trailerVersion)
	}
	if sum := binary.LittleEndian.Uint64(t[offChecksum:]); sum != xxhash.Sum64(t[:checkedBytes]) {
		return geometry{}, errorf(ErrCorrupt, "trailer checksum mismatch")
	}
	if want := encodeTrailer(g); string(want) != string(t) {
		return geometry{}, errorf(ErrCorrupt, "the trailer disagrees with the .npy header (element size %d, data offset %d, count %d, snapshots at %d, %d buffers; the header says %d, %d, %d, %d, %d)",
			binary.LittleEndian.Uint32(t[offElemSize:]), binary.LittleEndian.Uint64(t[offDataOff:]), binary.LittleEndian.Uint64(t[offCount:]),
			binary.LittleEndian.Uint64(t[offSnapOff:]), binary.LittleEndian.Uint32(t[offSnapBufs:]),
			g.elemSize, g.dataOff, g.count, g.snapOff, snapshotBufs)
	}
	if fileSize != g.size {
		return geometry{}, errorf(ErrCorrupt, "file is %d bytes, its layout needs exactly %d: truncated or extended", fileSize, g.size)
	}
	return g, nil
}

// Slice returns the array's elements in C order as a slice over the
// shared memory: reads and writes are plain memory accesses, seen by every
// process that maps the file (numpy included), with no atomicity beyond
// what the hardware gives aligned words; use Load, Store, Add and
// CompareAndSwap where processes race on an element. The slice must not be
// used after Close (the memory is unmapped: an access faults).
func (a *Array[T]) Slice() []T { return a.data }

// Load atomically loads element i (in C order). It panics like a slice
// index if i is out of range, and if the array is closed.
func (a *Array[T]) Load(i int) T {
	a.live()
	p := &a.data[i]
	switch a.kind {
	case kind8, kindInt8:
		return atomicx.Load8(p)
	case kind4, kindInt4:
		return atomicx.Load4(p)
	}
	return atomicx.Load(p)
}

// Store atomically stores v at element i.
func (a *Array[T]) Store(i int, v T) {
	a.live()
	p := &a.data[i]
	switch a.kind {
	case kind8, kindInt8:
		atomicx.Store8(p, v)
	case kind4, kindInt4:
		atomicx.Store4(p, v)
	default:
		atomicx.Store(p, v)
	}
}

// Add atomically adds delta to element i and returns the new value.
// Integers wrap around. Floats add through a compare-and-swap loop, as do
// 8- and 16-bit integers (on the aligned 32-bit word holding them).
func (a *Array[T]) Add(i int, delta T) T {
	a.live()
	p := &a.data[i]
	switch a.kind {
	case kindInt8:
		return atomicx.AddInt8(p, delta)
	case kindInt4:
		return atomicx.AddInt4(p, delta)
	}
	return atomicx.Add(p, delta)
}

// CompareAndSwap atomically replaces element i with new if it holds old
// and reports whether it did. Floats compare bit patterns: -0 differs
// from +0 and a NaN matches the same NaN.
func (a *Array[T]) CompareAndSwap(i int, old, new T) bool {
	a.live()
	return atomicx.CompareAndSwap(&a.data[i], old, new)
}

// live panics if the array was closed: using it then is a bug of the
// caller, and the memory is gone.
func (a *Array[T]) live() {
	if a.closed.IsSet() {
		panic("shmdict: array " + a.path + " used after Close")
	}
}

// Shape returns a copy of the array's shape.
func (a *Array[T]) Shape() []int { return slices.Clone(a.geo.shape) }

// Len returns the number of elements, the product of the shape.
func (a *Array[T]) Len() int { return len(a.data) }

// Path returns the array's file.
func (a *Array[T]) Path() string { return a.path }

// DType returns numpy's descr of the element type, e.g. "<f8".
func (a *Array[T]) DType() string { return a.geo.descr }

// Close unmaps the array. The file stays (Remove deletes it). Slices from
// Slice must not be used afterwards; Load and the others panic, Publish
// and Snapshot return ErrClosed. A second Close returns ErrClosed.
func (a *Array[T]) Close() error {
	if !a.closed.Set() {
		return ErrClosed
	}
	if err := unix.Munmap(a.mapping); err != nil {
		return fmt.Errorf("shmdict: unmap %s: %w", a.path, err)
	}
	return nil
}

// Remove deletes the array file of a name. Processes that have it mapped
// keep using it; its memory is freed when the last one closes it.
func Remove(name string) error {
	path, err := Path(name)
	if err != nil {
		return err
	}
	return segment.Remove(path)
}
