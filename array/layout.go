package array

// The array file. It is a valid .npy file (numpy's format, version 1.0)
// followed by shmdict's trailer, which numpy never reads:
//
//	offset        bytes   field
//	0             6       "\x93NUMPY"
//	6             1       major version (1)
//	7             1       minor version (0)
//	8             2       header length HL, little-endian (H = 10 + HL)
//	10            HL      the header dict, Python literal syntax, ASCII:
//	                      {'descr': '<f8', 'fortran_order': False, 'shape': (1000, 8), }
//	                      padded with spaces, ending in '\n', so that H is a
//	                      multiple of 64
//	H             D       data: count elements in C order, D = count * size
//	T             4096    trailer, T = roundup(H+D, 64):
//	  T+0         8         magic "SHMARRAY"
//	  T+8         4         trailer version (1)
//	  T+12        4         element size in bytes
//	  T+16        8         H, the data offset
//	  T+24        8         count, the element count
//	  T+32        8         S, the first snapshot buffer's offset
//	  T+40        4         snapshot buffers (3)
//	  T+44        4         reserved, 0
//	  T+48        8         xxhash64 of bytes [T, T+48)
//	  T+64        8         published word (own cache line), see below
//	  T+128       8         writer lease (own cache line), see below
//	S             3*B     three snapshot buffers of B = roundup(D, 64) bytes
//
// The file's size is S + 3*B, with S = T + 4096. All integers are
// little-endian. Version 2.0 headers (a 4-byte HL) are read but never
// written: with at most maxRank dimensions the dict always fits 1.0.
//
// The published word (T+64):
//
//	bits 63..2  version: how many snapshots were published (0: none)
//	bits  1..0  index of the buffer holding that version (0, 1 or 2)
//
// The writer lease (T+128):
//
//	bits 63..32 pid of the process publishing
//	bits 31..0  low 32 bits of that process's start time (field 22 of
//	            /proc/PID/stat, clock ticks since boot), so that a pid
//	            reused by a later process is not taken for the holder
//	0 when no one publishes.

const (
	npyMagic      = "\x93NUMPY"
	npyPrefix1    = 10 // magic, major, minor, u16 length
	npyPrefix2    = 12 // magic, major, minor, u32 length
	dataAlign     = 64 // H, T and every buffer are multiples of this
	maxRank       = 64 // numpy's own limit on dimensions (NPY_MAXDIMS)
	maxHeaderRead = 1 << 20

	trailerSize    = 4096
	trailerMagic   = "SHMARRAY"
	trailerVersion = 1
	snapshotBufs   = 3

	offMagic     = 0
	offVersion   = 8
	offElemSize  = 12
	offDataOff   = 16
	offCount     = 24
	offSnapOff   = 32
	offSnapBufs  = 40
	offReserved  = 44
	offChecksum  = 48
	checkedBytes = 48 // the checksum covers [T, T+checkedBytes)
	offPublished = 64
	offLease     = 128

	// The published word's packing.
	pubIndexBits = 2
	pubIndexMask = 1<<pubIndexBits - 1
)

func roundUp(n, to uint64) uint64 { return (n + to - 1) &^ (to - 1) }

// geometry is where everything lies in an array file.
type geometry struct {
	descr    string
	elemSize uint64
	shape    []int
	count    uint64
	dataOff  uint64 // H
	dataLen  uint64 // D
	trailer  uint64 // T
	snapOff  uint64 // S
	bufLen   uint64 // B
	size     uint64 // the whole file
}

// newGeometry derives the geometry for a data offset, element size and
// shape already validated (count fits, see checkShape).
func newGeometry(descr string, elemSize uint64, shape []int, count, dataOff uint64) geometry {
	g := geometry{descr: descr, elemSize: elemSize, shape: shape, count: count, dataOff: dataOff}
	g.dataLen = count * elemSize
	g.trailer = roundUp(dataOff+g.dataLen, dataAlign)
	g.snapOff = g.trailer + trailerSize
	g.bufLen = roundUp(g.dataLen, dataAlign)
	g.size = g.snapOff + snapshotBufs*g.bufLen
	return g
}

// maxBytes bounds the data of an array so that every offset and size
// derived from it fits in an int64 with room to spare (and a corrupt
// header cannot make us compute with wrapped numbers).
const maxBytes = 1 << 46

// checkShape validates a shape and returns its element count.
func checkShape(shape []int, elemSize uint64) (uint64, error) {
	if len(shape) > maxRank {
		return 0, errorf(ErrInvalid, "shape has %d dimensions; numpy allows at most %d", len(shape), maxRank)
	}
	count := uint64(1)
	for i, d := range shape {
		if d < 0 {
			return 0, errorf(ErrInvalid, "shape %v: dimension %d is negative", shape, i)
		}
		if d != 0 && count > maxBytes/elemSize/uint64(d) {
			return 0, errorf(ErrInvalid, "shape %v needs more than %d bytes", shape, uint64(maxBytes))
		}
		count *= uint64(d)
	}
	return count, nil
}
