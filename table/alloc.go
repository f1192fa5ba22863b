package table

import (
	"errors"
	"fmt"

	"github.com/shmdict/shmdict/arena"
	"github.com/shmdict/shmdict/segment"
)

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
