package bench

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// loadedMap returns a map peer holding keys 0..n-1 at version 0.
func loadedMap(t *testing.T, c Cell) *mapPeer {
	t.Helper()
	p := &mapPeer{}
	if _, err := p.Setup(c); err != nil {
		t.Fatal(err)
	}
	if err := preload(p, c); err != nil {
		t.Fatal(err)
	}
	return p
}

// spin busy-waits for d: a sleep would be rounded up to the timer slack.
func spin(d time.Duration) {
	for t := time.Now(); time.Since(t) < d; {
	}
}

// slowClient makes its first slow gets take at least slowBy longer, and
// every get at least each.
type slowClient struct {
	*mapPeer
	gets   int
	slow   int
	slowBy time.Duration
	each   time.Duration
}

func (c *slowClient) Get(dst, k []byte) ([]byte, bool, error) {
	c.gets++
	if c.gets <= c.slow {
		spin(c.slowBy)
	}
	if c.each > 0 {
		spin(c.each)
	}
	return c.mapPeer.Get(dst, k)
}

// TestFreshCost: a client whose first gets are slow must show it in the
// first part of get-fresh, which must count exactly FreshOps gets and run
// at least as many more.
func TestFreshCost(t *testing.T) {
	c := Cell{Workload: WGetFresh, Workers: 1, Keys: 1000, ValueLen: 32, Millis: 1, Seed: 1, FreshOps: 2000}
	cl := &slowClient{mapPeer: loadedMap(t, c), slow: 2000, slowBy: 2 * time.Microsecond}
	r := work(c, cl, nil)
	if r.Err != "" {
		t.Fatal(r.Err)
	}
	if r.FirstOps != 2000 || r.Ops < 4000 || int64(cl.gets) != r.Ops || r.Checked != r.Ops {
		t.Fatalf("first %d of %d gets (client saw %d), %d checked; want the first 2000 of at least 4000",
			r.FirstOps, r.Ops, cl.gets, r.Checked)
	}
	first := float64(r.FirstNs) / float64(r.FirstOps)
	later := float64(r.Elapsed-r.FirstNs) / float64(r.Ops-r.FirstOps)
	t.Logf("first %.0fns/get, later %.0fns/get", first, later)
	if first < 2000 || first < 2*later {
		t.Errorf("first gets %.0fns each, later %.0fns: the 2µs of each first get is not in the first part", first, later)
	}
}

// TestSampledLatencyTimesTheOperation: with every get taking 20µs, the
// sampled latencies must be about 20µs, not the loop's other work.
func TestSampledLatencyTimesTheOperation(t *testing.T) {
	c := Cell{Workload: WGetUniform, Workers: 1, Keys: 1000, ValueLen: 32, Millis: 40, Seed: 1}
	r := work(c, &slowClient{mapPeer: loadedMap(t, c), each: 20 * time.Microsecond}, nil)
	if r.Err != "" {
		t.Fatal(r.Err)
	}
	h, err := DecodeHistogram(r.Hist)
	if err != nil {
		t.Fatal(err)
	}
	if want := (r.Ops + sampleEvery - 1) / sampleEvery; h.Count() != want {
		t.Errorf("%d samples of %d gets, want one in %d: %d", h.Count(), r.Ops, sampleEvery, want)
	}
	p := h.Percentiles()
	if p.P50 < 20_000 || p.P50 > 30_000 {
		t.Errorf("p50 %dns for gets of 20µs", p.P50)
	}
	if r.ClockNs <= 0 || r.ClockNs > 10_000 {
		t.Errorf("clock read costs %dns", r.ClockNs)
	}
}

// countPeer is a process peer (for workerMain) over a preloaded map that
// counts the gets its client made; barrierGets holds the count when the
// worker read its start signal.
type countPeer struct{ mapPeer }

var (
	countGets   atomic.Int64
	barrierGets atomic.Int64
)

func (*countPeer) Name() string    { return "count" }
func (*countPeer) InProcess() bool { return false }
func (p *countPeer) Open(c Cell) (Client, error) {
	if _, err := p.Setup(c); err != nil {
		return nil, err
	}
	if err := preload(&p.mapPeer, c); err != nil {
		return nil, err
	}
	countGets.Store(0)
	return &countClient{&p.mapPeer}, nil
}

type countClient struct{ *mapPeer }

func (c *countClient) Get(dst, k []byte) ([]byte, bool, error) {
	countGets.Add(1)
	return c.mapPeer.Get(dst, k)
}

// barrierReader is a worker's stdin: it notes the gets made so far when
// the worker reads its start signal.
type barrierReader struct{ r io.Reader }

func (b *barrierReader) Read(p []byte) (int, error) {
	if b.r == nil {
		barrierGets.Store(countGets.Load())
		b.r = strings.NewReader("go\n")
	}
	return b.r.Read(p)
}

// TestFreshHasNoWarmUp runs a worker process's main: get-fresh must make
// no get before the start barrier, get-uniform must warm up before it.
func TestFreshHasNoWarmUp(t *testing.T) {
	register("count", func() Peer { return &countPeer{} })
	defer delete(peers, "count")
	for _, tc := range []struct {
		workload string
		warm     bool
	}{{WGetFresh, false}, {WGetUniform, true}, {WGetZipf, true}, {WMixed9010, true}, {WCounters, false}, {WCountersAdder, false}, {WCountersAdderKey, false}} {
		c := Cell{Peer: "count", Workload: tc.workload, Workers: 1, Keys: 500, Counters: 10, ValueLen: 32,
			Millis: 5, WarmMillis: 5, FreshOps: 100, Seed: 1}
		js, _ := json.Marshal(c)
		var out bytes.Buffer
		if rc := workerMain(string(js), &barrierReader{}, &out); rc != 0 {
			t.Fatalf("%s: worker exited %d: %s", tc.workload, rc, out.String())
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		var r workerResult
		if len(lines) != 2 || lines[0] != "ready" || json.Unmarshal([]byte(lines[1]), &r) != nil || r.Ops == 0 {
			t.Fatalf("%s: worker said %q", tc.workload, out.String())
		}
		if before := barrierGets.Load(); (before > 0) != tc.warm {
			t.Errorf("%s: %d gets before the start barrier, want warm-up %v", tc.workload, before, tc.warm)
		}
	}
}

// TestStepsDoNotAllocate: the timed loop's steps allocate nothing once
// their buffers have grown, so no GC pause is the harness's doing.
func TestStepsDoNotAllocate(t *testing.T) {
	for _, w := range []string{WGetUniform, WGetZipf, WGetFresh, WMixed5050, WCounters, WCountersAdder, WCountersAdderKey} {
		c := Cell{Workload: w, Workers: 1, Keys: 1000, Counters: 10, ValueLen: 32, Seed: 1}
		p := loadedMap(t, c)
		pre, err := prepare(c, p)
		if err != nil {
			t.Fatal(err)
		}
		do := newStep(c, p, newPicker(c), pre)
		for range 2000 { // create the counters, grow the buffers
			if _, _, err := do(); err != nil {
				t.Fatal(err)
			}
		}
		if n := testing.AllocsPerRun(1000, func() { do() }); n != 0 {
			t.Errorf("%s: %.2f allocations per step", w, n)
		}
	}
}
