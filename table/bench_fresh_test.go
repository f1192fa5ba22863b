package table_test

// BenchmarkGetFresh measures what a process pays for its first Gets on a
// table it has just attached: each op is one freshly exec'd child (the
// test binary, see main_test.go) that builds its key set, attaches to the
// 1M-key table, and times its Gets from the very first one, with no
// warm-up: the mean of the first freshFirst Gets, of the freshNext after
// them, and their ratio in the thread's CPU time (first/next, 1.0 when a fresh process is as fast
// as a warm one; the median over the children, each child's next being
// its median chunk of freshNext/freshNextChunks Gets). It also reports what the attach itself cost: wall time,
// minor faults, and the growth of the child's resident set.
//
// Sub-benchmarks vary how the child attaches and what it does before its
// clock starts, to separate the causes of a slow start:
//
//	default    Attach as an application does (it prefaults a tmpfs
//	           segment before it returns, segment/warm_linux.go)
//	background the prefault in a goroutine ($SHMDICT_PREFAULT=background)
//	off        no prefault ($SHMDICT_PREFAULT=off): the cost before the fix
//
// and, all without prefault:
//
//	keytouch   reads a byte of every page of its key buffer and runs a GC
//	           first (the Go heap side of a fresh process)
//	warmcode   1,000 Gets first (code, branch predictors, hash; touches
//	           few pages of the mapping)
//	touch      reads a byte of every 4 KiB page of the mapping first
//	           (page tables and TLB of this process, from user space)
//	madvread   MADV_POPULATE_READ over the mapping first (page tables
//	           only, from the kernel)
//
// Run it with e.g.
//
//	go test ./table/ -run '^$' -bench GetFresh -benchtime=5x -count=3

import (
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shmdict/shmdict/table"
)

const (
	roleBenchGetFresh = "bench-get-fresh"

	// freshFirst is the "first Gets" window of the user report: enough
	// uniform random Gets to touch nearly every page of the 1M-key table
	// (8,192 slot-array pages, ~24,000 used arena pages).
	freshFirst = 100_000
	// freshNext is the steady state the first window is compared with.
	freshNext = 1_000_000
	// freshChunks splits the first window, to show how the cost decays.
	freshChunks = 10
	// freshNextChunks splits the next window; its median chunk is the
	// steady state.
	freshNextChunks = 10
)

// The role registers itself here rather than in main_test.go's literal,
// whose alignment every new role would rewrite.
func init() { childRoles[roleBenchGetFresh] = childBenchGetFresh }

var freshModes = []string{"default", "background", "off", "keytouch", "warmcode", "touch", "madvread"}

func BenchmarkGetFresh(b *testing.B) {
	for _, mode := range freshModes {
		b.Run(mode, func(b *testing.B) { benchGetFresh(b, mode) })
	}
}

// freshResult is one child's report.
type freshResult struct {
	attachNs, attachFlt, attachRSSKB int64
	firstNs, firstFlt                int64
	nextNs, nextFlt                  int64
	firstWall, nextWall              int64
	chunksNs                         [freshChunks]int64
}

func benchGetFresh(b *testing.B, mode string) {
	_, name := benchTable(b)
	var sum freshResult
	var ratios, wallRatios []float64
	n := int64(0)
	seed := uint64(benchSeed)
	for b.Loop() {
		seed++
		g := startChildren(b, roleBenchGetFresh, 1, name, utoa(seed), mode)
		r := parseFresh(b, g.expect("fresh")[0])
		g.wait()
		sum.add(r)
		ratios = append(ratios, float64(r.firstNs)/freshFirst/(float64(r.nextNs)/freshNext))
		wallRatios = append(wallRatios, float64(r.firstWall)/freshFirst/(float64(r.nextWall)/freshNext))
		n++
	}
	if n == 0 {
		return
	}
	first := float64(sum.firstNs) / float64(n*freshFirst)
	next := float64(sum.nextNs) / float64(n*freshNext)
	b.ReportMetric(first, "first-ns/get")
	b.ReportMetric(next, "next-ns/get")
	slices.Sort(ratios)
	b.ReportMetric(ratios[len(ratios)/2], "first/next") // the median child's
	slices.Sort(wallRatios)
	b.ReportMetric(wallRatios[len(wallRatios)/2], "wall-first/next")
	b.Logf("%s: first/next (CPU) of each child, sorted: %.2f; in wall time: %.2f", mode, ratios, wallRatios)
	b.ReportMetric(float64(sum.attachNs)/float64(n)/1e3, "attach-µs")
	b.ReportMetric(float64(sum.attachFlt)/float64(n), "attach-minflt")
	b.ReportMetric(float64(sum.attachRSSKB)/float64(n)/1024, "attach-RSS-MB")
	b.ReportMetric(float64(sum.firstFlt)/float64(n), "first-minflt")
	var chunks []string
	for _, c := range sum.chunksNs {
		chunks = append(chunks, strconv.FormatFloat(float64(c)/float64(n*freshFirst/freshChunks), 'f', 0, 64))
	}
	b.Logf("%s: ns/get of the first %d Gets in %d chunks: %s", mode, freshFirst, freshChunks, strings.Join(chunks, " "))
}

func (s *freshResult) add(r freshResult) {
	s.attachNs += r.attachNs
	s.attachFlt += r.attachFlt
	s.attachRSSKB += r.attachRSSKB
	s.firstNs += r.firstNs
	s.firstFlt += r.firstFlt
	s.nextNs += r.nextNs
	s.nextFlt += r.nextFlt
	for i := range s.chunksNs {
		s.chunksNs[i] += r.chunksNs[i]
	}
}

func parseFresh(b *testing.B, f []string) freshResult {
	b.Helper()
	if len(f) != 9+freshChunks {
		b.Fatalf("fresh child reported %q, want %d fields", f, 9+freshChunks)
	}
	v := make([]int64, len(f))
	for i, s := range f {
		var err error
		if v[i], err = strconv.ParseInt(s, 10, 64); err != nil {
			b.Fatalf("fresh child reported %q: %v", f, err)
		}
	}
	r := freshResult{attachNs: v[0], attachFlt: v[1], attachRSSKB: v[2], firstNs: v[3], firstFlt: v[4], nextNs: v[5], nextFlt: v[6], firstWall: v[7], nextWall: v[8]}
	copy(r.chunksNs[:], v[9:])
	return r
}

// threadNs is this thread's CPU time in nanoseconds.
func threadNs() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		panic(err)
	}
	return ts.Nano()
}

// minorFaults is this process's minor page-fault count so far.
func minorFaults() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return -1
	}
	return ru.Minflt
}

// rssKB is this process's resident set (VmRSS), in KiB.
func rssKB() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return n
		}
	}
	return -1
}

// childBenchGetFresh: build the key set, attach, prepare as mode says,
// then time Gets from the first one. It writes one line:
// "fresh attachNs attachMinflt attachRSSKB firstNs firstMinflt nextNs
// nextMinflt firstWallNs nextWallNs chunk0Ns ... chunk9Ns", Gets timed
// in the thread's CPU time except the two wall figures.
func childBenchGetFresh(args []string) error {
	if err := childArgs(args, "name", "seed", "mode"); err != nil {
		return err
	}
	ks := newBenchKeySet()
	mode := args[2]
	switch mode {
	case "default":
	case "background":
		os.Setenv("SHMDICT_PREFAULT", "background")
	default:
		os.Setenv("SHMDICT_PREFAULT", "off")
	}

	rss0, flt0, t0 := rssKB(), minorFaults(), time.Now()
	tbl, err := table.Attach(args[0])
	attachNs, attachFlt, attachRSS := time.Since(t0).Nanoseconds(), minorFaults()-flt0, rssKB()-rss0
	if err != nil {
		return err
	}
	defer tbl.Close()

	buf := make([]byte, 0, 64)
	get := func(r *rand.PCG) error {
		if buf, err = tbl.AppendGet(buf[:0], ks.key(int(r.Uint64()>>benchIndexShift))); err != nil {
			return err
		}
		if len(buf) != benchValLen {
			return fmt.Errorf("value of %d bytes, want %d", len(buf), benchValLen)
		}
		return nil
	}
	mem := table.TableMem(tbl)
	mapping := mem.Bytes(0, mem.Size())
	switch mode {
	case "default", "background", "off":
	case "keytouch":
		var sink byte
		for i := 0; i < len(ks.buf); i += 4096 {
			sink += ks.buf[i]
		}
		runtime.KeepAlive(sink)
		runtime.GC()
	case "warmcode":
		w := rand.NewPCG(atou(args[1]), 99)
		for range 1000 {
			if err := get(w); err != nil {
				return err
			}
		}
	case "touch":
		var sink byte
		for i := 0; i < len(mapping); i += 4096 {
			sink += mapping[i]
		}
		runtime.KeepAlive(sink)
	case "madvread":
		if err := unix.Madvise(mapping, 22 /* MADV_POPULATE_READ */); err != nil {
			return fmt.Errorf("madvise(MADV_POPULATE_READ): %w", err)
		}
	default:
		return fmt.Errorf("unknown mode %q", mode)
	}

	// Gets are timed in this thread's CPU time, which counts the page
	// faults they take (kernel time) but not the time other processes on
	// a busy machine hold the core; wall time is reported beside it.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	r := rand.NewPCG(atou(args[1]), 7)
	var chunks [freshChunks]int64
	flt1 := minorFaults()
	wall0 := time.Now()
	start := threadNs()
	for c := range freshChunks {
		for range freshFirst / freshChunks {
			if err := get(r); err != nil {
				return err
			}
		}
		chunks[c] = threadNs() - start
	}
	firstWall := time.Since(wall0).Nanoseconds()
	firstNs, firstFlt := chunks[freshChunks-1], minorFaults()-flt1
	for c := freshChunks - 1; c > 0; c-- {
		chunks[c] -= chunks[c-1]
	}
	// The next window is timed in chunks and reported as the median
	// chunk, so that a burst of noise from other processes on the machine
	// does not pass for a fast start.
	flt2 := minorFaults()
	next := make([]int64, freshNextChunks)
	wall := make([]int64, freshNextChunks)
	for c := range next {
		wall0, start = time.Now(), threadNs()
		for range freshNext / freshNextChunks {
			if err := get(r); err != nil {
				return err
			}
		}
		next[c], wall[c] = threadNs()-start, time.Since(wall0).Nanoseconds()
	}
	nextFlt := minorFaults() - flt2
	slices.Sort(next)
	slices.Sort(wall)
	nextNs, nextWall := next[len(next)/2]*freshNextChunks, wall[len(wall)/2]*freshNextChunks
	fields := []any{attachNs, attachFlt, attachRSS, firstNs, firstFlt, nextNs, nextFlt, firstWall, nextWall}
	for _, c := range chunks {
		fields = append(fields, c)
	}
	childReport("fresh", fields...)
	return nil
}
