package table

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// counterTables are the table kinds a Counter behaves differently in:
// the one-CAS path (no eviction) and Add's full path (eviction).
var counterTables = []struct {
	name string
	opts Options
}{
	{"plain", Options{Capacity: 64, ArenaBytes: 1 << 16}},
	{"evict", Options{Capacity: 64, ArenaBytes: 1 << 16, Eviction: EvictCLOCK}},
}

// TestModelCounter runs random mixes of Counter.Add, Counter.Load,
// Table.Add, Set of a non-counter value, Delete and Clear on a few keys,
// and checks every result against a Go map, then the final contents.
func TestModelCounter(t *testing.T) {
	for _, tc := range counterTables {
		t.Run(tc.name, func(t *testing.T) {
			seed := *modelSeed
			if seed == 0 {
				seed = uint64(time.Now().UnixNano())
			}
			t.Logf("seed %d (rerun with -seed=%d)", seed, seed)
			r := rand.New(rand.NewPCG(seed, 5))
			tb, err := New(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer tb.Close()
			const nkeys = 5
			keys := make([][]byte, nkeys)
			handles := make([]*Counter, nkeys)
			for i := range keys {
				keys[i] = fmt.Appendf(nil, "k%d", i)
				if handles[i], err = tb.Counter(keys[i]); err != nil {
					t.Fatal(err)
				}
			}
			type entry struct {
				n     int64
				bytes string // a non-counter value when isVal
				isVal bool
			}
			model := map[string]entry{}
			deltas := []int64{1, -1, 7, -1000, MaxCounter, MinCounter, MaxCounter / 2, 0}
			for step := range 5000 {
				i := r.IntN(nkeys)
				k, c := keys[i], handles[i]
				e, ok := model[string(k)]
				what := ""
				switch op := r.IntN(20); {
				case op < 12:
					d := deltas[r.IntN(len(deltas))]
					what = fmt.Sprintf("Counter(%s).Add(%d)", k, d)
					var n int64
					if op < 9 {
						n, err = c.Add(d)
					} else {
						what = fmt.Sprintf("Add(%s, %d)", k, d)
						n, err = tb.Add(k, d)
					}
					switch {
					case ok && e.isVal:
						if !errors.Is(err, ErrNotCounter) {
							t.Fatalf("step %d: %s = %d, %v; want ErrNotCounter", step, what, n, err)
						}
					case d == 0 && !ok: // reads an absent counter as 0, creating nothing
						if err != nil || n != 0 {
							t.Fatalf("step %d: %s = %d, %v; want 0", step, what, n, err)
						}
					case (d > 0 && e.n > MaxCounter-d) || (d < 0 && e.n < MinCounter-d):
						if !errors.Is(err, ErrRange) {
							t.Fatalf("step %d: %s = %d, %v; want ErrRange (value %d)", step, what, n, err, e.n)
						}
					default:
						want := e.n + d
						if err != nil || n != want {
							t.Fatalf("step %d: %s = %d, %v; want %d", step, what, n, err, want)
						}
						model[string(k)] = entry{n: want}
					}
				case op < 14:
					what = fmt.Sprintf("Counter(%s).Load()", k)
					n, err := c.Load()
					switch {
					case !ok:
						if err != nil || n != 0 {
							t.Fatalf("step %d: %s = %d, %v; want 0 (absent)", step, what, n, err)
						}
					case e.isVal:
						if !errors.Is(err, ErrNotCounter) {
							t.Fatalf("step %d: %s = %d, %v; want ErrNotCounter", step, what, n, err)
						}
					case err != nil || n != e.n:
						t.Fatalf("step %d: %s = %d, %v; want %d", step, what, n, err, e.n)
					}
				case op < 16:
					v := fmt.Sprintf("value-%d", step)
					if err := tb.Set(k, []byte(v)); err != nil {
						t.Fatalf("step %d: Set(%s): %v", step, k, err)
					}
					model[string(k)] = entry{bytes: v, isVal: true}
				case op < 19:
					if _, err := tb.Delete(k); err != nil {
						t.Fatalf("step %d: Delete(%s): %v", step, k, err)
					}
					delete(model, string(k))
				default:
					if err := tb.Clear(); err != nil {
						t.Fatalf("step %d: Clear: %v", step, err)
					}
					clear(model)
				}
			}
			got := map[string]entry{}
			for k, v := range tb.All() {
				if n, err := tb.Add(k, 0); err == nil {
					got[string(k)] = entry{n: n}
				} else {
					got[string(k)] = entry{bytes: string(v), isVal: true}
				}
			}
			if d := cmp.Diff(model, got, cmp.AllowUnexported(entry{})); d != "" {
				t.Errorf("table differs from the model (-want +got):\n%s", d)
			}
			if tb.Len() != len(model) {
				t.Errorf("Len() = %d, want %d", tb.Len(), len(model))
			}
		})
	}
}

// TestCounterErrors provokes each error a Counter can give.
func TestCounterErrors(t *testing.T) {
	tb, err := New(Options{Capacity: 16, ArenaBytes: 1 << 16})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tb.Counter(bytes.Repeat([]byte("k"), MaxKeyLen+1)); !errors.Is(err, ErrKeyTooLarge) {
		t.Errorf("Counter(oversized key): %v, want ErrKeyTooLarge", err)
	}
	// Handles claim slots: the table runs out where Adds would.
	var full error
	for i := range 1000 {
		if _, full = tb.Counter(fmt.Appendf(nil, "c%d", i)); full != nil {
			break
		}
	}
	if !errors.Is(full, ErrFull) {
		t.Errorf("Counter on 1000 new keys in a 16-key table: %v, want ErrFull", full)
	}
	c, err := tb.Counter([]byte("c0"))
	if err != nil {
		t.Fatal(err)
	}
	if n, err := c.Add(MaxCounter); err != nil || n != MaxCounter {
		t.Fatalf("Add(MaxCounter) = %d, %v", n, err)
	}
	if _, err := c.Add(1); !errors.Is(err, ErrRange) {
		t.Errorf("Add past MaxCounter: %v, want ErrRange", err)
	}
	if _, err := c.Add(MaxCounter + 1); !errors.Is(err, ErrRange) {
		t.Errorf("Add(MaxCounter+1): %v, want ErrRange", err)
	}
	if n, err := c.Load(); err != nil || n != MaxCounter {
		t.Errorf("Load after failed Adds = %d, %v; want %d (unchanged)", n, err, int64(MaxCounter))
	}
	if got := c.Key(); string(got) != "c0" {
		t.Errorf("Key() = %q", got)
	}
	if err := tb.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Add(1); !errors.Is(err, ErrClosed) {
		t.Errorf("Add after Close: %v, want ErrClosed", err)
	}
	if _, err := tb.Counter([]byte("c0")); !errors.Is(err, ErrClosed) {
		t.Errorf("Counter after Close: %v, want ErrClosed", err)
	}
}

// TestRaceCounterHandles: goroutines add through shared handles and
// through Table.Add on the same keys, under -race on the heap backend;
// the sums are exact and every result increases.
func TestRaceCounterHandles(t *testing.T) {
	for _, tc := range counterTables {
		t.Run(tc.name, func(t *testing.T) {
			tb, err := New(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer tb.Close()
			const (
				workers = 8
				nkeys   = 3
			)
			iters := 20000
			if testing.Short() {
				iters = 3000
			}
			handles := make([]*Counter, nkeys)
			for i := range handles {
				if handles[i], err = tb.Counter(fmt.Appendf(nil, "hot%d", i)); err != nil {
					t.Fatal(err)
				}
			}
			var wg sync.WaitGroup
			errs := make(chan error, workers)
			for w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r := rand.New(rand.NewPCG(uint64(w), 3))
					var last [nkeys]int64
					for range iters {
						i := r.IntN(nkeys)
						var n int64
						var err error
						if r.IntN(4) == 0 {
							n, err = tb.Add(handles[i].key, 1)
						} else {
							n, err = handles[i].Add(1)
						}
						if err == nil && n <= last[i] {
							err = fmt.Errorf("counter %d went from %d to %d", i, last[i], n)
						}
						if err != nil {
							errs <- err
							return
						}
						last[i] = n
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			var sum int64
			for _, c := range handles {
				n, err := c.Load()
				if err != nil {
					t.Fatal(err)
				}
				sum += n
			}
			if want := int64(workers * iters); sum != want {
				t.Errorf("counters sum to %d, want exactly %d", sum, want)
			}
		})
	}
}

// TestWaitCounterAdd: an Add through a handle wakes a waiter on its key,
// like Table.Add.
func TestWaitCounterAdd(t *testing.T) {
	tb, err := New(Options{Capacity: 16, ArenaBytes: 1 << 16})
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	key := []byte("hits")
	c, err := tb.Counter(key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Add(1); err != nil { // the first Add creates it (Add's path)
		t.Fatal(err)
	}
	_, v, err := tb.Lookup(key)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	woke := make(chan error, 1)
	go func() {
		_, err := tb.Wait(ctx, key, v)
		woke <- err
	}()
	time.Sleep(20 * time.Millisecond)   // let the waiter arm its doorbell
	if _, err := c.Add(1); err != nil { // the one-CAS path
		t.Fatal(err)
	}
	if err := <-woke; err != nil {
		t.Fatalf("Wait after Counter.Add: %v, want a wake-up", err)
	}
}
