package table

import (
	"fmt"
	"math"
	"time"

	"github.com/shmdict/shmdict/arena"
)

// recordKey appends the key of key record u to dst (error if malformed).
func (t *Table) recordKey(dst []byte, u uint32) ([]byte, error) {
	off, n, ok := t.keyAt(u)
	if !ok {
		return dst, errCorruptKey(t, u)
	}
	return t.mem.CopyOut(dst, off, n), nil
}

// rereads bounds how often a reader rereads a key record that reads
// malformed while its slot's key word stays the same.
const rereads = 16

// keyMatchesAt is keyMatches for the key word w0 loaded from slot. In a
// segment that reuses slots, the record may have been freed and rewritten
// under the reader, and then the key word has changed (its claim
// generation, at least): no match. A malformed read is retried while the
// key word stays (a key word that came back after its generation wrapped
// names a record written before the claim, complete again by then); only
// a record that stays malformed is corruption.
func (t *Table) keyMatchesAt(slot, w0 uint64, key []byte) (bool, error) {
	for try := 0; ; try++ {
		eq, err := t.keyMatches(w0, key)
		if err == nil || !t.reuse {
			return eq, err
		}
		if t.mem.Load64(t.slotOff(slot)) != w0 {
			return false, nil
		}
		if try == rereads {
			return false, err
		}
	}
}

// slotKeyAt copies the key of slot, whose key word was w0, for the
// iterators. ok is false if the slot was retired meanwhile (see
// keyMatchesAt for why a malformed read is retried).
func (t *Table) slotKeyAt(slot, w0 uint64) (key []byte, ok bool, err error) {
	u := unitOf(w0)
	for try := 0; ; try++ {
		if off, n, good := t.keyAt(u); good {
			key = t.mem.CopyOut(make([]byte, 0, n), off, n)
			return key, t.keyStill(slot, w0), nil
		}
		if !t.reuse || try == rereads {
			return nil, false, errCorruptKey(t, u)
		}
		if t.mem.Load64(t.slotOff(slot)) != w0 {
			return nil, false, nil
		}
	}
}

// keyMatches reports whether the key record of key word w0 holds key.
// Key records are immutable once published, so a plain comparison is
// safe; a record that fails its bounds check is corruption.
func (t *Table) keyMatches(w0 uint64, key []byte) (bool, error) {
	u := unitOf(w0)
	off, n, ok := t.keyAt(u)
	if !ok {
		return false, errCorruptKey(t, u)
	}
	if n != uint64(len(key)) {
		return false, nil
	}
	// Read as a validated read is (Mem.Equal): in a segment that reuses
	// slots, a key record can be freed (and rewritten) under a reader that
	// loaded its key word earlier; the reader then rechecks the key word.
	return t.mem.Equal(off, key), nil
}

// keyAt locates the key in the key record at arena unit u, the record a
// key word names: the offset and length of the key's bytes. In a version-4
// segment the key record is a record whose prefix is the key: the key's
// first value record (a Set that claimed the slot), or one with an empty
// payload (a claim without a value: Add, Counter). In a version-3 segment
// (eviction) it is a record of its own whose payload is the key. ok is
// false for a malformed record.
func (t *Table) keyAt(u uint32) (off, n uint64, ok bool) {
	_, p, n, ok := t.ar.ReadPrefixed(u)
	switch {
	case !ok:
		return 0, 0, false
	case !t.reuse:
		n = p
	case p != 0:
		return 0, 0, false
	}
	if n > MaxKeyLen {
		return 0, 0, false
	}
	return t.ar.Off(u) + arena.HeaderBytes, n, true
}

func errCorruptKey(t *Table, u uint32) error {
	return fmt.Errorf("%w: key record at arena unit %d is malformed (%s)", ErrCorrupt, u, t.name)
}

// SetClock replaces the clock the table uses for TTLs in this process
// (time.Now by default). For tests: give every process the same clock.
func (t *Table) SetClock(now func() time.Time) {
	t.clock = now
}

func (t *Table) now() int64 {
	if t.clock != nil {
		return t.clock().UnixNano()
	}
	return time.Now().UnixNano()
}

// deadlineAfter returns the deadline ttl (positive) after now, both in
// Unix nanoseconds, saturated at math.MaxInt64: the sum wraps negative
// for a huge ttl, and a value stored with a past deadline would read as
// absent at once. A deadline of 0 means "none" in a record, so the one
// sum that lands on it (a clock before 1970) is moved 1 ns later.
func deadlineAfter(now int64, ttl time.Duration) int64 {
	if now >= 0 && int64(ttl) > math.MaxInt64-now {
		return math.MaxInt64
	}
	if dl := now + int64(ttl); dl != 0 {
		return dl
	}
	return 1
}

// deadline reads the deadline of expiring value word w1's record; the
// caller validates by re-loading the value word.
func (t *Table) deadline(w1 uint64) (int64, bool) {
	u := unitOf(w1)
	_, p, n, ok := t.ar.ReadPrefixed(u)
	if !ok || n < 8 {
		return 0, false
	}
	return int64(t.mem.Load64(t.ar.Off(u) + arena.HeaderBytes + arena.PrefixSpan(p))), true
}

// expired reports whether value word w1 (loaded from woff) is a value
// past its deadline; stable is false if the word changed meanwhile.
func (t *Table) expired(woff, w1 uint64) (exp, stable bool) {
	if !expires(w1) {
		return false, true
	}
	dl, ok := t.deadline(w1)
	if t.mem.Load64(woff) != w1 {
		return false, false
	}
	return ok && dl <= t.now(), true
}

// settled loads the value word at woff until it holds still while its
// deadline is read: the word, whether it holds a value (present), and
// whether that value is an expiring one past its deadline (exp), which
// every operation treats as absent and only a writer reclaims. Every
// "load the word, check expiry, retry if it moved" loop is this one.
func (t *Table) settled(woff uint64) (w uint64, present, exp bool) {
	for {
		w = t.mem.Load64(woff)
		if isAbsent(w) {
			return w, false, false
		}
		if exp, stable := t.expired(woff, w); stable {
			return w, true, exp
		}
	}
}
