package table

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/shmdict/shmdict/segment"
)

func newEvicting(t *testing.T, opts Options) *Table {
	t.Helper()
	opts.Eviction = EvictCLOCK
	tb, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tb.Close() })
	return tb
}

// verifyClean fails the test unless tb passes Verify with no problem and
// no leaked space, and returns the report.
func verifyClean(t *testing.T, tb *Table) Report {
	t.Helper()
	rep, err := tb.Verify()
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.LeakedBytes != 0 {
		t.Fatalf("Verify found problems or leaks:\n%s", rep)
	}
	return rep
}

// TestEvictModel runs random operations on an evicting table over a key
// universe 10x its capacity, against a Go map. After every operation the
// keys the table lost must be exactly as many as Stats().Evicted grew by
// (each dropped from the model), and every key the table still has must
// hold the model's value; writes never fail with ErrFull.
func TestEvictModel(t *testing.T) {
	seed := *modelSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -seed=%d)", seed, seed)
	for _, c := range []struct {
		name       string
		opts       Options
		keys, ops  int
		maxValue   int
		wantEvicts bool
	}{
		{"slots", Options{Capacity: 48}, 480, 20000, 40, true},
		{"arena", Options{Capacity: 200, ArenaBytes: 8 << 10}, 2000, 20000, 200, true},
		{"ttl", Options{Capacity: 100}, 1000, 20000, 30, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			if testing.Short() {
				c.ops /= 5
			}
			r := rand.New(rand.NewPCG(seed, uint64(len(c.name))))
			tb := newEvicting(t, c.opts)
			now := time.Unix(1_800_000_000, 0)
			tb.SetClock(func() time.Time { return now })
			model := map[string]modelVal{}
			evicted := int64(0)
			key := func() []byte { return []byte(fmt.Sprintf("k%05d", r.IntN(c.keys))) }
			value := func() []byte {
				v := make([]byte, r.IntN(c.maxValue+1))
				for i := range v {
					v[i] = byte(r.Uint32())
				}
				return v
			}
			// settle drops from the model the keys the table lost since
			// the last call and checks that eviction (or expiry) explains
			// each of them.
			settle := func(op string, k []byte) {
				t.Helper()
				st := tb.Stats()
				grew := st.Evicted - evicted
				evicted = st.Evicted
				lost := 0
				for mk, mv := range model {
					got, err := tb.Get([]byte(mk))
					if errors.Is(err, ErrNotFound) {
						delete(model, mk)
						lost++
						continue
					}
					if err != nil {
						t.Fatalf("after %s(%q): Get(%q): %v", op, k, mk, err)
					}
					if !bytes.Equal(got, mv.bytes()) {
						t.Fatalf("after %s(%q): Get(%q) = %x, model has %x", op, k, mk, got, mv.bytes())
					}
				}
				// A write may evict its own key's slot and then store the
				// key again: one eviction more than the keys that vanished.
				_, kept := model[string(k)]
				if int64(lost) != grew && !(kept && grew == int64(lost)+1) {
					t.Fatalf("after %s(%q): %d keys vanished but Evicted grew by %d", op, k, lost, grew)
				}
				if n := tb.Len(); n != len(model) {
					t.Fatalf("after %s(%q): Len() = %d, model has %d keys", op, k, n, len(model))
				}
			}
			for i := 0; i < c.ops; i++ {
				k := key()
				mv, present := model[string(k)]
				switch op := r.IntN(10); {
				case op < 4:
					v := value()
					if c.name == "ttl" && r.IntN(2) == 0 {
						if err := tb.SetWithTTL(k, v, time.Duration(1+r.IntN(5))*time.Second); err != nil {
							t.Fatalf("SetWithTTL(%q): %v", k, err)
						}
						// Expiry is not eviction: track deadlines by
						// letting the clock jump only between checks.
					} else if err := tb.Set(k, v); err != nil {
						t.Fatalf("Set(%q): %v", k, err)
					}
					model[string(k)] = modelVal{b: v}
				case op < 6:
					got, err := tb.Get(k)
					if present && err == nil && !bytes.Equal(got, mv.bytes()) {
						t.Fatalf("Get(%q) = %x, model %x", k, got, mv.bytes())
					}
					if !present && !errors.Is(err, ErrNotFound) {
						t.Fatalf("Get(%q) of an absent key = %x, %v", k, got, err)
					}
				case op < 7:
					ok, err := tb.Delete(k)
					if err != nil {
						t.Fatalf("Delete(%q): %v", k, err)
					}
					// A key evicted by this op's own... deletes evict
					// nothing, so the answer is exact unless the key went
					// earlier (settle has already dropped such keys).
					if ok != present {
						t.Fatalf("Delete(%q) = %v, model present=%v", k, ok, present)
					}
					delete(model, string(k))
				case op < 9:
					d := int64(r.IntN(7)) - 3
					if present && !mv.counter {
						if _, err := tb.Add(k, d); !errors.Is(err, ErrNotCounter) {
							t.Fatalf("Add(%q) on a byte value: %v", k, err)
						}
						break
					}
					n, err := tb.Add(k, d)
					if err != nil {
						t.Fatalf("Add(%q, %d): %v", k, d, err)
					}
					if want := mv.n + d; n != want {
						t.Fatalf("Add(%q, %d) = %d, model %d", k, d, n, want)
					}
					if d != 0 || present {
						model[string(k)] = modelVal{counter: true, n: mv.n + d}
					}
				default:
					v := value()
					actual, loaded, err := tb.GetOrSet(k, v)
					if err != nil {
						t.Fatalf("GetOrSet(%q): %v", k, err)
					}
					if loaded != present || (present && !bytes.Equal(actual, mv.bytes())) {
						t.Fatalf("GetOrSet(%q) = %x, %v; model %x, %v", k, actual, loaded, mv.bytes(), present)
					}
					if !present {
						model[string(k)] = modelVal{b: v}
					}
				}
				if c.name == "ttl" && i%500 == 499 {
					// Let some TTLs run out; expired keys are not eviction,
					// so drop them from the model by asking the table's TTL.
					for mk := range model {
						if left, err := tb.TTL([]byte(mk)); err == nil && left > 0 && left <= 2*time.Second {
							delete(model, mk)
							if _, err := tb.Delete([]byte(mk)); err != nil {
								t.Fatal(err)
							}
						}
					}
					now = now.Add(time.Second)
				}
				settle("op", k)
			}
			st := tb.Stats()
			if c.wantEvicts && st.Evicted == 0 {
				t.Fatalf("no evictions in %d operations over %d keys (capacity %d)", c.ops, c.keys, st.Capacity)
			}
			t.Logf("evicted %d, keys %d of capacity %d, arena used %d of %d", st.Evicted, st.Keys, st.Capacity, st.ArenaUsed, st.ArenaBytes)
			verifyClean(t, tb)
		})
	}
}

// TestEvictChurn: 10x capacity distinct keys through an evicting table.
// Nothing fails, the table stays within its capacity and arena, every
// eviction is counted, the newest key is always there, and a key read
// after every insert is never evicted (CLOCK's second chance).
func TestEvictChurn(t *testing.T) {
	const capacity = 1000
	tb := newEvicting(t, Options{Capacity: capacity})
	hot := []byte("hot")
	if err := tb.Set(hot, []byte("always read")); err != nil {
		t.Fatal(err)
	}
	st0 := tb.Stats()
	n := 10 * st0.Capacity
	for i := range n {
		k := []byte(fmt.Sprintf("churn-%07d", i))
		if err := tb.Set(k, bytes.Repeat([]byte{byte(i)}, 20+i%40)); err != nil {
			t.Fatalf("Set #%d: %v", i, err)
		}
		if _, err := tb.Get(k); err != nil {
			t.Fatalf("the key just set, %s: %v", k, err)
		}
		if _, err := tb.Get(hot); err != nil {
			t.Fatalf("after %d inserts the hot key is gone: %v", i, err)
		}
		if i%997 == 0 {
			st := tb.Stats()
			if st.Keys > st.Capacity || st.ClaimedSlots > st.Capacity || st.ArenaUsed > st.ArenaBytes {
				t.Fatalf("after %d inserts: %d keys, %d claimed, capacity %d, arena %d of %d", i, st.Keys, st.ClaimedSlots, st.Capacity, st.ArenaUsed, st.ArenaBytes)
			}
		}
	}
	st := tb.Stats()
	if got, want := st.Evicted, int64(n+1-st.Keys); got != want {
		t.Fatalf("Evicted = %d; %d keys set, %d present: want %d", got, n+1, st.Keys, want)
	}
	if st.Keys < st.Capacity/2 {
		t.Fatalf("only %d keys present after the churn (capacity %d): eviction evicts too much", st.Keys, st.Capacity)
	}
	t.Logf("%d inserts: %d evicted, %d present of capacity %d", n, st.Evicted, st.Keys, st.Capacity)
	verifyClean(t, tb)
}

// TestEvictConcurrent: goroutines insert, overwrite, delete, add and read
// overlapping keys of a small evicting table at once. Values name their
// key, so a read that returned another key's value (a slot reused under
// it) is caught; afterwards Verify finds no key in two slots. Run under
// -race in make test.
func TestEvictConcurrent(t *testing.T) {
	tb := newEvicting(t, Options{Capacity: 64})
	const workers = 4
	ops := 20000
	if testing.Short() {
		ops = 5000
	}
	var wg sync.WaitGroup
	errc := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 7))
			for i := range ops {
				k := fmt.Sprintf("k%03d", r.IntN(400))
				switch r.IntN(6) {
				case 0, 1:
					if err := tb.Set([]byte(k), []byte(k+"|"+fmt.Sprint(i))); err != nil {
						errc <- fmt.Errorf("Set(%s): %w", k, err)
						return
					}
				case 2:
					if _, err := tb.Delete([]byte(k)); err != nil {
						errc <- fmt.Errorf("Delete(%s): %w", k, err)
						return
					}
				case 3:
					c := "c" + k
					if _, err := tb.Add([]byte(c), 1); err != nil {
						errc <- fmt.Errorf("Add(%s): %w", c, err)
						return
					}
				case 4:
					if _, _, err := tb.GetOrSet([]byte(k), []byte(k+"|g")); err != nil {
						errc <- fmt.Errorf("GetOrSet(%s): %w", k, err)
						return
					}
				default:
					v, err := tb.Get([]byte(k))
					if err != nil && !errors.Is(err, ErrNotFound) {
						errc <- fmt.Errorf("Get(%s): %w", k, err)
						return
					}
					if err == nil && !strings.HasPrefix(string(v), k+"|") {
						errc <- fmt.Errorf("Get(%s) = %q: another key's value", k, v)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	rep := verifyClean(t, tb)
	if st := tb.Stats(); st.Evicted == 0 || rep.Keys != st.Keys {
		t.Fatalf("evicted %d, Verify counts %d keys, Stats %d", st.Evicted, rep.Keys, st.Keys)
	}
	got := map[string]bool{}
	for k, v := range tb.All() {
		if got[string(k)] {
			t.Fatalf("All yielded %q twice", k)
		}
		got[string(k)] = true
		if k[0] != 'c' && !strings.HasPrefix(string(v), string(k)+"|") {
			t.Fatalf("%q holds %q", k, v)
		}
	}
}

func TestEvictOptions(t *testing.T) {
	if _, err := New(Options{Capacity: 10, Eviction: EvictCLOCK, EventRing: 64}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Eviction with EventRing: %v, want ErrInvalid", err)
	}
	if _, err := New(Options{Capacity: 10, Eviction: 9}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("unknown policy: %v, want ErrInvalid", err)
	}
	tb := newEvicting(t, Options{Capacity: 10})
	st := tb.Stats()
	if d := cmp.Diff([]any{segment.VersionEvict, EvictCLOCK}, []any{st.FormatVersion, st.Eviction}); d != "" {
		t.Fatalf("Stats of an evicting table (-want +got):\n%s", d)
	}
}

// TestEvictSameKeyRace: goroutines insert and delete the same few keys of
// a tiny evicting table, so that claims of one key race while deletes
// turn slots on its probe path dead under them: the case that the
// full-path check of a pending claim exists for. The goroutines stop
// every few hundred operations, and then no key may be in two slots.
func TestEvictSameKeyRace(t *testing.T) {
	tb := newEvicting(t, Options{Capacity: 8})
	testHookClaimScanned = runtime.Gosched // let other claims and deletes in
	defer func() { testHookClaimScanned = nil }()
	const workers, keys, perRound = 4, 6, 200
	rounds := 200
	if testing.Short() {
		rounds = 50
	}
	rs := make([]*rand.Rand, workers)
	for w := range rs {
		rs[w] = rand.New(rand.NewPCG(uint64(w), 9))
	}
	for round := range rounds {
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := rs[w]
				for range perRound {
					k := []byte{'k', byte('0' + r.IntN(keys))}
					if r.IntN(3) == 0 {
						tb.Delete(k)
					} else if err := tb.Set(k, k); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		seen := map[string]int{}
		for k := range tb.Keys() {
			seen[string(k)]++
		}
		for k, n := range seen {
			if n > 1 {
				rep, _ := tb.Verify()
				t.Fatalf("round %d: key %q is in %d slots\n%s", round, k, n, rep)
			}
		}
	}
	verifyClean(t, tb)
}
