package table_test

// Crash tests of online growth: writers of a table made for 16 keys that
// may grow to 1<<16 insert fresh keys (so that it grows through many
// tiers), set and delete keys of their own (so that keys deleted in a
// closed tier are sealed and claimed anew) and add to shared counters and
// adders, and are killed at the tier failpoints (in a -tags failpoints
// build), at the other failpoints, and at random moments; another writer
// is stopped in the middle of a growth while the parent keeps writing.
// The checks are those of chaos_test.go: no acknowledged write lost, no
// key twice, counters within their acknowledged and in-flight adds,
// survivors never stall, and Verify clean after Repair.

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shmdict/shmdict/segment"
	"github.com/shmdict/shmdict/table"
)

const (
	roleGrowChaos = "grow-chaos"
	roleGrowStop  = "grow-stop"

	growChaosOwned    = 48 // keys each writer sets and deletes: w<i>-k<j>
	growChaosCounters = 4  // counters all writers add to: ctr<j>
	growChaosAdders   = 2  // striped adders all writers add to: add<j>
)

func init() {
	childRoles[roleGrowChaos] = childGrowChaos
	childRoles[roleGrowStop] = childGrowStop
}

// growChaosOptions is the table of the growth crash tests: it starts with
// room for 16 keys, and grows by a tier each time the writers' fresh keys
// fill the newest one.
var growChaosOptions = table.Options{Capacity: 16, MaxCapacity: 1 << 16}

// childGrowChaos is one life of a growth chaos writer: args name log
// writer life seed ops. It logs as childChaos does ("B seq op key arg"
// before an operation, "A seq micros" after), with ops S (a Set: of a
// fresh key f<w>-<life>-<i> or of an owned key), D (a Delete of an owned
// key) and A (an add to a shared counter or adder).
func childGrowChaos(args []string) error {
	if err := childArgs(args, "name", "log", "writer", "life", "seed", "ops"); err != nil {
		return err
	}
	w, life, seed, nops := atoi(args[2]), atoi(args[3]), atou(args[4]), atoi(args[5])
	tb, err := table.Attach(args[0])
	if err != nil {
		return err
	}
	logf, err := os.OpenFile(args[1], os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(logf, "\nL %d\n", life); err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(seed, uint64(w)<<32|uint64(life)|1<<62))
	handles := map[string]*table.Adder{}
	for i := range nops {
		seq := int64(life)*1_000_000 + int64(i)
		var line string
		var op func() error
		switch p := r.IntN(100); {
		case p < 50:
			key := fmt.Sprintf("f%d-%d-%d", w, life, i)
			v := chaosValue(r, w, seq, key)
			line = fmt.Sprintf("B %d S %s %s\n", seq, key, v)
			if p < 10 {
				op = func() error {
					stored, err := tb.SetIfAbsent([]byte(key), []byte(v))
					if err == nil && !stored {
						err = fmt.Errorf("SetIfAbsent of a fresh key did not store")
					}
					return err
				}
			} else {
				op = func() error { return tb.Set([]byte(key), []byte(v)) }
			}
		case p < 72:
			key := fmt.Sprintf("w%d-k%02d", w, r.IntN(growChaosOwned))
			v := chaosValue(r, w, seq, key)
			line = fmt.Sprintf("B %d S %s %s\n", seq, key, v)
			op = func() error { return tb.Set([]byte(key), []byte(v)) }
		case p < 84:
			key := fmt.Sprintf("w%d-k%02d", w, r.IntN(growChaosOwned))
			line = fmt.Sprintf("B %d D %s -\n", seq, key)
			op = func() error { _, err := tb.Delete([]byte(key)); return err }
		case p < 94:
			key := fmt.Sprintf("ctr%d", r.IntN(growChaosCounters))
			d := 1 + r.IntN(5)
			line = fmt.Sprintf("B %d A %s %d\n", seq, key, d)
			op = func() error { _, err := tb.Add([]byte(key), int64(d)); return err }
		default:
			key := fmt.Sprintf("add%d", r.IntN(growChaosAdders))
			d := 1 + r.IntN(5)
			line = fmt.Sprintf("B %d A %s %d\n", seq, key, d)
			op = func() error {
				a := handles[key]
				if a == nil {
					var err error
					if a, err = tb.Adder([]byte(key)); err != nil {
						return err
					}
					handles[key] = a
				}
				return a.Add(int64(d))
			}
		}
		if _, err := logf.WriteString(line); err != nil {
			return err
		}
		start := time.Now()
		if err := op(); err != nil {
			return fmt.Errorf("op %q (tiers %d): %w", strings.TrimSpace(line), tb.Stats().Tiers, err)
		}
		if _, err := fmt.Fprintf(logf, "A %d %d\n", seq, time.Since(start).Microseconds()); err != nil {
			return err
		}
	}
	return tb.Close()
}

func TestChaosGrowKill(t *testing.T) {
	seed := testSeed(t)
	r := rand.New(rand.NewPCG(seed, 11))
	// A round adds some 1500 fresh keys: 30 rounds stay well within
	// MaxCapacity.
	rounds, writers, nops := 30, 3, 1000
	if testing.Short() {
		rounds = 12
	}
	name := segName(t, "growchaos")
	tb, err := table.Create(name, growChaosOptions)
	if err != nil {
		t.Fatal(err)
	}
	for j := range growChaosAdders {
		if _, err := tb.Adder(fmt.Appendf(nil, "add%d", j)); err != nil {
			t.Fatal(err)
		}
	}
	tb.Close()
	dir := t.TempDir()
	others := append(slices.Clone(table.Failpoints), table.AdderFailpoints...)
	fpKills := map[string]int{}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	fig := chaosFigures{rounds: rounds}
	tiers := []int{}
	for round := range rounds {
		lives := make([]*chaosLife, writers)
		for w := range writers {
			lf := &chaosLife{}
			lf.cmd = exec.Command(exe, name, filepath.Join(dir, fmt.Sprintf("w%d.log", w)),
				itoa(w), itoa(round), utoa(seed), itoa(nops))
			lf.cmd.Env = append(os.Environ(), childEnv+"="+roleGrowChaos, childIndexEnv+"="+itoa(w))
			tfp := table.TierFailpoints
			switch {
			case !segment.FailpointsEnabled:
			case round < len(tfp):
				// Round i: every writer at tier failpoint i, its first
				// pass, so that the first growth (or seal) of the round
				// kills whoever gets there: the table still grows at
				// every round this early (it starts at one tier).
				lf.fp = tfp[round] + ":1"
			case w < 2 && round < 3*len(tfp):
				// Each tier failpoint in the first rounds, while the
				// table still grows several times a life: writers 0 and
				// 1 at the same one, at their first or second pass
				// (only the winner of a growth's CAS passes tier.grown).
				lf.fp = fmt.Sprintf("%s:%d", tfp[(round+w)%len(tfp)], 1+r.IntN(2))
			case r.IntN(3) == 0:
				lf.fp = fmt.Sprintf("%s:%d", tfp[r.IntN(len(tfp))], 1+r.IntN(3))
			case r.IntN(2) == 0:
				lf.fp = fmt.Sprintf("%s:%d", others[r.IntN(len(others))], 1+r.IntN(40))
			}
			lives[w] = lf
			lf.start(t, r, &fig, 500*time.Microsecond, 6000*time.Microsecond)
		}
		waitLives(t, round, lives, &fig, fpKills)
		tb, err := table.Attach(name)
		if err != nil {
			t.Fatal(err)
		}
		tiers = append(tiers, tb.Stats().Tiers)
		tb.Close()
	}

	tb, err = table.Attach(name)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for k, v := range tb.All() {
		if _, dup := got[string(k)]; dup {
			t.Errorf("All() yields %s twice", k)
		}
		got[string(k)] = string(v)
	}
	ctrMin, ctrMax := map[string]int64{}, map[string]int64{}
	for w := range writers {
		ops := readChaosLog(t, filepath.Join(dir, fmt.Sprintf("w%d.log", w)))
		byKey := map[string][]*chaosOp{}
		for _, op := range ops {
			if op.acked {
				fig.acked++
				fig.maxStall = max(fig.maxStall, time.Duration(op.micros)*time.Microsecond)
			} else {
				fig.inFlight++
			}
			if op.kind == 'A' {
				d, _ := strconv.ParseInt(op.arg, 10, 64)
				ctrMax[op.key] += d
				if op.acked {
					ctrMin[op.key] += d
				}
				continue
			}
			byKey[op.key] = append(byKey[op.key], op)
		}
		checkLoggedKeys(t, byKey, got)
		for k := range got {
			if (strings.HasPrefix(k, fmt.Sprintf("w%d-", w)) || strings.HasPrefix(k, fmt.Sprintf("f%d-", w))) && byKey[k] == nil {
				t.Errorf("%s is present but was never written", k)
			}
		}
	}
	for j := range growChaosCounters + growChaosAdders {
		key := fmt.Sprintf("ctr%d", j)
		if j >= growChaosCounters {
			key = fmt.Sprintf("add%d", j-growChaosCounters)
		}
		n, err := tb.Add([]byte(key), 0)
		if err != nil {
			t.Fatal(err)
		}
		if n < ctrMin[key] || n > ctrMax[key] {
			t.Errorf("%s = %d; acknowledged adds sum to %d, with in-flight ones %d", key, n, ctrMin[key], ctrMax[key])
		}
	}
	if fig.maxStall > maxStall {
		t.Errorf("an operation took %v, more than the %v bound", fig.maxStall, maxStall)
	}
	st := tb.Stats()
	if st.Tiers <= 1 {
		t.Errorf("the table never grew (Stats().Tiers = %d)", st.Tiers)
	}
	tb, _ = repairChaos(t, tb, name, &fig)
	defer tb.Close()
	kills := fig.randomKills + fig.failpointKills
	after := map[string]string{}
	for k, v := range tb.All() {
		after[string(k)] = string(v)
	}
	if fmt.Sprint(after) != fmt.Sprint(got) {
		t.Error("Repair changed the table's contents")
	}
	if n := tb.Len(); n != len(got) {
		t.Errorf("Len() after Repair = %d, iteration yields %d keys", n, len(got))
	}
	if segment.FailpointsEnabled {
		for _, fp := range table.TierFailpoints {
			if fpKills[fp] == 0 {
				t.Errorf("no writer was killed at failpoint %s (kills per failpoint: %v)", fp, fpKills)
			}
		}
	}
	if kills == 0 || fig.acked == 0 {
		t.Fatalf("nothing was killed or acknowledged; the test proved nothing: %+v", fig)
	}
	t.Logf("tiers after each round: %v; kills per failpoint: %v", tiers, fpKills)
	t.Logf("grow chaos: %d rounds, %d writer lives, %d kills (%d random, %d at failpoints), %d acknowledged ops, %d in flight at a kill, max stall %v, %d bytes leaked, %d keys in %d tiers, failpoints built: %v",
		fig.rounds, fig.lives, kills, fig.randomKills, fig.failpointKills, fig.acked, fig.inFlight, fig.maxStall, fig.leaked, len(got), st.Tiers, segment.FailpointsEnabled)
}

// childGrowStop inserts fresh keys s<i> and sets, deletes and sets again
// keys of its own o<j>, adding 1 to "ctr" after each insert: args name n.
// Run with a "stop" failpoint at a tier failpoint, it stops itself in the
// middle of a growth (or of a seal). It then checks its keys and reports
// "done inserted owned-present".
func childGrowStop(args []string) error {
	if err := childArgs(args, "name", "n"); err != nil {
		return err
	}
	tb, err := table.Attach(args[0])
	if err != nil {
		return err
	}
	n := atoi(args[1])
	owned := map[string]string{}
	for i := range n {
		k, v := fmt.Sprintf("s%d", i), fmt.Sprintf("sv%d", i)
		if err := tb.Set([]byte(k), []byte(v)); err != nil {
			return fmt.Errorf("Set(%s): %w", k, err)
		}
		if _, err := tb.Add([]byte("ctr"), 1); err != nil {
			return err
		}
		o := fmt.Sprintf("o%d", i%64)
		if i%3 == 0 {
			if _, err := tb.Delete([]byte(o)); err != nil {
				return err
			}
			delete(owned, o)
		} else {
			ov := fmt.Sprintf("ov%d", i)
			if err := tb.Set([]byte(o), []byte(ov)); err != nil {
				return fmt.Errorf("Set(%s): %w", o, err)
			}
			owned[o] = ov
		}
	}
	for i := range n {
		k, want := fmt.Sprintf("s%d", i), fmt.Sprintf("sv%d", i)
		if v, err := tb.Get([]byte(k)); err != nil || string(v) != want {
			return fmt.Errorf("Get(%s) = %q, %v; want %q", k, v, err, want)
		}
	}
	for j := range 64 {
		o := fmt.Sprintf("o%d", j)
		v, err := tb.Get([]byte(o))
		want, ok := owned[o]
		if ok && (err != nil || string(v) != want) || !ok && !errors.Is(err, table.ErrNotFound) {
			return fmt.Errorf("Get(%s) = %q, %v; want %q (present %v)", o, v, err, want, ok)
		}
	}
	childReport("done", n, len(owned))
	return tb.Close()
}

// TestChaosGrowSigstop stops a writer in the middle of a growth (its
// pages reserved, OffTiers not raised; OffTiers raised, its claim not
// retried) and of a seal, in a -tags failpoints build, or at a random
// moment without failpoints, and checks that the parent keeps inserting,
// growing the table past the stopped writer, with no operation stalling;
// then the writer resumes and everything is exact.
func TestChaosGrowSigstop(t *testing.T) {
	exe, _ := os.Executable()
	childN := 3000
	if !segment.FailpointsEnabled {
		childN = 30_000 // with the parent's keys, within MaxCapacity
	}
	fps := table.TierFailpoints
	if !segment.FailpointsEnabled {
		fps = []string{"random"}
	}
	for _, fp := range fps {
		t.Run(fp, func(t *testing.T) {
			name := segName(t, "growstop")
			tb := mustCreate(t, name, growChaosOptions)
			cmd := exec.Command(exe, name, itoa(childN))
			cmd.Env = append(os.Environ(), childEnv+"="+roleGrowStop, childIndexEnv+"=0")
			if segment.FailpointsEnabled {
				// The third pass: the table has grown twice already.
				cmd.Env = append(cmd.Env, "SHMDICT_FAILPOINT="+fp+":3:stop")
			}
			var stderr strings.Builder
			cmd.Stderr = &stderr
			var stdout strings.Builder
			cmd.Stdout = &stdout
			cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			pid := cmd.Process.Pid
			defer cmd.Process.Kill()
			if !segment.FailpointsEnabled {
				// Once the writer has grown the table a few times, at a
				// random moment.
				for deadline := time.Now().Add(childTimeout); tb.Stats().Tiers < 3 && time.Now().Before(deadline); {
					time.Sleep(100 * time.Microsecond)
				}
				time.Sleep(time.Duration(rand.IntN(2000)) * time.Microsecond)
				syscall.Kill(pid, syscall.SIGSTOP)
			}
			if !waitStopped(pid, childTimeout) {
				t.Fatalf("writer never stopped (failpoint %s)\n%s", fp, stderr.String())
			}
			before := tb.Stats().Tiers
			var worst time.Duration
			parentN := 20000
			for i := range parentN {
				start := time.Now()
				k, v := fmt.Sprintf("p%d", i), fmt.Sprintf("pv%d", i)
				if err := tb.Set([]byte(k), []byte(v)); err != nil {
					t.Fatalf("Set(%s) with the writer stopped at %s: %v", k, fp, err)
				}
				if _, err := tb.Add([]byte("ctr"), 1); err != nil {
					t.Fatal(err)
				}
				// The stopped writer's keys: readable (or absent), never
				// waited for.
				if _, err := tb.Get(fmt.Appendf(nil, "o%d", i%64)); err != nil && !errors.Is(err, table.ErrNotFound) {
					t.Fatal(err)
				}
				worst = max(worst, time.Since(start))
			}
			grown := tb.Stats().Tiers
			if worst > maxStall {
				t.Errorf("with a writer stopped at %s, an operation took %v", fp, worst)
			}
			if grown <= before {
				t.Errorf("the parent inserted %d keys with the writer stopped at %s, and the table stayed at %d tiers", parentN, fp, grown)
			}
			syscall.Kill(pid, syscall.SIGCONT)
			if err := cmd.Wait(); err != nil {
				t.Fatalf("writer (failpoint %s): %v\n%s", fp, err, stderr.String())
			}
			f := strings.Fields(stdout.String())
			if len(f) != 3 || f[0] != "done" {
				t.Fatalf("writer said %q", stdout.String())
			}
			owned := atoi(f[2])
			for i := range parentN {
				k, want := fmt.Sprintf("p%d", i), fmt.Sprintf("pv%d", i)
				if v, err := tb.Get([]byte(k)); err != nil || string(v) != want {
					t.Fatalf("Get(%s) = %q, %v; want %q", k, v, err, want)
				}
			}
			if n, err := tb.Add([]byte("ctr"), 0); err != nil || n != int64(parentN+childN) {
				t.Errorf("ctr = %d, %v; want %d", n, err, parentN+childN)
			}
			if got, want := tb.Len(), parentN+childN+owned+1; got != want {
				t.Errorf("Len() = %d, want %d", got, want)
			}
			rep, err := tb.Verify()
			if err != nil || rep.LeakedBytes != 0 {
				t.Fatalf("Verify: %v\n%s", err, rep)
			}
			t.Logf("writer stopped at %s with %d tiers; the parent grew the table to %d and its slowest operation took %v; %d tiers at the end",
				fp, before, grown, worst, tb.Stats().Tiers)
		})
	}
}
