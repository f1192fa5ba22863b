package atomicx

import (
	"sync"
	"testing"
)

func TestCAS128(t *testing.T) {
	m := FromBytes(HeapBytes(64 << 10))
	if !m.CAS128(16, 0, 0, 1, 2) {
		t.Fatal("CAS128 from (0,0) failed")
	}
	if m.Load64(16) != 1 || m.Load64(24) != 2 {
		t.Fatalf("after CAS128: %d %d", m.Load64(16), m.Load64(24))
	}
	for _, old := range [][2]uint64{{1, 3}, {3, 2}, {0, 0}} {
		if m.CAS128(16, old[0], old[1], 7, 7) {
			t.Fatalf("CAS128 expecting %v succeeded against (1,2)", old)
		}
	}
	if m.Load64(16) != 1 || m.Load64(24) != 2 {
		t.Fatal("a failed CAS128 changed memory")
	}
	for _, off := range []uint64{8, 64<<10 - 8, 64 << 10} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("CAS128 at %d did not panic", off)
				}
			}()
			m.CAS128(off, 0, 0, 0, 0)
		}()
	}
}

// TestCAS128Concurrent: goroutines increment both halves of a pair with
// CAS128 while others bump the second word with 64-bit adds; no update may
// be lost, and the halves move together except for the 64-bit adds.
func TestCAS128Concurrent(t *testing.T) {
	m := FromBytes(HeapBytes(64 << 10))
	const workers, each = 4, 20000
	var wg sync.WaitGroup
	for range workers {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for range each {
				for {
					a, b := m.Load64(0), m.Load64(8)
					if m.CAS128(0, a, b, a+1, b+1) {
						break
					}
				}
			}
		}()
		go func() {
			defer wg.Done()
			for range each {
				m.Add64(8, 1000000)
			}
		}()
	}
	wg.Wait()
	if a, b := m.Load64(0), m.Load64(8); a != workers*each || b != workers*each*1000001 {
		t.Fatalf("after %d CAS128 increments and %d adds: (%d, %d)", workers*each, workers*each, a, b)
	}
}
