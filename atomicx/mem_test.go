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
