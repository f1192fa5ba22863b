package table

import (
	"fmt"
	"iter"
	"time"
)

// All returns an iterator over the table's keys and values, in slot
// order. Each pair yielded is consistent (the value is one the key held at
// some moment during the call), and the slices are fresh copies the
// caller owns. Concurrent changes by other goroutines or processes may or
// may not be seen; a key present for the whole iteration is yielded
// exactly once. Iteration stops early if the table is closed or corrupt
// (use AllErr to see why).
func (t *Table) All() iter.Seq2[[]byte, []byte] {
	return func(yield func([]byte, []byte) bool) {
		t.AllErr(yield)
	}
}

// AllErr calls yield for each key and value like All and returns the
// error that stopped it, if any (nil when every key was visited or yield
// returned false).
func (t *Table) AllErr(yield func(key, value []byte) bool) error {
	end, err := t.scanEnd()
	if err != nil {
		return err
	}
	for slot := uint64(0); slot < end; slot++ {
		k, v, ok, err := t.entryAt(slot)
		if err != nil {
			return err
		}
		if ok && !yield(k, v) {
			return nil
		}
	}
	return nil
}

// entryAt copies out the key and value of slot, if it holds a present key.
// Faults are caught here, per entry, so that yield runs outside the
// guard.
func (t *Table) entryAt(slot uint64) (key, value []byte, ok bool, err error) {
	fo, err := t.enter()
	if err != nil {
		return nil, nil, false, err
	}
	defer t.exit(fo, &err)
	w0 := t.mem.Load64(t.slotOff(slot))
	if !live(w0) {
		return nil, nil, false, nil
	}
	woff := t.valueWordOff(slot)
	w1 := t.mem.Load64(woff)
	if isAbsent(w1) {
		return nil, nil, false, nil
	}
	key, ok, err = t.slotKeyAt(slot, w0)
	if err != nil || !ok {
		return nil, nil, false, err
	}
	value, present, err := t.readValue(nil, woff, seen{w0: w0, w1: w1})
	if err != nil || !present {
		return nil, nil, false, err
	}
	if value == nil {
		value = []byte{}
	}
	return key, value, true, nil
}

// Keys returns an iterator over the keys (see All).
func (t *Table) Keys() iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		for k := range t.All() {
			if !yield(k) {
				return
			}
		}
	}
}

// Clear deletes every key. It is not atomic: writes by others during
// Clear may survive it. Slots stay claimed by their keys (see Options),
// except in a table with eviction, where each key's slot is retired and
// can be claimed again.
func (t *Table) Clear() (err error) {
	fo, err := t.enter()
	if err != nil {
		return err
	}
	defer t.exit(fo, &err)
	if err := t.notReplaced(); err != nil {
		return err
	}
	for slot := uint64(0); slot < t.usedSlots(); slot++ {
		w0 := t.mem.Load64(t.slotOff(slot))
		if !live(w0) || isAbsent(t.mem.Load64(t.valueWordOff(slot))) {
			continue
		}
		u := unitOf(w0)
		off, n, ok := t.keyAt(u)
		if !ok {
			if t.mem.Load64(t.slotOff(slot)) != w0 {
				continue // retired meanwhile (a table with eviction)
			}
			return errCorruptKey(t, u)
		}
		var cleared bool
		t.deleteKey(slot, hash64(t.mem.Bytes(off, n), t.seed), w0, &cleared)
	}
	return nil
}

// Entry is one present key as Entries sees it: its value or counter and,
// for a value stored with a TTL, its deadline. Each Entry is consistent
// (read under one value word), like All's pairs.
type Entry struct {
	Key []byte
	// Value is the value's bytes; nil for a counter.
	Value []byte
	// Counter is the counter's value when IsCounter is set: a plain
	// counter's, or a striped adder's sum (then IsAdder is set too).
	Counter   int64
	IsCounter bool
	IsAdder   bool
	// Expires is the deadline of a value stored with a TTL; zero if none.
	Expires time.Time
}

// Entries yields every present key with what All cannot tell apart: whether
// it is a counter (All yields a counter as 8 bytes) and its TTL deadline.
// It is what a dump needs. The same rules as All apply to concurrent
// changes; iteration stops at the first error, which is yielded.
func (t *Table) Entries() iter.Seq2[Entry, error] {
	return func(yield func(Entry, error) bool) {
		end, err := t.scanEnd()
		if err != nil {
			yield(Entry{}, err)
			return
		}
		for slot := uint64(0); slot < end; slot++ {
			e, ok, err := t.fullEntryAt(slot)
			if err != nil {
				yield(Entry{}, err)
				return
			}
			if ok && !yield(e, nil) {
				return
			}
		}
	}
}

// fullEntryAt reads slot's key, value word, value and deadline, retrying
// until the value word is the same before and after the reads.
func (t *Table) fullEntryAt(slot uint64) (e Entry, ok bool, err error) {
	fo, err := t.enter()
	if err != nil {
		return Entry{}, false, err
	}
	defer t.exit(fo, &err)
	w0 := t.mem.Load64(t.slotOff(slot))
	if !live(w0) {
		return Entry{}, false, nil
	}
	key, ok, err := t.slotKeyAt(slot, w0)
	if err != nil || !ok {
		return Entry{}, false, err
	}
	e.Key = key
	woff := t.valueWordOff(slot)
	for {
		w1 := t.mem.Load64(woff)
		if isAbsent(w1) {
			return Entry{}, false, nil
		}
		if isAdder(w1) {
			n, err := t.sumAt(adderIndex(w1))
			if err != nil {
				return Entry{}, false, err
			}
			e.Counter, e.IsCounter, e.IsAdder = n, true, true
			return e, true, nil
		}
		if isCounter(w1) {
			ok, moved := t.confirm(t.slotOff(slot), w0, w1)
			switch {
			case ok:
				e.Counter, e.IsCounter = counterOf(w1), true
				return e, true, nil
			case moved:
				return Entry{}, false, nil // retired: gone
			}
			continue
		}
		var dl int64
		if expires(w1) {
			d, good := t.deadline(w1)
			if !good {
				if t.mem.Load64(woff) != w1 {
					continue
				}
				return Entry{}, false, fmt.Errorf("%w: expiring value record of %q is malformed", ErrCorrupt, clip(e.Key))
			}
			dl = d
		}
		v, present, err := t.readValue(nil, woff, seen{w0: w0, w1: w1})
		if err != nil {
			return Entry{}, false, err
		}
		if t.mem.Load64(woff) != w1 {
			continue // the value (or its deadline) changed under the reads
		}
		if !present {
			return Entry{}, false, nil // expired
		}
		if v == nil {
			v = []byte{}
		}
		e.Value = v
		if dl != 0 {
			e.Expires = time.Unix(0, dl)
		}
		return e, true, nil
	}
}
