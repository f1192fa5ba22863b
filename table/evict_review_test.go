package table

import (
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// Regression tests for what an adversarial review of the slot-reuse
// protocol found; each replays its interleaving with test hooks and fails
// on the code before the fix.

// TestEvictKillLosesToPromote: claimer Q loads claimer P's pending word,
// P promotes it, Q's kill CAS fails. Q must then see P's live copy and
// give way, not promote its own claim too.
func TestEvictKillLosesToPromote(t *testing.T) {
	tb := newEvicting(t, Options{Capacity: 16})
	goP := make(chan struct{})
	var promotes, kills counter32
	testHookBeforePromote = func() {
		if promotes.Add(1) == 1 {
			<-goP // P: checked its path, about to promote
		}
	}
	testHookBeforeKill = func() {
		if kills.Add(1) == 1 {
			close(goP)                        // Q has loaded P's pending word: let P promote
			time.Sleep(50 * time.Millisecond) // P's promote lands before Q's kill
		}
	}
	defer func() { testHookBeforeKill, testHookBeforePromote = nil, nil }()
	k := []byte("K")
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); tb.Set(k, []byte("p")) }()
	for promotes.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	wg.Add(1)
	go func() { defer wg.Done(); tb.Set(k, []byte("q")) }()
	wg.Wait()
	if kills.Load() == 0 {
		t.Fatal("the interleaving did not happen: Q never tried to kill P's claim")
	}
	n := 0
	for range tb.All() {
		n++
	}
	if n != 1 {
		rep, _ := tb.Verify()
		t.Fatalf("key K is in %d slots\n%s", n, rep)
	}
	verifyClean(t, tb)
}

// TestEvictCounterABA: a reader matches key k's slot, k is deleted and k2
// takes the slot with a counter of 99, the reader loads that value word,
// then k2 is deleted and k re-claims the same slot with the same key
// record unit, so that its key word read as before in format version 2
// (now its claim generation differs). Get(k) must not return k2's 99.
func TestEvictCounterABA(t *testing.T) {
	defer func() { testHookMatchLoaded, testHookMatchBefore = nil, nil }()
	replayed := 0
	for i := range 100 {
		tb := newEvicting(t, Options{Capacity: 8})
		k := []byte(fmt.Sprintf("k%d", i))
		h := hash64(k, tb.seed)
		var k2 []byte
		for j := 0; ; j++ { // a key with the same first group, a larger record
			c := []byte(strings.Repeat("x", 100) + fmt.Sprint(j))
			if hash64(c, tb.seed)&(tb.groups-1) == h&(tb.groups-1) {
				k2 = c
				break
			}
		}
		if _, err := tb.Add(k, 5); err != nil {
			t.Fatal(err)
		}
		busy, stage := false, 0
		testHookMatchBefore = func() {
			if busy || stage != 0 {
				return
			}
			busy, stage = true, 1
			tb.Delete(k)
			tb.Add(k2, 99)
			busy = false
		}
		testHookMatchLoaded = func() {
			if busy || stage != 1 {
				return
			}
			busy, stage = true, 2
			tb.Delete(k2)
			tb.Add(k, 1)
			busy = false
		}
		v, err := tb.Get(k)
		testHookMatchLoaded, testHookMatchBefore = nil, nil
		if stage == 2 {
			replayed++
		}
		if err == nil && int64(binary.LittleEndian.Uint64(v)) == 99 {
			t.Fatalf("Get(%q) = 99, k2's counter; k was 5, then absent, then 1", k)
		}
	}
	if replayed == 0 {
		t.Fatal("the interleaving never happened")
	}
}

// TestEvictFailedSetsLeaveNoClaims: Sets too large for the arena fail
// without leaving claimed slots that hold no value (which eviction would
// never free), and without evicting keys that could not make room.
func TestEvictFailedSetsLeaveNoClaims(t *testing.T) {
	tb := newEvicting(t, Options{Capacity: 64, ArenaBytes: 16 << 10})
	for i := range 400 {
		if err := tb.Set([]byte(fmt.Sprintf("k%03d", i)), make([]byte, 40)); err != nil {
			t.Fatal(err)
		}
	}
	before := tb.Stats()
	for i := range 100 {
		if err := tb.Set([]byte(fmt.Sprintf("big%02d", i)), make([]byte, 6000)); err == nil {
			t.Fatalf("a 6000-byte value fit in a full 16 KiB arena of 40-byte values")
		}
	}
	after := tb.Stats()
	if after.Keys < before.Keys/2 {
		t.Fatalf("failed Sets evicted %d of %d keys that could not make room", before.Keys-after.Keys, before.Keys)
	}
	if err := tb.Set([]byte("small-new-key"), []byte("v")); err != nil {
		t.Fatalf("a small Set after failed big ones: %v", err)
	}
	verifyClean(t, tb)
}

// counter32 is a mutex-guarded counter (sync/atomic stays in atomicx).
type counter32 struct {
	mu sync.Mutex
	n  int32
}

func (c *counter32) Add(d int32) int32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n += d
	return c.n
}

func (c *counter32) Load() int32 { return c.Add(0) }
