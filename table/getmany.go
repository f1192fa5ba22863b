package table

import (
	"fmt"
	"math/bits"

	"github.com/shmdict/shmdict/arena"
	"github.com/shmdict/shmdict/atomicx"
)

// Batched lookups. A Get at 1M keys waits for two cache misses in turn
// (the key's slot group, then its value record), and the CPU can overlap
// only as many lookups as fit in its reorder window. GetMany takes the
// keys a chunk at a time and walks the chunk in stages, as DPDK's
// rte_hash_lookup_bulk does, so that the misses of every key in the chunk
// are in flight together:
//
//	stage 1  hash each key, prefetch its first probe group
//	stage 2  load each group, pick the slot whose tag matches, load its
//	         value word, prefetch the value record's first line
//	stage 3  the validated copy of getFast for each key (record header,
//	         key prefix, payload, recheck of the value word)
//	stage 4  every key the stages could not settle takes AppendGet's
//	         general path (find, readValue)
//
// Stage 2 settles a key as absent when its first group has an empty slot
// before any slot with its tag (what findFirstGroup concludes too). Keys
// that need stage 4: a tag match past an empty slot or a full group
// without one, a counter, an expiring value, a tag collision, a record
// that changed under the copy, corruption. The stages only ever answer
// what AppendGet's fast path would; everything else is its slow path, so
// the answers are AppendGet's.

// getManyChunk is the number of keys in flight at once. Enough to keep a
// core's miss buffers busy (10 to 16 L1 fill buffers on x86, and two
// misses per key), few enough that stage 1's prefetches are not evicted
// before stage 3 reads them and that the per-chunk arrays stay a few
// hundred bytes of stack. (Not yet tuned by measurement: 8 and 32 are
// worth a BenchmarkGetMany run on a quiet machine.)
const getManyChunk = 16

// Per-key states of a chunk between the stages.
const (
	gmSlow   = iota // stage 4 must answer
	gmFast          // stage 2 found a plain value record to copy
	gmAbsent        // settled absent by stage 2
	gmDone          // settled found by stage 3
)

// GetMany looks up every keys[i] and sets vals[i] = append(vals[i][:0],
// value) and found[i]; a missing key gets found[i] = false and vals[i] =
// vals[i][:0]. A counter reads as its value in 8 little-endian bytes, as
// with Get. Each key is read atomically on its own, as by AppendGet: the
// results are not a snapshot of all the keys at one instant. It
// allocates nothing when every vals[i] has room for its value. vals[i]
// must not share memory with another vals[j] or with a key.
//
// len(vals) and len(found) must equal len(keys) (ErrInvalid). Every key
// is checked before any is read, so an ErrKeyTooLarge leaves vals and
// found untouched. After any other error (ErrClosed, ErrFault, ErrCorrupt)
// the contents of vals and found are unspecified.
//
// GetMany is faster per key than AppendGet on a table larger than the CPU
// caches because it overlaps the memory accesses of many keys; for a few
// hot keys it gains little.
func (t *Table) GetMany(keys [][]byte, vals [][]byte, found []bool) (err error) {
	if len(vals) != len(keys) || len(found) != len(keys) {
		return fmt.Errorf("%w: GetMany needs as many vals (%d) and found (%d) as keys (%d)",
			ErrInvalid, len(vals), len(found), len(keys))
	}
	for _, k := range keys {
		if err := checkKey(k); err != nil {
			return err
		}
	}
	old, err := t.enter()
	if err != nil {
		return err
	}
	defer t.exit(old, &err)
	for lo := 0; lo < len(keys); lo += getManyChunk {
		hi := min(lo+getManyChunk, len(keys))
		if _, err := t.getChunk(keys[lo:hi], vals[lo:hi], found[lo:hi], nil, nil); err != nil {
			return err
		}
	}
	return nil
}

// getManyFlat is GetMany of at most getManyChunk keys with the values
// appended to buf instead of to caller slices: key i's value is
// out[spans[i][0]:spans[i][1]] when found[i]. Map.GetMany uses it: values
// stored into a [][]byte would move its stack buffers to the heap (escape
// analysis sends whatever is stored through a slice parameter there),
// while buf only flows to the result.
func (t *Table) getManyFlat(keys [][]byte, buf []byte, spans *[getManyChunk][2]int, found []bool) (out []byte, err error) {
	for _, k := range keys {
		if err := checkKey(k); err != nil {
			return buf, err
		}
	}
	old, err := t.enter()
	if err != nil {
		return buf, err
	}
	defer t.exit(old, &err)
	return t.getChunk(keys, nil, found, buf, spans)
}

// getChunk is GetMany for at most getManyChunk keys, already checked,
// inside a fault guard. With vals nil it appends the values to buf and
// records where each is in spans (see getManyFlat), and returns buf.
func (t *Table) getChunk(keys, vals [][]byte, found []bool, buf []byte, spans *[getManyChunk][2]int) ([]byte, error) {
	var (
		hs    [getManyChunk]uint64 // key hashes
		slots [getManyChunk]uint64 // gmFast: the slot stage 2 picked
		w1s   [getManyChunk]uint64 // gmFast: its value word
		state [getManyChunk]uint8
	)
	n := len(keys)
	if n > getManyChunk {
		panic("table: getChunk of more than getManyChunk keys")
	}
	for i := range n {
		atomicx.PrefetchBytes(keys[i]) // the caller's keys miss too: start them together
	}
	for i := range n {
		h := hash64(keys[i], t.seed)
		hs[i] = h
		t.mem.Prefetch(t.slotOff(t.homeBase(h)))
	}
	for i := range n {
		base := t.homeBase(hs[i])
		match, empty := t.firstGroup(base, hs[i])
		if match&(empty&-empty-1) == 0 && empty != 0 && !t.grows { // a growing table has other tiers to look in
			state[i] = gmAbsent
			continue
		}
		if match == 0 {
			continue // gmSlow: a full group, the key may be further on
		}
		slot := base + uint64(bits.TrailingZeros64(match))
		w1 := t.mem.Load64(t.valueWordOff(slot))
		u := unitOf(w1)
		if w1&(counterBit|expiresBit) != 0 || u == 0 {
			continue
		}
		slots[i], w1s[i], state[i] = slot, w1, gmFast
		t.mem.Prefetch(t.ar.Off(u))
	}
	// The two output forms in separate branches, each value flowing from
	// its own destination only: see getManyFlat.
	for i := range n {
		switch state[i] {
		case gmAbsent:
			found[i] = false
			if vals != nil {
				vals[i] = vals[i][:0]
			}
		case gmFast:
			if vals != nil {
				if out, ok := t.copyFast(vals[i][:0], keys[i], slots[i], w1s[i]); ok {
					vals[i], found[i], state[i] = out, true, gmDone
				}
			} else if out, ok := t.copyFast(buf, keys[i], slots[i], w1s[i]); ok {
				spans[i] = [2]int{len(buf), len(out)}
				buf, found[i], state[i] = out, true, gmDone
			}
		}
	}
	for i := range n {
		if state[i] != gmSlow && state[i] != gmFast {
			continue
		}
		if vals != nil {
			v, ok, err := t.getSlow(vals[i][:0], keys[i], hs[i])
			if err != nil {
				return buf, err
			}
			vals[i], found[i] = v, ok
			continue
		}
		v, ok, err := t.getSlow(buf, keys[i], hs[i])
		if err != nil {
			return buf, err
		}
		spans[i] = [2]int{len(buf), len(v)}
		buf, found[i] = v, ok
	}
	return buf, nil
}

// copyFast is the fast paths' validated copy of key's value into dst,
// from the plain value record of value word w1, loaded from slot (by
// getFast, or by GetMany's stage 2, which prefetched the record). ok is
// false, with dst as it came, if the copy does not stand. The record must
// be live, carry a key as long as key, and end inside the arena; its
// class is not checked (what is read lies in the arena, and the recheck
// of the value word catches a recycled block).
func (t *Table) copyFast(dst, key []byte, slot, w1 uint64) (out []byte, ok bool) {
	m := &t.mem
	u := uint64(uint32(w1))
	if u-1 >= t.units-1 {
		return dst, false
	}
	roff := t.arenaOff + u*arena.Unit
	hdr := m.Load64(roff)
	p, n := hdr>>32&0xFFFF, hdr&0xFFFFFFFF
	kl := uint64(len(key))
	span := arena.PrefixSpan(kl)
	if hdr>>56 != arena.LiveMagic || p != kl || (u*arena.Unit+arena.HeaderBytes+span+n) > t.units*arena.Unit {
		return dst, false
	}
	out, ok = m.EqualCopyOut(dst, roff+arena.HeaderBytes, key, roff+arena.HeaderBytes+span, n)
	if !ok || m.Load64(t.valueWordOff(slot)) != w1 {
		return dst, false
	}
	// The record's key copy matched: w1 was key's value (see getFast).
	if t.reuse {
		t.touch(slot)
	}
	return out, true
}

// getSlow is AppendGet's general path for key, of hash h, after the fast
// path gave up: dst with the value appended and true, or dst and false
// if the key is absent.
func (t *Table) getSlow(dst, key []byte, h uint64) ([]byte, bool, error) {
	slot, sn, ok, err := t.find(key, h)
	if err != nil || !ok {
		return dst, false, err
	}
	out, present, err := t.readValue(dst, t.valueWordOff(slot), sn)
	if err != nil || !present {
		return dst, false, err
	}
	t.touch(slot)
	return out, true, nil
}
