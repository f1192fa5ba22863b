package table_test

// Online growth seen from several processes: writers insert far more keys
// than the table's first tier holds, so that it grows through many tiers
// while a reader in a third process keeps checking that every key a
// writer acknowledged stays readable with its value.

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/shmdict/shmdict/table"
)

const (
	roleGrowWriter = "grow-writer"
	roleGrowReader = "grow-reader"

	// growProgressEvery is how many acknowledged inserts a writer makes
	// between two updates of its progress counter: often enough that the
	// reader checks keys just inserted (the ones most likely to sit in a
	// tier that was growing), rarely enough that the counter's Add is not
	// half the writer's work.
	growProgressEvery = 64
)

func init() {
	childRoles[roleGrowWriter] = childGrowWriter
	childRoles[roleGrowReader] = childGrowReader
}

func growKey(w, j int) string { return fmt.Sprintf("gw%d-%d", w, j) }

// growValue is key j of writer w's value, of a length that varies with j
// so that records of several size classes interleave.
func growValue(w, j int) string {
	return fmt.Sprintf("v%d-%d-%s", w, j, strings.Repeat("x", j%29))
}

func growProgressKey(w int) []byte { return fmt.Appendf(nil, "gprog%d", w) }

// childGrowWriter inserts keys growKey(me, 0..n-1): args name procs n.
// Even writers use Set, odd ones SetIfAbsent (which must store: nobody
// else writes these keys). Every growProgressEvery keys, and at the end,
// it adds what it inserted since the last update to its progress counter,
// so that the counter never exceeds the keys acknowledged.
func childGrowWriter(args []string) error {
	tbl, me, n, err := childStart(args, "n", "grow-start")
	if err != nil {
		return err
	}
	defer tbl.Close()
	start := time.Now()
	published := 0
	for j := range n {
		k, v := []byte(growKey(me, j)), []byte(growValue(me, j))
		if me%2 == 0 {
			if err := tbl.Set(k, v); err != nil {
				return fmt.Errorf("Set(%s) (tiers %d): %w", k, tbl.Stats().Tiers, err)
			}
		} else {
			stored, err := tbl.SetIfAbsent(k, v)
			if err != nil || !stored {
				return fmt.Errorf("SetIfAbsent(%s) = %v, %v on a key no one else writes (tiers %d); want true, nil", k, stored, err, tbl.Stats().Tiers)
			}
		}
		if done := j + 1; done-published == growProgressEvery || done == n {
			if _, err := tbl.Add(growProgressKey(me), int64(done-published)); err != nil {
				return fmt.Errorf("Add(%s): %w", growProgressKey(me), err)
			}
			published = done
		}
	}
	// Read back a sample of the writer's own keys (the parent reads all).
	r := rand.New(rand.NewPCG(uint64(me), 99))
	for range 2000 {
		j := r.IntN(n)
		if v, err := tbl.Get([]byte(growKey(me, j))); err != nil || string(v) != growValue(me, j) {
			return fmt.Errorf("reading back own key: Get(%s) = %q, %v; want %q", growKey(me, j), v, err, growValue(me, j))
		}
	}
	childReport("inserted", n, time.Since(start).Milliseconds())
	return nil
}

// childGrowReader checks the writers' acknowledged keys while they
// insert: args name writers n seed. Each pass reads every writer's
// progress counter c, then Gets a random sample of keys below c and the
// last few keys below c (those most likely to have been claimed while the
// table grew); every one must be present with its value. A key no one
// writes must stay absent. It stops when every writer has published n.
func childGrowReader(args []string) error {
	if err := childArgs(args, "name", "writers", "n", "seed"); err != nil {
		return err
	}
	writers, n, seed := atoi(args[1]), atoi(args[2]), atou(args[3])
	tbl, err := table.Attach(args[0])
	if err != nil {
		return err
	}
	defer tbl.Close()
	if _, err := childSync("ready"); err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(seed, 3))
	var checks, passes int
	maxTiers := 0
	check := func(w, j int, c int64) error {
		k := growKey(w, j)
		v, err := tbl.Get([]byte(k))
		if err != nil || string(v) != growValue(w, j) {
			return fmt.Errorf("pass %d: Get(%s) = %q, %v after writer %d acknowledged %d keys (tiers %d); want %q",
				passes, k, v, err, w, c, tbl.Stats().Tiers, growValue(w, j))
		}
		checks++
		return nil
	}
	for {
		passes++
		finished := 0
		for w := range writers {
			c, err := tbl.Add(growProgressKey(w), 0)
			if err != nil {
				return fmt.Errorf("reading progress of writer %d: %w", w, err)
			}
			if c > int64(n) {
				return fmt.Errorf("writer %d's progress counter is %d, more than the %d keys it inserts", w, c, n)
			}
			if c == int64(n) {
				finished++
			}
			if c == 0 {
				continue
			}
			for range 16 {
				if err := check(w, r.IntN(int(c)), c); err != nil {
					return err
				}
			}
			for j := max(int(c)-growProgressEvery, 0); j < int(c); j += 4 {
				if err := check(w, j, c); err != nil {
					return err
				}
			}
		}
		absent := fmt.Sprintf("gw-absent-%d", r.IntN(1000))
		if v, err := tbl.Get([]byte(absent)); !errors.Is(err, table.ErrNotFound) {
			return fmt.Errorf("Get(%s) of a key no one writes = %q, %v; want ErrNotFound", absent, v, err)
		}
		maxTiers = max(maxTiers, tbl.Stats().Tiers)
		if finished == writers {
			break
		}
	}
	childReport("checked", checks, passes, maxTiers)
	return nil
}

// TestGrowMultiProc: two writer processes insert distinct keys into a
// table created with room for 1024, growing it through some ten tiers,
// while a reader process checks acknowledged keys; then the parent checks
// every key, Len, Verify and that the table grew.
func TestGrowMultiProc(t *testing.T) {
	seed := testSeed(t)
	writers, n := 2, 300_000
	if testing.Short() {
		n = 30_000
	}
	if raceBuild() {
		n /= 10
	}
	name := segName(t, "")
	tbl := mustCreate(t, name, table.Options{Capacity: 1024, MaxCapacity: 1 << 21})
	// The progress counters exist before anyone reads them, so that Len
	// counts them whatever the timing.
	for w := range writers {
		if _, err := tbl.Add(growProgressKey(w), 0); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	gw := startChildren(t, roleGrowWriter, writers, name, itoa(writers), itoa(n))
	gr := startChildren(t, roleGrowReader, 1, name, itoa(writers), itoa(n), utoa(seed))
	gw.expect("ready")
	gr.expect("ready")
	gr.release()
	gw.release()
	wout := gw.wait()
	rout := gr.wait()
	elapsed := time.Since(start)
	for w := range writers {
		t.Logf("writer %d: %d keys in %d ms", w, resultInt(t, wout[w], "inserted", 0), resultInt(t, wout[w], "inserted", 1))
	}
	checks := resultInt(t, rout[0], "checked", 0)
	t.Logf("reader: %d checks in %d passes, saw up to %d tiers; all children done in %v",
		checks, resultInt(t, rout[0], "checked", 1), resultInt(t, rout[0], "checked", 2), elapsed)
	if checks == 0 {
		t.Error("the reader checked no key: the test proved nothing about reads during growth")
	}

	// bookkeeping: the writers' progress counters and the barrier counter.
	if got, want := tbl.Len(), writers*n+writers+1; got != want {
		t.Errorf("Len() = %d, want %d (%d keys, %d progress counters, the barrier)", got, want, writers*n, writers)
	}
	bad := 0
	for w := range writers {
		if c, err := tbl.Add(growProgressKey(w), 0); err != nil || c != int64(n) {
			t.Errorf("progress of writer %d = %d, %v; want %d", w, c, err, n)
		}
		for j := range n {
			k := growKey(w, j)
			if v, err := tbl.Get([]byte(k)); err != nil || string(v) != growValue(w, j) {
				if bad++; bad <= 10 {
					t.Errorf("Get(%s) = %q, %v; want %q", k, v, err, growValue(w, j))
				}
			}
		}
	}
	if bad > 10 {
		t.Errorf("... %d keys wrong in all", bad)
	}
	// Iteration yields each key once, however many tiers it was claimed in.
	seen := map[string]bool{}
	for e, err := range tbl.Entries() {
		if err != nil {
			t.Fatal(err)
		}
		if seen[string(e.Key)] {
			t.Errorf("Entries() yields %s twice", e.Key)
		}
		seen[string(e.Key)] = true
	}
	if len(seen) != tbl.Len() {
		t.Errorf("Entries() yields %d keys, Len() says %d", len(seen), tbl.Len())
	}
	rep, err := tbl.Verify()
	if err != nil || !rep.OK() || rep.LeakedBytes != 0 {
		t.Errorf("Verify: %v\n%s", err, rep)
	}
	st := tbl.Stats()
	if st.Tiers <= 1 {
		t.Errorf("Stats().Tiers = %d after %d inserts into a table made for 1024: it never grew", st.Tiers, writers*n)
	}
	t.Logf("grew to %d of %d tiers (capacity %d, %d claimed slots, %d tombstones)", st.Tiers, st.MaxTiers, st.Capacity, st.ClaimedSlots, st.Tombstones)
}

const roleGrowGetOrSet = "grow-getorset"

func init() { childRoles[roleGrowGetOrSet] = childGrowGetOrSet }

// childGrowGetOrSet races its siblings with GetOrSet on keys gs<0..n-1>,
// each with a value of its own: args name procs n. It then reads every
// key back (the answer GetOrSet gave must still be there) and reports
// "stored count".
func childGrowGetOrSet(args []string) error {
	tbl, me, n, err := childStart(args, "n", "gos-start")
	if err != nil {
		return err
	}
	defer tbl.Close()
	answers := make([]string, n)
	stored := 0
	for j := range n {
		k, v := fmt.Sprintf("gs%d", j), fmt.Sprintf("p%d-%d", me, j)
		actual, loaded, err := tbl.GetOrSet([]byte(k), []byte(v))
		if err != nil {
			return fmt.Errorf("GetOrSet(%s): %w", k, err)
		}
		if !loaded {
			stored++
			if string(actual) != v {
				return fmt.Errorf("GetOrSet(%s) stored but returned %q, not %q", k, actual, v)
			}
		}
		answers[j] = string(actual)
	}
	var wrong []string
	for j := range n {
		k := fmt.Sprintf("gs%d", j)
		if v, err := tbl.Get([]byte(k)); err != nil || string(v) != answers[j] {
			wrong = append(wrong, fmt.Sprintf("%s: GetOrSet answered %q, Get now %q, %v", k, answers[j], v, err))
		}
	}
	if len(wrong) > 0 {
		return fmt.Errorf("%d keys changed after GetOrSet answered (no one else writes them), first: %s", len(wrong), wrong[0])
	}
	childReport("stored", stored)
	return nil
}

// TestGrowMultiProcGetOrSet: three processes race GetOrSet on the same
// fresh keys while the table grows from 16 keys: exactly one stores each
// key, and every answer stays the key's value.
func TestGrowMultiProcGetOrSet(t *testing.T) {
	procs, n := 3, 20_000
	if testing.Short() {
		n = 5_000
	}
	name := segName(t, "")
	tbl := mustCreate(t, name, table.Options{Capacity: 16, MaxCapacity: 1 << 16})
	g := startChildren(t, roleGrowGetOrSet, procs, name, itoa(procs), itoa(n))
	g.expect("ready")
	g.release()
	out := g.wait()
	var stored int64
	for i := range procs {
		stored += resultInt(t, out[i], "stored", 0)
	}
	if stored != int64(n) {
		t.Errorf("the %d processes stored %d times in all for %d keys; want exactly one store per key", procs, stored, n)
	}
	if got, want := tbl.Len(), n+1; got != want {
		t.Errorf("Len() = %d, want %d (the keys and the barrier)", got, want)
	}
	rep, err := tbl.Verify()
	if err != nil || !rep.OK() {
		t.Errorf("Verify: %v\n%s", err, rep)
	}
	t.Logf("%d keys, %d tiers", n, tbl.Stats().Tiers)
}
