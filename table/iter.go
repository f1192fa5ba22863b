package table

import (
	"iter"
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
	for slot := uint64(0); slot < t.seg.Layout.Slots; slot++ {
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
	for slot := uint64(0); slot < t.seg.Layout.Slots; slot++ {
		w0 := t.mem.Load64(t.slotOff(slot))
		if !live(w0) || isAbsent(t.mem.Load64(t.valueWordOff(slot))) {
			continue
		}
		var cleared bool
		if t.reuse {
			t.deleteReuse(slot, w0, &cleared)
			continue
		}
		u := unitOf(w0)
		off, n, ok := t.keyAt(u)
		if !ok {
			return errCorruptKey(t, u)
		}
		h := hash64(t.mem.Bytes(off, n), t.seed)
		t.clearSlot(slot, h, &cleared)
	}
	return nil
}
