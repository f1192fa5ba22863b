package table

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/shmdict/shmdict/segment"
)

// TestWaitDirectAndHub: more goroutines wait than maxDirectWaiters, so
// some sleep on the wake word themselves and the rest go through the hub;
// every one is woken by its key's change, none is left counted as a
// direct waiter, and the spin stops after two long waits in a row and
// comes back after a short one.
func TestWaitDirectAndHub(t *testing.T) {
	tb, err := New(Options{Capacity: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	const n = 3 * maxDirectWaiters
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		k := []byte(fmt.Sprint("k", i))
		_, v, _ := tb.Lookup(k)
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if nv, err := tb.Wait(ctx, k, v); err != nil || nv == v {
				errs <- fmt.Errorf("Wait(%s) = %d, %v", k, nv, err)
			}
		}()
	}
	time.Sleep(20 * time.Millisecond) // let them all sleep
	if d := tb.direct.Load(); d > maxDirectWaiters {
		t.Errorf("%d direct waiters, at most %d allowed", d, maxDirectWaiters)
	}
	for i := range n {
		if err := tb.Set([]byte(fmt.Sprint("k", i)), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if d := tb.direct.Load(); d != 0 {
		t.Errorf("%d goroutines still counted as direct waiters", d)
	}

	// Two waits longer than waitSpinWorth stop the spin; a short one
	// brings it back.
	tb.longWait.Store(0)
	wait := func(pause time.Duration) {
		_, v, _ := tb.Lookup([]byte("s"))
		go func() { time.Sleep(pause); tb.Set([]byte("s"), []byte(pause.String())) }()
		if _, err := tb.Wait(context.Background(), []byte("s"), v); err != nil {
			t.Fatal(err)
		}
	}
	wait(5 * time.Millisecond)
	wait(5 * time.Millisecond)
	if tb.longWait.Load() != 3 {
		t.Errorf("after two long waits the spin state is %b, want 11", tb.longWait.Load())
	}
	if tb.spinUntilRung(tb.mem.Load32(segment.OffWake)) {
		t.Errorf("spinUntilRung after long waits did not give up at once")
	}
	tb.longWait.Store(1) // the last wait long, the one before short
	start := time.Now()
	tb.spinUntilRung(tb.mem.Load32(segment.OffWake)) // nothing rings: spins its bound
	if d := time.Since(start); d < waitSpin/2 {
		t.Errorf("spinUntilRung returned after %v, want about %v", d, waitSpin)
	}
}
