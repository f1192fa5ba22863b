package table

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestInspectOptionsRoundTrip: for tables made with various Options, what
// Inspect and OptionsOf read back from the file is what Options.Resolved
// says the table has, and creating with those Options again gives the
// same shape.
func TestInspectOptionsRoundTrip(t *testing.T) {
	cases := []Options{
		{Capacity: 100},
		{Capacity: 1000, ArenaBytes: 1 << 20, MaxProcesses: 8},
		{Capacity: 5000, EventRing: 100, AdderLanes: 3},
		{Capacity: 300, Eviction: EvictCLOCK},
		{Capacity: 16, MaxCapacity: 1 << 12},
		{Capacity: 100, MaxCapacity: 100}, // within the first tier: a fixed table
		{Capacity: 1000, MaxCapacity: 3000, AdderLanes: 2},
	}
	for i, o := range cases {
		path := t.TempDir() + "/t"
		tb, err := Create(path, o)
		if err != nil {
			t.Fatalf("case %d: Create: %v", i, err)
		}
		tb.Close()
		in, err := Inspect(path)
		if err != nil || in.Err != nil {
			t.Fatalf("case %d: Inspect: %v, %v", i, err, in.Err)
		}
		got := OptionsOf(in)
		want, err := o.Resolved()
		if err != nil {
			t.Fatalf("case %d: Resolved: %v", i, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("case %d: OptionsOf(Inspect) differs from Resolved (-want +got):\n%s", i, diff)
		}
		path2 := t.TempDir() + "/t"
		tb2, err := Create(path2, got)
		if err != nil {
			t.Fatalf("case %d: Create with OptionsOf: %v", i, err)
		}
		tb2.Close()
		in2, err := Inspect(path2)
		if err != nil {
			t.Fatal(err)
		}
		l1, l2 := in.Layout, in2.Layout
		l1.Seed, l1.CreatedNano, l2.Seed, l2.CreatedNano = 0, 0, 0, 0
		if diff := cmp.Diff(l1, l2); diff != "" {
			t.Errorf("case %d: a table created with OptionsOf has another layout (-first +second):\n%s", i, diff)
		}
	}
	if _, err := Inspect(t.TempDir() + "/none"); !errors.Is(err, ErrNotExist) {
		t.Errorf("Inspect of a missing table: %v, want ErrNotExist", err)
	}
}
