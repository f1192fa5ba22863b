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
// 2: pending claims, dead slots, reference bits, probe bounds) and then
// churns it through more keys than it holds. Nothing may panic or hang;
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
// damaged set, ErrCorrupt and ErrFull are acceptable answers.
func churn(t testing.TB, tb *table.Table, damaged bool) {
	ok := func(op string, err error) {
		if err == nil || errors.Is(err, table.ErrNotFound) {
			return
		}
		if damaged && (errors.Is(err, table.ErrCorrupt) || errors.Is(err, table.ErrFull)) {
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

// evictTemplate builds a small evicting segment that has been through
// churn: dead slots, raised probe bounds, reference bits, counters.
func evictTemplate(tb testing.TB) ([]byte, uint64) {
	tb.Helper()
	evictOnce.Do(func() {
		dir, err := os.MkdirTemp("", "shmdict-fuzz-evict-")
		if err != nil {
			evictErr = err
			return
		}
		defer os.RemoveAll(dir)
		p := filepath.Join(dir, "seg")
		t, err := table.Create(p, table.Options{Capacity: 24, ArenaBytes: 4096, MaxProcesses: 4, Eviction: table.EvictCLOCK})
		if err != nil {
			evictErr = err
			return
		}
		for i := range 100 {
			k := []byte(fmt.Sprintf("key-%03d", i))
			if err := t.Set(k, bytes.Repeat([]byte{'v'}, i%40)); err != nil {
				evictErr = err
				return
			}
			if i%3 == 0 {
				t.Get(k)
			}
			if i%10 == 0 {
				t.Add([]byte(fmt.Sprintf("ctr-%d", i%3)), int64(i))
			}
		}
		st := t.Stats()
		t.Close()
		evictFile, evictErr = os.ReadFile(p)
		// Not the slot array's offset (20480) but 512 bytes before the
		// arena (28160): flipsOf's first range is that padding and the
		// arena, its second [256, 28160), with the control region,
		// registry, slots, reference bits and probe bounds. The corpus
		// depends on this mapping; keep it.
		evictSlots = uint64(len(evictFile)) - uint64(st.ArenaBytes) - uint64(st.Slots)*16
	})
	if evictErr != nil {
		tb.Fatalf("building the eviction template: %v", evictErr)
	}
	return evictFile, evictSlots
}
