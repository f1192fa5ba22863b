package table_test

import (
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/shmdict/shmdict/table"
)

// BenchmarkAdderAdd is Adder.Add in one goroutine on 1,000 adders of a
// segment table (uniform random adder, handles made before the clock):
// the cost of an Add when no other process touches its cache lines.
func BenchmarkAdderAdd(b *testing.B) {
	tbl, err := table.Create(segName(b, ""), table.Options{Capacity: 4 * benchCounters})
	if err != nil {
		b.Fatal(err)
	}
	defer tbl.Close()
	handles := make([]*table.Adder, benchCounters)
	for i := range handles {
		if handles[i], err = tbl.Adder(benchCounterKey(i)); err != nil {
			b.Fatal(err)
		}
	}
	r := rand.NewPCG(benchSeed, 0)
	seq := benchCounterSeq(r)
	b.ResetTimer()
	for i := range b.N {
		if err := handles[seq[i&(len(seq)-1)]].Add(1); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	var sum int64
	for _, a := range handles {
		n, err := a.Sum()
		if err != nil {
			b.Fatal(err)
		}
		sum += n
	}
	if sum != int64(b.N) {
		b.Fatalf("adders sum to %d, want %d", sum, b.N)
	}
}

// BenchmarkAdderSum is Sum of an adder with 2 and with 64 lanes in use
// (each lane a separate attach of the table in this process, so the
// cells are in this core's cache: the cost of the loads and the loop).
func BenchmarkAdderSum(b *testing.B) {
	for _, lanes := range []int{2, 64} {
		b.Run("lanes="+strconv.Itoa(lanes), func(b *testing.B) {
			name := segName(b, "")
			tbl, err := table.Create(name, table.Options{Capacity: 4 * benchCounters})
			if err != nil {
				b.Fatal(err)
			}
			defer tbl.Close()
			a, err := tbl.Adder([]byte("sum"))
			if err != nil {
				b.Fatal(err)
			}
			if err := a.Add(1); err != nil {
				b.Fatal(err)
			}
			// Each attach takes another registry entry, so another lane.
			for range lanes - 1 {
				other, err := table.Attach(name)
				if err != nil {
					b.Fatal(err)
				}
				defer other.Close()
				o, err := other.Adder([]byte("sum"))
				if err == nil {
					err = o.Add(1)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			if st := tbl.Stats(); st.LanesUsed != lanes {
				b.Fatalf("%d lanes in use, want %d", st.LanesUsed, lanes)
			}
			b.ResetTimer()
			for range b.N {
				if n, err := a.Sum(); err != nil || n != int64(lanes) {
					b.Fatalf("Sum = %d, %v; want %d", n, err, lanes)
				}
			}
		})
	}
}

// BenchmarkAdderKeyAdd is Table.Add(key, 1) in one goroutine on 1,000 keys
// that are adders, with a second lane in use (another attach added to
// every adder once): the lookup, the add and the sum over two lanes.
func BenchmarkAdderKeyAdd(b *testing.B) {
	name := segName(b, "")
	tbl, err := table.Create(name, table.Options{Capacity: 4 * benchCounters})
	if err != nil {
		b.Fatal(err)
	}
	defer tbl.Close()
	other, err := table.Attach(name)
	if err != nil {
		b.Fatal(err)
	}
	defer other.Close()
	var keys []byte
	for i := range benchCounters {
		k := benchCounterKey(i)
		keys = append(keys, k...)
		a, err := other.Adder(k)
		if err == nil {
			err = a.Add(1)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	klen := len(keys) / benchCounters
	r := rand.NewPCG(benchSeed, 0)
	seq := benchCounterSeq(r)
	b.ResetTimer()
	for i := range b.N {
		j := int(seq[i&(len(seq)-1)]) * klen
		if _, err := tbl.Add(keys[j:j+klen:j+klen], 1); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	var sum int64
	for i := range benchCounters {
		n, err := tbl.Add(benchCounterKey(i), 0)
		if err != nil {
			b.Fatal(err)
		}
		sum += n - 1
	}
	if sum != int64(b.N) {
		b.Fatalf("adders sum to %d more, want %d", sum, b.N)
	}
}
