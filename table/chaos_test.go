package table_test

// Crash tests: writer processes are killed with SIGKILL at random moments
// and (in a -tags failpoints build) at every failpoint of the write
// protocols, then restarted; afterwards every surviving value must be
// whole, every acknowledged write present unless a later write replaced
// it, counters must equal the acknowledged adds (plus at most the adds in
// flight at a kill), and Repair must leave a table that Verify passes,
// having reclaimed a bounded amount of leaked space.

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
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

	"github.com/shmdict/shmdict/arena"
	"github.com/shmdict/shmdict/segment"
	"github.com/shmdict/shmdict/table"
)

const (
	roleChaos     = "chaos"
	roleStopWrite = "stopwriter"

	chaosOwnedKeys   = 24 // keys each writer owns: w<i>-k<j>
	chaosCounters    = 8  // counters all writers add to: ctr<j>
	chaosOwnedAdders = 4  // striped adders each writer owns, adds to and deletes: a<i>-k<j>
	chaosAdders      = 4  // striped adders all writers add to (never deleted): add<j>
	// maxStall bounds how long any acknowledged operation of a surviving
	// process may take, however its peers die or stop. Operations take
	// microseconds; the bound is generous for a loaded 2-core machine.
	maxStall = time.Second
	// maxLeakPerKill bounds the space one killed operation may leak: at
	// most two blocks (a key record and a value record), each at most 256
	// bytes for this test's keys and values.
	maxLeakPerKill = 2 * 256
	// chaosAdderIndicesPerRound bounds the adder indices a round takes:
	// 3 writers x 1000 ops, 4% of them owned adders' Deletes (each
	// followed, mostly, by an Add that makes the adder again), 120 on
	// average; the bound leaves room for far more.
	chaosAdderIndicesPerRound = 400
)

func init() {
	childRoles[roleChaos] = childChaos
	childRoles[roleStopWrite] = childStopWriter
}

// chaosValue builds a self-checking value for key written by writer w as
// operation seq: "w/seq/key/padding" followed by its CRC32 in hex.
func chaosValue(r *rand.Rand, w int, seq int64, key string) string {
	body := fmt.Sprintf("%d/%d/%s/%s", w, seq, key, strings.Repeat("p", r.IntN(80)))
	return fmt.Sprintf("%s%08x", body, crc32.ChecksumIEEE([]byte(body)))
}

func checkChaosValue(key, v string) error {
	if len(v) < 8 {
		return fmt.Errorf("value %q of %s is too short", v, key)
	}
	body, sum := v[:len(v)-8], v[len(v)-8:]
	if fmt.Sprintf("%08x", crc32.ChecksumIEEE([]byte(body))) != sum {
		return fmt.Errorf("value %q of %s fails its checksum (torn or foreign)", v, key)
	}
	if parts := strings.Split(body, "/"); len(parts) != 4 || parts[2] != key {
		return fmt.Errorf("value %q belongs to another key than %s", v, key)
	}
	return nil
}

// childChaos is one life of a chaos writer: args name log w life seed nops.
// Before each operation it appends "B seq op key arg" to its log, after it
// "A seq micros"; each line is one write(2), so it survives a SIGKILL.
func childChaos(args []string) error {
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
	// A mark line starts each life, after a newline that ends a line the
	// previous life's kill may have cut short (see readChaosLog).
	if _, err := fmt.Fprintf(logf, "\nL %d\n", life); err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(seed, uint64(w)<<32|uint64(life)))
	// Adder handles are made inside the logged operation that first
	// uses them: Adder makes an absent key an adder (failpoint
	// adder.published).
	handles := map[string]*table.Adder{}
	handle := func(key string) (*table.Adder, error) {
		if a := handles[key]; a != nil {
			return a, nil
		}
		a, err := tb.Adder([]byte(key))
		if err == nil {
			handles[key] = a
		}
		return a, err
	}
	adderAdd := func(key string, d int64) error {
		a, err := handle(key)
		if err == nil {
			err = a.Add(d)
		}
		return err
	}
	for i := range nops {
		seq := int64(life)*1_000_000 + int64(i)
		var line string
		var op func() error
		switch p := r.IntN(100); {
		case p < 40:
			key := fmt.Sprintf("w%d-k%02d", w, r.IntN(chaosOwnedKeys))
			v := chaosValue(r, w, seq, key)
			line = fmt.Sprintf("B %d S %s %s\n", seq, key, v)
			if p < 15 {
				// An hour-long TTL: the value stays, but the expiring
				// record format and the writers' sweeps get killed too.
				op = func() error { return tb.SetWithTTL([]byte(key), []byte(v), time.Hour) }
			} else {
				op = func() error { return tb.Set([]byte(key), []byte(v)) }
			}
		case p < 50:
			// Short-lived keys: they expire and are reclaimed (by sweeps,
			// by writers replacing them) while writers get killed; only
			// their integrity is checked, not their presence.
			key := fmt.Sprintf("t%d-k%02d", w, r.IntN(chaosOwnedKeys))
			v := chaosValue(r, w, seq, key)
			ttl := time.Duration(1+r.IntN(3)) * time.Millisecond
			line = fmt.Sprintf("B %d T %s %s\n", seq, key, v)
			op = func() error { return tb.SetWithTTL([]byte(key), []byte(v), ttl) }
		case p < 58:
			key := fmt.Sprintf("w%d-k%02d", w, r.IntN(chaosOwnedKeys))
			line = fmt.Sprintf("B %d D %s -\n", seq, key)
			op = func() error { _, err := tb.Delete([]byte(key)); return err }
		case p < 72:
			key := fmt.Sprintf("ctr%d", r.IntN(chaosCounters))
			d := 1 + r.IntN(5)
			line = fmt.Sprintf("B %d A %s %d\n", seq, key, d)
			op = func() error { _, err := tb.Add([]byte(key), int64(d)); return err }
		case p < 84:
			// An owned adder, through a handle: the Add after a Delete
			// makes the key an adder again.
			key := fmt.Sprintf("a%d-k%02d", w, r.IntN(chaosOwnedAdders))
			d := 1 + r.IntN(5)
			line = fmt.Sprintf("B %d N %s %d\n", seq, key, d)
			op = func() error { return adderAdd(key, int64(d)) }
		case p < 88:
			key := fmt.Sprintf("a%d-k%02d", w, r.IntN(chaosOwnedAdders))
			line = fmt.Sprintf("B %d X %s -\n", seq, key)
			op = func() error { _, err := tb.Delete([]byte(key)); return err }
		default:
			// A shared adder, through a handle or Table.Add.
			key := fmt.Sprintf("add%d", r.IntN(chaosAdders))
			d := 1 + r.IntN(5)
			line = fmt.Sprintf("B %d A %s %d\n", seq, key, d)
			if r.IntN(2) == 0 {
				op = func() error { return adderAdd(key, int64(d)) }
			} else {
				op = func() error { _, err := tb.Add([]byte(key), int64(d)); return err }
			}
		}
		if _, err := logf.WriteString(line); err != nil {
			return err
		}
		start := time.Now()
		if err := op(); err != nil {
			return fmt.Errorf("op %q: %w", strings.TrimSpace(line), err)
		}
		if _, err := fmt.Fprintf(logf, "A %d %d\n", seq, time.Since(start).Microseconds()); err != nil {
			return err
		}
	}
	return tb.Close()
}

// chaosOp is one logged operation.
type chaosOp struct {
	seq    int64
	kind   byte // S, T, D, A (a counter or shared adder), N (an owned adder), X (its delete)
	key    string
	arg    string
	acked  bool
	micros int64
}

func readChaosLog(t *testing.T, path string) []*chaosOp {
	t.Helper()
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var ops []*chaosOp
	bySeq := map[int64]*chaosOp{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	torn := "" // a malformed line, allowed only as a life's last
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) == 0 {
			continue // the newline before a life's mark
		}
		if fs[0] == "L" {
			torn = "" // a new life: the line before it was cut by a kill
			continue
		}
		if torn != "" {
			t.Fatalf("%s: malformed line %q", path, torn)
		}
		switch {
		case len(fs) == 5 && fs[0] == "B":
			seq, _ := strconv.ParseInt(fs[1], 10, 64)
			op := &chaosOp{seq: seq, kind: fs[2][0], key: fs[3], arg: fs[4]}
			ops = append(ops, op)
			bySeq[seq] = op
		case len(fs) == 3 && fs[0] == "A":
			seq, _ := strconv.ParseInt(fs[1], 10, 64)
			op := bySeq[seq]
			if op == nil {
				t.Fatalf("%s: ack of unknown op %d", path, seq)
			}
			op.acked = true
			op.micros, _ = strconv.ParseInt(fs[2], 10, 64)
		default:
			// A SIGKILL was seen to cut a line short once (an ack, whose
			// op then counts as in flight, or an op line, whose op never
			// started): allowed as a life's last line only.
			torn = sc.Text()
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return ops
}

// adderKills counts the kills at the adder failpoints.
func adderKills(fpKills map[string]int) int {
	n := 0
	for _, fp := range table.AdderFailpoints {
		n += fpKills[fp]
	}
	return n
}

// chaosFigures are the numbers a chaos run reports.
type chaosFigures struct {
	rounds, lives, randomKills, failpointKills int
	acked, inFlight                            int
	compactions                                int
	maxStall                                   time.Duration
	leaked                                     uint64
}

func TestChaosKill(t *testing.T) {
	seed := testSeed(t)
	r := rand.New(rand.NewPCG(seed, 7))
	rounds, writers, nops := 40, 3, 1000
	if testing.Short() {
		rounds = 12
	}
	if v, err := strconv.Atoi(os.Getenv("SHMDICT_CHAOS_ROUNDS")); err == nil && v > 0 {
		rounds = v // make chaos runs a longer campaign
	}
	name := segName(t, "chaos")
	tb, err := table.Create(name, table.Options{Capacity: 1024, ArenaBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	for j := range chaosAdders {
		if _, err := tb.Adder(fmt.Appendf(nil, "add%d", j)); err != nil {
			t.Fatal(err)
		}
	}
	tb.Close()
	dir := t.TempDir()
	failpoints := append(slices.Clone(table.Failpoints), table.AdderFailpoints...)
	fpKills := map[string]int{}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	fig := chaosFigures{rounds: rounds}
	for round := range rounds {
		lives := make([]*chaosLife, writers)
		for w := range writers {
			lf := &chaosLife{}
			lf.cmd = exec.Command(exe, name, filepath.Join(dir, fmt.Sprintf("w%d.log", w)),
				itoa(w), itoa(round), utoa(seed), itoa(nops))
			lf.cmd.Env = append(os.Environ(), childEnv+"="+roleChaos, childIndexEnv+"="+itoa(w))
			switch {
			case segment.FailpointsEnabled && w == 0 && round < 2*len(table.AdderFailpoints):
				// Each adder failpoint, twice, whatever the draw: a life
				// makes tens of adders (owned ones after their Deletes)
				// and hundreds of adds.
				lf.fp = fmt.Sprintf("%s:%d", table.AdderFailpoints[round%len(table.AdderFailpoints)], 1+r.IntN(10))
			case segment.FailpointsEnabled && r.IntN(3) > 0:
				lf.fp = fmt.Sprintf("%s:%d", failpoints[r.IntN(len(failpoints))], 1+r.IntN(40))
			}
			lives[w] = lf
			lf.start(t, r, &fig, 1000*time.Microsecond, 25000*time.Microsecond)
		}
		waitLives(t, round, lives, &fig, fpKills)
		// Every adder made, again after each Delete, takes an index
		// until Compact renumbers the live ones: compact (no writer is
		// attached between rounds) before a round could run out.
		if left := adderIndicesLeft(t, name); left < chaosAdderIndicesPerRound {
			if _, err := table.Compact(name, table.CompactOptions{}); err != nil {
				t.Fatalf("round %d: Compact with %d adder indices left: %v", round, left, err)
			}
			fig.compactions++
			if left := adderIndicesLeft(t, name); left < chaosAdderIndicesPerRound {
				t.Fatalf("round %d: %d adder indices left after Compact", round, left)
			}
		}
	}

	// What the logs say the table must hold.
	tb, err = table.Attach(name)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for k, v := range tb.All() {
		got[string(k)] = string(v)
	}
	ctrMin, ctrMax := map[string]int64{}, map[string]int64{}
	adderOps := map[string][]*chaosOp{} // owned adders' adds and deletes, in order
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
			if op.kind == 'T' {
				continue // short-lived: checked for integrity below, not presence
			}
			if op.kind == 'N' || op.kind == 'X' {
				adderOps[op.key] = append(adderOps[op.key], op)
				continue
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
			if strings.HasPrefix(k, fmt.Sprintf("w%d-", w)) && byKey[k] == nil {
				t.Errorf("%s is present but was never written", k)
			}
		}
	}
	for k, v := range got {
		if k[0] == 't' {
			if err := checkChaosValue(k, v); err != nil {
				t.Error(err)
			}
		}
	}
	var ctrKeys []string
	for j := range chaosCounters {
		ctrKeys = append(ctrKeys, fmt.Sprintf("ctr%d", j))
	}
	for j := range chaosAdders {
		ctrKeys = append(ctrKeys, fmt.Sprintf("add%d", j))
	}
	for _, key := range ctrKeys {
		n, err := tb.Add([]byte(key), 0)
		if err != nil {
			t.Fatal(err)
		}
		if n < ctrMin[key] || n > ctrMax[key] {
			t.Errorf("%s = %d; acknowledged adds sum to %d, with in-flight ones %d", key, n, ctrMin[key], ctrMax[key])
		}
	}
	// Owned adders: absent reads as 0 (a kill at adder.published leaves
	// an adder at 0 that no add reached). The sum counts the adds after
	// the last Delete that happened: the last acknowledged one, or any
	// unacknowledged one after it; of those adds, every acknowledged one
	// and any of the unacknowledged ones.
	for w := range writers {
		for j := range chaosOwnedAdders {
			key := fmt.Sprintf("a%d-k%02d", w, j)
			var n int64
			if v, ok := got[key]; ok {
				if len(v) != 8 {
					t.Errorf("%s holds %q, not an 8-byte sum", key, v)
					continue
				}
				n = int64(binary.LittleEndian.Uint64([]byte(v)))
			}
			if lo, hi, ok := adderBounds(adderOps[key], n); !ok {
				t.Errorf("%s = %d; the log allows %v..%v (one range per possible last Delete)", key, n, lo, hi)
			}
		}
	}
	for k := range got {
		if k[0] == 'a' && !strings.HasPrefix(k, "add") && adderOps[k] == nil {
			t.Errorf("%s is present but was never added to", k)
		}
	}
	if fig.maxStall > maxStall {
		t.Errorf("an operation took %v, more than the %v bound", fig.maxStall, maxStall)
	}

	tb, rep := repairChaos(t, tb, name, &fig)
	defer tb.Close()
	kills := fig.randomKills + fig.failpointKills
	var adders int
	for e, err := range tb.Entries() {
		if err != nil {
			t.Fatal(err)
		}
		if isA := e.Key[0] == 'a'; isA != e.IsAdder {
			t.Errorf("after Repair: %s is an adder: %v", e.Key, e.IsAdder)
		}
		adders += b2i(e.IsAdder)
	}
	if rep.Adders != adders || adders < chaosAdders {
		t.Errorf("Verify after Repair counts %d adders, Entries %d (at least the %d shared ones)", rep.Adders, adders, chaosAdders)
	}
	if segment.FailpointsEnabled {
		for _, fp := range table.AdderFailpoints {
			if fpKills[fp] == 0 {
				t.Errorf("no writer was killed at failpoint %s (kills per failpoint: %v)", fp, fpKills)
			}
		}
	}
	// Short-lived keys may expire between the two looks; the rest must
	// be exactly as before.
	lasting := func(m map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range m {
			if k[0] != 't' {
				out[k] = v
			}
		}
		return out
	}
	after := map[string]string{}
	for k, v := range tb.All() {
		after[string(k)] = string(v)
	}
	if fmt.Sprint(lasting(after)) != fmt.Sprint(lasting(got)) {
		t.Error("Repair changed the table's contents")
	}
	if kills == 0 || fig.acked == 0 {
		t.Fatalf("nothing was killed or acknowledged; the test proved nothing: %+v", fig)
	}
	t.Logf("kills per failpoint: %v; %d compactions (adder indices)", fpKills, fig.compactions)
	summary := fmt.Sprintf("chaos: %d rounds, %d writer lives, %d kills (%d random, %d at failpoints, %d at adder failpoints), %d acknowledged ops, %d in flight at a kill, max stall %v, %d bytes leaked since the last of %d compactions (bound %d), failpoints built: %v",
		fig.rounds, fig.lives, kills, fig.randomKills, fig.failpointKills, adderKills(fpKills), fig.acked, fig.inFlight, fig.maxStall, fig.leaked, fig.compactions, kills*maxLeakPerKill, segment.FailpointsEnabled)
	t.Log(summary)
	if path := os.Getenv("SHMDICT_CHAOS_REPORT"); path != "" {
		os.WriteFile(path, []byte(summary+"\n"), 0o644)
	}
}

// adderIndicesLeft is the adder indices the table called name has left.
func adderIndicesLeft(t *testing.T, name string) int64 {
	t.Helper()
	tb, err := table.Attach(name)
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	st := tb.Stats()
	return st.AdderIndices - st.AdderIndicesUsed
}

// adderBounds reports whether n is a possible final sum of an owned
// adder with the logged operations ops (adds N and deletes X, in order),
// and the ranges it allows.
func adderBounds(ops []*chaosOp, n int64) (lo, hi []int64, ok bool) {
	// Candidate last Deletes: the last acknowledged one (or none, the
	// start), and every unacknowledged one after it.
	from := []int{0}
	for i, op := range ops {
		if op.kind == 'X' && op.acked {
			from = []int{i + 1}
		} else if op.kind == 'X' {
			from = append(from, i+1)
		}
	}
	for _, f := range from {
		var l, h int64
		for _, op := range ops[f:] {
			if op.kind != 'N' {
				continue
			}
			d, _ := strconv.ParseInt(op.arg, 10, 64)
			h += d
			if op.acked {
				l += d
			}
		}
		lo, hi = append(lo, l), append(hi, h)
		ok = ok || l <= n && n <= h
	}
	return lo, hi, ok
}

// childStopWriter sets one key in a loop: args name n. Run with a "stop"
// failpoint, it stops itself in the middle of a write.
func childStopWriter(args []string) error {
	if err := childArgs(args, "name", "n"); err != nil {
		return err
	}
	tb, err := table.Attach(args[0])
	if err != nil {
		return err
	}
	for i := range atoi(args[1]) {
		if err := tb.Set([]byte("shared"), []byte(fmt.Sprintf("stopwriter-%d", i))); err != nil {
			return err
		}
		if _, err := tb.Add([]byte("ctr"), 1); err != nil {
			return err
		}
	}
	return tb.Close()
}

// TestChaosSigstop stops a writer in the middle of a write (at a failpoint
// in a -tags failpoints build, else at a random moment) and checks that
// the others keep working on the same keys: nothing waits for it.
func TestChaosSigstop(t *testing.T) {
	name := segName(t, "stop")
	tb, err := table.Create(name, table.Options{Capacity: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	exe, _ := os.Executable()
	// With failpoints the writer stops itself on its 50th pass through the
	// failpoint; without, the parent stops it at a random moment, so it
	// must still be running then.
	childOps := 2000
	if !segment.FailpointsEnabled {
		childOps = 200000
	}
	for _, fp := range []string{table.FPValueWritten, table.FPValuePublished, arena.FPPopped, arena.FPFreeMarked} {
		cmd := exec.Command(exe, name, itoa(childOps))
		cmd.Env = append(os.Environ(), childEnv+"="+roleStopWrite, childIndexEnv+"=0",
			"SHMDICT_FAILPOINT="+fp+":50:stop")
		var stderr strings.Builder
		cmd.Stderr = &stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		pid := cmd.Process.Pid
		if !segment.FailpointsEnabled {
			time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
			syscall.Kill(pid, syscall.SIGSTOP)
		}
		if !waitStopped(pid, childTimeout) {
			cmd.Process.Kill()
			t.Fatalf("writer never stopped (failpoint %s)\n%s", fp, stderr.String())
		}
		var worst time.Duration
		for i := range 2000 {
			start := time.Now()
			if err := tb.Set([]byte("shared"), []byte(fmt.Sprintf("parent-%d", i))); err != nil {
				t.Fatal(err)
			}
			if _, err := tb.Get([]byte("shared")); err != nil {
				t.Fatal(err)
			}
			if _, err := tb.Add([]byte("ctr"), 1); err != nil {
				t.Fatal(err)
			}
			worst = max(worst, time.Since(start))
		}
		if worst > maxStall {
			t.Errorf("with a writer stopped at %s, an operation took %v", fp, worst)
		}
		syscall.Kill(pid, syscall.SIGCONT)
		if err := cmd.Wait(); err != nil {
			t.Fatalf("writer (failpoint %s): %v\n%s", fp, err, stderr.String())
		}
		t.Logf("writer stopped at %s: the parent's slowest operation took %v", fp, worst)
	}
	n, err := tb.Add([]byte("ctr"), 0)
	if want := int64(4 * (2000 + childOps)); err != nil || n != want {
		t.Fatalf("ctr = %d, %v; want %d", n, err, want)
	}
	rep, err := tb.Verify()
	if err != nil || rep.LeakedBytes != 0 {
		t.Fatalf("Verify: %v\n%s", err, rep)
	}
}

// waitStopped waits until process pid is in the stopped state.
func waitStopped(pid int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return false
		}
		// The state follows the parenthesized command name.
		if i := strings.LastIndexByte(string(b), ')'); i >= 0 && i+2 < len(b) {
			switch b[i+2] {
			case 'T', 't':
				return true
			case 'Z', 'X':
				return false // it exited without stopping
			}
		}
		time.Sleep(time.Millisecond)
	}
	return false
}

// checkLoggedKeys checks each key a writer logged against what the table
// holds (got): the result of its last acknowledged operation, or of any
// unacknowledged one after it.
func checkLoggedKeys(t *testing.T, byKey map[string][]*chaosOp, got map[string]string) {
	t.Helper()
	for key, kops := range byKey {
		accept := map[string]bool{}
		last := -1
		for i, op := range kops {
			if op.acked {
				last = i
			}
		}
		result := func(op *chaosOp) string {
			if op.kind == 'D' {
				return "<absent>"
			}
			return op.arg
		}
		if last < 0 {
			accept["<absent>"] = true
		} else {
			accept[result(kops[last])] = true
		}
		for _, op := range kops[last+1:] {
			accept[result(op)] = true
		}
		v, ok := got[key]
		if !ok {
			v = "<absent>"
		} else if err := checkChaosValue(key, v); err != nil {
			t.Error(err)
		}
		if !accept[v] {
			t.Errorf("%s holds %q; the log allows only %v", key, v, accept)
		}
	}
}

// chaosLife is one run of a chaos writer process, killed at its
// failpoint fp (if any) or at random.
type chaosLife struct {
	cmd    *exec.Cmd
	stderr strings.Builder
	fp     string
}

// start starts the life with its failpoint and, for half the lives
// without one, a SIGKILL after a random delay in [minDelay, minDelay+spread).
func (lf *chaosLife) start(t *testing.T, r *rand.Rand, fig *chaosFigures, minDelay, spread time.Duration) {
	t.Helper()
	if lf.fp != "" {
		lf.cmd.Env = append(lf.cmd.Env, "SHMDICT_FAILPOINT="+lf.fp)
	}
	lf.cmd.Stderr = &lf.stderr
	lf.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := lf.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	fig.lives++
	if lf.fp == "" && r.IntN(2) == 0 {
		delay := minDelay + time.Duration(r.Int64N(int64(spread)))
		time.AfterFunc(delay, func() { lf.cmd.Process.Signal(syscall.SIGKILL) })
	}
}

// waitLives waits for round's lives: each must exit cleanly or die of
// SIGKILL (counted in fig and, at a failpoint, in fpKills), within
// childTimeout.
func waitLives(t *testing.T, round int, lives []*chaosLife, fig *chaosFigures, fpKills map[string]int) {
	t.Helper()
	for w, lf := range lives {
		done := make(chan error, 1)
		go func() { done <- lf.cmd.Wait() }()
		var err error
		select {
		case err = <-done:
		case <-time.After(childTimeout):
			lf.cmd.Process.Kill()
			t.Fatalf("round %d writer %d hung (failpoint %q)", round, w, lf.fp)
		}
		if err == nil {
			continue
		}
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
				if lf.fp != "" {
					fig.failpointKills++
					fpKills[strings.Split(lf.fp, ":")[0]]++
				} else {
					fig.randomKills++
				}
				continue
			}
		}
		t.Fatalf("round %d writer %d (failpoint %q): %v\n%s", round, w, lf.fp, err, lf.stderr.String())
	}
}

// repairChaos checks a table that writers were killed in: before Repair
// only the shared counters may be off (a kill between a publishing CAS
// and its counter update) and the structure must be sound; Repair may
// find at most maxLeakPerKill bytes leaked per kill (fig.leaked); after
// it Verify is clean. It closes tb and returns the table attached again,
// for the caller to close, and Verify's report.
func repairChaos(t *testing.T, tb *table.Table, name string, fig *chaosFigures) (*table.Table, table.Report) {
	t.Helper()
	rep, _ := tb.Verify()
	for _, p := range rep.Problems {
		if !strings.Contains(p, "counter") {
			t.Errorf("Verify before Repair: structural problem: %s", p)
		}
	}
	tb.Close()
	rep, err := table.Repair(name, false)
	if err != nil {
		t.Fatalf("Repair: %v\n%s", err, rep)
	}
	kills := fig.randomKills + fig.failpointKills
	fig.leaked = rep.LeakedBytes
	if rep.LeakedBytes > uint64(kills*maxLeakPerKill) {
		t.Errorf("%d bytes leaked by %d kills, more than %d per kill\n%s", rep.LeakedBytes, kills, maxLeakPerKill, rep)
	}
	if tb, err = table.Attach(name); err != nil {
		t.Fatal(err)
	}
	if rep, err = tb.Verify(); err != nil || rep.LeakedBytes != 0 {
		tb.Close()
		t.Fatalf("Verify after Repair: %v\n%s", err, rep)
	}
	return tb, rep
}
