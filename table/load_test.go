package table_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shmdict/shmdict/table"
)

const (
	roleLoader     = "loader"
	roleDeadLoader = "deadloader"
)

func init() {
	childRoles[roleLoader] = childLoader
	childRoles[roleDeadLoader] = childDeadLoader
}

func TestGetOrLoadOneLoaderAmongGoroutines(t *testing.T) {
	tb, err := table.New(table.Options{Capacity: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	var mu sync.Mutex
	loads := 0
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := tb.GetOrLoad(context.Background(), []byte("k"), 10*time.Second, func() ([]byte, error) {
				mu.Lock()
				loads++
				mu.Unlock()
				time.Sleep(50 * time.Millisecond)
				return []byte("loaded"), nil
			})
			if err == nil && string(v) != "loaded" {
				err = fmt.Errorf("got %q", v)
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if loads != 1 {
		t.Errorf("load ran %d times, want 1", loads)
	}
}

func TestGetOrLoadFailedLoadPassesOn(t *testing.T) {
	tb, err := table.New(table.Options{Capacity: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	boom := errors.New("backend down")
	started := make(chan struct{})
	first := make(chan error, 1)
	go func() {
		_, err := tb.GetOrLoad(context.Background(), []byte("k"), 10*time.Second, func() ([]byte, error) {
			close(started)
			time.Sleep(50 * time.Millisecond)
			return nil, boom
		})
		first <- err
	}()
	<-started
	v, err := tb.GetOrLoad(context.Background(), []byte("k"), 10*time.Second, func() ([]byte, error) {
		return []byte("second"), nil
	})
	if err != nil || string(v) != "second" {
		t.Fatalf("the waiting caller got %q, %v; want it to load after the failure", v, err)
	}
	if err := <-first; !errors.Is(err, boom) {
		t.Fatalf("the failed loader got %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := tb.GetOrLoad(ctx, []byte("k2"), 0, nil); !errors.Is(err, table.ErrInvalid) {
		t.Errorf("lease 0: %v", err)
	}
}

// childLoader calls GetOrLoad on "k" with a slow loader that counts its
// runs in the shared counter "loads": args name.
func childLoader(args []string) error {
	tb, err := table.Attach(args[0])
	if err != nil {
		return err
	}
	defer tb.Close()
	if _, err := childSync("ready"); err != nil {
		return err
	}
	v, err := tb.GetOrLoad(context.Background(), []byte("k"), 30*time.Second, func() ([]byte, error) {
		if _, err := tb.Add([]byte("loads"), 1); err != nil {
			return nil, err
		}
		time.Sleep(100 * time.Millisecond)
		return []byte(fmt.Sprint("by-", os.Getpid())), nil
	})
	if err != nil {
		return err
	}
	childReport("value", string(v))
	return nil
}

func TestGetOrLoadAcrossProcesses(t *testing.T) {
	name := segName(t, "")
	tb, err := table.Create(name, table.Options{Capacity: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	g := startChildren(t, roleLoader, 4, name)
	g.expect("ready")
	g.release()
	var values []string
	for _, lines := range g.wait() {
		values = append(values, result(t, lines, "value")[0])
	}
	for _, v := range values[1:] {
		if v != values[0] {
			t.Fatalf("processes got different values: %q", values)
		}
	}
	if n, err := tb.Add([]byte("loads"), 0); err != nil || n != 1 {
		t.Fatalf("the loader ran %d times across 4 processes, want 1 (%v)", n, err)
	}
}

// childDeadLoader takes the lease for "k" and dies with SIGKILL inside
// its loader: args name.
func childDeadLoader(args []string) error {
	tb, err := table.Attach(args[0])
	if err != nil {
		return err
	}
	_, err = tb.GetOrLoad(context.Background(), []byte("k"), time.Hour, func() ([]byte, error) {
		childSync("loading")
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	})
	return err
}

// TestGetOrLoadDeadLoaderTakenOver: a loader killed mid-load holds an
// hour-long lease; the next caller takes over as soon as it sees the
// loader's process is gone, not an hour later.
func TestGetOrLoadDeadLoaderTakenOver(t *testing.T) {
	name := segName(t, "")
	tb, err := table.Create(name, table.Options{Capacity: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	g := startChildren(t, roleDeadLoader, 1, name)
	g.expect("loading")
	g.procs[0].stdin.Write([]byte("go\n"))
	<-g.procs[0].done
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), childTimeout)
	defer cancel()
	v, err := tb.GetOrLoad(ctx, []byte("k"), time.Hour, func() ([]byte, error) { return []byte("rescued"), nil })
	if err != nil || string(v) != "rescued" {
		t.Fatalf("GetOrLoad after the loader died: %q, %v", v, err)
	}
	if d := time.Since(start); d > maxWake {
		t.Errorf("taking over from a dead loader took %v", d)
	}
}

// TestGetOrLoadDeadLoaderEntryReused: a loader killed mid-load holds an
// hour-long lease, and a new process takes its registry entry before
// anyone looks at the lease. The entry is alive again, but not with the
// lease's owner: the next caller still takes over at once (issue 12, item
// 7: the lease named only the entry index, so waiters stalled until its
// deadline).
func TestGetOrLoadDeadLoaderEntryReused(t *testing.T) {
	name := segName(t, "")
	tb, err := table.Create(name, table.Options{Capacity: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	g := startChildren(t, roleDeadLoader, 1, name)
	g.expect("loading")
	g.procs[0].stdin.Write([]byte("go\n"))
	<-g.procs[0].done
	// The creator holds entry 0 and the dead loader held entry 1, the
	// first free one, which a new attacher takes now.
	other, err := table.Attach(name)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	for _, p := range other.Stats().Processes {
		if p.Self && p.Entry != 1 {
			t.Fatalf("the new attacher took registry entry %d, want the dead loader's entry 1", p.Entry)
		}
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	v, err := tb.GetOrLoad(ctx, []byte("k"), time.Hour, func() ([]byte, error) { return []byte("rescued"), nil })
	if err != nil || string(v) != "rescued" {
		t.Fatalf("GetOrLoad after the loader died and its entry was reused: %q, %v (after %v)", v, err, time.Since(start))
	}
	if d := time.Since(start); d > maxWake {
		t.Errorf("taking over from a dead loader whose entry was reused took %v", d)
	}
}
