package table

import (
	"fmt"
	"runtime/debug"

	"github.com/shmdict/shmdict/segment"
)

// Counter is a handle on one key's int64 counter, for hot loops that add
// to the same keys over and over (request counts, rate limits, metrics).
// Table.Counter finds the key's slot once; each Counter.Add is then one
// CAS on the slot's value word, without hashing the key, probing, or
// comparing key bytes. The result is the same as Table.Add on the key:
// a Counter and Add calls on its key, from any process, share one value.
//
// A Counter is safe for concurrent use by many goroutines. It holds no
// lock and no resource: drop it when done. It stays valid across Delete
// and Clear of its key (the next Add starts the counter again at 0). Once
// its table is closed, every call returns ErrClosed.
//
// In a table with eviction (Options.Eviction), the key's slot can be
// evicted and reused by another key at any time, so a Counter there takes
// Table.Add's full path on every call: it is correct, but no faster.
type Counter struct {
	t   *Table
	key []byte
	// bell is the offset of the key's doorbell word (see notify).
	bell uint64
	// slot and kw are the key's slot and key word, found at creation, or
	// kw is 0 where every Add takes Table.Add's path (eviction tables).
	// In a table without eviction, a claimed slot keeps its key for the
	// table's life (only an exclusive Repair retires slots), so they never
	// go stale; Add still checks kw, which costs no extra cache line.
	slot, kw uint64
}

// Counter returns a handle on key's counter. Unless the table evicts, it
// claims key's slot now if the key is absent (the key does not count in
// Len until its first Add), so it fails with ErrFull where Add would. A
// key that holds a non-counter value is allowed: Counter.Add then fails
// with ErrNotCounter, as Add does, until the key is deleted or set to a
// counter.
func (t *Table) Counter(key []byte) (c *Counter, err error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	fo, err := t.enter()
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			c = nil
		}
	}()
	defer t.exit(fo, &err)
	h := hash64(key, t.seed)
	c = &Counter{t: t, key: append([]byte(nil), key...), bell: doorbellOff(h)}
	if t.reuse {
		return c, nil
	}
	if c.slot, c.kw, err = t.findOrClaim(c.key, h); err != nil {
		return nil, err
	}
	return c, nil
}

// Key returns a copy of the counter's key.
func (c *Counter) Key() []byte { return append([]byte(nil), c.key...) }

// Add adds delta to the counter and returns the new value, like
// Table.Add(key, delta): an absent (or deleted, or expired) key starts at
// 0, a key holding another kind of value gives ErrNotCounter, and a result
// outside [MinCounter, MaxCounter] gives ErrRange and changes nothing.
func (c *Counter) Add(delta int64) (n int64, err error) {
	if c.kw != 0 && delta != 0 && delta <= MaxCounter && delta >= MinCounter && !c.t.seg.Closed() {
		if n, ok := c.t.addAt(c.slot, c.kw, c.bell, delta); ok {
			return n, nil
		}
	}
	return c.t.Add(c.key, delta)
}

// Load returns the counter's value: Table.Add(key, 0). An absent key
// reads as 0 (and is not created).
func (c *Counter) Load() (int64, error) { return c.t.Add(c.key, 0) }

// addAt is Counter.Add's one-CAS path: slot must hold key word kw and a
// counter, and delta must keep it in range. ok is false for anything else,
// and the caller then takes Table.Add's path; nothing changed then, except
// after a fault that came after the CAS, and then that path fails too (see
// addFast). Its fault guard sets no results, as addFast's.
func (t *Table) addAt(slot, kw, bell uint64, delta int64) (n int64, ok bool) {
	defer t.fastDone(debug.SetPanicOnFault(true))
	if t.replaced.Load() != 0 {
		return 0, false
	}
	off := t.slotOff(slot)
	woff := t.valueWordOff(slot)
	for range 4 {
		if t.mem.Load64(off) != kw {
			return 0, false
		}
		w := t.mem.Load64(woff)
		if !isCounter(w) {
			return 0, false
		}
		cur := counterOf(w)
		next, inRange := addCounter(cur, delta)
		if !inRange {
			return 0, false // the general path reports ErrRange
		}
		nw := counterWord(next)
		if t.mem.CAS64(woff, w, nw) {
			segment.Failpoint(fpAddPublished)
			// notify's two steps, inline and with the doorbell offset
			// known: a call here cost a fifth of the path's throughput
			// from 2 processes (BenchmarkCounterProcs).
			if t.ringMask != 0 {
				t.appendEvent(slot, w, nw, EventAdd)
			}
			if t.mem.Load32(bell)&1 != 0 {
				t.ringIfWaited(bell)
			}
			return next, true
		}
	}
	return 0, false // heavy contention: the general path retries
}

// String describes the counter for logs.
func (c *Counter) String() string { return fmt.Sprintf("table.Counter(%q)", clip(c.key)) }
