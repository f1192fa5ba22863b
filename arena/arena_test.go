package arena

import (
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/shmdict/shmdict/atomicx"
	"github.com/shmdict/shmdict/segment"
)

var arenaSeed = flag.Uint64("arena.seed", 0, "seed for the arena tests' random choices (0: random, logged)")

func testRand(t *testing.T) *rand.Rand {
	t.Helper()
	seed := *arenaSeed
	if seed == 0 {
		seed = rand.Uint64()
	}
	t.Logf("seed %d (rerun with -arena.seed=%d)", seed, seed)
	return rand.New(rand.NewPCG(seed, 0x5eed))
}

func TestClassUnits(t *testing.T) {
	if NumClasses > segment.MaxClasses {
		t.Fatalf("NumClasses %d exceeds the %d free-list heads per shard", NumClasses, segment.MaxClasses)
	}
	// Pinned: the classes are part of the segment format (a block's class
	// is stored in its header).
	want := []uint64{1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 20, 24, 28, 32, 40, 48, 56, 64}
	for c, w := range want {
		if got := ClassUnits(c); got != w {
			t.Errorf("ClassUnits(%d) = %d, want %d", c, got, w)
		}
	}
	if got := ClassUnits(NumClasses - 1); got != MaxUnits {
		t.Errorf("largest class is %d units, want MaxUnits %d", got, MaxUnits)
	}
	if MaxPayload != MaxUnits*Unit-HeaderBytes {
		t.Errorf("MaxPayload = %d", MaxPayload)
	}
	for c := 1; c < NumClasses; c++ {
		prev, cur := ClassUnits(c-1), ClassUnits(c)
		if cur <= prev {
			t.Errorf("ClassUnits not increasing: class %d = %d, class %d = %d", c-1, prev, c, cur)
		}
		// Above 128 bytes consecutive classes differ by at most 25%.
		if prev >= 8 && cur*4 > prev*5 {
			t.Errorf("classes %d (%d units) and %d (%d units) are more than 25%% apart", c-1, prev, c, cur)
		}
	}
}

// classForRef is ClassFor by definition: the smallest class whose block
// holds n payload bytes after the header word.
func classForRef(n uint64) int {
	for c := range NumClasses {
		if ClassUnits(c)*Unit >= n+HeaderBytes {
			return c
		}
	}
	return -1
}

func checkClassFor(t *testing.T, n uint64) {
	t.Helper()
	c := ClassFor(n)
	if want := classForRef(n); c != want {
		t.Fatalf("ClassFor(%d) = %d, want %d", n, c, want)
	}
	if c < 0 {
		return
	}
	size, need := ClassUnits(c)*Unit, n+HeaderBytes
	if need > 128 && size*4 > need*5 {
		t.Fatalf("ClassFor(%d): a %d-byte block for %d bytes wastes more than 25%%", n, size, need)
	}
}

func TestClassFor(t *testing.T) {
	// Exhaustive over small sizes, and monotonic.
	prev := 0
	for n := uint64(0); n <= 1<<16; n++ {
		checkClassFor(t, n)
		c := ClassFor(n)
		if c < prev {
			t.Fatalf("ClassFor not monotonic: ClassFor(%d) = %d < ClassFor(%d) = %d", n, c, n-1, prev)
		}
		prev = c
	}
	// Each class's boundaries.
	for c := range NumClasses {
		top := ClassUnits(c)*Unit - HeaderBytes
		for _, n := range []uint64{top - 1, top, top + 1} {
			if n <= MaxPayload+1 {
				checkClassFor(t, n)
			}
		}
		if got := ClassFor(top); got != c {
			t.Errorf("ClassFor(%d) = %d, want %d (the class's exact fit)", top, got, c)
		}
	}
	// Random sizes up to the limit.
	r := testRand(t)
	for range 100000 {
		checkClassFor(t, r.Uint64N(MaxPayload+2))
	}
	for n, want := range map[uint64]int{0: 0, 8: 0, 9: 1, 120: 7, 121: 8, MaxPayload: NumClasses - 1, MaxPayload + 1: -1, 1 << 62: -1, ^uint64(0): -1} {
		if got := ClassFor(n); got != want {
			t.Errorf("ClassFor(%d) = %d, want %d", n, got, want)
		}
	}
}

// testArena returns a fresh arena of arenaBytes in a heap segment.
func testArena(t *testing.T, arenaBytes int64) (*Arena, *segment.Segment) {
	t.Helper()
	l, err := segment.NewLayout(16, arenaBytes, 1)
	if err != nil {
		t.Fatal(err)
	}
	seg, err := segment.NewHeap(l)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { seg.Close() })
	a := New(seg.Mem, seg.Layout.ArenaOff, seg.Layout.ArenaSize)
	if a.Units() != uint64(arenaBytes)/Unit || a.Bump() != 1 || a.FreeBytes() != 0 {
		t.Fatalf("fresh arena: units %d bump %d free %d", a.Units(), a.Bump(), a.FreeBytes())
	}
	return a, seg
}

// alloc allocates a block of class c or larger and checks the live
// header Alloc stamps on it.
func alloc(t *testing.T, a *Arena, m atomicx.Mem, c, shard int) uint32 {
	t.Helper()
	u, err := a.Alloc(c, shard)
	if err != nil {
		t.Fatalf("Alloc(class %d, shard %d): %v", c, shard, err)
	}
	checkStamped(t, a, u, c)
	return u
}

// checkStamped checks that u holds a fresh live header of class c or
// larger, inside the arena, and returns that class.
func checkStamped(t *testing.T, a *Arena, u uint32, c int) int {
	t.Helper()
	if u == 0 || !a.inBounds(uint64(u), c) {
		t.Fatalf("Alloc(class %d) = unit %d, outside the arena of %d units", c, u, a.Units())
	}
	got, n, ok := a.ReadHeader(u)
	if !ok || got < c || n != 0 || a.mem.Load64(a.Off(u)) != Header(got, 0) {
		t.Fatalf("Alloc(class %d) = unit %d with header %#x, want a live header of class >= %d, lengths 0",
			c, u, a.mem.Load64(a.Off(u)), c)
	}
	return got
}

func free(t *testing.T, a *Arena, u uint32, shard int) {
	t.Helper()
	if err := a.Free(u, shard); err != nil {
		t.Fatalf("Free(%d, shard %d): %v", u, shard, err)
	}
}

// place mirrors the bump pointer's placement rule: a block of up to a
// line (4 units) does not cross a line boundary, a larger one starts on a
// line; the skipped units go to a free list.
func place(b, n uint64) uint64 {
	if n > lineUnits || b%lineUnits+n > lineUnits {
		return (b + lineUnits - 1) &^ (lineUnits - 1)
	}
	return b
}

// available is the arena's free space: on free lists or above the bump.
func available(a *Arena) uint64 {
	return a.FreeBytes() + (a.Units()-min(a.Bump(), a.Units()))*Unit
}

func TestArenaAllocFreeReuse(t *testing.T) {
	a, seg := testArena(t, 1<<16)
	m := seg.Mem
	u1 := alloc(t, a, m, 3, 0)
	u2 := alloc(t, a, m, 3, 0)
	n3 := ClassUnits(3)
	w1 := place(1, n3)
	w2 := place(w1+n3, n3)
	if uint64(u1) != w1 || uint64(u2) != w2 {
		t.Errorf("bump allocations at units %d, %d, want %d, %d", u1, u2, w1, w2)
	}
	if a.Bump() != w2+n3 {
		t.Errorf("bump = %d, want %d", a.Bump(), w2+n3)
	}
	gap := a.FreeBytes() // the units skipped to line-align, now on a free list
	if gap != (w1-1)*Unit {
		t.Errorf("FreeBytes after aligned allocations = %d, want the %d skipped bytes", gap, (w1-1)*Unit)
	}
	c, n, ok := a.ReadHeader(u1)
	if c != 3 || n != 0 || !ok {
		t.Errorf("ReadHeader(live block) = %d, %d, %v", c, n, ok)
	}
	free(t, a, u1, 2)
	if got := a.FreeBytes(); got != gap+ClassUnits(3)*Unit {
		t.Errorf("FreeBytes after one free = %d, want %d", got, gap+ClassUnits(3)*Unit)
	}
	if _, _, ok := a.ReadHeader(u1); ok {
		t.Error("ReadHeader accepts a free block")
	}
	// The shard's list is tried first: the freed block comes back.
	if u := alloc(t, a, m, 3, 2); u != u1 {
		t.Errorf("Alloc after Free = %d, want the freed unit %d", u, u1)
	}
	if a.FreeBytes() != gap {
		t.Errorf("FreeBytes after reuse = %d, want %d", a.FreeBytes(), gap)
	}
	// LIFO within a list.
	free(t, a, u1, 5)
	free(t, a, u2, 5)
	if u := alloc(t, a, m, 3, 5); u != u2 {
		t.Errorf("Alloc = %d, want the last freed %d", u, u2)
	}
	if u := alloc(t, a, m, 3, 5); u != u1 {
		t.Errorf("Alloc = %d, want %d", u, u1)
	}
	// Another class does not take them.
	free(t, a, u1, 0)
	if u := alloc(t, a, m, 2, 0); u == u1 {
		t.Errorf("class 2 Alloc took a class 3 block while the bump had room")
	}
}

// TestArenaExhaustion fills the arena through the bump pointer, checks
// ErrFull, then frees everything and refills it from the free lists on
// other shards.
func TestArenaExhaustion(t *testing.T) {
	const arenaBytes = 4096
	for _, c := range []int{0, 1, 3, 8, 11} {
		t.Run(fmt.Sprint("class", c), func(t *testing.T) {
			a, seg := testArena(t, arenaBytes)
			var units []uint32
			for {
				u, err := a.Alloc(c, 0)
				if err != nil {
					if !errors.Is(err, ErrFull) || !strings.HasPrefix(err.Error(), "shmdict: ") {
						t.Fatalf("Alloc on a full arena: %v, want ErrFull", err)
					}
					break
				}
				checkStamped(t, a, u, c)
				units = append(units, u)
			}
			// Unit 0 is never handed out; blocks are line-placed.
			n := ClassUnits(c)
			want := 0
			for b := uint64(1); place(b, n)+n <= a.Units(); b = place(b, n) + n {
				want++
			}
			if len(units) != want {
				t.Fatalf("%d blocks of %d units fit, want %d", len(units), n, want)
			}
			gap := a.FreeBytes() // skipped units, in blocks of smaller classes
			if bump := a.Bump(); place(bump, n)+n <= a.Units() {
				t.Fatalf("ErrFull with the bump pointer at %d of %d", bump, a.Units())
			}
			for i, u := range units {
				free(t, a, u, i%segment.FreeShards)
			}
			if got, want := a.FreeBytes(), gap+uint64(len(units))*n*Unit; got != want {
				t.Fatalf("FreeBytes = %d, want %d", got, want)
			}
			seen := map[uint32]bool{}
			for range units {
				u := alloc(t, a, seg.Mem, c, 3) // drains shard 3, then steals
				if seen[u] {
					t.Fatalf("unit %d handed out twice", u)
				}
				seen[u] = true
			}
			if _, err := a.Alloc(c, 3); !errors.Is(err, ErrFull) {
				t.Fatalf("Alloc after refilling: %v, want ErrFull", err)
			}
			if a.FreeBytes() != gap {
				t.Fatalf("FreeBytes after refilling = %d, want the %d skipped bytes", a.FreeBytes(), gap)
			}
		})
	}
}

// TestArenaFallback: with the bump pointer exhausted and only larger
// blocks free, Alloc takes a larger block and stamps its real class, so
// that freeing it returns the whole block; smaller blocks are never used
// for a larger class.
func TestArenaFallback(t *testing.T) {
	a, seg := testArena(t, 4096)
	m := seg.Mem
	big := alloc(t, a, m, 5, 0)
	small := alloc(t, a, m, 0, 0)
	for { // exhaust the bump pointer
		if _, err := a.Alloc(0, 0); err != nil {
			break
		}
	}
	if _, err := a.Alloc(0, 4); !errors.Is(err, ErrFull) {
		t.Fatalf("Alloc on a full arena: %v", err)
	}
	free(t, a, small, 2)
	if u, err := a.Alloc(1, 2); !errors.Is(err, ErrFull) {
		t.Errorf("Alloc(class 1) with only a class-0 block free = %d, %v, want ErrFull", u, err)
	}
	if u := alloc(t, a, m, 0, 5); u != small {
		t.Errorf("Alloc(class 0) = %d, want the freed class-0 block %d", u, small)
	}

	free(t, a, big, 6)
	u, err := a.Alloc(0, 1)
	if err != nil || u != big {
		t.Fatalf("Alloc(class 0) with only a class-5 block free = %d, %v, want %d", u, err, big)
	}
	if c := checkStamped(t, a, u, 0); c != 5 {
		t.Errorf("fallback block stamped class %d, want its real class 5", c)
	}
	if a.FreeBytes() != 0 {
		t.Errorf("FreeBytes after fallback = %d, want 0", a.FreeBytes())
	}
	// SetLengths keeps the real class.
	a.SetLengths(u, 0, 8)
	if c, n, ok := a.ReadHeader(u); c != 5 || n != 8 || !ok {
		t.Errorf("after SetLengths: class %d, length %d, ok %v, want 5, 8, true", c, n, ok)
	}
	// Freeing returns the whole block to its class.
	free(t, a, u, 1)
	if got, want := a.FreeBytes(), ClassUnits(5)*Unit; got != want {
		t.Errorf("FreeBytes after freeing the fallback block = %d, want %d", got, want)
	}
	if u := alloc(t, a, m, 5, 3); u != big {
		t.Errorf("Alloc(class 5) = %d, want %d back", u, big)
	}
}

// TestArenaAccounting runs random allocations and frees on one goroutine
// and checks the free-bytes counter and disjointness after every step.
func TestArenaAccounting(t *testing.T) {
	r := testRand(t)
	a, seg := testArena(t, 64<<10)
	type block struct {
		u uint32
		c int
	}
	var live []block
	owner := make([]int, a.Units()) // block index+1 covering each unit, 0 = none
	var liveBytes uint64
	for step := range 20000 {
		if len(live) > 0 && (r.IntN(2) == 0 || len(live) > 200) {
			i := r.IntN(len(live))
			b := live[i]
			live[i] = live[len(live)-1]
			live = live[:len(live)-1]
			for k := range ClassUnits(b.c) {
				owner[uint64(b.u)+k] = 0
			}
			free(t, a, b.u, r.IntN(segment.FreeShards))
			liveBytes -= ClassUnits(b.c) * Unit
		} else {
			c := r.IntN(16)
			u, err := a.Alloc(c, r.IntN(segment.FreeShards))
			if errors.Is(err, ErrFull) {
				if available(a) >= ClassUnits(c)*Unit && a.FreeBytes() == 0 {
					t.Fatalf("step %d: ErrFull for class %d with %d bytes above the bump", step, c, available(a))
				}
				continue
			}
			if err != nil {
				t.Fatalf("step %d: Alloc: %v", step, err)
			}
			c = checkStamped(t, a, u, c) // maybe a larger block
			for k := range ClassUnits(c) {
				if owner[uint64(u)+k] != 0 {
					t.Fatalf("step %d: block at unit %d (class %d) overlaps a live block at unit %d", step, u, c, uint64(u)+k)
				}
				owner[uint64(u)+k] = step + 1
			}
			live = append(live, block{u, c})
			liveBytes += ClassUnits(c) * Unit
		}
		// Everything but unit 0 is live, free, or above the bump.
		total := (a.Units() - 1) * Unit
		if got := liveBytes + available(a); got != total {
			t.Fatalf("step %d: live %d + free %d + unbumped %d = %d, want %d",
				step, liveBytes, a.FreeBytes(), (a.Units()-a.Bump())*Unit, got, total)
		}
	}
	t.Logf("bump at %d of %d units, %d live blocks", a.Bump(), a.Units(), len(live))
	for _, b := range live {
		free(t, a, b.u, 0)
	}
	checkFreeLists(t, a, seg.Mem)
}

// TestArenaConcurrent allocates and frees from many goroutines (run it
// under -race: the heap segment lets the detector see every access) and
// checks that no unit is ever owned by two blocks at once and that a
// block's contents are not disturbed while it is owned.
func TestArenaConcurrent(t *testing.T) {
	for _, tc := range []struct {
		name       string
		arenaBytes int64
	}{
		{"roomy", 4 << 20},  // never exhausted: accounting must be exact
		{"tight", 16 << 10}, // exhausted often: ErrFull and fallbacks
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := testRand(t)
			a, seg := testArena(t, tc.arenaBytes)
			m := seg.Mem
			const (
				workers = 8
				ops     = 20000
				maxLive = 32
			)
			var (
				mu      sync.Mutex
				owner   = make(map[uint64]int) // unit -> worker+1
				failure error
			)
			fail := func(err error) {
				mu.Lock()
				if failure == nil {
					failure = err
				}
				mu.Unlock()
			}
			seeds := make([]uint64, workers)
			for i := range seeds {
				seeds[i] = r.Uint64()
			}
			var wg sync.WaitGroup
			var noSpace [workers]int
			for w := range workers {
				wg.Go(func() {
					r := rand.New(rand.NewPCG(seeds[w], 0))
					type block struct {
						u uint32
						c int
					}
					var live []block
					release := func(i int) bool {
						b := live[i]
						live[i] = live[len(live)-1]
						live = live[:len(live)-1]
						// The pattern written at allocation must be intact.
						for k := uint64(1); k < ClassUnits(b.c)*2; k++ {
							if got, want := m.Load64(a.Off(b.u)+k*8), uint64(w)<<32|uint64(b.u); got != want {
								fail(fmt.Errorf("worker %d: block at unit %d word %d = %#x, want %#x: another owner wrote it", w, b.u, k, got, want))
								return false
							}
						}
						mu.Lock()
						for k := range ClassUnits(b.c) {
							delete(owner, uint64(b.u)+k)
						}
						mu.Unlock()
						if err := a.Free(b.u, r.IntN(segment.FreeShards)); err != nil {
							fail(fmt.Errorf("worker %d: Free(%d): %v", w, b.u, err))
							return false
						}
						return true
					}
					for range ops {
						if len(live) > 0 && (len(live) >= maxLive || r.IntN(2) == 0) {
							if !release(r.IntN(len(live))) {
								return
							}
							continue
						}
						c := r.IntN(12)
						u, err := a.Alloc(c, r.IntN(segment.FreeShards))
						if errors.Is(err, ErrFull) {
							noSpace[w]++
							continue
						}
						if err != nil {
							fail(fmt.Errorf("worker %d: Alloc(%d): %v", w, c, err))
							return
						}
						hdr := m.Load64(a.Off(u))
						if hdr>>56 != magicLive || int(hdr>>48&0xFF) < c || int(hdr>>48&0xFF) >= NumClasses || hdr&(1<<48-1) != 0 {
							fail(fmt.Errorf("worker %d: Alloc(%d) = unit %d with header %#x", w, c, u, hdr))
							return
						}
						c = int(hdr >> 48 & 0xFF) // maybe a larger block
						mu.Lock()
						for k := range ClassUnits(c) {
							if prev, taken := owner[uint64(u)+k]; taken {
								mu.Unlock()
								fail(fmt.Errorf("worker %d: got block at unit %d (class %d), but unit %d is owned by worker %d", w, u, c, uint64(u)+k, prev-1))
								return
							}
							owner[uint64(u)+k] = w + 1
						}
						mu.Unlock()
						for k := uint64(1); k < ClassUnits(c)*2; k++ {
							m.Store64(a.Off(u)+k*8, uint64(w)<<32|uint64(u))
						}
						live = append(live, block{u, c})
					}
					for len(live) > 0 {
						if !release(len(live) - 1) {
							return
						}
					}
				})
			}
			wg.Wait()
			if failure != nil {
				t.Fatal(failure)
			}
			if len(owner) != 0 {
				t.Fatalf("%d units still owned after every worker freed its blocks", len(owner))
			}
			ns := 0
			for _, n := range noSpace {
				ns += n
			}
			t.Logf("bump %d of %d units, %d free bytes, %d ErrFull", a.Bump(), a.Units(), a.FreeBytes(), ns)
			// Every byte is back: fallbacks to larger classes lose nothing.
			if total := (a.Units() - 1) * Unit; available(a) != total {
				t.Errorf("after all frees: %d bytes available, want %d", available(a), total)
			}
			if tc.name == "roomy" && ns != 0 {
				t.Errorf("%d ErrFull in an arena that cannot fill", ns)
			}
			// Every free block is reachable, once, from some list.
			checkFreeLists(t, a, m)
		})
	}
}

// checkFreeLists walks every free list: each block must lie in the arena,
// carry a free header of the list's class, and appear once; the sizes
// must add up to FreeBytes.
func checkFreeLists(t *testing.T, a *Arena, m atomicx.Mem) {
	t.Helper()
	seen := map[uint64]bool{}
	var sum uint64
	for s := range segment.FreeShards {
		for c := range NumClasses {
			for u := m.Load64(headOff(s, c)) & 0xFFFFFFFF; u != 0; u = m.Load64(a.Off(uint32(u)) + 8) {
				if !a.inBounds(u, c) || seen[u] {
					t.Fatalf("free list %d/%d: unit %d out of bounds or seen twice", s, c, u)
				}
				seen[u] = true
				if hdr := m.Load64(a.Off(uint32(u))); hdr != packHeader(magicFree, c, 0) {
					t.Fatalf("free list %d/%d: unit %d has header %#x", s, c, u, hdr)
				}
				sum += ClassUnits(c) * Unit
			}
		}
	}
	if sum != a.FreeBytes() {
		t.Fatalf("free lists hold %d bytes, FreeBytes says %d", sum, a.FreeBytes())
	}
}

// TestArenaCorrupt damages free lists, headers and the bump pointer the
// way a bad segment could, and checks that the arena reports
// segment.ErrCorrupt (or ErrFull) instead of panicking or handing out a
// block outside the arena.
func TestArenaCorrupt(t *testing.T) {
	const c = 3
	type setup func(t *testing.T, a *Arena, m atomicx.Mem) (victim uint32)
	freed := func(t *testing.T, a *Arena, m atomicx.Mem) uint32 {
		u := alloc(t, a, m, c, 0)
		alloc(t, a, m, c, 0) // keep the bump away from u
		free(t, a, u, 0)
		return u
	}
	cases := []struct {
		name  string
		setup setup
		alloc int // class to allocate; the first Alloc must fail with ErrCorrupt
	}{
		{"head past the end", func(t *testing.T, a *Arena, m atomicx.Mem) uint32 {
			m.Store64(headOff(0, c), 7<<32|a.Units()+5)
			return 0
		}, c},
		{"head at the last unit, block overruns", func(t *testing.T, a *Arena, m atomicx.Mem) uint32 {
			m.Store64(headOff(0, c), a.Units()-1)
			return 0
		}, c},
		{"head at unit max", func(t *testing.T, a *Arena, m atomicx.Mem) uint32 {
			m.Store64(headOff(0, c), 0xFFFFFFFF)
			return 0
		}, c},
		{"next past the end", func(t *testing.T, a *Arena, m atomicx.Mem) uint32 {
			u := freed(t, a, m)
			m.Store64(a.Off(u)+8, a.Units())
			return u
		}, c},
		{"next huge", func(t *testing.T, a *Arena, m atomicx.Mem) uint32 {
			u := freed(t, a, m)
			m.Store64(a.Off(u)+8, ^uint64(0))
			return u
		}, c},
		{"free block with a live header", func(t *testing.T, a *Arena, m atomicx.Mem) uint32 {
			u := freed(t, a, m)
			m.Store64(a.Off(u), Header(c, 0))
			return u
		}, c},
		{"free block of another class", func(t *testing.T, a *Arena, m atomicx.Mem) uint32 {
			u := freed(t, a, m)
			m.Store64(a.Off(u), packHeader(magicFree, c+1, 0))
			return u
		}, c},
		{"free block with a zero header", func(t *testing.T, a *Arena, m atomicx.Mem) uint32 {
			u := freed(t, a, m)
			m.Store64(a.Off(u), 0)
			return u
		}, c},
		{"head of another shard, bump exhausted", func(t *testing.T, a *Arena, m atomicx.Mem) uint32 {
			m.Store64(segment.OffBump, a.Units())
			m.Store64(headOff(6, c+2), a.Units()+1)
			return 0
		}, c},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, seg := testArena(t, 4096)
			tc.setup(t, a, seg.Mem)
			u, err := a.Alloc(tc.alloc, 0)
			if !errors.Is(err, segment.ErrCorrupt) || !strings.HasPrefix(err.Error(), "shmdict: ") {
				t.Fatalf("Alloc = %d, %v, want segment.ErrCorrupt", u, err)
			}
		})
	}

	// A cycle in a free list: the first pop hands out the block, the
	// second finds it live and reports corruption instead of handing it
	// out again.
	t.Run("cycle", func(t *testing.T) {
		a, seg := testArena(t, 4096)
		u := freed(t, a, seg.Mem)
		seg.Mem.Store64(a.Off(u)+8, uint64(u))
		if got := alloc(t, a, seg.Mem, c, 0); got != u {
			t.Fatalf("first Alloc = %d, want %d", got, u)
		}
		got, err := a.Alloc(c, 0)
		if !errors.Is(err, segment.ErrCorrupt) {
			t.Fatalf("second Alloc from a cyclic list = %d, %v, want ErrCorrupt", got, err)
		}
	})

	// Bad bump pointers: no block from the bump, no panic.
	for _, bump := range []uint64{0, 1 << 40, ^uint64(0)} {
		t.Run(fmt.Sprint("bump ", bump), func(t *testing.T) {
			a, seg := testArena(t, 4096)
			seg.Mem.Store64(segment.OffBump, bump)
			u, err := a.Alloc(0, 0)
			if !errors.Is(err, ErrFull) {
				t.Fatalf("Alloc with bump %d = %d, %v, want ErrFull", bump, u, err)
			}
		})
	}

	// Free of bad units and headers.
	t.Run("Free", func(t *testing.T) {
		a, seg := testArena(t, 4096)
		m := seg.Mem
		u := alloc(t, a, m, c, 0)
		gap := a.FreeBytes() // units skipped to line-align u
		for _, bad := range []uint32{0, uint32(a.Units()), uint32(a.Units()) + 1, 0xFFFFFFFF} {
			if err := a.Free(bad, 0); !errors.Is(err, segment.ErrCorrupt) {
				t.Errorf("Free(%d) = %v, want ErrCorrupt", bad, err)
			}
		}
		for _, hdr := range []uint64{0, packHeader(magicFree, c, 0), packHeader(magicLive, NumClasses, 0), packHeader(magicLive, 255, 0), packHeader(0x11, c, 0)} {
			m.Store64(a.Off(u), hdr)
			if err := a.Free(u, 0); !errors.Is(err, segment.ErrCorrupt) {
				t.Errorf("Free of a block with header %#x = %v, want ErrCorrupt", hdr, err)
			}
		}
		// A live header whose class overruns the arena.
		last := uint32(a.Units() - 1)
		m.Store64(a.Off(last), Header(c, 0))
		if err := a.Free(last, 0); !errors.Is(err, segment.ErrCorrupt) {
			t.Errorf("Free of an overrunning block = %v, want ErrCorrupt", err)
		}
		// Double free.
		m.Store64(a.Off(u), Header(c, 0))
		free(t, a, u, 0)
		if err := a.Free(u, 0); !errors.Is(err, segment.ErrCorrupt) {
			t.Errorf("second Free = %v, want ErrCorrupt", err)
		}
		if a.FreeBytes() != gap+ClassUnits(c)*Unit {
			t.Errorf("FreeBytes after a refused double free = %d", a.FreeBytes())
		}
	})

	t.Run("ReadHeader", func(t *testing.T) {
		a, seg := testArena(t, 4096)
		m := seg.Mem
		u := alloc(t, a, m, c, 0)
		full := ClassUnits(c)*Unit - HeaderBytes
		m.Store64(a.Off(u), Header(c, full))
		if cc, n, ok := a.ReadHeader(u); !ok || cc != c || n != full {
			t.Errorf("ReadHeader of a full block = %d, %d, %v", cc, n, ok)
		}
		for _, hdr := range []uint64{Header(c, full+1), Header(NumClasses, 0), packHeader(magicFree, c, 0), 0, ^uint64(0)} {
			m.Store64(a.Off(u), hdr)
			if _, _, ok := a.ReadHeader(u); ok {
				t.Errorf("ReadHeader accepts header %#x", hdr)
			}
		}
		for _, bad := range []uint32{0, uint32(a.Units()), 0xFFFFFFFF} {
			if _, _, ok := a.ReadHeader(bad); ok {
				t.Errorf("ReadHeader accepts unit %d", bad)
			}
		}
	})

	// Garbage free-byte counters never make FreeBytes negative or panic.
	t.Run("FreeBytes", func(t *testing.T) {
		a, seg := testArena(t, 4096)
		for s := range segment.FreeShards {
			seg.Mem.Store64(freeBytesOff(s), ^uint64(0)-uint64(s))
		}
		if got := a.FreeBytes(); got != 0 {
			t.Errorf("FreeBytes with negative counters = %d, want 0", got)
		}
	})
}

// TestArenaLengths: SetLengths records a prefix and a payload length;
// ReadPrefixed accepts them only while they fit the block.
func TestArenaLengths(t *testing.T) {
	a, seg := testArena(t, 4096)
	m := seg.Mem
	const c = 3 // 64 bytes: 8 header + 56
	u := alloc(t, a, m, c, 0)
	gap := a.FreeBytes() // units skipped to line-align u
	cases := []struct {
		p, n uint64
		ok   bool
	}{
		{0, 0, true},
		{0, 56, true},
		{0, 57, false},
		{5, 40, true},  // prefix padded to 8
		{9, 40, true},  // prefix padded to 16: 8+16+40 = 64
		{9, 41, false}, // 65 bytes
		{56, 0, true},
		{57, 0, false},
		{MaxPrefix, 0, false},
		{0, 1<<32 - 1, false},
	}
	for _, tc := range cases {
		a.SetLengths(u, tc.p, tc.n)
		if hdr := m.Load64(a.Off(u)); hdr != PrefixedHeader(c, tc.p, tc.n) {
			t.Errorf("SetLengths(%d, %d) wrote %#x, want %#x", tc.p, tc.n, hdr, PrefixedHeader(c, tc.p, tc.n))
		}
		cl, p, n, ok := a.ReadPrefixed(u)
		if ok != tc.ok || (ok && (cl != c || p != tc.p || n != tc.n)) {
			t.Errorf("ReadPrefixed after SetLengths(%d, %d) = %d, %d, %d, %v, want ok %v", tc.p, tc.n, cl, p, n, ok, tc.ok)
		}
		if _, n, ok := a.ReadHeader(u); ok != tc.ok || (ok && n != tc.n) {
			t.Errorf("ReadHeader after SetLengths(%d, %d) = %d, %v", tc.p, tc.n, n, ok)
		}
	}
	if PrefixSpan(0) != 0 || PrefixSpan(1) != 8 || PrefixSpan(8) != 8 || PrefixSpan(9) != 16 {
		t.Errorf("PrefixSpan(0, 1, 8, 9) = %d, %d, %d, %d", PrefixSpan(0), PrefixSpan(1), PrefixSpan(8), PrefixSpan(9))
	}
	// A live header with a prefix is freed like any other.
	a.SetLengths(u, 9, 40)
	free(t, a, u, 0)
	if a.FreeBytes() != gap+ClassUnits(c)*Unit {
		t.Errorf("FreeBytes = %d after freeing a prefixed block", a.FreeBytes())
	}
}

// TestReserveChunks: the bump pointer reserves each chunk of the arena
// before it hands out its first unit, exactly once in order, and a
// reservation that fails takes nothing: the bump pointer stays, the error
// comes back, and the next allocation tries again.
func TestReserveChunks(t *testing.T) {
	const chunks = 3
	a, _ := testArena(t, chunks*segment.ReserveChunk)
	type span struct{ off, n uint64 }
	var got []span
	var fail error
	a.SetReserve(func(off, n uint64) error {
		if fail != nil {
			return fail
		}
		got = append(got, span{off, n})
		return nil
	})
	c := ClassFor(1000) // 1024-byte blocks: a chunk holds 1024 of them
	perChunk := segment.ReserveChunk / (ClassUnits(c) * Unit)
	for i := uint64(0); i < perChunk-1; i++ {
		if _, err := a.Alloc(c, 0); err != nil {
			t.Fatal(err)
		}
	}
	// The first chunk is the segment's at create: nothing reserved yet.
	if len(got) != 0 {
		t.Fatalf("reserved %v inside the first chunk", got)
	}
	fail = fmt.Errorf("%w: test reservation", segment.ErrNoSpace)
	bump := a.Bump()
	if _, err := a.Alloc(c, 0); err != fail || errors.Is(err, ErrFull) {
		t.Fatalf("Alloc with a failing reservation: %v, want its error (segment.ErrNoSpace, not ErrFull)", err)
	}
	if a.Bump() != bump {
		t.Fatalf("a failed reservation moved the bump pointer from %d to %d", bump, a.Bump())
	}
	fail = nil
	for i := 0; i < int(perChunk)*(chunks-1); i++ {
		if _, err := a.Alloc(c, 0); err != nil {
			t.Fatalf("alloc %d: %v", i, err)
		}
	}
	base := a.Off(0)
	want := []span{{base + segment.ReserveChunk, segment.ReserveChunk}, {base + 2*segment.ReserveChunk, segment.ReserveChunk}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("reservations %v, want %v", got, want)
	}
}
