package table

import (
	"context"
	"errors"
	"iter"
	"slices"
	"time"

	"github.com/shmdict/shmdict/segment"
)

// The change-event ring: RingEntries 32-byte entries in the segment
// (Options.EventRing; 0 disables subscriptions and costs writers nothing).
// A writer, after its publishing CAS, takes a position with an atomic add
// on the ring tail and fills entry pos mod RingEntries:
//
//	+0  u64 seq: pos+1 once published; writingBit|(pos+1) while being
//	        written (a writer takes an entry only from an older seq, so a
//	        writer that stalls for a whole lap loses its event, which
//	        subscribers count as missed)
//	+8  u64 value word before the change
//	+16 u64 value word after the change (the key's new Version; for an
//	        adder, whose word an add does not change, its bare word)
//	+24 u32 slot index
//	+28 u8  kind (EventKind)
//	+29 u24 lap: (pos / RingEntries) mod 2^24, written first, so that a
//	        writer stalled for a lap that lands its stores in a newer
//	        writer's entry makes that entry fail the reader's lap check
//	        (and count as missed) instead of mixing two changes
//
// Subscribers read entries seqlock-style (seq, payload, seq again). Two
// writers changing one key may append in the opposite order to their
// CASes; a subscriber restores per-key order by chaining each event's
// before-word to the previous event's after-word, holding an event
// briefly until its predecessor arrives. A predecessor that never comes (a
// writer killed between its CAS and its append, or an entry lost to a
// lap) is counted in Event.Missed.
//
// A chain's first event is the one case without a before-word to match:
// the first event a subscriber reads for a slot may have a predecessor
// appended after it (writer A sets the key, writer B sets it again, B
// appends first). So a slot's chain does not start with the first event
// read but once the subscriber has read every position taken before it
// looked again at the tail after that event: the predecessor's CAS came
// before the successor's CAS, hence before the successor's append, and
// its writer takes its position shortly after its CAS, so (unless it was
// descheduled in that window) the predecessor is in by then.
// The chain starts at the held event that no other held event leads to.
const (
	writingBit = 1 << 63
	// holdFor is how long a subscriber holds an out-of-order event, or
	// waits for an entry being written, before counting its predecessor
	// as missed. Appends follow their CAS within microseconds, but a
	// writer can be descheduled in between on a loaded machine; only a
	// writer that died there makes a subscriber wait this long.
	holdFor = 2 * time.Second
)

// EventKind says what a change event did.
type EventKind uint8

// Event kinds.
const (
	EventSet    EventKind = 1 // Set, CompareAndSwap, GetOrSet, SetIfAbsent stored a value
	EventDelete EventKind = 2 // Delete, CompareAndDelete, Clear removed the key
	EventAdd    EventKind = 3 // Add changed a counter
)

// String returns "set", "delete", "add", or "unknown".
func (k EventKind) String() string {
	switch k {
	case EventSet:
		return "set"
	case EventDelete:
		return "delete"
	case EventAdd:
		return "add"
	}
	return "unknown"
}

// Event is one change seen by a subscriber.
type Event struct {
	Key  []byte
	Kind EventKind
	// Version is the key's Version after the change; for an add to a
	// striped adder, the adder's word without its sum (Lookup's Version
	// of an adder includes the sum: compare Kinds, not Versions, there).
	Version Version
	// Missed counts events this subscriber lost just before this one: it
	// fell more than the ring's size behind, or a writer died between its
	// change and its event.
	Missed uint64
}

// ErrNoEvents: Subscribe on a table created without an event ring.
var ErrNoEvents = errors.New("shmdict: table keeps no change events (create it with Options.EventRing > 0)")

// lap is the 24-bit lap number of ring position pos.
func (t *Table) lap(pos uint64) uint64 {
	return pos / (t.ringMask + 1) & (1<<24 - 1)
}

func (t *Table) ringEntry(pos uint64) uint64 {
	return t.seg.Layout.RingOff + (pos&t.ringMask)*segment.RingEntrySize
}

// appendEvent records a change of slot from value word old to new.
func (t *Table) appendEvent(slot, old, new uint64, kind EventKind) {
	pos := t.mem.Add64(segment.OffRingTail, 1) - 1
	e := t.ringEntry(pos)
	mine := writingBit | (pos + 1)
	for {
		s := t.mem.Load64(e)
		if s&^writingBit >= pos+1 {
			return // a writer a lap ahead has this entry
		}
		if t.mem.CAS64(e, s, mine) {
			break
		}
	}
	t.mem.Store64(e+24, slot&0xFFFFFFFF|uint64(kind)<<32|t.lap(pos)<<40)
	t.mem.Store64(e+8, old)
	t.mem.Store64(e+16, new)
	t.mem.CAS64(e, mine, pos+1)
	if t.mem.Load32(segment.OffRingBell)&1 != 0 {
		t.ringIfWaited(segment.OffRingBell)
	}
}

// rawEvent is an entry as read from the ring.
type rawEvent struct {
	slot     uint64
	old, new uint64
	kind     EventKind
}

// readEntry reads ring position pos: ok if published, lost if it was
// overwritten by a later lap (or abandoned), neither if not yet published.
func (t *Table) readEntry(pos uint64) (ev rawEvent, ok, lost bool, err error) {
	err = t.guarded(func() {
		e := t.ringEntry(pos)
		s := t.mem.Load64(e)
		switch {
		case s == pos+1:
			ev.old = t.mem.Load64(e + 8)
			ev.new = t.mem.Load64(e + 16)
			meta := t.mem.Load64(e + 24)
			if t.mem.Load64(e) != s {
				return // rewritten while we read: look again
			}
			if meta>>40 != t.lap(pos) {
				lost = true // a stalled writer of an earlier lap wrote over it
				return
			}
			ev.slot, ev.kind, ok = meta&0xFFFFFFFF, EventKind(meta>>32&0xFF), true
		case s&^writingBit > pos+1:
			lost = true
		}
	})
	return ev, ok, lost, err
}

// slotKey copies the key of slot (nil if the slot holds none).
func (t *Table) slotKey(slot uint64) (key []byte, err error) {
	err = t.guarded(func() {
		if slot >= t.seg.Layout.Slots {
			return
		}
		w0 := t.mem.Load64(t.slotOff(slot))
		if !live(w0) {
			return
		}
		if k, err := t.recordKey([]byte{}, unitOf(w0)); err == nil {
			key = k
		}
	})
	return key, err
}

// held is an event waiting for its predecessor.
type held struct {
	ev    rawEvent
	since time.Time
}

// Subscribe returns an iterator over the changes made from now on, by any
// process, to keys starting with prefix (all keys for an empty prefix). It
// yields events in order per key; events of different keys may interleave
// differently than they happened. A subscriber that falls more than the
// ring's size behind is never waited for: it learns how many events it
// missed from Event.Missed. The iterator ends when ctx ends or the table
// closes, after yielding the error; it fails at once with ErrNoEvents if
// the table keeps no events.
func (t *Table) Subscribe(ctx context.Context, prefix []byte) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		if t.ringMask == 0 {
			yield(Event{}, ErrNoEvents)
			return
		}
		s := subscriber{t: t, prefix: prefix, keys: map[uint64][]byte{}, last: map[uint64]uint64{}, holds: map[uint64][]held{}, starts: map[uint64]uint64{}}
		if err := t.guarded(func() { s.pos = t.mem.Load64(segment.OffRingTail) }); err != nil {
			yield(Event{}, err)
			return
		}
		for {
			ok, err := s.step(ctx, yield)
			if err != nil {
				yield(Event{}, err)
				return
			}
			if !ok {
				return
			}
		}
	}
}

type subscriber struct {
	t        *Table
	prefix   []byte
	pos      uint64
	missed   uint64
	keys     map[uint64][]byte // slot -> its key (slots never change keys)
	last     map[uint64]uint64 // slot -> value word after the last event delivered
	holds    map[uint64][]held // slot -> events waiting for their predecessor
	starts   map[uint64]uint64 // slot -> ring position to read up to before its chain starts (0: not yet chosen)
	waitFrom time.Time         // when pos was first seen unpublished
}

// step consumes what the ring holds (or waits for more) and reports
// whether to go on.
func (s *subscriber) step(ctx context.Context, yield func(Event, error) bool) (bool, error) {
	t := s.t
	if err := t.checkReplaced(); err != nil {
		return false, err
	}
	var tail uint64
	if err := t.guarded(func() { tail = t.mem.Load64(segment.OffRingTail) }); err != nil {
		return false, err
	}
	if size := t.ringMask + 1; tail-s.pos > size {
		s.missed += tail - size - s.pos
		s.pos = tail - size
		if !s.resync(yield) {
			return false, nil
		}
	}
	for s.pos < tail {
		ev, ok, lost, err := t.readEntry(s.pos)
		if err != nil {
			return false, err
		}
		switch {
		case ok:
			s.pos++
			s.waitFrom = time.Time{}
			if !s.accept(ev, yield) {
				return false, nil
			}
		case lost:
			s.pos++
			s.missed++
			if !s.resync(yield) {
				return false, nil
			}
		default: // being written: wait briefly, then give it up
			if s.waitFrom.IsZero() {
				s.waitFrom = time.Now()
			}
			if time.Since(s.waitFrom) > holdFor {
				// Its writer died (or stalled a lap): count it once, and
				// do not count the chain gap it leaves again.
				s.pos++
				s.missed++
				s.waitFrom = time.Time{}
				if !s.resync(yield) {
					return false, nil
				}
				continue
			}
			return s.sleep(ctx, 100*time.Microsecond)
		}
	}
	if len(s.starts) > 0 {
		var now uint64
		if err := t.guarded(func() { now = t.mem.Load64(segment.OffRingTail) }); err != nil {
			return false, err
		}
		if !s.startChains(now, yield) {
			return false, nil
		}
		if len(s.starts) > 0 {
			return true, nil // read on to their marks before sleeping
		}
	}
	if !s.flushExpired(yield) {
		return false, nil
	}
	timeout := time.Duration(0)
	if len(s.holds) > 0 {
		timeout = holdFor
	}
	return s.waitTail(ctx, tail, timeout)
}

// accept delivers ev if it continues its key's chain (and then any held
// events that continue it further), or holds it, as it does every event of
// a key whose chain has not started yet (startChains).
func (s *subscriber) accept(ev rawEvent, yield func(Event, error) bool) bool {
	if !s.wanted(ev.slot) {
		return true
	}
	last, known := s.last[ev.slot]
	if _, starting := s.starts[ev.slot]; !known && !starting {
		s.starts[ev.slot] = 0 // its predecessor may come later in the ring
	}
	if !known || ev.old != last {
		s.holds[ev.slot] = append(s.holds[ev.slot], held{ev: ev, since: time.Now()})
		return true
	}
	if !s.deliver(ev, yield) {
		return false
	}
	return s.drain(ev.slot, yield)
}

// startChains starts the chains of the slots whose first events the
// subscriber has read up to their mark: the ring tail it read (as now)
// after reading them. Each starts at its held event that no other held
// event leads to, and continues with those that follow it.
func (s *subscriber) startChains(now uint64, yield func(Event, error) bool) bool {
	for slot, mark := range s.starts {
		if mark == 0 {
			mark = now
			s.starts[slot] = mark
		}
		if s.pos < mark {
			continue
		}
		delete(s.starts, slot)
		hs := s.holds[slot]
		if len(hs) == 0 {
			continue
		}
		first := 0
		for i, h := range hs {
			if !slices.ContainsFunc(hs, func(o held) bool { return o.ev.new == h.ev.old }) {
				first = i
				break
			}
		}
		ev := hs[first].ev
		s.holds[slot] = slices.Delete(hs, first, first+1)
		if !s.deliver(ev, yield) || !s.drain(slot, yield) {
			return false
		}
	}
	return true
}

// drain delivers the held events of slot that now continue its chain.
func (s *subscriber) drain(slot uint64, yield func(Event, error) bool) bool {
	for {
		hs := s.holds[slot]
		found := -1
		for i, h := range hs {
			if h.ev.old == s.last[slot] {
				found = i
				break
			}
		}
		if found < 0 {
			if len(hs) == 0 {
				delete(s.holds, slot)
			}
			return true
		}
		ev := hs[found].ev
		s.holds[slot] = append(hs[:found], hs[found+1:]...)
		if !s.deliver(ev, yield) {
			return false
		}
	}
}

// resync forgets per-key chains after events were lost from the ring
// (already counted in missed): a lost event may have been any key's link,
// so held events are delivered as they are, and chains restart. The
// chains are forgotten after the held events are delivered (which sets
// their keys' last words): a key's next event must start its chain again
// (startChains), not wait as a gap for a predecessor that was lost, which
// would hold it for holdFor and count the loss a second time.
func (s *subscriber) resync(yield func(Event, error) bool) bool {
	clear(s.starts)
	for slot, hs := range s.holds {
		delete(s.holds, slot)
		for _, h := range hs {
			if !s.deliver(h.ev, yield) {
				return false
			}
		}
	}
	clear(s.last)
	return true
}

// flushExpired gives up on the predecessors of events held too long:
// each gap counts one missed event.
func (s *subscriber) flushExpired(yield func(Event, error) bool) bool {
	for slot, hs := range s.holds {
		if _, starting := s.starts[slot]; starting {
			continue // startChains decides its first event
		}
		if len(hs) == 0 || time.Since(hs[0].since) < holdFor {
			continue
		}
		ev := hs[0].ev
		s.holds[slot] = hs[1:]
		s.missed++
		if !s.deliver(ev, yield) || !s.drain(slot, yield) {
			return false
		}
	}
	return true
}

// wanted reports whether slot's key matches the prefix, reading each
// slot's (immutable) key once and caching the key.
func (s *subscriber) wanted(slot uint64) bool {
	key, ok := s.keys[slot]
	if !ok {
		k, err := s.t.slotKey(slot)
		if err != nil || k == nil {
			return false
		}
		key = k
		s.keys[slot] = key
	}
	return len(key) >= len(s.prefix) && string(key[:len(s.prefix)]) == string(s.prefix)
}

func (s *subscriber) deliver(ev rawEvent, yield func(Event, error) bool) bool {
	s.last[ev.slot] = ev.new
	key := append([]byte(nil), s.keys[ev.slot]...)
	e := Event{Key: key, Kind: ev.kind, Version: Version(ev.new), Missed: s.missed}
	s.missed = 0
	return yield(e, nil)
}

// waitTail blocks until the ring tail moves past tail, ctx ends, the
// table closes, or timeout (if positive) elapses.
func (s *subscriber) waitTail(ctx context.Context, tail uint64, timeout time.Duration) (bool, error) {
	t := s.t
	w := &waiter{ring: true, since: tail, ch: make(chan struct{}, 1)}
	t.hub.add(t, w)
	defer t.hub.remove(w)
	var now uint64
	if err := t.guarded(func() {
		t.arm(segment.OffRingBell)
		now = t.mem.Load64(segment.OffRingTail)
	}); err != nil {
		return false, err
	}
	if now != tail {
		return true, nil
	}
	var timer <-chan time.Time
	if timeout > 0 {
		tm := time.NewTimer(timeout)
		defer tm.Stop()
		timer = tm.C
	}
	select {
	case <-w.ch:
		return true, nil
	case <-timer:
		return true, nil
	case <-ctx.Done():
		return false, ctx.Err()
	case <-t.done:
		return false, ErrClosed
	}
}

func (s *subscriber) sleep(ctx context.Context, d time.Duration) (bool, error) {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true, nil
	case <-ctx.Done():
		return false, ctx.Err()
	case <-s.t.done:
		return false, ErrClosed
	}
}
