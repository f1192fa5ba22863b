package table

import (
	"fmt"
	"runtime/debug"

	"github.com/shmdict/shmdict/atomicx"
	"github.com/shmdict/shmdict/segment"
)

// Striped adders.
//
// An adder is a counter whose value is spread over lanes, so that
// processes adding to it never share a cache line. The segment has
// Layout.Lanes lanes (64 by default) of Layout.Adders cells (i64) each,
// in a region after the arena (segment/layout.go). An adder's value word
// holds its index i (slot.go): its sum is the sum of cell i of every lane
// in use. A process adds to lane (registry entry mod Lanes) with one
// atomic add, so two live processes share no lane, and so no cache line,
// until more than Lanes processes are attached; past that, processes whose
// entries are Lanes apart share a lane and stay exact (the add is
// atomic). A lane's cells for different adders are adjacent: the cells
// one process adds to sit on that process's own cache lines.
//
// Exactness. A lane cell only ever changes by atomic adds, and a lane is
// never cleared: the adds of a process that exited or was killed stay in
// its lane, and the next process to take its registry entry adds on top
// of them. A process marks its lane in use (OffLanesUsed) before its first
// add to it, and Sum reads every marked lane, so Sum includes every Add
// that returned before Sum started. It may include Adds that run while it
// reads (lanes are read one after another, like Java's LongAdder.sum), and
// it is exact once adds stop.
//
// Indices. An index is handed out (OffAdderNext) when a key becomes an
// adder and never again in the segment's life, so a cell is never reused
// while a stalled process may still add to it: an Add that checked the
// value word and then stalled through a Delete of its key adds to the
// deleted adder's cells, which no one reads; it counts as made before the
// Delete. Deleting an adder (or replacing it with a value) leaves its
// index used until Compact, which renumbers the adders it copies. The
// lane pages are allocated (fallocate) as a process first uses them, and
// only those pages take memory.
//
// Memory per adder, at the defaults: 8 bytes in each lane a process has
// used, so 16 bytes with 2 processes, 512 with 64, plus its slot and key
// record like any key; address space: 8 bytes x 64 lanes per index.

// Adder is a handle on a striped counter (see Table.Adder): Add costs one
// atomic add on a cache line of this process's own, whatever other
// processes do. A key that is an adder reads as a counter everywhere:
// Get returns its sum in 8 little-endian bytes, Table.Add adds to this
// process's lane, Delete and Set replace it.
//
// An Adder is safe for concurrent use by many goroutines (they share this
// process's lane). It holds no resource: drop it when done. It stays valid
// across Delete and Clear of its key: the next Add makes the key an adder
// again, starting at 0. Once its table is closed, every call returns
// ErrClosed.
//
// An adder's sum is int64 arithmetic, wrapping on overflow like
// sync/atomic's Int64 (a plain counter's range errors would need every
// lane read on every Add).
type Adder struct {
	t    *Table
	key  []byte
	h    uint64
	bell uint64 // the key's doorbell word
	st   atomicx.Pointer[adderState]
}

// adderState is what an Adder knows of its key's current adder.
type adderState struct {
	word uint64       // the adder's value word
	cell atomicx.Word // this process's lane cell of it (zero before the first Add)
	// slot is the key's slot and wp its value word. A slot keeps its key
	// for the table's life, but in a growing table a key deleted from an
	// older tier and made again lives in a newer one (tiers.go).
	slot uint64
	wp   atomicx.Word
}

// Adder returns a handle on key as a striped counter, making key an adder
// now if it is absent (starting at 0; it counts in Len from then on). A
// key that holds a byte value or a plain counter (Add, Counter) gives
// ErrNotCounter: delete it first to turn it into an adder. A table with
// eviction has no adders (ErrInvalid). Every adder made in a table,
// including each one made again after a Delete, takes an index of the
// table's lanes until Compact; ErrFull reports that none is left.
func (t *Table) Adder(key []byte) (a *Adder, err error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	if t.seg.Layout.Lanes == 0 { // a table with eviction has no lanes
		return nil, t.errNoAdders()
	}
	fo, err := t.enter()
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			a = nil
		}
	}()
	defer t.exit(fo, &err)
	if err := t.notReplaced(); err != nil {
		return nil, err
	}
	h := hash64(key, t.seed)
	a = &Adder{t: t, key: append([]byte(nil), key...), h: h, bell: doorbellOff(h)}
	_, st, err := t.adderOf(a.key, h, false)
	if err != nil {
		return nil, err
	}
	a.st.Store(st)
	return a, nil
}

// Key returns a copy of the adder's key.
func (a *Adder) Key() []byte { return append([]byte(nil), a.key...) }

// String describes the adder for logs.
func (a *Adder) String() string { return fmt.Sprintf("table.Adder(%q)", clip(a.key)) }

// Add adds delta to this process's lane of the adder. It fails only if the
// table is closed or replaced, if the key was deleted and cannot become an
// adder again (ErrFull), or if it now holds a byte value or a plain
// counter (ErrNotCounter).
func (a *Adder) Add(delta int64) error {
	if a.addFast(delta) {
		return nil
	}
	return a.addSlow(delta)
}

// addFast is Add's common case: the key is still the adder a last saw.
// It reports whether it added; when it did not, nothing changed, except
// after a fault that came after its add (a Close under it, a file
// truncated under it), and then addSlow fails too (ErrClosed, ErrFault).
// Like getFast it has a fault guard of its own whose deferred function
// does not set results: one that did cost a third of the Add.
func (a *Adder) addFast(delta int64) bool {
	t := a.t
	if t.seg.Closed() {
		return false
	}
	defer t.fastDone(debug.SetPanicOnFault(true))
	st := a.st.Load()
	if st.cell.IsZero() || t.replaced.Load() != 0 || st.wp.Load() != st.word {
		return false
	}
	st.cell.Add(delta)
	segment.Failpoint(fpAdderAdded)
	if t.ringMask != 0 {
		t.appendEvent(st.slot, st.word, st.word, EventAdd)
	}
	if t.mem.Load32(a.bell)&1 != 0 {
		t.ringIfWaited(a.bell)
	}
	return true
}

// addSlow is Add for what addFast does not settle, under the full fault
// guard: the key was deleted, or is another adder by now, or holds
// something else, or the table is closed or replaced.
func (a *Adder) addSlow(delta int64) (err error) {
	t := a.t
	fo, err := t.enter()
	if err != nil {
		return err
	}
	committed := false
	defer t.exitWrite(fo, &err, &committed)
	if err := t.notReplaced(); err != nil {
		return err
	}
	_, st, err := t.adderOf(a.key, a.h, true)
	if err != nil {
		return err
	}
	a.st.Store(st)
	st.cell.Add(delta)
	committed = true
	segment.Failpoint(fpAdderAdded)
	t.notify(a.h, st.slot, st.word, st.word, EventAdd)
	return nil
}

// Sum returns the adder's sum: every Add that returned before Sum was
// called is in it, Adds that run meanwhile may be. A key that is no longer
// an adder reads as Table.Add(key, 0) does: 0 if absent, a plain
// counter's value, ErrNotCounter for a byte value.
func (a *Adder) Sum() (int64, error) {
	n, ok, err := a.sumFast()
	if ok || err != nil {
		return n, err
	}
	return a.t.Add(a.key, 0)
}

func (a *Adder) sumFast() (n int64, ok bool, err error) {
	t := a.t
	fo, err := t.enter()
	if err != nil {
		return 0, false, err
	}
	defer t.exit(fo, &err)
	if err := t.notReplaced(); err != nil {
		return 0, false, err
	}
	st := a.st.Load()
	if st.wp.Load() != st.word {
		return 0, false, nil
	}
	n, err = t.sumAt(adderIndex(st.word))
	return n, err == nil, err
}

// adderOf returns key's slot and adder, making key an adder if it is
// absent (or its value expired). It fails with ErrNotCounter if key holds
// anything else. The adder comes with this process's lane cell if lane is
// set (a handle takes its lane at its first Add: one that only reads the
// sum takes none). It runs under a fault guard.
func (t *Table) adderOf(key []byte, h uint64, lane bool) (slot uint64, st *adderState, err error) {
	slot, kw, err := t.findOrClaim(key, h)
	if err != nil {
		return 0, nil, err
	}
	woff := t.valueWordOff(slot)
	idx := ^uint64(0) // the index this call took, if any
	for {
		w, present, exp := t.settled(woff)
		switch {
		case !present || exp:
			// Absent, or an expired value: the key becomes an adder (below).
		case isAdder(w):
			st := &adderState{word: w, slot: slot, wp: t.mem.Word(woff)}
			if lane {
				if st.cell, err = t.laneCell(adderIndex(w)); err != nil {
					return 0, nil, err
				}
			}
			return slot, st, nil
		case isCounter(w):
			return 0, nil, fmt.Errorf("%w: %q holds a plain counter; delete it to make it an adder", ErrNotCounter, clip(key))
		default: // a value
			return 0, nil, fmt.Errorf("%w: %q", ErrNotCounter, clip(key))
		}
		// Absent, or an expired value: the key becomes an adder.
		if idx == ^uint64(0) {
			if idx, err = t.newAdderIndex(); err != nil {
				return 0, nil, err
			}
		}
		nw := adderWord(idx)
		ok, moved := t.casValue(slot, kw, w, nw)
		if moved {
			// A sealed slot of a growing table: the key is claimed anew.
			if slot, kw, err = t.findOrClaim(key, h); err != nil {
				return 0, nil, err
			}
			woff = t.valueWordOff(slot)
			continue
		}
		if ok {
			segment.Failpoint(fpAdderPublished)
			t.published(slot, kw, h, w, nw, EventAdd) // absent: counts the key; expired: frees its record
			// Published: a Delete before the reload below must not get
			// the same index published again.
			idx = ^uint64(0)
		}
	}
}
