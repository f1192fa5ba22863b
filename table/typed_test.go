package table

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func roundTrip[K, V any](t *testing.T, m *Map[K, V], k K, v V, opts ...cmp.Option) {
	t.Helper()
	if err := m.Set(k, v); err != nil {
		t.Fatalf("Set(%v): %v", k, err)
	}
	got, err := m.Get(k)
	if err != nil {
		t.Fatalf("Get(%v): %v", k, err)
	}
	if diff := cmp.Diff(v, got, opts...); diff != "" {
		t.Fatalf("round trip of %v (-set +got):\n%s", k, diff)
	}
}

func TestTypedRoundTrips(t *testing.T) {
	tb, err := New(Options{Capacity: 256, ArenaBytes: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	ints := NewMap(tb, String{}, Int64{})
	for _, v := range []int64{0, 1, -1, math.MaxInt64, math.MinInt64} {
		roundTrip(t, ints, "i", v)
	}
	uints := NewMap(tb, String{}, Uint64{})
	for _, v := range []uint64{0, 1, math.MaxUint64} {
		roundTrip(t, uints, "u", v)
	}
	floats := NewMap(tb, Int64{}, Float64{})
	for _, v := range []float64{0, math.Copysign(0, -1), math.Inf(1), math.Inf(-1), math.SmallestNonzeroFloat64, math.MaxFloat64, 1.5} {
		roundTrip(t, floats, 7, v)
		got, _ := floats.Get(7)
		if math.Float64bits(got) != math.Float64bits(v) {
			t.Errorf("float bits of %v changed", v)
		}
	}
	floats.Set(8, math.NaN())
	if got, err := floats.Get(8); err != nil || !math.IsNaN(got) {
		t.Errorf("NaN round trip: %v, %v", got, err)
	}
	bools := NewMap(tb, Uint64{}, Bool{})
	roundTrip(t, bools, 1, true)
	roundTrip(t, bools, 1, false)
	strs := NewMap(tb, String{}, String{})
	roundTrip(t, strs, "", "")
	roundTrip(t, strs, "unicode ключ", "значение ✓")
	roundTrip(t, strs, strings.Repeat("k", MaxKeyLen), strings.Repeat("v", 100_000))
	raw := NewMap(tb, Bytes{}, Bytes{})
	roundTrip(t, raw, []byte{0, 255}, []byte{})
	roundTrip(t, raw, []byte("big"), make([]byte, 1<<20))
	type rec struct {
		Name string
		Tags []string
		N    float64
	}
	js := NewMap(tb, String{}, JSON[rec]{})
	roundTrip(t, js, "j", rec{Name: "a", Tags: []string{"x", "y"}, N: 2.5})
	roundTrip(t, js, "j0", rec{})
	gb := NewMap(tb, String{}, Gob[map[string][]int]{})
	roundTrip(t, gb, "g", map[string][]int{"a": {1, 2}, "b": nil}, cmp.Comparer(func(a, b []int) bool { return cmp.Equal(a, b) || len(a) == 0 && len(b) == 0 }))

	// Counters made by Add read back through Int64.
	tb.Add([]byte("hits"), 41)
	tb.Add([]byte("hits"), 1)
	if n, err := ints.Get("hits"); err != nil || n != 42 {
		t.Errorf("counter through Int64: %d, %v", n, err)
	}
	// GetOrSet, Delete, All.
	if v, loaded, err := strs.GetOrSet("new", "first"); err != nil || loaded || v != "first" {
		t.Errorf("GetOrSet on absent: %q %v %v", v, loaded, err)
	}
	if v, loaded, err := strs.GetOrSet("new", "second"); err != nil || !loaded || v != "first" {
		t.Errorf("GetOrSet on present: %q %v %v", v, loaded, err)
	}
	if ok, err := strs.Delete("new"); !ok || err != nil {
		t.Errorf("Delete: %v %v", ok, err)
	}
	if _, err := strs.Get("new"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after Delete: %v", err)
	}
	n := 0
	for k, v := range ints.All() { // only 8-byte values decode as int64
		_, _ = k, v
		n++
	}
	if n == 0 {
		t.Error("Map.All yielded nothing")
	}
}

func TestTypedErrors(t *testing.T) {
	tb, err := New(Options{Capacity: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	tb.Set([]byte("short"), []byte{1, 2, 3})
	ints := NewMap(tb, String{}, Int64{})
	_, err = ints.Get("short")
	var ce *CodecError
	if !errors.Is(err, ErrDecode) || !errors.As(err, &ce) || string(ce.Key) != "short" {
		t.Errorf("Int64 decode of 3 bytes: %v", err)
	}
	bools := NewMap(tb, String{}, Bool{})
	tb.Set([]byte("b"), []byte{7})
	if _, err := bools.Get("b"); !errors.Is(err, ErrDecode) {
		t.Errorf("Bool decode of 7: %v", err)
	}
	js := NewMap(tb, String{}, JSON[any]{})
	if err := js.Set("bad", make(chan int)); !errors.Is(err, ErrEncode) {
		t.Errorf("JSON encode of a channel: %v", err)
	}
	if _, err := tb.Get([]byte("bad")); !errors.Is(err, ErrNotFound) {
		t.Errorf("a failed encode stored something: %v", err)
	}
	gb := NewMap(tb, String{}, Gob[[]int]{})
	tb.Set([]byte("g"), []byte("definitely not gob"))
	if _, err := gb.Get("g"); !errors.Is(err, ErrDecode) {
		t.Errorf("Gob decode of garbage: %v", err)
	}
	if !strings.HasPrefix(err.Error(), "shmdict:") {
		t.Errorf("message %q", err)
	}
}

func TestTypedNumericAllocs(t *testing.T) {
	tb, err := New(Options{Capacity: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	m := NewMap(tb, Int64{}, Float64{})
	m.Set(1, 2.5)
	if n := testing.AllocsPerRun(200, func() { m.Set(1, 3.5) }); n != 0 {
		t.Errorf("Map[int64,float64].Set allocates %.1f times", n)
	}
	if n := testing.AllocsPerRun(200, func() { m.Get(1) }); n != 0 {
		t.Errorf("Map[int64,float64].Get allocates %.1f times", n)
	}
}
