package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// recordsDump is a format-1 dump of n keys k000, k001, ... (it records
// no shape: the table it goes into has one).
func recordsDump(n int) string {
	var b strings.Builder
	b.WriteString("{\"shmdict_dump\":1}\n")
	for i := range n {
		fmt.Fprintf(&b, "{\"key\":\"k%03d\",\"value\":\"v%d\"}\n", i, i)
	}
	return b.String()
}

// TestGrowingTable: create --max-capacity makes a table that grows as
// keys arrive; stats shows its tiers, ls its max capacity, dump records
// the growth and load re-creates it.
func TestGrowingTable(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "g.shm")
	out := ok(t, "", "create", p, "--capacity", "16", "--max-capacity", "4096")
	if !strings.Contains(out, "capacity 24 keys, 32 slots, growing to 6120 keys in up to 8 tiers") {
		t.Fatalf("create printed %q", out)
	}
	ok(t, recordsDump(100), "load", p)

	txt := ok(t, "", "stats", p)
	for _, want := range []string{"format version  6", "capacity        168 keys (224 slots)", "growth          3 of 8 tiers in use; grows to 6120 keys"} {
		if !strings.Contains(txt, want) {
			t.Errorf("stats does not say %q:\n%s", want, txt)
		}
	}
	var st statsOut
	if err := json.Unmarshal([]byte(ok(t, "", "stats", p, "--json")), &st); err != nil {
		t.Fatal(err)
	}
	if st.Capacity != 168 || st.Slots != 224 || st.MaxCapacity != 6120 || st.Tiers != 3 || st.MaxTiers != 8 || st.Keys != 100 || st.ClaimedSlots != 100 {
		t.Errorf("stats --json: %+v", st)
	}

	// ls does not attach: it shows the most keys the table can grow to.
	var row lsOut
	if err := json.Unmarshal([]byte(ok(t, "", "ls", dir, "--json")), &row); err != nil {
		t.Fatal(err)
	}
	if !row.Grows || row.Capacity != 6120 || row.Keys != 100 || fmt.Sprintf("%.2f", row.Fill) != "1.63" {
		t.Errorf("ls --json: %+v", row)
	}
	if txt := ok(t, "", "ls", dir); !strings.Contains(txt, "up to 6120") {
		t.Errorf("ls does not say the max capacity:\n%s", txt)
	}

	// The dump records the growth, and load makes the same table.
	dump := ok(t, "", "dump", p)
	const header = "{\"shmdict_dump\":4,\"capacity\":24,\"arena_bytes\":524288,\"max_procs\":1024,\"events\":0,\"eviction\":\"none\",\"adder_lanes\":64,\"max_capacity\":4096}\n"
	if !strings.HasPrefix(dump, header) {
		t.Fatalf("dump header %q, want %q", dump[:strings.Index(dump, "\n")+1], header)
	}
	q := filepath.Join(dir, "copy.shm")
	if out := ok(t, dump, "load", q); !strings.Contains(out, "grown to 3 of 8 tiers; grows to 6120 keys") {
		t.Fatalf("load printed %q", out)
	}
	if d := cmp.Diff(dump, ok(t, "", "dump", q)); d != "" {
		t.Fatalf("dump of the loaded copy differs (-first +copy):\n%s", d)
	}
	// A dump of a fixed table has no max_capacity, and loads as one.
	f := filepath.Join(dir, "fixed.shm")
	ok(t, "", "create", f, "--capacity", "100")
	if d := ok(t, "", "dump", f); strings.Contains(d, "max_capacity") {
		t.Errorf("dump of a fixed table: %q", d)
	}
	if txt := ok(t, "", "stats", f); !strings.Contains(txt, "growth          none") {
		t.Errorf("stats of a fixed table:\n%s", txt)
	}
	var fixed lsOut
	for _, line := range strings.Split(strings.TrimSpace(ok(t, "", "ls", dir, "--json")), "\n") {
		if err := json.Unmarshal([]byte(line), &fixed); err != nil {
			t.Fatal(err)
		}
		if fixed.Name == "fixed.shm" {
			break
		}
	}
	if fixed.Name != "fixed.shm" || fixed.Grows || fixed.Capacity != 192 {
		t.Errorf("ls --json of a fixed table: %+v", fixed)
	}
}

// TestGrowingLoadFlags: load's flags change a growing dump's shape, and
// the mistakes name the flag to pass.
func TestGrowingLoadFlags(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "g.shm")
	ok(t, "", "create", p, "--capacity", "16", "--max-capacity", "4096")
	ok(t, recordsDump(50), "load", p)
	dump := ok(t, "", "dump", p)

	// --max-capacity 0: a fixed table.
	fixed := filepath.Join(dir, "fixed.shm")
	ok(t, dump, "load", fixed, "--capacity", "5000", "--max-capacity", "0")
	if txt := ok(t, "", "stats", fixed); !strings.Contains(txt, "growth          none") || !strings.Contains(txt, "format version  5") {
		t.Errorf("stats of a dump loaded with --max-capacity 0:\n%s", txt)
	}
	// Another max capacity.
	more := filepath.Join(dir, "more.shm")
	ok(t, dump, "load", more, "--max-capacity", "100000")
	if d := ok(t, "", "dump", more); !strings.Contains(d, "\"max_capacity\":100000}") {
		t.Errorf("dump of a table loaded with --max-capacity 100000: %q", d[:strings.Index(d, "\n")])
	}
	// --evict: a table that evicts does not grow.
	ev := filepath.Join(dir, "ev.shm")
	ok(t, dump, "load", ev, "--evict", "--capacity", "100")
	if d := ok(t, "", "dump", ev); strings.Contains(d, "max_capacity") || !strings.Contains(d, "\"eviction\":\"clock\"") {
		t.Errorf("dump of a growing dump loaded with --evict: %q", d[:strings.Index(d, "\n")])
	}

	fails(t, 2, "--max-capacity N (at least 5000)", dump, "load", filepath.Join(dir, "x.shm"), "--capacity", "5000")
	fails(t, 2, "--max-capacity cannot be combined with --evict", dump, "load", filepath.Join(dir, "x.shm"), "--evict", "--max-capacity", "100")
	fails(t, 2, "--max-capacity must be 0 (a fixed table) or at least --capacity 16", "", "create", filepath.Join(dir, "x.shm"), "--capacity", "16", "--max-capacity", "8")
	fails(t, 2, "raise --capacity", "", "create", filepath.Join(dir, "x.shm"), "--capacity", "1", "--max-capacity", "100000000000000")
	fails(t, 1, "already exists with growth up to 4096 keys, not growth up to 5000 keys", dump, "load", p, "--max-capacity", "5000")
	ok(t, dump, "load", p, "--max-capacity", "4096") // repeats the shape: accepted
	fails(t, 1, "max_capacity 10: want at least capacity", "{\"shmdict_dump\":4,\"capacity\":24,\"arena_bytes\":524288,\"max_procs\":1024,\"events\":0,\"eviction\":\"none\",\"max_capacity\":10}\n", "load", filepath.Join(dir, "x.shm"))

	// A table full at its max capacity says how to give it more.
	small := filepath.Join(dir, "small.shm")
	ok(t, "", "create", small, "--capacity", "4", "--max-capacity", "30")
	fails(t, 1, "give it a larger max capacity: 'shmdict compact "+small+" --max-capacity N'", recordsDump(60), "load", small)
	fails(t, 1, "load with a larger --max-capacity or --arena", recordsDump(60), "load", filepath.Join(dir, "new.shm"), "--capacity", "4", "--max-capacity", "30")
	// compact keeps the growth, and --max-capacity raises it: the load
	// that failed above then fits.
	ok(t, "", "compact", p)
	if st := ok(t, "", "stats", p); !strings.Contains(st, "grows to") {
		t.Errorf("stats after compact: %q", st)
	}
	ok(t, "", "compact", small, "--max-capacity", "1000")
	ok(t, recordsDump(60), "load", small)
}
