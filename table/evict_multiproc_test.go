package table_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shmdict/shmdict/segment"
	"github.com/shmdict/shmdict/table"
)

// Multi-process tests of eviction tables: processes churn a small table
// through many more keys than it holds, with values that name their key,
// so that a slot reused under a reader or writer in another process shows
// up as a value under the wrong key or as a key in two slots.

const roleEvictChurn = "evict-churn"

func init() { childRoles[roleEvictChurn] = childEvictChurn }

// evictKeys is the key universe: 8x the capacity the tests use.
const evictKeys = 2048

// childEvictChurn runs ops random operations on the eviction table name.
// args: name, seed, ops, wait ("sync" to wait for the parent's release).
func childEvictChurn(args []string) error {
	if err := childArgs(args, "name", "seed", "ops", "wait"); err != nil {
		return err
	}
	tbl, err := table.Attach(args[0])
	if err != nil {
		return err
	}
	defer tbl.Close()
	if args[3] == "sync" {
		if _, err := childSync("ready"); err != nil {
			return err
		}
	}
	r := rand.New(rand.NewPCG(atou(args[1]), uint64(childIndex())))
	n := atoi(args[2])
	for i := range n {
		k := fmt.Sprintf("k%04d", r.IntN(evictKeys))
		switch r.IntN(8) {
		case 0, 1, 2:
			if err := tbl.Set([]byte(k), []byte(k+"|"+itoa(i))); err != nil {
				return fmt.Errorf("Set(%s): %w", k, err)
			}
		case 3:
			if err := tbl.SetWithTTL([]byte(k), []byte(k+"|ttl"), time.Duration(1+r.IntN(3))*time.Millisecond); err != nil {
				return fmt.Errorf("SetWithTTL(%s): %w", k, err)
			}
		case 4:
			if _, err := tbl.Delete([]byte(k)); err != nil {
				return fmt.Errorf("Delete(%s): %w", k, err)
			}
		case 5:
			if _, err := tbl.Add([]byte("c"+k), 1); err != nil {
				return fmt.Errorf("Add(c%s): %w", k, err)
			}
		default:
			v, err := tbl.Get([]byte(k))
			if err != nil && !errors.Is(err, table.ErrNotFound) {
				return fmt.Errorf("Get(%s): %w", k, err)
			}
			if err == nil && !strings.HasPrefix(string(v), k+"|") {
				return fmt.Errorf("Get(%s) = %q: another key's value", k, v)
			}
		}
	}
	childReport("done", n)
	return nil
}

// checkEvictTable checks what every evict-churn run must leave: values
// under their own keys, counters positive, no key twice.
func checkEvictTable(t *testing.T, tbl *table.Table) {
	t.Helper()
	seen := map[string]bool{}
	for e, err := range tbl.Entries() {
		if err != nil {
			t.Fatal(err)
		}
		k := string(e.Key)
		if seen[k] {
			t.Fatalf("key %q listed twice", k)
		}
		seen[k] = true
		switch {
		case e.IsCounter:
			if !strings.HasPrefix(k, "c") || e.Counter <= 0 {
				t.Fatalf("counter %q = %d", k, e.Counter)
			}
		case !strings.HasPrefix(string(e.Value), k+"|"):
			t.Fatalf("%q holds %q: another key's value", k, e.Value)
		}
	}
}

func TestEvictMultiProcess(t *testing.T) {
	name := segName(t, "")
	tbl := mustCreate(t, name, table.Options{Capacity: 256, Eviction: table.EvictCLOCK})
	ops := 40000
	if testing.Short() {
		ops = 10000
	}
	g := startChildren(t, roleEvictChurn, 2, name, utoa(testSeed(t)), itoa(ops), "sync")
	g.expect("ready")
	g.release()
	for i, lines := range g.wait() {
		if n := resultInt(t, lines, "done", 0); n != int64(ops) {
			t.Errorf("child %d did %d ops, want %d", i, n, ops)
		}
	}
	rep, err := tbl.Verify()
	if err != nil || !rep.OK() || rep.LeakedBytes != 0 {
		t.Fatalf("Verify after the churn: %v\n%s", err, rep)
	}
	st := tbl.Stats()
	if st.Evicted == 0 || st.Keys > st.Capacity {
		t.Fatalf("after %d ops over %d keys: evicted %d, %d keys of capacity %d", 2*ops, evictKeys, st.Evicted, st.Keys, st.Capacity)
	}
	t.Logf("evicted %d, expired %d, %d keys of capacity %d", st.Evicted, st.Expired, st.Keys, st.Capacity)
	checkEvictTable(t, tbl)
}

// TestChaosEvict kills churning writers of an eviction table, at random
// times and (with -tags failpoints) at every protocol step including the
// pending claim and the retiring CAS. Survivors never see another key's
// value; afterwards no key is in two slots, Repair leaves a clean table,
// and the table keeps working.
func TestChaosEvict(t *testing.T) {
	seed := testSeed(t)
	r := rand.New(rand.NewPCG(seed, 11))
	rounds, writers, ops := 30, 3, 3000
	if testing.Short() {
		rounds = 10
	}
	if v, err := strconv.Atoi(os.Getenv("SHMDICT_CHAOS_ROUNDS")); err == nil && v > 0 {
		rounds = v // make chaos: a longer campaign
	}
	name := segName(t, "chaos-evict")
	tbl := mustCreate(t, name, table.Options{Capacity: 256, Eviction: table.EvictCLOCK})
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	fps := append(append([]string{}, table.Failpoints...), table.ReuseFailpoints...)
	kills := 0
	for round := range rounds {
		cmds := make([]*exec.Cmd, writers)
		stderr := make([]*strings.Builder, writers)
		for w := range writers {
			cmd := exec.Command(exe, name, utoa(seed+uint64(round)), itoa(ops), "nosync")
			cmd.Env = append(os.Environ(), childEnv+"="+roleEvictChurn, childIndexEnv+"="+itoa(w))
			fp := ""
			if segment.FailpointsEnabled && r.IntN(3) > 0 {
				fp = fmt.Sprintf("%s:%d", fps[r.IntN(len(fps))], 1+r.IntN(30))
				cmd.Env = append(cmd.Env, "SHMDICT_FAILPOINT="+fp)
			}
			stderr[w] = &strings.Builder{}
			cmd.Stderr = stderr[w]
			cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			cmds[w] = cmd
			if fp == "" && r.IntN(2) == 0 {
				time.AfterFunc(time.Duration(1000+r.IntN(20000))*time.Microsecond, func() { cmd.Process.Signal(syscall.SIGKILL) })
			}
		}
		for w, cmd := range cmds {
			err := cmd.Wait()
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
					kills++
					continue
				}
			}
			if err != nil {
				t.Fatalf("round %d writer %d: %v\n%s", round, w, err, stderr[w])
			}
		}
	}
	// Kills leave counter drift and leaks (Verify says so, with
	// ErrCorrupt); they must not leave a key in two slots or a bad record.
	rep, err := tbl.Verify()
	if err != nil && !errors.Is(err, table.ErrCorrupt) {
		t.Fatal(err)
	}
	for _, p := range rep.Problems {
		if strings.Contains(p, "also in slot") || strings.Contains(p, "another key") || strings.Contains(p, "malformed") {
			t.Fatalf("after %d kills: %s\n%s", kills, p, rep)
		}
	}
	checkEvictTable(t, tbl)
	tbl.Close()
	fixed, err := table.Repair(name, false)
	if err != nil {
		t.Fatalf("Repair: %v\n%s", err, fixed)
	}
	tbl = mustAttach(t, name)
	defer tbl.Close()
	rep, err = tbl.Verify()
	if err != nil || !rep.OK() || rep.LeakedBytes != 0 || rep.PendingSlots != 0 {
		t.Fatalf("Verify after Repair: %v\n%s", err, rep)
	}
	checkEvictTable(t, tbl)
	for i := range 2000 {
		k := fmt.Sprintf("after%04d", i)
		if err := tbl.Set([]byte(k), []byte(k+"|x")); err != nil {
			t.Fatalf("Set after the chaos: %v", err)
		}
	}
	checkEvictTable(t, tbl)
	t.Logf("%d rounds x %d writers, %d killed; leaked before Repair: %d B; pending claims: %d", rounds, writers, kills, fixed.LeakedBytes, fixed.PendingSlots)
}

func mustAttach(tb testing.TB, name string) *table.Table {
	tb.Helper()
	t, err := table.Attach(name)
	if err != nil {
		tb.Fatal(err)
	}
	return t
}
