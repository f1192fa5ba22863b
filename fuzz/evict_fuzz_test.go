package fuzz

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/shmdict/shmdict/table"
)

// FuzzFlipEvict flips bytes in a segment with eviction (format version
// 3: pending claims, claim generations, dead slots, reference bits,
// probe bounds) and then churns it through more keys than it holds. Nothing may panic or hang;
// every error must be a typed one; Repair must then leave a table that
// Verify passes and that keeps working.
func FuzzFlipEvict(f *testing.F) {
	file, slots := evictTemplate(f)
	f.Add([]byte{})
	f.Add([]byte{0x10, 0, 0, 0, 0x01})
	f.Add([]byte{0x00, 0x02, 0, 0, 0x80, 0x40, 0x01, 0, 0, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) { runFlipEvict(t, heapBackend{}, file, slots, data) })
}

// runFlipEvict is FuzzFlipEvict's body, on the backend be.
func runFlipEvict(t testing.TB, be backend, file []byte, slots uint64, data []byte) {
	tb, err := be.attach(t, flip(file, slots, data))
	if err != nil {
		t.Fatalf("Attach of a segment with an intact header: %v", err)
	}
	defer func() { tb.Close() }() // on a failure; the end of the run closes it first
	stop := guard(func() string { return fmt.Sprintf("FuzzFlipEvict(%x)", data) })
	defer stop()
	churn(t, tb, true)
	tb, rep, err := be.repair(t, tb)
	if err != nil {
		t.Fatalf("Repair: %v\n%s", err, rep)
	}
	if rep, err := tb.Verify(); err != nil || !rep.OK() {
		t.Fatalf("Verify after Repair: %v\n%s", err, rep)
	}
	churn(t, tb, false)
	if err := tb.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// churn writes 3x the table's capacity of keys and reads them back; with
// damaged set, ErrCorrupt, ErrFull and ErrReplaced (a flip can set the
// replaced mark; Repair clears it) are acceptable answers.
func churn(t testing.TB, tb *table.Table, damaged bool) {
	ok := func(op string, err error) {
		if err == nil || errors.Is(err, table.ErrNotFound) {
			return
		}
		if damaged && (errors.Is(err, table.ErrCorrupt) || errors.Is(err, table.ErrFull) || errors.Is(err, table.ErrReplaced)) {
			return
		}
		t.Helper()
		st := tb.Stats()
		rep, _ := tb.Verify()
		t.Fatalf("%s: %v\nstats %+v\n%s", op, err, st, rep)
	}
	for i, k := range churnKeys {
		ok("Set", tb.Set(k, churnValues[i]))
		_, err := tb.Get(k)
		ok("Get", err)
		_, err = tb.Add(churnCounters[i%5], 1)
		if !errors.Is(err, table.ErrNotCounter) {
			ok("Add", err)
		}
		if i%7 == 0 {
			_, err := tb.Delete(k)
			ok("Delete", err)
		}
	}
	for _, err := range tb.All() {
		_ = err
	}
}

// churn's keys and values, made once: formatting them for every run took
// a tenth of the target's time.
var churnKeys, churnValues, churnCounters = func() (keys, values, counters [][]byte) {
	for i := range 3 * 24 {
		keys = append(keys, fmt.Appendf(nil, "churn-%03d", i))
		values = append(values, bytes.Repeat([]byte{byte(i)}, i%50))
	}
	for i := range 5 {
		counters = append(counters, fmt.Appendf(nil, "ctr-%d", i))
	}
	return keys, values, counters
}()

var (
	evictOnce  sync.Once
	evictFile  []byte
	evictSlots uint64
	evictErr   error
)

// evictTemplate builds (once per process) a small evicting segment that
// has been through churn: dead slots, raised probe bounds, reference
// bits, counters. Its hash seed is fixed (templateSeed), so that keys
// land in the same slots in every process and a corpus entry means the
// same damage everywhere: with a random seed, a failing input found by
// one fuzz worker did not fail when replayed.
func evictTemplate(tb testing.TB) ([]byte, uint64) {
	tb.Helper()
	evictOnce.Do(func() { evictFile, evictSlots, evictErr = buildEvictTemplate(templateSeed) })
	if evictErr != nil {
		tb.Fatalf("building the eviction template: %v", evictErr)
	}
	return evictFile, evictSlots
}

func buildEvictTemplate(seed uint64) ([]byte, uint64, error) {
	dir, err := os.MkdirTemp("", "shmdict-fuzz-evict-")
	if err != nil {
		return nil, 0, err
	}
	defer os.RemoveAll(dir)
	p := filepath.Join(dir, "seg")
	t, err := table.Create(p, table.Options{Capacity: 24, ArenaBytes: 4096, MaxProcesses: 4, Eviction: table.EvictCLOCK})
	if err != nil {
		return nil, 0, err
	}
	if err := t.Close(); err != nil {
		return nil, 0, err
	}
	if err := reseed(p, seed); err != nil {
		return nil, 0, err
	}
	if t, err = table.Attach(p); err != nil {
		return nil, 0, err
	}
	for i := range 100 {
		k := []byte(fmt.Sprintf("key-%03d", i))
		if err := t.Set(k, bytes.Repeat([]byte{'v'}, i%40)); err != nil {
			return nil, 0, err
		}
		if i%3 == 0 {
			t.Get(k)
		}
		if i%10 == 0 {
			t.Add([]byte(fmt.Sprintf("ctr-%d", i%3)), int64(i))
		}
	}
	st := t.Stats()
	if err := t.Close(); err != nil {
		return nil, 0, err
	}
	file, err := os.ReadFile(p)
	// Not the slot array's offset (20480) but 512 bytes before the arena
	// (28160): flipsOf's first range is that padding and the arena, its
	// second [256, 28160), with the control region, registry, slots,
	// reference bits and probe bounds. The corpus depends on this mapping;
	// keep it.
	return file, uint64(len(file)) - uint64(st.ArenaBytes) - uint64(st.Slots)*16, err
}

// TestFlipEvictFindings replays FuzzFlipEvict's findings with the template
// seeds they were found under (before the template's seed was fixed, each
// worker drew its own). The dead-slot finding was made in a format-2
// template and failed before its fix; format 3 changed the dead key word,
// so this input no longer reaches that state (a 5-minute FuzzFlipEvict run
// with the check removed did not find another way there). Its regression
// tests are TestVerifyDeadSlotValueRepaired and TestEvictVerifyFreeSlotValue
// in package table, which build the damage directly; the replay stays as
// one more damaged table through the full checks.
func TestFlipEvictFindings(t *testing.T) {
	for _, c := range []struct {
		name string
		seed uint64
		data string
	}{
		// A flip made a dead slot's value word name unit 48. Verify and
		// Repair ignored value words of dead slots, so the repaired table
		// passed Verify, and the next key to claim the slot inherited
		// another key's record as its value (table: a dead slot's value
		// word must be absent; TestVerifyDeadSlotValueRepaired).
		{"dead-slot-value-word", 0xd62efd0da4918032, "\xb8\xb3\x80\xff008010a0070"},
	} {
		t.Run(c.name, func(t *testing.T) {
			file, slots, err := buildEvictTemplate(c.seed)
			if err != nil {
				t.Fatal(err)
			}
			runFlipEvict(t, heapBackend{}, file, slots, []byte(c.data))
		})
	}
}
