package table

import (
	"math/rand/v2"
)

// A slot is two 64-bit words, 16 bytes, four to a cache line (a probe
// group). Every change to either word is one CAS (in a segment with
// eviction, a 16-byte CAS of both words), so a process killed at any
// instruction leaves the old words or the new ones. doc.go's "Slot
// lifecycle" lists the states and the transitions each format allows.
//
// Key word (w0). In a segment without eviction it is set once from 0 by
// CAS after the key record is written and never changed afterwards (a
// slot belongs to one key for the life of the segment; Delete leaves the
// key word and empties the value word):
//
//	bits 63..62  state: 00 empty, 01 claimed, 10 dead (Repair retired a
//	             corrupt or duplicate slot: it matches no key, stays claimed)
//	bits 61..32  tag: 30 high bits of the key's hash, to skip most
//	             non-matching keys without reading their record
//	bits 31..0   arena unit of the key record (immutable; its prefix is the key, see keyAt)
//
// In a segment with eviction (reuse.go) slots are retired and claimed
// again, and the low 16 bits of the tag field hold the slot's claim
// generation instead:
//
//	bits 63..62  state: 00 empty, 01 live, 10 dead, 11 pending
//	bits 61..48  tag: 14 high bits of the key's hash
//	bits 47..32  generation: +1 (mod 2^16) on every claim of the slot;
//	             a dead word keeps the generation of the claim it ended
//	bits 31..0   arena unit of the key record (0 in a dead word)
//
// The generation makes every claim's key word differ from the words of
// the claims before it in that slot (until it wraps), even when a key
// with the same tag gets the same key-record unit back from the free
// list: an operation that matched its key's word can then never accept
// another key's slot state as its own (see casValue and confirm).
//
// Value word (w1), one of:
//
//	bit 63 = 0   bit 62      expires: the record starts its payload with
//	                         an i64 deadline (Unix ns); see ttl.go
//	             bits 61..32 version (30 bits, +1 per change, wrapping)
//	             bits 31..0  arena unit of the value record; 0 = absent
//	bit 63 = 1   bits 62..0  an int63 counter (two's complement), so that
//	             Add is one CAS with no allocation
//	bits 63..62 = 01 and bits 31..0 = 0: a striped adder (adder.go), whose
//	             bits 61..32 are its index in the lanes: its sum is the sum
//	             of that index's cell in every lane in use. An index is
//	             handed out once in a segment's life, so the word of an
//	             adder is never seen again once it is gone (no ABA).
//
// The version makes a validated read's recheck fail when the value word
// went away and came back with the same record unit (ABA). A counter or
// an adder carries no version, so leaving either form starts at a random
// one.
const (
	stateShift   = 62
	stateClaimed = 1
	stateDead    = 2
	deadWord     = stateDead << stateShift
	tagBits      = 30
	tagMask      = 1<<tagBits - 1
	unitMask     = 1<<32 - 1

	// genBits is the width of a claim generation: a stalled operation
	// could be fooled only after 65536 claims of its slot, by a key with
	// the same 14-bit tag that got the same key-record unit. 14 tag bits
	// still send all but 1 in 16384 non-matching key words past without
	// a read of their key record.
	genBits  = 16
	genMask  = 1<<genBits - 1 // within the tag field (bits 61..32)
	genField = genMask << 32  // within the key word

	counterBit  = 1 << 63
	expiresBit  = 1 << 62
	versionMask = 1<<30 - 1

	// MaxCounter and MinCounter bound a counter (int63).
	MaxCounter = 1<<62 - 1
	MinCounter = -(1 << 62)
)

func keyWord(tag uint64, unit uint32) uint64 {
	return stateClaimed<<stateShift | tag<<32 | uint64(unit)
}

func tagOf(h uint64) uint64 { return h >> (64 - tagBits) }

func wordTag(w0 uint64) uint64 { return w0 >> 32 & tagMask }

// genOf returns the claim generation of an eviction segment's key word.
func genOf(w0 uint64) uint64 { return w0 >> 32 & genMask }

// isDead reports whether key word w0 is dead (in an eviction segment a
// dead word carries a generation).
func isDead(w0 uint64) bool { return w0>>stateShift == stateDead }

// live reports whether key word w0 (with a matching tag) names a key.
func live(w0 uint64) bool { return w0>>stateShift == stateClaimed }

func isCounter(w1 uint64) bool { return w1&counterBit != 0 }

// isAdder reports whether value word w1 is a striped adder's.
func isAdder(w1 uint64) bool { return w1&(counterBit|expiresBit|unitMask) == expiresBit }

// adderWord is the value word of the adder with lane index i.
func adderWord(i uint64) uint64 { return expiresBit | i<<32 }

// adderIndex is the lane index of adder value word w1.
func adderIndex(w1 uint64) uint64 { return w1 >> 32 & versionMask }

func counterOf(w1 uint64) int64 { return int64(w1<<1) >> 1 }

func counterWord(v int64) uint64 { return counterBit | uint64(v)&^counterBit }

func unitOf(w uint64) uint32 { return uint32(w & unitMask) }

// isAbsent reports whether a value word holds no value.
func isAbsent(w1 uint64) bool { return w1&(counterBit|expiresBit|unitMask) == 0 }

// expires reports whether value word w1 names a record with a deadline.
func expires(w1 uint64) bool { return w1&(counterBit|expiresBit) == expiresBit && unitOf(w1) != 0 }

// holdsRecord reports whether value word w1 names a value record (a byte
// value, expiring or not).
func holdsRecord(w1 uint64) bool { return w1&counterBit == 0 && unitOf(w1) != 0 }

// nextValueWord returns the value word that replaces old with record unit
// (0 for absent), with a fresh version.
func nextValueWord(old uint64, unit uint32) uint64 {
	var ver uint64
	if isCounter(old) || isAdder(old) || old == 0 {
		// A fresh slot starts at a random version too: in a growing
		// table a key can move to a fresh slot (tiers.go), and a waiter
		// holding a Version of its old slot must not meet it again.
		ver = uint64(rand.Uint32()) & versionMask
	} else {
		ver = (old>>32 + 1) & versionMask
	}
	if ver == versionMask && unit == 0 {
		ver = 0 // the version of a sealed word (tiers.go)
	}
	return ver<<32 | uint64(unit)
}

const (
	statePending = 3
	// evictBatch is how many keys a write that met ErrFull evicts before
	// it tries again; evictRounds bounds its tries.
	evictBatch  = 4
	evictRounds = 64
	// evictScanLimit is how many slots an eviction for arena space passes
	// without meeting a key that holds a block of the wanted size class
	// before it gives up: 32 words of reference bits, 16 KiB of slots.
	// The hand keeps its position, so the next write that needs such a
	// block looks at the next slots. Small enough that a write of a value
	// that nothing can make room for fails in a few microseconds, large
	// enough that a class that one key in a few hundred holds is found.
	evictScanLimit = 1024
)

func pendingWord(tag uint64, unit uint32) uint64 {
	return statePending<<stateShift | tag<<32 | uint64(unit)
}

func isPending(w0 uint64) bool { return w0>>stateShift == statePending }
