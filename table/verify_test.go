package table

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/shmdict/shmdict/arena"
	"github.com/shmdict/shmdict/segment"
)

// filledHeap returns a heap table with n keys, some counters, some
// deleted keys and overwritten values (so free lists are not empty).
func filledHeap(t *testing.T, n int) *Table {
	t.Helper()
	tb, err := New(Options{Capacity: 2 * n})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		k := []byte(fmt.Sprintf("key%05d", i))
		if err := tb.Set(k, []byte(fmt.Sprintf("value-%d", i))); err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 {
			tb.Set(k, []byte(strings.Repeat("x", i%50)))
		}
		if i%7 == 0 {
			tb.Delete(k)
		}
		if i%5 == 0 {
			tb.Add([]byte(fmt.Sprintf("ctr%05d", i)), int64(i))
		}
	}
	return tb
}

// repairHeap repairs a heap table (which has no name to pass to Repair).
func repairHeap(t *testing.T, tb *Table) Report {
	t.Helper()
	rep, err := tb.Repair()
	if err != nil {
		t.Fatalf("repair: %v", err)
	}
	return rep
}

// TestRepairMethodRefusesFiles: Table.Repair is for heap tables; a
// segment file must be repaired by name, under the exclusive lock.
func TestRepairMethodRefusesFiles(t *testing.T) {
	tb, err := Create(t.TempDir()+"/seg", Options{Capacity: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	if _, err := tb.Repair(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Repair of a file-backed table: %v, want ErrInvalid", err)
	}
	tb.Close()
	if _, err := tb.Repair(); !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrClosed) {
		t.Fatalf("Repair of a closed table: %v", err)
	}
}

func wantProblem(t *testing.T, tb *Table, substr string) {
	t.Helper()
	rep, err := tb.Verify()
	if err == nil {
		t.Fatalf("Verify passed; want a problem containing %q\n%s", substr, rep)
	}
	for _, p := range rep.Problems {
		if strings.Contains(p, substr) {
			return
		}
	}
	t.Fatalf("no problem contains %q\n%s", substr, rep)
}

func snapshot(tb *Table) map[string]string {
	m := map[string]string{}
	for k, v := range tb.All() {
		m[string(k)] = string(v)
	}
	return m
}

func TestVerifyClean(t *testing.T) {
	tb := filledHeap(t, 500)
	rep, err := tb.Verify()
	if err != nil || !rep.OK() {
		t.Fatalf("Verify: %v\n%s", err, rep)
	}
	if rep.Keys != tb.Len() || rep.FreeBlocks == 0 || rep.Counters == 0 || rep.Tombstones == 0 {
		t.Fatalf("report does not describe the table (Len %d):\n%s", tb.Len(), rep)
	}
}

func TestVerifyLeakRepaired(t *testing.T) {
	tb := filledHeap(t, 200)
	// A writer killed between allocating and publishing leaves this.
	u, err := tb.ar.Alloc(arena.ClassFor(40), 0)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := tb.Verify()
	if err != nil {
		t.Fatalf("a leak is not a broken invariant: %v", err)
	}
	if want := arena.ClassUnits(arena.ClassFor(40)) * arena.Unit; rep.LeakedBytes != want {
		t.Fatalf("LeakedBytes = %d, want %d (unit %d)", rep.LeakedBytes, want, u)
	}
	before := snapshot(tb)
	repairHeap(t, tb)
	mustVerify(t, tb)
	if after := snapshot(tb); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatal("Repair changed the data")
	}
}

func TestVerifyCountersRepaired(t *testing.T) {
	tb := filledHeap(t, 200)
	tb.addLen(3, 5)
	tb.mem.Add64(segment.OffClaimed, 2)
	wantProblem(t, tb, "Len counters")
	wantProblem(t, tb, "claimed-slot counter")
	rep := repairHeap(t, tb)
	if len(rep.Fixed) < 2 {
		t.Fatalf("Fixed = %q", rep.Fixed)
	}
	mustVerify(t, tb)
}

func TestVerifyFreeListCycleRepaired(t *testing.T) {
	tb := filledHeap(t, 200)
	// Find a non-empty free list and make its head block point to itself.
	found := false
	for shard := 0; shard < segment.FreeShards && !found; shard++ {
		for c := 0; c < arena.NumClasses && !found; c++ {
			off := uint64(segment.OffFreeShards + shard*segment.ShardStride + segment.ShardHeadsOff + c*8)
			if u := tb.mem.Load64(off) & 0xFFFFFFFF; u != 0 {
				tb.mem.Store64(tb.ar.Off(uint32(u))+8, u)
				found = true
			}
		}
	}
	if !found {
		t.Fatal("no free block to corrupt")
	}
	wantProblem(t, tb, "cycle")
	repairHeap(t, tb)
	mustVerify(t, tb)
	for i := range 300 { // the rebuilt lists serve allocations
		if err := tb.Set([]byte(fmt.Sprintf("new%d", i)), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	mustVerify(t, tb)
}

func TestVerifyBadRecordsRepaired(t *testing.T) {
	tb := filledHeap(t, 200)
	k := []byte("key00001")
	slot, _, ok, err := tb.find(k, hash64(k, tb.seed))
	if err != nil || !ok {
		t.Fatal("key00001 missing", err)
	}
	// A value word pointing at another slot's record: wrong key, overlap.
	k2 := []byte("key00002")
	slot2, _, _, _ := tb.find(k2, hash64(k2, tb.seed))
	tb.mem.Store64(tb.valueWordOff(slot), tb.mem.Load64(tb.valueWordOff(slot2)))
	wantProblem(t, tb, "carries another key")
	// A key record with a smashed header.
	k3 := []byte("key00004")
	slot3, _, _, _ := tb.find(k3, hash64(k3, tb.seed))
	tb.mem.Store64(tb.ar.Off(unitOf(tb.mem.Load64(tb.slotOff(slot3)))), 0xdeadbeef)
	wantProblem(t, tb, "key record")
	rep := repairHeap(t, tb)
	t.Logf("repair:\n%s", rep)
	mustVerify(t, tb)
	if _, err := tb.Get(k); err != ErrNotFound {
		t.Fatalf("Get(dropped value) = %v, want ErrNotFound", err)
	}
	if v, err := tb.Get(k2); err != nil || string(v) != "value-2" {
		t.Fatalf("Get(%s) = %q, %v", k2, v, err)
	}
	// Keys still work around the retired slot.
	if err := tb.Set(k3, []byte("again")); err != nil {
		t.Fatal(err)
	}
	if v, err := tb.Get(k3); err != nil || string(v) != "again" {
		t.Fatalf("Get(%s) after re-insert = %q, %v", k3, v, err)
	}
	mustVerify(t, tb)
}

// TestVerifyDeadSlotValueRepaired: in an eviction table a claim changes
// only the key word, so the next key to claim a dead slot inherits its
// value word. Damage that leaves a value there (FuzzFlipEvict found one:
// a flipped bit made a dead slot's value word name unit 48) must be a
// problem for Verify, and Repair must empty the word; before, both passed
// it, and the next key to claim the slot got another key's record as its
// value (Add said ErrNotCounter, a Set freed the other key's record).
func TestVerifyDeadSlotValueRepaired(t *testing.T) {
	tb, err := New(Options{Capacity: 12, Eviction: EvictCLOCK})
	if err != nil {
		t.Fatal(err)
	}
	if err := tb.Set([]byte("gone"), []byte("old value")); err != nil {
		t.Fatal(err)
	}
	if err := tb.Set([]byte("other"), []byte("other's value")); err != nil {
		t.Fatal(err)
	}
	k := []byte("other")
	otherSlot, _, ok, err := tb.find(k, hash64(k, tb.seed))
	if err != nil || !ok {
		t.Fatal("other missing", err)
	}
	k = []byte("gone")
	dead, _, _, _ := tb.find(k, hash64(k, tb.seed))
	if ok, err := tb.Delete(k); !ok || err != nil {
		t.Fatalf("Delete: %v, %v", ok, err)
	}
	deadW0 := tb.mem.Load64(tb.slotOff(dead))
	if deadW0 != tb.deadFor(deadW0) {
		t.Fatalf("deleted key's slot has key word %#x, want dead", deadW0)
	}
	// The damage: the dead slot's value word names other's record.
	tb.mem.Store64(tb.valueWordOff(dead), tb.mem.Load64(tb.valueWordOff(otherSlot)))
	wantProblem(t, tb, "is free or a pending claim")
	repairHeap(t, tb)
	mustVerify(t, tb)

	// New keys claim the dead slot (it is the first free one on the path
	// of any key homed in its group) and start from nothing.
	// Only keys homed in that group are added: others would fill the
	// 12-key table, and eviction would then take "other" (about one run
	// in 200 before).
	for i := 0; tb.mem.Load64(tb.slotOff(dead)) == deadW0; i++ {
		if i == 100000 {
			t.Fatal("no new key claimed the dead slot")
		}
		nk := fmt.Appendf(nil, "new-%d", i)
		if hash64(nk, tb.seed)&(tb.groups-1) != dead/segment.GroupSlots {
			continue
		}
		if n, err := tb.Add(nk, 5); err != nil || n != 5 {
			t.Fatalf("Add(%s, 5) = %d, %v", nk, n, err)
		}
	}
	if v, err := tb.Get([]byte("other")); err != nil || string(v) != "other's value" {
		t.Fatalf("Get(other) = %q, %v", v, err)
	}
	mustVerify(t, tb)
}

// TestRepairClearsReplacedMark: a replaced mark in the table that Repair
// reaches (by name, or a heap copy) is damage: Compact marks only the copy
// it took the name from. FuzzFlipEvict found a flip that set it; Repair
// left it, so every write after Repair failed with ErrReplaced for good.
func TestRepairClearsReplacedMark(t *testing.T) {
	check := func(t *testing.T, tb *Table, repair func() (Report, error)) {
		t.Helper()
		if err := tb.Set([]byte("k"), []byte("v")); err != nil {
			t.Fatal(err)
		}
		tb.mem.Store64(segment.OffReplaced, 1)
		if err := tb.Set([]byte("k"), []byte("w")); !errors.Is(err, ErrReplaced) {
			t.Fatalf("Set with the mark: %v, want ErrReplaced", err)
		}
		rep, err := repair()
		if err != nil {
			t.Fatalf("Repair: %v\n%s", err, rep)
		}
		if err := tb.Set([]byte("k"), []byte("w")); err != nil {
			t.Fatalf("Set after Repair: %v (Repair report:\n%s)", err, rep)
		}
		if v, err := tb.Get([]byte("k")); err != nil || string(v) != "w" {
			t.Fatalf("Get after Repair = %q, %v", v, err)
		}
	}
	t.Run("heap", func(t *testing.T) {
		tb, err := New(Options{Capacity: 16})
		if err != nil {
			t.Fatal(err)
		}
		check(t, tb, tb.Repair)
	})
	t.Run("file", func(t *testing.T) {
		path := t.TempDir() + "/seg"
		tb, err := Create(path, Options{Capacity: 16})
		if err != nil {
			t.Fatal(err)
		}
		defer tb.Close()
		check(t, tb, func() (Report, error) { return Repair(path, true) })
	})
}
