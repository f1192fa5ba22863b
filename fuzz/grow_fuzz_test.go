package fuzz

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/shmdict/shmdict/table"
)

// Growth facts FuzzFlipGrow needs (segment/layout.go: the header fields
// +128 tiers, +144 tier control offset; OffTiers, OffClaimed and
// TierCtlStride). buildGrowTemplate checks them against Stats.
const (
	hdrSlotsOff   = 64
	hdrArenaOff   = 72
	hdrTiers      = 128
	hdrTierCtlOff = 144
	offTiersWord  = 11712 // segment.OffTiers: the tiers in use
	offClaimed    = 256   // segment.OffClaimed: tier 0's claimed slots
	tierCtlStride = 64    // segment.TierCtlStride: tier i's counter at TierCtlOff + i*64
	offReplaced   = 11520 // segment.OffReplaced: the replaced mark
)

// growTemplate is a growing table (format version 6) caught mid-growth:
// Capacity 16 (32 slots, a claim budget of 24), MaxCapacity 1<<12 (8
// tiers), three or more tiers in use, keys in every tier in use, sealed
// slots (keys deleted from a closed tier and set again, which claims them
// in the newest), counters and one striped adder.
type growTemplate struct {
	file     []byte
	want     map[string]string // All's contents: counters as 8 bytes
	keys     [][]byte          // every key it has ever held
	tiers    int               // tiers in use
	claimed  int               // Stats().ClaimedSlots
	counters map[string]bool   // keys that are counters (the adder too)
	// hot are the words FuzzFlipGrow's fourth range aims at: OffTiers,
	// and the claim counter of every tier.
	hot []uint64
	// ranges are the byte ranges of flipsGrow's first three ranges:
	// control region, registry and tier counters; the slots of the
	// tiers in use; the arena and adder lanes.
	ranges [3][2]uint64
	// slotsOff is the slot array's offset.
	slotsOff uint64
}

var (
	growOnce sync.Once
	growTmpl growTemplate
	growErr  error
)

func getGrowTemplate(tb testing.TB) growTemplate {
	tb.Helper()
	growOnce.Do(func() { growTmpl, growErr = buildGrowTemplate() })
	if growErr != nil {
		tb.Fatalf("building the growing template: %v", growErr)
	}
	return growTmpl
}

func buildGrowTemplate() (growTemplate, error) {
	dir, err := os.MkdirTemp("", "shmdict-fuzz-grow-")
	if err != nil {
		return growTemplate{}, err
	}
	defer os.RemoveAll(dir)
	p := filepath.Join(dir, "seg")
	tb, err := table.Create(p, table.Options{Capacity: 16, MaxCapacity: 1 << 12, ArenaBytes: 32 << 10, MaxProcesses: 4, AdderLanes: 1})
	if err != nil {
		return growTemplate{}, err
	}
	if err := tb.Close(); err != nil {
		return growTemplate{}, err
	}
	if err := reseed(p, templateSeed); err != nil {
		return growTemplate{}, err
	}
	if tb, err = table.Attach(p); err != nil {
		return growTemplate{}, err
	}
	defer tb.Close()
	g := growTemplate{want: map[string]string{}, counters: map[string]bool{}}
	set := func(k string, v []byte) error {
		if err := tb.Set([]byte(k), v); err != nil {
			return fmt.Errorf("Set(%s): %w", k, err)
		}
		if _, seen := g.want[k]; !seen && !g.seen(k) {
			g.keys = append(g.keys, []byte(k))
		}
		g.want[k] = string(v)
		return nil
	}
	// Fill until three tiers are in use, and a few keys into the third.
	for i := 0; tb.Stats().Tiers < 3 || i < 84; i++ {
		if i > 500 {
			return growTemplate{}, fmt.Errorf("no third tier after %d keys: %+v", i, tb.Stats())
		}
		if err := set(fmt.Sprintf("g-%03d", i), bytes.Repeat([]byte{byte('a' + i%26)}, i%37)); err != nil {
			return growTemplate{}, err
		}
	}
	// Delete keys of every tier, then set some of them again: those of a
	// closed tier seal their old slot and claim one in the newest tier.
	for i := 0; i < 84; i += 4 {
		k := fmt.Sprintf("g-%03d", i)
		if ok, err := tb.Delete([]byte(k)); !ok || err != nil {
			return growTemplate{}, fmt.Errorf("Delete(%s): %v, %v", k, ok, err)
		}
		delete(g.want, k)
	}
	for i := 0; i < 84; i += 8 {
		if err := set(fmt.Sprintf("g-%03d", i), []byte("again")); err != nil {
			return growTemplate{}, err
		}
	}
	for i := range 3 {
		k := fmt.Sprintf("ctr-%d", i)
		n, err := tb.Add([]byte(k), int64(i)*1000-7)
		if err != nil {
			return growTemplate{}, fmt.Errorf("Add(%s): %w", k, err)
		}
		g.keys, g.counters[k] = append(g.keys, []byte(k)), true
		g.want[k] = string(binary.LittleEndian.AppendUint64(nil, uint64(n)))
	}
	a, err := tb.Adder([]byte(adderKey))
	if err == nil {
		err = a.Add(42)
	}
	if err != nil {
		return growTemplate{}, fmt.Errorf("Adder(%s): %w", adderKey, err)
	}
	g.keys, g.counters[adderKey] = append(g.keys, []byte(adderKey)), true
	g.want[adderKey] = string(binary.LittleEndian.AppendUint64(nil, 42))

	st := tb.Stats()
	if rep, err := tb.Verify(); err != nil {
		return growTemplate{}, fmt.Errorf("Verify of the template: %v\n%s", err, rep)
	}
	if err := tb.Close(); err != nil {
		return growTemplate{}, err
	}
	if g.file, err = os.ReadFile(p); err != nil {
		return growTemplate{}, err
	}
	g.tiers, g.claimed = st.Tiers, st.ClaimedSlots
	le := binary.LittleEndian
	b := g.file
	maxTiers := uint64(le.Uint32(b[hdrTiers:]))
	slotsOff, arenaOff, tierCtl := le.Uint64(b[hdrSlotsOff:]), le.Uint64(b[hdrArenaOff:]), le.Uint64(b[hdrTierCtlOff:])
	switch {
	case st.FormatVersion != 6 || st.Tiers < 3 || st.Keys != len(g.want):
		return growTemplate{}, fmt.Errorf("template stats unexpected: %+v", st)
	case int(maxTiers) != st.MaxTiers || le.Uint64(b[offTiersWord:]) != uint64(st.Tiers) || tierCtl == 0 || tierCtl >= slotsOff:
		return growTemplate{}, fmt.Errorf("the header offsets of this test do not match the segment's (tiers %d, OffTiers word %d, tier control at %d, slots at %d): %+v",
			maxTiers, le.Uint64(b[offTiersWord:]), tierCtl, slotsOff, st)
	}
	g.hot = []uint64{offTiersWord, offClaimed}
	for i := uint64(1); i < maxTiers; i++ {
		g.hot = append(g.hot, tierCtl+i*tierCtlStride)
	}
	// Slots of the tiers in use and of the next one: 32 slots in tier 0,
	// twice as many in each next one, 16 bytes a slot. Repair clears the
	// tiers not in use (TestFlipGrowFindings, garbage-in-next-tier).
	g.slotsOff = slotsOff
	used := uint64(32) * (1<<(st.Tiers+1) - 1) * 16
	g.ranges = [3][2]uint64{{headerSize, slotsOff}, {slotsOff, slotsOff + used}, {arenaOff, uint64(len(b))}}
	return g, nil
}

func (g *growTemplate) seen(k string) bool {
	for _, x := range g.keys {
		if string(x) == k {
			return true
		}
	}
	return false
}

// flipsGrow decodes a FuzzFlipGrow input: 5 bytes per flip, a
// little-endian u32 v then an xor mask x. v's top two bits choose a range
// of the image: 0 the control region, registry and tier counters; 1 the
// slots of the tiers in use and the next; 2 the arena and adder
// lanes; 3 the growth words (g.hot: the OffTiers word, then tier 0's,
// 1's, ... claim counter), v>>3 choosing the word and v's low 3 bits the
// byte. The rest of v is the offset in the range, modulo its size. At most
// maxFlips are applied.
func flipsGrow(g growTemplate, data []byte) []byte {
	b := bytes.Clone(g.file)
	for i, n := 0, 0; i+5 <= len(data) && n < maxFlips; i, n = i+5, n+1 {
		v := uint64(binary.LittleEndian.Uint32(data[i:]))
		sel, rest := v>>30, v&(1<<30-1)
		var off uint64
		if sel == 3 {
			off = g.hot[(rest>>3)%uint64(len(g.hot))] + rest&7
		} else {
			r := g.ranges[sel]
			off = r[0] + rest%(r[1]-r[0])
		}
		b[off] ^= data[i+4]
	}
	return b
}

// FuzzFlipGrow damages a growing table caught mid-growth (growTemplate),
// including the OffTiers word and the per-tier claim counters, and runs
// reads, writes that grow it further, deletes, iteration, Verify and
// Repair: nothing may panic or hang, every error must be a typed one, and
// after Repair Verify must pass and no operation may find corruption.
func FuzzFlipGrow(f *testing.F) {
	g := getGrowTemplate(f)
	for _, seed := range growSeeds {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) { runFlipGrow(t, heapBackend{}, g, data) })
}

// growSeed encodes flips for flipsGrow: each is {range, offset in it,
// mask}.
func growSeed(flips ...[3]uint32) []byte {
	var out []byte
	for _, f := range flips {
		out = append(binary.LittleEndian.AppendUint32(out, f[0]<<30|f[1]), byte(f[2]))
	}
	return out
}

// growSeeds are FuzzFlipGrow's seeds in code (testdata/fuzz/FuzzFlipGrow
// holds more, replayed through files by TestCorpusThroughFiles too).
var growSeeds = [][]byte{
	{},                              // no flips: results must be exact
	growSeed([3]uint32{3, 0, 0x01}), // OffTiers one less or more
	growSeed([3]uint32{3, 0, 0x04}), // OffTiers past the tiers the table has
	// OffTiers 0 hangs Set: TestFlipGrowFindings
	growSeed([3]uint32{3, 7, 0x80}),                                        // OffTiers' top byte: a huge count
	growSeed([3]uint32{3, 1 << 3, 0xff}),                                   // tier 0's claim counter
	growSeed([3]uint32{3, 2 << 3, 0x40}),                                   // tier 1's
	growSeed([3]uint32{3, 3 << 3, 0x01}, [3]uint32{3, 4 << 3, 0x80}),       // tiers 2 and 3
	growSeed([3]uint32{3, 3<<3 | 7, 0xff}),                                 // tier 2's, top byte
	growSeed([3]uint32{1, 32 * 16, 0x01}, [3]uint32{1, 96*16 + 8, 0x80}),   // first slots of tiers 1 and 2
	growSeed([3]uint32{1, 200 * 16, 0x7f}, [3]uint32{1, 220*16 + 8, 0xff}), // the newest tier and the next
	growSeed([3]uint32{2, 0, 0xff}, [3]uint32{2, 400, 0x10}),               // arena records
	growSeed([3]uint32{0, 0, 0xff}, [3]uint32{3, 0, 0x02}),                 // claim counter and tiers together
}

// runFlipGrow is FuzzFlipGrow's body, on the backend be.
func runFlipGrow(t testing.TB, be backend, g growTemplate, data []byte) {
	runGrowImage(t, be, g, flipsGrow(g, data), func() string { return fmt.Sprintf("FuzzFlipGrow(%x)", data) })
}

// runGrowImage is runFlipGrow on image b, a damaged copy of g.file; what
// names the run for guard.
func runGrowImage(t testing.TB, be backend, g growTemplate, b []byte, what func() string) {
	tb, err := be.attach(t, b)
	if err != nil {
		t.Fatalf("Attach of a segment with an intact header: %v", err)
	}
	defer func() { tb.Close() }() // on a failure; the end of the run closes it first
	stop := guard(what)
	defer stop()
	clean := bytes.Equal(b, g.file)
	verify(t, tb, "damaged", clean)
	growExercise(t, tb, g, checker{t: t, clean: clean})
	verify(t, tb, "damaged, after writes", clean)

	tb, rep, err := be.repair(t, tb)
	if err != nil {
		t.Fatalf("Repair: %v\n%s", err, rep)
	}
	verify(t, tb, "repaired", true)
	growExercise(t, tb, g, checker{t: t, repaired: true})
	verify(t, tb, "repaired, after writes", true)
	if err := tb.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// growNew are the keys growExercise adds: enough to fill the template's
// newest tier and grow another.
var growNew = func() (keys [][]byte) {
	for i := range 120 {
		keys = append(keys, fmt.Appendf(nil, "new-%03d", i))
	}
	return keys
}()

// growExercise reads every key the template has held, writes enough new
// keys to grow the table by a tier, deletes and sets keys again (which
// seals slots of closed tiers), and iterates, checking errors with c and,
// on an undamaged copy, every result.
func growExercise(t testing.TB, tb *table.Table, g growTemplate, c checker) {
	t.Helper()
	contents := func(when string, want map[string]string) {
		got := map[string]string{}
		n := 0
		err := tb.AllErr(func(k, v []byte) bool {
			if n++; n > 1<<16 {
				t.Fatalf("%s: All yielded more than 2^16 entries", when)
			}
			if len(k) > table.MaxKeyLen || len(v) > table.MaxValueLen {
				t.Fatalf("%s: All yielded a %d-byte key and a %d-byte value", when, len(k), len(v))
			}
			got[string(k)] = string(v)
			return true
		})
		c.check(when+": AllErr", nil, err)
		for range tb.All() {
		}
		st := tb.Stats()
		if st.Tiers < 1 || st.Tiers > st.MaxTiers || st.Capacity > st.MaxCapacity || st.Slots < st.Capacity ||
			st.ClaimedSlots < 0 || st.ClaimedSlots > st.Slots || st.Keys < 0 || st.Tombstones < 0 ||
			st.ArenaFree < 0 || st.ArenaFree > st.ArenaBytes || st.ArenaUsed < 0 || st.ArenaUsed > st.ArenaBytes {
			t.Fatalf("%s: Stats out of bounds: %+v", when, st)
		}
		if c.clean {
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("%s: All on an undamaged table (-want +got):\n%s", when, diff)
			}
			if st.Keys != len(want) || tb.Len() != len(want) {
				t.Fatalf("%s: Stats on an undamaged table: %+v, Len %d, want %d keys", when, st, tb.Len(), len(want))
			}
		}
	}
	want := maps.Clone(g.want)
	contents("before writes", want)
	if st := tb.Stats(); c.clean && (st.Tiers != g.tiers || st.ClaimedSlots != g.claimed) {
		t.Fatalf("Stats of the undamaged template: %+v, want %d tiers and %d claimed slots", st, g.tiers, g.claimed)
	}
	for _, k := range g.keys {
		v, err := tb.Get(k)
		c.check("Get(%s)", k, err, table.ErrNotFound)
		w, present := want[string(k)]
		if c.clean && (present != (err == nil) || string(v) != w) {
			t.Fatalf("Get(%s) on an undamaged table = %q, %v, want %q (present %v)", k, v, err, w, present)
		}
		ok, err := tb.Contains(k)
		c.check("Contains(%s)", k, err)
		if c.clean && ok != present {
			t.Fatalf("Contains(%s) on an undamaged table = %v, want %v", k, ok, present)
		}
	}
	// New keys: the table grows (to a fourth tier at least).
	for i, k := range growNew {
		v := bytes.Repeat([]byte{'N'}, i%23)
		c.check("Set(%s)", k, tb.Set(k, v))
		want[string(k)] = string(v)
	}
	if st := tb.Stats(); c.clean && st.Tiers <= g.tiers {
		t.Fatalf("%d new keys did not grow the undamaged table: %+v", len(growNew), st)
	}
	// Delete every third old key, set every other one of those again
	// (a key of a closed tier seals its slot and moves to the newest),
	// and add to the counters.
	for i, k := range g.keys {
		ks := string(k)
		if g.counters[ks] {
			n, err := tb.Add(k, 5)
			c.check("Add(%s)", k, err)
			if c.clean {
				old := int64(binary.LittleEndian.Uint64([]byte(want[ks])))
				if n != old+5 {
					t.Fatalf("Add(%s) on an undamaged table = %d, want %d", k, n, old+5)
				}
				want[ks] = string(binary.LittleEndian.AppendUint64(nil, uint64(n)))
			}
			continue
		}
		if i%3 != 0 {
			continue
		}
		ok, err := tb.Delete(k)
		c.check("Delete(%s)", k, err)
		_, present := want[ks]
		if c.clean && ok != present {
			t.Fatalf("Delete(%s) on an undamaged table = %v, want %v", k, ok, present)
		}
		delete(want, ks)
		if i%2 == 0 {
			c.check("Set(%s) again", k, tb.Set(k, []byte("moved")))
			want[ks] = "moved"
		}
	}
	for _, k := range growNew[:20] {
		ok, err := tb.Delete(k)
		c.check("Delete(%s)", k, err)
		if c.clean && !ok {
			t.Fatalf("Delete(%s) of a new key on an undamaged table found nothing", k)
		}
		delete(want, string(k))
	}
	if !c.clean {
		want = nil
	}
	contents("after writes", want)
	if c.clean {
		if rep, err := tb.Verify(); err != nil || !rep.OK() {
			t.Fatalf("Verify of the undamaged table after writes: %v\n%s", err, rep)
		}
	}
	_, err := tb.Get([]byte("never-set"))
	if !errors.Is(err, table.ErrNotFound) {
		c.check("Get(never-set)", nil, err)
	}
}

// TestFlipGrowFindings replays FuzzFlipGrow inputs that found a problem
// (both fixed in package table since).
func TestFlipGrowFindings(t *testing.T) {
	g := getGrowTemplate(t)
	for _, c := range []struct {
		name string
		data []byte
		// slotByte, instead of data: a byte of the slot array to xor
		// with 0x30, with the replaced mark (+11520) set, so that no
		// write gets through before Repair.
		slotByte int
	}{
		// The OffTiers word flipped to 0. Before Repair a Set of a new
		// key never returned: tierCount clamped the word to 1, the claim
		// found tier 0 full, grow(1)'s CAS from 1 failed against 0 and
		// was taken for another process's growth, again and again; or
		// the claim met its key sealed in tier 0, seen as the newest.
		// Now grow and claim report ErrCorrupt, and Repair sets the count
		// to cover every tier with claims.
		{"tiers-word-zero", growSeed([3]uint32{3, 0, 0x03}), 0},
		// A flip in the key word of slot 355, in tier 3, which is not in
		// use yet, and one that sets the replaced mark (writes fail with
		// ErrReplaced until Repair clears it). Verify and Repair look at
		// the tiers in use only, so the repaired table passed Verify;
		// the writes after Repair grew it into tier 3, and Verify found
		// "slot 355: key word 0x30 has an invalid state" (and a
		// claimed-slot counter one short): damage in a tier not yet in
		// use survived Repair and turned up after a growth. Found by
		// FuzzFlipGrow in seconds. Now Repair clears the tiers not in
		// use.
		{"garbage-in-next-tier", nil, 355 * 16},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.data == nil {
				b := bytes.Clone(g.file)
				b[g.slotsOff+uint64(c.slotByte)] ^= 0x30
				b[offReplaced] ^= 0x30
				runGrowImage(t, heapBackend{}, g, b, func() string { return c.name })
				return
			}
			runFlipGrow(t, heapBackend{}, g, c.data)
		})
	}
}
