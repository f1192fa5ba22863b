package table_test

import (
	"math/rand/v2"
	"testing"
)

// benchBatch is GetMany's batch size in BenchmarkGetMany.
const benchBatch = 32

// reportPerKey reports ns/key for a benchmark whose b.N counts batches of
// perOp keys.
func reportPerKey(b *testing.B, perOp int) {
	if n := b.N * perOp; n > 0 {
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/key")
		b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "keys/s")
	}
}

// BenchmarkGetMany reads batches of 32 uniformly random keys of the 1M-key
// table with GetMany, against one key at a time with AppendGet and with a
// map behind a sync.RWMutex (the baseline), all in one run. Compare ns/key.
func BenchmarkGetMany(b *testing.B) {
	b.Run("shmdict", func(b *testing.B) {
		ks := benchKeysOnce()
		tbl, _ := benchTable(b)
		r := rand.NewPCG(benchSeed, 3)
		keys := make([][]byte, benchBatch)
		vals := make([][]byte, benchBatch)
		for i := range vals {
			vals[i] = make([]byte, 0, 64)
		}
		found := make([]bool, benchBatch)
		for b.Loop() {
			for i := range keys {
				keys[i] = ks.key(int(r.Uint64() >> benchIndexShift))
			}
			if err := tbl.GetMany(keys, vals, found); err != nil {
				b.Fatal(err)
			}
		}
		for i := range found {
			if !found[i] || len(vals[i]) != benchValLen {
				b.Fatalf("key %s: found %v, %d bytes, want %d", keys[i], found[i], len(vals[i]), benchValLen)
			}
		}
		reportPerKey(b, benchBatch)
	})
	b.Run("shmdictGet", func(b *testing.B) {
		ks := benchKeysOnce()
		tbl, _ := benchTable(b)
		r := rand.NewPCG(benchSeed, 3)
		buf := make([]byte, 0, 64)
		var err error
		for b.Loop() {
			buf, err = tbl.AppendGet(buf[:0], ks.key(int(r.Uint64()>>benchIndexShift)))
			if err != nil {
				b.Fatal(err)
			}
		}
		reportPerKey(b, 1)
	})
	b.Run("mapRWMutex", func(b *testing.B) {
		ks := benchKeySetFor(b)
		mu, m := benchBaseline(b)
		r := rand.NewPCG(benchSeed, 3)
		buf := make([]byte, 0, 64)
		for b.Loop() {
			k := ks.str[r.Uint64()>>benchIndexShift]
			mu.RLock()
			v, ok := m[k]
			buf = append(buf[:0], v...)
			mu.RUnlock()
			if !ok {
				b.Fatalf("key %q missing", k)
			}
		}
		reportPerKey(b, 1)
	})
}
