package table_test

// Multi-process tests: several OS processes (this test binary re-executed,
// see main_test.go) share one segment. Each test fixes its own segment
// name, lines the children up with a start barrier so that they really run
// at the same time, and checks exact results in the parent; children check
// what they can see locally and fail loudly.

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"maps"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/shmdict/shmdict/table"
)

const (
	roleEcho       = "echo"
	roleAdd        = "add"
	roleInsert     = "insert"
	roleTornWriter = "torn-writer"
	roleTornReader = "torn-reader"
	roleOpenRace   = "open-race"
)

func mustCreate(tb testing.TB, name string, opts table.Options) *table.Table {
	tb.Helper()
	tbl, err := table.Create(name, opts)
	if err != nil {
		tb.Fatalf("Create(%q, %+v): %v", name, opts, err)
	}
	tb.Cleanup(func() { tbl.Close() })
	return tbl
}

// spinBarrier is a second start barrier, inside the table: each child
// bumps the counter key and spins until all procs have. The pipe barrier
// wakes the children within microseconds of each other, but a loaded
// machine may run one for a while before the other; after this, all of
// them are known to be running when their loops start, so that short loops
// (milliseconds) really overlap.
func spinBarrier(tbl *table.Table, key []byte, procs int) error {
	if _, err := tbl.Add(key, 1); err != nil {
		return fmt.Errorf("barrier Add(%s, 1): %w", key, err)
	}
	for {
		n, err := tbl.Add(key, 0)
		if err != nil {
			return fmt.Errorf("barrier Add(%s, 0): %w", key, err)
		}
		if n >= int64(procs) {
			return nil
		}
		runtime.Gosched()
	}
}

func randBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// ---- 1. a value written in one process is read in another, both ways ----

func reversed(b []byte) []byte {
	out := slices.Clone(b)
	slices.Reverse(out)
	return out
}

func TestMultiProcSetGet(t *testing.T) {
	seed := testSeed(t)
	r := rand.New(rand.NewPCG(seed, 1))
	name := segName(t, "")
	tbl := mustCreate(t, name, table.Options{Capacity: 1024})

	pv := randBytes(r, 1+r.IntN(300))
	if err := tbl.Set([]byte("from-parent"), pv); err != nil {
		t.Fatal(err)
	}
	if _, err := tbl.Add([]byte("parent-counter"), 42); err != nil {
		t.Fatal(err)
	}

	g := startChildren(t, roleEcho, 1, name)
	pid := g.procs[0].cmd.Process.Pid
	got := g.expect("read")[0]
	if want := []string{hex.EncodeToString(pv), "42"}; !slices.Equal(got, want) {
		t.Errorf("child read (value hex, counter) = %q, want %q", got, want)
	}
	// The child is attached now: the registry must list it.
	if !hasPID(t, tbl, pid) {
		t.Errorf("Stats().Processes = %+v while child pid %d is attached: child missing", tbl.Stats().Processes, pid)
	}
	g.release()
	g.wait()

	v, err := tbl.Get([]byte("from-child"))
	if err != nil {
		t.Fatalf("Get(from-child) after the child set it: %v", err)
	}
	if want := append([]byte("from-child:"), reversed(pv)...); !bytes.Equal(v, want) {
		t.Errorf("Get(from-child) = %x, want %x", v, want)
	}
	if n, err := tbl.Add([]byte("child-counter"), 0); err != nil || n != 7 {
		t.Errorf("Add(child-counter, 0) = %d, %v; want 7, nil", n, err)
	}
	if n := tbl.Len(); n != 4 {
		t.Errorf("Len() = %d, want 4 (two values, two counters)", n)
	}
	// The child exited without Close: the kernel dropped its registry lock,
	// so it must no longer be listed.
	if hasPID(t, tbl, pid) {
		t.Errorf("Stats().Processes = %+v lists child pid %d after it exited", tbl.Stats().Processes, pid)
	}
}

func hasPID(t *testing.T, tbl *table.Table, pid int) bool {
	t.Helper()
	for _, p := range tbl.Stats().Processes {
		if p.PID == pid {
			return true
		}
	}
	return false
}

// childEcho reads what the parent wrote, reports it, waits, then writes a
// value and a counter for the parent. It exits without Close on purpose.
func childEcho(args []string) error {
	if err := childArgs(args, "name"); err != nil {
		return err
	}
	tbl, err := table.Attach(args[0])
	if err != nil {
		return err
	}
	v, err := tbl.Get([]byte("from-parent"))
	if err != nil {
		return fmt.Errorf("Get(from-parent): %w", err)
	}
	n, err := tbl.Add([]byte("parent-counter"), 0)
	if err != nil {
		return fmt.Errorf("Add(parent-counter, 0): %w", err)
	}
	if _, err := childSync(fmt.Sprintf("read %x %d", v, n)); err != nil {
		return err
	}
	if err := tbl.Set([]byte("from-child"), append([]byte("from-child:"), reversed(v)...)); err != nil {
		return fmt.Errorf("Set(from-child): %w", err)
	}
	if _, err := tbl.Add([]byte("child-counter"), 7); err != nil {
		return fmt.Errorf("Add(child-counter, 7): %w", err)
	}
	return nil
}

// ---- 2. concurrent Add from two processes is exact ----

func counterKey(i int) []byte { return fmt.Appendf(nil, "ctr-%04d", i) }

// TestMultiProcAddCounters: 2 processes x 200,000 Adds on 1,000 shared
// counters sum exactly. In mode "key" every Add is Table.Add; in "mixed"
// each Add picks Table.Add or a Counter handle at random, so the two paths
// race on the same counters.
func TestMultiProcAddCounters(t *testing.T) {
	for _, mode := range []string{"key", "mixed"} {
		t.Run(mode, func(t *testing.T) { testMultiProcAddCounters(t, mode) })
	}
}

func testMultiProcAddCounters(t *testing.T, mode string) {
	const (
		procs    = 2
		counters = 1000
		adds     = 200_000 // per process
	)
	seed := testSeed(t)
	name := segName(t, "")
	tbl := mustCreate(t, name, table.Options{Capacity: 2 * counters})

	g := startChildren(t, roleAdd, procs, name, itoa(procs), itoa(counters), itoa(adds), utoa(seed), mode)
	g.expect("ready")
	g.release()
	out := g.wait()

	want := make([]int64, counters)
	var interleaved int64
	for i, lines := range out {
		interleaved += resultInt(t, lines, "interleaved", 0)
		f := result(t, lines, "counts")
		if len(f) != counters {
			t.Fatalf("child %d reported %d counts, want %d", i, len(f), counters)
		}
		var sum int64
		for k, s := range f {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				t.Fatalf("child %d count %d: %v", i, k, err)
			}
			want[k] += n
			sum += n
		}
		if sum != adds {
			t.Errorf("child %d reports %d adds in all, want %d", i, sum, adds)
		}
	}

	got := make([]int64, counters)
	var total int64
	present := 0
	for k := range counters {
		n, err := tbl.Add(counterKey(k), 0)
		if err != nil {
			t.Fatalf("Add(%s, 0): %v", counterKey(k), err)
		}
		got[k] = n
		total += n
		if want[k] != 0 {
			present++
		}
	}
	if total != procs*adds {
		t.Errorf("sum over all counters = %d, want exactly %d (%d lost or extra increments)", total, procs*adds, procs*adds-total)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("counters differ from what the children added (-want +got):\n%s", d)
	}
	if n := tbl.Len(); n != present+1 {
		t.Errorf("Len() = %d, want %d (counters that were added to, and the barrier)", n, present+1)
	}
	// Evidence that the processes really ran at the same time: a child
	// saw another's increment land between two of its own on a counter.
	t.Logf("%d of %d Adds saw another process's increments since their previous Add on the same counter", interleaved, procs*adds)
	if interleaved == 0 {
		t.Errorf("no Add saw an increment by the other process between two of its own: the processes did not overlap, so the test proved nothing")
	}
}

// childAdd adds 1 to random counters and reports how often it added to
// each. Each Add's result must exceed the last one it saw on that counter
// (others only add too); it counts the Adds whose result shows that
// another process added to the counter since its own previous Add there.
func childAdd(args []string) error {
	if err := childArgs(args, "name", "procs", "counters", "adds", "seed", "mode"); err != nil {
		return err
	}
	procs, counters, adds := atoi(args[1]), atoi(args[2]), atoi(args[3])
	r := rand.New(rand.NewPCG(atou(args[4]), uint64(childIndex())))
	mixed := args[5] == "mixed"
	tbl, err := table.Attach(args[0])
	if err != nil {
		return err
	}
	defer tbl.Close()
	keys := make([][]byte, counters)
	handles := make([]*table.Counter, counters)
	for i := range keys {
		keys[i] = counterKey(i)
		if mixed {
			if handles[i], err = tbl.Counter(keys[i]); err != nil {
				return err
			}
		}
	}
	add := func(k int) (int64, error) {
		if mixed && r.IntN(2) == 0 {
			return handles[k].Add(1)
		}
		return tbl.Add(keys[k], 1)
	}
	counts := make([]int64, counters)
	last := make([]int64, counters)
	interleaved := 0
	if _, err := childSync("ready"); err != nil {
		return err
	}
	if err := spinBarrier(tbl, []byte("ctr-start"), procs); err != nil {
		return err
	}
	for range adds {
		k := r.IntN(counters)
		n, err := add(k)
		if err != nil {
			return fmt.Errorf("Add(%s, 1): %w", keys[k], err)
		}
		if n <= last[k] {
			return fmt.Errorf("Add(%s, 1) = %d after an earlier Add returned %d: the counter went backwards", keys[k], n, last[k])
		}
		if last[k] != 0 && n > last[k]+1 {
			interleaved++
		}
		last[k] = n
		counts[k]++
	}
	childReport("interleaved", interleaved)
	fields := make([]any, counters)
	for i, c := range counts {
		fields[i] = c
	}
	childReport("counts", fields...)
	return nil
}

// ---- 3. concurrent inserts of disjoint key sets ----

func insertKey(proc, j int) string { return fmt.Sprintf("c%d-k%06d", proc, j) }

// insertValue is a deterministic value of varying length (several size
// classes), so that the parent can recompute every child's values.
func insertValue(proc, j int) string {
	return fmt.Sprintf("v%d-%d-", proc, j) + strings.Repeat(string(rune('a'+j%26)), j%45)
}

func TestMultiProcDisjointInserts(t *testing.T) {
	const procs = 2
	keys := 50_000 // per process
	if raceBuild() {
		keys = 20_000
	}
	name := segName(t, "")
	tbl := mustCreate(t, name, table.Options{Capacity: procs*keys + 1})

	g := startChildren(t, roleInsert, procs, name, itoa(procs), itoa(keys))
	g.expect("ready")
	g.release()
	out := g.wait()
	for i, lines := range out {
		if n := resultInt(t, lines, "inserted", 0); n != int64(keys) {
			t.Errorf("child %d inserted %d keys, want %d", i, n, keys)
		}
	}

	if n, err := tbl.Add([]byte("insert-start"), -procs); err != nil || n != 0 {
		t.Fatalf("Add(insert-start, -%d) = %d, %v; want 0, nil (each child passes the barrier once)", procs, n, err)
	}
	if ok, err := tbl.Delete([]byte("insert-start")); err != nil || !ok {
		t.Fatalf("Delete(insert-start) = %v, %v; want true, nil", ok, err)
	}
	want := make(map[string]string, procs*keys)
	for p := range procs {
		for j := range keys {
			want[insertKey(p, j)] = insertValue(p, j)
		}
	}
	if n := tbl.Len(); n != procs*keys {
		t.Errorf("Len() = %d, want %d", n, procs*keys)
	}
	st := tbl.Stats()
	// Every key claimed one slot, and so did the deleted barrier key.
	if st.Keys != procs*keys || st.ClaimedSlots != procs*keys+1 || st.Tombstones != 1 {
		t.Errorf("Stats() Keys, ClaimedSlots, Tombstones = %d, %d, %d; want %d, %d, 1",
			st.Keys, st.ClaimedSlots, st.Tombstones, procs*keys, procs*keys+1)
	}
	bad := 0
	for k, w := range want {
		v, err := tbl.Get([]byte(k))
		if err != nil || string(v) != w {
			if bad < 10 {
				t.Errorf("Get(%q) = %q, %v; want %q", k, v, err, w)
			}
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d keys wrong or missing", bad, len(want))
	}
	got := make(map[string]string, procs*keys)
	for k, v := range tbl.All() {
		if _, dup := got[string(k)]; dup {
			t.Errorf("All() yielded %q twice", k)
		}
		got[string(k)] = string(v)
	}
	// cmp.Diff on 100,000 entries is slow (seconds under -race): only
	// for the message.
	if !maps.Equal(got, want) {
		t.Errorf("All() differs from the keys inserted (-want +got):\n%s", cmp.Diff(want, got))
	}
}

// childStart is the start of a child that works on its own share of a
// table: args are name, procs and a count (its name in the role's
// arguments is count). It attaches, says "ready", waits for the parent,
// then for its siblings (spinBarrier on the key barrier).
func childStart(args []string, count, barrier string) (tbl *table.Table, me, n int, err error) {
	if err := childArgs(args, "name", "procs", count); err != nil {
		return nil, 0, 0, err
	}
	me, procs, n := childIndex(), atoi(args[1]), atoi(args[2])
	if tbl, err = table.Attach(args[0]); err != nil {
		return nil, 0, 0, err
	}
	if _, err := childSync("ready"); err != nil {
		tbl.Close()
		return nil, 0, 0, err
	}
	if err := spinBarrier(tbl, []byte(barrier), procs); err != nil {
		tbl.Close()
		return nil, 0, 0, err
	}
	return tbl, me, n, nil
}

// childInsert inserts its own keys (even children with Set, odd ones with
// SetIfAbsent, which must store every time), then reads them back.
func childInsert(args []string) error {
	tbl, me, keys, err := childStart(args, "keys", "insert-start")
	if err != nil {
		return err
	}
	defer tbl.Close()
	for j := range keys {
		k, v := []byte(insertKey(me, j)), []byte(insertValue(me, j))
		if me%2 == 0 {
			if err := tbl.Set(k, v); err != nil {
				return fmt.Errorf("Set(%s): %w", k, err)
			}
		} else {
			stored, err := tbl.SetIfAbsent(k, v)
			if err != nil || !stored {
				return fmt.Errorf("SetIfAbsent(%s) = %v, %v on a key no one else writes; want true, nil", k, stored, err)
			}
		}
	}
	for j := range keys {
		k, want := insertKey(me, j), insertValue(me, j)
		v, err := tbl.Get([]byte(k))
		if err != nil || string(v) != want {
			return fmt.Errorf("reading back own key: Get(%s) = %q, %v; want %q", k, v, err, want)
		}
	}
	childReport("inserted", keys)
	return nil
}
