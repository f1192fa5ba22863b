package table

import (
	"bytes"
	"fmt"
	"sync"
	"testing"

	"github.com/shmdict/shmdict/arena"
)

// TestKeyRecordPinned: in format version 4 a key whose first value record
// is at most 64 bytes keeps that record as its key record, so a key set
// once costs its slot and one record. Overwrites, deletes, counters and
// re-sets must never free it (its key word names it for the slot's life),
// and Verify must find every block accounted for.
func TestKeyRecordPinned(t *testing.T) {
	tb, err := New(Options{Capacity: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	k := []byte("k00000000001") // 12 bytes: 8 + 16 + 32 = 56 bytes, one 64-byte block
	v := bytes.Repeat([]byte{'v'}, 32)
	used0 := tb.Stats().ArenaUsed
	if err := tb.Set(k, v); err != nil {
		t.Fatal(err)
	}
	if got := tb.Stats().ArenaUsed - used0; got != 64 {
		t.Fatalf("a key set once uses %d arena bytes, want 64 (its value record is its key record)", got)
	}
	slot, sn, ok, err := tb.find(k, hash64(k, tb.seed))
	if err != nil || !ok {
		t.Fatalf("find: %v %v", ok, err)
	}
	if unitOf(sn.w0) != unitOf(sn.w1) {
		t.Fatalf("key word names unit %d, value word %d: want the same record", unitOf(sn.w0), unitOf(sn.w1))
	}
	check := func(what string, want []byte) {
		t.Helper()
		got, err := tb.Get(k)
		switch {
		case want == nil && err != ErrNotFound:
			t.Fatalf("%s: Get = %q, %v, want ErrNotFound", what, got, err)
		case want != nil && (err != nil || !bytes.Equal(got, want)):
			t.Fatalf("%s: Get = %q, %v, want %q", what, got, err, want)
		}
		if s, _, ok, _ := tb.find(k, hash64(k, tb.seed)); !ok || s != slot {
			t.Fatalf("%s: key found in slot %d (%v), want %d", what, s, ok, slot)
		}
		mustVerify(t, tb)
	}
	for i := range 50 {
		v2 := fmt.Appendf(nil, "value %d", i)
		if err := tb.Set(k, v2); err != nil {
			t.Fatal(err)
		}
		check("overwrite", v2)
	}
	if got := tb.Stats().ArenaUsed - used0; got != 64+32 {
		t.Fatalf("after overwrites the key uses %d arena bytes, want 96 (first record + current)", got)
	}
	if _, err := tb.Delete(k); err != nil {
		t.Fatal(err)
	}
	check("deleted", nil)
	if _, err := tb.Add(k, 5); err != nil {
		t.Fatal(err)
	}
	check("counter", []byte{5, 0, 0, 0, 0, 0, 0, 0})
	if err := tb.Set(k, v); err != nil {
		t.Fatal(err)
	}
	check("set over a counter", v)
	if ok, err := tb.CompareAndSwap(k, v, []byte("x")); err != nil || !ok {
		t.Fatalf("CompareAndSwap: %v %v", ok, err)
	}
	check("swapped", []byte("x"))
	if ok, err := tb.CompareAndDelete(k, []byte("x")); err != nil || !ok {
		t.Fatalf("CompareAndDelete: %v %v", ok, err)
	}
	check("compare-deleted", nil)
	if _, loaded, err := tb.GetOrSet(k, v); err != nil || loaded {
		t.Fatalf("GetOrSet: %v %v", loaded, err)
	}
	check("get-or-set", v)
	for key, val := range tb.All() {
		if !bytes.Equal(key, k) || !bytes.Equal(val, v) {
			t.Fatalf("All yields %q = %q", key, val)
		}
	}
	// The first record, whose value is long gone, still names the key.
	if off, n, ok := tb.keyAt(unitOf(sn.w0)); !ok || !bytes.Equal(tb.mem.Bytes(off, n), k) {
		t.Fatalf("key record of the slot no longer holds the key")
	}
}

// TestKeyRecordSeparate: a first record above 64 bytes, an expiring one,
// and a claim without a value (Add) get a key record of their own (a
// record whose prefix is the key and whose payload is empty).
func TestKeyRecordSeparate(t *testing.T) {
	tb, err := New(Options{Capacity: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	for _, c := range []struct {
		name string
		do   func(k []byte) error
	}{
		{"large value", func(k []byte) error { return tb.Set(k, make([]byte, 100)) }},
		{"expiring", func(k []byte) error { return tb.SetWithTTL(k, []byte("v"), 1<<40) }},
		{"counter", func(k []byte) error { _, err := tb.Add(k, 1); return err }},
	} {
		k := []byte("key " + c.name)
		if err := c.do(k); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		_, sn, ok, err := tb.find(k, hash64(k, tb.seed))
		if err != nil || !ok {
			t.Fatalf("%s: find: %v %v", c.name, ok, err)
		}
		ku := unitOf(sn.w0)
		if !isCounter(sn.w1) && ku == unitOf(sn.w1) {
			t.Fatalf("%s: the value record is the key record", c.name)
		}
		_, p, n, ok := tb.ar.ReadPrefixed(ku)
		if !ok || p != uint64(len(k)) || n != 0 || !tb.mem.Equal(tb.ar.Off(ku)+arena.HeaderBytes, k) {
			t.Fatalf("%s: key record p=%d n=%d ok=%v, want the key as prefix and no payload", c.name, p, n, ok)
		}
		if _, err := tb.Delete(k); err != nil {
			t.Fatal(err)
		}
		mustVerify(t, tb)
	}
}

// TestKeyRecordClaimRace: goroutines insert the same new keys at once, so
// that claims collide: the loser's prepared record must be published as a
// value or freed, the winner's kept as key record, and nothing leaked or
// freed twice (Verify), with every key in one slot.
func TestKeyRecordClaimRace(t *testing.T) {
	tb, err := New(Options{Capacity: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	const keys, writers = 2000, 4
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range keys {
				k := fmt.Appendf(nil, "key-%d", i)
				var err error
				switch (i + w) % 3 {
				case 0:
					err = tb.Set(k, fmt.Appendf(nil, "w%d", w))
				case 1:
					_, _, err = tb.GetOrSet(k, fmt.Appendf(nil, "w%d", w))
				default:
					err = tb.Set(k, fmt.Appendf(nil, "w%d", w))
					if err == nil {
						_, err = tb.Delete(k)
					}
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	rep, err := tb.Verify()
	if err != nil || !rep.OK() || rep.LeakedBytes != 0 {
		t.Fatalf("Verify: %v\n%s", err, rep)
	}
	if rep.ClaimedSlots != keys {
		t.Fatalf("%d slots claimed for %d keys", rep.ClaimedSlots, keys)
	}
}
