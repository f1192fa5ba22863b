package array

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shmdict/shmdict/segment"
)

// stamp is what a test writer puts in element i of version v, so that a
// reader can tell a torn copy (elements of two versions) and a copy
// returned under the wrong version.
func stamp(v uint64, i int) int64 { return int64(v)<<24 | int64(i) }

// fillStamped returns a fill function that writes version v+1's stamps,
// v being the version published when it runs (the caller holds the
// lease, so v is stable).
func fillStamped(a *Array[int64]) func(dst []int64) {
	return func(dst []int64) {
		v, _ := a.published()
		for i := range dst {
			dst[i] = stamp(v+1, i)
			if i == len(dst)/2 {
				segment.Failpoint("array.test.halffilled")
			}
		}
	}
}

// checkStamped checks that dst is exactly version v.
func checkStamped(dst []int64, v uint64) error {
	for i, x := range dst {
		if x != stamp(v, i) {
			return fmt.Errorf("snapshot version %d: element %d holds %#x (version %d, index %d), want %#x: torn or mislabelled",
				v, i, x, x>>24, x&(1<<24-1), stamp(v, i))
		}
	}
	return nil
}

func TestSnapshotBasic(t *testing.T) {
	a, err := Create[int64](tempPath(t, "s"), []int{10, 10}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	dst := make([]int64, 100)
	if _, err := a.Snapshot(dst); !errors.Is(err, ErrNoSnapshot) {
		t.Fatalf("before Publish: %v", err)
	}
	if _, err := a.Snapshot(dst[:99]); !errors.Is(err, ErrShape) {
		t.Fatalf("short dst: %v", err)
	}
	for want := uint64(1); want <= 7; want++ {
		v, err := a.Publish(fillStamped(a))
		if err != nil || v != want {
			t.Fatalf("Publish: %d, %v; want version %d", v, err, want)
		}
		got, err := a.Snapshot(dst)
		if err != nil || got != want {
			t.Fatalf("Snapshot: %d, %v", got, err)
		}
		if err := checkStamped(dst, got); err != nil {
			t.Fatal(err)
		}
	}
	for _, x := range a.Slice() {
		if x != 0 {
			t.Fatal("Publish wrote the live data")
		}
	}
	// A live lease of another process: ErrBusy. Our own parent process is
	// alive and not us.
	off := a.geo.trailer + offLease
	ppid := syscall.Getppid()
	_, start, ok, err := procStat(ppid)
	if !ok || err != nil {
		t.Fatalf("procStat(%d): %v %v", ppid, ok, err)
	}
	a.mem.Store64(off, uint64(ppid)<<32|uint64(uint32(start)))
	if _, err := a.Publish(fillStamped(a)); !errors.Is(err, ErrBusy) {
		t.Fatalf("Publish under a live lease: %v", err)
	}
	// The same pid with another start time: the pid was reused after the
	// holder died; taken over.
	a.mem.Store64(off, uint64(ppid)<<32|uint64(uint32(start+1)))
	if v, err := a.Publish(fillStamped(a)); err != nil || v != 8 {
		t.Fatalf("Publish over a reused pid's lease: %d, %v", v, err)
	}
	// A dead process's lease is taken over (pid beyond pid_max).
	a.mem.Store64(off, uint64(1<<30)<<32|1)
	if v, err := a.Publish(fillStamped(a)); err != nil || v != 9 {
		t.Fatalf("Publish over a dead lease: %d, %v", v, err)
	}
	if a.mem.Load64(off) != 0 {
		t.Fatal("lease not released")
	}
	// A panicking fill releases the lease.
	func() {
		defer func() { recover() }()
		a.Publish(func([]int64) { panic("fill") })
	}()
	if v, err := a.Publish(fillStamped(a)); err != nil || v != 10 {
		t.Fatalf("Publish after a panicking fill: %d, %v", v, err)
	}
	// Another Array of the same file in this process: one writer at a time.
	b, err := Attach[int64](a.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	a.Publish(func(dst []int64) {
		if _, err := b.Publish(fillStamped(b)); !errors.Is(err, ErrBusy) {
			t.Errorf("nested Publish from another Array: %v", err)
		}
		fillStamped(a)(dst)
	})
}

// TestSnapshotConcurrent: readers in goroutines see only whole published
// versions while a writer publishes as fast as it can.
func TestSnapshotConcurrent(t *testing.T) {
	a, err := Create[int64](tempPath(t, "c"), []int{4096}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := a.Publish(fillStamped(a)); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for r := 0; r < 2; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dst := make([]int64, a.Len())
			last := uint64(0)
			for {
				select {
				case <-stop:
					return
				default:
				}
				v, err := a.Snapshot(dst)
				if err == nil && v < last {
					err = fmt.Errorf("version went back from %d to %d", last, v)
				}
				if err == nil {
					err = checkStamped(dst, v)
				}
				if err != nil {
					errs <- err
					return
				}
				last = v
			}
		}()
	}
	n := 3000
	if testing.Short() {
		n = 500
	}
	for i := 0; i < n; i++ {
		if _, err := a.Publish(fillStamped(a)); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// childPublish: args path n. Publishes n stamped versions (0: until
// killed), after writing "started".
func childPublish(args []string) error {
	a, err := Attach[int64](args[0])
	if err != nil {
		return err
	}
	defer a.Close()
	n := atoi(args[1])
	fmt.Println("started")
	for i := 0; n == 0 || i < n; i++ {
		if _, err := a.Publish(fillStamped(a)); err != nil {
			return err
		}
	}
	return nil
}

// TestChaosSnapshotKill: a writer process is killed with SIGKILL at random
// moments and, with the failpoints build tag, at each step of Publish,
// while a reader checks that every snapshot is one whole published
// version, that versions never go back, and that the next writer takes
// the dead writer's lease over.
func TestChaosSnapshotKill(t *testing.T) {
	seed := testSeed(t)
	r := rand.New(rand.NewPCG(seed, 3))
	path := tempPath(t, "k")
	a, err := Create[int64](path, []int{16384}, Options{}) // 128 KiB: copies take long enough to race
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	stop := make(chan struct{})
	readErr := make(chan error, 1)
	var reads, lastSeen uint64
	var mu sync.Mutex
	go func() {
		dst := make([]int64, a.Len())
		var last uint64
		for {
			select {
			case <-stop:
				readErr <- nil
				return
			default:
			}
			v, err := a.Snapshot(dst)
			if errors.Is(err, ErrNoSnapshot) {
				continue
			}
			if err == nil && v < last {
				err = fmt.Errorf("version went back from %d to %d", last, v)
			}
			if err == nil {
				err = checkStamped(dst, v)
			}
			if err != nil {
				readErr <- err
				return
			}
			last = v
			mu.Lock()
			reads++
			lastSeen = v
			mu.Unlock()
		}
	}()
	finish := func() {
		close(stop)
		if err := <-readErr; err != nil {
			t.Fatal(err)
		}
	}
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
			<-readErr
		}
	}()

	rounds := 100
	if testing.Short() {
		rounds = 16
	}
	if s := os.Getenv("SHMDICT_CHAOS_ROUNDS"); s != "" {
		rounds = atoi(s)
	}
	points := []string{"array.leased", "array.test.halffilled", "array.filled", "array.published"}
	killed := 0
	for round := 0; round < rounds; round++ {
		var env []string
		point := "random"
		if segment.FailpointsEnabled && round%2 == 0 {
			point = points[(round/2)%len(points)]
			env = []string{"SHMDICT_FAILPOINT=" + point + ":" + strconv.Itoa(1+r.IntN(5))}
		}
		before, _ := a.published()
		c := startChild(t, "publish", env, path, "0")
		if l := c.line(t); l != "started" {
			t.Fatalf("writer said %q", l)
		}
		if env == nil {
			time.Sleep(time.Duration(r.IntN(3000)) * time.Microsecond)
			c.cmd.Process.Signal(syscall.SIGKILL)
		}
		select {
		case <-c.done:
		case <-time.After(childTimeout):
			t.Fatalf("round %d: writer not dead", round)
		}
		ws, ok := c.cmd.ProcessState.Sys().(syscall.WaitStatus)
		if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("round %d (%s): writer ended with %v, not SIGKILL; stderr: %s", round, point, c.cmd.ProcessState, c.stderr.String())
		}
		killed++
		after, _ := a.published()
		lease := a.mem.Load64(a.geo.trailer + offLease)
		t.Logf("round %d: killed at %s, versions %d -> %d, lease %#x", round, point, before, after, lease)
		// The last published version is readable, whole.
		dst := make([]int64, a.Len())
		if v, err := a.Snapshot(dst); err == nil {
			if v != after {
				t.Fatalf("round %d: Snapshot gave %d, published word says %d", round, v, after)
			}
			if err := checkStamped(dst, v); err != nil {
				t.Fatalf("round %d after the kill: %v", round, err)
			}
		} else if !errors.Is(err, ErrNoSnapshot) || after != 0 {
			t.Fatal(err)
		}
	}
	// A last writer takes over whatever lease the dead one left.
	before, _ := a.published()
	startChild(t, "publish", nil, path, "5").wait(t)
	if after, _ := a.published(); after != before+5 {
		t.Fatalf("final writer: versions %d -> %d, want +5", before, after)
	}
	if a.mem.Load64(a.geo.trailer+offLease) != 0 {
		t.Fatal("final writer left its lease")
	}
	finish()
	mu.Lock()
	t.Logf("%d writers killed, %d snapshots checked, last version seen %d (failpoints %v)", killed, reads, lastSeen, segment.FailpointsEnabled)
	mu.Unlock()
}

// TestVersion: Version counts completed Publish calls without copying.
func TestVersion(t *testing.T) {
	a, err := Create[int64](filepath.Join(t.TempDir(), "v.npy"), []int{4}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := a.Version(); v != 0 || err != nil {
		t.Fatalf("Version before any Publish = %d, %v", v, err)
	}
	for want := uint64(1); want <= 3; want++ {
		if _, err := a.Publish(func(dst []int64) {}); err != nil {
			t.Fatal(err)
		}
		if v, err := a.Version(); v != want || err != nil {
			t.Fatalf("Version after %d Publish = %d, %v", want, v, err)
		}
	}
	a.Close()
	if _, err := a.Version(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Version after Close: %v", err)
	}
}
