package table_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shmdict/shmdict/atomicx"
	"github.com/shmdict/shmdict/table"
)

const (
	roleWaiter    = "waiter"
	rolePingPong  = "pingpong"
	roleEvWriter  = "evwriter"
	roleSubscribe = "subscriber"

	// maxWake bounds a cross-process wake-up in tests: generous, for a
	// loaded 2-core machine; BenchmarkWakeLatency measures it tightly.
	maxWake = time.Second
)

func init() {
	childRoles[roleWaiter] = childWaiter
	childRoles[rolePingPong] = childPingPong
	childRoles[roleEvWriter] = childEvWriter
	childRoles[roleSubscribe] = childSubscriber
}

// monoNanos is CLOCK_MONOTONIC, which (unlike time.Now's monotonic
// reading) means the same in every process.
func monoNanos() int64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

// childWaiter waits for "key" to change: args name.
func childWaiter(args []string) error {
	tb, err := table.Attach(args[0])
	if err != nil {
		return err
	}
	defer tb.Close()
	_, v, err := tb.Lookup([]byte("key"))
	if err != nil && !errors.Is(err, table.ErrNotFound) {
		return err
	}
	if _, err := childSync(fmt.Sprint("ready ", uint64(v))); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), childTimeout)
	defer cancel()
	nv, err := tb.Wait(ctx, []byte("key"), v)
	woke := monoNanos()
	if err != nil {
		return err
	}
	val, err := tb.Get([]byte("key"))
	if err != nil {
		return err
	}
	childReport("woke", woke, uint64(nv), string(val))
	return nil
}

func TestWaitCrossProcess(t *testing.T) {
	name := segName(t, "")
	tb, err := table.Create(name, table.Options{Capacity: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	for round, preset := range []bool{false, true} {
		if preset {
			tb.Set([]byte("key"), []byte("old"))
		}
		g := startChildren(t, roleWaiter, 3, name)
		g.expect("ready")
		g.release()
		time.Sleep(50 * time.Millisecond) // let the children block
		set := monoNanos()
		if err := tb.Set([]byte("key"), []byte(fmt.Sprint("new", round))); err != nil {
			t.Fatal(err)
		}
		_, v, _ := tb.Lookup([]byte("key"))
		for i, lines := range g.wait() {
			f := result(t, lines, "woke")
			woke, _ := strconv.ParseInt(f[0], 10, 64)
			if lat := time.Duration(woke - set); lat > maxWake || lat < 0 {
				t.Errorf("child %d woke %v after the Set", i, lat)
			}
			if f[1] != strconv.FormatUint(uint64(v), 10) || f[2] != fmt.Sprint("new", round) {
				t.Errorf("child %d woke with version %s value %s, want %d new%d", i, f[1], f[2], v, round)
			}
		}
	}
}

// childPingPong plays one side of ping-pong on G goroutines: args name
// side rounds goroutines. Side a sets ping<g>=i and waits for pong<g>=i;
// side b waits for ping<g>=i and answers pong<g>=i. A lost wake-up hangs
// a goroutine until the watchdog fails the test.
func childPingPong(args []string) error {
	tb, err := table.Attach(args[0])
	if err != nil {
		return err
	}
	defer tb.Close()
	side, rounds, gs := args[1], atoi(args[2]), atoi(args[3])
	if _, err := childSync("ready"); err != nil {
		return err
	}
	var wg sync.WaitGroup
	errs := make(chan error, gs)
	var worst time.Duration
	var mu sync.Mutex
	for g := range gs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ping, pong := []byte(fmt.Sprint("ping", g)), []byte(fmt.Sprint("pong", g))
			mine, theirs := ping, pong
			if side == "b" {
				mine, theirs = pong, ping
			}
			ctx, cancel := context.WithTimeout(context.Background(), childTimeout)
			defer cancel()
			for i := 1; i <= rounds; i++ {
				want := strconv.Itoa(i)
				if side == "a" {
					if err := tb.Set(mine, []byte(want)); err != nil {
						errs <- err
						return
					}
				}
				start := time.Now()
				for {
					val, v, err := tb.Lookup(theirs)
					if err == nil && string(val) == want {
						break
					}
					if err != nil && !errors.Is(err, table.ErrNotFound) {
						errs <- err
						return
					}
					if _, err := tb.Wait(ctx, theirs, v); err != nil {
						errs <- fmt.Errorf("goroutine %d round %d: %w", g, i, err)
						return
					}
				}
				mu.Lock()
				worst = max(worst, time.Since(start))
				mu.Unlock()
				if side == "b" {
					if err := tb.Set(mine, []byte(want)); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		return err
	}
	childReport("done", worst.Microseconds())
	return nil
}

// TestWaitNoLostWakeups runs ping-pong between two processes on several
// goroutine pairs at once (sharing the hub, and doorbells with each
// other): every round needs a cross-process wake-up, so one lost wake-up
// stalls a pair for good.
func TestWaitNoLostWakeups(t *testing.T) {
	name := segName(t, "")
	tb, err := table.Create(name, table.Options{Capacity: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	rounds, gs := "2000", "8"
	if testing.Short() || raceBuild() {
		rounds = "300"
	}
	a := startChildren(t, rolePingPong, 1, name, "a", rounds, gs)
	b := startChildren(t, rolePingPong, 1, name, "b", rounds, gs)
	a.expect("ready")
	b.expect("ready")
	b.release()
	a.release()
	for _, g := range []*children{a, b} {
		lines := g.wait()[0]
		if worst := time.Duration(resultInt(t, lines, "done", 0)) * time.Microsecond; worst > maxWake {
			t.Errorf("a round waited %v", worst)
		}
	}
	for g := range 8 {
		v, err := tb.Get([]byte(fmt.Sprint("pong", g)))
		if err != nil || string(v) != rounds {
			t.Errorf("pong%d = %q, %v; want %s", g, v, err, rounds)
		}
	}
}

func TestWaitCancelAndClose(t *testing.T) {
	tb, err := table.New(table.Options{Capacity: 64})
	if err != nil {
		t.Fatal(err)
	}
	_, v, _ := tb.Lookup([]byte("k"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	start := time.Now()
	if got, err := tb.Wait(ctx, []byte("k"), v); !errors.Is(err, context.DeadlineExceeded) || got != v {
		t.Fatalf("Wait on a quiet key = %d, %v; want %d, DeadlineExceeded", got, err, v)
	}
	if d := time.Since(start); d < 30*time.Millisecond || d > maxWake {
		t.Errorf("Wait with a 30ms timeout returned after %v", d)
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := tb.Wait(ctx2, []byte("k"), v); done <- err }()
	time.Sleep(10 * time.Millisecond)
	cancel2()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Wait: %v", err)
	}
	// A Wait for a change that already happened returns at once.
	tb.Set([]byte("k"), []byte("x"))
	if got, err := tb.Wait(context.Background(), []byte("k"), v); err != nil || got == v {
		t.Errorf("Wait after a change = %d, %v", got, err)
	}
	// Close wakes waiters with ErrClosed.
	_, v, _ = tb.Lookup([]byte("k"))
	go func() { _, err := tb.Wait(context.Background(), []byte("k"), v); done <- err }()
	time.Sleep(10 * time.Millisecond)
	tb.Close()
	select {
	case err := <-done:
		if !errors.Is(err, table.ErrClosed) {
			t.Errorf("Wait during Close: %v", err)
		}
	case <-time.After(maxWake):
		t.Error("Close did not wake a waiter")
	}
}

// TestWriteWithoutWaitersNoSyscall: writes make a FUTEX_WAKE only when
// someone waits on their key's doorbell.
func TestWriteWithoutWaitersNoSyscall(t *testing.T) {
	tb, err := table.New(table.Options{Capacity: 4096, EventRing: 1024})
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	before := atomicx.FutexWakes()
	for i := range 10000 {
		k := []byte(fmt.Sprint("k", i%100))
		tb.Set(k, []byte("v"))
		tb.Add([]byte(fmt.Sprint("c", i%100)), 1)
		tb.Delete(k)
	}
	if n := atomicx.FutexWakes() - before; n != 0 {
		t.Fatalf("30000 writes with nobody waiting made %d FUTEX_WAKE calls", n)
	}
	// With a waiter, a write to its key wakes it (one call per ring).
	_, v, _ := tb.Lookup([]byte("w"))
	done := make(chan struct{})
	go func() { tb.Wait(context.Background(), []byte("w"), v); close(done) }()
	time.Sleep(20 * time.Millisecond)
	tb.Set([]byte("w"), []byte("x"))
	<-done
	if n := atomicx.FutexWakes() - before; n == 0 {
		t.Fatal("a write to a waited-for key made no FUTEX_WAKE")
	}
}

// childEvWriter makes changes for subscribers: args name writer n. It
// Sets and Deletes keys s<w>-<j> and Adds 1 to shared counters c<j>, and
// reports how many changes it made.
func childEvWriter(args []string) error {
	tb, err := table.Attach(args[0])
	if err != nil {
		return err
	}
	defer tb.Close()
	w, n := childIndex(), atoi(args[2])
	if _, err := childSync("ready"); err != nil {
		return err
	}
	changes := 0
	for i := range n {
		switch i % 4 {
		case 0, 1:
			if err := tb.Set([]byte(fmt.Sprintf("s%d-%d", i%2, i%7)), []byte(fmt.Sprint(w, "/", i))); err != nil {
				return err
			}
			changes++
		case 2:
			ok, err := tb.Delete([]byte(fmt.Sprintf("s%d-%d", w, i%7)))
			if err != nil {
				return err
			}
			if ok {
				changes++
			}
		case 3:
			if _, err := tb.Add([]byte(fmt.Sprintf("c%d", i%5)), 1); err != nil {
				return err
			}
			changes++
		}
	}
	childReport("changes", changes)
	return nil
}

// childSubscriber collects events until told to stop and checks per-key
// order: a byte key's versions go up by one per change; a counter's
// values by one per Add. args name prefix delayMillis.
func childSubscriber(args []string) error {
	tb, err := table.Attach(args[0])
	if err != nil {
		return err
	}
	defer tb.Close()
	prefix, delay := []byte(args[1]), time.Duration(atoi(args[2]))*time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	last := map[string]uint64{}
	var got, missed, orderErrs int
	started := make(chan struct{})
	go func() {
		<-started
		childSync("ready")                 // the parent says go when writers start...
		childStdin.ReadString('\n')        // ...and again when they are done and it is time to stop
		time.Sleep(500 * time.Millisecond) // drain what the writers left in the ring
		cancel()
	}()
	close(started)
	for ev, err := range tb.Subscribe(ctx, prefix) {
		if err != nil {
			if errors.Is(err, context.Canceled) {
				break
			}
			return err
		}
		if delay > 0 {
			time.Sleep(delay)
			delay = 0 // fall behind once, then keep up
		}
		got++
		missed += int(ev.Missed)
		k := string(ev.Key)
		v := uint64(ev.Version)
		if prev, ok := last[k]; ok && ev.Missed == 0 {
			if strings.HasPrefix(k, "c") {
				if int64(v<<1)>>1 != int64(prev<<1)>>1+1 {
					orderErrs++
				}
			} else if (v>>32)&(1<<31-1) != ((prev>>32)+1)&(1<<31-1) {
				orderErrs++
			}
		}
		last[k] = v
	}
	childReport("events", got, missed, orderErrs)
	return nil
}

func TestSubscribeTwoWritersTwoSubscribers(t *testing.T) {
	name := segName(t, "")
	tb, err := table.Create(name, table.Options{Capacity: 256, EventRing: 1 << 16})
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	n := "4000"
	subs := startChildren(t, roleSubscribe, 2, name, "", "0")
	subs.expect("ready")
	w := startChildren(t, roleEvWriter, 2, name, "0", n)
	w.expect("ready")
	subs.send("go")
	w.release()
	total := 0
	for _, lines := range w.wait() {
		total += int(resultInt(t, lines, "changes", 0))
	}
	subs.send("stop")
	for i, lines := range subs.wait() {
		got, missed, orderErrs := resultInt(t, lines, "events", 0), resultInt(t, lines, "events", 1), resultInt(t, lines, "events", 2)
		if got != int64(total) || missed != 0 || orderErrs != 0 {
			t.Errorf("subscriber %d: %d events (%d missed, %d out of order), want all %d in order", i, got, missed, orderErrs, total)
		}
	}
}

func TestSubscribeSlowSubscriberCountsMissed(t *testing.T) {
	name := segName(t, "")
	tb, err := table.Create(name, table.Options{Capacity: 256, EventRing: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	subs := startChildren(t, roleSubscribe, 1, name, "", "300")
	subs.expect("ready")
	w := startChildren(t, roleEvWriter, 1, name, "0", "3000")
	w.expect("ready")
	subs.send("go")
	w.release()
	total := int(resultInt(t, w.wait()[0], "changes", 0))
	subs.send("stop")
	lines := subs.wait()[0]
	got, missed := resultInt(t, lines, "events", 0), resultInt(t, lines, "events", 1)
	if got+missed != int64(total) || missed == 0 {
		t.Errorf("slow subscriber: %d events + %d missed, want %d in all with some missed", got, missed, total)
	}
	t.Logf("slow subscriber: %d events received, %d missed, of %d", got, missed, total)
}

func TestSubscribeWithoutRing(t *testing.T) {
	tb, err := table.New(table.Options{Capacity: 16})
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range tb.Subscribe(context.Background(), nil) {
		if !errors.Is(err, table.ErrNoEvents) {
			t.Fatalf("Subscribe without a ring: %v", err)
		}
	}
}

// BenchmarkWakeLatency measures the one-way wake-up latency from a Set in
// one process to Wait returning in another: ping-pong with a child
// process, half of each round trip, reported as p50 and p99.
func BenchmarkWakeLatency(b *testing.B) {
	name := segName(b, "")
	tb, err := table.Create(name, table.Options{Capacity: 64})
	if err != nil {
		b.Fatal(err)
	}
	defer tb.Close()
	g := startChildren(b, rolePingPong, 1, name, "b", strconv.Itoa(b.N), "1")
	g.expect("ready")
	g.release()
	ctx := context.Background()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 1; i <= b.N; i++ {
		want := strconv.Itoa(i)
		start := time.Now()
		if err := tb.Set([]byte("ping0"), []byte(want)); err != nil {
			b.Fatal(err)
		}
		for {
			val, v, err := tb.Lookup([]byte("pong0"))
			if err == nil && string(val) == want {
				break
			}
			if _, err := tb.Wait(ctx, []byte("pong0"), v); err != nil {
				b.Fatal(err)
			}
		}
		lat = append(lat, time.Since(start)/2)
	}
	b.StopTimer()
	g.wait()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
}

// BenchmarkSetEvents compares Set on existing keys with the event ring off
// and on (subscriptions cost writers one atomic add and one entry write).
func BenchmarkSetEvents(b *testing.B) {
	for _, ring := range []int{0, 1 << 16} {
		b.Run("ring="+strconv.Itoa(ring), func(b *testing.B) {
			tb, err := table.New(table.Options{Capacity: 4096, EventRing: ring})
			if err != nil {
				b.Fatal(err)
			}
			defer tb.Close()
			keys := make([][]byte, 1024)
			for i := range keys {
				keys[i] = []byte(fmt.Sprintf("key:%07d", i))
				tb.Set(keys[i], []byte("0123456789abcdef0123456789abcdef"))
			}
			val := []byte("fedcba9876543210fedcba9876543210")
			i := 0
			for b.Loop() {
				if err := tb.Set(keys[i&1023], val); err != nil {
					b.Fatal(err)
				}
				i++
			}
			reportOps(b)
		})
	}
}
