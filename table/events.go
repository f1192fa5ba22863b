package table

import (
	"context"
	"errors"
	"iter"
	"slices"
	"time"

	"github.com/shmdict/shmdict/segment"
)

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
