package fuzz

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/google/go-cmp/cmp"

	"github.com/shmdict/shmdict/table"
)

// Header facts the targets need (segment/layout.go; pinned by
// segment/layout_test.go).
const (
	hdrSeed     = 24
	hdrChecksum = 184
	headerSize  = 256
	// maxFileSize bounds the images FuzzAttach attaches.
	maxFileSize = 1 << 20
	// maxAttachData bounds FuzzAttach's data (see FuzzAttach): the header
	// and the first 768 bytes of the control region; the minimizer's
	// O(n^2) candidates of that take seconds.
	maxAttachData = 1024
	// maxFlips bounds the flips FuzzFlip applies from one input.
	maxFlips = 64
	// deadline turns a hang (a loop over corrupt data) into a crash that
	// the fuzzer records. It is far above what a run takes (milliseconds)
	// and is not a measurement.
	deadline = 30 * time.Second
	// templateSeed fixes the template's hash seed, so that keys land in
	// the same slots every time and a corpus entry flips the same bytes
	// of the same records on every machine.
	templateSeed = 0x5eed_f00d_cafe_d00d
	// hdrArenaSize, hdrTotal and hdrLaneOff are the header fields a
	// larger arena changes together (segment/layout.go decodeHeader).
	hdrArenaSize = 80
	hdrTotal     = 88
	hdrLaneOff   = 120
	// adderKey is the template's striped adder (Table.Adder).
	adderKey = "adder-0"
)

// opErrors are the errors an operation on an attached, possibly damaged
// segment may return. ErrFault is not among them: there is no truncation
// here, so a fault would mean an access outside the mapping. ErrReplaced
// is: a flip can set the replaced mark, which Repair clears.
var opErrors = []error{table.ErrNotFound, table.ErrCorrupt, table.ErrFull, table.ErrNotCounter, table.ErrRange, table.ErrReplaced}

func matches(err error, set []error) bool {
	for _, s := range set {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// guard crashes the process if the returned stop function is not called
// within deadline, with every goroutine's stack in the message; what
// names the run (it is called only then).
func guard(what func() string) (stop func()) {
	done := make(chan struct{})
	go func() {
		t := time.NewTimer(deadline)
		defer t.Stop()
		select {
		case <-done:
		case <-t.C:
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			panic(fmt.Sprintf("fuzz: %s did not finish within %v: a loop over corrupt data?\n%s", what(), deadline, buf[:n]))
		}
	}()
	return func() { close(done) }
}

// checker records the outcome of operations on a table: every error must
// be a sentinel in opErrors; on an undamaged table (clean) only the
// errors listed for that call are allowed.
type checker struct {
	t     testing.TB
	clean bool
	// repaired: the table passed Verify, so no operation may find
	// corruption (ErrCorrupt) in it.
	repaired bool
}

// check fails the test if err breaks the rules above (nil always passes).
// op names the call, with %s standing for key if key is not nil. It is
// formatted only on a failure, and only then is Helper called (it walks
// the stack): the targets make thousands of checks a second.
func (c checker) check(op string, key []byte, err error, cleanOK ...error) {
	if err == nil {
		return
	}
	var why string
	switch {
	case !matches(err, opErrors):
		why = fmt.Sprintf("error %v matches no expected sentinel (%v)", err, opErrors)
	case c.repaired && errors.Is(err, table.ErrCorrupt):
		why = fmt.Sprintf("on a repaired table that passed Verify: %v", err)
	case !strings.HasPrefix(err.Error(), "shmdict: "):
		why = fmt.Sprintf("message %q lacks the shmdict: prefix", err)
	case c.clean && !matches(err, cleanOK):
		why = fmt.Sprintf("on an undamaged table: %v", err)
	default:
		return
	}
	c.t.Helper()
	if key != nil {
		op = fmt.Sprintf(op, key)
	}
	c.t.Fatalf("%s: %s", op, why)
}

// model is what the template holds: byte values and counters.
type model struct {
	values   map[string][]byte
	counters map[string]int64
	deleted  []string
}

// snapshot is a table's contents as All yields them, counters as their
// 8-byte form.
func (m model) snapshot() map[string]string {
	out := map[string]string{}
	for k, v := range m.values {
		out[k] = string(v)
	}
	for k, n := range m.counters {
		out[k] = string(binary.LittleEndian.AppendUint64(nil, uint64(n)))
	}
	return out
}

type template struct {
	file  []byte
	m     model
	want  map[string]string // m.snapshot()
	keys  [][]byte          // every key the template has ever held
	slots uint64            // slot array offset
	arena uint64            // arena offset
}

var (
	tmplOnce sync.Once
	tmpl     template
	tmplErr  error
)

// getTemplate builds (once per process) a small file-backed segment with
// byte values of many sizes, counters, deleted keys and free blocks:
// Capacity 24 (32 slots), a 4 KiB arena, 4 registry entries, one adder
// lane of 4 KiB holding one adder: 32 KiB in all.
func getTemplate(tb testing.TB) template {
	tb.Helper()
	tmplOnce.Do(func() { tmpl, tmplErr = buildTemplate() })
	if tmplErr != nil {
		tb.Fatalf("building the template segment: %v", tmplErr)
	}
	return tmpl
}

func buildTemplate() (template, error) {
	dir, err := os.MkdirTemp("", "shmdict-fuzz-template-")
	if err != nil {
		return template{}, err
	}
	defer os.RemoveAll(dir)
	p := filepath.Join(dir, "seg")
	// One adder lane: the lanes region is one 4096-byte page (512
	// indices), so the image stays small.
	tb, err := table.Create(p, table.Options{Capacity: 24, ArenaBytes: 4096, MaxProcesses: 4, AdderLanes: 1})
	if err != nil {
		return template{}, err
	}
	if err := tb.Close(); err != nil {
		return template{}, err
	}
	if err := reseed(p, templateSeed); err != nil {
		return template{}, err
	}
	if tb, err = table.Attach(p); err != nil {
		return template{}, err
	}
	m := model{values: map[string][]byte{}, counters: map[string]int64{}}
	var keys [][]byte
	for i := range 16 {
		k := fmt.Sprintf("key-%02d", i)
		v := bytes.Repeat([]byte{byte('a' + i)}, i*13)
		if err := tb.Set([]byte(k), v); err != nil {
			return template{}, fmt.Errorf("Set(%s): %w", k, err)
		}
		m.values[k] = v
		keys = append(keys, []byte(k))
	}
	for i := range 3 {
		k := fmt.Sprintf("ctr-%d", i)
		n, err := tb.Add([]byte(k), int64(i)*1000-7)
		if err != nil {
			return template{}, fmt.Errorf("Add(%s): %w", k, err)
		}
		m.counters[k] = n
		keys = append(keys, []byte(k))
	}
	for _, k := range []string{"key-03", "key-07", "key-12"} {
		if ok, err := tb.Delete([]byte(k)); !ok || err != nil {
			return template{}, fmt.Errorf("Delete(%s): %v, %w", k, ok, err)
		}
		delete(m.values, k)
		m.deleted = append(m.deleted, k)
	}
	for _, k := range []string{"key-01", "key-05", "key-09"} {
		v := bytes.Repeat([]byte{'Z'}, len(m.values[k])+40)
		if err := tb.Set([]byte(k), v); err != nil {
			return template{}, fmt.Errorf("Set(%s): %w", k, err)
		}
		m.values[k] = v
	}
	// A striped adder, made last so that the records and slots above sit
	// where the corpus expects them; it reads as a counter (Get, Add).
	a, err := tb.Adder([]byte(adderKey))
	if err != nil {
		return template{}, fmt.Errorf("Adder(%s): %w", adderKey, err)
	}
	for _, d := range []int64{40, -3, 5} {
		if err := a.Add(d); err != nil {
			return template{}, fmt.Errorf("Adder(%s).Add: %w", adderKey, err)
		}
	}
	m.counters[adderKey] = 42
	keys = append(keys, []byte(adderKey))
	st := tb.Stats()
	if err := tb.Close(); err != nil {
		return template{}, err
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return template{}, err
	}
	if st.ClaimedSlots != len(keys) || st.Keys != len(m.values)+len(m.counters) || st.LanesUsed != 1 || st.AdderIndicesUsed != 1 {
		return template{}, fmt.Errorf("template stats unexpected: %+v", st)
	}
	le := binary.LittleEndian
	return template{file: b, m: m, want: m.snapshot(), keys: keys, slots: le.Uint64(b[64:]), arena: le.Uint64(b[72:])}, nil
}

// reseed sets the hash seed of the (empty) segment file at p and reseals
// its header's checksum.
func reseed(p string, seed uint64) error {
	b, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	binary.LittleEndian.PutUint64(b[hdrSeed:], seed)
	binary.LittleEndian.PutUint64(b[hdrChecksum:], xxhash.Sum64(b[:hdrChecksum]))
	return os.WriteFile(p, b, 0o600)
}

// flipsOf decodes a FuzzFlip input: 5 bytes per flip, a little-endian
// u32 v then an xor mask x. If v's top bit is clear the flip lands in the
// slot array or the arena, at slots + v mod (size - slots); otherwise in
// the control region or the registry, at 256 + (v &^ 1<<31) mod (slots -
// 256). At most maxFlips are applied; a partial tail is ignored.
func flipsOf(data []byte, slots, size uint64) (offs []uint64, masks []byte) {
	for i := 0; i+5 <= len(data) && len(offs) < maxFlips; i += 5 {
		v := uint64(binary.LittleEndian.Uint32(data[i:]))
		var off uint64
		if v>>31 == 0 {
			off = slots + v%(size-slots)
		} else {
			off = headerSize + (v&^(1<<31))%(slots-headerSize)
		}
		offs = append(offs, off)
		masks = append(masks, data[i+4])
	}
	return offs, masks
}

// FuzzFlip damages a valid segment (the input says where and how, see
// flipsOf) and runs every kind of operation on it: each must return a
// table sentinel, never panic or hang; with no effective flip the results
// must be exact. Verify may report the damage; after Repair it must pass,
// and operations on the repaired table must find no corruption.
func FuzzFlip(f *testing.F) {
	tp := getTemplate(f)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) { runFlip(t, heapBackend{}, tp, data) })
}

// runFlip is FuzzFlip's body, on the backend be.
func runFlip(t testing.TB, be backend, tp template, data []byte) {
	b := flip(tp.file, tp.slots, data)
	tb, err := be.attach(t, b)
	if err != nil {
		t.Fatalf("Attach of a segment with an intact header: %v", err)
	}
	defer func() { tb.Close() }() // on a failure; the end of the run closes it first
	stop := guard(func() string { return fmt.Sprintf("FuzzFlip(%x)", data) })
	defer stop()
	clean := bytes.Equal(b, tp.file)
	verify(t, tb, "damaged", clean)
	exercise(t, tb, tp, checker{t: t, clean: clean})
	verify(t, tb, "damaged, after writes", clean)

	// Repair must leave a table that Verify passes and on which no
	// operation finds corruption.
	tb, rep, err := be.repair(t, tb)
	if err != nil {
		t.Fatalf("Repair: %v\n%s", err, rep)
	}
	verify(t, tb, "repaired", true)
	exercise(t, tb, tp, checker{t: t, repaired: true})
	verify(t, tb, "repaired, after writes", true)
	if err := tb.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// flip returns a copy of file with the flips data asks for (past the
// checksummed header, see flipsOf), so that Attach must accept it.
func flip(file []byte, slots uint64, data []byte) []byte {
	b := bytes.Clone(file)
	offs, masks := flipsOf(data, slots, uint64(len(b)))
	for i, off := range offs {
		b[off] ^= masks[i]
	}
	return b
}

// verify runs Verify on tb: it may report problems (ErrCorrupt) unless
// ok is set, and must never fail otherwise.
func verify(t testing.TB, tb *table.Table, when string, ok bool) {
	t.Helper()
	rep, err := tb.Verify()
	if err != nil && (ok || !errors.Is(err, table.ErrCorrupt)) {
		t.Fatalf("Verify (%s): %v\n%s", when, err, rep)
	}
	if err == nil && !rep.OK() || err != nil && rep.OK() {
		t.Fatalf("Verify (%s): error %v with report:\n%s", when, err, rep)
	}
}

// exercise runs reads, then writes, then reads again on tb, a copy of the
// template, checking errors with c and, on a clean copy, every result.
func exercise(t testing.TB, tb *table.Table, tp template, c checker) {
	t.Helper()
	snapshot := func(when string, want map[string]string, claimed int) {
		var got map[string]string
		if c.clean {
			got = map[string]string{}
		}
		n := 0
		err := tb.AllErr(func(k, v []byte) bool {
			n++
			if n > 1<<20 {
				t.Fatalf("%s: All yielded more than 2^20 entries", when)
			}
			if len(k) > table.MaxKeyLen || len(v) > table.MaxValueLen {
				t.Fatalf("%s: All yielded a %d-byte key and a %d-byte value", when, len(k), len(v))
			}
			if c.clean { // a damaged table's contents are unknown
				got[string(k)] = string(v)
			}
			return true
		})
		c.check(when+": AllErr", nil, err)
		if c.clean {
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("%s: All on an undamaged table (-want +got):\n%s", when, diff)
			}
			if tb.Len() != len(want) {
				t.Fatalf("%s: Len = %d, want %d", when, tb.Len(), len(want))
			}
		}
		for range tb.All() { // the plain iterator, too
		}
		st := tb.Stats()
		if st.ArenaFree < 0 || st.ArenaFree > st.ArenaBytes || st.ArenaUsed < 0 || st.ArenaUsed > st.ArenaBytes ||
			st.ClaimedSlots < 0 || st.ClaimedSlots > st.Slots || st.Keys < 0 || st.Tombstones < 0 {
			t.Fatalf("%s: Stats out of bounds: %+v", when, st)
		}
		if c.clean && (st.Keys != len(want) || st.ClaimedSlots != claimed) {
			t.Fatalf("%s: Stats on an undamaged table: %+v, want %d keys, %d claimed", when, st, len(want), claimed)
		}
	}

	want := maps.Clone(tp.want)
	snapshot("before writes", want, len(tp.keys))
	for _, k := range tp.keys {
		v, err := tb.Get(k)
		c.check("Get(%s)", k, err, table.ErrNotFound)
		if len(v) > table.MaxValueLen {
			t.Fatalf("Get(%s) returned %d bytes", k, len(v))
		}
		if c.clean {
			w, present := want[string(k)]
			if present != (err == nil) || string(v) != w {
				t.Fatalf("Get(%s) on an undamaged table = %q, %v, want %q (present %v)", k, v, err, w, present)
			}
		}
		buf := make([]byte, 0, 64)
		_, err = tb.AppendGet(buf, k)
		c.check("AppendGet(%s)", k, err, table.ErrNotFound)
		ok, err := tb.Contains(k)
		c.check("Contains(%s)", k, err)
		if _, present := want[string(k)]; c.clean && ok != present {
			t.Fatalf("Contains(%s) on an undamaged table = %v, want %v", k, ok, present)
		}
	}

	// Writes: overwrite and re-create every key, add to counters, insert
	// new keys, compare-and-swap, delete, then clear.
	for i, k := range tp.keys {
		ks := string(k)
		if _, isCounter := tp.m.counters[ks]; isCounter {
			n, err := tb.Add(k, 5)
			c.check("Add(%s)", k, err)
			if c.clean && n != tp.m.counters[ks]+5 {
				t.Fatalf("Add(%s) on an undamaged table = %d, want %d", k, n, tp.m.counters[ks]+5)
			}
			if err == nil {
				want[ks] = string(binary.LittleEndian.AppendUint64(nil, uint64(n)))
			}
			_, err = tb.Add(k, 0)
			c.check("Add(%s, 0)", k, err)
			exerciseAdder(t, tb, k, ks == adderKey, n+5, c)
			if ks == adderKey && c.clean {
				want[ks] = string(binary.LittleEndian.AppendUint64(nil, uint64(n+5)))
			}
			continue
		}
		_, err := tb.Add(k, 1)
		if _, present := tp.m.values[ks]; present {
			c.check("Add(%s) on a byte value", k, err, table.ErrNotCounter)
			if c.clean && !errors.Is(err, table.ErrNotCounter) {
				t.Fatalf("Add(%s) on a byte value of an undamaged table: %v", k, err)
			}
		} else {
			// A deleted key: Add makes it a counter.
			c.check("Add(%s) on a deleted key", k, err)
			if err == nil {
				want[ks] = string(binary.LittleEndian.AppendUint64(nil, 1))
			}
		}
		if i%3 == 0 {
			nv := bytes.Repeat([]byte{'n'}, i*7)
			c.check("Set(%s)", k, tb.Set(k, nv))
			want[ks] = string(nv)
		}
		if i%4 == 1 {
			old, present := want[ks]
			ok, err := tb.CompareAndSwap(k, []byte(old), []byte("swapped"))
			c.check("CompareAndSwap(%s)", k, err)
			if c.clean && ok != present {
				t.Fatalf("CompareAndSwap(%s) on an undamaged table = %v, want %v", k, ok, present)
			}
			if ok {
				want[ks] = "swapped"
			}
		}
		if i%5 == 2 {
			ok, err := tb.Delete(k)
			c.check("Delete(%s)", k, err)
			_, present := want[ks]
			if c.clean && ok != present {
				t.Fatalf("Delete(%s) on an undamaged table = %v, want %v", k, ok, present)
			}
			delete(want, ks)
		}
	}
	// New keys: the template has 20 of 24 slots claimed.
	const newKeys = 4
	for i := range newKeys {
		k := fmt.Appendf(nil, "new-%d", i)
		v := bytes.Repeat([]byte{'N'}, 10+i*30)
		stored, err := tb.SetIfAbsent(k, v)
		c.check("SetIfAbsent(%s)", k, err)
		if c.clean && !stored {
			t.Fatalf("SetIfAbsent(%s) on an undamaged table did not store", k)
		}
		if stored {
			want[string(k)] = string(v)
		}
		actual, loaded, err := tb.GetOrSet(k, []byte("other"))
		c.check("GetOrSet(%s)", k, err)
		if c.clean && (!loaded || !bytes.Equal(actual, v)) {
			t.Fatalf("GetOrSet(%s) on an undamaged table = %q, %v", k, actual, loaded)
		}
		ok, err := tb.CompareAndDelete(k, []byte("not the value"))
		c.check("CompareAndDelete(%s)", k, err)
		if ok && c.clean {
			t.Fatalf("CompareAndDelete(%s) with a wrong value deleted it", k)
		}
	}
	if !c.clean {
		want = nil // the damaged table's contents are unknown
	}
	snapshot("after writes", want, len(tp.keys)+newKeys)
	c.check("Clear", nil, tb.Clear())
	snapshot("after Clear", map[string]string{}, len(tp.keys)+newKeys)
	if c.clean {
		if n := tb.Len(); n != 0 {
			t.Fatalf("Len after Clear = %d", n)
		}
	}
	// The cleared table takes writes again.
	c.check("Set after Clear", nil, tb.Set(tp.keys[0], []byte("again")))
}

// exerciseAdder makes k an adder handle and adds 5 through it. On an
// undamaged table, k must be an adder (isAdder, whose sum is then sum) or
// a plain counter (ErrNotCounter).
func exerciseAdder(t testing.TB, tb *table.Table, k []byte, isAdder bool, sum int64, c checker) {
	t.Helper()
	a, err := tb.Adder(k)
	if isAdder {
		c.check("Adder(%s)", k, err)
	} else {
		c.check("Adder(%s) on a counter", k, err, table.ErrNotCounter)
		if c.clean && !errors.Is(err, table.ErrNotCounter) {
			t.Fatalf("Adder(%s) on a plain counter of an undamaged table: %v", k, err)
		}
	}
	if err != nil {
		return
	}
	c.check("Adder(%s).Add", k, a.Add(5))
	n, err := a.Sum()
	c.check("Adder(%s).Sum", k, err)
	if c.clean && n != sum {
		t.Fatalf("Adder(%s).Sum on an undamaged table = %d, want %d", k, n, sum)
	}
}

// FuzzAttach attaches arbitrary bytes as a segment image (zero-extended
// to size mod 2^20+1 when that is longer; see extend): the result must be
// a typed error (ErrCorrupt or ErrVersion) or a table on which operations
// return typed errors only, and that Repair accepts.
//
// Inputs with more than maxAttachData bytes of data are skipped: the
// fuzzer's byte minimizer tries O(n^2) candidates of an n-byte input, so
// it never finished one of the 25 KiB images of a populated segment within
// -fuzzminimizetime, and when it runs out of time the toolchain drops the
// minimization's runs and restarts the worker: a run of FuzzAttach spent
// most of its 10 minutes that way, at 0 runs a second. Populated segments
// with other headers are FuzzFlipLayout's; FuzzAttach explores headers,
// sizes and the start of the control region.
func FuzzAttach(f *testing.F) {
	f.Add([]byte{}, uint32(0))
	f.Add([]byte("SHMDICT\x00"), uint32(0))
	tp := getTemplate(f)
	total := uint32(len(tp.file))
	hdr := tp.file[:headerSize]
	f.Add(bytes.Clone(hdr), total)
	big := largerArena(hdr)
	f.Add(big[:headerSize], uint32(len(tp.file)+largerBy)) // a larger arena, empty
	f.Add(big[:headerSize], total)                         // the file is too short for it
	f.Add(reseal(hdr, 32, 64), total)                      // 64 slots
	f.Add(reseal(hdr, 40, 1), total)                       // claim budget 1
	f.Fuzz(func(t *testing.T, data []byte, size uint32) {
		if len(data) > maxAttachData {
			t.Skip("longer than maxAttachData")
		}
		runAttach(t, heapBackend{}, tp, data, size)
	})
}

// reseal returns a copy of src with the u64 at off set to v and the
// header checksum recomputed.
func reseal(src []byte, off int, v uint64) []byte {
	h := bytes.Clone(src)
	binary.LittleEndian.PutUint64(h[off:], v)
	binary.LittleEndian.PutUint64(h[hdrChecksum:], xxhash.Sum64(h[:hdrChecksum]))
	return h
}

// layoutVariants are the template's image under other headers (resealed),
// each a populated segment whose layout disagrees with its contents in
// one way: FuzzFlipLayout's bases.
func layoutVariants(tp template) [][]byte {
	return [][]byte{
		tp.file,
		reseal(tp.file, 32, 64), // 64 slots: keys out of place
		reseal(tp.file, 48, 1|uint64(tp.file[52])<<32), // probe limit 1
		reseal(tp.file, 40, 1),                         // claim budget 1, 20 claimed
		reseal(tp.file, hdrSeed, 12345),                // another seed: every key's hash changes
		largerArena(tp.file),                           // a larger arena
	}
}

// largerBy is what largerArena adds to the arena.
const largerBy = 4096

// largerArena returns src (a header, or a whole image) with an arena
// largerBy bytes larger: the header's arena size, lanes offset and total
// size move together, as decodeHeader requires, and in a whole image the
// lanes region moves up past the new (zero) arena bytes, so the adders
// keep their sums.
func largerArena(src []byte) []byte {
	le := binary.LittleEndian
	laneOff := le.Uint64(src[hdrLaneOff:])
	h := reseal(src, hdrArenaSize, le.Uint64(src[hdrArenaSize:])+largerBy)
	h = reseal(h, hdrLaneOff, laneOff+largerBy)
	h = reseal(h, hdrTotal, le.Uint64(src[hdrTotal:])+largerBy)
	if len(src) == headerSize {
		return h
	}
	out := append(h[:laneOff:laneOff], make([]byte, largerBy)...)
	return append(out, src[laneOff:]...)
}

// FuzzFlipLayout runs FuzzAttach's checks on a populated segment under one
// of the headers of layoutVariants (variant mod their count), with the
// flips data asks for (as in FuzzFlip). The inputs stay small, so the
// fuzzer can minimize them; the same images given to FuzzAttach as 25 KiB
// of data could not be.
func FuzzFlipLayout(f *testing.F) {
	tp := getTemplate(f)
	variants := layoutVariants(tp)
	for i := range variants {
		f.Add(uint8(i), []byte{})
	}
	f.Fuzz(func(t *testing.T, variant uint8, data []byte) {
		runFlipLayout(t, heapBackend{}, tp, variants, variant, data)
	})
}

// runFlipLayout is FuzzFlipLayout's body, on the backend be.
func runFlipLayout(t testing.TB, be backend, tp template, variants [][]byte, variant uint8, data []byte) {
	img := flip(variants[int(variant)%len(variants)], tp.slots, data)
	runAttach(t, be, tp, img, uint32(len(img)))
}

// runAttach is FuzzAttach's body, on the backend be.
func runAttach(t testing.TB, be backend, tp template, data []byte, size uint32) {
	file := extend(data, size)
	stop := guard(func() string { return fmt.Sprintf("FuzzAttach(%d bytes, size %d)", len(data), size) })
	defer stop()
	tb, err := be.attach(t, file)
	if err != nil {
		if !errors.Is(err, table.ErrCorrupt) && !errors.Is(err, table.ErrVersion) {
			t.Fatalf("Attach: %v, want ErrCorrupt or ErrVersion", err)
		}
		be.attachFailed(t, file, err)
		return
	}
	defer func() { tb.Close() }() // on a failure; the end of the run closes it first
	c := checker{t: t}
	for range tb.All() {
	}
	_ = tb.Len()
	if st := tb.Stats(); st.ArenaFree < 0 || st.ArenaUsed < 0 || st.ClaimedSlots > st.Slots {
		t.Fatalf("Stats out of bounds: %+v", st)
	}
	for _, k := range append(tp.keys, []byte("fuzz"), []byte{}) {
		_, err := tb.Get(k)
		c.check("Get(%s)", k, err)
		c.check("Set(%s)", k, tb.Set(k, []byte("value")))
		_, err = tb.Get(k)
		c.check("Get(%s) after Set", k, err)
		_, err = tb.Add(k, 1)
		c.check("Add(%s)", k, err)
		_, err = tb.Delete(k)
		c.check("Delete(%s)", k, err)
		_, err = tb.Add(k, -3)
		c.check("Add(%s) after Delete", k, err)
		_, err = tb.CompareAndSwap(k, binary.LittleEndian.AppendUint64(nil, ^uint64(2)), []byte("v2"))
		c.check("CompareAndSwap(%s)", k, err)
		_, _, err = tb.GetOrSet(k, []byte("v3"))
		c.check("GetOrSet(%s)", k, err)
		_, err = tb.Delete(k)
		c.check("Delete(%s) before Adder", k, err)
		if a, err := tb.Adder(k); err == nil {
			c.check("Adder(%s).Add", k, a.Add(7))
			_, err = a.Sum()
			c.check("Adder(%s).Sum", k, err)
		} else {
			c.check("Adder(%s)", k, err)
		}
	}
	c.check("AllErr", nil, tb.AllErr(func(k, v []byte) bool { return true }))
	if rep, err := tb.Verify(); err != nil && !errors.Is(err, table.ErrCorrupt) || (err == nil) != rep.OK() {
		t.Fatalf("Verify: %v\n%s", err, rep)
	}
	c.check("Clear", nil, tb.Clear())
	_ = tb.Stats()
	// Repair must not fail on whatever attached (no post-condition
	// here: FuzzFlip checks what Repair leaves).
	tb, rep, err := be.repair(t, tb)
	if err != nil {
		t.Fatalf("Repair: %v\n%s", err, rep)
	}
	if err := tb.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// extend is the segment image of a FuzzAttach input: data, zero-extended
// to size mod 2^20+1 when that is longer.
func extend(data []byte, size uint32) []byte {
	if n := int(size % (maxFileSize + 1)); n > len(data) {
		return append(bytes.Clone(data), make([]byte, n-len(data))...)
	}
	return data
}

// TestFuzzTemplateClean runs the FuzzFlip checks on an undamaged copy of
// the template, and checks that flipsOf maps inputs as documented, so
// that the corpus means what it says.
func TestFuzzTemplateClean(t *testing.T) {
	tp := getTemplate(t)
	if tp.slots != 20480 || tp.arena != 24576 || len(tp.file) != 32768 {
		t.Fatalf("template layout: slots at %d, arena at %d, %d bytes; the corpus assumes 20480, 24576, 32768",
			tp.slots, tp.arena, len(tp.file))
	}
	if file, slots := evictTemplate(t); len(file) != 32768 || slots != 28160 {
		t.Fatalf("eviction template: %d bytes, flips from %d; the corpus assumes 32768, 28160", len(file), slots)
	}
	size := uint64(len(tp.file))
	in := []byte{
		0, 0, 0, 0, 0xFF, // slots+0
		0x10, 0x10, 0, 0, 1, // slots+0x1010 = arena+16
		0, 1, 0, 0x80, 2, // control 256+256 = 512
		0xFF, 0xFF, 0xFF, 0x7F, 3, // slots + (2^31-1) mod 12288
		9, 9, // partial tail, ignored
	}
	offs, masks := flipsOf(in, tp.slots, size)
	wantOffs := []uint64{20480, 24576 + 16, 512, 20480 + (1<<31-1)%12288}
	if diff := cmp.Diff(wantOffs, offs); diff != "" || !bytes.Equal(masks, []byte{0xFF, 1, 2, 3}) {
		t.Errorf("flipsOf: offsets (-want +got):\n%s masks %v", diff, masks)
	}
	for i := range len(in) * 8 {
		d := bytes.Clone(in)
		d[i/8] ^= 1 << (i % 8)
		offs, _ := flipsOf(d, tp.slots, size)
		for _, o := range offs {
			if o < headerSize || o >= size {
				t.Fatalf("flipsOf put a flip at %d, outside [256, %d)", o, size)
			}
		}
	}

	// The larger-arena variant is a consistent segment: it attaches,
	// passes Verify and keeps the template's contents, the adder's sum
	// included.
	tb, err := table.AttachImage(largerArena(tp.file))
	if err != nil {
		t.Fatalf("AttachImage(largerArena): %v", err)
	}
	if rep, err := tb.Verify(); err != nil || rep.Adders != 1 {
		t.Fatalf("Verify(largerArena): %v, %d adders\n%s", err, rep.Adders, rep)
	}
	got := map[string]string{}
	for k, v := range tb.All() {
		got[string(k)] = string(v)
	}
	if diff := cmp.Diff(tp.want, got); diff != "" {
		t.Fatalf("largerArena contents (-want +got):\n%s", diff)
	}
	if st := tb.Stats(); st.ArenaBytes != int64(4096+largerBy) {
		t.Fatalf("largerArena: ArenaBytes = %d, want %d", st.ArenaBytes, 4096+largerBy)
	}
	tb.Close()

	for _, be := range []backend{heapBackend{}, newFileBackend(t)} {
		tb, err := be.attach(t, tp.file)
		if err != nil {
			t.Fatal(err)
		}
		exercise(t, tb, tp, checker{t: t, clean: true})
		if err := tb.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
