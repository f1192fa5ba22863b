package array

import (
	"fmt"
	"strconv"
	"testing"
	"time"
)

// BenchmarkSlice: reading and writing the shared slice against a plain Go
// slice of the same size (8 MiB of float64): Slice is a plain slice over
// the mapping, so the figures should match.
func BenchmarkSlice(b *testing.B) {
	const n = 1 << 20
	a, err := Create[float64](tempPath(b, "bs"), []int{n}, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	plain := make([]float64, n)
	for i := range plain { // touched, as the shared slice's pages are
		plain[i] = 1
	}
	for _, c := range []struct {
		name string
		s    []float64
	}{{"shared", a.Slice()}, {"plain", plain}} {
		s := c.s
		b.Run("read/"+c.name, func(b *testing.B) {
			b.SetBytes(n * 8)
			var sum float64
			for b.Loop() {
				for _, x := range s {
					sum += x
				}
			}
			_ = sum
		})
		b.Run("write/"+c.name, func(b *testing.B) {
			b.SetBytes(n * 8)
			for b.Loop() {
				for i := range s {
					s[i] = float64(i)
				}
			}
		})
	}
}

// BenchmarkElement: the per-element atomics in one goroutine.
func BenchmarkElement(b *testing.B) {
	a, err := Create[int64](tempPath(b, "be"), []int{1024}, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	f, err := Create[float64](tempPath(b, "bf"), []int{1024}, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	u, err := Create[uint8](tempPath(b, "bu"), []int{1024}, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer u.Close()
	b.Run("Load/int64", func(b *testing.B) {
		var s int64
		for i := 0; b.Loop(); i++ {
			s += a.Load(i & 1023)
		}
		_ = s
	})
	b.Run("Store/int64", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			a.Store(i&1023, int64(i))
		}
	})
	b.Run("Add/int64", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			a.Add(i&1023, 1)
		}
	})
	b.Run("Add/float64", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			f.Add(i&1023, 1)
		}
	})
	b.Run("Add/uint8", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			u.Add(i&1023, 1)
		}
	})
}

// BenchmarkAddProcs: Add on int64 from 1 and 2 processes, each on its own
// 256 bytes (apart by more than a cache line pair, which the adjacent-line
// prefetcher couples); ops/s is the processes' total over the slowest one's time,
// and should double from 1 to 2 processes (given 2 idle cores).
func BenchmarkAddProcs(b *testing.B) {
	path := tempPath(b, "bp")
	a, err := Create[int64](path, []int{2 * addStride}, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	for _, procs := range []int{1, 2} {
		b.Run(fmt.Sprintf("procs=%d", procs), func(b *testing.B) {
			n := max(b.N, 1)
			var cs []*child
			for p := 0; p < procs; p++ {
				cs = append(cs, startChild(b, "bench", nil, path, strconv.Itoa(p), strconv.Itoa(n)))
			}
			b.ResetTimer()
			release(b, cs...)
			var slowest time.Duration
			for _, c := range cs {
				out := c.wait(b)
				if len(out) != 1 {
					b.Fatalf("child wrote %q", out)
				}
				ns, _ := strconv.ParseInt(out[0], 10, 64)
				slowest = max(slowest, time.Duration(ns))
			}
			b.StopTimer()
			b.ReportMetric(float64(procs*n)/slowest.Seconds(), "ops/s")
			b.ReportMetric(float64(slowest.Nanoseconds())/float64(n), "ns/add")
		})
	}
}

// BenchmarkSnapshot: a Snapshot of 1 MiB against a copy of 1 MiB.
func BenchmarkSnapshot(b *testing.B) {
	const n = 1 << 17 // 1 MiB of int64
	a, err := Create[int64](tempPath(b, "bn"), []int{n}, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	if _, err := a.Publish(fillStamped(a)); err != nil {
		b.Fatal(err)
	}
	dst := make([]int64, n)
	b.Run("Snapshot", func(b *testing.B) {
		b.SetBytes(n * 8)
		for b.Loop() {
			if _, err := a.Snapshot(dst); err != nil {
				b.Fatal(err)
			}
		}
	})
	src := make([]int64, n)
	for i := range src { // touched: untouched heap pages read as the shared zero page
		src[i] = int64(i)
	}
	b.Run("copy", func(b *testing.B) {
		b.SetBytes(n * 8)
		for b.Loop() {
			copy(dst, src)
		}
	})
	b.Run("Publish", func(b *testing.B) {
		b.SetBytes(n * 8)
		for b.Loop() {
			if _, err := a.Publish(func(d []int64) { copy(d, src) }); err != nil {
				b.Fatal(err)
			}
		}
	})
}
