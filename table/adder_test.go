package table_test

// Striped adders (adder.go): a model test against a Go map, the
// semantics of handles across Delete, Set, Clear and Close, the errors,
// Wait, typed maps, index exhaustion, allocations, and a race test.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shmdict/shmdict/atomicx"
	"github.com/shmdict/shmdict/table"
)

// adderKind is what the model holds for a key.
type adderKind int

const (
	kindBytes adderKind = iota + 1
	kindCounter
	kindAdder
)

// adderVal is the model's value of a present key.
type adderVal struct {
	Kind adderKind
	N    int64  // counter or adder sum
	B    string // byte value
}

// adderModel is a table's expected contents.
type adderModel map[string]adderVal

// snapshot is m as tableSnapshot reads a table.
func (m adderModel) snapshot() map[string]adderVal { return m }

// tableSnapshot reads tb through Entries, counters and adders apart.
func tableSnapshot(t *testing.T, tb *table.Table) map[string]adderVal {
	t.Helper()
	got := map[string]adderVal{}
	for e, err := range tb.Entries() {
		if err != nil {
			t.Fatalf("Entries: %v", err)
		}
		switch {
		case e.IsAdder:
			got[string(e.Key)] = adderVal{Kind: kindAdder, N: e.Counter}
		case e.IsCounter:
			got[string(e.Key)] = adderVal{Kind: kindCounter, N: e.Counter}
		default:
			got[string(e.Key)] = adderVal{Kind: kindBytes, B: string(e.Value)}
		}
	}
	return got
}

func le64(n int64) []byte { return binary.LittleEndian.AppendUint64(nil, uint64(n)) }

// adderModelRun drives tb (reopened by reopen, if not nil, for Compact)
// with ops random operations of r and checks every result against the
// model. It returns the table it ends with.
func adderModelRun(t *testing.T, r *rand.Rand, tb *table.Table, ops int, reopen func(*table.Table) *table.Table) *table.Table {
	t.Helper()
	const keys = 24
	m := adderModel{}
	handles := map[string]*table.Adder{}
	key := func() string { return fmt.Sprintf("k%02d", r.IntN(keys)) }
	wantErr := func(op, k string, err, want error) {
		t.Helper()
		if want == nil && err != nil || want != nil && !errors.Is(err, want) {
			t.Fatalf("%s(%s): error %v, want %v (model %+v)", op, k, err, want, m[k])
		}
	}
	compacts := 0
	for i := range ops {
		k := key()
		kb := []byte(k)
		v, present := m[k]
		switch op := r.IntN(100); {
		case op < 10: // Adder
			a, err := tb.Adder(kb)
			switch {
			case !present:
				wantErr("Adder", k, err, nil)
				m[k] = adderVal{Kind: kindAdder}
			case v.Kind == kindAdder:
				wantErr("Adder", k, err, nil)
			default:
				wantErr("Adder", k, err, table.ErrNotCounter)
			}
			if err == nil {
				handles[k] = a
			}
		case op < 35: // Adder.Add through a handle
			a := handles[k]
			if a == nil {
				continue
			}
			d := r.Int64N(2001) - 1000
			err := a.Add(d)
			switch {
			case !present:
				wantErr("Adder.Add", k, err, nil)
				m[k] = adderVal{Kind: kindAdder, N: d}
			case v.Kind == kindAdder:
				wantErr("Adder.Add", k, err, nil)
				m[k] = adderVal{Kind: kindAdder, N: v.N + d}
			default:
				wantErr("Adder.Add", k, err, table.ErrNotCounter)
			}
		case op < 45: // Adder.Sum
			a := handles[k]
			if a == nil {
				continue
			}
			n, err := a.Sum()
			if present && v.Kind == kindBytes {
				wantErr("Adder.Sum", k, err, table.ErrNotCounter)
				continue
			}
			wantErr("Adder.Sum", k, err, nil)
			if n != v.N {
				t.Fatalf("op %d: Adder(%s).Sum = %d, want %d (model %+v)", i, k, n, v.N, v)
			}
		case op < 60: // Table.Add
			d := r.Int64N(21) - 10
			n, err := tb.Add(kb, d)
			switch {
			case present && v.Kind == kindBytes:
				wantErr("Add", k, err, table.ErrNotCounter)
				continue
			case !present && d == 0:
				// Add(key, 0) creates nothing.
			case !present:
				m[k] = adderVal{Kind: kindCounter, N: d}
			default:
				v.N += d
				m[k] = v
			}
			wantErr("Add", k, err, nil)
			if n != m[k].N {
				t.Fatalf("op %d: Add(%s, %d) = %d, want %d", i, k, d, n, m[k].N)
			}
		case op < 72: // Get
			got, err := tb.Get(kb)
			if !present {
				wantErr("Get", k, err, table.ErrNotFound)
				continue
			}
			wantErr("Get", k, err, nil)
			want := []byte(v.B)
			if v.Kind != kindBytes {
				want = le64(v.N)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("op %d: Get(%s) (-want +got):\n%s", i, k, diff)
			}
		case op < 80: // Set
			val := fmt.Sprintf("v%d-%d", i, r.IntN(1000))
			wantErr("Set", k, tb.Set(kb, []byte(val)), nil)
			m[k] = adderVal{Kind: kindBytes, B: val}
		case op < 90: // Delete
			ok, err := tb.Delete(kb)
			wantErr("Delete", k, err, nil)
			if ok != present {
				t.Fatalf("op %d: Delete(%s) = %v, want %v", i, k, ok, present)
			}
			delete(m, k)
		case op < 94: // Entries and Len
			if diff := cmp.Diff(m.snapshot(), tableSnapshot(t, tb)); diff != "" {
				t.Fatalf("op %d: Entries (-want +got):\n%s", i, diff)
			}
			if n := tb.Len(); n != len(m) {
				t.Fatalf("op %d: Len = %d, want %d", i, n, len(m))
			}
		case op < 96: // Clear, now and then
			if r.IntN(4) != 0 {
				continue
			}
			wantErr("Clear", "", tb.Clear(), nil)
			clear(m)
		default: // Compact (a named table)
			if reopen == nil || r.IntN(10) != 0 {
				continue
			}
			tb = reopen(tb)
			compacts++
			// The old handles belong to the closed table.
			for hk, a := range handles {
				if err := a.Add(1); !errors.Is(err, table.ErrClosed) {
					t.Fatalf("op %d: Adder(%s).Add after its table was closed for Compact: %v, want ErrClosed", i, hk, err)
				}
			}
			clear(handles)
		}
	}
	if diff := cmp.Diff(m.snapshot(), tableSnapshot(t, tb)); diff != "" {
		t.Fatalf("end: Entries (-want +got):\n%s", diff)
	}
	rep, err := tb.Verify()
	if err != nil {
		t.Fatalf("Verify: %v\n%s", err, rep)
	}
	var adders, counters int
	for _, v := range m {
		adders += b2i(v.Kind == kindAdder)
		counters += b2i(v.Kind != kindBytes)
	}
	if rep.Keys != len(m) || rep.Adders != adders || rep.Counters != counters {
		t.Fatalf("Verify: %d keys, %d counters, %d adders; want %d, %d, %d\n%s", rep.Keys, rep.Counters, rep.Adders, len(m), counters, adders, rep)
	}
	if reopen != nil && compacts == 0 {
		t.Fatalf("no Compact in %d operations", ops)
	}
	t.Logf("%d keys, %d adders, %d counters at the end; %d compactions", len(m), adders, counters, compacts)
	return tb
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestAdderModel runs random operation sequences on a heap table and on
// a named one (with Compact, which renumbers the adders), against a map.
// Rerun a failure with -seed=<the logged seed>.
func TestAdderModel(t *testing.T) {
	ops := 20000
	if testing.Short() {
		ops = 4000
	}
	t.Run("heap", func(t *testing.T) {
		r := rand.New(rand.NewPCG(testSeed(t), 2))
		// Capacity 100: 512 adder indices, which a run of Adders after
		// Deletes and Clears can use up without Compact; keep it large.
		tb, err := table.New(table.Options{Capacity: 4096})
		if err != nil {
			t.Fatal(err)
		}
		defer tb.Close()
		adderModelRun(t, r, tb, ops, nil)
	})
	t.Run("shm", func(t *testing.T) {
		r := rand.New(rand.NewPCG(testSeed(t), 3))
		name := segName(t, "")
		tb, err := table.Create(name, table.Options{Capacity: 4096, AdderLanes: 3})
		if err != nil {
			t.Fatal(err)
		}
		reopen := func(old *table.Table) *table.Table {
			if err := old.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := table.Compact(name, table.CompactOptions{}); err != nil {
				t.Fatalf("Compact: %v", err)
			}
			nt, err := table.Attach(name)
			if err != nil {
				t.Fatal(err)
			}
			if st := nt.Stats(); st.AdderIndicesUsed != int64(rawAdders(t, nt)) || st.AdderLanes != 3 {
				t.Fatalf("after Compact: %d adder indices used, want one per adder (%d); %d lanes, want the 3 it was created with", st.AdderIndicesUsed, rawAdders(t, nt), st.AdderLanes)
			}
			return nt
		}
		tb = adderModelRun(t, r, tb, ops, reopen)
		if err := tb.Close(); err != nil {
			t.Fatal(err)
		}
	})
}

// rawAdders counts tb's adders.
func rawAdders(t *testing.T, tb *table.Table) int {
	t.Helper()
	n := 0
	for e, err := range tb.Entries() {
		if err != nil {
			t.Fatal(err)
		}
		n += b2i(e.IsAdder)
	}
	return n
}

func newHeap(t *testing.T, opts table.Options) *table.Table {
	t.Helper()
	tb, err := table.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tb.Close() })
	return tb
}

func mustAdder(t *testing.T, tb *table.Table, key string) *table.Adder {
	t.Helper()
	a, err := tb.Adder([]byte(key))
	if err != nil {
		t.Fatalf("Adder(%s): %v", key, err)
	}
	return a
}

func wantSum(t *testing.T, a *table.Adder, want int64) {
	t.Helper()
	if n, err := a.Sum(); n != want || err != nil {
		t.Fatalf("%v.Sum = %d, %v; want %d, nil", a, n, err, want)
	}
}

func TestAdderSemantics(t *testing.T) {
	tb := newHeap(t, table.Options{Capacity: 100})
	k := []byte("k")
	a := mustAdder(t, tb, "k")
	if tb.Len() != 1 {
		t.Fatalf("Len = %d after Adder, want 1 (an adder counts from its creation)", tb.Len())
	}
	wantSum(t, a, 0)
	for range 10 {
		if err := a.Add(3); err != nil {
			t.Fatal(err)
		}
	}
	wantSum(t, a, 30)
	if v, err := tb.Get(k); err != nil || binary.LittleEndian.Uint64(v) != 30 || len(v) != 8 {
		t.Fatalf("Get = %x, %v; want 30 in 8 bytes", v, err)
	}
	if n, err := tb.Add(k, 5); n != 35 || err != nil {
		t.Fatalf("Table.Add = %d, %v; want 35", n, err)
	}
	// A second handle on the same key sees the same adder.
	b := mustAdder(t, tb, "k")
	wantSum(t, b, 35)

	// Delete: the handle survives, and its next Add re-creates the key at 0.
	if ok, err := tb.Delete(k); !ok || err != nil || tb.Len() != 0 {
		t.Fatalf("Delete = %v, %v; Len %d", ok, err, tb.Len())
	}
	wantSum(t, a, 0) // an absent key reads as 0
	if _, err := tb.Get(k); !errors.Is(err, table.ErrNotFound) {
		t.Fatalf("Get after Delete: %v, want ErrNotFound", err)
	}
	if err := a.Add(1); err != nil {
		t.Fatal(err)
	}
	wantSum(t, a, 1)
	wantSum(t, b, 1)
	if tb.Len() != 1 {
		t.Fatalf("Len = %d after the handle re-created the key", tb.Len())
	}
	// Clear: likewise.
	if err := tb.Clear(); err != nil {
		t.Fatal(err)
	}
	if err := b.Add(7); err != nil {
		t.Fatal(err)
	}
	wantSum(t, a, 7)

	// Set over an adder: bytes; the handle's Add and Sum say ErrNotCounter.
	if err := tb.Set(k, []byte("bytes")); err != nil {
		t.Fatal(err)
	}
	if v, err := tb.Get(k); string(v) != "bytes" || err != nil {
		t.Fatalf("Get after Set = %q, %v", v, err)
	}
	if err := a.Add(1); !errors.Is(err, table.ErrNotCounter) {
		t.Fatalf("Adder.Add on a byte value: %v, want ErrNotCounter", err)
	}
	if _, err := a.Sum(); !errors.Is(err, table.ErrNotCounter) {
		t.Fatalf("Adder.Sum on a byte value: %v, want ErrNotCounter", err)
	}
	if _, err := tb.Adder(k); !errors.Is(err, table.ErrNotCounter) {
		t.Fatalf("Adder on a byte value: %v, want ErrNotCounter", err)
	}
	if v, _ := tb.Get(k); string(v) != "bytes" {
		t.Fatalf("a refused Add changed the value to %q", v)
	}

	// A plain counter: Adder refuses it, a handle's Add too, Sum reads it.
	c := []byte("c")
	if _, err := tb.Add(c, 9); err != nil {
		t.Fatal(err)
	}
	if _, err := tb.Adder(c); !errors.Is(err, table.ErrNotCounter) {
		t.Fatalf("Adder on a plain counter: %v, want ErrNotCounter", err)
	}
	tb.Delete(c)
	ac := mustAdder(t, tb, "c")
	if _, err := tb.Delete(c); err != nil {
		t.Fatal(err)
	}
	if _, err := tb.Add(c, 4); err != nil { // now a plain counter
		t.Fatal(err)
	}
	if err := ac.Add(1); !errors.Is(err, table.ErrNotCounter) {
		t.Fatalf("Adder.Add on what is now a plain counter: %v, want ErrNotCounter", err)
	}
	wantSum(t, ac, 4)

	// Entries tells adders apart; Verify counts them.
	if err := tb.Set(k, nil); err != nil {
		t.Fatal(err)
	}
	tb.Delete(k)
	if err := a.Add(-2); err != nil {
		t.Fatal(err)
	}
	got := tableSnapshot(t, tb)
	want := map[string]adderVal{"k": {Kind: kindAdder, N: -2}, "c": {Kind: kindCounter, N: 4}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("Entries (-want +got):\n%s", diff)
	}
	if rep, err := tb.Verify(); err != nil || rep.Adders != 1 || rep.Counters != 2 {
		t.Fatalf("Verify: %v, %d adders, %d counters\n%s", err, rep.Adders, rep.Counters, rep)
	}
	if st := tb.Stats(); st.AdderLanes != 1 || st.LanesUsed != 1 || st.AdderIndicesUsed < 3 { // New: one lane
		t.Fatalf("Stats: %d lanes, %d used, %d indices used", st.AdderLanes, st.LanesUsed, st.AdderIndicesUsed)
	}

	// Closed: every call says ErrClosed.
	if err := tb.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Add(1); !errors.Is(err, table.ErrClosed) {
		t.Fatalf("Add after Close: %v", err)
	}
	if _, err := a.Sum(); !errors.Is(err, table.ErrClosed) {
		t.Fatalf("Sum after Close: %v", err)
	}
	if _, err := tb.Adder([]byte("x")); !errors.Is(err, table.ErrClosed) {
		t.Fatalf("Adder after Close: %v", err)
	}
}

func TestAdderErrors(t *testing.T) {
	ev := newHeap(t, table.Options{Capacity: 100, Eviction: table.EvictCLOCK})
	if _, err := ev.Adder([]byte("k")); !errors.Is(err, table.ErrInvalid) {
		t.Fatalf("Adder in an eviction table: %v, want ErrInvalid", err)
	}
	tb := newHeap(t, table.Options{Capacity: 16})
	if _, err := tb.Adder(make([]byte, table.MaxKeyLen+1)); !errors.Is(err, table.ErrKeyTooLarge) {
		t.Fatalf("Adder with a key over MaxKeyLen: %v, want ErrKeyTooLarge", err)
	}
	if _, err := table.New(table.Options{Capacity: 16, AdderLanes: 65}); !errors.Is(err, table.ErrInvalid) {
		t.Fatalf("AdderLanes 65: %v, want ErrInvalid", err)
	}
	// Capacity 16: 512 indices, one taken by each adder ever made.
	if st := tb.Stats(); st.AdderIndices != 512 {
		t.Fatalf("AdderIndices = %d, want 512", st.AdderIndices)
	}
	k := []byte("k")
	a := mustAdder(t, tb, "k")
	for i := 1; i < 512; i++ {
		if _, err := tb.Delete(k); err != nil {
			t.Fatal(err)
		}
		if err := a.Add(1); err != nil {
			t.Fatalf("Add #%d after Delete: %v", i, err)
		}
	}
	tb.Delete(k)
	if err := a.Add(1); !errors.Is(err, table.ErrFull) {
		t.Fatalf("Add after 512 adders: %v, want ErrFull", err)
	}
	if _, err := tb.Adder([]byte("other")); !errors.Is(err, table.ErrFull) {
		t.Fatalf("Adder after 512 adders: %v, want ErrFull", err)
	}
	// Plain counters and values still work.
	if _, err := tb.Add(k, 1); err != nil {
		t.Fatalf("Table.Add once the adder indices ran out: %v", err)
	}
	if rep, err := tb.Verify(); err != nil {
		t.Fatalf("Verify: %v\n%s", err, rep)
	}
}

func TestAdderWait(t *testing.T) {
	tb := newHeap(t, table.Options{Capacity: 100})
	k := []byte("k")
	a := mustAdder(t, tb, "k")
	if err := a.Add(10); err != nil {
		t.Fatal(err)
	}
	v0, ver, err := tb.Lookup(k)
	if err != nil || binary.LittleEndian.Uint64(v0) != 10 {
		t.Fatalf("Lookup = %x, %v", v0, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	if v, err := tb.Wait(ctx, k, ver); !errors.Is(err, context.DeadlineExceeded) || v != ver {
		t.Fatalf("Wait with no add: %v, %v; want the same Version and DeadlineExceeded", v, err)
	}
	cancel()
	for _, via := range []string{"handle", "Table.Add"} {
		_, ver, _ = tb.Lookup(k)
		done := make(chan error, 1)
		go func() {
			time.Sleep(20 * time.Millisecond)
			if via == "handle" {
				done <- a.Add(1)
			} else {
				_, err := tb.Add(k, 1)
				done <- err
			}
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		v, err := tb.Wait(ctx, k, ver)
		cancel()
		if err != nil || v == ver {
			t.Fatalf("Wait for an add through %s: %v, %v (since %v)", via, v, err, ver)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	wantSum(t, a, 12)
}

func TestAdderTyped(t *testing.T) {
	tb := newHeap(t, table.Options{Capacity: 100})
	a := mustAdder(t, tb, "hits")
	if err := a.Add(-12345); err != nil {
		t.Fatal(err)
	}
	m := table.NewMap(tb, table.String{}, table.Int64{})
	if n, err := m.Get("hits"); n != -12345 || err != nil {
		t.Fatalf("Map.Get = %d, %v; want -12345", n, err)
	}
	got := map[string]int64{}
	for k, v := range m.All() {
		got[k] = v
	}
	if diff := cmp.Diff(map[string]int64{"hits": -12345}, got); diff != "" {
		t.Fatalf("Map.All (-want +got):\n%s", diff)
	}
}

func TestAdderAllocs(t *testing.T) {
	tb := newHeap(t, table.Options{Capacity: 100})
	a := mustAdder(t, tb, "k")
	if n := testing.AllocsPerRun(1000, func() { a.Add(1) }); n != 0 {
		t.Errorf("Adder.Add: %v allocations, want 0", n)
	}
	if n := testing.AllocsPerRun(1000, func() { a.Sum() }); n != 0 {
		t.Errorf("Adder.Sum: %v allocations, want 0", n)
	}
	wantSum(t, a, 1001) // AllocsPerRun runs once more to warm up
}

// TestAdderRace adds from goroutines through shared and separate handles
// while others read Sum, which must never go down (every delta is
// positive) nor past the adds made; the final sum is exact. Under -race
// (a heap table) the detector sees every access to the lanes.
func TestAdderRace(t *testing.T) {
	tb := newHeap(t, table.Options{Capacity: 100})
	const writers, perWriter, minReads = 6, 2000, 200
	// Counts the goroutines share (sync/atomic is atomicx's alone).
	mem := atomicx.FromBytes(atomicx.HeapBytes(64))
	reads := mem.Word(0) // Sums read, by all readers
	keys := []string{"a", "b"}
	shared := map[string]*table.Adder{}
	for _, k := range keys {
		shared[k] = mustAdder(t, tb, k)
	}
	added := [2]atomicx.Word{mem.Word(8), mem.Word(16)} // adds made, per key: an upper bound for Sum
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan error, 64)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ki := w % len(keys)
			a := shared[keys[ki]]
			if w >= writers/2 { // a handle of its own
				var err error
				if a, err = tb.Adder([]byte(keys[ki])); err != nil {
					errs <- err
					return
				}
			}
			// At least perWriter adds, and on until the readers have
			// read often enough to have seen the sums move.
			for i := 0; i < perWriter || reads.Load() < minReads; i++ {
				if i == 1000*perWriter {
					errs <- fmt.Errorf("writer %d: the readers made only %d reads during %d adds", w, reads.Load(), i)
					return
				}
				d := int64(i%3 + 1)
				added[ki].Add(d)
				if i%5 == 4 {
					if _, err := tb.Add([]byte(keys[ki]), d); err != nil {
						errs <- err
						return
					}
					continue
				}
				if err := a.Add(d); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	var readers sync.WaitGroup
	for ki, k := range keys {
		readers.Add(1)
		go func() {
			defer readers.Done()
			a, err := tb.Adder([]byte(k))
			if err != nil {
				errs <- err
				return
			}
			var last int64
			for {
				select {
				case <-stop:
					return
				default:
				}
				reads.Add(1)
				n, err := a.Sum()
				if err != nil {
					errs <- err
					return
				}
				if max := int64(added[ki].Load()); n < last || n > max {
					errs <- fmt.Errorf("%s: Sum = %d after %d, with %d added so far", k, n, last, max)
					return
				}
				last = n
			}
		}()
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for ki, k := range keys {
		wantSum(t, shared[k], int64(added[ki].Load()))
	}
	if rep, err := tb.Verify(); err != nil || rep.Adders != 2 {
		t.Fatalf("Verify: %v, %d adders\n%s", err, rep.Adders, rep)
	}
}
