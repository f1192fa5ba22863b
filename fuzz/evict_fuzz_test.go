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
	p := filepath.Join(f.TempDir(), "seg")
	f.Fuzz(func(t *testing.T, data []byte) {
		_, tb := flipAndAttach(t, file, slots, data, p)
		defer tb.Close()
		stop := guard(fmt.Sprintf("FuzzFlipEvict(%x)", data))
		defer stop()
		churn(t, tb, true)
		if err := tb.Close(); err != nil {
			t.Fatal(err)
		}
		if rep, err := table.Repair(p, false); err != nil {
			t.Fatalf("Repair: %v\n%s", err, rep)
		}
		tb, err := table.Attach(p)
		if err != nil {
			t.Fatalf("Attach after Repair: %v", err)
		}
		defer tb.Close()
		if rep, err := tb.Verify(); err != nil || !rep.OK() {
			t.Fatalf("Verify after Repair: %v\n%s", err, rep)
		}
		churn(t, tb, false)
	})
}

// churn writes 3x the table's capacity of keys and reads them back; with
// damaged set, ErrCorrupt and ErrFull are acceptable answers.
func churn(t *testing.T, tb *table.Table, damaged bool) {
	t.Helper()
	ok := func(op string, err error) {
		t.Helper()
		if err == nil || errors.Is(err, table.ErrNotFound) {
			return
		}
		if damaged && (errors.Is(err, table.ErrCorrupt) || errors.Is(err, table.ErrFull)) {
			return
		}
		st := tb.Stats()
		rep, _ := tb.Verify()
		t.Fatalf("%s: %v\nstats %+v\n%s", op, err, st, rep)
	}
	for i := range 3 * 24 {
		k := []byte(fmt.Sprintf("churn-%03d", i))
		ok("Set", tb.Set(k, bytes.Repeat([]byte{byte(i)}, i%50)))
		_, err := tb.Get(k)
		ok("Get", err)
		_, err = tb.Add([]byte(fmt.Sprintf("ctr-%d", i%5)), 1)
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
		evictSlots = uint64(len(evictFile)) - uint64(st.ArenaBytes) - uint64(st.Slots)*16 // an estimate: flips land in slots and after
	})
	if evictErr != nil {
		tb.Fatalf("building the eviction template: %v", evictErr)
	}
	return evictFile, evictSlots
}
