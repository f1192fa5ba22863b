package table_test

import (
	"testing"

	"github.com/shmdict/shmdict/table"
)

// BenchmarkSetUnderEviction: inserts of new keys into a full EvictCLOCK
// table (each makes room by evicting), next to the same inserts into a
// table without eviction that has room (recreated when full) and a Set of
// existing keys of the evicting table, in one run. 12-byte keys, 32-byte
// values, as the other benchmarks.
func BenchmarkSetUnderEviction(b *testing.B) {
	const capacity = 1 << 16
	val := benchValue(0, 7)
	ks := benchKeysOnce()
	full := func(b *testing.B) *table.Table {
		tbl, err := table.Create(segName(b, ""), table.Options{Capacity: capacity, ArenaBytes: capacity * 256, Eviction: table.EvictCLOCK})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { tbl.Close() })
		for j := range tbl.Stats().Capacity {
			if err := tbl.Set(ks.key(j), val); err != nil {
				b.Fatal(err)
			}
		}
		return tbl
	}
	b.Run("evicting/insert", func(b *testing.B) {
		tbl := full(b)
		j := tbl.Stats().Capacity
		for b.Loop() {
			if err := tbl.Set(ks.key(j%benchKeys), val); err != nil {
				b.Fatal(err)
			}
			j++
		}
		st := tbl.Stats()
		if st.Evicted == 0 || st.Keys > st.Capacity {
			b.Fatalf("evicted %d, %d keys of capacity %d", st.Evicted, st.Keys, st.Capacity)
		}
		reportOps(b)
		b.ReportMetric(float64(st.Evicted)/float64(b.N), "evictions/op")
	})
	b.Run("evicting/overwrite", func(b *testing.B) {
		tbl := full(b)
		n := tbl.Stats().Capacity
		j := 0
		for b.Loop() {
			if err := tbl.Set(ks.key(j%n), val); err != nil {
				b.Fatal(err)
			}
			j++
		}
		reportOps(b)
	})
	b.Run("noEviction/insert", func(b *testing.B) {
		var tbl *table.Table
		fresh := func() {
			if tbl != nil {
				tbl.Close()
			}
			var err error
			if tbl, err = table.New(table.Options{Capacity: capacity, ArenaBytes: capacity * 256}); err != nil {
				b.Fatal(err)
			}
		}
		fresh()
		defer func() { tbl.Close() }()
		j, n := 0, tbl.Stats().Capacity
		for b.Loop() {
			if j == n {
				b.StopTimer()
				fresh()
				j = 0
				b.StartTimer()
			}
			if err := tbl.Set(ks.key(j), val); err != nil {
				b.Fatal(err)
			}
			j++
		}
		reportOps(b)
	})
}
