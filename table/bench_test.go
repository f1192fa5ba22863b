package table_test

// Benchmarks at 1M keys (12-byte keys, 32-byte values). Each benchmark has
// a shmdict sub-benchmark and, where one makes sense, a mapRWMutex one: a
// Go map[string][]byte behind a sync.RWMutex, the obvious in-process
// alternative, measured in the same run. Both sides copy values in and out
// (the baseline's Get appends the value to a reused buffer under RLock,
// as AppendGet does), and both tables are sized for their keys up front.
//
// Every benchmark reports ns/op and ops/s. The *Procs benchmarks run the
// operations in child processes (the test binary re-executed, see
// main_test.go) lined up by a start barrier; their op count is the total
// over all processes, so ops/s is the total throughput and comparing
// procs=1 with procs=2 shows how it scales.
//
// The 1M-key table and map are built once per test binary, on first use,
// so that "go test -run X -bench . -benchtime=1x" finishes quickly; run
// the real measurements with e.g. -benchtime=2s -count=5 on an idle
// machine.

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"

	"github.com/shmdict/shmdict/atomicx"
	"github.com/shmdict/shmdict/table"
)

const (
	benchKeys   = 1 << 20 // a power of two, so that a random index is a shift
	benchKeyLen = 12
	benchValLen = 32
	// benchIndexShift turns a uniform 64-bit random number into a uniform
	// index below benchKeys.
	benchIndexShift = 64 - 20
	benchCounters   = 1000
	benchSeed       = 0x5eed_0001 // fixed: benchmarks replay the same key sequence

	roleBenchAdd = "bench-add"
	roleBenchGet = "bench-get"
)

// benchKeySet holds the 1M keys "k00000000000", "k00000000001", ... in one
// buffer; key(i) slices it without allocating.
type benchKeySet struct {
	buf []byte
	str []string // the same keys as strings, for the map baseline; built on demand
}

func (ks *benchKeySet) key(i int) []byte {
	return ks.buf[i*benchKeyLen : (i+1)*benchKeyLen : (i+1)*benchKeyLen]
}

func newBenchKeySet() *benchKeySet {
	buf := make([]byte, 0, benchKeys*benchKeyLen)
	for i := range benchKeys {
		buf = append(buf, 'k')
		var d [benchKeyLen - 1]byte
		for j, n := len(d)-1, i; j >= 0; j-- {
			d[j] = byte('0' + n%10)
			n /= 10
		}
		buf = append(buf, d[:]...)
	}
	return &benchKeySet{buf: buf}
}

// benchValue returns a 32-byte value; gen varies it so that overwrites
// really change the value.
func benchValue(i, gen int) []byte {
	v := make([]byte, benchValLen)
	for j := range v {
		v[j] = byte('a' + (i+gen+j)%26)
	}
	return v
}

// benchCounterKey is the 12-byte key of counter i.
func benchCounterKey(i int) []byte { return fmt.Appendf(nil, "counter-%04d", i) }

// Fixtures, built once per test binary on first use.
var (
	benchKeysOnce = sync.OnceValue(newBenchKeySet)

	benchStrOnce = sync.OnceValue(func() []string {
		ks := benchKeysOnce()
		s := make([]string, benchKeys)
		for i := range s {
			s[i] = string(ks.key(i))
		}
		return s
	})

	benchTbl struct {
		once sync.Once
		name string
		tbl  *table.Table
		err  error
	}

	benchMap struct {
		once sync.Once
		mu   sync.RWMutex
		m    map[string][]byte
	}
)

func benchKeySetFor(b *testing.B) *benchKeySet {
	b.Helper()
	ks := benchKeysOnce()
	if ks.str == nil {
		ks.str = benchStrOnce()
	}
	return ks
}

// benchTable returns the shared 1M-key segment table, every key holding a
// 32-byte value. The child processes of the *Procs benchmarks attach to it
// by name.
func benchTable(b *testing.B) (*table.Table, string) {
	b.Helper()
	benchTbl.once.Do(func() {
		ks := benchKeysOnce()
		name := "shmdict-bench-" + strconv.Itoa(os.Getpid())
		if err := table.Remove(name); err != nil && !errors.Is(err, table.ErrNotExist) {
			benchTbl.err = err
			return
		}
		tbl, err := table.Create(name, table.Options{Capacity: benchKeys})
		if err != nil {
			benchTbl.err = err
			return
		}
		benchTbl.name, benchTbl.tbl = name, tbl
		for i := range benchKeys {
			if err := tbl.Set(ks.key(i), benchValue(i, 0)); err != nil {
				benchTbl.err = fmt.Errorf("filling the 1M-key table: Set(%s): %w", ks.key(i), err)
				return
			}
		}
		if n := tbl.Len(); n != benchKeys {
			benchTbl.err = fmt.Errorf("the 1M-key table has Len %d after filling, want %d", n, benchKeys)
		}
	})
	if benchTbl.err != nil {
		b.Fatal(benchTbl.err)
	}
	return benchTbl.tbl, benchTbl.name
}

// benchBaseline returns the 1M-key map baseline.
func benchBaseline(b *testing.B) (*sync.RWMutex, map[string][]byte) {
	b.Helper()
	benchMap.once.Do(func() {
		keys := benchStrOnce()
		benchMap.m = make(map[string][]byte, benchKeys)
		for i, k := range keys {
			benchMap.m[k] = benchValue(i, 0)
		}
	})
	return &benchMap.mu, benchMap.m
}

// removeBenchFixtures removes the shared segment; TestMain calls it.
func removeBenchFixtures() {
	if benchTbl.tbl != nil {
		benchTbl.tbl.Close()
		table.Remove(benchTbl.name)
	}
}

func reportOps(b *testing.B) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(b.N)/s, "ops/s")
	}
}

// ---- single goroutine, one process ----

func BenchmarkGet(b *testing.B) {
	b.Run("shmdict", func(b *testing.B) {
		ks := benchKeysOnce()
		tbl, _ := benchTable(b)
		r := rand.NewPCG(benchSeed, 1)
		buf := make([]byte, 0, 64)
		var err error
		for b.Loop() {
			buf, err = tbl.AppendGet(buf[:0], ks.key(int(r.Uint64()>>benchIndexShift)))
			if err != nil {
				b.Fatal(err)
			}
		}
		if len(buf) != benchValLen {
			b.Fatalf("last value read has %d bytes, want %d", len(buf), benchValLen)
		}
		reportOps(b)
	})
	b.Run("mapRWMutex", func(b *testing.B) {
		ks := benchKeySetFor(b)
		mu, m := benchBaseline(b)
		r := rand.NewPCG(benchSeed, 1)
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
		if len(buf) != benchValLen {
			b.Fatalf("last value read has %d bytes, want %d", len(buf), benchValLen)
		}
		reportOps(b)
	})
}

func BenchmarkSetExisting(b *testing.B) {
	vals := [4][]byte{benchValue(0, 1), benchValue(0, 2), benchValue(0, 3), benchValue(0, 4)}
	b.Run("shmdict", func(b *testing.B) {
		ks := benchKeysOnce()
		tbl, _ := benchTable(b)
		r := rand.NewPCG(benchSeed, 2)
		i := 0
		for b.Loop() {
			if err := tbl.Set(ks.key(int(r.Uint64()>>benchIndexShift)), vals[i&3]); err != nil {
				b.Fatal(err)
			}
			i++
		}
		if n := tbl.Len(); n != benchKeys {
			b.Fatalf("Len() = %d after overwriting existing keys, want %d", n, benchKeys)
		}
		reportOps(b)
	})
	b.Run("mapRWMutex", func(b *testing.B) {
		ks := benchKeySetFor(b)
		mu, m := benchBaseline(b)
		r := rand.NewPCG(benchSeed, 2)
		i := 0
		for b.Loop() {
			k := ks.str[r.Uint64()>>benchIndexShift]
			mu.Lock()
			// Copy in, reusing the old value's storage: readers copy out
			// under RLock, so this is safe, and it is the cheapest correct
			// overwrite (no allocation).
			m[k] = append(m[k][:0], vals[i&3]...)
			mu.Unlock()
			i++
		}
		if len(m) != benchKeys {
			b.Fatalf("map has %d keys after overwriting existing keys, want %d", len(m), benchKeys)
		}
		reportOps(b)
	})
}

// BenchmarkInsert inserts new keys into a table created for 1M keys; after
// 1M inserts it continues in a fresh table (timer stopped while it is
// made), so the table never holds more keys than it was sized for.
func BenchmarkInsert(b *testing.B) {
	val := benchValue(0, 5)
	b.Run("shmdict", func(b *testing.B) {
		ks := benchKeysOnce()
		name := segName(b, "")
		var tbl *table.Table
		fresh := func() {
			if tbl != nil {
				if n := tbl.Len(); n != benchKeys {
					b.Fatalf("Len() = %d after %d inserts", n, benchKeys)
				}
				tbl.Close()
				removeSeg(b, name)
			}
			var err error
			if tbl, err = table.Create(name, table.Options{Capacity: benchKeys}); err != nil {
				b.Fatal(err)
			}
		}
		fresh()
		defer func() { tbl.Close() }()
		j := 0
		for b.Loop() {
			if j == benchKeys {
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
		if n := tbl.Len(); n != j {
			b.Fatalf("Len() = %d after %d inserts into this table", n, j)
		}
		reportOps(b)
	})
	b.Run("mapRWMutex", func(b *testing.B) {
		ks := benchKeySetFor(b)
		var mu sync.RWMutex
		m := make(map[string][]byte, benchKeys)
		j := 0
		for b.Loop() {
			if j == benchKeys {
				b.StopTimer()
				m = make(map[string][]byte, benchKeys)
				j = 0
				b.StartTimer()
			}
			k := ks.str[j]
			mu.Lock()
			m[k] = append(m[k][:0], val...) // a new key: allocates its copy
			mu.Unlock()
			j++
		}
		if len(m) != j {
			b.Fatalf("map has %d keys after %d inserts", len(m), j)
		}
		reportOps(b)
	})
}

// ---- goroutines of one process ----

func BenchmarkGetParallel(b *testing.B) {
	var seedMu sync.Mutex
	stream := uint64(100)
	nextRand := func() *rand.PCG {
		seedMu.Lock()
		defer seedMu.Unlock()
		stream++
		return rand.NewPCG(benchSeed, stream)
	}
	b.Run("shmdict", func(b *testing.B) {
		ks := benchKeysOnce()
		tbl, _ := benchTable(b)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			r := nextRand()
			buf := make([]byte, 0, 64)
			var err error
			for pb.Next() {
				if buf, err = tbl.AppendGet(buf[:0], ks.key(int(r.Uint64()>>benchIndexShift))); err != nil {
					b.Error(err)
					return
				}
			}
		})
		reportOps(b)
	})
	b.Run("mapRWMutex", func(b *testing.B) {
		ks := benchKeySetFor(b)
		mu, m := benchBaseline(b)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			r := nextRand()
			buf := make([]byte, 0, 64)
			for pb.Next() {
				k := ks.str[r.Uint64()>>benchIndexShift]
				mu.RLock()
				v, ok := m[k]
				buf = append(buf[:0], v...)
				mu.RUnlock()
				if !ok {
					b.Errorf("key %q missing", k)
					return
				}
			}
		})
		reportOps(b)
	})
}

// ---- several processes ----

// runProcs runs b.N operations of role split over procs child processes
// and times them from the start barrier's release until every child has
// said "done": the caller's set-up, process start-up and each child's
// set-up are not timed.
// The children get args followed by b.N and procs (see childShare).
func runProcs(b *testing.B, role string, procs int, args ...string) {
	b.Helper()
	b.StopTimer()
	g := startChildren(b, role, procs, append(args, strconv.Itoa(b.N), strconv.Itoa(procs))...)
	g.expect("ready")
	b.ResetTimer() // drops the caller's set-up too
	b.StartTimer()
	g.release()
	done := g.expect("done")
	b.StopTimer()
	g.wait()
	total := 0
	for i, f := range done {
		n := 0
		if len(f) == 1 {
			n, _ = strconv.Atoi(f[0])
		}
		if want := childShare(b.N, procs, i); n != want || len(f) != 1 {
			b.Fatalf("child %d says it did %q operations, want %d", i, f, want)
		}
		total += n
	}
	if total != b.N {
		b.Fatalf("children did %d operations in all, want %d", total, b.N)
	}
}

// childShare is child i's part of n operations split over procs children.
func childShare(n, procs, i int) int {
	share := n / procs
	if i == 0 {
		share += n % procs
	}
	return share
}

// childOps parses the two arguments runProcs appends and returns this
// child's operation count.
func childOps(args []string) int {
	return childShare(atoi(args[len(args)-2]), atoi(args[len(args)-1]), childIndex())
}

// benchCounterSeq draws the counters a counter benchmark increments, in
// the order it cycles through them: drawn before the clock, so that the
// loop measures the increment, not the generator.
func benchCounterSeq(r *rand.PCG) []uint16 {
	seq := make([]uint16, 1<<16)
	for i := range seq {
		// Lemire's multiply-shift: a uniform index below benchCounters.
		seq[i] = uint16((r.Uint64() >> 32 * benchCounters) >> 32)
	}
	return seq
}

// BenchmarkAddProcs: Add(key, 1) on 1,000 shared counters from 1 and 2
// processes; the parent checks the exact sum afterwards.
func BenchmarkAddProcs(b *testing.B) { benchAddProcs(b, "key") }

// BenchmarkCounterProcs is BenchmarkAddProcs through Counter handles, made
// once per counter before the clock starts.
func BenchmarkCounterProcs(b *testing.B) { benchAddProcs(b, "handle") }

// BenchmarkAddCeiling is the hardware's bound for this workload, the
// reference the two above are judged against: the same processes
// increment the same counters' value words in the same table, but with
// bare atomics (load the slot's key word, then a CAS loop on its value
// word), without hashing, probing, key checks, fault guard or wake-ups.
// Between processes it is bound by cache lines moving between cores.
func BenchmarkAddCeiling(b *testing.B) { benchAddProcs(b, "bare") }

// BenchmarkAdderProcs is BenchmarkCounterProcs with striped adders: each
// process adds to its own lane of the adder, through handles made before
// the clock starts.
func BenchmarkAdderProcs(b *testing.B) { benchAddProcs(b, "adder") }

// BenchmarkAdderKeyProcs is Add(key, 1) on keys that are striped adders.
func BenchmarkAdderKeyProcs(b *testing.B) { benchAddProcs(b, "adderkey") }

func benchAddProcs(b *testing.B, mode string) {
	for _, procs := range []int{1, 2} {
		b.Run("procs="+strconv.Itoa(procs), func(b *testing.B) {
			name := segName(b, "")
			tbl, err := table.Create(name, table.Options{Capacity: 4 * benchCounters})
			if err != nil {
				b.Fatal(err)
			}
			defer tbl.Close()
			// The counters exist before the clock starts: this measures
			// increments, not slot claims.
			for i := range benchCounters {
				if mode == "adder" || mode == "adderkey" {
					if _, err := tbl.Adder(benchCounterKey(i)); err != nil {
						b.Fatal(err)
					}
				}
				if _, err := tbl.Add(benchCounterKey(i), 1); err != nil {
					b.Fatal(err)
				}
			}
			runProcs(b, roleBenchAdd, procs, name, strconv.Itoa(benchSeed), mode)
			var sum int64
			for i := range benchCounters {
				n, err := tbl.Add(benchCounterKey(i), 0)
				if err != nil {
					b.Fatal(err)
				}
				sum += n - 1
			}
			if sum != int64(b.N) {
				b.Fatalf("counters sum to %d increments, want exactly %d", sum, b.N)
			}
			reportOps(b)
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "incr/s")
		})
	}
}

func childBenchAdd(args []string) error {
	if err := childArgs(args, "name", "seed", "mode", "total", "procs"); err != nil {
		return err
	}
	n := childOps(args)
	r := rand.NewPCG(atou(args[1]), uint64(childIndex()))
	tbl, err := table.Attach(args[0])
	if err != nil {
		return err
	}
	defer tbl.Close()
	if args[2] == "adder" {
		return childBenchAdder(tbl, n, r)
	}
	var handles []*table.Counter
	if args[2] != "key" && args[2] != "adderkey" {
		handles = make([]*table.Counter, benchCounters)
		for i := range handles {
			if handles[i], err = tbl.Counter(benchCounterKey(i)); err != nil {
				return err
			}
		}
	}
	// The keys lie in one buffer, and the counter sequence is drawn before
	// the barrier and cycled: the loop measures Add, not the generator.
	var buf []byte
	for i := range benchCounters {
		buf = append(buf, benchCounterKey(i)...)
	}
	klen := len(buf) / benchCounters
	seq := benchCounterSeq(r)
	if _, err := childSync("ready"); err != nil {
		return err
	}
	if args[2] == "bare" {
		mem := table.TableMem(tbl)
		offs := make([]uint64, len(handles))
		for i, c := range handles {
			if offs[i] = table.CounterWordOff(c); offs[i] == 0 {
				return fmt.Errorf("%v has no fixed slot", c)
			}
		}
		var sink uint64
		for i := range n {
			off := offs[seq[i&(len(seq)-1)]]
			sink += mem.Load64(off - 8) // the key word, as a lookup reads it
			for {
				// Counter words are positive here: +1 on the word is +1
				// on the counter.
				w := mem.Load64(off)
				if mem.CAS64(off, w, w+1) {
					break
				}
			}
		}
		if n > 0 && sink == 0 {
			return fmt.Errorf("read only zero key words")
		}
	} else if handles != nil {
		for i := range n {
			c := handles[seq[i&(len(seq)-1)]]
			if _, err := c.Add(1); err != nil {
				return fmt.Errorf("%v.Add(1): %w", c, err)
			}
		}
	} else {
		for i := range n {
			j := int(seq[i&(len(seq)-1)]) * klen
			k := buf[j : j+klen : j+klen]
			if _, err := tbl.Add(k, 1); err != nil {
				return fmt.Errorf("Add(%s, 1): %w", k, err)
			}
		}
	}
	childReport("done", n)
	return nil
}

// childBenchAdder is childBenchAdd's loop through Adder handles.
func childBenchAdder(tbl *table.Table, n int, r *rand.PCG) error {
	handles := make([]*table.Adder, benchCounters)
	for i := range handles {
		var err error
		if handles[i], err = tbl.Adder(benchCounterKey(i)); err != nil {
			return err
		}
		if err := handles[i].Add(0); err != nil { // takes the lane before the clock
			return err
		}
	}
	seq := benchCounterSeq(r)
	if _, err := childSync("ready"); err != nil {
		return err
	}
	for i := range n {
		a := handles[seq[i&(len(seq)-1)]]
		if err := a.Add(1); err != nil {
			return fmt.Errorf("%v.Add(1): %w", a, err)
		}
	}
	childReport("done", n)
	return nil
}

// BenchmarkSyncMapAdd is the in-process baseline of the counter
// benchmarks: 1,000 counters in a sync.Map of atomic 64-bit counters
// (atomicx.Counter: sync/atomic's Uint64, the same instruction as
// *atomic.Int64), incremented by 1 and 2 goroutines (uniform random
// counter, as the processes do).
func BenchmarkSyncMapAdd(b *testing.B) {
	for _, procs := range []int{1, 2} {
		b.Run("goroutines="+strconv.Itoa(procs), func(b *testing.B) {
			var m sync.Map
			keys := make([]string, benchCounters)
			for i := range keys {
				keys[i] = string(benchCounterKey(i))
				m.Store(keys[i], new(atomicx.Counter))
			}
			var wg sync.WaitGroup
			b.ResetTimer()
			for g := range procs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r := rand.NewPCG(benchSeed, uint64(g))
					seq := benchCounterSeq(r)
					for i := range childShare(b.N, procs, g) {
						v, _ := m.Load(keys[seq[i&(len(seq)-1)]])
						v.(*atomicx.Counter).Add(1)
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			var sum int64
			m.Range(func(_, v any) bool { sum += int64(v.(*atomicx.Counter).Load()); return true })
			if sum != int64(b.N) {
				b.Fatalf("counters sum to %d, want %d", sum, b.N)
			}
			reportOps(b)
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "incr/s")
		})
	}
}

// BenchmarkGetProcs: uniform random Gets on the 1M-key table from 1 and 2
// processes.
func BenchmarkGetProcs(b *testing.B) {
	for _, procs := range []int{1, 2} {
		b.Run("procs="+strconv.Itoa(procs), func(b *testing.B) {
			_, name := benchTable(b)
			runProcs(b, roleBenchGet, procs, name, strconv.Itoa(benchSeed))
			reportOps(b)
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "gets/s")
		})
	}
}

func childBenchGet(args []string) error {
	if err := childArgs(args, "name", "seed", "total", "procs"); err != nil {
		return err
	}
	n := childOps(args)
	ks := newBenchKeySet()
	tbl, err := table.Attach(args[0])
	if err != nil {
		return err
	}
	defer tbl.Close()
	buf := make([]byte, 0, 64)
	get := func(r *rand.PCG) error {
		if buf, err = tbl.AppendGet(buf[:0], ks.key(int(r.Uint64()>>benchIndexShift))); err != nil {
			return err
		}
		if len(buf) != benchValLen {
			return fmt.Errorf("value of %d bytes, want %d", len(buf), benchValLen)
		}
		return nil
	}
	// Warm up before the barrier: a fresh process faults in the pages of
	// its mapping on first touch, which the measurement should not see.
	// As many gets as the run (up to one per key) keep short runs short.
	warm := rand.NewPCG(atou(args[1]), uint64(1000+childIndex()))
	for range min(n, benchKeys) {
		if err := get(warm); err != nil {
			return err
		}
	}
	r := rand.NewPCG(atou(args[1]), uint64(10+childIndex()))
	if _, err := childSync("ready"); err != nil {
		return err
	}
	for range n {
		if err := get(r); err != nil {
			return err
		}
	}
	childReport("done", n)
	return nil
}
