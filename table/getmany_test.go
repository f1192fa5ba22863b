package table_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/shmdict/shmdict/table"
)

// gmSeed returns the model tests' seed: the package's -seed flag, or the
// time; it is logged so that a failure can be replayed.
func gmSeed(t *testing.T) uint64 {
	seed := uint64(time.Now().UnixNano())
	if f := flag.Lookup("seed"); f != nil {
		if s := f.Value.(flag.Getter).Get().(uint64); s != 0 {
			seed = s
		}
	}
	t.Logf("seed %d (rerun with -seed=%d)", seed, seed)
	return seed
}

var gmTables = []struct {
	name  string
	opts  table.Options
	keys  int // the key universe
	evict bool
}{
	{"plainSmall", table.Options{Capacity: 64}, 40, false},
	{"plain", table.Options{Capacity: 20000}, 15000, false},
	{"evictSmall", table.Options{Capacity: 64, ArenaBytes: 1 << 16, Eviction: table.EvictCLOCK}, 200, true},
	{"evict", table.Options{Capacity: 4000, Eviction: table.EvictCLOCK}, 8000, true},
}

// gmEntry is the model's state of a key.
type gmEntry struct {
	val      []byte
	deadline time.Time // zero: no TTL
}

// gmResult is what a batch read returned, for cmp.Diff.
type gmResult struct {
	Found []bool
	Vals  [][]byte
}

// TestGetManyModel fills random tables (plain and evicting, small and
// larger) with values, counters, TTL values (some expired by a fake
// clock) and deleted keys, then compares GetMany on random batches
// (missing keys, duplicates, the empty key, batches longer than a chunk,
// vals with and without room and holding stale bytes) with AppendGet of
// each key and with a Go map: equal in a plain table; in an evicting one
// every key found must hold its model value (eviction only removes).
func TestGetManyModel(t *testing.T) {
	seed := gmSeed(t)
	for ti, tc := range gmTables {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, uint64(ti)))
			tb, err := table.New(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer tb.Close()
			now := time.Unix(1_700_000_000, 0)
			tb.SetClock(func() time.Time { return now })
			model := map[string]gmEntry{}
			key := func() []byte {
				if r.IntN(20) == 0 {
					return []byte{} // the empty key is a key like any other
				}
				return fmt.Appendf(nil, "k%d", r.IntN(tc.keys))
			}
			write := func() {
				k := key()
				switch op := r.IntN(10); {
				case op < 5:
					v := make([]byte, r.IntN(100))
					for i := range v {
						v[i] = byte(r.Uint32())
					}
					if err := tb.Set(k, v); err != nil {
						t.Fatalf("Set(%q): %v", k, err)
					}
					model[string(k)] = gmEntry{val: v}
				case op < 7:
					delta := int64(r.IntN(1000)) - 500
					n, err := tb.Add(k, delta)
					if errors.Is(err, table.ErrNotCounter) {
						return
					}
					if err != nil {
						t.Fatalf("Add(%q): %v", k, err)
					}
					if e, ok := model[string(k)]; delta == 0 && (!ok || !e.deadline.IsZero() && !e.deadline.After(now)) {
						return // Add(k, 0) reads a counter without creating it (an expired value is absent)
					}
					model[string(k)] = gmEntry{val: binary.LittleEndian.AppendUint64(nil, uint64(n))}
				case op < 8:
					v := fmt.Appendf(nil, "ttl-%d", r.IntN(1000))
					ttl := time.Duration(1+r.IntN(100)) * time.Second
					if err := tb.SetWithTTL(k, v, ttl); err != nil {
						t.Fatalf("SetWithTTL(%q): %v", k, err)
					}
					model[string(k)] = gmEntry{val: v, deadline: now.Add(ttl)}
				default:
					if _, err := tb.Delete(k); err != nil {
						t.Fatalf("Delete(%q): %v", k, err)
					}
					delete(model, string(k))
				}
			}
			for range tc.keys * 2 {
				write()
			}
			for round := range 300 {
				for range r.IntN(tc.keys/4 + 1) {
					write()
				}
				if r.IntN(4) == 0 {
					now = now.Add(time.Duration(r.IntN(30)) * time.Second)
				}
				n := r.IntN(80)
				keys := make([][]byte, n)
				for i := range keys {
					switch {
					case i > 0 && r.IntN(8) == 0:
						keys[i] = keys[r.IntN(i)] // a duplicate
					case r.IntN(6) == 0:
						keys[i] = fmt.Appendf(nil, "missing-%d", r.IntN(1000))
					default:
						keys[i] = key()
					}
				}
				vals := make([][]byte, n)
				for i := range vals {
					switch r.IntN(3) {
					case 0: // nil
					case 1:
						vals[i] = []byte("stale bytes that must go")
					default:
						vals[i] = make([]byte, r.IntN(8), 64+r.IntN(64))
					}
				}
				found := make([]bool, n)
				for i := range found {
					found[i] = r.IntN(2) == 0
				}
				if err := tb.GetMany(keys, vals, found); err != nil {
					t.Fatalf("round %d: GetMany: %v", round, err)
				}
				got := gmResult{Found: found, Vals: vals}
				want := gmResult{Found: make([]bool, n), Vals: make([][]byte, n)}
				for i, k := range keys {
					v, err := tb.AppendGet(nil, k)
					switch {
					case errors.Is(err, table.ErrNotFound):
					case err != nil:
						t.Fatalf("AppendGet(%q): %v", k, err)
					default:
						want.Found[i], want.Vals[i] = true, v
					}
				}
				if d := gmDiff(want, got); d != "" {
					t.Fatalf("round %d: GetMany differs from AppendGet of each key (-want +got):\n%s", round, d)
				}
				model := gmModelRead(model, keys, now)
				if tc.evict {
					// Keys that were evicted read as missing.
					for i := range keys {
						if !got.Found[i] {
							model.Found[i], model.Vals[i] = false, nil
						}
					}
				}
				if d := gmDiff(model, got); d != "" {
					t.Fatalf("round %d: GetMany differs from the model (-model +got):\n%s", round, d)
				}
			}
		})
	}
}

// gmDiff is cmp.Diff of two batch results (an empty value equal to a nil
// one), run only when a cheap comparison finds a difference: cmp's
// reflection would be most of the test's time.
func gmDiff(want, got gmResult) string {
	same := len(want.Found) == len(got.Found) && len(want.Vals) == len(got.Vals)
	for i := 0; same && i < len(want.Found); i++ {
		same = want.Found[i] == got.Found[i] && bytes.Equal(want.Vals[i], got.Vals[i])
	}
	if same {
		return ""
	}
	return cmp.Diff(want, got, cmpopts.EquateEmpty())
}

// gmModelRead is what the model says GetMany(keys) returns at now.
func gmModelRead(model map[string]gmEntry, keys [][]byte, now time.Time) gmResult {
	res := gmResult{Found: make([]bool, len(keys)), Vals: make([][]byte, len(keys))}
	for i, k := range keys {
		e, ok := model[string(k)]
		if ok && (e.deadline.IsZero() || e.deadline.After(now)) {
			res.Found[i], res.Vals[i] = true, e.val
		}
	}
	return res
}

// gmValue encodes a value for key: the key, a writer's sequence number,
// padding of a length that varies with it (so records change size class
// and get recycled into other shapes), and a CRC of all of it.
func gmValue(key []byte, seq uint64) []byte {
	v := append([]byte(nil), key...)
	v = binary.LittleEndian.AppendUint64(v, seq)
	v = append(v, bytes.Repeat([]byte{byte(seq)}, int(seq%97))...)
	return binary.LittleEndian.AppendUint32(v, crc32.ChecksumIEEE(v))
}

// gmCheck reports what is wrong with v read for key, or "".
func gmCheck(key, v []byte) string {
	if len(v) < len(key)+12 {
		return fmt.Sprintf("%d bytes, too short", len(v))
	}
	body, sum := v[:len(v)-4], binary.LittleEndian.Uint32(v[len(v)-4:])
	if crc32.ChecksumIEEE(body) != sum {
		return "bad checksum (a torn read)"
	}
	if !bytes.Equal(body[:len(key)], key) {
		return fmt.Sprintf("the value of key %q", body[:len(key)])
	}
	return ""
}

// TestGetManyRace reads batches with GetMany while goroutines overwrite,
// delete and re-set the same few keys (and, in the evicting table, evict
// them): every value read must be one written for its key, whole. Run it
// with -race: the heap table lets the detector see every access.
func TestGetManyRace(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts table.Options
	}{
		{"plain", table.Options{Capacity: 256}},
		{"evict", table.Options{Capacity: 48, ArenaBytes: 1 << 16, Eviction: table.EvictCLOCK}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tb, err := table.New(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer tb.Close()
			const nkeys = 64
			keyOf := func(i int) []byte { return fmt.Appendf(nil, "key-%02d", i) }
			dur := 1500 * time.Millisecond
			if testing.Short() {
				dur = 300 * time.Millisecond
			}
			stop := make(chan struct{})
			var wg sync.WaitGroup
			var werr error
			var werrOnce sync.Once
			for w := range 2 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r := rand.New(rand.NewPCG(uint64(w), 7))
					for seq := uint64(w); ; seq += 2 {
						select {
						case <-stop:
							return
						default:
						}
						k := keyOf(r.IntN(nkeys))
						var err error
						if r.IntN(10) == 0 {
							_, err = tb.Delete(k)
						} else {
							err = tb.Set(k, gmValue(k, seq))
						}
						if err != nil && !errors.Is(err, table.ErrFull) {
							werrOnce.Do(func() { werr = err })
							return
						}
					}
				}()
			}
			r := rand.New(rand.NewPCG(3, 7))
			keys := make([][]byte, 40)
			vals := make([][]byte, len(keys))
			found := make([]bool, len(keys))
			reads, hits := 0, 0
			for start := time.Now(); time.Since(start) < dur; {
				for i := range keys {
					keys[i] = keyOf(r.IntN(nkeys))
				}
				if err := tb.GetMany(keys, vals, found); err != nil {
					t.Fatal(err)
				}
				for i := range keys {
					reads++
					if !found[i] {
						if len(vals[i]) != 0 {
							t.Fatalf("missing key %q came with %d bytes", keys[i], len(vals[i]))
						}
						continue
					}
					hits++
					if msg := gmCheck(keys[i], vals[i]); msg != "" {
						t.Fatalf("GetMany read for %q: %s: %q", keys[i], msg, vals[i])
					}
				}
			}
			close(stop)
			wg.Wait()
			if werr != nil {
				t.Fatal(werr)
			}
			t.Logf("%d reads, %d found", reads, hits)
			if hits < reads/10 {
				t.Fatalf("only %d of %d reads found their key: the test tests little", hits, reads)
			}
		})
	}
}

// TestGetManyAllocs: GetMany allocates nothing when every vals[i] has
// room, whatever path its keys take (fast path, missing, counter, TTL,
// deleted), in a plain and in an evicting table.
func TestGetManyAllocs(t *testing.T) {
	for _, opts := range []table.Options{{Capacity: 1000}, {Capacity: 1000, Eviction: table.EvictCLOCK}} {
		tb, err := table.New(opts)
		if err != nil {
			t.Fatal(err)
		}
		var keys [][]byte
		for i := range 100 {
			k := fmt.Appendf(nil, "key-%d", i)
			keys = append(keys, k, fmt.Appendf(nil, "missing-%d", i))
			switch i % 4 {
			case 0, 1:
				err = tb.Set(k, bytes.Repeat([]byte{byte(i)}, 40))
			case 2:
				_, err = tb.Add(k, int64(i))
			case 3:
				err = tb.SetWithTTL(k, []byte("expiring"), time.Hour)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if _, err := tb.Delete(keys[0]); err != nil {
			t.Fatal(err)
		}
		vals := make([][]byte, len(keys))
		for i := range vals {
			vals[i] = make([]byte, 0, 64)
		}
		found := make([]bool, len(keys))
		allocs := testing.AllocsPerRun(100, func() {
			if err := tb.GetMany(keys, vals, found); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("eviction %v: GetMany of %d keys with room in vals: %v allocations, want 0", opts.Eviction, len(keys), allocs)
		}
		hits := 0
		for i := range found {
			if found[i] {
				hits++
			}
		}
		if hits != 99 {
			t.Errorf("eviction %v: %d keys found, want 99", opts.Eviction, hits)
		}
		tb.Close()
	}
}

// TestGetManyErrors: mismatched lengths are ErrInvalid, an oversized key
// ErrKeyTooLarge before anything is read, and a closed table ErrClosed.
func TestGetManyErrors(t *testing.T) {
	tb, err := table.New(table.Options{Capacity: 100})
	if err != nil {
		t.Fatal(err)
	}
	if err := tb.Set([]byte("a"), []byte("1")); err != nil {
		t.Fatal(err)
	}
	keys := [][]byte{[]byte("a"), []byte("b")}
	for _, c := range []struct {
		name  string
		vals  [][]byte
		found []bool
	}{
		{"short vals", make([][]byte, 1), make([]bool, 2)},
		{"long vals", make([][]byte, 3), make([]bool, 2)},
		{"short found", make([][]byte, 2), make([]bool, 1)},
		{"nil both", nil, nil},
	} {
		if err := tb.GetMany(keys, c.vals, c.found); !errors.Is(err, table.ErrInvalid) {
			t.Errorf("%s: GetMany = %v, want ErrInvalid", c.name, err)
		}
	}
	if err := tb.GetMany(nil, nil, nil); err != nil {
		t.Errorf("GetMany of no keys = %v, want nil", err)
	}
	big := [][]byte{[]byte("a"), []byte(strings.Repeat("x", table.MaxKeyLen+1))}
	vals := [][]byte{[]byte("untouched"), nil}
	found := []bool{false, true}
	if err := tb.GetMany(big, vals, found); !errors.Is(err, table.ErrKeyTooLarge) {
		t.Errorf("GetMany with an oversized key = %v, want ErrKeyTooLarge", err)
	}
	if string(vals[0]) != "untouched" || found[0] {
		t.Errorf("GetMany with an oversized key changed the first result: %q %v", vals[0], found[0])
	}
	tb.Close()
	if err := tb.GetMany(keys, make([][]byte, 2), make([]bool, 2)); !errors.Is(err, table.ErrClosed) {
		t.Errorf("GetMany after Close = %v, want ErrClosed", err)
	}
}

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

// TestGetManyTyped: Map.GetMany answers as Map.Get of each key (values,
// counters written raw, missing keys, a value that does not decode), over
// several chunks, and allocates nothing with fixed-size codecs.
func TestGetManyTyped(t *testing.T) {
	tb, err := table.New(table.Options{Capacity: 1000})
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	m := table.NewMap(tb, table.Int64{}, table.Int64{})
	var keys []int64
	for i := range int64(100) {
		keys = append(keys, i)
		if i%5 == 4 {
			continue // missing
		}
		if err := m.Set(i, i*i-7); err != nil {
			t.Fatal(err)
		}
	}
	vals := make([]int64, len(keys))
	found := make([]bool, len(keys))
	for i := range vals {
		vals[i], found[i] = -1, true // stale results that must go
	}
	if err := m.GetMany(keys, vals, found); err != nil {
		t.Fatal(err)
	}
	for i, k := range keys {
		v, err := m.Get(k)
		want := err == nil
		if err != nil && !errors.Is(err, table.ErrNotFound) {
			t.Fatal(err)
		}
		if found[i] != want || vals[i] != v {
			t.Errorf("key %d: GetMany = %d, %v; Get = %d, %v", k, vals[i], found[i], v, err)
		}
	}
	allocs := testing.AllocsPerRun(100, func() {
		if err := m.GetMany(keys, vals, found); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Map[int64, int64].GetMany of %d keys: %v allocations, want 0", len(keys), allocs)
	}
	if err := m.GetMany(keys, vals[:1], found); !errors.Is(err, table.ErrInvalid) {
		t.Errorf("Map.GetMany with short vals = %v, want ErrInvalid", err)
	}

	sm := table.NewMap(tb, table.String{}, table.String{})
	if err := sm.Set("s", "a string"); err != nil {
		t.Fatal(err)
	}
	svals := make([]string, 3)
	sfound := make([]bool, 3)
	if err := sm.GetMany([]string{"s", "none", "s"}, svals, sfound); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"a string", "", "a string"}, svals); d != "" || !sfound[0] || sfound[1] || !sfound[2] {
		t.Errorf("Map[string, string].GetMany: found %v, values (-want +got):\n%s", sfound, d)
	}
	k3, _ := table.Int64{}.Append(nil, 3)
	if err := tb.Set(k3, []byte("not an int64")); err != nil {
		t.Fatal(err)
	}
	if err := m.GetMany(keys, vals, found); !errors.Is(err, table.ErrDecode) {
		t.Errorf("Map.GetMany over a value that does not decode = %v, want ErrDecode", err)
	}
}
