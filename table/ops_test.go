package table

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"
)

// TestFailedInsertGivesBack inserts a key whose records do not fit in
// the arena (a 65,535-byte key: its key record fits, its value record,
// which repeats the key, does not) into fresh small tables: the write
// fails with ErrFull and leaves no claimed slot and no arena space behind
// (issue 12, item 8: the key record stayed tied to a deleted-key slot,
// Keys 0, Tombstones 1, 64% of the arena gone).
func TestFailedInsertGivesBack(t *testing.T) {
	big := bytes.Repeat([]byte{'k'}, MaxKeyLen)
	writes := []struct {
		name string
		do   func(tb *Table, key []byte) error
	}{
		{"Set", func(tb *Table, key []byte) error { return tb.Set(key, []byte("v")) }},
		{"SetWithTTL", func(tb *Table, key []byte) error { return tb.SetWithTTL(key, []byte("v"), time.Hour) }},
		{"SetIfAbsent", func(tb *Table, key []byte) error { _, err := tb.SetIfAbsent(key, []byte("v")); return err }},
		{"GetOrSet", func(tb *Table, key []byte) error { _, _, err := tb.GetOrSet(key, []byte("v")); return err }},
	}
	sawFull := false
	for _, arenaBytes := range []int64{0, 100 << 10, 140 << 10, 200 << 10} {
		for _, w := range writes {
			t.Run(fmt.Sprintf("%s/arena=%d", w.name, arenaBytes), func(t *testing.T) {
				tb, err := New(Options{Capacity: 10, ArenaBytes: arenaBytes})
				if err != nil {
					t.Fatal(err)
				}
				defer tb.Close()
				before := tb.Stats()
				for i := 0; i < 3; i++ { // a retry must not take more
					err = w.do(tb, big)
					if err == nil {
						return // it fit: nothing to give back
					}
					if !errors.Is(err, ErrFull) {
						t.Fatalf("%s of a %d-byte key = %v, want ErrFull", w.name, len(big), err)
					}
					sawFull = true
					st := tb.Stats()
					if st.Keys != 0 || st.ClaimedSlots != 0 || st.Tombstones != 0 || st.ArenaUsed != before.ArenaUsed {
						t.Fatalf("after a failed %s (try %d): Keys %d, ClaimedSlots %d, Tombstones %d, ArenaUsed %d; want 0, 0, 0, %d",
							w.name, i, st.Keys, st.ClaimedSlots, st.Tombstones, st.ArenaUsed, before.ArenaUsed)
					}
				}
				if rep, err := tb.Verify(); err != nil {
					t.Fatalf("Verify: %v (%+v)", err, rep)
				}
				// The table still takes keys, in the slot the failed write
				// did not keep.
				if err := tb.Set([]byte("small"), []byte("v")); err != nil {
					t.Fatalf("Set after the failed write: %v", err)
				}
				if st := tb.Stats(); st.Keys != 1 || st.ClaimedSlots != 1 {
					t.Fatalf("after one more Set: Keys %d, ClaimedSlots %d; want 1, 1", st.Keys, st.ClaimedSlots)
				}
			})
		}
	}
	if !sawFull {
		t.Fatal("no write failed with ErrFull: the sizes no longer exercise a failed insert")
	}
}
