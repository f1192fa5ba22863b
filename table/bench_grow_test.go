package table_test

// Benchmarks of growing tables (Options.MaxCapacity, tiers.go).
//
// BenchmarkGrowInsert: one op fills a fresh table with growInsertKeys new
// keys, from 1 or 2 processes (each inserts its own half), into a table
// created for all of them (presized) or one that starts at 1,024 keys and
// grows (grown). The target is grown within 2x of presized.
//
// BenchmarkGrowGet: Gets of random present keys, and of absent keys, in a
// table of growGetKeys keys that grew from 1,024 (every tier in use), and
// in one created for them.
//
//	go test ./table/ -run '^$' -bench 'Grow' -benchtime 3x -count 3

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shmdict/shmdict/table"
)

const (
	roleBenchGrowInsert = "bench-grow-insert"
	growInsertKeys      = 1 << 20
	growGetKeys         = 1 << 20
)

func init() { childRoles[roleBenchGrowInsert] = childBenchGrowInsert }

func growBenchOpts(shape string, keys int) table.Options {
	if shape == "grown" {
		return table.Options{Capacity: 1024, MaxCapacity: 2 * keys}
	}
	return table.Options{Capacity: keys}
}

func benchGrowKey(buf []byte, i int) []byte { return fmt.Appendf(buf, "g%08d", i) }

func BenchmarkGrowInsert(b *testing.B) {
	for _, procs := range []int{1, 2} {
		for _, shape := range []string{"presized", "grown"} {
			b.Run(fmt.Sprintf("%s/procs=%d", shape, procs), func(b *testing.B) {
				b.StopTimer()
				names := make([]string, b.N)
				for i := range names {
					names[i] = segName(b, "-"+strconv.Itoa(i))
					tbl, err := table.Create(names[i], growBenchOpts(shape, growInsertKeys))
					if err != nil {
						b.Fatal(err)
					}
					tbl.Close()
				}
				g := startChildren(b, roleBenchGrowInsert, procs, strings.Join(names, ","), strconv.Itoa(procs))
				g.expect("ready")
				b.ResetTimer()
				b.StartTimer()
				g.release()
				g.expect("done")
				b.StopTimer()
				g.wait()
				for _, name := range names {
					tbl, err := table.Attach(name)
					if err != nil {
						b.Fatal(err)
					}
					st := tbl.Stats()
					tbl.Close()
					if st.Keys != growInsertKeys {
						b.Fatalf("%s holds %d keys, want %d", name, st.Keys, growInsertKeys)
					}
					b.ReportMetric(float64(st.Tiers), "tiers")
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/growInsertKeys, "ns/insert")
			})
		}
	}
}

// childBenchGrowInsert attaches to every table named, then on the start
// line inserts its share of growInsertKeys keys into each in turn.
func childBenchGrowInsert(args []string) error {
	if err := childArgs(args, "names", "procs"); err != nil {
		return err
	}
	procs, me := atoi(args[1]), childIndex()
	lo, hi := growInsertKeys*me/procs, growInsertKeys*(me+1)/procs
	var tbls []*table.Table
	for _, name := range strings.Split(args[0], ",") {
		tbl, err := table.Attach(name)
		if err != nil {
			return err
		}
		defer tbl.Close()
		tbls = append(tbls, tbl)
	}
	keys := make([][]byte, 0, hi-lo)
	var buf []byte
	for i := lo; i < hi; i++ {
		buf = benchGrowKey(buf, i)
		keys = append(keys, buf[len(buf)-9:])
	}
	val := []byte("value-of-16bytes")
	if _, err := childSync("ready"); err != nil {
		return err
	}
	for _, tbl := range tbls {
		for _, k := range keys {
			if err := tbl.Set(k, val); err != nil {
				return fmt.Errorf("Set(%s): %w (%+v)", k, err, tbl.Stats())
			}
		}
	}
	childReport("done")
	return nil
}

func BenchmarkGrowGet(b *testing.B) {
	for _, shape := range []string{"presized", "grown"} {
		tbl, err := table.New(growBenchOpts(shape, growGetKeys))
		if err != nil {
			b.Fatal(err)
		}
		val := []byte("value-of-16bytes")
		var buf []byte
		for i := range growGetKeys {
			buf = benchGrowKey(buf[:0], i)
			if err := tbl.Set(buf, val); err != nil {
				b.Fatal(err)
			}
		}
		for _, present := range []bool{true, false} {
			what := "present"
			if !present {
				what = "absent"
			}
			b.Run(shape+"/"+what, func(b *testing.B) {
				r := rand.New(rand.NewPCG(1, 2))
				keys := make([][]byte, 1<<16)
				for i := range keys {
					j := r.IntN(growGetKeys)
					if !present {
						j += growGetKeys
					}
					keys[i] = benchGrowKey(nil, j)
				}
				out := make([]byte, 0, 64)
				i := 0
				for b.Loop() {
					out, err = tbl.AppendGet(out[:0], keys[i&(len(keys)-1)])
					if (err == nil) != present {
						b.Fatalf("Get(%s): %v", keys[i&(len(keys)-1)], err)
					}
					i++
				}
				b.ReportMetric(float64(tbl.Stats().Tiers), "tiers")
			})
		}
		tbl.Close()
	}
}

// BenchmarkGrowInsertHeap is BenchmarkGrowInsert/procs=1 in this
// process, on heap tables (table.New): one op inserts one key, and a
// fresh table follows every growInsertKeys keys (timer stopped).
func BenchmarkGrowInsertHeap(b *testing.B) {
	for _, shape := range []string{"presized", "grown"} {
		b.Run(shape, func(b *testing.B) {
			keys := make([][]byte, growInsertKeys)
			for i := range keys {
				keys[i] = benchGrowKey(nil, i)
			}
			val := []byte("value-of-16bytes")
			var tbl *table.Table
			j := growInsertKeys
			for b.Loop() {
				if j == growInsertKeys {
					b.StopTimer()
					if tbl != nil {
						tbl.Close()
					}
					var err error
					if tbl, err = table.New(growBenchOpts(shape, growInsertKeys)); err != nil {
						b.Fatal(err)
					}
					j = 0
					b.StartTimer()
				}
				if err := tbl.Set(keys[j], val); err != nil {
					b.Fatal(err)
				}
				j++
			}
			tbl.Close()
		})
	}
}

// BenchmarkGrowGetLatency: the latency of Gets of present keys while
// another goroutine inserts new keys into a growing table, so that it
// grows through tiers during the measurement (growing), against the same
// Gets while that goroutine overwrites existing keys of the same table
// and nothing grows (steady). Each op is one timed Get; it reports the
// p50 and p99 in ns. The target: growing p99 at most 3x steady.
func BenchmarkGrowGetLatency(b *testing.B) {
	const prefill = 100_000
	for _, mode := range []string{"steady", "growing"} {
		b.Run(mode, func(b *testing.B) {
			tbl, err := table.New(table.Options{Capacity: 1024, MaxCapacity: 1 << 23})
			if err != nil {
				b.Fatal(err)
			}
			defer tbl.Close()
			val := []byte("value-of-16bytes")
			keys := make([][]byte, prefill)
			for i := range keys {
				keys[i] = benchGrowKey(nil, i)
				if err := tbl.Set(keys[i], val); err != nil {
					b.Fatal(err)
				}
			}
			tiers0 := tbl.Stats().Tiers
			stop := make(chan struct{})
			done := make(chan error, 1)
			go func() {
				var buf []byte
				for i := prefill; ; i++ {
					select {
					case <-stop:
						done <- nil
						return
					default:
					}
					k := keys[i%prefill]
					if mode == "growing" {
						buf = benchGrowKey(buf[:0], i)
						k = buf
					}
					if err := tbl.Set(k, val); err != nil {
						done <- err
						return
					}
				}
			}()
			lat := make([]int64, 0, 1<<20)
			r := rand.New(rand.NewPCG(3, 4))
			out := make([]byte, 0, 64)
			for b.Loop() {
				k := keys[r.IntN(prefill)]
				t0 := time.Now()
				out, err = tbl.AppendGet(out[:0], k)
				d := time.Since(t0)
				if err != nil {
					b.Fatal(err)
				}
				if len(lat) < cap(lat) {
					lat = append(lat, int64(d))
				}
			}
			close(stop)
			if err := <-done; err != nil {
				b.Fatal(err)
			}
			slices.Sort(lat)
			if len(lat) > 0 {
				b.ReportMetric(float64(lat[len(lat)/2]), "p50-ns")
				b.ReportMetric(float64(lat[len(lat)*99/100]), "p99-ns")
			}
			b.ReportMetric(float64(tbl.Stats().Tiers-tiers0), "growths")
		})
	}
}
