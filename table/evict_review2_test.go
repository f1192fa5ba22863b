package table

import (
	"bytes"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/shmdict/shmdict/segment"
)

// Regression tests for a second adversarial review of format version 3
// (claim generations); each fails on the code before its fix.

// calledFrom reports whether the calling goroutine runs code of function
// fn (a test's name): test hooks are global, and goroutines that earlier
// tests left (a Wait hub's poll, say) must not run a test's replay.
func calledFrom(fn string) bool {
	buf := make([]byte, 8<<10)
	return bytes.Contains(buf[:runtime.Stack(buf, false)], []byte("table."+fn))
}

// TestEvictGetOrSetAfterReuse: GetOrSet(k) finds k's slot, then k is
// deleted and k2 claims the same slot with a value. GetOrSet's read of
// that value is refused (the key word moved), and GetOrSet must look for
// k again: it used to read the same slot over and over, for as long as k2
// stayed (a hang).
func TestEvictGetOrSetAfterReuse(t *testing.T) {
	for _, wantOld := range []bool{true, false} {
		tb := newEvicting(t, Options{Capacity: 12})
		k := keyHomedAt(tb, 0, "k", nil)
		k2 := keyHomedAt(tb, 0, "other", nil)
		if err := tb.Set(k, []byte("k's")); err != nil {
			t.Fatal(err)
		}
		busy, fired := false, false
		testHookFound = func() {
			if busy || fired || !calledFrom("TestEvictGetOrSetAfterReuse") {
				return
			}
			busy, fired = true, true
			defer func() { busy = false }()
			tb.Delete(k)
			if err := tb.Set(k2, []byte("k2's")); err != nil {
				t.Error(err)
			}
		}
		type res struct {
			v      []byte
			loaded bool
			err    error
		}
		done := make(chan res, 1)
		go func() {
			v, loaded, err := tb.getOrSet(k, []byte("new"), wantOld)
			done <- res{v, loaded, err}
		}()
		var r res
		select {
		case r = <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("GetOrSet (wantOld %v) did not return after its key's slot went to another key", wantOld)
		}
		testHookFound = nil
		if !fired {
			t.Fatal("the interleaving did not happen")
		}
		if r.err != nil || r.loaded {
			t.Fatalf("GetOrSet = %q, loaded %v, %v; k was deleted, so it should store", r.v, r.loaded, r.err)
		}
		if got, err := tb.Get(k); err != nil || string(got) != "new" {
			t.Fatalf("Get(k) = %q, %v", got, err)
		}
		if got, err := tb.Get(k2); err != nil || string(got) != "k2's" {
			t.Fatalf("Get(k2) = %q, %v", got, err)
		}
		verifyClean(t, tb)
	}
}

// TestEvictFailedSetSparesClaimInFlight: writer A has claimed key k's slot
// and is about to store its value (the slot is live with no value), when
// writer B's Set of k finds the slot and fails for want of arena space. B
// took nothing, so it must give nothing back: it used to retire the slot
// (abandonClaim, meant for a claim of its own, which since values are
// written before claims it never holds there), killing A's claim.
func TestEvictFailedSetSparesClaimInFlight(t *testing.T) {
	tb := newEvicting(t, Options{Capacity: 12, ArenaBytes: 64 << 10})
	k := keyHomedAt(tb, 0, "k", nil)
	h := hash64(k, tb.seed)
	u, err := tb.writeRecord(nil, 0, k, int(h%8))
	if err != nil {
		t.Fatal(err)
	}
	kw := keyWord(tb.claimTag(tagOf(h), 0), u)
	if !tb.mem.CAS64(tb.slotOff(0), 0, kw) { // A's claim, promoted
		t.Fatal("slot 0 is not empty")
	}
	tb.mem.Add64(segment.OffClaimed, 1)
	if err := tb.Set(k, make([]byte, 1<<20)); !errors.Is(err, ErrFull) {
		t.Fatalf("B's Set of a value larger than the arena: %v, want ErrFull", err)
	}
	if w0 := tb.mem.Load64(tb.slotOff(0)); w0 != kw {
		t.Fatalf("B's failed Set changed A's claim: key word %#x, was %#x", w0, kw)
	}
	// A stores its value: it must still hold the slot.
	w1 := tb.mem.Load64(tb.valueWordOff(0))
	vu, err := tb.writeRecord(k, 0, []byte("a"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := tb.casValue(0, kw, w1, nextValueWord(w1, vu)); !ok {
		t.Fatal("A's value CAS failed")
	}
	tb.retire(0, kw, w1)
	if got, err := tb.Get(k); err != nil || string(got) != "a" {
		t.Fatalf("Get(k) = %q, %v", got, err)
	}
	verifyClean(t, tb)
}

// TestEvictVerifyFreeSlotValue: in format version 3 a dead slot, and a
// pending one, hold no value (retiring makes the value absent, and a
// claim cannot store one before it is promoted). A dead slot whose value
// word names a record (corruption) is a trap: the next claim of the slot
// takes it over with the key word alone, and the claimer's Set frees that
// record as its "old value", even when another key's value lives there.
// Verify must report such a slot and Repair empty its value word.
func TestEvictVerifyFreeSlotValue(t *testing.T) {
	for _, state := range []string{"dead", "pending"} {
		t.Run(state, func(t *testing.T) {
			tb := newEvicting(t, Options{Capacity: 12})
			a := keyHomedAt(tb, 0, "a", nil)
			b := keyHomedAt(tb, 1, "b", nil)
			if err := tb.Set(a, []byte("a")); err != nil {
				t.Fatal(err)
			}
			if err := tb.Set(b, []byte("b's value")); err != nil {
				t.Fatal(err)
			}
			kw := tb.mem.Load64(tb.slotOff(0))
			if ok, err := tb.Delete(a); !ok || err != nil {
				t.Fatal(ok, err)
			}
			bslot, sn, ok, err := tb.find(b, hash64(b, tb.seed))
			if !ok || err != nil || bslot/4 != 1 {
				t.Fatalf("b in slot %d (%v, %v)", bslot, ok, err)
			}
			if state == "pending" {
				// A claimer killed before promoting, over a slot whose value
				// word names b's record.
				u, err := tb.writeRecord(nil, 0, a, 0)
				if err != nil {
					t.Fatal(err)
				}
				tb.mem.Store64(tb.slotOff(0), pendingWord(tb.claimTag(tagOf(hash64(a, tb.seed)), kw), u))
				tb.mem.Add64(segment.OffClaimed, 1)
			}
			tb.mem.Store64(tb.valueWordOff(0), sn.w1) // b's value record, named by slot 0 too
			rep, err := tb.Verify()
			reported := false
			for _, p := range rep.Problems {
				reported = reported || strings.HasPrefix(p, "slot 0 ")
			}
			if err == nil || !reported {
				t.Fatalf("Verify did not report a %s slot whose value word names a record:\n%s", state, rep)
			}
			rep = repairHeap(t, tb)
			if w1 := tb.mem.Load64(tb.valueWordOff(0)); !isAbsent(w1) {
				t.Fatalf("after Repair slot 0's value word is %#x\n%s", w1, rep)
			}
			if err := tb.Set(a, []byte("a2")); err != nil {
				t.Fatal(err)
			}
			if got, err := tb.Get(b); err != nil || string(got) != "b's value" {
				t.Fatalf("Get(b) = %q, %v", got, err)
			}
			verifyClean(t, tb)
		})
	}
}

// TestEvictDeleteSparesClaimInFlight: Delete of a key whose slot is a
// claim in flight (promoted, value not stored yet) finds no value, so the
// key is absent and Delete must change nothing. It used to retire the
// slot, killing the inserting writer's claim (which then starts again):
// a Delete loop could keep an insert of the same key from finishing.
func TestEvictDeleteSparesClaimInFlight(t *testing.T) {
	tb := newEvicting(t, Options{Capacity: 12})
	k := keyHomedAt(tb, 0, "k", nil)
	h := hash64(k, tb.seed)
	u, err := tb.writeRecord(nil, 0, k, int(h%8))
	if err != nil {
		t.Fatal(err)
	}
	kw := keyWord(tb.claimTag(tagOf(h), 0), u)
	if !tb.mem.CAS64(tb.slotOff(0), 0, kw) { // the inserter's claim, promoted
		t.Fatal("slot 0 is not empty")
	}
	tb.mem.Add64(segment.OffClaimed, 1)
	if ok, err := tb.Delete(k); ok || err != nil {
		t.Fatalf("Delete of a key with no value = %v, %v", ok, err)
	}
	if w0 := tb.mem.Load64(tb.slotOff(0)); w0 != kw {
		t.Fatalf("Delete of an absent key retired the claim in flight: key word %#x, was %#x", w0, kw)
	}
}

// TestEvictGenerationWrap: a slot's claim generation wraps from 0xFFFF to
// 0, and a dead word of generation 0 is exactly the version-1 dead word.
// Claims, reads, deletes and Verify must treat it like any other.
func TestEvictGenerationWrap(t *testing.T) {
	tb := newEvicting(t, Options{Capacity: 12})
	tb.mem.Store64(tb.slotOff(0), deadWord|genMask<<32) // dead, generation 0xFFFF
	k := keyHomedAt(tb, 0, "k", nil)
	for i, want := range []uint64{0, 1} {
		if err := tb.Set(k, []byte("v")); err != nil {
			t.Fatal(err)
		}
		w0 := tb.mem.Load64(tb.slotOff(0))
		if !live(w0) || genOf(w0) != want {
			t.Fatalf("claim %d: key word %#x, want live with generation %d", i, w0, want)
		}
		if got, err := tb.Get(k); err != nil || string(got) != "v" {
			t.Fatalf("Get = %q, %v", got, err)
		}
		verifyClean(t, tb)
		if ok, err := tb.Delete(k); !ok || err != nil {
			t.Fatal(ok, err)
		}
		if w0 := tb.mem.Load64(tb.slotOff(0)); w0 != deadWord|want<<32 {
			t.Fatalf("dead word %#x, want generation %d", w0, want)
		}
		verifyClean(t, tb)
	}
}

// TestEvictLookupAbsentVersion: Lookup pairs a value with a Version read
// before and after it. In an eviction table a key without a slot has
// Version 0, before a Set and again after a Delete (its slot is retired),
// so "the Version did not move" no longer means "nothing happened": a key
// set and deleted around Lookup's Get gave the value with Version 0, and
// Wait(since 0) then slept through the delete. A value must never come
// with an absent Version.
func TestEvictLookupAbsentVersion(t *testing.T) {
	tb := newEvicting(t, Options{Capacity: 12})
	k := keyHomedAt(tb, 0, "k", nil)
	hk := hash64(k, tb.seed)
	// x shares k's first group and 14 tag bits, so that every lookup of k
	// compares x's slot (and runs the match hook) first.
	x := keyHomedAt(tb, 0, "x", func(h uint64) bool { return tb.tagIs(keyWord(tagOf(h), 0), tagOf(hk)) })
	if err := tb.Set(x, []byte("x")); err != nil {
		t.Fatal(err)
	}
	calls, busy := 0, false
	testHookMatchBefore = func() {
		if busy || !calledFrom("TestEvictLookupAbsentVersion") {
			return
		}
		busy = true
		defer func() { busy = false }()
		switch calls++; calls {
		case 3: // in Get, after the first version read
			if err := tb.Set(k, []byte("v")); err != nil {
				t.Error(err)
			}
		case 6: // in the second version read, after Get
			tb.Delete(k)
		}
	}
	defer func() { testHookMatchBefore = nil }()
	val, ver, err := tb.Lookup(k)
	testHookMatchBefore = nil
	if calls < 6 {
		t.Fatalf("the interleaving did not happen (%d hook calls)", calls)
	}
	if err == nil && isAbsent(uint64(ver)) {
		t.Fatalf("Lookup = %q with Version %#x, the Version of an absent key", val, uint64(ver))
	}
	t.Logf("Lookup = %q, %#x, %v", val, uint64(ver), err)
}
