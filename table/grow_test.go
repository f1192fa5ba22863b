package table

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
)

// TestGrowCompact: Compact of a grown table keeps every key and its
// MaxCapacity, starts again with one tier as large as the tiers that
// were in use, and grows again.
func TestGrowCompact(t *testing.T) {
	name := fmt.Sprintf("shmdict-test-growcompact-%d", os.Getpid())
	Remove(name)
	t.Cleanup(func() { Remove(name) })
	tb, err := Create(name, Options{Capacity: 16, MaxCapacity: 1 << 12})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for i := range 2000 {
		k, v := fmt.Sprintf("k%d", i), fmt.Sprintf("v%d", i)
		if err := tb.Set([]byte(k), []byte(v)); err != nil {
			t.Fatal(err)
		}
		want[k] = v
	}
	for i := 0; i < 2000; i += 3 { // deleted from older tiers, some set again in the newest
		k := fmt.Sprintf("k%d", i)
		if _, err := tb.Delete([]byte(k)); err != nil {
			t.Fatal(err)
		}
		delete(want, k)
		if i%2 == 0 {
			if _, err := tb.Add([]byte(k), 7); err != nil {
				t.Fatal(err)
			}
			want[k] = string([]byte{7, 0, 0, 0, 0, 0, 0, 0})
		}
	}
	before := tb.Stats()
	tb.Close()
	if before.Tiers < 5 {
		t.Fatalf("the table has %d tiers; the test wants it grown", before.Tiers)
	}
	rep, err := Compact(name, CompactOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tb, err = Attach(name)
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	after := tb.Stats()
	if after.Tiers != 1 || after.Capacity < before.Capacity || after.MaxCapacity < 1<<12 || after.FormatVersion != 6 {
		t.Fatalf("after Compact: %+v (before %+v, report %+v)", after, before, rep)
	}
	got := map[string]string{}
	for k, v := range tb.All() {
		got[string(k)] = string(v)
	}
	if len(got) != len(want) {
		t.Fatalf("after Compact %d keys, want %d", len(got), len(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("after Compact %q = %q, want %q", k, got[k], v)
		}
	}
	// It grows again, up to its maximum, and then says so.
	i := 0
	for ; ; i++ {
		err := tb.Set([]byte(fmt.Sprintf("new%d", i)), []byte("x"))
		if errors.Is(err, ErrFull) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if st := tb.Stats(); st.Tiers < 2 || st.Keys < 1<<12 {
		t.Fatalf("after growing again to ErrFull at %d new keys: %+v", i, st)
	}
	mustVerify(t, tb)
}

// TestGrowGetOrSetRace: goroutines GetOrSet the same keys while the table
// grows under them: each key is stored exactly once and held in one slot.
// An adversarial review found a claim made under a newer tier count than
// its lookup's could give a key values in two tiers (claimTiered).
func TestGrowGetOrSetRace(t *testing.T) {
	rounds := 10
	if testing.Short() {
		rounds = 3
	}
	for round := range rounds {
		tb, err := New(Options{Capacity: 16, MaxCapacity: 1 << 14})
		if err != nil {
			t.Fatal(err)
		}
		const keys, procs = 3000, 4
		var stored [keys]int32
		var mu sync.Mutex
		var wg sync.WaitGroup
		for p := range procs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range keys {
					_, loaded, err := tb.GetOrSet([]byte(fmt.Sprintf("k%06d", i)), []byte(fmt.Sprintf("v%d", p)))
					if err != nil {
						t.Error(err)
						return
					}
					if !loaded {
						mu.Lock()
						stored[i]++
						mu.Unlock()
					}
				}
			}()
		}
		wg.Wait()
		for i := range stored {
			if n := stored[i]; n != 1 {
				t.Errorf("round %d: key %d stored %d times", round, i, n)
			}
		}
		seen := map[string]int{}
		for k := range tb.All() {
			seen[string(k)]++
		}
		for k, n := range seen {
			if n > 1 {
				t.Errorf("round %d: All yields %q %d times", round, k, n)
			}
		}
		if n := tb.Len(); n != keys {
			t.Errorf("round %d: Len %d, want %d", round, n, keys)
		}
		mustVerify(t, tb)
		tb.Close()
		if t.Failed() {
			return
		}
	}
}

// TestGrowMemoryFollowsData: a growing table reserves its slot array for
// every tier as address space only: attaching (which prefaults the parts
// in use) and filling the first tiers must not allocate the others.
func TestGrowMemoryFollowsData(t *testing.T) {
	name := fmt.Sprintf("shmdict-test-growmem-%d", os.Getpid())
	Remove(name)
	t.Cleanup(func() { Remove(name) })
	tb, err := Create(name, Options{Capacity: 1000, MaxCapacity: 1 << 23})
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	for i := range 20_000 {
		if err := tb.Set([]byte(fmt.Sprintf("k%d", i)), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	other, err := Attach(name) // prefaults what is in use
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	st := other.Stats()
	// 20,000 keys: about 5 tiers of 2,048 slots and up (a few MiB), and
	// a few MiB of records; the slot array for all tiers is over 200 MiB.
	if st.MemoryBytes > 16<<20 || st.FileBytes < 200<<20 {
		t.Fatalf("a table of %d keys in %d of %d tiers takes %d bytes of memory (file %d)", st.Keys, st.Tiers, st.MaxTiers, st.MemoryBytes, st.FileBytes)
	}
}
