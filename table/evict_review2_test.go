package table

import (
	"testing"
	"time"
)

// Regression tests for a second adversarial review of format version 3
// (claim generations); each fails on the code before its fix.

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
			if busy || fired {
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
