package table_test

import (
	"fmt"
	"os"
	"syscall"
	"testing"

	"github.com/shmdict/shmdict/table"
)

// TestMemoryPerEntry: a table of 1M keys of 12 bytes with 32-byte values,
// created with Capacity 1M and the default ArenaBytes, uses at most 100
// bytes of memory per entry: what tmpfs allocated for the segment file
// (its blocks: the pages ever touched, whole header, registry and slot
// array included), over the keys.
func TestMemoryPerEntry(t *testing.T) {
	if testing.Short() {
		t.Skip("fills a 1M-key table (about 1 s); runs without -short")
	}
	const keys = 1 << 20
	name := fmt.Sprintf("shmdict-mem-test-%d", os.Getpid())
	tb, err := table.Create(name, table.Options{Capacity: keys})
	if err != nil {
		t.Fatal(err)
	}
	defer table.Remove(name)
	defer tb.Close()
	key := make([]byte, 12)
	val := make([]byte, 32)
	for i := range keys {
		copy(key, fmt.Appendf(key[:0], "k%011d", i))
		val[0] = byte(i)
		if err := tb.Set(key, val); err != nil {
			t.Fatal(err)
		}
	}
	st := tb.Stats()
	var fs syscall.Stat_t
	if err := syscall.Stat(st.Path, &fs); err != nil {
		t.Fatal(err)
	}
	allocated := fs.Blocks * 512
	perEntry := float64(allocated) / keys
	t.Logf("%d keys: file %d bytes, %d allocated (%.1f B/entry); slots %d (%d B), arena used %d B (%.1f B/entry)",
		st.Keys, st.FileBytes, allocated, perEntry, st.Slots, st.Slots*16, st.ArenaUsed, float64(st.ArenaUsed)/keys)
	if perEntry > 100 {
		t.Fatalf("%.1f bytes of memory per entry, want at most 100", perEntry)
	}
}
