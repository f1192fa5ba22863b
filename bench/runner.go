package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// WorkerEnv, when set (to a Cell in JSON), makes the harness binary a
// worker process: see MaybeWorker.
const WorkerEnv = "SHMDICT_BENCH_WORKER"

// Options choose what Run measures.
type Options struct {
	Peers     []string      // default: every peer
	Workloads []string      // default: every workload
	Workers   []int         // worker counts; default 1 and 2
	Keys      int           // key universe (default 100,000)
	ValueLen  int           // bytes per value (default 32)
	Counters  int           // hot counters of the counters workload (default 1,000)
	Duration  time.Duration // per cell, after any preload (default 1 s)
	Seed      uint64        // of every generator (default 1)
	// Warmup is how long each worker of a steady-state read workload
	// (get-uniform, get-zipf, the mixes) runs untimed gets before the
	// clock starts (default a quarter of Duration; negative: none).
	Warmup time.Duration
	// FreshOps is how many first gets of each get-fresh worker are timed
	// apart from its later ones (default FreshOps).
	FreshOps int
	// Exe is the binary to start as worker processes; it must call
	// MaybeWorker first thing (default: this one).
	Exe string
	// Progress, if set, is called before each cell.
	Progress func(done, total int, c Cell)
}

func (o *Options) defaults() {
	if len(o.Peers) == 0 {
		o.Peers = PeerNames()
	}
	if len(o.Workloads) == 0 {
		o.Workloads = Workloads
	}
	if len(o.Workers) == 0 {
		o.Workers = []int{1, 2}
	}
	if o.Keys == 0 {
		o.Keys = 100_000
	}
	if o.ValueLen == 0 {
		o.ValueLen = 32
	}
	if o.Counters == 0 {
		o.Counters = 1000
	}
	if o.Duration == 0 {
		o.Duration = time.Second
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.Warmup == 0 {
		o.Warmup = o.Duration / 4
	}
	if o.FreshOps == 0 {
		o.FreshOps = FreshOps
	}
}

// ErrWrongAnswer marks a run that got a wrong answer from a peer: a read
// that returned another key's value or a torn one, a missing key, or
// counters that do not sum to the increments made.
var ErrWrongAnswer = errors.New("shmdict: bench: wrong answer")

// Run measures every cell of opts (peer x workload x workers) and returns
// the report. A peer that is not available here gets skipped cells with
// the reason; a wrong answer stops the run with ErrWrongAnswer.
func Run(ctx context.Context, opts Options) (Report, error) {
	opts.defaults()
	rep := Report{When: time.Now().UTC(), Machine: Machine()}
	var cells []Cell
	for _, w := range opts.Workloads {
		for _, n := range opts.Workers {
			for _, p := range opts.Peers {
				cells = append(cells, Cell{Peer: p, Workload: w, Workers: n, Keys: opts.Keys, ValueLen: opts.ValueLen,
					Counters: opts.Counters, Millis: int(opts.Duration / time.Millisecond), Seed: opts.Seed,
					WarmMillis: int(max(opts.Warmup, 0) / time.Millisecond), FreshOps: opts.FreshOps})
			}
		}
	}
	for i, c := range cells {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		if opts.Progress != nil {
			opts.Progress(i, len(cells), c)
		}
		res, err := runCell(ctx, c, opts.Exe)
		if err != nil {
			return rep, fmt.Errorf("%s, %s, %d workers: %w", c.Peer, c.Workload, c.Workers, err)
		}
		rep.Results = append(rep.Results, res)
	}
	if opts.Progress != nil {
		opts.Progress(len(cells), len(cells), Cell{})
	}
	return rep, nil
}

// workerResult is what one worker reports.
type workerResult struct {
	Ops     int64 `json:"ops"`
	Checked int64 `json:"checked"`
	Elapsed int64 `json:"elapsed_ns"`
	// FirstOps and FirstNs: get-fresh's first gets and the time they took
	// from the start barrier (0 for other workloads).
	FirstOps int64  `json:"first_ops,omitempty"`
	FirstNs  int64  `json:"first_ns,omitempty"`
	ClockNs  int64  `json:"clock_ns"` // one monotonic clock read, median
	Hist     string `json:"hist"`
	Err      string `json:"err,omitempty"`
}

func runCell(ctx context.Context, c Cell, exe string) (Result, error) {
	res := Result{Peer: c.Peer, Workload: c.Workload, Workers: c.Workers, Keys: c.Keys, ValueLen: c.ValueLen}
	p, err := NewPeer(c.Peer)
	if err != nil {
		return res, err
	}
	res.Procs = !p.InProcess()
	if why := p.Available(); why != "" {
		res.Skipped = why
		return res, nil
	}
	if c.Workload == WGetFresh && p.InProcess() {
		// A fresh process gets a fresh view of a store only if the store
		// lives outside it; a goroutine of the harness shares its heap,
		// already touched by the preload.
		res.Skipped = "in-process peer: no fresh process to attach"
		return res, nil
	}
	if m := p.MaxWorkers(); m > 0 && c.Workers > m {
		res.Skipped = fmt.Sprintf("at most %d worker(s)", m)
		return res, nil
	}
	target, err := p.Setup(c)
	if err != nil {
		return res, err
	}
	c.Target = target
	defer p.Teardown(c)
	if preloaded(c.Workload) {
		if err := preload(p, c); err != nil {
			return res, err
		}
	}
	if c.Workload == WCountersAdderKey {
		if err := makeAdders(p, c); err != nil {
			return res, err
		}
	}
	var results []workerResult
	if p.InProcess() {
		results, err = runGoroutines(p, c)
	} else {
		results, err = runProcesses(ctx, c, exe)
	}
	if err != nil {
		return res, err
	}
	h := new(Histogram)
	var elapsed, firstOps, firstNs, restOps, restNs int64
	for i, r := range results {
		if r.Err != "" {
			if strings.Contains(r.Err, ErrWrongAnswer.Error()) {
				// Keep errors.Is working across the process boundary.
				return res, fmt.Errorf("%w: worker %d: %s", ErrWrongAnswer, i, strings.TrimPrefix(r.Err, ErrWrongAnswer.Error()+": "))
			}
			return res, fmt.Errorf("worker %d: %s", i, r.Err)
		}
		res.Ops += r.Ops
		res.Checked += r.Checked
		elapsed = max(elapsed, r.Elapsed)
		res.ClockNs = max(res.ClockNs, r.ClockNs)
		if c.Workload == WGetFresh {
			if r.FirstOps <= 0 || r.FirstOps >= r.Ops {
				return res, fmt.Errorf("worker %d: get-fresh did %d gets, %d of them first", i, r.Ops, r.FirstOps)
			}
			firstOps += r.FirstOps
			firstNs += r.FirstNs
			restOps += r.Ops - r.FirstOps
			restNs += r.Elapsed - r.FirstNs
		}
		wh, err := DecodeHistogram(r.Hist)
		if err != nil {
			return res, fmt.Errorf("worker %d: histogram: %w", i, err)
		}
		h.Merge(wh)
	}
	res.Elapsed = time.Duration(elapsed)
	if elapsed > 0 {
		res.OpsPerS = float64(res.Ops) / time.Duration(elapsed).Seconds()
	}
	res.Latency = h.Percentiles()
	if c.Workload == WGetFresh {
		// Means per worker (time a worker spent per get), not the inverse
		// of the throughput of all workers together.
		first, rest := float64(firstNs)/float64(firstOps), float64(restNs)/float64(restOps)
		res.Fresh = &FreshCost{FirstOps: firstOps / int64(len(results)), FirstNs: first, LaterNs: rest, Ratio: first / rest}
	}
	n, err := verifyAfter(p, c, res.Ops)
	res.Checked += n
	return res, err
}

// preloadBatch is how many keys a Loader gets a call: big enough that a
// transaction's or a round trip's fixed cost vanishes, small enough (a
// few hundred KiB) to keep the preload's memory flat.
const preloadBatch = 4096

// preload stores every key at version 0, from one client, in batches if
// the client is a Loader.
func preload(p Peer, c Cell) error {
	cl, err := p.Open(c)
	if err != nil {
		return err
	}
	defer cl.Close()
	l, batched := cl.(Loader)
	var keys, values [][]byte
	for i := range c.Keys {
		k, v := key(nil, i), value(nil, i, 0, c.ValueLen)
		if !batched {
			if err := cl.Set(k, v); err != nil {
				return fmt.Errorf("preload: %w", err)
			}
			continue
		}
		keys, values = append(keys, k), append(values, v)
		if len(keys) == preloadBatch || i == c.Keys-1 {
			if err := l.Load(keys, values); err != nil {
				return fmt.Errorf("preload: %w", err)
			}
			keys, values = keys[:0], values[:0]
		}
	}
	return nil
}

// makeAdders makes the hot counters of counters-adder-key before the
// workers start: striped adders where the peer has them, its counters
// otherwise.
func makeAdders(p Peer, c Cell) error {
	cl, err := p.Open(c)
	if err != nil {
		return err
	}
	defer cl.Close()
	var kb []byte
	for i := range c.Counters {
		kb = counterKey(kb, i)
		if ac, ok := cl.(AdderClient); ok {
			_, err = ac.Adder(kb)
		} else {
			// A counter at 0: Incr(key, 0) may not create it.
			if _, err = cl.Incr(kb, 1); err == nil {
				_, err = cl.Incr(kb, -1)
			}
		}
		if err != nil {
			return fmt.Errorf("making counter %d: %w", i, err)
		}
	}
	return nil
}

// verifyAfter checks what a cell left: loaded keys hold their values,
// counters sum to the increments made (read through the handles of the
// counters-adder workloads: an adder's Sum).
func verifyAfter(p Peer, c Cell, ops int64) (checked int64, err error) {
	if c.Workload != WLoad && !counting(c.Workload) {
		return 0, nil
	}
	cl, err := p.Open(c)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	var kb, vb []byte
	if c.Workload == WLoad {
		step := max(c.Keys/1000, 1)
		for i := 0; i < c.Keys; i += step {
			kb = key(kb, i)
			v, ok, err := cl.Get(vb[:0], kb)
			if err != nil {
				return checked, err
			}
			if !ok {
				return checked, fmt.Errorf("%w: key %d missing after the load", ErrWrongAnswer, i)
			}
			if err := checkValue(v, i, c.ValueLen); err != nil {
				return checked, fmt.Errorf("%w: %v", ErrWrongAnswer, err)
			}
			vb = v
			checked++
		}
		return checked, nil
	}
	var sum int64
	for i := range c.Counters {
		kb = counterKey(kb, i)
		var n int64
		if c.Workload == WCounters {
			n, err = cl.Incr(kb, 0)
		} else {
			var a Adder
			if a, err = adderOf(cl, kb); err == nil {
				n, err = a.Sum()
			}
		}
		if err != nil {
			return checked, err
		}
		sum += n
	}
	if sum != ops {
		return 1, fmt.Errorf("%w: counters sum to %d after %d increments", ErrWrongAnswer, sum, ops)
	}
	return 1, nil
}

func runGoroutines(p Peer, c Cell) ([]workerResult, error) {
	results := make([]workerResult, c.Workers)
	start := make(chan struct{})
	var ready, done sync.WaitGroup
	for w := range c.Workers {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			wc := c
			wc.Worker = w
			cl, err := p.Open(wc)
			var pre *prepared
			if err == nil {
				if pre, err = prepare(wc, cl); err != nil {
					cl.Close()
				}
			}
			ready.Done()
			if err != nil {
				results[w].Err = err.Error()
				return
			}
			defer cl.Close()
			<-start
			results[w] = work(wc, cl, pre)
		}()
	}
	ready.Wait()
	close(start)
	done.Wait()
	return results, nil
}

func runProcesses(ctx context.Context, c Cell, exe string) ([]workerResult, error) {
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return nil, err
		}
	}
	type proc struct {
		cmd    *exec.Cmd
		in     io.WriteCloser
		out    *bufio.Reader
		stderr strings.Builder
	}
	procs := make([]*proc, c.Workers)
	defer func() {
		for _, pr := range procs {
			if pr != nil && pr.cmd.ProcessState == nil {
				pr.cmd.Process.Kill()
				pr.cmd.Wait()
			}
		}
	}()
	for w := range c.Workers {
		wc := c
		wc.Worker = w
		js, _ := json.Marshal(wc)
		pr := &proc{cmd: exec.CommandContext(ctx, exe)}
		pr.cmd.Env = append(os.Environ(), WorkerEnv+"="+string(js))
		pr.cmd.Stderr = &pr.stderr
		pr.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		var err error
		if pr.in, err = pr.cmd.StdinPipe(); err != nil {
			return nil, err
		}
		out, err := pr.cmd.StdoutPipe()
		if err != nil {
			return nil, err
		}
		pr.out = bufio.NewReader(out)
		if err := pr.cmd.Start(); err != nil {
			return nil, err
		}
		procs[w] = pr
	}
	line := func(pr *proc, w int) (string, error) {
		s, err := pr.out.ReadString('\n')
		if err != nil {
			return "", fmt.Errorf("worker %d: %v: %s", w, err, strings.TrimSpace(pr.stderr.String()))
		}
		return strings.TrimSpace(s), nil
	}
	for w, pr := range procs {
		if s, err := line(pr, w); err != nil {
			return nil, err
		} else if s != "ready" {
			return nil, fmt.Errorf("worker %d: said %q, want ready", w, s)
		}
	}
	for _, pr := range procs { // the barrier: all start at once
		io.WriteString(pr.in, "go\n")
	}
	results := make([]workerResult, c.Workers)
	for w, pr := range procs {
		s, err := line(pr, w)
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(s), &results[w]); err != nil {
			return nil, fmt.Errorf("worker %d: bad report %q: %v", w, s, err)
		}
		pr.in.Close()
		pr.cmd.Wait()
	}
	return results, nil
}

// MaybeWorker runs this process as a harness worker and exits, if it was
// started as one (WorkerEnv set); otherwise it returns at once. Programs
// that run the harness call it first thing in main.
func MaybeWorker() {
	js := os.Getenv(WorkerEnv)
	if js == "" {
		return
	}
	os.Exit(workerMain(js, os.Stdin, os.Stdout))
}

func workerMain(js string, in io.Reader, out io.Writer) int {
	report := func(r workerResult) int {
		b, _ := json.Marshal(r)
		fmt.Fprintf(out, "%s\n", b)
		if r.Err != "" {
			return 1
		}
		return 0
	}
	var c Cell
	if err := json.Unmarshal([]byte(js), &c); err != nil {
		return report(workerResult{Err: "bad cell: " + err.Error()})
	}
	p, err := NewPeer(c.Peer)
	if err != nil {
		return report(workerResult{Err: err.Error()})
	}
	cl, err := p.Open(c)
	if err != nil {
		return report(workerResult{Err: err.Error()})
	}
	defer cl.Close()
	pre, err := prepare(c, cl)
	if err != nil {
		return report(workerResult{Err: err.Error()})
	}
	fmt.Fprintln(out, "ready")
	if s, err := bufio.NewReader(in).ReadString('\n'); err != nil || strings.TrimSpace(s) != "go" {
		return report(workerResult{Err: "no start signal"})
	}
	return report(work(c, cl, pre))
}

// Machine describes this machine for reports.
func Machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				if _, v, ok := strings.Cut(l, ":"); ok {
					model = strings.TrimSpace(v)
				}
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		fmt.Sscanf(strings.SplitN(string(b), "\n", 2)[0], "MemTotal: %d kB", &kb)
		mem = fmt.Sprintf(", %.0f GiB", float64(kb)/(1<<20))
	}
	var uts syscall.Utsname
	kernel := ""
	if syscall.Uname(&uts) == nil {
		var sb strings.Builder
		for _, c := range uts.Release {
			if c == 0 {
				break
			}
			sb.WriteByte(byte(c))
		}
		kernel = ", Linux " + sb.String()
	}
	return fmt.Sprintf("%s, %d CPUs%s%s, %s", model, runtime.NumCPU(), mem, kernel, runtime.Version())
}
