package table_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shmdict/shmdict/table"
)

// TestGrowVersionAfterMove: a key deleted in a tier that then closes, and
// set again, is claimed in the newest tier, whose slot's value word starts
// at version 0 (claim does not start it at a random point as takeSlot
// does for eviction tables). With the freed record of an earlier value
// recycled, the key can come back to a Version it had before: a Wait
// holding that Version then misses a delete and two sets.
func TestGrowVersionAfterMove(t *testing.T) {
	// Whether the record comes back depends on the key's slots (records
	// are freed to and taken from the slot's free-list shard): about one
	// key in ten does. Stop at the first.
	for i := range 200 {
		if versionAfterMove(t, fmt.Appendf(nil, "k%d", i)) {
			return
		}
	}
}

// versionAfterMove runs the scenario for key k in a new table and
// reports whether k's Version came back.
func versionAfterMove(t *testing.T, k []byte) bool {
	tb, err := table.New(table.Options{Capacity: 16, MaxCapacity: 1 << 12})
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	for _, v := range []string{"a", "b"} {
		if err := tb.Set(k, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	_, v0, err := tb.Lookup(k)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tb.Delete(k); err != nil {
		t.Fatal(err)
	}
	// Grow the table with keys whose records are of another size class.
	for i := 0; tb.Stats().Tiers < 2; i++ {
		if err := tb.Set(fmt.Appendf(nil, "filler-%d", i), []byte(strings.Repeat("f", 300))); err != nil {
			t.Fatal(err)
		}
	}
	// k again: first with a value of another size class (the claim in the
	// newest tier keeps that record as its key record), then with one
	// of b's size, which may get b's freed record back.
	if err := tb.Set(k, []byte(strings.Repeat("c", 100))); err != nil {
		t.Fatal(err)
	}
	if err := tb.Set(k, []byte("d")); err != nil {
		t.Fatal(err)
	}
	_, v1, err := tb.Lookup(k)
	if err != nil {
		t.Fatal(err)
	}
	if v1 == v0 {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		_, werr := tb.Wait(ctx, k, v0)
		t.Errorf("%s went b, deleted, c, d, and its Version is %#x again, as when it was b; Wait(since that Version) = %v", k, uint64(v1), werr)
		return true
	}
	return false
}
