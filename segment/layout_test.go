package segment

import (
	"encoding/binary"
	"errors"
	"math/bits"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/google/go-cmp/cmp"
)

// The layout is a spec (layout.go, docs/FORMAT.md): these tests pin every
// number so that a change to one is a deliberate change to all three.

func TestLayoutConstants(t *testing.T) {
	pins := []struct {
		name      string
		got, want uint64
	}{
		{"Version", Version, 5},
		{"HeaderSize", HeaderSize, 256},
		{"ControlSize", ControlSize, 16384},
		{"ByteOrderMark", ByteOrderMark, 0x01020304},

		// Header fields.
		{"offMagic", offMagic, 0},
		{"offVersion", offVersion, 8},
		{"offHdrSize", offHdrSize, 12},
		{"offBOM", offBOM, 16},
		{"offFlags", offFlags, 20},
		{"offSeed", offSeed, 24},
		{"offSlots", offSlots, 32},
		{"offBudget", offBudget, 40},
		{"offMaxProbe", offMaxProbe, 48},
		{"offMaxProcs", offMaxProcs, 52},
		{"offRegistry", offRegistry, 56},
		{"offSlotsOff", offSlotsOff, 64},
		{"offArenaOff", offArenaOff, 72},
		{"offArenaSize", offArenaSize, 80},
		{"offTotal", offTotal, 88},
		{"offCreated", offCreated, 96},
		{"offChecksum", offChecksum, 184},

		// Control region.
		{"OffClaimed", OffClaimed, 256},
		{"OffBump", OffBump, 320},
		{"OffLenStripes", OffLenStripes, 512},
		{"LenStripes", LenStripes, 16},
		{"OffFreeShards", OffFreeShards, 2048},
		{"FreeShards", FreeShards, 8},
		{"ShardStride", ShardStride, 1024},
		{"ShardHeadsOff", ShardHeadsOff, 64},
		{"MaxClasses", MaxClasses, 120},
		{"LineSize", LineSize, 64},

		// Registry, slots, arena.
		{"RegistryEntrySize", RegistryEntrySize, 64},
		{"SlotSize", SlotSize, 16},
		{"GroupSlots", GroupSlots, 4},
		{"Unit", Unit, 16},
		{"MaxArenaUnits", MaxArenaUnits, 1<<32 - 1},
		{"PageAlign", PageAlign, 4096},
		{"DefaultMaxProbe", DefaultMaxProbe, 64},
		{"DefaultMaxProcs", DefaultMaxProcs, 1024},
		{"MaxMaxProcs", MaxMaxProcs, 65536},
		{"DefaultLanes", DefaultLanes, 64},
		{"MaxLanes", MaxLanes, 64},
		{"AdderAlign", AdderAlign, 512},
		{"MaxAdders", MaxAdders, 1 << 30},
	}
	for _, p := range pins {
		if p.got != p.want {
			t.Errorf("%s = %d, the format says %d", p.name, p.got, p.want)
		}
	}
	if Magic != "SHMDICT\x00" || len(Magic) != 8 {
		t.Errorf("Magic = %q, want %q (8 bytes)", Magic, "SHMDICT\x00")
	}
}

// TestLayoutHeaderFields checks that the header fields, with their widths,
// tile [0, HeaderSize) without overlap, that every multi-byte field is
// naturally aligned, and that the checksum covers everything before it.
func TestLayoutHeaderFields(t *testing.T) {
	type field struct {
		name       string
		off, width int
	}
	fields := []field{
		{"magic", offMagic, 8},
		{"version", offVersion, 4},
		{"header size", offHdrSize, 4},
		{"byte-order mark", offBOM, 4},
		{"flags", offFlags, 4},
		{"seed", offSeed, 8},
		{"slots", offSlots, 8},
		{"claim budget", offBudget, 8},
		{"probe limit", offMaxProbe, 4},
		{"registry entries", offMaxProcs, 4},
		{"registry offset", offRegistry, 8},
		{"slots offset", offSlotsOff, 8},
		{"arena offset", offArenaOff, 8},
		{"arena size", offArenaSize, 8},
		{"total size", offTotal, 8},
		{"created", offCreated, 8},
		{"event ring", offRing, 4},
		{"adder lanes", offLanes, 4},
		{"adders", offAdders, 8},
		{"lanes offset", offLaneOff, 8},
		{"tiers", offTiers, 4},
		{"reserved", 132, 4},
		{"max capacity", offMaxCap, 8},
		{"tier control offset", offTierCtl, 8},
		{"reserved", 152, 32},
		{"checksum", offChecksum, 8},
		{"reserved tail", 192, 64},
	}
	at := 0
	for _, f := range fields {
		if f.off != at {
			t.Errorf("field %s at +%d, want +%d (fields must tile the header)", f.name, f.off, at)
		}
		if w := min(f.width, 8); f.name != "magic" && !strings.HasPrefix(f.name, "reserved") && f.off%w != 0 {
			t.Errorf("field %s at +%d is not %d-byte aligned", f.name, f.off, w)
		}
		at = f.off + f.width
	}
	if at != HeaderSize {
		t.Errorf("header fields end at %d, want %d", at, HeaderSize)
	}
	if offChecksum+8 > HeaderSize {
		t.Errorf("checksum at %d does not fit the header", offChecksum)
	}
}

// TestLayoutControlRegion checks that the control region's parts lie in
// order inside [HeaderSize, ControlSize), do not overlap, and keep each
// hot word on a cache line of its own.
func TestLayoutControlRegion(t *testing.T) {
	type part struct {
		name     string
		off, end int
	}
	parts := []part{
		{"claimed", OffClaimed, OffClaimed + LineSize},
		{"bump", OffBump, OffBump + LineSize},
		{"len stripes", OffLenStripes, OffLenStripes + LenStripes*LineSize},
		{"free shards", OffFreeShards, OffFreeShards + FreeShards*ShardStride},
	}
	prev := HeaderSize
	for _, p := range parts {
		if p.off < prev {
			t.Errorf("%s at %d overlaps what precedes it (ends at %d)", p.name, p.off, prev)
		}
		if p.off%LineSize != 0 {
			t.Errorf("%s at %d is not on a cache-line boundary", p.name, p.off)
		}
		prev = p.end
	}
	if prev > ControlSize {
		t.Errorf("control region parts end at %d, past ControlSize %d", prev, ControlSize)
	}
	// A shard: free-bytes word on its own line, then MaxClasses heads.
	if ShardHeadsOff < LineSize {
		t.Errorf("ShardHeadsOff %d shares a line with the shard's free-bytes word", ShardHeadsOff)
	}
	if ShardHeadsOff+MaxClasses*8 > ShardStride {
		t.Errorf("%d heads at +%d overflow a %d-byte shard", MaxClasses, ShardHeadsOff, ShardStride)
	}
	if ShardStride%LineSize != 0 || ControlSize%PageAlign != 0 {
		t.Errorf("ShardStride %d / ControlSize %d misaligned", ShardStride, ControlSize)
	}
	if GroupSlots*SlotSize != LineSize {
		t.Errorf("a probe group is %d bytes, want one %d-byte line", GroupSlots*SlotSize, LineSize)
	}
	if RegistryEntrySize%LineSize != 0 {
		t.Errorf("registry entries (%d bytes) share cache lines", RegistryEntrySize)
	}
}

func alignUpTest(x, a uint64) uint64 {
	if r := x % a; r != 0 {
		return x + a - r
	}
	return x
}

// checkLayoutArithmetic recomputes l from first principles.
func checkLayoutArithmetic(t *testing.T, capacity int, arenaBytes int64, procs int, l Layout) {
	t.Helper()
	// Slots: the smallest power of two (>= 16) whose 3/4 holds capacity.
	want := uint64(16)
	for want*3/4 < uint64(capacity) {
		want *= 2
	}
	if l.Slots != want {
		t.Errorf("NewLayout(%d): Slots = %d, want %d", capacity, l.Slots, want)
	}
	if l.ClaimBudget != l.Slots*3/4 || l.ClaimBudget < uint64(capacity) {
		t.Errorf("NewLayout(%d): ClaimBudget = %d, want %d (>= capacity)", capacity, l.ClaimBudget, l.Slots*3/4)
	}
	if l.MaxProbe != DefaultMaxProbe || l.MaxProcs != uint32(procs) {
		t.Errorf("NewLayout: MaxProbe %d MaxProcs %d, want %d %d", l.MaxProbe, l.MaxProcs, DefaultMaxProbe, procs)
	}
	if wantArena := alignUpTest(uint64(arenaBytes), Unit); l.ArenaSize != wantArena {
		t.Errorf("NewLayout(arena %d): ArenaSize = %d, want %d", arenaBytes, l.ArenaSize, wantArena)
	}
	if l.RegistryOff != ControlSize {
		t.Errorf("RegistryOff = %d, want %d", l.RegistryOff, ControlSize)
	}
	if w := alignUpTest(ControlSize+uint64(procs)*RegistryEntrySize, PageAlign); l.SlotsOff != w {
		t.Errorf("SlotsOff = %d, want %d", l.SlotsOff, w)
	}
	if w := alignUpTest(l.SlotsOff+l.Slots*SlotSize, PageAlign); l.ArenaOff != w {
		t.Errorf("ArenaOff = %d, want %d", l.ArenaOff, w)
	}
	if w := alignUpTest(l.ArenaOff+l.ArenaSize, PageAlign); l.LaneOff != w {
		t.Errorf("LaneOff = %d, want %d", l.LaneOff, w)
	}
	if l.Lanes != DefaultLanes || l.Adders%AdderAlign != 0 || l.Adders < min(l.ClaimBudget, MaxAdders) || l.Adders > MaxAdders {
		t.Errorf("%d lanes of %d adders, want %d lanes of at least the claim budget %d (a multiple of %d, at most %d)", l.Lanes, l.Adders, DefaultLanes, l.ClaimBudget, AdderAlign, MaxAdders)
	}
	if l.LaneBytes != alignUpTest(l.Adders*8, PageAlign) || l.LaneCell(1, 0) != l.LaneOff+l.LaneBytes {
		t.Errorf("LaneBytes = %d for %d adders", l.LaneBytes, l.Adders)
	}
	if w := l.LaneOff + uint64(l.Lanes)*l.LaneBytes; l.TotalSize != w {
		t.Errorf("TotalSize = %d, want %d", l.TotalSize, w)
	}
	for _, off := range []uint64{l.SlotsOff, l.ArenaOff, l.TotalSize} {
		if off%PageAlign != 0 {
			t.Errorf("offset %d is not %d-aligned", off, PageAlign)
		}
	}
	if l.Groups() != l.Slots/GroupSlots {
		t.Errorf("Groups() = %d, want %d", l.Groups(), l.Slots/GroupSlots)
	}
	if l.Seed != 0 || l.CreatedNano != 0 {
		t.Errorf("NewLayout filled Seed/CreatedNano (%d, %d); the caller does", l.Seed, l.CreatedNano)
	}
}

func TestLayoutNewLayout(t *testing.T) {
	cases := []struct {
		capacity   int
		arena      int64
		procs      int
		slots      uint64
		total      uint64
		slotsOff   uint64
		arenaOffOf uint64
	}{
		// 16 slots; registry 64 B -> slots at 20480; 256 B of slots -> arena at 24576.
		{1, 32, 1, 16, 28672, 20480, 24576},
		{12, 32, 1, 16, 28672, 20480, 24576},
		{13, 32, 1, 32, 28672, 20480, 24576},
		{24, 4096, 4, 32, 28672, 20480, 24576},
		{25, 4096, 4, 64, 28672, 20480, 24576},
		// Default registry: 1024*64 = 64 KiB after the control region.
		{1000, 1 << 20, 1024, 2048, 81920 + 32768 + 1<<20, 81920, 81920 + 32768},
		{3 << 20, 1 << 30, 1024, 4 << 20, 81920 + 64<<20 + 1<<30, 81920, 81920 + 64<<20},
		// Arena rounds up to a unit, total to a page.
		{1, 33, 1, 16, 28672, 20480, 24576},
		{1, 4097, 1, 16, 24576 + 8192, 20480, 24576},
	}
	for _, c := range cases {
		l, err := NewLayout(c.capacity, c.arena, c.procs)
		if err != nil {
			t.Errorf("NewLayout(%d, %d, %d): %v", c.capacity, c.arena, c.procs, err)
			continue
		}
		if l.Slots != c.slots || l.LaneOff != c.total || l.SlotsOff != c.slotsOff || l.ArenaOff != c.arenaOffOf {
			t.Errorf("NewLayout(%d, %d, %d) = slots %d total %d slotsOff %d arenaOff %d, want %d %d %d %d",
				c.capacity, c.arena, c.procs, l.Slots, l.TotalSize, l.SlotsOff, l.ArenaOff, c.slots, c.total, c.slotsOff, c.arenaOffOf)
		}
		checkLayoutArithmetic(t, c.capacity, c.arena, c.procs, l)
	}

	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 0))
	for range 2000 {
		capacity := 1 + r.IntN(1<<uint(1+r.IntN(30)))
		arena := int64(32 + r.IntN(1<<uint(6+r.IntN(28))))
		procs := 1 + r.IntN(MaxMaxProcs)
		l, err := NewLayout(capacity, arena, procs)
		if err != nil {
			t.Fatalf("NewLayout(%d, %d, %d): %v", capacity, arena, procs, err)
		}
		checkLayoutArithmetic(t, capacity, arena, procs, l)
		if t.Failed() {
			t.Fatalf("stopping at NewLayout(%d, %d, %d)", capacity, arena, procs)
		}
		if bits.OnesCount64(l.Slots) != 1 {
			t.Fatalf("Slots %d is not a power of two", l.Slots)
		}
	}
}

func TestLayoutNewLayoutInvalid(t *testing.T) {
	cases := []struct {
		capacity int
		arena    int64
		procs    int
	}{
		{0, 1 << 20, 1},
		{-1, 1 << 20, 1},
		{1<<40 + 1, 1 << 20, 1},
		{10, 0, 1},
		{10, -1, 1},
		{10, 16, 1},
		{10, 17 - 16, 1},
		{10, MaxArenaUnits*Unit + 1, 1},
		{10, 1 << 40, 1},
		{10, 1 << 20, 0},
		{10, 1 << 20, -5},
		{10, 1 << 20, MaxMaxProcs + 1},
	}
	for _, c := range cases {
		_, err := NewLayout(c.capacity, c.arena, c.procs)
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("NewLayout(%d, %d, %d) = %v, want ErrInvalid", c.capacity, c.arena, c.procs, err)
		} else if !strings.HasPrefix(err.Error(), "shmdict: ") {
			t.Errorf("error %q lacks the shmdict: prefix", err)
		}
	}
	// The edges that are valid.
	for _, c := range [][3]int64{{1 << 40, 32, 1}, {1, MaxArenaUnits * Unit, MaxMaxProcs}, {1, 17, 1}} {
		if _, err := NewLayout(int(c[0]), c[1], int(c[2])); err != nil {
			t.Errorf("NewLayout(%d, %d, %d): %v, want success", c[0], c[1], c[2], err)
		}
	}
}

// testLayout returns a small complete layout with a seed and a creation time.
func testLayout(t *testing.T) Layout {
	t.Helper()
	l, err := NewLayout(24, 4096, 4)
	if err != nil {
		t.Fatal(err)
	}
	l.Seed = 0x0123456789abcdef
	l.CreatedNano = time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC).UnixNano()
	return l
}

func TestLayoutHeaderRoundTrip(t *testing.T) {
	for _, l := range []Layout{testLayout(t), func() Layout {
		l, err := NewLayout(1<<30, 1<<35, MaxMaxProcs)
		if err != nil {
			t.Fatal(err)
		}
		l.Seed, l.CreatedNano = ^uint64(0), -1
		return l
	}()} {
		h := encodeHeader(l)
		if len(h) != HeaderSize {
			t.Fatalf("encodeHeader: %d bytes, want %d", len(h), HeaderSize)
		}
		got, err := decodeHeader(h)
		if err != nil {
			t.Fatalf("decodeHeader(encodeHeader(l)): %v", err)
		}
		if diff := cmp.Diff(l, got); diff != "" {
			t.Errorf("header round trip (-want +got):\n%s", diff)
		}
		// Spot-check the encoding against the spec, not against itself.
		le := binary.LittleEndian
		if string(h[:8]) != "SHMDICT\x00" || le.Uint32(h[8:]) != 5 || le.Uint32(h[12:]) != 256 ||
			le.Uint32(h[16:]) != 0x01020304 || le.Uint64(h[24:]) != l.Seed || le.Uint64(h[32:]) != l.Slots ||
			le.Uint64(h[88:]) != l.TotalSize || le.Uint32(h[108:]) != l.Lanes || le.Uint64(h[112:]) != l.Adders || le.Uint64(h[120:]) != l.LaneOff || le.Uint64(h[184:]) != xxhash.Sum64(h[:184]) {
			t.Errorf("header bytes do not follow the documented layout:\n% x", h)
		}
		if slices.ContainsFunc(h[128:184], func(b byte) bool { return b != 0 }) ||
			slices.ContainsFunc(h[192:], func(b byte) bool { return b != 0 }) || le.Uint32(h[20:]) != 0 {
			t.Errorf("reserved header bytes are not zero:\n% x", h)
		}
	}
}

// reseal recomputes the checksum of header h.
func reseal(h []byte) {
	binary.LittleEndian.PutUint64(h[offChecksum:], xxhash.Sum64(h[:offChecksum]))
}

func TestLayoutDecodeRejects(t *testing.T) {
	l := testLayout(t)
	le := binary.LittleEndian
	put64 := func(off int, v uint64) func([]byte) { return func(h []byte) { le.PutUint64(h[off:], v) } }
	put32 := func(off int, v uint32) func([]byte) { return func(h []byte) { le.PutUint32(h[off:], v) } }
	cases := []struct {
		name   string
		patch  func([]byte)
		reseal bool // recompute the checksum, so that the field check itself must catch it
		want   error
	}{
		{"magic", func(h []byte) { h[0] = 'X' }, true, ErrCorrupt},
		{"magic last byte", func(h []byte) { h[7] = 1 }, true, ErrCorrupt},
		{"version 0", put32(offVersion, 0), true, ErrVersion},
		{"version 1 (separate key records)", put32(offVersion, 1), true, ErrVersion},
		{"version 1 stale checksum", put32(offVersion, 1), false, ErrVersion},
		{"version 4", put32(offVersion, 4), true, ErrVersion},
		{"version 6", put32(offVersion, 6), true, ErrVersion},
		{"no adder lanes", put32(offLanes, 0), true, ErrCorrupt},
		{"65 adder lanes", put32(offLanes, 65), true, ErrCorrupt},
		{"adders not a multiple of 512", put64(offAdders, l.Adders+1), true, ErrCorrupt},
		{"adders grown", put64(offAdders, l.Adders+512), true, ErrCorrupt},
		{"version 2 (eviction without claim generations)", put32(offVersion, 2), true, ErrVersion},
		{"version 3 without the eviction flag", put32(offVersion, VersionEvict), true, ErrVersion},
		{"version 4 with the eviction flag", put32(offFlags, FlagEvictCLOCK), true, ErrVersion},
		{"unknown flag", put32(offFlags, 2), true, ErrVersion},
		{"version max", put32(offVersion, ^uint32(0)), true, ErrVersion},
		{"header size", put32(offHdrSize, 512), true, ErrCorrupt},
		{"byte order swapped", put32(offBOM, 0x04030201), true, ErrCorrupt},
		{"byte order zero", put32(offBOM, 0), true, ErrCorrupt},
		{"checksum", func(h []byte) { h[offChecksum] ^= 1 }, false, ErrCorrupt},
		{"seed, stale checksum", func(h []byte) { h[offSeed] ^= 1 }, false, ErrCorrupt},
		{"reserved, stale checksum", func(h []byte) { h[150] = 7 }, false, ErrCorrupt},
		{"slots not a power of two", put64(offSlots, 48), true, ErrCorrupt},
		{"slots below 16", put64(offSlots, 8), true, ErrCorrupt},
		{"slots zero", put64(offSlots, 0), true, ErrCorrupt},
		{"slots above 2^42", put64(offSlots, 1<<43), true, ErrCorrupt},
		{"slots huge", put64(offSlots, 1<<63), true, ErrCorrupt},
		{"claim budget zero", put64(offBudget, 0), true, ErrCorrupt},
		{"claim budget over 3/4", put64(offBudget, l.Slots*3/4+1), true, ErrCorrupt},
		{"probe limit zero", put32(offMaxProbe, 0), true, ErrCorrupt},
		{"registry size zero", put32(offMaxProcs, 0), true, ErrCorrupt},
		{"registry size too large", put32(offMaxProcs, MaxMaxProcs+1), true, ErrCorrupt},
		{"arena size below 32", put64(offArenaSize, 16), true, ErrCorrupt},
		{"arena size not a unit multiple", put64(offArenaSize, 4096+8), true, ErrCorrupt},
		{"arena size too large", put64(offArenaSize, (MaxArenaUnits+1)*Unit), true, ErrCorrupt},
		{"registry offset", put64(offRegistry, ControlSize+4096), true, ErrCorrupt},
		{"slots offset", put64(offSlotsOff, l.SlotsOff+4096), true, ErrCorrupt},
		{"arena offset", put64(offArenaOff, l.ArenaOff-16), true, ErrCorrupt},
		{"total size", put64(offTotal, l.TotalSize+4096), true, ErrCorrupt},
		{"total size zero", put64(offTotal, 0), true, ErrCorrupt},
		// Consistent changes of the layout fields: the derived offsets no
		// longer match, so the layout is rejected.
		{"slots grown past the arena offset", put64(offSlots, l.Slots*256), true, ErrCorrupt},
		{"registry grown", put32(offMaxProcs, 1000), true, ErrCorrupt},
		{"arena grown", put64(offArenaSize, l.ArenaSize+8192), true, ErrCorrupt},
	}
	for _, c := range cases {
		h := encodeHeader(l)
		c.patch(h)
		if c.reseal {
			reseal(h)
		}
		_, err := decodeHeader(h)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: decodeHeader = %v, want %v", c.name, err, c.want)
			continue
		}
		if !strings.HasPrefix(err.Error(), "shmdict: ") {
			t.Errorf("%s: message %q lacks the shmdict: prefix", c.name, err)
		}
	}

	// Short input.
	h := encodeHeader(l)
	for _, n := range []int{0, 1, 8, 183, 192, HeaderSize - 1} {
		if _, err := decodeHeader(h[:n]); !errors.Is(err, ErrCorrupt) {
			t.Errorf("decodeHeader of %d bytes = %v, want ErrCorrupt", n, err)
		}
	}
}

// TestLayoutDecodeEveryFlip flips every bit of the checksummed part of a
// header: each flip must be caught, as ErrCorrupt or (in the version
// field, which is checked before the checksum so that a newer format is
// reported as such) ErrVersion.
func TestLayoutDecodeEveryFlip(t *testing.T) {
	l := testLayout(t)
	for i := range offChecksum + 8 {
		for bit := range 8 {
			h := encodeHeader(l)
			h[i] ^= 1 << bit
			_, err := decodeHeader(h)
			want := ErrCorrupt
			if v := binary.LittleEndian.Uint32(h[offVersion:]); i >= offVersion && i < offVersion+4 && v != Version && v != VersionEvict {
				want = ErrVersion // a flip to a version this build reads is the checksum's to catch
			}
			if !errors.Is(err, want) {
				t.Errorf("byte %d bit %d flipped: decodeHeader = %v, want %v", i, bit, err, want)
			}
		}
	}
	// Bytes [192, 256) are reserved and outside the checksum: a reader
	// of this version ignores them (a later version may use them only
	// together with a version bump).
	for i := offChecksum + 8; i < HeaderSize; i++ {
		h := encodeHeader(l)
		h[i] ^= 0xFF
		got, err := decodeHeader(h)
		if err != nil {
			t.Errorf("reserved byte %d flipped: %v", i, err)
		} else if diff := cmp.Diff(l, got); diff != "" {
			t.Errorf("reserved byte %d changed the layout:\n%s", i, diff)
		}
	}
}

// TestLayoutNotifyRegions pins the notification words and the event ring.
func TestLayoutNotifyRegions(t *testing.T) {
	pins := map[string][2]uint64{
		"OffWake":        {OffWake, 10240},
		"OffRingBell":    {OffRingBell, 10304},
		"OffRingTail":    {OffRingTail, 10368},
		"OffDoorbells":   {OffDoorbells, 12288},
		"OffLeases":      {OffLeases, 10496},
		"OffReplaced":    {OffReplaced, 11520},
		"OffAdderNext":   {OffAdderNext, 11584},
		"OffLanesUsed":   {OffLanesUsed, 11648},
		"offLanes":       {offLanes, 108},
		"offAdders":      {offAdders, 112},
		"offLaneOff":     {offLaneOff, 120},
		"OffTTLUsed":     {OffTTLUsed, 10432},
		"OffExpired":     {OffExpired, 10440},
		"Leases":         {Leases, 128},
		"Doorbells":      {Doorbells, 1024},
		"RingEntrySize":  {RingEntrySize, 32},
		"offRing":        {offRing, 104},
		"MaxRingEntries": {MaxRingEntries, 1 << 24},
	}
	for name, p := range pins {
		if p[0] != p[1] {
			t.Errorf("%s = %d, want %d", name, p[0], p[1])
		}
	}
	if OffLeases+Leases*8 > OffDoorbells || OffLeases < OffRingTail+8 || OffLeases%LineSize != 0 {
		t.Errorf("leases [%d, %d) overlap their neighbours or are not line-aligned", OffLeases, OffLeases+Leases*8)
	}
	if OffReplaced < OffLeases+Leases*8 || OffReplaced%LineSize != 0 || OffReplaced+LineSize > OffDoorbells {
		t.Errorf("the replaced word at %d is not on a line of its own between the leases and the doorbells", OffReplaced)
	}
	if OffDoorbells+Doorbells*4 != ControlSize {
		t.Errorf("doorbells end at %d, want the end of the control region %d", OffDoorbells+Doorbells*4, ControlSize)
	}
	for _, off := range []uint64{OffWake, OffRingBell, OffRingTail} {
		if off%LineSize != 0 {
			t.Errorf("notify word at %d is not on a line of its own", off)
		}
	}
	l, err := NewLayout(1000, 1<<20, 8)
	if err != nil {
		t.Fatal(err)
	}
	if l.RingOff != l.RegistryOff+8*RegistryEntrySize || l.RingEntries != 0 || l.SlotsOff != alignUp(l.RingOff, PageAlign) {
		t.Errorf("layout without a ring: %+v", l)
	}
	r, err := l.WithRing(100)
	if err != nil {
		t.Fatal(err)
	}
	if r.RingEntries != 128 || r.SlotsOff != alignUp(r.RingOff+128*RingEntrySize, PageAlign) || r.TotalSize <= l.TotalSize-1 {
		t.Errorf("layout with a ring of 100: %+v", r)
	}
	h := encodeHeader(r)
	got, err := decodeHeader(h)
	if err != nil || got.RingEntries != 128 || got.SlotsOff != r.SlotsOff {
		t.Errorf("ring layout round trip: %+v, %v", got, err)
	}
	if _, err := l.WithRing(MaxRingEntries + 1); !errors.Is(err, ErrInvalid) {
		t.Errorf("WithRing(too many) = %v, want ErrInvalid", err)
	}
}

// TestLayoutEviction pins where an eviction segment's reference bits go
// and that its header round-trips as format version 3 (VersionEvict).
func TestLayoutEviction(t *testing.T) {
	l, err := NewLayout(1000, 1<<20, 8)
	if err != nil {
		t.Fatal(err)
	}
	e := l.WithEviction(true)
	if e.RefOff != l.ArenaOff || e.DispOff != e.RefOff+alignUp(e.Slots/8, LineSize) ||
		e.ArenaOff != alignUp(e.DispOff+e.Slots/GroupSlots, PageAlign) || e.TotalSize != alignUp(e.ArenaOff+e.ArenaSize, PageAlign) {
		t.Fatalf("eviction layout: RefOff %d DispOff %d ArenaOff %d TotalSize %d (plain ArenaOff %d)", e.RefOff, e.DispOff, e.ArenaOff, e.TotalSize, l.ArenaOff)
	}
	if l.RefOff != 0 || l.DispOff != 0 || l.FormatVersion() != Version || e.FormatVersion() != VersionEvict || !e.Evicts() || l.Evicts() {
		t.Fatalf("flags: plain RefOff %d version %d, eviction version %d", l.RefOff, l.FormatVersion(), e.FormatVersion())
	}
	h := encodeHeader(e)
	if v := binary.LittleEndian.Uint32(h[offVersion:]); v != VersionEvict {
		t.Fatalf("header version %d", v)
	}
	got, err := decodeHeader(h)
	if err != nil || got != e {
		t.Fatalf("decodeHeader(encodeHeader(e)) = %+v, %v; want %+v", got, err, e)
	}
	for name, bad := range map[string]Layout{"probe limit over 255": func() Layout { b := e; b.MaxProbe = 300; return b }(), "with an event ring": func() Layout { b, _ := e.WithRing(64); return b.WithEviction(true) }()} {
		if _, err := decodeHeader(encodeHeader(bad)); !errors.Is(err, ErrCorrupt) {
			t.Errorf("eviction segment %s: decodeHeader = %v, want ErrCorrupt", name, err)
		}
	}
	if off := OffClockHand; off < OffExpired+8 || OffEvicted+8 > OffLeases {
		t.Fatalf("clock words overlap: hand %d evicted %d", off, OffEvicted)
	}
}

// TestLayoutRingSlotLimit: a header with an event ring and more than 2^32
// slots (whose events could not name their slots) is refused at attach.
func TestLayoutRingSlotLimit(t *testing.T) {
	for _, c := range []struct {
		slots uint64
		ok    bool
	}{{1 << 32, true}, {1 << 33, false}, {1 << 41, false}} {
		l, err := NewLayout(int(min(c.slots/4*3, 1<<40)), 1<<20, 1)
		if err != nil || l.Slots != c.slots {
			t.Fatalf("NewLayout: %d slots, %v; want %d", l.Slots, err, c.slots)
		}
		l.RingEntries = 64
		l.derive()
		_, err = decodeHeader(encodeHeader(l))
		if c.ok != (err == nil) || (err != nil && !errors.Is(err, ErrCorrupt)) {
			t.Errorf("decodeHeader of %d slots with a ring = %v, want ok=%v (or ErrCorrupt)", c.slots, err, c.ok)
		}
	}
}

// TestLayoutGrowth pins the version-6 layout (docs/FORMAT.md, "Format
// version 6"): the tiers MaxCapacity needs, the tier control region, the
// slot array of every tier, what allocate reserves, and the header's
// round trip.
func TestLayoutGrowth(t *testing.T) {
	l, err := NewLayout(1024, 1<<20, 64)
	if err != nil {
		t.Fatal(err)
	}
	if same, err := l.WithGrowth(l.ClaimBudget); err != nil || same.Grows() || same.FormatVersion() != Version {
		t.Fatalf("WithGrowth(budget) = %+v, %v: want the fixed layout", same, err)
	}
	g, err := l.WithGrowth(1 << 21)
	if err != nil {
		t.Fatal(err)
	}
	// Tier 0: 2048 slots, budget 1536; 1536·(2^11 − 1) ≥ 2^21 > 1536·(2^10 − 1).
	if g.Tiers != 11 || g.FormatVersion() != VersionGrow || !g.Grows() || g.MaxCapacity != 1<<21 {
		t.Fatalf("WithGrowth(2^21) = %d tiers, version %d", g.Tiers, g.FormatVersion())
	}
	ringEnd := uint64(ControlSize + 64*RegistryEntrySize)
	if g.TierCtlOff != alignUpTest(ringEnd, PageAlign) || g.SlotsOff != alignUpTest(g.TierCtlOff+64*11, PageAlign) {
		t.Errorf("TierCtlOff %d, SlotsOff %d", g.TierCtlOff, g.SlotsOff)
	}
	ovf := alignUpTest(g.SlotsOff+16*g.TotalSlots(), PageAlign)
	if g.OverflowOff != ovf || g.OverflowBytes(11) != (g.TotalSlots()/4+31)/32*4 || g.OverflowBytes(1) != 64 {
		t.Errorf("OverflowOff %d (want %d), OverflowBytes %d, %d", g.OverflowOff, ovf, g.OverflowBytes(11), g.OverflowBytes(1))
	}
	if g.TotalSlots() != 2048*(1<<11-1) || g.TierFirst(3) != 2048*7 || g.ArenaOff != alignUpTest(ovf+g.OverflowBytes(11), PageAlign) {
		t.Errorf("TotalSlots %d, TierFirst(3) %d, ArenaOff %d", g.TotalSlots(), g.TierFirst(3), g.ArenaOff)
	}
	if g.TierClaimedOff(0) != OffClaimed || g.TierClaimedOff(5) != g.TierCtlOff+5*64 {
		t.Errorf("tier claimed offsets %d, %d", g.TierClaimedOff(0), g.TierClaimedOff(5))
	}
	if g.Adders != alignUpTest(1536*(1<<11-1), AdderAlign) {
		t.Errorf("Adders = %d", g.Adders)
	}
	g.Seed, g.CreatedNano = 7, 1
	back, err := decodeHeader(encodeHeader(g))
	if err != nil || back != g {
		t.Fatalf("header round trip: %+v, %v; want %+v", back, err, g)
	}
	if OffTiers%LineSize != 0 || OffTiers <= OffLanesUsed || OffTiers+8 > OffDoorbells {
		t.Errorf("OffTiers %d is not a line of its own in the reserved control words", OffTiers)
	}
	if _, err := l.WithEviction(true).WithGrowth(1 << 21); err == nil {
		t.Errorf("growth with eviction: no error")
	}
	if _, err := l.WithGrowth(1 << 62); err == nil {
		t.Errorf("growth to 2^62 keys: no error")
	}
}
