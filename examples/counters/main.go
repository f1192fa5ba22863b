// Command counters hammers shared counters from several OS processes and
// checks that not one increment is lost, with both kinds of counter a
// table has: plain counters and striped adders.
//
//	go run ./examples/counters -procs 4 -n 100000
//	go run ./examples/counters -kinds adder -procs 8 -keys 10
//
// For each kind in -kinds (default "counter,adder": one round each), the
// parent creates a table and starts -procs copies of itself as worker
// processes. Each worker attaches to the table by name and performs -n
// increments spread over -keys counters, in a random order of its own.
// All workers start together (they wait on a pipe barrier, which costs no
// CPU), so their increments really race on the same counters.
//
// Which kind to use:
//
//   - A plain counter (Table.Add, Table.Counter) is one 8-byte word in the
//     key's slot: Add is a single compare-and-swap, with no lock and no
//     allocation, and returns the new value at no extra cost; the value is
//     exact at every instant, can be compared-and-swapped like any value,
//     and works in every table, evicting ones included. Use it for
//     counters that few processes write at once, or whose new value the
//     writer needs (sequence numbers, quotas, "am I the first?").
//     Processes that increment the same counter contend for its cache
//     line, which moves from core to core on every Add. In the "counter"
//     round, workers call Add(key, 1); with -handles they first make a
//     table.Counter handle per counter and add through it: the key's slot
//     is found once, so each Add is the compare-and-swap alone, without
//     hashing or comparing the key.
//   - A striped adder (Table.Adder) spreads its value over lanes, one per
//     process: Adder.Add is one atomic add on a cache line of the calling
//     process's own, so many processes incrementing hot counters do not
//     slow each other down. Reading it (Adder.Sum, or Get and Add(key, 0),
//     which see it as a counter) adds up every lane in use, so a read costs
//     more and Add returns nothing. Use it for statistics many processes
//     bump (requests, bytes, errors) and read now and then. In the "adder"
//     round, each worker makes a table.Adder handle per counter (the first
//     to come makes the key an adder) and calls Adder.Add(1).
//
// Once every worker has attached, the parent removes the table's name
// from /dev/shm. Like shm_unlink, that does not disturb the processes
// that have it open, and it means nothing is left behind if the run is
// interrupted. When the workers are done, the parent, still attached,
// checks every counter against the exact count it expects and prints the
// throughput each worker measured over its own loop.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/shmdict/shmdict/table"
)

// workerEnv carries "name index n keys kind handles" to a worker; its
// presence is what makes a process a worker.
const workerEnv = "SHMDICT_COUNTERS_WORKER"

// The kinds of counter, one round each.
const (
	kindCounter = "counter" // plain counters: Table.Add or Counter.Add
	kindAdder   = "adder"   // striped adders: Adder.Add
)

func main() {
	var err error
	if spec := os.Getenv(workerEnv); spec != "" {
		err = worker(spec)
	} else {
		procs := flag.Int("procs", 4, "number of worker processes")
		n := flag.Int("n", 100000, "Add(key, 1) calls per worker")
		keys := flag.Int("keys", 1000, "number of counters the workers share")
		handles := flag.Bool("handles", false, "in the counter round, add through table.Counter handles instead of Add(key, 1)")
		kinds := flag.String("kinds", "counter,adder", "comma-separated rounds to run: counter (plain counters), adder (striped adders)")
		flag.Parse()
		for _, kind := range strings.Split(*kinds, ",") {
			if kind != kindCounter && kind != kindAdder {
				err = fmt.Errorf("-kinds: no kind %q (want %s or %s)", kind, kindCounter, kindAdder)
				break
			}
			if err = parent(*procs, *n, *keys, kind, *handles); err != nil {
				break
			}
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "counters (pid %d): %v\n", os.Getpid(), err)
		os.Exit(1)
	}
}

// counterKey is the name of counter k.
func counterKey(k int) []byte { return []byte(fmt.Sprintf("counter/%04d", k)) }

// keySeq is the sequence of counters one worker increments: a xorshift
// generator seeded by the worker's index, so that workers hit counters in
// random, different orders (and often the same counter at once), and the
// parent can replay every worker's sequence to know each exact total.
type keySeq struct{ x uint64 }

func newKeySeq(w int) keySeq { return keySeq{x: uint64(w+1) * 0x9E3779B97F4A7C15} }

func (s *keySeq) next(keys int) int {
	s.x ^= s.x << 13
	s.x ^= s.x >> 7
	s.x ^= s.x << 17
	return int(s.x % uint64(keys))
}

// worker runs in a child process.
func worker(spec string) (err error) {
	f := strings.Fields(spec)
	if len(f) != 6 {
		return fmt.Errorf("bad %s=%q", workerEnv, spec)
	}
	name, kind := f[0], f[4]
	w, err1 := strconv.Atoi(f[1])
	n, err2 := strconv.Atoi(f[2])
	keys, err3 := strconv.Atoi(f[3])
	handles, err4 := strconv.ParseBool(f[5])
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return fmt.Errorf("bad %s=%q: %w", workerEnv, spec, err)
	}

	t, err := table.Attach(name)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, t.Close()) }()
	names := make([][]byte, keys)
	var ctrs []*table.Counter
	var adders []*table.Adder
	for k := range names {
		names[k] = counterKey(k)
		switch {
		case kind == kindAdder:
			// The first worker here makes the key an adder at 0; the
			// others get a handle on it.
			a, err := t.Adder(names[k])
			if err != nil {
				return err
			}
			adders = append(adders, a)
		case handles:
			c, err := t.Counter(names[k])
			if err != nil {
				return err
			}
			ctrs = append(ctrs, c)
		}
	}
	add := func(k int) error {
		switch {
		case kind == kindAdder:
			return adders[k].Add(1) // this process's lane: no shared cache line
		case handles:
			_, err := ctrs[k].Add(1) // returns the new value, exact
			return err
		}
		_, err := t.Add(names[k], 1)
		return err
	}

	// Barrier: say we are ready, then block until the parent closes our
	// stdin.
	fmt.Println("ready")
	if _, err := io.Copy(io.Discard, os.Stdin); err != nil {
		return err
	}

	seq := newKeySeq(w)
	start := time.Now()
	for i := range n {
		if err := add(seq.next(keys)); err != nil {
			return fmt.Errorf("worker %d: Add at step %d: %w", w, i, err)
		}
	}
	elapsed := time.Since(start)
	fmt.Printf("done %d\n", elapsed.Nanoseconds())
	return nil
}

// proc is a worker process as the parent sees it.
type proc struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Scanner
}

// line returns the worker's next line of output.
func (p *proc) line() (string, error) {
	if p.stdout.Scan() {
		return p.stdout.Text(), nil
	}
	if err := p.stdout.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("worker pid %d ended its output early: %v", p.cmd.Process.Pid, p.cmd.Wait())
}

// parent runs one round: a table of keys counters of one kind, procs
// workers, and the check.
func parent(procs, n, keys int, kind string, handles bool) (err error) {
	if procs < 1 || n < 0 || keys < 1 {
		return fmt.Errorf("need -procs >= 1, -n >= 0, -keys >= 1")
	}
	name := fmt.Sprintf("shmdict-counters-%d-%s", os.Getpid(), kind)
	t, err := table.Create(name, table.Options{Capacity: keys})
	if err != nil {
		return err
	}
	removed := false
	defer func() {
		err = errors.Join(err, t.Close())
		if !removed {
			err = errors.Join(err, table.Remove(name))
		}
	}()
	how := "Add(key, 1) on plain counters"
	switch {
	case kind == kindAdder:
		how = "Adder.Add(1) on striped adders"
	case handles:
		how = "Counter.Add(1) on plain counters"
	}
	fmt.Printf("table %q: %d counters, %d worker processes x %d %s\n", name, keys, procs, n, how)

	exe, err := os.Executable()
	if err != nil {
		return err
	}
	ps := make([]*proc, procs)
	defer func() {
		for _, p := range ps {
			if p != nil && p.cmd.ProcessState == nil {
				p.cmd.Process.Kill()
				p.cmd.Wait()
			}
		}
	}()
	for w := range ps {
		cmd := exec.Command(exe)
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %d %d %d %s %t", workerEnv, name, w, n, keys, kind, handles))
		cmd.Stderr = os.Stderr
		// A worker dies with the parent, so an interrupted run leaves no
		// process behind.
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		stdin, err := cmd.StdinPipe()
		if err != nil {
			return err
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			return err
		}
		if err := cmd.Start(); err != nil {
			return err
		}
		ps[w] = &proc{cmd: cmd, stdin: stdin, stdout: bufio.NewScanner(stdout)}
	}
	for _, p := range ps {
		if l, err := p.line(); err != nil || l != "ready" {
			return fmt.Errorf("waiting for worker pid %d to attach: %q %v", p.cmd.Process.Pid, l, err)
		}
	}
	fmt.Printf("all %d workers attached (%d processes in the registry)\n", procs, len(t.Stats().Processes))

	// Every worker holds the table open now: drop its name.
	if err := table.Remove(name); err != nil {
		return err
	}
	removed = true
	fmt.Printf("removed %q from /dev/shm; attached processes keep using it\n", name)

	for _, p := range ps { // release the barrier
		p.stdin.Close()
	}
	var slowest time.Duration
	for w, p := range ps {
		l, err := p.line()
		if err != nil {
			return err
		}
		ns, ok := strings.CutPrefix(l, "done ")
		d, perr := strconv.ParseInt(ns, 10, 64)
		if !ok || perr != nil {
			return fmt.Errorf("worker %d: unexpected output %q", w, l)
		}
		if err := p.cmd.Wait(); err != nil {
			return fmt.Errorf("worker %d (pid %d): %w", w, p.cmd.Process.Pid, err)
		}
		elapsed := time.Duration(d)
		slowest = max(slowest, elapsed)
		fmt.Printf("worker %d (pid %d): %d Add in %v (%s)\n", w, p.cmd.Process.Pid, n, elapsed.Round(time.Microsecond), rate(n, elapsed))
	}

	// Check every counter against the count the workers' sequences imply.
	want := make([]int64, keys)
	for w := range procs {
		seq := newKeySeq(w)
		for range n {
			want[seq.next(keys)]++
		}
	}
	var total, wrong int64
	for k := range keys {
		got, err := read(t, counterKey(k), kind)
		if err != nil {
			return err
		}
		total += got
		if got != want[k] {
			wrong++
			if wrong <= 5 {
				fmt.Printf("counter %d = %d, want %d\n", k, got, want[k])
			}
		}
	}
	expected := int64(procs) * int64(n)
	fmt.Printf("total %d, expected %d: ", total, expected)
	if total != expected || wrong != 0 {
		fmt.Println("MISMATCH")
		return fmt.Errorf("%d of %d counters are wrong; %d increments lost", wrong, keys, expected-total)
	}
	fmt.Printf("exact (all %d counters match)\n", keys)
	if kind == kindAdder {
		st := t.Stats()
		// Each process that added has a lane of its own: the workers. A
		// handle takes its lane at its first Add, so this one's reads
		// took none.
		fmt.Printf("adder lanes used: %d of %d (one per worker; reading takes none)\n", st.LanesUsed, st.AdderLanes)
	}
	fmt.Printf("throughput: %d increments in %v (slowest worker): %s in total\n",
		expected, slowest.Round(time.Microsecond), rate(int(expected), slowest))
	return nil
}

// read returns the value of counter key of the given kind.
func read(t *table.Table, key []byte, kind string) (int64, error) {
	if kind != kindAdder {
		return t.Add(key, 0) // Add(key, 0) reads a counter
	}
	// An adder's Sum adds up the lanes of every process that added to
	// it. Add(key, 0) reads the same sum: the rest of the API sees an
	// adder as a counter.
	a, err := t.Adder(key)
	if err != nil {
		return 0, err
	}
	n, err := a.Sum()
	if err != nil {
		return 0, err
	}
	if m, err := t.Add(key, 0); err != nil || m != n {
		return 0, fmt.Errorf("%s: Add(key, 0) = %d (%v), Sum = %d", key, m, err, n)
	}
	return n, nil
}

// rate formats n operations over d as operations per second.
func rate(n int, d time.Duration) string {
	if d <= 0 {
		return "n/a"
	}
	r := float64(n) / d.Seconds()
	switch {
	case r >= 1e6:
		return fmt.Sprintf("%.2f M ops/s", r/1e6)
	case r >= 1e3:
		return fmt.Sprintf("%.1f k ops/s", r/1e3)
	}
	return fmt.Sprintf("%.0f ops/s", r)
}
