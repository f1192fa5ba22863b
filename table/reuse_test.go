package table

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/shmdict/shmdict/segment"
)

// Regression tests for the slot-reuse defects of issue 12 (items 1, 3 and
// 7): each builds the state the issue describes, or replays its
// interleaving with test hooks, and failed on the code before its fix.

// keyHomedAt returns a key, prefix followed by a number, whose first probe
// group is g and whose hash satisfies ok (nil: any).
func keyHomedAt(tb *Table, g uint64, prefix string, ok func(h uint64) bool) []byte {
	for i := 0; ; i++ {
		k := []byte(fmt.Sprintf("%s%d", prefix, i))
		h := hash64(k, tb.seed)
		if h&(tb.groups-1) == g && (ok == nil || ok(h)) {
			return k
		}
	}
}

// plantClaim leaves slot as a writer killed right after publishing its
// claim leaves it: a live key word for a key homed at the slot's group,
// no value, and one reservation taken.
func plantClaim(t *testing.T, tb *Table, slot uint64) {
	t.Helper()
	key := keyHomedAt(tb, slot/segment.GroupSlots, fmt.Sprintf("orphan%d-", slot), nil)
	u, err := tb.writeRecord(nil, 0, key, shardOf(slot))
	if err != nil {
		t.Fatal(err)
	}
	if !tb.mem.CAS64(tb.slotOff(slot), 0, keyWord(tagOf(hash64(key, tb.seed)), u)) {
		t.Fatalf("slot %d is not empty", slot)
	}
	tb.mem.Add64(segment.OffClaimed, 1)
}

// refBit reports slot's CLOCK reference bit.
func refBit(tb *Table, slot uint64) bool {
	return tb.mem.Load32(tb.refOff+slot/32*4)&(1<<(slot%32)) != 0
}

// checkSetStuck fails unless a Set of key that returned err left key
// readable with value (err nil) or reported ErrFull.
func checkSetStuck(t *testing.T, tb *Table, key, value []byte, err error) bool {
	t.Helper()
	if err != nil {
		if !errors.Is(err, ErrFull) {
			t.Fatalf("Set(%q): %v", key, err)
		}
		return false
	}
	got, gerr := tb.Get(key)
	if gerr != nil || string(got) != string(value) {
		t.Fatalf("Set(%q) returned nil, then Get = %q, %v (the write was lost)", key, got, gerr)
	}
	return true
}

// TestEvictClaimAfterValuelessClaims is issue 12's item 1: a table whose
// whole claim budget is held by claims without a value (writers killed
// after publishing their claim), and a Set of a key homed in the one group
// left. The Set must store the key or fail; it must not return nil having
// written into a slot it never claimed, which a later claim of that slot
// then finds as its own value.
func TestEvictClaimAfterValuelessClaims(t *testing.T) {
	tb := newEvicting(t, Options{Capacity: 12})
	if tb.seg.Layout.Slots != 16 || tb.budget != 12 {
		t.Fatalf("layout: %d slots, budget %d", tb.seg.Layout.Slots, tb.budget)
	}
	for s := uint64(4); s < 16; s++ { // groups 1-3
		plantClaim(t, tb, s)
	}
	k := keyHomedAt(tb, 0, "k", nil)
	stored := false
	for try := 0; try < 3 && !stored; try++ {
		stored = checkSetStuck(t, tb, k, []byte("v"), tb.Set(k, []byte("v")))
	}
	if !stored {
		t.Fatal("Set never succeeded although the hand had retired the abandoned claims")
	}
	k3 := keyHomedAt(tb, 0, "other", nil)
	if ok, err := tb.SetIfAbsent(k3, []byte("v3")); err != nil || !ok {
		t.Fatalf("SetIfAbsent(%q) = %v, %v: it found a value that was never its own", k3, ok, err)
	}
	for _, kv := range [][2]string{{string(k), "v"}, {string(k3), "v3"}} {
		if got, err := tb.Get([]byte(kv[0])); err != nil || string(got) != kv[1] {
			t.Fatalf("Get(%q) = %q, %v, want %q", kv[0], got, err, kv[1])
		}
	}
	if n := tb.Len(); n != 2 {
		t.Fatalf("Len = %d, want 2", n)
	}
}

// TestEvictClaimGiveUpTakesNoSlot: a claim that gives up for want of a
// reservation must report ErrFull even if a reservation became free just
// then (another process deleted a key, replayed by the hook): building
// the error must not take a reservation and hand out slot 0.
func TestEvictClaimGiveUpTakesNoSlot(t *testing.T) {
	tb := newEvicting(t, Options{Capacity: 12})
	for s := uint64(4); s < 16; s++ {
		plantClaim(t, tb, s)
	}
	hooked := 0
	testHookClaimFull = func() {
		hooked++
		if hooked == 1 {
			w0 := tb.mem.Load64(tb.slotOff(4))
			if !tb.retireKey(4, w0, tb.mem.Load64(tb.valueWordOff(4))) {
				t.Error("could not retire slot 4")
			}
		}
	}
	defer func() { testHookClaimFull = nil }()
	k := keyHomedAt(tb, 0, "k", nil)
	err := tb.Set(k, []byte("v"))
	checkSetStuck(t, tb, k, []byte("v"), err)
	if hooked == 0 {
		t.Fatalf("the claim never gave up (Set: %v): the interleaving did not happen", err)
	}
	if w0 := tb.mem.Load64(tb.slotOff(0)); w0 == 0 && tb.mem.Load64(tb.valueWordOff(0)) != 0 {
		t.Fatalf("slot 0 is empty but has value word %#x", tb.mem.Load64(tb.valueWordOff(0)))
	}
}

// TestEvictSparesFreshClaims is issue 12's item 7 (third point): one call
// of evict must not both mark and kill a claim in flight, which in a
// table of up to 64 slots it did (the hand passed every slot twice), nor
// kill a fresh claim because the slot's previous key had its reference
// bit set.
func TestEvictSparesFreshClaims(t *testing.T) {
	t.Run("planted", func(t *testing.T) {
		tb := newEvicting(t, Options{Capacity: 12})
		plantClaim(t, tb, 6) // claimed, value not stored yet
		pk := keyHomedAt(tb, 1, "pending", nil)
		u, err := tb.writeRecord(nil, 0, pk, 5)
		if err != nil {
			t.Fatal(err)
		}
		pw := pendingWord(tagOf(hash64(pk, tb.seed)), u)
		tb.mem.Store64(tb.slotOff(5), pw)
		w6 := tb.mem.Load64(tb.slotOff(6))
		tb.evict(evictBatch, 0)
		if w := tb.mem.Load64(tb.slotOff(5)); w != pw {
			t.Fatalf("one evict call killed a pending claim it had not seen before (word %#x)", w)
		}
		if w := tb.mem.Load64(tb.slotOff(6)); w != w6 {
			t.Fatalf("one evict call retired a claim without a value that it had not seen before (word %#x)", w)
		}
		// A later call (a whole turn later) does reclaim them.
		tb.evict(evictBatch, 0)
		if tb.mem.Load64(tb.slotOff(5)) == pw || tb.mem.Load64(tb.slotOff(6)) == w6 {
			t.Fatal("abandoned claims survived a second turn of the hand")
		}
	})
	t.Run("stale-bit", func(t *testing.T) {
		tb := newEvicting(t, Options{Capacity: 12})
		k := keyHomedAt(tb, 2, "k", nil)
		for s := uint64(0); s < 16; s++ { // read by earlier tenants
			tb.mem.Or32(tb.refOff+s/32*4, 1<<(s%32))
		}
		var killed []string
		calls := 0
		testHookBeforePromote = func() {
			if calls++; calls > 1 {
				return // once: the old code killed every retry the same way
			}
			slot := uint64(8)
			before := tb.mem.Load64(tb.slotOff(slot))
			tb.evict(evictBatch, 0)
			if after := tb.mem.Load64(tb.slotOff(slot)); isPending(before) && after != before {
				killed = append(killed, fmt.Sprintf("%#x -> %#x", before, after))
			}
		}
		defer func() { testHookBeforePromote = nil }()
		if err := tb.Set(k, []byte("v")); err != nil {
			t.Fatal(err)
		}
		if len(killed) != 0 {
			t.Fatalf("evict killed the fresh pending claim of slot 8 at first sight: %v", killed)
		}
	})
}

// TestEvictOversizedKeepsClock is issue 12's item 7 (second point): a Set
// of a value that no eviction can make room for must cost bounded work and
// leave the reference bits of keys it could not use alone (the old code
// scanned twice the slot count and cleared every bit, per failed Set).
func TestEvictOversizedKeepsClock(t *testing.T) {
	tb := newEvicting(t, Options{Capacity: 3000, ArenaBytes: 64 << 10})
	for i := range 2000 {
		if err := tb.Set([]byte(fmt.Sprintf("key%05d", i)), make([]byte, 40)); err != nil {
			t.Fatal(err)
		}
	}
	var hot [][]byte
	for i := 1900; i < 2000; i++ {
		k := []byte(fmt.Sprintf("key%05d", i))
		if _, err := tb.Get(k); err == nil {
			hot = append(hot, k)
		}
	}
	if len(hot) < 50 {
		t.Fatalf("only %d of the last 100 keys are present", len(hot))
	}
	hand := tb.mem.Load64(segment.OffClockHand)
	for range 3 {
		if err := tb.Set([]byte("big"), make([]byte, 6000)); !errors.Is(err, ErrFull) {
			t.Fatalf("Set of a 6000-byte value into a full 64 KiB arena of small records: %v", err)
		}
	}
	moved := tb.mem.Load64(segment.OffClockHand) - hand
	if bound := 3 * uint64(evictScanLimit+32); moved > bound {
		t.Fatalf("3 failed Sets moved the hand %d slots (table of %d), want at most %d", moved, tb.seg.Layout.Slots, bound)
	}
	for _, k := range hot {
		slot, _, ok, err := tb.find(k, hash64(k, tb.seed))
		if err != nil || !ok {
			t.Fatalf("hot key %q lost: %v", k, err)
		}
		if !refBit(tb, slot) {
			t.Fatalf("hot key %q (slot %d) lost its reference bit to Sets that could not use its space", k, slot)
		}
	}
}

// TestEvictKeyWordABA is issue 12's item 3: key K is matched, then
// retired, and key K2, with the same tag and first group, claims the same
// slot and gets K's freed key-record unit back. Without a claim
// generation K2's key word equals K's, and an operation on K that matched
// before the swap accepts K2's state: Get(K) returned K2's counter and
// Add(K, 1) incremented it.
func TestEvictKeyWordABA(t *testing.T) {
	tb := newEvicting(t, Options{Capacity: 12})
	// Birthday search for two keys with one tag, first group 0 and free-
	// list shard 0 (a key in slot 0 frees its record to shard 0, and a
	// claim takes its key record from shard h mod 8).
	shard0 := func(h uint64) bool { return h%segment.FreeShards == 0 }
	byTag := map[uint64][]byte{}
	var k, k2 []byte
	for i := 0; k2 == nil; i++ {
		c := []byte(fmt.Sprintf("c%07d", i))
		h := hash64(c, tb.seed)
		if !shard0(h) {
			continue
		}
		if o, ok := byTag[tagOf(h)]; ok {
			k, k2 = o, c
		}
		byTag[tagOf(h)] = c
	}
	tagMatches := 0
	for _, op := range []string{"get", "add"} {
		t.Run(op, func(t *testing.T) {
			tb.Delete(k)
			tb.Delete(k2)
			if _, err := tb.Add(k, 5); err != nil {
				t.Fatal(err)
			}
			slot, sn, ok, err := tb.find(k, hash64(k, tb.seed))
			if err != nil || !ok || slot != 0 {
				t.Fatalf("k is in slot %d (%v, %v), want 0", slot, ok, err)
			}
			busy, fired := false, false
			var kw2 uint64
			testHookFound = func() {
				if busy || fired {
					return
				}
				busy, fired = true, true
				defer func() { busy = false }()
				tb.Delete(k)
				if _, err := tb.Add(k2, 99); err != nil {
					t.Error(err)
				}
				kw2 = tb.mem.Load64(tb.slotOff(0))
			}
			defer func() { testHookFound = nil }()
			switch op {
			case "get":
				v, err := tb.Get(k)
				if err == nil && int64(binary.LittleEndian.Uint64(v)) == 99 {
					t.Errorf("Get(k) = 99, k2's counter (k was 5, then deleted)")
				}
			case "add":
				if _, err := tb.Add(k, 1); err != nil {
					t.Fatal(err)
				}
			}
			testHookFound = nil
			if !fired {
				t.Fatal("the interleaving did not happen")
			}
			if unitOf(kw2) != unitOf(sn.w0) || wordTag(kw2)>>16 != wordTag(sn.w0)>>16 {
				t.Fatalf("k2 did not get k's slot with k's tag and key-record unit (%#x, was %#x): the test needs new keys", kw2, sn.w0)
			}
			if kw2 == sn.w0 {
				tagMatches++
			}
			if n, err := tb.Add(k2, 0); err != nil || n != 99 {
				t.Errorf("k2's counter is %d (%v), want 99: an operation on k changed it", n, err)
			}
		})
	}
	verifyClean(t, tb)
	t.Logf("k2's key word equal to k's in %d of 2 runs", tagMatches)
}

// TestEvictVersionAfterMove is issue 12's item 7 (first point): key K is
// deleted and set again into a never-used slot, with the value record unit
// it had before. Its Version must differ from the one a waiter holds, or
// Wait misses the change.
func TestEvictVersionAfterMove(t *testing.T) {
	tb := newEvicting(t, Options{Capacity: 48}) // 64 slots, 16 groups
	if tb.groups != 16 {
		t.Fatalf("%d groups", tb.groups)
	}
	// k homed at group 0, so that its slot 0, the slot it moves to, 24 (in
	// group 6, the fourth of its path), and its hash all pick free-list
	// shard 0: the value record it frees is the one it gets back.
	const g = 0
	k := keyHomedAt(tb, g, "k", nil)
	val := make([]byte, 40)
	if err := tb.Set(k, val); err != nil {
		t.Fatal(err)
	}
	fill := func(group uint64, n int) {
		for i := range n {
			f := keyHomedAt(tb, group, fmt.Sprintf("fill%d-%d-", group, i), nil)
			if _, err := tb.Add(f, 1); err != nil {
				t.Fatal(err)
			}
		}
	}
	fill(g, 3)
	fill(g+1, 4)
	fill(g+3, 4)
	_, since, err := tb.Lookup(k)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := tb.Delete(k); err != nil || !ok {
		t.Fatal(ok, err)
	}
	y := keyHomedAt(tb, g, "y", nil)
	if _, err := tb.Add(y, 1); err != nil { // takes k's old slot
		t.Fatal(err)
	}
	if err := tb.Set(k, val); err != nil {
		t.Fatal(err)
	}
	slot, _, _, _ := tb.find(k, hash64(k, tb.seed))
	_, now, err := tb.Lookup(k)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("k moved to slot %d; Version %#x, then %#x", slot, uint64(since), uint64(now))
	if slot != 4*(g+6) || unitOf(uint64(now)) != unitOf(uint64(since)) {
		t.Fatalf("setup: k should move to slot %d with its old value record", 4*(g+6))
	}
	if now == since {
		t.Fatalf("k was deleted and set again, and its Version %#x is the one it had before", uint64(now))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := tb.Wait(ctx, k, since); err != nil {
		t.Fatalf("Wait(since the old Version) missed the delete and set: %v", err)
	}
}

// TestEvictClaimCorruptEmptySlot: a never-used slot whose value word is
// not 0 (corruption, which Verify reports) must not make a claim of it
// retry for ever now that such a claim is a 16-byte CAS.
func TestEvictClaimCorruptEmptySlot(t *testing.T) {
	tb := newEvicting(t, Options{Capacity: 12})
	tb.mem.Store64(tb.valueWordOff(0), 0x1234)
	k := keyHomedAt(tb, 0, "k", nil)
	done := make(chan error, 1)
	go func() { done <- tb.Set(k, []byte("v")) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Set into a group whose empty slot has a stray value word did not return")
	}
	if got, err := tb.Get(k); err != nil || string(got) != "v" {
		t.Fatalf("Get = %q, %v", got, err)
	}
}
