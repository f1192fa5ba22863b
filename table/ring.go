package table

import (
	"math"
	"time"

	"github.com/shmdict/shmdict/segment"
)

func doorbellOff(h uint64) uint64 { return segment.OffDoorbells + h%segment.Doorbells*4 }

// arm sets the waiters bit of the doorbell word at off.
func (t *Table) arm(off uint64) {
	for {
		v := t.mem.Load32(off)
		if v&1 != 0 || t.mem.CAS32(off, v, v|1) {
			return
		}
	}
}

// ringIfWaited rings the doorbell at off if some process armed it.
func (t *Table) ringIfWaited(off uint64) {
	for {
		v := t.mem.Load32(off)
		if v&1 == 0 {
			return
		}
		if t.mem.CAS32(off, v, (v+2)&^1) {
			break
		}
	}
	t.mem.Add32(segment.OffWake, 1)
	t.mem.FutexWake(segment.OffWake, math.MaxInt32)
}

// notify is called after a change of the key with hash h in slot from
// value word old to new: it appends a change event if the segment keeps
// them and rings the key's doorbell if anyone waits on it.
func (t *Table) notify(h, slot, old, new uint64, kind EventKind) {
	if t.ringMask != 0 {
		t.appendEvent(slot, old, new, kind)
	}
	if d := doorbellOff(h); t.mem.Load32(d)&1 != 0 {
		t.ringIfWaited(d)
	}
}

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
		if slot >= t.usedSlots() {
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
