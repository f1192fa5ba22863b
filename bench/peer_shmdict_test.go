package bench

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shmdict/shmdict/table"
)

// TestShmdictSetupKeepsTakenName: Setup never removes a file it did not
// create. A name that is taken (another user's or program's file, or one
// planted to be removed) makes it try another random name.
func TestShmdictSetupKeepsTakenName(t *testing.T) {
	dir := t.TempDir() // names with a slash are file paths: nothing in /dev/shm
	taken, fresh := filepath.Join(dir, "taken"), filepath.Join(dir, "fresh")
	theirs := []byte("someone else's file")
	if err := os.WriteFile(taken, theirs, 0o600); err != nil {
		t.Fatal(err)
	}
	names := []string{taken, fresh}
	old := benchName
	benchName = func() string { n := names[0]; names = names[1:]; return n }
	defer func() { benchName = old }()

	var p shmdictPeer
	c := Cell{Keys: 100, Counters: 10, ValueLen: 16}
	target, err := p.Setup(c)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(taken); err != nil || string(got) != string(theirs) {
		t.Fatalf("Setup removed or replaced the file already at %s (now %d bytes, %v)", taken, len(got), err)
	}
	if target != fresh {
		t.Fatalf("Setup returned %s, want the next name %s", target, fresh)
	}
	c.Target = target
	if err := p.Teardown(c); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(fresh); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Teardown left its segment: %v", err)
	}

	// Every name taken: an error, and still nothing removed.
	benchName = func() string { return taken }
	if _, err := p.Setup(c); !errors.Is(err, table.ErrExist) {
		t.Fatalf("Setup with every name taken: %v, want ErrExist", err)
	}
	if _, err := os.Stat(taken); err != nil {
		t.Fatalf("Setup removed %s: %v", taken, err)
	}
}

// TestShmdictBenchName: names are random, not the pid.
func TestShmdictBenchName(t *testing.T) {
	a, b := benchName(), benchName()
	if a == b || !strings.HasPrefix(a, "shmdict-bench-") || strings.Contains(a, "/") {
		t.Fatalf("benchName gave %q and %q, want two different shmdict-bench-<random> names", a, b)
	}
}

// TestShmdictAdderWorkloads: the counters-adder workloads make the hot
// counters striped adders (before the clock), and what two workers add
// sums exactly.
func TestShmdictAdderWorkloads(t *testing.T) {
	dir := t.TempDir()
	old := benchName
	benchName = func() string { return filepath.Join(dir, "t.shm") }
	defer func() { benchName = old }()
	for _, w := range []string{WCountersAdder, WCountersAdderKey} {
		var p shmdictPeer
		c := Cell{Peer: "shmdict", Workload: w, Workers: 2, Keys: 10, Counters: 20, ValueLen: 16, Millis: 20, Seed: 1}
		target, err := p.Setup(c)
		if err != nil {
			t.Fatal(err)
		}
		c.Target = target
		if w == WCountersAdderKey {
			if err := makeAdders(p, c); err != nil {
				t.Fatal(err)
			}
		}
		var ops int64
		for i := range c.Workers {
			wc := c
			wc.Worker = i
			cl, err := p.Open(wc)
			if err != nil {
				t.Fatal(err)
			}
			pre, err := prepare(wc, cl)
			if err != nil {
				t.Fatal(err)
			}
			if w == WCountersAdder && len(pre.adders) != c.Counters {
				t.Fatalf("%s: prepare made %d handles, want %d", w, len(pre.adders), c.Counters)
			}
			r := work(wc, cl, pre)
			cl.Close()
			if r.Err != "" || r.Ops == 0 {
				t.Fatalf("%s: worker %d: %+v", w, i, r)
			}
			ops += r.Ops
		}
		tbl, err := table.Attach(target)
		if err != nil {
			t.Fatal(err)
		}
		adders := 0
		for en, err := range tbl.Entries() {
			if err != nil {
				t.Fatal(err)
			}
			if !en.IsAdder {
				t.Errorf("%s: key %q is not an adder: %+v", w, en.Key, en)
			}
			adders++
		}
		tbl.Close()
		if adders != c.Counters {
			t.Errorf("%s: %d adders, want %d", w, adders, c.Counters)
		}
		if n, err := verifyAfter(p, c, ops); err != nil || n != 1 {
			t.Errorf("%s: verifyAfter(%d ops) = %d, %v", w, ops, n, err)
		}
		if _, err := verifyAfter(p, c, ops+1); !errors.Is(err, ErrWrongAnswer) {
			t.Errorf("%s: verifyAfter with one increment too many = %v, want ErrWrongAnswer", w, err)
		}
		if err := p.Teardown(c); err != nil {
			t.Fatal(err)
		}
	}
}
