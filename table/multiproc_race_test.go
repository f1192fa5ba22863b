package table_test

// Multi-process tests, continued (see multiproc_test.go): torn reads
// under a concurrent writer, and processes racing to create one name.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/shmdict/shmdict/table"
)

// ---- 4. a reader never sees a torn value while a writer overwrites ----

// A torn-test value is self-checking:
//
//	[4] key index  [8] sequence number  [n] random payload  [8] xxhash64 of all before it
//
// so a reader detects a value mixed from two records, cut short, or
// belonging to another key.
const (
	tornKeys       = 16
	tornMaxPayload = 400     // spans several arena size classes, so blocks are reused across sizes
	tornReads      = 500_000 // tornReadsRace under -race
	tornReadsRace  = 100_000
	// tornMinChanges is how many value changes the reader must have seen,
	// so that the test cannot pass with a writer that never overlapped it.
	// A real overlap gives thousands or more.
	tornMinChanges = 100
)

func tornKey(k int) []byte { return fmt.Appendf(nil, "torn-%02d", k) }

func tornValue(r *rand.Rand, k int, seq uint64) []byte {
	v := binary.LittleEndian.AppendUint32(nil, uint32(k))
	v = binary.LittleEndian.AppendUint64(v, seq)
	for range r.IntN(tornMaxPayload + 1) {
		v = append(v, byte(r.Uint32()))
	}
	return binary.LittleEndian.AppendUint64(v, xxhash.Sum64(v))
}

// checkTorn validates v read under key k and returns its sequence number.
func checkTorn(v []byte, k int) (uint64, error) {
	if len(v) < 20 {
		return 0, fmt.Errorf("%d bytes, shorter than any value written", len(v))
	}
	body := v[:len(v)-8]
	if sum, want := xxhash.Sum64(body), binary.LittleEndian.Uint64(v[len(v)-8:]); sum != want {
		return 0, fmt.Errorf("checksum %#x, the value says %#x", sum, want)
	}
	if got := int(binary.LittleEndian.Uint32(v)); got != k {
		return 0, fmt.Errorf("value of key %d under key %d", got, k)
	}
	return binary.LittleEndian.Uint64(v[4:]), nil
}

func TestMultiProcNoTornReads(t *testing.T) {
	seed := testSeed(t)
	name := segName(t, "")
	// A tight arena: values keep being freed and reused at other sizes,
	// which is where an unvalidated read would go wrong.
	tbl := mustCreate(t, name, table.Options{Capacity: 64, ArenaBytes: 1 << 20})

	w := startChildren(t, roleTornWriter, 1, name, utoa(seed))
	w.expect("ready") // the writer has stored every key
	reads := tornReads
	if raceBuild() {
		reads = tornReadsRace
	}
	rd := startChildren(t, roleTornReader, 1, name, itoa(reads), utoa(seed))
	rd.expect("ready")
	w.release()
	rd.release()
	rlines := rd.wait()[0]
	if err := tbl.Set([]byte("stop"), nil); err != nil {
		t.Fatal(err)
	}
	wlines := w.wait()[0]

	gotReads := resultInt(t, rlines, "reads", 0)
	torn := resultInt(t, rlines, "torn", 0)
	changes := resultInt(t, rlines, "changes", 0)
	writes := resultInt(t, wlines, "writes", 0)
	t.Logf("writer: %d writes; reader: %d reads, %d torn, %d value changes seen", writes, gotReads, torn, changes)
	if gotReads < int64(reads) {
		t.Errorf("reader did %d validated reads, want at least %d", gotReads, reads)
	}
	if torn != 0 {
		t.Errorf("reader saw %d torn reads, want 0", torn)
	}
	if changes < tornMinChanges {
		t.Errorf("reader saw the values change %d times, want at least %d: the writer did not overlap the reader (writes %d)", changes, tornMinChanges, writes)
	}
	if writes < changes {
		t.Errorf("writer reports %d writes, fewer than the %d changes the reader saw", writes, changes)
	}
}

// childTornWriter stores every key, then overwrites random keys with fresh
// self-checking values (Set, or CompareAndSwap from the value it knows is
// there, which must succeed as it is the only writer) until the key "stop"
// appears.
func childTornWriter(args []string) error {
	if err := childArgs(args, "name", "seed"); err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(atou(args[1]), 100))
	tbl, err := table.Attach(args[0])
	if err != nil {
		return err
	}
	defer tbl.Close()
	cur := make([][]byte, tornKeys)
	var seq uint64
	for k := range tornKeys {
		cur[k] = tornValue(r, k, seq)
		if err := tbl.Set(tornKey(k), cur[k]); err != nil {
			return err
		}
	}
	if _, err := childSync("ready"); err != nil {
		return err
	}
	stop := []byte("stop")
	for writes := 1; ; writes++ {
		seq++
		k := r.IntN(tornKeys)
		v := tornValue(r, k, seq)
		if writes%4 == 0 {
			ok, err := tbl.CompareAndSwap(tornKey(k), cur[k], v)
			if err != nil || !ok {
				return fmt.Errorf("CompareAndSwap(%s) from the value last written = %v, %v; want true, nil (single writer)", tornKey(k), ok, err)
			}
		} else if err := tbl.Set(tornKey(k), v); err != nil {
			return fmt.Errorf("Set(%s): %w", tornKey(k), err)
		}
		cur[k] = v
		if writes%64 == 0 {
			stopped, err := tbl.Contains(stop)
			if err != nil {
				return err
			}
			if stopped {
				childReport("writes", writes)
				return nil
			}
		}
	}
}

// childTornReader validates a fixed number of reads of random keys and
// reports them; it fails on the first few torn reads it describes.
func childTornReader(args []string) error {
	if err := childArgs(args, "name", "reads", "seed"); err != nil {
		return err
	}
	reads := atoi(args[1])
	r := rand.New(rand.NewPCG(atou(args[2]), 200))
	tbl, err := table.Attach(args[0])
	if err != nil {
		return err
	}
	defer tbl.Close()
	last := make([]uint64, tornKeys)
	var torn, changes int
	var errs []error
	buf := make([]byte, 0, 1024)
	if _, err := childSync("ready"); err != nil {
		return err
	}
	// Read at least reads times, and on until the writer has been seen at
	// work tornMinChanges times (a loaded machine can leave the writer
	// unscheduled for all of the first reads), within a deadline.
	deadline := time.Now().Add(20 * time.Second)
	i := 0
	for ; i < reads || (changes < tornMinChanges && (i%1024 != 0 || time.Now().Before(deadline))); i++ {
		k := r.IntN(tornKeys)
		var v []byte
		if i%8 == 0 {
			v, err = tbl.Get(tornKey(k))
		} else {
			buf, err = tbl.AppendGet(buf[:0], tornKey(k))
			v = buf
		}
		if err != nil {
			return fmt.Errorf("read %d of %s: %w", i, tornKey(k), err)
		}
		seq, err := checkTorn(v, k)
		if err != nil {
			torn++
			if len(errs) < 5 {
				errs = append(errs, fmt.Errorf("read %d of %s: torn: %w: %d bytes %x...", i, tornKey(k), err, len(v), v[:min(len(v), 32)]))
			}
			continue
		}
		switch {
		case seq < last[k]:
			return fmt.Errorf("read %d of %s: sequence %d after %d: an older value came back", i, tornKey(k), seq, last[k])
		case seq > last[k]:
			changes++
			last[k] = seq
		}
	}
	childReport("reads", i)
	childReport("torn", torn)
	childReport("changes", changes)
	return errors.Join(errs...)
}

// ---- 5. processes racing to create the same name share one segment ----

func TestMultiProcOpenRace(t *testing.T) {
	const (
		procs  = 4 // more racers than cores: the OS interleaves them anywhere
		rounds = 5
	)
	names := make([]string, rounds)
	for i := range rounds {
		names[i] = segName(t, "-r"+itoa(i))
		if _, err := os.Stat(filepath.Join("/dev/shm", names[i])); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("segment %s exists before the race: %v", names[i], err)
		}
	}
	g := startChildren(t, roleOpenRace, procs, append([]string{itoa(procs)}, names...)...)
	pids := make([]string, procs)
	for i, c := range g.procs {
		pids[i] = itoa(c.cmd.Process.Pid)
	}
	for range rounds {
		g.expect("ready")
		g.release() // all call Open(name) at once
		g.expect("opened")
		g.send("check") // each child checks it sees every other's write
		g.expect("ok")
	}
	g.wait()

	for _, name := range names {
		tbl, err := table.Attach(name)
		if err != nil {
			t.Fatalf("Attach(%s) after the race: %v", name, err)
		}
		n, err := tbl.Add([]byte("opened"), 0)
		if err != nil || n != procs {
			t.Errorf("%s: opened counter = %d, %v; want %d (one shared segment)", name, n, err, procs)
		}
		var got []string
		for i := range procs {
			v, err := tbl.Get(fmt.Appendf(nil, "proc-%d", i))
			if err != nil {
				t.Errorf("%s: Get(proc-%d): %v", name, i, err)
			}
			got = append(got, string(v))
		}
		if !slices.Equal(got, pids) {
			t.Errorf("%s: proc-i values (pids) = %q, want %q", name, got, pids)
		}
		tbl.Close()
		// Losers of the race must not leave their temporary files behind.
		if tmp, _ := filepath.Glob(filepath.Join("/dev/shm", "."+name+".tmp.*")); len(tmp) > 0 {
			t.Errorf("temporary files left after the race: %q", tmp)
		}
	}
}

// childOpenRace, for each name in turn: waits at the barrier, opens (or
// creates) the table, writes its PID and bumps a shared counter, waits
// for everyone to have done so, then checks that it sees every process's
// write in its own mapping.
func childOpenRace(args []string) error {
	if len(args) < 2 {
		return fmt.Errorf("want arguments: procs name...; got %q", args)
	}
	procs, me := atoi(args[0]), childIndex()
	for _, name := range args[1:] {
		if _, err := childSync("ready"); err != nil {
			return err
		}
		tbl, err := table.Open(name, table.Options{Capacity: 1000})
		if err != nil {
			return fmt.Errorf("Open(%s): %w", name, err)
		}
		if err := tbl.Set(fmt.Appendf(nil, "proc-%d", me), []byte(itoa(os.Getpid()))); err != nil {
			return err
		}
		if _, err := tbl.Add([]byte("opened"), 1); err != nil {
			return err
		}
		if _, err := childSync("opened"); err != nil {
			return err
		}
		n, err := tbl.Add([]byte("opened"), 0)
		if err != nil {
			return err
		}
		if n != int64(procs) {
			return fmt.Errorf("%s: opened counter is %d after all %d processes bumped it: they did not share one segment", name, n, procs)
		}
		for i := range procs {
			if ok, err := tbl.Contains(fmt.Appendf(nil, "proc-%d", i)); err != nil || !ok {
				return fmt.Errorf("%s: Contains(proc-%d) = %v, %v after it was written: not one shared segment", name, i, ok, err)
			}
		}
		childReport("ok")
		if err := tbl.Close(); err != nil {
			return err
		}
	}
	return nil
}
