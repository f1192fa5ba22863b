package table

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shmdict/shmdict/segment"
)

func TestCompact(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tbl")
	tb, err := Create(path, Options{Capacity: 1200, EventRing: 128})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		if err := tb.Set([]byte(fmt.Sprint("k", i)), []byte(fmt.Sprint("value-", i))); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 900 {
		tb.Delete([]byte(fmt.Sprint("k", i)))
	}
	tb.Add([]byte("hits"), 42)
	tb.Add([]byte("zero"), 5)
	tb.Add([]byte("zero"), -5)
	tb.Set([]byte("empty"), nil)
	before := snapshot(tb)
	if _, err := Compact(path, CompactOptions{}); !errors.Is(err, ErrInUse) {
		t.Fatalf("Compact with the table open elsewhere: %v, want ErrInUse", err)
	}
	tb.Close()

	rep, err := Compact(path, CompactOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Keys != 103 || rep.DroppedSlots != 900 || rep.NewCapacity != rep.OldCapacity {
		t.Fatalf("report: %+v", rep)
	}
	tb, err = Attach(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, snapshot(tb)); diff != "" {
		t.Fatalf("contents changed (-before +after):\n%s", diff)
	}
	if tb.seg.Layout.RingEntries != 128 {
		t.Errorf("compaction dropped the event ring: %d entries", tb.seg.Layout.RingEntries)
	}
	if n, err := tb.Add([]byte("zero"), 0); n != 0 || err != nil {
		t.Fatalf("zero counter: %d, %v", n, err)
	}
	if _, err := tb.Add([]byte("zero"), 1); err != nil {
		t.Fatalf("zero is still a counter: %v", err)
	}
	st := tb.Stats()
	if st.ClaimedSlots != 103 || st.Tombstones != 0 {
		t.Fatalf("after compaction: %+v", st)
	}
	mustVerify(t, tb)
	tb.Close()

	// Compaction grows a table.
	rep, err = Compact(path, CompactOptions{Capacity: 5000, ArenaBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if rep.NewCapacity < 5000 {
		t.Fatalf("grown capacity %d", rep.NewCapacity)
	}
	tb, err = Attach(path)
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	for i := range 4000 {
		if err := tb.Set([]byte(fmt.Sprint("n", i)), []byte("x")); err != nil {
			t.Fatal(i, err)
		}
	}
	mustVerify(t, tb)
	if _, err := Compact(path, CompactOptions{Capacity: 10}); !errors.Is(err, ErrInUse) {
		t.Fatalf("Compact while open: %v", err)
	}
	tb.Close()
	if _, err := Compact(path, CompactOptions{Capacity: 10}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Compact to a capacity below the key count: %v, want ErrInvalid", err)
	}
	left, _ := os.ReadDir(filepath.Dir(path))
	if len(left) != 1 {
		t.Fatalf("files left behind: %v", left)
	}
}

func TestListAndRemoveOrphans(t *testing.T) {
	dir := t.TempDir()
	open, err := Create(filepath.Join(dir, "open"), Options{Capacity: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	open.Set([]byte("a"), []byte("1"))
	closed, err := Create(filepath.Join(dir, "closed"), Options{Capacity: 10})
	if err != nil {
		t.Fatal(err)
	}
	closed.Set([]byte("a"), []byte("1"))
	closed.Set([]byte("b"), []byte("2"))
	closed.Close()
	os.WriteFile(filepath.Join(dir, "notours"), []byte("hello"), 0o600)
	os.WriteFile(filepath.Join(dir, "damaged"), append([]byte(segment.Magic), make([]byte, 300)...), 0o600)
	os.WriteFile(filepath.Join(dir, ".x.tmp.1.2"), make([]byte, 100), 0o600)
	os.WriteFile(filepath.Join(dir, ".y.tmp.3.4"), []byte("another program's file"), 0o600)

	infos, err := List(dir)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]SegmentInfo{}
	for _, in := range infos {
		got[filepath.Base(in.Path)] = in
	}
	names := slices.Sorted(func(yield func(string) bool) {
		for k := range got {
			if !yield(k) {
				return
			}
		}
	})
	if want := []string{".x.tmp.1.2", "closed", "damaged", "open"}; !slices.Equal(names, want) {
		t.Fatalf("List found %v, want %v", names, want)
	}
	if in := got["open"]; in.Orphan() || in.Unused() || len(in.Live) != 1 || in.Keys != 1 {
		t.Fatalf("open: %+v", in)
	}
	// A table nobody has open is unused, not an orphan (issue 12, item 8).
	if in := got["closed"]; in.Orphan() || !in.Unused() || in.Keys != 2 || time.Since(in.Modified) > time.Minute {
		t.Fatalf("closed: %+v", in)
	}
	if in := got["damaged"]; in.Err == nil || !(errors.Is(in.Err, ErrCorrupt) || errors.Is(in.Err, ErrVersion)) || in.Orphan() || in.Unused() {
		t.Fatalf("damaged: %+v", in)
	}
	if in := got[".x.tmp.1.2"]; !in.Temp || in.TempInUse || !in.Orphan() || in.Unused() {
		t.Fatalf("temp: %+v", in)
	}
	removed, err := RemoveOrphans(dir)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{".x.tmp.1.2"}; !slices.Equal(baseNames(removed), want) {
		t.Fatalf("RemoveOrphans removed %v, want %v", removed, want)
	}
	// The unused table keeps its data.
	tb, err := Attach(filepath.Join(dir, "closed"))
	if err != nil {
		t.Fatalf("the unused table after RemoveOrphans: %v", err)
	}
	if v, err := tb.Get([]byte("b")); err != nil || string(v) != "2" {
		t.Fatalf("the unused table after RemoveOrphans: %q, %v", v, err)
	}
	tb.Close()

	// RemoveUnusedFor goes by the last use: attach and close count.
	if removed, err := RemoveUnusedFor(dir, time.Hour); err != nil || len(removed) != 0 {
		t.Fatalf("RemoveUnusedFor(1h) of tables used just now: removed %v, %v", removed, err)
	}
	old := time.Now().Add(-2 * time.Hour)
	for _, name := range []string{"closed", "open", "damaged"} {
		if err := os.Chtimes(filepath.Join(dir, name), old, old); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := RemoveUnusedFor(dir, 0); !errors.Is(err, ErrInvalid) {
		t.Fatalf("RemoveUnusedFor(0): %v, want ErrInvalid", err)
	}
	removed, err = RemoveUnusedFor(dir, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"closed"}; !slices.Equal(baseNames(removed), want) {
		t.Fatalf("RemoveUnusedFor removed %v, want %v", removed, want)
	}
	for _, name := range []string{"open", "damaged", ".y.tmp.3.4", "notours"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Fatalf("%s was removed: %v", name, err)
		}
	}
	if v, err := open.Get([]byte("a")); err != nil || string(v) != "1" {
		t.Fatalf("open table after RemoveOrphans: %q, %v", v, err)
	}
}

func baseNames(paths []string) []string {
	var out []string
	for _, p := range paths {
		out = append(out, filepath.Base(p))
	}
	slices.Sort(out)
	return out
}
