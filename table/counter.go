package table

import (
	"fmt"
	"math/bits"
	"runtime/debug"

	"github.com/shmdict/shmdict/arena"
	"github.com/shmdict/shmdict/atomicx"
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
	// moved is the key's newer slot in a growing table, once the key was
	// deleted from the tier of slot and made again in a newer one
	// (tiers.go): Add tries it when slot no longer holds the counter.
	moved atomicx.Pointer[counterLoc]
}

// counterLoc is a slot of a Counter's key and its key word.
type counterLoc struct{ slot, kw uint64 }

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
		if m := c.moved.Load(); m != nil {
			if n, ok := c.t.addAt(m.slot, m.kw, c.bell, delta); ok {
				return n, nil
			}
		}
	}
	n, err = c.t.Add(c.key, delta)
	if err == nil && c.t.grows && c.kw != 0 {
		c.renew()
	}
	return n, err
}

// renew points the counter at its key's slot now, if that is not the slot
// it was made with (see moved).
func (c *Counter) renew() {
	var loc counterLoc
	h := hash64(c.key, c.t.seed)
	if c.t.guarded(func() {
		slot, sn, ok, err := c.t.find(c.key, h)
		if ok && err == nil && slot != c.slot {
			loc = counterLoc{slot: slot, kw: sn.w0}
		}
	}) == nil && loc.kw != 0 {
		c.moved.Store(&loc)
	}
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
		next, nw, inRange := counterStep(w, delta)
		if !inRange {
			return 0, false // the general path reports ErrRange
		}
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

// Add atomically adds delta to the counter at key and returns the new
// value. An absent key starts at 0; Add(key, 0) reads a counter without
// creating it. A key holding a byte value gives ErrNotCounter, and a
// result outside [MinCounter, MaxCounter] gives ErrRange (the counter is
// left unchanged). On a key that is a striped adder (Table.Adder), Add
// adds delta to this process's lane and returns the adder's sum, which
// includes every add that returned before Add was called (and may include
// ones made meanwhile); an adder's sum is not range-checked.
func (t *Table) Add(key []byte, delta int64) (int64, error) {
	if len(key) <= MaxKeyLen && delta != 0 && delta <= MaxCounter && delta >= MinCounter && !t.reuse && !t.seg.Closed() {
		if n, ok := t.addFast(key, hash64(key, t.seed), delta); ok {
			return n, nil
		}
	}
	return t.addSlow(key, delta)
}

// addSlow is Add for what addFast does not settle, under the full fault
// guard: a fault here (which a fault in addFast leads to as well, see
// addFast) becomes the operation's ErrFault or ErrClosed.
func (t *Table) addSlow(key []byte, delta int64) (n int64, err error) {
	if err := checkKey(key); err != nil {
		return 0, err
	}
	if delta > MaxCounter || delta < MinCounter {
		return 0, fmt.Errorf("%w: delta %d leaves [%d, %d]", ErrRange, delta, int64(MinCounter), int64(MaxCounter))
	}
	old, err := t.enter()
	if err != nil {
		return 0, err
	}
	committed := false
	defer t.exitWrite(old, &err, &committed)
	if err := t.notReplaced(); err != nil {
		return 0, err
	}
	h := hash64(key, t.seed)
retry:
	for {
		var slot, kw uint64
		if delta == 0 {
			var sn seen
			var ok bool
			slot, sn, ok, err = t.find(key, h)
			if err != nil || !ok {
				return 0, err
			}
			kw = sn.w0
		} else if slot, kw, err = t.findOrClaim(key, h); err != nil {
			return 0, err
		}
		woff := t.valueWordOff(slot)
		for {
			w, present, exp := t.settled(woff)
			var cur int64
			switch {
			case !present || exp:
				// Absent, or an expired value: the counter starts at 0.
			case isCounter(w):
				cur = counterOf(w)
			case isAdder(w):
				return t.addAdder(slot, h, w, delta, &committed)
			default: // a value
				ok, moved := t.confirm(t.slotOff(slot), kw, w)
				switch {
				case ok:
					return 0, fmt.Errorf("%w: %q", ErrNotCounter, clip(key))
				case moved:
					continue retry
				}
				continue
			}
			if delta == 0 {
				ok, moved := t.confirm(t.slotOff(slot), kw, w)
				switch {
				case ok:
					return cur, nil
				case moved:
					return 0, nil // retired: absent reads as 0
				}
				continue
			}
			next, nw, inRange := counterStep(counterWord(cur), delta)
			if !inRange {
				return cur, fmt.Errorf("%w: %d + %d leaves [%d, %d]", ErrRange, cur, delta, int64(MinCounter), int64(MaxCounter))
			}
			ok, moved := t.casValue(slot, kw, w, nw)
			if ok {
				committed = true
				segment.Failpoint(fpAddPublished)
				t.published(slot, kw, h, w, nw, EventAdd) // absent: counts the key; expired: frees its record
				return next, nil
			}
			if moved {
				continue retry
			}
		}
	}
}

// addFast is Add's common case in one pass: an existing counter or adder
// in the key's first probe group, in a segment without slot reuse,
// changed by one CAS (or one atomic add to this process's lane of an
// adder) that nothing else has to follow (no Len change, no record to
// free). ok is false for anything else, and Add then takes the general
// path; nothing changed then, except after a fault that came after the
// change (a Close under it, a file truncated under it), and then the
// general path fails too (ErrClosed, ErrFault): a change is never made
// twice. Like getFast, it has a fault guard of its own whose deferred
// function sets no results, and exists to cut instructions: counters are
// the hot loop of many users.
func (t *Table) addFast(key []byte, h uint64, delta int64) (n int64, ok bool) {
	defer t.fastDone(debug.SetPanicOnFault(true))
	if t.replaced.Load() != 0 {
		return 0, false
	}
	base := t.homeBase(h)
	match, _ := t.firstGroup(base, h)
	if match == 0 {
		return 0, false
	}
	j := uint64(bits.TrailingZeros64(match))
	woff := t.valueWordOff(base + j)
	// Key words and key records never change in a segment without reuse:
	// one comparison settles whose slot this is. The key record's header
	// is checked inline, as getFast does (a live record whose prefix is as
	// long as the key and ends inside the arena); anything else takes the
	// general path, which reports corruption.
	u := uint64(unitOf(t.mem.Load64(t.slotOff(base + j))))
	kl := uint64(len(key))
	if u-1 >= t.units-1 { // u is 0 or past the arena
		return 0, false
	}
	roff := t.arenaOff + u*arena.Unit
	hdr := t.mem.Load64(roff)
	if hdr>>56 != arena.LiveMagic || hdr>>32&0xFFFF != kl || u*arena.Unit+arena.HeaderBytes+kl > t.units*arena.Unit ||
		!t.mem.Equal(roff+arena.HeaderBytes, key) {
		return 0, false
	}
	for range 4 {
		w := t.mem.Load64(woff)
		if !isCounter(w) {
			if !isAdder(w) {
				return 0, false
			}
			committed := false
			n, err := t.addAdder(base+j, h, w, delta, &committed)
			return n, err == nil || committed
		}
		next, nw, inRange := counterStep(w, delta)
		if !inRange {
			return 0, false // the general path reports ErrRange
		}
		if t.mem.CAS64(woff, w, nw) {
			segment.Failpoint(fpAddPublished)
			t.notify(h, base+j, w, nw, EventAdd)
			return next, true
		}
	}
	return 0, false // heavy contention: the general path retries
}

// addAdder is Add on slot's adder, whose value word is w: it adds delta
// to this process's lane (setting *committed) and returns the sum. It
// runs under a fault guard.
func (t *Table) addAdder(slot, h, w uint64, delta int64, committed *bool) (int64, error) {
	i := adderIndex(w)
	if delta == 0 {
		return t.sumAt(i)
	}
	cell, err := t.laneCell(i)
	if err != nil {
		return 0, err
	}
	own := int64(cell.Add(delta))
	*committed = true
	segment.Failpoint(fpAdderAdded)
	t.notify(h, slot, w, w, EventAdd)
	// This lane's part is the add's own result; laneCell marked the lane.
	used := t.mem.Load64(segment.OffLanesUsed) & t.laneMask &^ (1 << t.lanes.lane)
	return own + t.sumLanes(used, i), nil
}
