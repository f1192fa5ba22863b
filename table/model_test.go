package table

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var modelSeed = flag.Uint64("seed", 0, "seed for model tests (0: time-based, logged)")

// modelVal is what the model holds for a key: bytes or a counter.
type modelVal struct {
	b       []byte
	counter bool
	n       int64
}

func (v modelVal) bytes() []byte {
	if v.counter {
		return binary.LittleEndian.AppendUint64(nil, uint64(v.n))
	}
	return v.b
}

type modelCase struct {
	name     string
	opts     Options
	keys     int // size of the key universe
	ops      int
	maxValue int
	wantFull bool // the run must hit ErrFull at least once
	shm      bool // file-backed segment instead of a heap one
	fill     int  // keys 0..fill-1 are set (and checked) before the random operations
	wantGrow bool // the table must have grown (Options.MaxCapacity)
}

func modelCases(short bool) []modelCase {
	cs := []modelCase{
		{name: "tiny", opts: Options{Capacity: 4, ArenaBytes: 1024}, keys: 40, ops: 20000, maxValue: 100, wantFull: true},
		{name: "tinyArena", opts: Options{Capacity: 64, ArenaBytes: 4096}, keys: 60, ops: 20000, maxValue: 300, wantFull: true},
		{name: "small", opts: Options{Capacity: 1000}, keys: 800, ops: 100000, maxValue: 60},
		{name: "smallShm", opts: Options{Capacity: 1000}, keys: 800, ops: 50000, maxValue: 60, shm: true},
		{name: "bigValues", opts: Options{Capacity: 100, ArenaBytes: 8 << 20}, keys: 90, ops: 5000, maxValue: 70000},
		{name: "100k", opts: Options{Capacity: 100000}, keys: 100000, ops: 300000, maxValue: 40},
	}
	cs = append(cs,
		// Growing tables (tiers.go): from 16 keys, with deletes and
		// re-sets across tiers; up to a MaxCapacity that the run hits;
		// file-backed, where each tier's pages are reserved as it opens.
		modelCase{name: "grow", opts: Options{Capacity: 16, MaxCapacity: 1 << 14}, keys: 12000, ops: 150000, maxValue: 40, wantGrow: true},
		modelCase{name: "growFull", opts: Options{Capacity: 4, MaxCapacity: 100, ArenaBytes: 64 << 10}, keys: 300, ops: 30000, maxValue: 40, wantFull: true, wantGrow: true},
		modelCase{name: "growShm", opts: Options{Capacity: 16, MaxCapacity: 1 << 13}, keys: 6000, ops: 60000, maxValue: 40, shm: true, wantGrow: true},
	)
	if !short {
		cs = append(cs, modelCase{name: "1M", opts: Options{Capacity: 1 << 20}, keys: 1 << 20, ops: 2_500_000, maxValue: 32})
		// From 16 keys past a million: 1.1M keys set first, then random
		// operations over them.
		cs = append(cs, modelCase{name: "grow1M", opts: Options{Capacity: 16, MaxCapacity: 1 << 21}, keys: 1_100_000, fill: 1_100_000, ops: 500_000, maxValue: 24, wantGrow: true})
	}
	return cs
}

// TestModel runs long random operation sequences against a plain Go map
// and compares every result and the final snapshot. Rerun a failure with
// -seed=<the logged seed>.
func TestModel(t *testing.T) {
	seed := *modelSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -seed=%d)", seed, seed)
	for _, c := range modelCases(testing.Short()) {
		t.Run(c.name, func(t *testing.T) {
			var tb *Table
			var err error
			if c.shm {
				name := fmt.Sprintf("shmdict-test-model-%d", os.Getpid())
				Remove(name)
				tb, err = Create(name, c.opts)
				t.Cleanup(func() { Remove(name) })
			} else {
				tb, err = New(c.opts)
			}
			if err != nil {
				t.Fatal(err)
			}
			defer tb.Close()
			runModel(t, tb, c, rand.New(rand.NewPCG(seed, uint64(len(c.name)))))
		})
	}
}

func runModel(t *testing.T, tb *Table, c modelCase, r *rand.Rand) {
	model := map[string]modelVal{}
	key := func() []byte {
		// A skewed pick so that some keys see many operations.
		i := r.IntN(c.keys)
		if r.IntN(2) == 0 {
			i = r.IntN(max(c.keys/16, 1))
		}
		return []byte(fmt.Sprintf("k%07d", i))
	}
	pool := make([]byte, 2*c.maxValue+64)
	for i := range pool {
		pool[i] = byte(r.Uint32())
	}
	value := func() []byte {
		n := r.IntN(c.maxValue + 1)
		if r.IntN(4) == 0 {
			n = r.IntN(min(c.maxValue, 24) + 1)
		}
		off := r.IntN(len(pool) - n + 1)
		v := make([]byte, n)
		copy(v, pool[off:])
		return v
	}
	for i := range c.fill {
		k := []byte(fmt.Sprintf("k%07d", i))
		v := value()
		if err := tb.Set(k, v); err != nil {
			t.Fatalf("fill: Set(%q): %v (%+v)", k, err, statsLine(tb.Stats()))
		}
		model[string(k)] = modelVal{b: v}
		if j := r.IntN(i + 1); r.IntN(8) == 0 {
			kj := []byte(fmt.Sprintf("k%07d", j))
			if got, err := tb.Get(kj); err != nil || !bytes.Equal(got, model[string(kj)].b) {
				t.Fatalf("fill: Get(%q) after %d keys = %q, %v; want %q", kj, i+1, got, err, model[string(kj)].b)
			}
		}
	}
	fulls := 0
	// full accepts ErrFull for an operation that needed space; the model
	// stays unchanged because the table must not have changed either.
	full := func(op string, err error) bool {
		if errors.Is(err, ErrFull) {
			fulls++
			return true
		}
		return false
	}
	check := func(op string, k []byte, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s(%q): unexpected error %v", op, k, err)
		}
	}
	for i := 0; i < c.ops; i++ {
		k := key()
		mv, present := model[string(k)]
		switch p := r.IntN(100); {
		case p < 30: // Get
			got, err := tb.Get(k)
			if !present {
				if !errors.Is(err, ErrNotFound) {
					t.Fatalf("op %d Get(%q) = %q, %v; want ErrNotFound", i, k, got, err)
				}
				continue
			}
			check("Get", k, err)
			if want := mv.bytes(); !bytes.Equal(want, got) {
				diff := cmp.Diff(want, got)
				t.Fatalf("op %d Get(%q) mismatch (-want +got):\n%s", i, k, diff)
			}
		case p < 55: // Set
			v := value()
			err := tb.Set(k, v)
			if full("Set", err) {
				continue
			}
			check("Set", k, err)
			model[string(k)] = modelVal{b: v}
		case p < 65: // Delete
			ok, err := tb.Delete(k)
			check("Delete", k, err)
			if ok != present {
				t.Fatalf("op %d Delete(%q) = %v, want %v", i, k, ok, present)
			}
			delete(model, string(k))
		case p < 80: // Add
			d := int64(r.IntN(21) - 10)
			n, err := tb.Add(k, d)
			if present && !mv.counter {
				if !errors.Is(err, ErrNotCounter) {
					t.Fatalf("op %d Add(%q) on bytes = %d, %v; want ErrNotCounter", i, k, n, err)
				}
				continue
			}
			if full("Add", err) {
				continue
			}
			check("Add", k, err)
			want := mv.n + d
			if n != want {
				t.Fatalf("op %d Add(%q, %d) = %d, want %d", i, k, d, n, want)
			}
			if present || d != 0 {
				model[string(k)] = modelVal{counter: true, n: want}
			}
		case p < 88: // CompareAndSwap, with a matching old value half the time
			old := value()
			if present && r.IntN(2) == 0 {
				old = mv.bytes()
			}
			nv := value()
			ok, err := tb.CompareAndSwap(k, old, nv)
			if full("CompareAndSwap", err) {
				continue
			}
			check("CompareAndSwap", k, err)
			want := present && string(old) == string(mv.bytes())
			if ok != want {
				t.Fatalf("op %d CompareAndSwap(%q) = %v, want %v", i, k, ok, want)
			}
			if ok {
				model[string(k)] = modelVal{b: nv}
			}
		case p < 91: // CompareAndDelete
			old := value()
			if present && r.IntN(2) == 0 {
				old = mv.bytes()
			}
			ok, err := tb.CompareAndDelete(k, old)
			check("CompareAndDelete", k, err)
			want := present && string(old) == string(mv.bytes())
			if ok != want {
				t.Fatalf("op %d CompareAndDelete(%q) = %v, want %v", i, k, ok, want)
			}
			if ok {
				delete(model, string(k))
			}
		case p < 97: // GetOrSet
			v := value()
			got, loaded, err := tb.GetOrSet(k, v)
			if full("GetOrSet", err) {
				continue
			}
			check("GetOrSet", k, err)
			if loaded != present {
				t.Fatalf("op %d GetOrSet(%q) loaded=%v, want %v", i, k, loaded, present)
			}
			want := v
			if present {
				want = mv.bytes()
			} else {
				model[string(k)] = modelVal{b: v}
			}
			if !bytes.Equal(want, got) {
				diff := cmp.Diff(want, got)
				t.Fatalf("op %d GetOrSet(%q) mismatch (-want +got):\n%s", i, k, diff)
			}
		case p < 99: // Contains and Len
			ok, err := tb.Contains(k)
			check("Contains", k, err)
			if ok != present {
				t.Fatalf("op %d Contains(%q) = %v, want %v", i, k, ok, present)
			}
			if n := tb.Len(); n != len(model) {
				t.Fatalf("op %d Len() = %d, want %d", i, n, len(model))
			}
		default:
			if r.IntN(c.ops/200+1) == 0 { // Clear, a few times per run
				if err := tb.Clear(); err != nil {
					t.Fatal(err)
				}
				clear(model)
			}
		}
	}
	compareSnapshot(t, tb, model)
	if c.wantFull && fulls == 0 {
		t.Errorf("the run never hit ErrFull; the case is meant to force it")
	}
	if st := tb.Stats(); c.wantGrow && st.Tiers < 2 {
		t.Errorf("the table never grew (%d tiers); the case is meant to make it", st.Tiers)
	}
	t.Logf("%d ops, %d keys at the end, %d ErrFull; %+v", c.ops, len(model), fulls, statsLine(tb.Stats()))
}

func compareSnapshot(t *testing.T, tb *Table, model map[string]modelVal) {
	t.Helper()
	want := map[string][]byte{}
	for k, v := range model {
		want[k] = v.bytes()
	}
	got := map[string][]byte{}
	for k, v := range tb.All() {
		if _, dup := got[string(k)]; dup {
			t.Fatalf("All yielded %q twice", k)
		}
		got[string(k)] = v
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("snapshot mismatch (-model +table):\n%s", diff)
	}
	if n := tb.Len(); n != len(model) {
		t.Fatalf("Len() = %d, want %d", n, len(model))
	}
	mustVerify(t, tb)
}

// mustVerify fails the test unless tb passes Verify with no leaked space
// (nothing crashed, so nothing may leak).
func mustVerify(t *testing.T, tb *Table) {
	t.Helper()
	rep, err := tb.Verify()
	if err != nil {
		t.Fatalf("Verify: %v\n%s", err, rep)
	}
	if rep.LeakedBytes != 0 {
		t.Fatalf("Verify: %d bytes leaked without a crash\n%s", rep.LeakedBytes, rep)
	}
}

func statsLine(s Stats) string {
	return fmt.Sprintf("keys=%d claimed=%d/%d tiers=%d/%d tombstones=%d arena used=%d free=%d of %d",
		s.Keys, s.ClaimedSlots, s.Capacity, s.Tiers, s.MaxTiers, s.Tombstones, s.ArenaUsed, s.ArenaFree, s.ArenaBytes)
}
