package atomicx

import (
	"math"
	"sync"
	"testing"
)

func TestElemLoadStoreNarrow(t *testing.T) {
	b := HeapBytes(16)
	m := FromBytes(b)
	s8 := SliceOf[int8](m, 0, 16)
	for i := range s8 {
		Store(&s8[i], int8(-i))
	}
	for i := range s8 {
		if got := Load(&s8[i]); got != int8(-i) {
			t.Fatalf("int8 %d: got %d", i, got)
		}
		if b[i] != byte(int8(-i)) {
			t.Fatalf("byte %d: %#x", i, b[i])
		}
	}
	s16 := SliceOf[uint16](m, 0, 8)
	for i := range s16 {
		Store(&s16[i], uint16(0xABC0+i))
	}
	for i := range s16 {
		if got := Load(&s16[i]); got != uint16(0xABC0+i) {
			t.Fatalf("uint16 %d: got %#x", i, got)
		}
	}
	if !CompareAndSwap(&s16[3], 0xABC3, 7) || CompareAndSwap(&s16[3], 0xABC3, 8) || Load(&s16[3]) != 7 || Load(&s16[2]) != 0xABC2 || Load(&s16[4]) != 0xABC4 {
		t.Fatal("uint16 CAS touched the wrong bytes or ignored old")
	}
	if got := Add(&s16[3], 0xFFFF); got != 6 { // wraps
		t.Fatalf("uint16 Add wrap: %d", got)
	}
}

func TestElemFloat(t *testing.T) {
	m := FromBytes(HeapBytes(16))
	f := SliceOf[float64](m, 0, 2)
	if got := Add(&f[1], 1.5); got != 1.5 {
		t.Fatal(got)
	}
	negZero := math.Copysign(0, -1)
	if CompareAndSwap(&f[0], negZero, 1) {
		t.Fatal("CAS matched -0 against +0: must compare bits")
	}
	Store(&f[0], math.NaN())
	if !CompareAndSwap(&f[0], Load(&f[0]), 2) || Load(&f[0]) != 2 {
		t.Fatal("CAS on NaN bits failed")
	}
	Store(&f[0], math.NaN())
	if got := Add(&f[0], 1); !math.IsNaN(got) {
		t.Fatal("Add on NaN:", got)
	}
	g := SliceOf[float32](m, 8, 2)
	Store(&g[1], 3)
	if Add(&g[1], 0.25) != 3.25 || Load(&g[0]) != 0 {
		t.Fatal("float32")
	}
}

// Concurrent adds to neighbouring narrow elements of one word must not
// lose updates to each other.
func TestElemNarrowConcurrent(t *testing.T) {
	m := FromBytes(HeapBytes(8))
	s := SliceOf[uint8](m, 0, 8)
	s16 := SliceOf[int16](m, 0, 4)
	_ = s16
	const n = 20000
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < n; i++ {
				Add(&s[g], 1)
				if i%2 == 0 {
					Store(&s[4+g], uint8(i))
				}
			}
		}()
	}
	wg.Wait()
	for g := 0; g < 4; g++ {
		if got := Load(&s[g]); got != uint8(n%256) {
			t.Fatalf("byte %d: %d, want %d", g, got, n%256)
		}
	}
}

func TestSliceOfBounds(t *testing.T) {
	m := FromBytes(HeapBytes(16))
	for _, c := range []struct {
		off uint64
		n   int
	}{{0, 3}, {4, 2}, {16, 1}, {2, 1}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("SliceOf[uint64](%d, %d) did not panic", c.off, c.n)
				}
			}()
			SliceOf[uint64](m, c.off, c.n)
		}()
	}
	if len(SliceOf[uint64](m, 16, 0)) != 0 || len(BytesOf(SliceOf[int32](m, 4, 3))) != 12 {
		t.Fatal("lengths")
	}
}

func TestElemFastPaths(t *testing.T) {
	m := FromBytes(HeapBytes(16))
	i := SliceOf[int64](m, 0, 1)
	Store8(&i[0], -5)
	if Load8(&i[0]) != -5 || AddInt8(&i[0], 7) != 2 || Load(&i[0]) != 2 {
		t.Fatal("8-byte fast paths")
	}
	f := SliceOf[float32](m, 8, 2)
	Store4(&f[1], 1.5)
	if Load4(&f[1]) != 1.5 || Load(&f[1]) != 1.5 || Load4(&f[0]) != 0 {
		t.Fatal("4-byte fast paths")
	}
	u := SliceOf[uint32](m, 8, 2)
	if AddInt4(&u[0], ^uint32(0)) != ^uint32(0) {
		t.Fatal("AddInt4 wrap")
	}
}
