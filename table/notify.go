package table

import (
	"context"
	"runtime"
	"time"

	"github.com/shmdict/shmdict/segment"
)

// Waiting for changes, across processes, without a server.
//
// Doorbells. 1024 32-bit words in the segment, chosen by key hash:
//
//	bits 31..1  seq: bumped each time a writer rings it
//	bit  0      waiters: some process is waiting on a key of this doorbell
//
// A waiter sets the waiters bit, then re-checks its key; a writer, after
// its publishing CAS, loads the doorbell and rings it only if the bit is
// set. Both sides act on seq-cst atomics in opposite orders, so either the
// waiter's re-check sees the write or the writer sees the bit: no lost
// wake-up, and a write with nobody waiting costs one load and no syscall.
//
// Ringing clears the bit, bumps seq, bumps the segment's wake word and
// FUTEX_WAKEs it (a shared futex: the kernel matches it across processes
// by file and offset). Up to maxDirectWaiters goroutines of a process
// sleep on the wake word themselves (waitDirect), after a short spin;
// the rest register with the process's one hub goroutine, which sleeps on
// the wake word and re-checks its waiters on each wake-up, so that a
// process blocks few threads however many goroutines wait. A waiter
// killed with its bit set costs one spurious wake-up, nothing more.

// Version identifies one state of a key's value: every Set, Delete, Add
// or swap gives the key a new Version. The Version of an absent key that
// never existed is 0. A counter's Version is derived from its value, so an
// Add undone by an opposite Add before a waiter looks is not seen.
type Version uint64

// hubPoll bounds how long the hub sleeps without a wake-up; it is a safety
// net (and how the hub notices Close), not the wake-up path.
const hubPoll = 2 * time.Second

// version returns the current Version of key.
func (t *Table) version(key []byte, h uint64) (Version, error) {
	w1, sum, err := t.versionWord(key, h)
	if isAdder(w1) {
		return adderVersion(w1, sum), err
	}
	return Version(w1), err
}

// adderVersion is the Version of an adder with value word w1 and sum n:
// it changes with the sum (unless the sum comes back to a value whose
// 32-bit fold is the same), and it is never an absent value word.
func adderVersion(w1 uint64, n int64) Version {
	return Version(w1 | uint64(uint32(n)^uint32(uint64(n)>>32)))
}

// versionWord returns key's value word (0 if it has no slot) and, for an
// adder, its sum.
func (t *Table) versionWord(key []byte, h uint64) (w1 uint64, sum int64, err error) {
	fo, err := t.enter()
	if err != nil {
		return 0, 0, err
	}
	defer t.exit(fo, &err)
	slot, sn, ok, err := t.find(key, h)
	if err != nil || !ok {
		return 0, 0, err
	}
	for {
		w1 := t.mem.Load64(t.valueWordOff(slot))
		ok, moved := t.confirm(t.slotOff(slot), sn.w0, w1)
		switch {
		case ok && isAdder(w1):
			sum, err := t.sumAt(adderIndex(w1))
			return w1, sum, err
		case ok:
			return w1, 0, nil
		case moved:
			return 0, 0, nil // retired: absent
		}
	}
}

// Lookup returns key's value with its Version, for a later Wait. For an
// absent key it returns ErrNotFound and the absent state's Version.
func (t *Table) Lookup(key []byte) ([]byte, Version, error) {
	if err := checkKey(key); err != nil {
		return nil, 0, err
	}
	h := hash64(key, t.seed)
	for {
		w1, sum, err := t.versionWord(key, h)
		if err != nil {
			return nil, 0, err
		}
		if isAdder(w1) {
			// The value is the sum the Version was made of: a busy
			// adder's sum changes between any two reads.
			return adderBytes(nil, sum), adderVersion(w1, sum), nil
		}
		v := Version(w1)
		val, err := t.Get(key)
		if err != nil && err != ErrNotFound {
			return nil, 0, err
		}
		// The pair is consistent if the version did not move around the
		// read, and a value never comes with an absent Version: in a table
		// with eviction a key without a slot has Version 0 both before a
		// Set and after a Delete (which retires its slot), so a key set
		// and deleted around the read leaves the Version where it was.
		// (An absent answer with a present Version is an expired value.)
		if v2, err2 := t.version(key, h); err2 == nil && v2 == v && (err != nil || !isAbsent(uint64(v))) {
			return val, v, err
		}
	}
}

// Wait blocks until key's Version differs from since (the key was set,
// deleted or added to since the caller saw it), or ctx ends, and returns
// the new Version. It returns at once if the key has already changed.
// Pass the Version from Lookup, or 0 to wait for a key that never existed
// to appear. Waiting costs no CPU: the process's hub goroutine sleeps on
// a futex that writers wake.
func (t *Table) Wait(ctx context.Context, key []byte, since Version) (Version, error) {
	if err := checkKey(key); err != nil {
		return since, err
	}
	h := hash64(key, t.seed)
	bell := doorbellOff(h)
	for {
		if err := t.checkReplaced(); err != nil {
			return since, err
		}
		v, err := t.version(key, h)
		if err != nil || v != since {
			return v, err
		}
		if t.direct.Add(1) <= maxDirectWaiters {
			v, err, done := t.waitDirect(ctx, key, h, bell, since)
			t.direct.Add(^uint64(0))
			if done {
				return v, err
			}
			continue
		}
		t.direct.Add(^uint64(0))
		w := &waiter{key: key, h: h, since: uint64(since), ch: make(chan struct{}, 1)}
		t.hub.add(t, w)
		if err := t.guarded(func() { t.arm(bell) }); err != nil {
			t.hub.remove(w)
			return since, err
		}
		if v, err := t.version(key, h); err != nil || v != since {
			t.hub.remove(w)
			return v, err
		}
		select {
		case <-w.ch:
			t.hub.remove(w)
		case <-ctx.Done():
			t.hub.remove(w)
			return since, ctx.Err()
		case <-t.done:
			t.hub.remove(w)
			return since, ErrClosed
		}
	}
}

// maxDirectWaiters is how many goroutines of a process wait for keys on
// the wake word themselves (waitDirect), each blocking an OS thread in
// FUTEX_WAIT; more wait through the hub, which blocks one thread for all
// of them but adds a second hand-off to every wake-up.
const maxDirectWaiters = 4

// waitDirect is one round of Wait with the waiting goroutine itself asleep
// on the wake word: a writer's FUTEX_WAKE wakes this thread, and Wait
// returns from it, with no hub goroutine to hand the wake-up on. It loads
// the wake word before it arms the doorbell and re-checks the key, so a
// write after the re-check, which sees the waiters bit and bumps the wake
// word, makes the FUTEX_WAIT return at once if it had not started. done
// is false for a wake-up that the caller should check (the key may not
// have changed: any ring in the segment, a cancelled context elsewhere,
// or the poll wakes it).
func (t *Table) waitDirect(ctx context.Context, key []byte, h, bell uint64, since Version) (v Version, err error, done bool) {
	var g uint32
	if err := t.guarded(func() {
		g = t.mem.Load32(segment.OffWake)
		t.arm(bell)
	}); err != nil {
		return since, err, true
	}
	if t.closing.Load() != 0 {
		return since, ErrClosed, true
	}
	if v, err := t.version(key, h); err != nil || v != since {
		return v, err, true
	}
	if err := ctx.Err(); err != nil {
		return since, err, true
	}
	start := time.Now()
	if t.spinUntilRung(g) {
		return since, nil, false
	}
	if ctx.Done() != nil {
		// A cancelled context wakes this thread (AfterFunc allocates:
		// not for a context that cannot be cancelled).
		stop := context.AfterFunc(ctx, t.kick)
		defer stop()
	}
	t.guarded(func() { t.mem.FutexWait(segment.OffWake, g, hubPoll) })
	// Spin next time unless this wait and the one before it were long:
	// the process is then waiting for rare changes, not in a
	// request-response rhythm (one long wait, a pause in the rhythm, does
	// not stop the spinning).
	t.longWait.Store((t.longWait.Load()<<1 | bit(time.Since(start) > waitSpinWorth)) & 3)
	if err := ctx.Err(); err != nil {
		return since, err, true
	}
	if t.closing.Load() != 0 {
		return since, ErrClosed, true
	}
	return since, nil, false
}

// waitSpin bounds how long waitDirect polls the wake word before it
// sleeps in FUTEX_WAIT: a wake-up that comes within it costs no system
// call and no thread wake-up on the waiting side. The Go scheduler spins
// the same way for goroutines it parks (a pipe's reader among them). It
// spins only while this table's direct waits end soon (within
// waitSpinWorth): once two in a row took longer, the process is waiting
// for rare changes, and its waits sleep at once, burning nothing, until
// one is short again.
const (
	waitSpin      = 50 * time.Microsecond
	waitSpinWorth = 200 * time.Microsecond
)

// spinUntilRung polls the wake word for up to waitSpin and reports
// whether it moved from g (something was rung: the caller re-checks),
// yielding the processor now and then so that a goroutine it would run
// is not kept waiting (with one processor, at once).
func (t *Table) spinUntilRung(g uint32) (rung bool) {
	if t.longWait.Load() == 3 {
		return false
	}
	var start time.Time
	t.guarded(func() {
		for i := 0; ; i++ {
			if t.mem.Load32(segment.OffWake) != g {
				rung = true
				return
			}
			if i%64 == 63 {
				if i == 63 {
					start = time.Now()
				} else if time.Since(start) > waitSpin {
					return
				}
				runtime.Gosched()
			}
		}
	})
	return rung
}

func (h *hub) add(t *Table, w *waiter) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.waiters == nil {
		h.waiters = map[*waiter]struct{}{}
	}
	h.waiters[w] = struct{}{}
	if !h.running {
		h.running = true
		go h.run(t)
	}
}

func (h *hub) remove(w *waiter) {
	h.mu.Lock()
	delete(h.waiters, w)
	h.mu.Unlock()
}

// run is the hub goroutine: it sleeps on the wake word and, on each
// wake-up (or poll), re-arms the doorbells of its waiters and wakes those
// whose keys (or the event ring) moved. It exits when nobody waits.
func (h *hub) run(t *Table) {
	var ws []*waiter
	for {
		if t.seg.Closed() {
			h.mu.Lock()
			h.running = false
			h.mu.Unlock()
			return
		}
		var g uint32
		if err := t.guarded(func() { g = t.mem.Load32(segment.OffWake) }); err != nil {
			h.mu.Lock()
			h.running = false
			h.mu.Unlock()
			return
		}
		h.mu.Lock()
		if len(h.waiters) == 0 {
			h.running = false
			h.mu.Unlock()
			return
		}
		ws = ws[:0]
		for w := range h.waiters {
			ws = append(ws, w)
		}
		h.mu.Unlock()
		for _, w := range ws {
			if t.moved(w) {
				select {
				case w.ch <- struct{}{}:
				default:
				}
			}
		}
		t.guarded(func() { t.mem.FutexWait(segment.OffWake, g, hubPoll) })
	}
}

// moved re-arms w's doorbell and reports whether what w waits for has
// happened (an error counts: the waiter will see it when it re-checks).
func (t *Table) moved(w *waiter) bool {
	if t.checkReplaced() != nil {
		return true // the waiter finds ErrReplaced when it looks again
	}
	if w.ring {
		var tail uint64
		if err := t.guarded(func() {
			t.arm(segment.OffRingBell)
			tail = t.mem.Load64(segment.OffRingTail)
		}); err != nil {
			return true
		}
		return tail != w.since
	}
	if err := t.guarded(func() { t.arm(doorbellOff(w.h)) }); err != nil {
		return true
	}
	v, err := t.version(w.key, w.h)
	return err != nil || uint64(v) != w.since
}
