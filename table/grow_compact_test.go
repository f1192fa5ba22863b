package table_test

import (
	"fmt"
	"testing"

	"github.com/shmdict/shmdict/table"
)

// TestGrowCompact: Compact of a table that has grown (CompactOptions
// left at their defaults) keeps its keys and its growth.
func TestGrowCompactKeeps(t *testing.T) {
	name := segName(t, "")
	tb := mustCreate(t, name, table.Options{Capacity: 16, MaxCapacity: 1 << 12})
	const n = 200
	for i := range n {
		if err := tb.Set(fmt.Appendf(nil, "k%d", i), fmt.Appendf(nil, "v%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	before := tb.Stats()
	tb.Close()
	rep, err := table.Compact(name, table.CompactOptions{})
	if err != nil {
		t.Fatalf("Compact of a grown table (%d keys, %d tiers, capacity %d of MaxCapacity %d): %v", n, before.Tiers, before.Capacity, before.MaxCapacity, err)
	}
	nt, err := table.Attach(name)
	if err != nil {
		t.Fatal(err)
	}
	defer nt.Close()
	st := nt.Stats()
	t.Logf("compacted: %+v; now %d keys, capacity %d, MaxCapacity %d, format %d", rep, st.Keys, st.Capacity, st.MaxCapacity, st.FormatVersion)
	if nt.Len() != n {
		t.Errorf("Len() after Compact = %d, want %d", nt.Len(), n)
	}
	if st.MaxCapacity < before.MaxCapacity {
		t.Errorf("Compact turned a table that could grow to %d keys into one of MaxCapacity %d (format %d)", before.MaxCapacity, st.MaxCapacity, st.FormatVersion)
	}
	// It can still take keys up to its old MaxCapacity.
	for i := n; i < 2000; i++ {
		if err := nt.Set(fmt.Appendf(nil, "k%d", i), []byte("v")); err != nil {
			t.Fatalf("Set of key %d after Compact: %v", i, err)
		}
	}
}
