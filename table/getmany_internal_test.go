package table

import (
	"fmt"
	"testing"
)

// TestGetManyTouch: in an evicting table GetMany sets the CLOCK reference
// bit of every key it finds, on the fast path (plain values) and on the
// general one (counters), as AppendGet does, and of no other key.
func TestGetManyTouch(t *testing.T) {
	tb := newEvicting(t, Options{Capacity: 200})
	var keys [][]byte
	for i := range 100 {
		k := fmt.Appendf(nil, "key-%d", i)
		keys = append(keys, k)
		var err error
		if i%3 == 0 {
			_, err = tb.Add(k, 1)
		} else {
			err = tb.Set(k, fmt.Appendf(nil, "value-%d", i))
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	for w := uint64(0); w < (tb.seg.Layout.Slots+31)/32; w++ {
		tb.mem.And32(tb.refOff+w*4, 0)
	}
	read := keys[:60]
	vals := make([][]byte, len(read))
	found := make([]bool, len(read))
	if err := tb.GetMany(read, vals, found); err != nil {
		t.Fatal(err)
	}
	for i, k := range keys {
		slot, _, ok, err := tb.find(k, hash64(k, tb.seed))
		if err != nil || !ok {
			t.Fatalf("key %q lost: %v", k, err)
		}
		if want := i < len(read); refBit(tb, slot) != want {
			t.Errorf("key %q (slot %d, read %v): reference bit %v", k, slot, want, !want)
		}
	}
}
