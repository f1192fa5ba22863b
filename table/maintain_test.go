package table

import (
	"context"
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

// TestCompactGrowsArena compacts a table created with the default arena
// for 1,000 keys to a capacity of 100,000: the arena grows with it, as
// Create would size it, so the table takes far more keys than its old
// arena held (issue 12, item 8: inserts failed with ErrFull after 1,138
// keys while Stats said 0.6% full).
func TestCompactGrowsArena(t *testing.T) {
	path := filepath.Join(t.TempDir(), "grow")
	tb, err := Create(path, Options{Capacity: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 500; i++ {
		if err := tb.Set([]byte(fmt.Sprintf("key-%07d", i)), []byte(fmt.Sprintf("value-%07d", i))); err != nil {
			t.Fatal(err)
		}
	}
	tb.Close()
	rep, err := Compact(path, CompactOptions{Capacity: 100000})
	if err != nil {
		t.Fatal(err)
	}
	tb, err = Attach(path)
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	st := tb.Stats()
	if want := defaultArena(100000); st.ArenaBytes < want {
		t.Fatalf("after compact to capacity 100000: ArenaBytes %d, want at least %d (report %+v)", st.ArenaBytes, want, rep)
	}
	const n = 60000
	for i := 500; i < n; i++ {
		if err := tb.Set([]byte(fmt.Sprintf("key-%07d", i)), []byte(fmt.Sprintf("value-%07d", i))); err != nil {
			t.Fatalf("Set of key %d after compact to capacity 100000: %v", i, err)
		}
	}
	if got := tb.Len(); got != n {
		t.Fatalf("Len = %d, want %d", got, n)
	}
	// An explicit ArenaBytes wins, and not growing keeps the arena.
	tb.Close()
	if _, err := Compact(path, CompactOptions{Capacity: 100000, ArenaBytes: 16 << 20}); err != nil {
		t.Fatal(err)
	}
	if tb, err = Attach(path); err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	if got := tb.Stats().ArenaBytes; got != 16<<20 {
		t.Fatalf("ArenaBytes after compact with ArenaBytes 16 MiB = %d", got)
	}
}

func TestGrownArena(t *testing.T) {
	const limit = int64(segment.MaxArenaUnits) * segment.Unit
	for _, c := range []struct {
		old            int64
		oldCap, newCap int
		want           int64
	}{
		{128000, 1536, 100000, 100000 * DefaultBytesPerKey}, // created with the default for 1000 keys
		{64 << 10, 12, 1000, 128000},                        // the 64 KiB minimum
		{64 << 10, 12, 12, 64 << 10},                        // same capacity: keep
		{1 << 30, 1536, 1000, 1 << 30},                      // shrinking: keep
		{1 << 20, 1536, 15360, 10 << 20},                    // a larger arena per key scales
		{1 << 30, 12, 1 << 20, limit},                       // capped at what a segment addresses
		{10 << 20, 1536, 3072, 20 << 20},
	} {
		if got := grownArena(c.old, c.oldCap, c.newCap); got != c.want {
			t.Errorf("grownArena(%d, %d, %d) = %d, want %d", c.old, c.oldCap, c.newCap, got, c.want)
		}
	}
}

// TestCompactForceMarksReplaced: a forced Compact under a process that
// keeps the table open marks the old segment replaced. That process's
// blocked Wait and Subscribe calls wake with ErrReplaced, and its writes
// fail with it, instead of going on silently in a copy nobody else sees
// (issue 12, item 8: a running watch never saw later writes).
func TestCompactForceMarksReplaced(t *testing.T) {
	path := filepath.Join(t.TempDir(), "repl")
	tb, err := Create(path, Options{Capacity: 100, EventRing: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	if err := tb.Set([]byte("k"), []byte("v1")); err != nil {
		t.Fatal(err)
	}
	_, ver, err := tb.Lookup([]byte("k"))
	if err != nil {
		t.Fatal(err)
	}
	ctr, err := tb.Counter([]byte("hits"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ctr.Add(1); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	waited := make(chan error, 1)
	go func() {
		_, err := tb.Wait(ctx, []byte("k"), ver)
		waited <- err
	}()
	subscribed := make(chan error, 1)
	go func() {
		for _, err := range tb.Subscribe(ctx, nil) {
			if err != nil {
				subscribed <- err
				return
			}
		}
		subscribed <- nil
	}()
	time.Sleep(100 * time.Millisecond) // let both block
	start := time.Now()
	if _, err := Compact(path, CompactOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	for what, ch := range map[string]chan error{"Wait": waited, "Subscribe": subscribed} {
		select {
		case err := <-ch:
			if !errors.Is(err, ErrReplaced) {
				t.Errorf("%s blocked across a forced Compact returned %v, want ErrReplaced", what, err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("%s learned of the replacement after %v", what, d)
			}
		case <-time.After(3 * time.Second):
			t.Errorf("%s blocked across a forced Compact did not return within 3 s", what)
		}
	}
	// Every write, and a new Wait, now says to reopen.
	for what, err := range map[string]error{
		"Set":         tb.Set([]byte("k"), []byte("v2")),
		"SetWithTTL":  tb.SetWithTTL([]byte("k"), []byte("v2"), time.Hour),
		"Delete":      second(tb.Delete([]byte("k"))),
		"Add":         second(tb.Add([]byte("n"), 1)),
		"GetOrSet":    third(tb.GetOrSet([]byte("x"), []byte("v"))),
		"CAS":         second(tb.CompareAndSwap([]byte("k"), []byte("v1"), []byte("v3"))),
		"Counter.Add": second(ctr.Add(1)),
		"Clear":       tb.Clear(),
		"Wait":        second(tb.Wait(ctx, []byte("k"), ver)),
	} {
		if !errors.Is(err, ErrReplaced) {
			t.Errorf("%s on the replaced segment: %v, want ErrReplaced", what, err)
		}
	}
	if !tb.Stats().Replaced {
		t.Errorf("Stats().Replaced is false on the replaced segment")
	}
	// Reads still see the old copy; the name opens the new generation.
	if v, err := tb.Get([]byte("k")); err != nil || string(v) != "v1" {
		t.Errorf("Get on the replaced segment: %q, %v", v, err)
	}
	nt, err := Attach(path)
	if err != nil {
		t.Fatal(err)
	}
	defer nt.Close()
	if nt.Stats().Replaced {
		t.Errorf("the new generation says it was replaced")
	}
	if err := nt.Set([]byte("k"), []byte("v2")); err != nil {
		t.Errorf("Set on the new generation: %v", err)
	}
}

func second[A any](_ A, err error) error        { return err }
func third[A, B any](_ A, _ B, err error) error { return err }
func baseNames(paths []string) []string {
	var out []string
	for _, p := range paths {
		out = append(out, filepath.Base(p))
	}
	slices.Sort(out)
	return out
}

// TestCompactPlantedTempName: Compact's temporary name must not be one
// that another user can guess and take first. In /dev/shm anyone can make
// a directory (with a file in it, so that not even root removes it)
// under a predictable name such as .<name>.compact.<pid>; Compact then
// failed with ErrExist every time.
func TestCompactPlantedTempName(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tbl")
	tb, err := Create(path, Options{Capacity: 100})
	if err != nil {
		t.Fatal(err)
	}
	tb.Set([]byte("k"), []byte("v"))
	tb.Close()
	planted := filepath.Join(dir, ".tbl.compact."+fmt.Sprint(os.Getpid()))
	if err := os.MkdirAll(filepath.Join(planted, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Compact(path, CompactOptions{}); err != nil {
		t.Fatalf("Compact with its old temporary name taken: %v", err)
	}
	tb, err = Attach(path)
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	if v, err := tb.Get([]byte("k")); err != nil || string(v) != "v" {
		t.Fatalf("after Compact: Get = %q, %v", v, err)
	}
}

// TestCompactNameReplaced: a table removed and made anew under its name
// while Compact copies the old one (which can take a while) must not be
// overwritten by the old one's copy.
func TestCompactNameReplaced(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tbl")
	tb, err := Create(path, Options{Capacity: 100})
	if err != nil {
		t.Fatal(err)
	}
	tb.Set([]byte("k"), []byte("old"))
	tb.Close()
	testHookCompactCopied = func() {
		if err := Remove(path); err != nil {
			t.Error(err)
		}
		nt, err := Create(path, Options{Capacity: 100})
		if err != nil {
			t.Error(err)
			return
		}
		nt.Set([]byte("k"), []byte("new"))
		nt.Close()
	}
	defer func() { testHookCompactCopied = nil }()
	if _, err := Compact(path, CompactOptions{}); !errors.Is(err, ErrBusy) {
		t.Errorf("Compact of a table replaced under it: %v, want ErrBusy", err)
	}
	tb, err = Attach(path)
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	if v, err := tb.Get([]byte("k")); err != nil || string(v) != "new" {
		t.Fatalf("the table made under the name meanwhile: Get = %q, %v; want new", v, err)
	}
	if infos, _ := List(filepath.Dir(path)); len(infos) != 1 {
		t.Errorf("left behind: %v", infos)
	}
}

// TestRemoveOrphansOnlyOurNames: other programs write temp files too,
// often named .<name>.tmp.<something>, and an empty one (just created,
// not yet written) starts with zeros. Only the exact names create and
// Compact make are temp files of ours.
func TestRemoveOrphansOnlyOurNames(t *testing.T) {
	dir := t.TempDir()
	theirs := []string{".state.tmp.x9Kq2", ".config.json.tmp.", ".a.tmp.1", ".b.tmp.1.2.3", ".c.compact.old", ".tmp.1.2"}
	for _, name := range theirs {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ours := []string{".t.tmp.12.345", ".t.compact.12", ".t.compact.12.345", "..t.compact.12.345.tmp.67.89"}
	for _, name := range ours {
		if err := os.WriteFile(filepath.Join(dir, name), make([]byte, 64), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	removed, err := RemoveOrphans(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := baseNames(removed), slices.Sorted(slices.Values(ours)); !slices.Equal(slices.Sorted(slices.Values(got)), want) {
		t.Errorf("RemoveOrphans removed %v, want %v", got, want)
	}
	for _, name := range theirs {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("another program's %s was removed: %v", name, err)
		}
	}
}

// TestCreateRefusesTempNames: a table may not be created under a name of
// the form create and Compact use for their temp files (possible with a
// path): List would take it for a temp file, and RemoveOrphans remove
// it, data and all, as soon as nobody had it open.
func TestCreateRefusesTempNames(t *testing.T) {
	dir := t.TempDir()
	for i, name := range []string{".sessions.compact.1", ".t.tmp.1.2"} {
		p := filepath.Join(dir, name)
		var tb *Table
		var err error
		if i == 0 {
			tb, err = Create(p, Options{Capacity: 10})
		} else {
			tb, err = Open(p, Options{Capacity: 10})
		}
		if err == nil {
			tb.Set([]byte("k"), []byte("v"))
			tb.Close()
		}
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("creating %s: %v, want ErrInvalid", name, err)
		}
	}
	if removed, _ := RemoveOrphans(dir); len(removed) > 0 {
		t.Errorf("RemoveOrphans removed tables: %v", removed)
	}
}
