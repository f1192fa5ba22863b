package bench

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	MaybeWorker() // worker processes of the tests below are this binary
	os.Exit(m.Run())
}

// TestRunSmall runs every workload against the peers available here with
// 1 and 2 workers, tiny: every cell must produce operations, checked
// answers and sane latencies.
func TestRunSmall(t *testing.T) {
	rep, err := Run(context.Background(), Options{
		Peers: []string{"shmdict", "map+RWMutex", "sync.Map", "redis"}, Keys: 2000, Counters: 50,
		Workers: []int{1, 2}, Duration: 50 * time.Millisecond, FreshOps: 3000,
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(rep.Results), len(Workloads)*2*4; got != want {
		t.Fatalf("%d results, want %d", got, want)
	}
	for _, r := range rep.Results {
		inProc := r.Peer == "map+RWMutex" || r.Peer == "sync.Map"
		if r.Skipped != "" {
			if r.Peer != "redis" && !(r.Workload == WGetFresh && inProc) {
				t.Errorf("%s skipped: %s", r.Peer, r.Skipped)
			}
			continue
		}
		if r.Workload == WGetFresh && inProc {
			t.Errorf("%s ran get-fresh in goroutines", r.Peer)
		}
		if f := r.Fresh; (f != nil) != (r.Workload == WGetFresh) {
			t.Errorf("%s/%s/%d: fresh cost %+v", r.Peer, r.Workload, r.Workers, f)
		} else if f != nil {
			if f.FirstOps != 3000 || !(f.FirstNs > 0) || !(f.LaterNs > 0) || f.Ratio != f.FirstNs/f.LaterNs {
				t.Errorf("%s/%d workers: fresh cost %+v", r.Peer, r.Workers, f)
			}
			if r.Ops < int64(2*3000*r.Workers) {
				t.Errorf("%s/%d workers: get-fresh did %d gets, want at least twice the first 3000 per worker", r.Peer, r.Workers, r.Ops)
			}
		}
		if r.ClockNs <= 0 {
			t.Errorf("%s/%s: clock cost %d", r.Peer, r.Workload, r.ClockNs)
		}
		if r.Ops <= 0 || r.OpsPerS <= 0 || r.Latency.P50 <= 0 || r.Latency.P50 > r.Latency.P999 {
			t.Errorf("%+v: no operations or bad latencies", r)
		}
		if r.Checked == 0 {
			t.Errorf("%s/%s/%d: nothing checked", r.Peer, r.Workload, r.Workers)
		}
		if r.Procs == (r.Peer == "map+RWMutex" || r.Peer == "sync.Map") {
			t.Errorf("%s: procs=%v", r.Peer, r.Procs)
		}
		if r.Workload == WLoad && r.Ops != int64(r.Keys) {
			t.Errorf("%s load: %d ops for %d keys", r.Peer, r.Ops, r.Keys)
		}
	}
	if rep.Machine == "" || !strings.Contains(rep.Machine, "CPUs") {
		t.Errorf("machine %q", rep.Machine)
	}
}

// badPeer returns the value of another key for one key in a hundred: the
// harness must notice and fail the run.
type badPeer struct{ mapPeer }

func (*badPeer) Name() string { return "bad" }

func (p *badPeer) Open(Cell) (Client, error) { return &badClient{p: &p.mapPeer}, nil }

type badClient struct {
	p *mapPeer
	n int
}

func (c *badClient) Get(dst, k []byte) ([]byte, bool, error) {
	c.n++
	if c.n%100 == 0 {
		return c.p.Get(dst, key(nil, 0))
	}
	return c.p.Get(dst, k)
}
func (c *badClient) Set(k, v []byte) error                 { return c.p.Set(k, v) }
func (c *badClient) Incr(k []byte, d int64) (int64, error) { return c.p.Incr(k, d) }
func (c *badClient) Close() error                          { return nil }

// lossyPeer drops one increment in a thousand.
type lossyPeer struct{ mapPeer }

func (*lossyPeer) Name() string                { return "lossy" }
func (p *lossyPeer) Open(Cell) (Client, error) { return &lossyClient{p: &p.mapPeer}, nil }

type lossyClient struct {
	p *mapPeer
	n int
}

func (c *lossyClient) Get(dst, k []byte) ([]byte, bool, error) { return c.p.Get(dst, k) }
func (c *lossyClient) Set(k, v []byte) error                   { return c.p.Set(k, v) }
func (c *lossyClient) Incr(k []byte, d int64) (int64, error) {
	c.n++
	if c.n%1000 == 0 {
		return c.p.Incr(k, 0)
	}
	return c.p.Incr(k, d)
}
func (c *lossyClient) Close() error { return nil }

// lossyAdderPeer has handles (AdderClient), and each handle drops one
// increment in a thousand.
type lossyAdderPeer struct{ mapPeer }

func (*lossyAdderPeer) Name() string                { return "lossy-adder" }
func (p *lossyAdderPeer) Open(Cell) (Client, error) { return &lossyAdderClient{&p.mapPeer}, nil }

type lossyAdderClient struct{ *mapPeer }

func (c *lossyAdderClient) Adder(key []byte) (Adder, error) {
	a, err := c.mapPeer.Adder(key)
	return &lossyAdder{Adder: a}, err
}

type lossyAdder struct {
	Adder
	n int
}

func (a *lossyAdder) Add(d int64) error {
	a.n++
	if a.n%1000 == 0 {
		return nil
	}
	return a.Adder.Add(d)
}

func TestWrongAnswersFail(t *testing.T) {
	register("bad", func() Peer { return &badPeer{} })
	register("lossy", func() Peer { return &lossyPeer{} })
	register("lossy-adder", func() Peer { return &lossyAdderPeer{} })
	defer delete(peers, "bad")
	defer delete(peers, "lossy")
	defer delete(peers, "lossy-adder")
	for _, c := range []struct{ peer, workload string }{{"bad", WGetUniform}, {"bad", WMixed9010}, {"lossy", WCounters},
		{"lossy", WCountersAdder}, {"lossy", WCountersAdderKey}, {"lossy-adder", WCountersAdder}} {
		_, err := Run(context.Background(), Options{Peers: []string{c.peer}, Workloads: []string{c.workload},
			Keys: 500, Counters: 10, Workers: []int{1}, Duration: 30 * time.Millisecond})
		if !errors.Is(err, ErrWrongAnswer) && !strings.Contains(errString(err), ErrWrongAnswer.Error()) {
			t.Errorf("%s/%s: err = %v, want a wrong-answer failure", c.peer, c.workload, err)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestKeys(t *testing.T) {
	if got := string(key(nil, 42)); got != "key:000000000042" {
		t.Fatalf("key(42) = %q", got)
	}
	if got := string(counterKey([]byte("junk"), 999999)); got != "ctr:999999" {
		t.Fatalf("counterKey(999999) = %q", got)
	}
}

func TestValueCheck(t *testing.T) {
	for _, n := range []int{8, 15, 16, 32, 4096} {
		v := value(nil, 42, 7, n)
		if err := checkValue(v, 42, n); err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		if err := checkValue(v, 43, n); err == nil {
			t.Fatalf("n=%d: the value of key 42 passed as key 43's", n)
		}
		if n >= 16 {
			v[9] ^= 1
			if err := checkValue(v, 42, n); err == nil {
				t.Fatalf("n=%d: a flipped byte passed the checksum", n)
			}
		}
	}
}

func TestZipfSkew(t *testing.T) {
	counts := make([]int, 10000)
	r := newPicker(Cell{Seed: 1, Keys: 10000, Workload: WGetZipf})
	for range 200000 {
		counts[r.zipf.next(r.r.Float64())]++
	}
	// Rank 0 of a Zipf(0.99) over 10k keys takes about 10% of draws, and
	// the first 10 ranks about 30%.
	top10 := 0
	for _, c := range counts[:10] {
		top10 += c
	}
	if f := float64(counts[0]) / 200000; f < 0.07 || f > 0.13 {
		t.Errorf("rank 0 drawn %.3f of the time, want about 0.10", f)
	}
	if f := float64(top10) / 200000; f < 0.22 || f > 0.38 {
		t.Errorf("top 10 ranks drawn %.3f of the time, want about 0.30", f)
	}
}

// loadPeer is a map whose client is a Loader that counts its batches.
type loadPeer struct {
	mapPeer
	loads int
}

func (p *loadPeer) Open(Cell) (Client, error) { return p, nil }

func (p *loadPeer) Load(keys, values [][]byte) error {
	p.loads++
	for i := range keys {
		if err := p.Set(keys[i], values[i]); err != nil {
			return err
		}
	}
	return nil
}

// TestPreloadBatches: a Loader gets the preload in batches, every key
// stored with its value.
func TestPreloadBatches(t *testing.T) {
	c := Cell{Keys: 2*preloadBatch + 1, ValueLen: 32}
	p := &loadPeer{}
	p.Setup(c)
	if err := preload(p, c); err != nil {
		t.Fatal(err)
	}
	if p.loads != 3 || len(p.m) != c.Keys {
		t.Fatalf("%d batches stored %d keys, want 3 and %d", p.loads, len(p.m), c.Keys)
	}
	for i := range c.Keys {
		v, ok, _ := p.Get(nil, key(nil, i))
		if err := checkGet(v, ok, nil, i, c.ValueLen); err != nil {
			t.Fatal(err)
		}
	}
}

// TestAdderWorkloads runs the counters-adder workloads on the peers that
// have handles, whose sums must check out, and gives a client without
// handles keyAdders (its Incr stands in).
func TestAdderWorkloads(t *testing.T) {
	rep, err := Run(context.Background(), Options{
		Peers: []string{"shmdict", "map+RWMutex", "sync.Map"}, Workloads: []string{WCountersAdder, WCountersAdderKey},
		Keys: 100, Counters: 50, Workers: []int{1, 2}, Duration: 30 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(rep.Results), 2*2*3; got != want {
		t.Fatalf("%d results, want %d", got, want)
	}
	for _, r := range rep.Results {
		if r.Skipped != "" || r.Ops <= 0 || r.Checked != 1 {
			t.Errorf("%s/%s/%d: skipped %q, %d ops, %d checked", r.Peer, r.Workload, r.Workers, r.Skipped, r.Ops, r.Checked)
		}
	}

	// A client without handles gets keyAdders, which go through Incr.
	p := &mapPeer{}
	p.Setup(Cell{})
	c := Cell{Workload: WCountersAdder, Counters: 3, Seed: 1}
	pre, err := prepare(c, &badClient{p: p})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range pre.adders {
		if _, ok := a.(keyAdder); !ok {
			t.Fatalf("a client without handles got a %T", a)
		}
		if err := a.Add(2); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := p.Incr(counterKey(nil, 2), 0); n != 2 || err != nil {
		t.Fatalf("keyAdder.Add(2) left the counter at %d (%v)", n, err)
	}
}
