package table

import (
	"fmt"
	"iter"
	"math"
	"time"

	"github.com/shmdict/shmdict/segment"
)

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
		for slot := uint64(0); slot < t.seg.Layout.Slots; slot++ {
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

// The range of deadlines a record can hold (i64 Unix nanoseconds).
var (
	latestDeadline   = time.Unix(0, math.MaxInt64)
	earliestDeadline = time.Unix(0, math.MinInt64)
)

// SetWithDeadline stores value under key until deadline, after which the
// key reads as absent: SetWithTTL with an absolute time, so that a dump
// and reload keeps deadlines exactly. deadline must be in the future. A
// deadline after the latest one a record can hold (math.MaxInt64 Unix
// nanoseconds, in the year 2262) stores that latest one, as SetWithTTL does.
func (t *Table) SetWithDeadline(key, value []byte, deadline time.Time) error {
	var dl int64
	switch {
	case deadline.After(latestDeadline):
		dl = math.MaxInt64 // UnixNano would be undefined (it wraps)
	case deadline.Before(earliestDeadline):
		dl = math.MinInt64 // in the past: refused below
	default:
		dl = deadline.UnixNano()
	}
	if dl == 0 {
		dl = 1 // 0 means "no deadline" in a record
	}
	if dl <= t.now() {
		return fmt.Errorf("%w: SetWithDeadline needs a deadline in the future (got %v)", ErrInvalid, deadline)
	}
	if err := t.guarded(func() {
		if t.mem.Load64(segment.OffTTLUsed) == 0 {
			t.mem.CAS64(segment.OffTTLUsed, 0, 1)
		}
	}); err != nil {
		return err
	}
	return t.set(key, value, dl)
}
