package table_test

// BenchmarkWakePingPong measures the one-way wake-up latency between two
// processes through the table, and through a pair of pipes between the
// same two processes in the same run, as a baseline: the parent sets
// key "ping" and waits (Wait) for the child's "pong"; then it writes a
// byte to one pipe and reads the child's byte from the other (os.Pipe,
// read through the runtime's poller). Trips alternate, one of each per
// op, so that both see the same machine state. Each trip's one-way time
// is half its round trip; it reports p50 and p99 of both, and their
// ratio. The child's table side answers with Set after its Wait, its pipe
// side with a write after its read, on goroutines of their own.
//
//	go test ./table/ -run '^$' -bench WakePingPong -benchtime 20000x -count 3

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/shmdict/shmdict/table"
)

const roleWakePong = "wake-pong"

func init() { childRoles[roleWakePong] = childWakePong }

func BenchmarkWakePingPong(b *testing.B) {
	for _, mode := range []string{"hot", "cold"} {
		b.Run(mode, func(b *testing.B) { benchWakePingPong(b, mode) })
	}
}

// wakeBlock is how many trips of one kind a hot run makes in a row.
const wakeBlock = 256

// benchWakePingPong: in mode hot, blocks of wakeBlock table trips and
// wakeBlock pipe trips alternate (each side answers at once, as in a
// ping-pong, and the block starts, where the other side was idle, are
// under 1% of the trips); in mode cold, the parent sleeps 200 µs before
// each trip, one of each kind in turn, so that the other process is
// asleep (in FUTEX_WAIT, or in the poller) when the trip starts.
func benchWakePingPong(b *testing.B, mode string) {
	name := segName(b, "")
	tb, err := table.Create(name, table.Options{Capacity: 64})
	if err != nil {
		b.Fatal(err)
	}
	defer tb.Close()
	// Pipes: parent → child (pr0 read by the child), child → parent.
	pr0, pw0, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	pr1, pw1, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	defer func() { pw0.Close(); pr1.Close() }()
	g := startChildrenFiles(b, roleWakePong, 1, []*os.File{pr0, pw1}, name, strconv.Itoa(b.N))
	pr0.Close()
	pw1.Close()
	g.expect("ready")
	g.release()
	ctx := context.Background()
	shm := make([]time.Duration, 0, b.N)
	pipe := make([]time.Duration, 0, b.N)
	buf := []byte{0}
	shmTrip := func(i int) {
		want := strconv.Itoa(i)
		start := time.Now()
		if err := tb.Set([]byte("ping"), []byte(want)); err != nil {
			b.Fatal(err)
		}
		for {
			val, v, err := tb.Lookup([]byte("pong"))
			if err == nil && string(val) == want {
				break
			}
			if err != nil && !errors.Is(err, table.ErrNotFound) {
				b.Fatal(err)
			}
			if _, err := tb.Wait(ctx, []byte("pong"), v); err != nil {
				b.Fatal(err)
			}
		}
		shm = append(shm, time.Since(start)/2)
	}
	pipeTrip := func(i int) {
		start := time.Now()
		buf[0] = byte(i)
		if _, err := pw0.Write(buf); err != nil {
			b.Fatal(err)
		}
		if _, err := pr1.Read(buf); err != nil || buf[0] != byte(i) {
			b.Fatalf("pipe answer %d, %v; want %d", buf[0], err, byte(i))
		}
		pipe = append(pipe, time.Since(start)/2)
	}
	b.ResetTimer()
	if mode == "hot" {
		for lo := 1; lo <= b.N; lo += wakeBlock {
			hi := min(lo+wakeBlock, b.N+1)
			for i := lo; i < hi; i++ {
				shmTrip(i)
			}
			for i := lo; i < hi; i++ {
				pipeTrip(i)
			}
		}
	} else {
		for i := 1; i <= b.N; i++ {
			time.Sleep(200 * time.Microsecond)
			shmTrip(i)
			time.Sleep(200 * time.Microsecond)
			pipeTrip(i)
		}
	}
	b.StopTimer()
	g.wait()
	slices.Sort(shm)
	slices.Sort(pipe)
	p := func(l []time.Duration, q int) float64 { return float64(l[len(l)*q/100].Nanoseconds()) }
	b.ReportMetric(p(shm, 50), "shm-p50-ns")
	b.ReportMetric(p(shm, 90), "shm-p90-ns")
	b.ReportMetric(p(shm, 99), "shm-p99-ns")
	b.ReportMetric(p(pipe, 50), "pipe-p50-ns")
	b.ReportMetric(p(pipe, 99), "pipe-p99-ns")
	b.ReportMetric(p(shm, 50)/p(pipe, 50), "shm/pipe-p50")
	b.ReportMetric(p(shm, 99)/p(shm, 50), "shm-p99/p50")
}

// childWakePong answers BenchmarkWakePingPong: args name rounds; the
// pipes are descriptors 3 (from the parent) and 4 (to it).
func childWakePong(args []string) error {
	tb, err := table.Attach(args[0])
	if err != nil {
		return err
	}
	defer tb.Close()
	rounds := atoi(args[1])
	in, out := os.NewFile(3, "from-parent"), os.NewFile(4, "to-parent")
	if _, err := childSync("ready"); err != nil {
		return err
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	wg.Add(2)
	go func() { // the table side
		defer wg.Done()
		ctx := context.Background()
		for i := 1; i <= rounds; i++ {
			want := strconv.Itoa(i)
			for {
				val, v, err := tb.Lookup([]byte("ping"))
				if err == nil && string(val) == want {
					break
				}
				if err != nil && !errors.Is(err, table.ErrNotFound) {
					errs <- err
					return
				}
				if _, err := tb.Wait(ctx, []byte("ping"), v); err != nil {
					errs <- err
					return
				}
			}
			if err := tb.Set([]byte("pong"), []byte(want)); err != nil {
				errs <- err
				return
			}
		}
	}()
	go func() { // the pipe side
		defer wg.Done()
		buf := []byte{0}
		for i := 1; i <= rounds; i++ {
			if _, err := in.Read(buf); err != nil {
				errs <- fmt.Errorf("pipe read %d: %w", i, err)
				return
			}
			if _, err := out.Write(buf); err != nil {
				errs <- fmt.Errorf("pipe write %d: %w", i, err)
				return
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		return err
	}
	childReport("done")
	return nil
}
