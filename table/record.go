package table

import (
	"errors"
	"fmt"

	"github.com/shmdict/shmdict/arena"
	"github.com/shmdict/shmdict/segment"
)

func checkKey(key []byte) error {
	if len(key) > MaxKeyLen {
		return fmt.Errorf("%w: %d bytes, the limit is %d (hash long keys first)", ErrKeyTooLarge, len(key), MaxKeyLen)
	}
	return nil
}

func checkValue(v []byte) error {
	if len(v) > MaxValueLen {
		return fmt.Errorf("%w: %d bytes, the limit is %d (store large values elsewhere and keep a reference)", ErrValueTooLarge, len(v), MaxValueLen)
	}
	return nil
}

// checkRecord rejects a value that, with its key as prefix, fits no
// arena block, before anything is claimed for it.
func checkRecord(key, value []byte, head int) error {
	if arena.ClassFor(arena.PrefixSpan(uint64(len(key)))+uint64(head+len(value))) < 0 {
		return fmt.Errorf("%w: %d bytes with a %d-byte key; a value and its key (padded to 8 bytes) must fit in %d bytes (store large values elsewhere and keep a reference)",
			ErrValueTooLarge, len(value), len(key), arena.MaxPayload)
	}
	return nil
}

// recordKey appends the key of key record u to dst (error if malformed).
func (t *Table) recordKey(dst []byte, u uint32) ([]byte, error) {
	off, n, ok := t.keyAt(u)
	if !ok {
		return dst, errCorruptKey(t, u)
	}
	return t.mem.CopyOut(dst, off, n), nil
}

// liveMatch reports whether slot's live key word w0 (tag already checked)
// names key, confirming against a recycled key record.
func (t *Table) liveMatch(slot, w0 uint64, key []byte) (bool, error) {
	eq, _, err := t.matches(slot, w0, key)
	if err != nil || !eq {
		return false, err
	}
	return t.mem.Load64(t.slotOff(slot)) == w0, nil
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

// pinClass is the largest size class of a first value record that a
// claim keeps as the key record (see keyAt): 64 bytes, one cache line. A
// key whose value is overwritten keeps its first record until Compact, so
// a larger first record (or an expiring one, which is soon dead) gets a
// key record of its own instead.
const pinClass = 3

// pinnable reports whether the first value record of key, holding value,
// may serve as its key record.
func (t *Table) pinnable(key, value []byte) bool {
	c := arena.ClassFor(arena.PrefixSpan(uint64(len(key))) + uint64(len(value)))
	return !t.reuse && c >= 0 && c <= pinClass
}

// keyRecord writes a key record for key (see keyAt), privately: the
// caller publishes it with its claim or frees it.
func (t *Table) keyRecord(key []byte, shard int) (uint32, error) {
	if t.reuse {
		return t.writeRecord(nil, 0, key, shard)
	}
	return t.writeRecord(key, 0, nil, shard)
}

// freeValue frees the record of value word w, just unpublished from slot
// whose key word is kw, unless the key word names it: in a version-4
// segment the key's first value record stays as its key record for the
// life of the slot. Counters and absent values have no record.
func (t *Table) freeValue(slot, kw, w uint64) {
	if isCounter(w) || unitOf(w) == 0 || unitOf(w) == unitOf(kw) {
		return
	}
	// A bad header means corruption; the block is left where it is (a
	// leak that fsck reports) rather than trusted.
	_ = t.ar.Free(unitOf(w), shardOf(slot))
}

// writeRecord allocates a block from shard and fills it privately with
// prefix and payload; the caller publishes it with a CAS or frees it. Key
// records have no prefix; value records have their key as prefix. A
// nonzero deadline (Unix ns) is written as an i64 before the payload, for
// a value word with expiresBit.
func (t *Table) writeRecord(prefix []byte, deadline int64, payload []byte, shard int) (uint32, error) {
	span := arena.PrefixSpan(uint64(len(prefix)))
	head := uint64(0)
	if deadline != 0 {
		head = 8
	}
	c := arena.ClassFor(span + head + uint64(len(payload)))
	if c < 0 {
		return 0, fmt.Errorf("%w: %d bytes with a %d-byte key, the limit is %d in all (store large values elsewhere and keep a reference)",
			ErrValueTooLarge, len(payload), len(prefix), arena.MaxPayload)
	}
	u, err := t.allocRecord(c, shard)
	if err != nil {
		return 0, err
	}
	off := t.ar.Off(u)
	t.ar.SetLengths(u, uint64(len(prefix)), head+uint64(len(payload)))
	t.mem.CopyIn(off+arena.HeaderBytes, prefix)
	if head != 0 {
		t.mem.Put64(off+arena.HeaderBytes+span, uint64(deadline))
	}
	t.mem.CopyIn(off+arena.HeaderBytes+span+head, payload)
	segment.Failpoint(fpValueWritten)
	return u, nil
}

// allocRecord allocates a block of class c from shard. In an evicting
// segment, a full arena makes it evict keys that hold a block of class c
// or larger (the arena does not merge smaller free blocks) and try again.
func (t *Table) allocRecord(c, shard int) (uint32, error) {
	for round := 0; ; round++ {
		u, err := t.ar.Alloc(c, shard)
		if err == nil {
			return u, nil
		}
		if !errors.Is(err, arena.ErrFull) {
			return 0, fmt.Errorf("%w (%s)", err, t.name)
		}
		// A block larger than the whole arena is never there to evict for.
		if t.reuse && round < evictRounds && arena.ClassUnits(c) < t.ar.Units() {
			if evicted, _ := t.evict(evictBatch, c); evicted > 0 {
				continue
			}
		}
		st := t.Stats()
		return 0, fmt.Errorf("%w: %v (%s: %d keys; %d of %d arena bytes in use); create the table with a larger ArenaBytes, or delete keys",
			ErrFull, err, t.name, st.Keys, st.ArenaUsed, st.ArenaBytes)
	}
}

func errCorruptKey(t *Table, u uint32) error {
	return fmt.Errorf("%w: key record at arena unit %d is malformed (%s)", ErrCorrupt, u, t.name)
}
