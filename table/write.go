package table

import (
	"fmt"
	"math"
	"time"

	"github.com/shmdict/shmdict/segment"
)

// Set stores value under key, replacing any value or counter. The bytes
// are copied into the table; the old value's space is reused.
func (t *Table) Set(key, value []byte) error { return t.set(key, value, 0) }

// set stores value under key, with a deadline (Unix ns) unless 0.
func (t *Table) set(key, value []byte, deadline int64) (err error) {
	if err := checkKey(key); err != nil {
		return err
	}
	if err := checkValue(value); err != nil {
		return err
	}
	head := 0
	if deadline != 0 {
		head = 8
	}
	if err := checkRecord(key, value, head); err != nil {
		return err
	}
	old, err := t.enter()
	if err != nil {
		return err
	}
	committed := false
	defer t.exitWrite(old, &err, &committed)
	if err := t.notReplaced(); err != nil {
		return err
	}
	r := newValue{t: t, key: key, value: value, deadline: deadline, h: hash64(key, t.seed)}
	defer func() { r.release(committed) }()
	for {
		slot, kw, err := t.findOrClaimPrepared(key, r.h, r.prepare)
		if err != nil {
			return err
		}
		r.claimed(kw)
		if err := r.write(slot); err != nil {
			return err
		}
		woff := t.valueWordOff(slot)
		for {
			w := t.mem.Load64(woff)
			nw := nextValueWord(w, r.u)
			if deadline != 0 {
				nw |= expiresBit
			}
			ok, moved := t.casValue(slot, kw, w, nw)
			if ok {
				committed = true
				segment.Failpoint(fpValuePublished)
				t.published(slot, kw, r.h, w, nw, EventSet)
				t.sweepSome(deadline != 0)
				return nil
			}
			if moved {
				// The slot was retired, or sealed (tiers.go): find the
				// key again. A record the claim took as that slot's key
				// record stays its key record: write another.
				r.unpin()
				break
			}
		}
	}
}

// newValue is the record a Set-like write (Set, GetOrSet) publishes. For
// a key that may be absent it is written before the claim (prepare), so
// that the claim can take it as the key's key record (see claim);
// otherwise once the key's slot is found (write), from the slot's shard,
// where its old record will be freed.
type newValue struct {
	t          *Table
	key, value []byte
	deadline   int64 // Unix ns; 0: none
	h          uint64
	u          uint32 // the record, once written
	pinned     bool   // u is the key record of the slot the write claimed
}

// prepare writes the record for a claim and returns it if the claim may
// take it as the key record: not if it expires or is large (then the
// claim writes a key record of its own).
func (r *newValue) prepare() (_ uint32, err error) {
	if r.u == 0 {
		r.u, err = r.t.writeRecord(r.key, r.deadline, r.value, int(r.h%segment.FreeShards))
	}
	if r.deadline != 0 || !r.t.pinnable(r.key, r.value) {
		return 0, err
	}
	return r.u, err
}

// claimed notes the key word of the slot found or claimed: if it names
// the record, the record is the key's key record, never freed here.
func (r *newValue) claimed(kw uint64) {
	r.pinned = r.pinned || (r.u != 0 && unitOf(kw) == r.u)
}

// write writes the record, if prepare did not, for the key found in
// slot. Only for a key that find found: an absent key's record was
// written before its claim, so a write that fails here claimed nothing
// and gives nothing back. The slot may be another writer's claim, between
// its promotion and its value.
func (r *newValue) write(slot uint64) (err error) {
	if r.u == 0 {
		r.u, err = r.t.writeRecord(r.key, r.deadline, r.value, shardOf(slot))
	}
	return err
}

// unpin forgets the record if a claim took it as a key record: the write
// found that slot sealed and needs a record of its own for the key's
// next slot.
func (r *newValue) unpin() {
	if r.pinned {
		r.u, r.pinned = 0, false
	}
}

// release frees the record unless the write published it or a claim took
// it as a key record.
func (r *newValue) release(committed bool) {
	if !committed && !r.pinned && r.u != 0 {
		r.t.ar.Free(r.u, int(r.h%segment.FreeShards))
	}
}

// Delete removes key and reports whether it was present.
func (t *Table) Delete(key []byte) (deleted bool, err error) {
	old, err := t.enterKey(key)
	if err != nil {
		return false, err
	}
	defer t.exitWrite(old, &err, &deleted)
	h, slot, sn, ok, err := t.locate(key, true)
	if err != nil || !ok {
		return false, err
	}
	return t.deleteKey(slot, h, sn.w0, &deleted), nil
}

// CompareAndSwap replaces key's value with new if it currently equals old
// (a counter compares as its 8-byte little-endian form) and reports
// whether it did. An absent key never matches.
func (t *Table) CompareAndSwap(key, old, new []byte) (swapped bool, err error) {
	if err := checkRecord(key, new, 0); err != nil {
		return false, err
	}
	return t.compareAnd(key, old, new, false)
}

// CompareAndDelete deletes key if its value currently equals old and
// reports whether it did.
func (t *Table) CompareAndDelete(key, old []byte) (deleted bool, err error) {
	return t.compareAnd(key, old, nil, true)
}

func (t *Table) compareAnd(key, old, new []byte, del bool) (done bool, err error) {
	fo, err := t.enterKey(key)
	if err != nil {
		return false, err
	}
	defer t.exitWrite(fo, &err, &done)
	h, slot, sn, ok, err := t.locate(key, true)
	if err != nil || !ok {
		return false, err
	}
	kw := sn.w0
	woff := t.valueWordOff(slot)
	var u uint32
	defer func() {
		if !done && u != 0 {
			t.ar.Free(u, shardOf(slot))
		}
	}()
	for {
		w := t.mem.Load64(woff)
		eq, stable, err := t.valueEquals(woff, w, old)
		if err != nil {
			return false, err
		}
		if !stable {
			continue
		}
		if !eq {
			if ok, moved := t.confirm(t.slotOff(slot), kw, w); ok || moved {
				return false, nil // a different value, or retired: no match
			}
			continue
		}
		if del && t.reuse {
			// Deleting retires the slot. A slot retired under us means
			// the key was absent at that moment: no match.
			if t.retireKey(slot, kw, w) {
				done = true
				return true, nil
			}
			if !t.keyStill(slot, kw) {
				return false, nil
			}
			continue
		}
		if !del && u == 0 {
			if u, err = t.writeRecord(key, 0, new, shardOf(slot)); err != nil {
				return false, err
			}
		}
		nw := nextValueWord(w, u)
		swapped, moved := t.casValue(slot, kw, w, nw)
		if moved {
			return false, nil // retired under us: the key was absent then
		}
		if swapped {
			done = true // u is published now: the deferred free must not touch it
			kind := EventSet
			if del {
				t.addLen(slot, -1)
				kind = EventDelete
			}
			segment.Failpoint(fpValuePublished)
			t.published(slot, kw, h, w, nw, kind) // w matched: retiring frees it
			return true, nil
		}
	}
}

// GetOrSet returns key's value if it is present (loaded=true); otherwise
// it stores value and returns it (loaded=false). Across processes exactly
// one of several concurrent GetOrSet calls on an absent key stores.
func (t *Table) GetOrSet(key, value []byte) (actual []byte, loaded bool, err error) {
	return t.getOrSet(key, value, true)
}

// SetIfAbsent stores value under key only if key is absent and reports
// whether it did.
func (t *Table) SetIfAbsent(key, value []byte) (stored bool, err error) {
	_, loaded, err := t.getOrSet(key, value, false)
	return err == nil && !loaded, err
}

func (t *Table) getOrSet(key, value []byte, wantOld bool) (actual []byte, loaded bool, err error) {
	if err := checkKey(key); err != nil {
		return nil, false, err
	}
	if err := checkRecord(key, value, 0); err != nil {
		return nil, false, err
	}
	fo, err := t.enter()
	if err != nil {
		return nil, false, err
	}
	committed := false
	defer t.exitWrite(fo, &err, &committed)
	if err := t.notReplaced(); err != nil {
		return nil, false, err
	}
	r := newValue{t: t, key: key, value: value, h: hash64(key, t.seed)}
	defer func() { r.release(committed) }()
retry:
	for {
		slot, kw, err := t.findOrClaimPrepared(key, r.h, r.prepare)
		if err != nil {
			return nil, false, err
		}
		r.claimed(kw)
		woff := t.valueWordOff(slot)
		for {
			w, present, exp := t.settled(woff)
			if present && !exp {
				if !wantOld {
					ok, moved := t.confirm(t.slotOff(slot), kw, w)
					switch {
					case ok:
						return nil, true, nil
					case moved:
						continue retry
					}
					continue
				}
				v, present, err := t.readValue(nil, woff, seen{w0: kw, w1: w})
				if err != nil {
					return nil, false, err
				}
				if !present {
					if !t.keyStill(slot, kw) {
						// Retired while we read it: the slot may hold
						// another key now, whose value readValue would
						// refuse for ever. Look for the key again.
						continue retry
					}
					continue // deleted (or expired) while we read it
				}
				if v == nil {
					v = []byte{}
				}
				return v, true, nil
			}
			if err := r.write(slot); err != nil {
				return nil, false, err
			}
			nw := nextValueWord(w, r.u)
			ok, moved := t.casValue(slot, kw, w, nw)
			if ok {
				committed, actual = true, value
				segment.Failpoint(fpValuePublished)
				t.published(slot, kw, r.h, w, nw, EventSet) // absent: counts the key; expired: frees its record
				return value, false, nil
			}
			if moved {
				r.unpin()
				continue retry
			}
		}
	}
}

// SetWithTTL stores value under key until ttl from now, after which the
// key reads as absent. ttl must be positive. A ttl that reaches past the
// latest deadline the record can hold (math.MaxInt64 Unix nanoseconds, in
// the year 2262), such as math.MaxInt64 for "forever", stores that latest
// deadline: the value does not expire in practice.
func (t *Table) SetWithTTL(key, value []byte, ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("%w: SetWithTTL needs a positive ttl (got %v)", ErrInvalid, ttl)
	}
	if err := t.guarded(func() {
		if t.mem.Load64(segment.OffTTLUsed) == 0 {
			t.mem.CAS64(segment.OffTTLUsed, 0, 1)
		}
	}); err != nil {
		return err
	}
	return t.set(key, value, deadlineAfter(t.now(), ttl))
}

// TTL returns how long key has left to live, or 0 if it has no TTL; an
// absent or expired key gives ErrNotFound.
func (t *Table) TTL(key []byte) (left time.Duration, err error) {
	fo, err := t.enterKey(key)
	if err != nil {
		return 0, err
	}
	defer t.exit(fo, &err)
	_, slot, sn, ok, err := t.locate(key, false)
	if err != nil || !ok {
		return 0, orNotFound(err)
	}
	woff := t.valueWordOff(slot)
	for {
		w := t.mem.Load64(woff)
		var dl int64
		ok := true
		if expires(w) {
			dl, ok = t.deadline(w)
		}
		if t.mem.Load64(woff) != w {
			continue
		}
		if good, moved := t.confirm(t.slotOff(slot), sn.w0, w); moved {
			return 0, ErrNotFound // retired: absent
		} else if !good {
			continue
		}
		if isAbsent(w) {
			return 0, ErrNotFound
		}
		if !expires(w) {
			return 0, nil
		}
		if !ok {
			return 0, fmt.Errorf("%w: expiring value record of %q is malformed", ErrCorrupt, clip(key))
		}
		if left := time.Duration(dl - t.now()); left > 0 {
			return left, nil
		}
		return 0, ErrNotFound
	}
}

// Expire reclaims every expired value now and returns how many it
// reclaimed: afterwards Len counts only live keys (until more expire).
func (t *Table) Expire() (n int, err error) {
	fo, err := t.enter()
	if err != nil {
		return 0, err
	}
	defer t.exit(fo, &err)
	for slot := uint64(0); slot < t.usedSlots(); slot++ {
		if expires(t.mem.Load64(t.valueWordOff(slot))) && t.reclaim(slot) {
			n++
		}
	}
	return n, nil
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
