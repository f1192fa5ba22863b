package table

// A replay, step by step in one goroutine, of an interleaving of two
// writers of one key and a growth that TestGrowRace met under -race: the
// key ends up with a value in two tiers.

import (
	"errors"
	"testing"
)

// TestGrowClaimAfterStaleFind: writer B looks for key k (absent: one tier
// in use), then writer A inserts k in tier 0 and a third process grows
// the table, then B claims: claimTiered reads two tiers in use and claims
// in tier 1 without looking for k again, although B's find ran before the
// growth. The tiered rule (tiers.go) needs the claimer in a new tier to
// have looked for the key after the growth: claimTiered now takes the
// tier count of B's find and looks again when it moved.
func TestGrowClaimAfterStaleFind(t *testing.T) {
	tb, err := New(Options{Capacity: 16, MaxCapacity: 1 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	k := []byte("k")
	h := hash64(k, tb.seed)

	// B: find(k) while one tier is in use: absent.
	_, sn, ok, err := tb.find(k, h)
	if ok || err != nil {
		t.Fatalf("find before any write = %v, %v", ok, err)
	}
	// A: Set(k) in tier 0, acknowledged.
	if err := tb.Set(k, []byte("a")); err != nil {
		t.Fatal(err)
	}
	// Another process grows the table.
	if err := tb.grow(1); err != nil {
		t.Fatal(err)
	}
	if n := tb.tierCount(); n != 2 {
		t.Fatalf("tierCount after grow(1) = %d", n)
	}
	// B: its find said absent, so it claims (findOrClaim's slow path).
	slot, _, err := tb.claimKey(k, h, 0, sn.tiers)
	if err != nil {
		t.Fatal(err)
	}
	if tier := tb.tierOf(slot); tier != 0 {
		t.Errorf("B's claim of k, present in tier 0, took slot %d in tier %d: a second slot for the key", slot, tier)
	}
	// What a reader sees now: A's acknowledged value must still be there.
	if v, err := tb.Get(k); err != nil || string(v) != "a" {
		t.Errorf("Get(k) after B's claim = %q, %v; want \"a\" (A's acknowledged Set)", v, err)
	}
	// B stores its value (a GetOrSet that found k absent would too), then
	// deletes k: k must be absent, and in one slot only.
	if err := tb.Set(k, []byte("b")); err != nil {
		t.Fatal(err)
	}
	if _, err := tb.Delete(k); err != nil {
		t.Fatal(err)
	}
	if v, err := tb.Get(k); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get(k) after Delete = %q, %v; want ErrNotFound", v, err)
	}
	if n := tb.Len(); n != 0 {
		t.Errorf("Len() after Delete of the only key = %d, want 0", n)
	}
	if rep, err := tb.Verify(); err != nil || !rep.OK() {
		t.Errorf("Verify: %v\n%s", err, rep)
	}
}
