package segment

import (
	"encoding/binary"
	"fmt"
	"math/bits"

	"github.com/cespare/xxhash/v2"
)

// Segment layout, format versions 5 and 3 (3: a segment with eviction,
// which adds the RefOff and DispOff regions and a claim generation in its
// key words, and has no adder lanes; versions 1, 2 and 4 are refused). docs/FORMAT.md mirrors this file and
// layout_test.go pins every number; change all three together, and bump
// Version for any change an older reader would misread.
//
//	offset        size             region
//	0             256              header (immutable after create, checksummed)
//	256           16128            control region (mutable shared counters)
//	16384         64*MaxProcs      process registry
//	RingOff       32*RingEntries   change-event ring (RingOff = 16384+64*MaxProcs)
//	SlotsOff      16*Slots         slot array (SlotsOff is 4096-aligned)
//	RefOff        Slots/8          CLOCK reference bits, eviction segments only
//	                               (4096-aligned; absent, RefOff = 0, otherwise)
//	DispOff       Slots/4          probe bounds: a byte per 4-slot group, the
//	                               farthest group (0-based) any key homed there
//	                               was claimed in; eviction segments only
//	                               (DispOff = RefOff + roundup(Slots/8, 64))
//	ArenaOff      ArenaSize        arena: key and value records (4096-aligned)
//	LaneOff       Lanes*LaneBytes  adder lanes (version 5): lane i holds one
//	                               i64 cell per adder index, LaneBytes =
//	                               roundup(8*Adders, 4096); a sparse region,
//	                               whose pages are allocated as processes
//	                               first use them (LaneOff = roundup(ArenaOff+
//	                               ArenaSize, 4096); absent, 0, in version 3)
//	TotalSize                      = LaneOff + Lanes*LaneBytes (version 5),
//	                               roundup(ArenaOff+ArenaSize, 4096) (version 3)
//
// Header (all integers little-endian):
//
//	+0   [8]  magic "SHMDICT\x00"
//	+8   u32  format version: 5, or 3 for a segment with eviction (flags != 0),
//	          whose slots are reused under a protocol the plain format lacks
//	+12  u32  header size (256)
//	+16  u32  byte-order mark 0x01020304, written little-endian and checked
//	          in native order, so a big-endian host refuses the segment
//	+20  u32  flags: bit 0 = CLOCK eviction with slot reuse (version 3); others 0
//	+24  u64  hash seed (random per segment, from crypto/rand)
//	+32  u64  slot count (a power of two, >= 16)
//	+40  u64  claim budget: slots that may ever be claimed (<= 3/4 of slots)
//	+48  u32  probe limit, in groups of 4 slots
//	+52  u32  registry entries (MaxProcs)
//	+56  u64  registry offset
//	+64  u64  slots offset
//	+72  u64  arena offset
//	+80  u64  arena size in bytes (a multiple of 16)
//	+88  u64  total file size
//	+96  i64  creation time, Unix nanoseconds
//	+104 u32  event ring entries (0: no subscriptions; else a power of two)
//	+108 u32  adder lanes (version 5: 1..64; version 3: 0)
//	+112 u64  adder indices per lane (version 5: a multiple of 512; version 3: 0)
//	+120 u64  lanes offset (LaneOff; version 3: 0)
//	+128 [56] reserved, zero
//	+184 u64  checksum: xxhash64 of bytes [0, 184)
//	+192 [64] reserved, zero
//
// Control region (each hot word alone on a 64-byte line so that processes
// updating different words do not share cache lines):
//
//	+256   u64  claimed slots (reservations against the claim budget)
//	+320   u64  arena bump pointer, in 16-byte units from ArenaOff (starts at 1: unit 0 is nil)
//	+512   16 x 64 B  Len stripes: one i64 live-key delta at the start of each line
//	+2048  8 x 1024 B free-list shards: +0 u64 free bytes in this shard,
//	                  +64 MaxClasses x u64 Treiber-stack heads [tag:32|unit:32]
//	+10240 u32  wake word: bumped (and futex-woken) when a write finds a
//	            waiter; every process's waiting goroutine sleeps on it
//	+10304 u32  ring doorbell [seq:31|waiters:1] for subscribers
//	+10368 u64  ring tail: events ever appended
//	+10432 u64  TTL used: set to 1 by the first SetWithTTL (writers sweep)
//	+10440 u64  expired values reclaimed (a statistic)
//	+10448 u64  CLOCK hand: slots ever passed by eviction (eviction segments)
//	+10456 u64  keys evicted (a statistic)
//	+10464 ..10496  reserved, zero
//	+10496 128 x u64  load leases [owner entry:16|incarnation:6|deadline Unix ms:42], by key hash
//	+11520 u64  replaced: 0; set to 1 by Compact once it renamed a new
//	            generation over this segment's name (a line of its own)
//	+11528 ..11584  reserved, zero
//	+11584 u64  adder indices handed out (version 5; a line of its own)
//	+11648 u64  lanes in use: bit i set before lane i's first add
//	+11656 ..12288  reserved, zero
//	+12288 1024 x u32  key doorbells [seq:31|waiters:1], by key hash
const (
	// Magic starts every segment file.
	Magic = "SHMDICT\x00"
	// Version is the format version of segments without eviction. Version
	// 1 was the same layout with a separate key record per slot; version 4
	// names the key's first record instead (table/probe.go, keyAt), whose
	// prefix is the key, so the key word's record is not a record a
	// version-1 reader can parse as a key. Version 5 adds striped adders:
	// the lanes region and a value word form (table/slot.go) that a
	// version-4 reader would take for an expiring value. Each refuses the
	// others.
	Version = 5
	// VersionEvict is the format version of segments with eviction
	// (FlagEvictCLOCK); this build reads and writes both. Version 2 was
	// the first eviction format, whose key words had no claim generation
	// (table/slot.go): a build that reads it would misread version 3's key
	// words, and this build would write version-3 words into a segment
	// that version-2 processes share, so each refuses the other.
	VersionEvict = 3
	// VersionGrow is the format version of segments that grow
	// (FlagGrow): the version-5 layout with a slot array of tiers, of
	// which a growing count is in use (OffTiers). A version-5 reader would
	// take the first tier for the whole table and miss every key in the
	// others, and it would fill the first tier past its budget, so each
	// refuses the other.
	VersionGrow = 6
	// FlagEvictCLOCK marks a segment with CLOCK eviction and slot reuse.
	FlagEvictCLOCK = 1
	// FlagGrow marks a segment whose index grows by tiers (version 6).
	FlagGrow = 2
	// MaxTiers bounds the tiers of a growing segment: tier i has Slots<<i
	// slots, so 40 tiers from 16 slots would be 2^44 slots.
	MaxTiers = 40
	// OffTiers is the number of tiers in use in a growing segment (1 at
	// create, raised by one CAS per growth, never lowered); a line of its
	// own, which only growth writes.
	OffTiers = 11712
	// TierCtlStride is the byte distance between the claim counters of
	// tiers 1, 2, ... in the tier control region (TierCtlOff); tier 0
	// counts its claims at OffClaimed.
	TierCtlStride = 64
	// HeaderSize is the size of the immutable header.
	HeaderSize = 256
	// ControlSize is the size of header plus control region; the registry
	// starts here.
	ControlSize = 16384

	// ByteOrderMark is stored at +16 to detect a host of another byte order.
	ByteOrderMark = 0x01020304

	offMagic     = 0
	offVersion   = 8
	offHdrSize   = 12
	offBOM       = 16
	offFlags     = 20
	offSeed      = 24
	offSlots     = 32
	offBudget    = 40
	offMaxProbe  = 48
	offMaxProcs  = 52
	offRegistry  = 56
	offSlotsOff  = 64
	offArenaOff  = 72
	offArenaSize = 80
	offTotal     = 88
	offCreated   = 96
	offRing      = 104
	offLanes     = 108
	offAdders    = 112
	offLaneOff   = 120
	offTiers     = 128
	offMaxCap    = 136
	offTierCtl   = 144
	offChecksum  = 184

	// OffClaimed is the shared count of claimed slots.
	OffClaimed = 256
	// OffBump is the arena's bump pointer in 16-byte units.
	OffBump = 320
	// OffLenStripes is the first Len stripe; stripe i is at OffLenStripes+i*LineSize.
	OffLenStripes = 512
	// LenStripes spreads Len updates over lines; 16 keeps two busy
	// processes on different lines most of the time at 1 KiB of space.
	LenStripes = 16
	// OffFreeShards is the first free-list shard; shard i is at OffFreeShards+i*ShardStride.
	OffFreeShards = 2048
	// FreeShards is the number of free-list shards; 8 makes two processes
	// freeing records of the same class collide on one head 1/8 of the time.
	FreeShards = 8
	// ShardStride is the byte distance between shards.
	ShardStride = 1024
	// ShardHeadsOff is the offset of the first head inside a shard.
	ShardHeadsOff = 64
	// MaxClasses bounds the number of arena size classes (heads per shard).
	MaxClasses = (ShardStride - ShardHeadsOff) / 8

	// OffWake is the wake word every process's waiter goroutine sleeps on.
	OffWake = 10240
	// OffRingBell is the subscribers' doorbell word.
	OffRingBell = 10304
	// OffRingTail counts the events ever appended to the ring.
	OffRingTail = 10368
	// OffTTLUsed becomes 1 once any process stored a value with a TTL.
	OffTTLUsed = 10432
	// OffExpired counts expired values reclaimed.
	OffExpired = 10440
	// OffClockHand is the CLOCK hand of eviction: slots ever passed.
	OffClockHand = 10448
	// OffEvicted counts keys evicted.
	OffEvicted = 10456

	// OffLeases is the first load lease (u64) of GetOrLoad; lease i is at
	// OffLeases+8*i. 128 leases let 128 keys load at once (more with luck:
	// keys share a lease by hash, which only serializes their loads).
	OffLeases = 10496
	// Leases is the number of load leases.
	Leases = 128

	// OffReplaced becomes 1 when Compact has renamed a new generation over
	// the segment's name: processes still attached to this one are told to
	// reopen. Alone on its line, which nothing else writes, so checking it
	// costs a load that hits the cache.
	OffReplaced = 11520

	// OffDoorbells is the first key doorbell (u32); key doorbell i is at
	// OffDoorbells+4*i. 1024 doorbells keep unrelated keys from sharing a
	// doorbell most of the time in 4 KiB.
	OffDoorbells = 12288
	// Doorbells is the number of key doorbells.
	Doorbells = 1024
	// RingEntrySize is the size of one change event in the ring.
	RingEntrySize = 32
	// MaxRingEntries bounds the event ring.
	MaxRingEntries = 1 << 24
	// MaxRingSlots bounds the slot count of a segment with an event ring:
	// a ring entry holds its slot index in 32 bits, and 2^32 slots (a
	// 64 GiB slot array, 3.2 billion keys) is past any table we expect.
	MaxRingSlots = 1 << 32

	// OffAdderNext counts the adder indices handed out (table/adder.go):
	// an adder's lane cells are at that index in every lane. Indices are
	// never handed out twice in a segment's life.
	OffAdderNext = 11584
	// OffLanesUsed has bit i set once a process has used lane i; Sum
	// reads only those lanes.
	OffLanesUsed = 11648
	// DefaultLanes is the number of adder lanes of a new segment: a
	// process adds to lane (registry entry mod Lanes), so up to 64 live
	// processes never share a lane's cache lines.
	DefaultLanes = 64
	// MaxLanes bounds the lanes (OffLanesUsed is a 64-bit mask).
	MaxLanes = 64
	// AdderAlign is the granule of the adder indices per lane: 512
	// cells fill one 4096-byte page.
	AdderAlign = PageAlign / 8
	// MaxAdders bounds the adder indices per lane (30 bits of a value word).
	MaxAdders = 1 << 30

	// LineSize is the cache-line size assumed for padding.
	LineSize = 64

	// RegistryEntrySize is the size of one registry entry: +0 u32 pid (0
	// once its owner detached cleanly; a killed owner's pid stays, and only
	// the entry's OFD lock says whether it is live), +4 u32 incarnation
	// (bumped by each process that takes the entry), +8 i64 attach time
	// (Unix ns).
	RegistryEntrySize = 64
	// SlotSize is the size of one slot: two u64 words (key word, value word).
	SlotSize = 16
	// GroupSlots is the number of slots probed together (one cache line).
	GroupSlots = 4
	// Unit is the arena's allocation unit; record offsets count units.
	// It is defined here, with the format, and arena.Unit refers to it.
	Unit = 16
	// MaxArenaUnits is the largest arena a 32-bit unit index can address (64 GiB).
	MaxArenaUnits = 1<<32 - 1
	// PageAlign aligns the slot array and arena.
	PageAlign = 4096

	// DefaultMaxProbe is the probe limit in groups. With quadratic probing
	// over 4-slot groups at the 3/4 load cap, a random seed needs more than
	// a handful of groups with negligible probability; 64 groups (256
	// slots, 4 KiB) bounds the cost of a flooded or unlucky key.
	DefaultMaxProbe = 64
	// MaxEvictProbe bounds the probe limit of an eviction segment, whose
	// per-group probe bounds are bytes.
	MaxEvictProbe = 255
	// DefaultMaxProcs is the default number of registry entries.
	DefaultMaxProcs = 1024
	// MaxMaxProcs bounds the registry (attach scans it).
	MaxMaxProcs = 1 << 16
)

// Layout describes a segment: the parameters chosen at create and the
// offsets derived from them.
type Layout struct {
	Seed        uint64 // hash seed, random per segment
	Slots       uint64 // slot count: a power of two, >= 16
	ClaimBudget uint64 // slots that may ever be claimed: Slots*3/4
	MaxProbe    uint32 // probe limit in 4-slot groups
	MaxProcs    uint32 // registry entries
	RingEntries uint32 // event ring entries: 0 or a power of two
	ArenaSize   uint64 // arena bytes, a multiple of Unit
	CreatedNano int64  // creation time, Unix nanoseconds
	Flags       uint32 // FlagEvictCLOCK or 0
	Lanes       uint32 // adder lanes: 0 (version 3) or 1..MaxLanes
	Adders      uint64 // adder indices per lane: 0 or a multiple of AdderAlign

	RegistryOff uint64 // derived: byte offset of the registry
	RingOff     uint64 // derived: byte offset of the event ring
	SlotsOff    uint64 // derived: byte offset of the slot array
	RefOff      uint64 // derived: byte offset of the reference bits (0: none)
	DispOff     uint64 // derived: byte offset of the probe bounds (0: none)
	ArenaOff    uint64 // derived: byte offset of the arena
	LaneOff     uint64 // derived: byte offset of the adder lanes (0: none)
	LaneBytes   uint64 // derived: bytes per lane
	Tiers       uint32 // growing segments (FlagGrow): the most tiers; 0 otherwise
	MaxCapacity uint64 // growing segments: the keys asked for at create (informational)
	TierCtlOff  uint64 // derived: byte offset of the tier claim counters (0: none)
	OverflowOff uint64 // derived: byte offset of the group overflow bits of growing segments (0: none)
	TotalSize   uint64 // derived: file size
}

func alignUp(x, a uint64) uint64 { return (x + a - 1) &^ (a - 1) }

// NewLayout computes a layout holding capacity keys with arenaBytes of
// record space and maxProcs registry entries. Seed and creation time are
// left zero for the caller to fill.
func NewLayout(capacity int, arenaBytes int64, maxProcs int) (Layout, error) {
	if capacity <= 0 {
		return Layout{}, fmt.Errorf("%w: Capacity must be positive (got %d)", ErrInvalid, capacity)
	}
	if int64(capacity) > 1<<40 {
		return Layout{}, fmt.Errorf("%w: Capacity %d is too large", ErrInvalid, capacity)
	}
	if maxProcs <= 0 || maxProcs > MaxMaxProcs {
		return Layout{}, fmt.Errorf("%w: MaxProcesses must be in [1, %d] (got %d)", ErrInvalid, MaxMaxProcs, maxProcs)
	}
	// Slots: the smallest power of two whose 3/4 holds capacity.
	need := (uint64(capacity)*4 + 2) / 3
	if need < 16 {
		need = 16
	}
	slots := uint64(1) << bits.Len64(need-1)
	arena := alignUp(uint64(max(arenaBytes, 0)), Unit)
	if arena < 2*Unit || arena/Unit > MaxArenaUnits {
		return Layout{}, fmt.Errorf("%w: ArenaBytes must be in [32, 64 GiB] (got %d)", ErrInvalid, arenaBytes)
	}
	l := Layout{
		Slots:       slots,
		ClaimBudget: slots / 4 * 3,
		MaxProbe:    DefaultMaxProbe,
		MaxProcs:    uint32(maxProcs),
		ArenaSize:   arena,
		Lanes:       DefaultLanes,
		Adders:      min(alignUp(slots/4*3, AdderAlign), MaxAdders),
	}
	l.derive()
	return l, nil
}

// WithAdders returns l with lanes adder lanes of adders indices each
// (adders rounded up to a multiple of AdderAlign); lanes 0 means none.
func (l Layout) WithAdders(lanes int, adders uint64) (Layout, error) {
	if lanes < 0 || lanes > MaxLanes {
		return l, fmt.Errorf("%w: adder lanes must be in [0, %d] (got %d)", ErrInvalid, MaxLanes, lanes)
	}
	if adders > MaxAdders {
		return l, fmt.Errorf("%w: at most %d adders (got %d)", ErrInvalid, MaxAdders, adders)
	}
	l.Lanes, l.Adders = uint32(lanes), alignUp(adders, AdderAlign)
	if lanes == 0 || adders == 0 {
		l.Lanes, l.Adders = 0, 0
	}
	l.derive()
	return l, nil
}

// WithRing returns l with an event ring of n entries (rounded up to a
// power of two, at least 64; 0 for none). Events name their slot in 32
// bits, so a table with a ring has at most MaxRingSlots slots.
func (l Layout) WithRing(n int) (Layout, error) {
	if n < 0 || n > MaxRingEntries {
		return l, fmt.Errorf("%w: EventRing must be in [0, %d] (got %d)", ErrInvalid, MaxRingEntries, n)
	}
	if n > 0 && l.TotalSlots() > MaxRingSlots {
		return l, fmt.Errorf("%w: EventRing needs a table of at most 2^32 slots (Capacity, or MaxCapacity, up to %d); this one has %d slots", ErrInvalid, MaxRingSlots/4*3, l.TotalSlots())
	}
	if n > 0 {
		n = max(64, 1<<bits.Len(uint(n-1)))
	}
	l.RingEntries = uint32(n)
	l.derive()
	return l, nil
}

// WithEviction returns l with CLOCK eviction (and slot reuse) on or off.
func (l Layout) WithEviction(on bool) Layout {
	l.Flags = 0
	if on {
		// Adders need slots that keep their key (table/adder.go).
		l.Flags, l.Lanes, l.Adders = FlagEvictCLOCK, 0, 0
	}
	l.derive()
	return l
}

// WithGrowth returns l able to grow by tiers until it holds maxCapacity
// keys (format version 6): tier i has Slots<<i slots and a claim budget
// of ClaimBudget<<i, and there are as many tiers as the budgets need to
// add up to maxCapacity. The adder indices are sized for all tiers. A
// maxCapacity within the first tier's budget leaves l as it is (a fixed
// table, version 5).
func (l Layout) WithGrowth(maxCapacity uint64) (Layout, error) {
	if maxCapacity <= l.ClaimBudget {
		return l, nil
	}
	if l.Evicts() {
		return l, fmt.Errorf("%w: MaxCapacity cannot be combined with Eviction (a cache table evicts to make room instead of growing)", ErrInvalid)
	}
	tiers := uint32(1)
	for l.ClaimBudget*(1<<tiers-1) < maxCapacity {
		tiers++
		if tiers > MaxTiers || l.Slots > 1<<42>>tiers {
			return l, fmt.Errorf("%w: MaxCapacity %d is too far above Capacity (%d keys): a table grows to at most 2^%d times its first size; raise Capacity", ErrInvalid, maxCapacity, l.ClaimBudget, MaxTiers-1)
		}
	}
	if l.RingEntries != 0 && l.Slots*(1<<tiers-1) > MaxRingSlots {
		return l, fmt.Errorf("%w: EventRing needs a table of at most 2^32 slots in all its tiers (MaxCapacity up to about %d for this Capacity)", ErrInvalid, MaxRingSlots/4*3)
	}
	l.Flags, l.Tiers, l.MaxCapacity = FlagGrow, tiers, maxCapacity
	if l.Lanes != 0 {
		l.Adders = min(alignUp(l.ClaimBudget*(1<<tiers-1), AdderAlign), MaxAdders)
	}
	l.derive()
	return l, nil
}

// Evicts reports whether the segment evicts (and reuses slots).
func (l Layout) Evicts() bool { return l.Flags&FlagEvictCLOCK != 0 }

// Grows reports whether the segment grows by tiers (version 6).
func (l Layout) Grows() bool { return l.Flags&FlagGrow != 0 }

// FormatVersion is the version the header of l carries.
func (l Layout) FormatVersion() int {
	switch {
	case l.Evicts():
		return VersionEvict
	case l.Grows():
		return VersionGrow
	}
	return Version
}

// TierCount is the most tiers the slot array has room for: Tiers in a
// growing segment, 1 otherwise.
func (l Layout) TierCount() uint32 { return max(l.Tiers, 1) }

// TierFirst is the index of tier i's first slot: the tiers before it
// hold Slots*(2^i - 1) slots.
func (l Layout) TierFirst(i uint32) uint64 { return l.Slots * (1<<i - 1) }

// SlotsIn is the number of slots in the first n tiers.
func (l Layout) SlotsIn(n uint32) uint64 { return l.TierFirst(n) }

// TotalSlots is the size of the slot array: every tier's slots.
func (l Layout) TotalSlots() uint64 { return l.SlotsIn(l.TierCount()) }

// OverflowBytes is the size of the overflow bits of the first n tiers: a
// bit per 4-slot group (bit g of the region is global group g, the
// group of slots 4g..4g+3), in u32 words.
func (l Layout) OverflowBytes(n uint32) uint64 {
	return (l.SlotsIn(n)/GroupSlots + 31) / 32 * 4
}

// TierClaimedOff is the offset of tier i's claimed-slot counter.
func (l Layout) TierClaimedOff(i uint32) uint64 {
	if i == 0 || l.TierCtlOff == 0 {
		return OffClaimed
	}
	return l.TierCtlOff + uint64(i)*TierCtlStride
}

func (l *Layout) derive() {
	l.RegistryOff = ControlSize
	l.RingOff = l.RegistryOff + uint64(l.MaxProcs)*RegistryEntrySize
	l.SlotsOff = alignUp(l.RingOff+uint64(l.RingEntries)*RingEntrySize, PageAlign)
	l.TierCtlOff, l.OverflowOff = 0, 0
	if l.Grows() {
		l.TierCtlOff = l.SlotsOff
		l.SlotsOff = alignUp(l.TierCtlOff+uint64(l.Tiers)*TierCtlStride, PageAlign)
	}
	l.ArenaOff = alignUp(l.SlotsOff+l.TotalSlots()*SlotSize, PageAlign)
	if l.Grows() {
		l.OverflowOff = l.ArenaOff
		l.ArenaOff = alignUp(l.OverflowOff+l.OverflowBytes(l.Tiers), PageAlign)
	}
	l.RefOff, l.DispOff = 0, 0
	if l.Evicts() {
		l.RefOff = l.ArenaOff
		l.DispOff = l.RefOff + alignUp(l.Slots/8, LineSize)
		l.ArenaOff = alignUp(l.DispOff+l.Groups(), PageAlign)
	}
	l.TotalSize = alignUp(l.ArenaOff+l.ArenaSize, PageAlign)
	l.LaneOff, l.LaneBytes = 0, 0
	if l.Lanes != 0 {
		l.LaneOff = l.TotalSize
		l.LaneBytes = alignUp(l.Adders*8, PageAlign)
		l.TotalSize = l.LaneOff + uint64(l.Lanes)*l.LaneBytes
	}
}

// arenaEnd is the end of the arena's pages: the lanes start there.
func (l Layout) arenaEnd() uint64 {
	if l.LaneOff != 0 {
		return l.LaneOff
	}
	return l.TotalSize
}

// LaneCell returns the byte offset of adder index i's cell in lane lane.
func (l Layout) LaneCell(lane uint32, i uint64) uint64 {
	return l.LaneOff + uint64(lane)*l.LaneBytes + i*8
}

// Groups is the number of 4-slot probe groups.
func (l Layout) Groups() uint64 { return l.Slots / GroupSlots }

// encodeHeader returns the 256 header bytes for l, checksum included.
func encodeHeader(l Layout) []byte {
	h := make([]byte, HeaderSize)
	le := binary.LittleEndian
	copy(h[offMagic:], Magic)
	le.PutUint32(h[offVersion:], uint32(l.FormatVersion()))
	le.PutUint32(h[offFlags:], l.Flags)
	le.PutUint32(h[offHdrSize:], HeaderSize)
	le.PutUint32(h[offBOM:], ByteOrderMark)
	le.PutUint64(h[offSeed:], l.Seed)
	le.PutUint64(h[offSlots:], l.Slots)
	le.PutUint64(h[offBudget:], l.ClaimBudget)
	le.PutUint32(h[offMaxProbe:], l.MaxProbe)
	le.PutUint32(h[offMaxProcs:], l.MaxProcs)
	le.PutUint32(h[offRing:], l.RingEntries)
	le.PutUint32(h[offLanes:], l.Lanes)
	le.PutUint64(h[offAdders:], l.Adders)
	le.PutUint64(h[offLaneOff:], l.LaneOff)
	le.PutUint32(h[offTiers:], l.Tiers)
	le.PutUint64(h[offMaxCap:], l.MaxCapacity)
	le.PutUint64(h[offTierCtl:], l.TierCtlOff)
	le.PutUint64(h[offRegistry:], l.RegistryOff)
	le.PutUint64(h[offSlotsOff:], l.SlotsOff)
	le.PutUint64(h[offArenaOff:], l.ArenaOff)
	le.PutUint64(h[offArenaSize:], l.ArenaSize)
	le.PutUint64(h[offTotal:], l.TotalSize)
	le.PutUint64(h[offCreated:], uint64(l.CreatedNano))
	le.PutUint64(h[offChecksum:], xxhash.Sum64(h[:offChecksum]))
	return h
}

// decodeHeader validates the header bytes h and returns the layout they
// describe. Every field is checked before use; the error says which.
func decodeHeader(h []byte) (Layout, error) {
	if len(h) < HeaderSize {
		return Layout{}, fmt.Errorf("%w: file is %d bytes, shorter than the %d-byte header (truncated, or not a shmdict segment)", ErrCorrupt, len(h), HeaderSize)
	}
	le := binary.LittleEndian
	if string(h[offMagic:offMagic+8]) != Magic {
		return Layout{}, fmt.Errorf("%w: bad magic %q (not a shmdict segment)", ErrCorrupt, h[offMagic:offMagic+8])
	}
	v := le.Uint32(h[offVersion:])
	if v != Version && v != VersionEvict && v != VersionGrow {
		return Layout{}, fmt.Errorf("%w: segment is format version %d, this build reads versions %d, %d and %d (open it with the shmdict build that made it, `shmdict dump` it, and `shmdict load` the dump with this build)", ErrVersion, v, Version, VersionEvict, VersionGrow)
	}
	if bom := binary.NativeEndian.Uint32(h[offBOM:]); bom != ByteOrderMark {
		return Layout{}, fmt.Errorf("%w: byte-order mark %#x (written on a host of another byte order?)", ErrCorrupt, bom)
	}
	if sum, want := le.Uint64(h[offChecksum:]), xxhash.Sum64(h[:offChecksum]); sum != want {
		return Layout{}, fmt.Errorf("%w: header checksum %#x, computed %#x", ErrCorrupt, sum, want)
	}
	if hs := le.Uint32(h[offHdrSize:]); hs != HeaderSize {
		return Layout{}, fmt.Errorf("%w: header size %d, want %d", ErrCorrupt, hs, HeaderSize)
	}
	l := Layout{
		Seed:        le.Uint64(h[offSeed:]),
		Slots:       le.Uint64(h[offSlots:]),
		ClaimBudget: le.Uint64(h[offBudget:]),
		MaxProbe:    le.Uint32(h[offMaxProbe:]),
		MaxProcs:    le.Uint32(h[offMaxProcs:]),
		RingEntries: le.Uint32(h[offRing:]),
		ArenaSize:   le.Uint64(h[offArenaSize:]),
		CreatedNano: int64(le.Uint64(h[offCreated:])),
		Flags:       le.Uint32(h[offFlags:]),
		Lanes:       le.Uint32(h[offLanes:]),
		Adders:      le.Uint64(h[offAdders:]),
		Tiers:       le.Uint32(h[offTiers:]),
		MaxCapacity: le.Uint64(h[offMaxCap:]),
	}
	switch {
	case v == Version && l.Flags != 0, v == VersionEvict && l.Flags != FlagEvictCLOCK, v == VersionGrow && l.Flags != FlagGrow:
		return Layout{}, fmt.Errorf("%w: format version %d with flags %#x (flags this build does not know)", ErrVersion, v, l.Flags)
	case l.Evicts() && (l.MaxProbe > MaxEvictProbe || l.RingEntries != 0):
		return Layout{}, fmt.Errorf("%w: an eviction segment with probe limit %d (at most %d) or an event ring (%d entries; it has none)", ErrCorrupt, l.MaxProbe, MaxEvictProbe, l.RingEntries)
	case l.Slots < 16 || l.Slots > 1<<42 || l.Slots&(l.Slots-1) != 0:
		return Layout{}, fmt.Errorf("%w: slot count %d is not a power of two in [16, 2^42]", ErrCorrupt, l.Slots)
	case l.ClaimBudget == 0 || l.ClaimBudget > l.Slots/4*3:
		return Layout{}, fmt.Errorf("%w: claim budget %d out of range for %d slots", ErrCorrupt, l.ClaimBudget, l.Slots)
	case l.MaxProbe == 0:
		return Layout{}, fmt.Errorf("%w: probe limit is zero", ErrCorrupt)
	case l.RingEntries > MaxRingEntries || l.RingEntries&(l.RingEntries-1) != 0 || (l.RingEntries != 0 && l.RingEntries < 64):
		return Layout{}, fmt.Errorf("%w: event ring size %d is not 0 or a power of two in [64, %d]", ErrCorrupt, l.RingEntries, MaxRingEntries)
	case v == VersionEvict && (l.Lanes != 0 || l.Adders != 0):
		return Layout{}, fmt.Errorf("%w: an eviction segment with adder lanes (%d lanes, %d adders; it has none)", ErrCorrupt, l.Lanes, l.Adders)
	case v != VersionGrow && (l.Tiers != 0 || l.MaxCapacity != 0):
		return Layout{}, fmt.Errorf("%w: a segment of format version %d with growth fields (%d tiers, max capacity %d; it has none)", ErrCorrupt, v, l.Tiers, l.MaxCapacity)
	case v == VersionGrow && (l.Tiers < 2 || l.Tiers > MaxTiers || l.Slots > 1<<42>>l.Tiers):
		return Layout{}, fmt.Errorf("%w: a growing segment of %d tiers of %d slots (tiers must be in [2, %d], and all of them at most 2^42 slots)", ErrCorrupt, l.Tiers, l.Slots, MaxTiers)
	case l.RingEntries != 0 && l.TotalSlots() > MaxRingSlots:
		return Layout{}, fmt.Errorf("%w: an event ring (%d entries) in a segment of %d slots (events name at most 2^32 slots)", ErrCorrupt, l.RingEntries, l.TotalSlots())
	case v != VersionEvict && (l.Lanes == 0 || l.Lanes > MaxLanes || l.Adders == 0 || l.Adders > MaxAdders || l.Adders%AdderAlign != 0):
		return Layout{}, fmt.Errorf("%w: %d adder lanes of %d adders (lanes must be in [1, %d], adders a positive multiple of %d up to %d)", ErrCorrupt, l.Lanes, l.Adders, MaxLanes, AdderAlign, MaxAdders)
	case l.MaxProcs == 0 || l.MaxProcs > MaxMaxProcs:
		return Layout{}, fmt.Errorf("%w: registry size %d out of range", ErrCorrupt, l.MaxProcs)
	case l.ArenaSize < 2*Unit || l.ArenaSize%Unit != 0 || l.ArenaSize/Unit > MaxArenaUnits:
		return Layout{}, fmt.Errorf("%w: arena size %d out of range", ErrCorrupt, l.ArenaSize)
	}
	l.derive()
	if got := le.Uint64(h[offRegistry:]); got != l.RegistryOff {
		return Layout{}, fmt.Errorf("%w: registry offset %d, layout implies %d", ErrCorrupt, got, l.RegistryOff)
	}
	if got := le.Uint64(h[offSlotsOff:]); got != l.SlotsOff {
		return Layout{}, fmt.Errorf("%w: slots offset %d, layout implies %d", ErrCorrupt, got, l.SlotsOff)
	}
	if got := le.Uint64(h[offArenaOff:]); got != l.ArenaOff {
		return Layout{}, fmt.Errorf("%w: arena offset %d, layout implies %d", ErrCorrupt, got, l.ArenaOff)
	}
	if got := le.Uint64(h[offTierCtl:]); got != l.TierCtlOff {
		return Layout{}, fmt.Errorf("%w: tier control offset %d, layout implies %d", ErrCorrupt, got, l.TierCtlOff)
	}
	if got := le.Uint64(h[offLaneOff:]); got != l.LaneOff {
		return Layout{}, fmt.Errorf("%w: lanes offset %d, layout implies %d", ErrCorrupt, got, l.LaneOff)
	}
	if got := le.Uint64(h[offTotal:]); got != l.TotalSize {
		return Layout{}, fmt.Errorf("%w: total size %d, layout implies %d", ErrCorrupt, got, l.TotalSize)
	}
	return l, nil
}
