package atomicx

import "testing"

// TestMemEmptyAtEnd: an empty access at the very end of a region (an empty
// value whose record ends the arena) forms no pointer. Forming one, one
// past the end of a heap region, killed `go test -race` (its checkptr
// instrumentation: "found bad pointer in Go heap") when the next span was
// free or another object's; the model test hit it under make race.
func TestMemEmptyAtEnd(t *testing.T) {
	var keep [][]byte
	for _, size := range []int{64, 64, 64, 4096, 64 << 10} {
		// A small region's end is the next object of its span; a large
		// one's is the next span: either way not this allocation.
		b := HeapBytes(size)
		keep = append(keep, b)
		m := FromBytes(b)
		end := m.Size()
		if !m.Equal(end, nil) {
			t.Fatal("Equal of nothing at the end is false")
		}
		if got := m.CopyOut([]byte("x"), end, 0); string(got) != "x" {
			t.Fatalf("CopyOut of nothing at the end = %q", got)
		}
		m.CopyIn(end, nil)
		if m.Bytes(end, 0) != nil {
			t.Fatal("Bytes of nothing at the end is not nil")
		}
	}
	_ = keep
}

// TestMemEqualCopyOut checks Equal and CopyOut against bytes.Equal and
// copy for every length up to 72 and a difference at every position, on
// both the plain-load path (amd64 without -race) and the atomic one.
func TestMemEqualCopyOut(t *testing.T) {
	region := HeapBytes(256)
	m := FromBytes(region)
	for i := range region {
		region[i] = byte(i*7 + 3)
	}
	for _, off := range []uint64{0, 8, 256 - 80} {
		for n := uint64(0); n <= 72; n++ {
			src := region[off : off+n]
			if got := m.CopyOut([]byte("x"), off, n); string(got) != "x"+string(src) {
				t.Fatalf("CopyOut(off %d, n %d) = %x, want x + %x", off, n, got, src)
			}
			b := append([]byte(nil), src...)
			if !m.Equal(off, b) {
				t.Fatalf("Equal(off %d, n %d) of the same bytes is false", off, n)
			}
			for i := range b {
				b[i] ^= 0x40
				if m.Equal(off, b) {
					t.Fatalf("Equal(off %d, n %d) misses a difference at byte %d", off, n, i)
				}
				b[i] ^= 0x40
			}
		}
	}
}
