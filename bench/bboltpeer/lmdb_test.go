//go:build cgo

package bboltpeer

import (
	"context"
	"testing"
	"time"

	"github.com/shmdict/shmdict/bench"
)

// TestLMDBCells runs every workload against LMDB, tiny, from 1 and 2
// worker processes: LMDB allows readers and (one at a time) writers in
// many processes, so no cell may be skipped, and get-fresh must report
// its first gets.
func TestLMDBCells(t *testing.T) {
	rep, err := bench.Run(context.Background(), bench.Options{Peers: []string{"lmdb"}, Keys: 500, Counters: 20,
		Workers: []int{1, 2}, Duration: 50 * time.Millisecond, FreshOps: 2000})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(rep.Results), len(bench.Workloads)*2; got != want {
		t.Fatalf("%d results, want %d", got, want)
	}
	for _, r := range rep.Results {
		if r.Skipped != "" || r.Ops == 0 || r.Checked == 0 || !r.Procs || r.Latency.P50 <= 0 {
			t.Errorf("%+v", r)
		}
		if (r.Fresh != nil) != (r.Workload == bench.WGetFresh) || r.Fresh != nil && r.Fresh.FirstOps != 2000 {
			t.Errorf("%s, %d workers: fresh cost %+v", r.Workload, r.Workers, r.Fresh)
		}
		if r.Workload == bench.WLoad && r.Ops != 500 {
			t.Errorf("load of 500 keys did %d sets", r.Ops)
		}
	}
}

// TestLMDBClient: a missing key is absent (not an error), values come back
// as stored after the read transaction is reset and renewed, counters
// count, and a second process-like client sees the first one's writes.
func TestLMDBClient(t *testing.T) {
	c := bench.Cell{Peer: "lmdb", Keys: 10, Counters: 2, ValueLen: 32}
	p := lmdbPeer{}
	target, err := p.Setup(c)
	if err != nil {
		t.Fatal(err)
	}
	c.Target = target
	defer p.Teardown(c)
	a, err := p.Open(c)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := p.Open(c)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if v, ok, err := b.Get([]byte("x:"), []byte("nope")); err != nil || ok || string(v) != "x:" {
		t.Fatalf("missing key: %q %v %v", v, ok, err)
	}
	if err := a.Set([]byte("k"), []byte("one")); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"one", "two"} {
		if i > 0 {
			if err := a.Set([]byte("k"), []byte(want)); err != nil {
				t.Fatal(err)
			}
		}
		if v, ok, err := b.Get([]byte("x:"), []byte("k")); err != nil || !ok || string(v) != "x:"+want {
			t.Fatalf("get after set %q: %q %v %v", want, v, ok, err)
		}
	}
	for i, want := range []int64{5, 3, 3} {
		n, err := []bench.Client{a, b, a}[i].Incr([]byte("ctr"), []int64{5, -2, 0}[i])
		if err != nil || n != want {
			t.Fatalf("incr %d: %d %v, want %d", i, n, err, want)
		}
	}
	if _, err := a.Incr([]byte("k"), 1); err == nil {
		t.Fatal("incrementing a 3-byte value succeeded")
	}
}
