package table_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cespare/xxhash/v2"

	"github.com/shmdict/shmdict/table"
)

// Each sentinel of errors.go, provoked through the public API.

// errsWant checks that err matches sentinel and that its message starts
// with the package prefix.
func errsWant(t *testing.T, what string, err, sentinel error) {
	t.Helper()
	if !errors.Is(err, sentinel) {
		t.Errorf("%s: error %v, want %v", what, err, sentinel)
		return
	}
	if !strings.HasPrefix(err.Error(), "shmdict: ") {
		t.Errorf("%s: message %q does not start with %q", what, err, "shmdict: ")
	}
}

var errsNameSeq uint64 // tests here do not run in parallel

// errsShmName returns a /dev/shm table name unique to this process and
// test, removed when the test ends.
func errsShmName(t *testing.T) string {
	t.Helper()
	errsNameSeq++
	name := fmt.Sprintf("shmdict-errtest-%d-%d", os.Getpid(), errsNameSeq)
	t.Cleanup(func() { table.Remove(name) })
	return name
}

func errsNew(t *testing.T, opts table.Options) *table.Table {
	t.Helper()
	tb, err := table.New(opts)
	if err != nil {
		t.Fatalf("New(%+v): %v", opts, err)
	}
	t.Cleanup(func() { tb.Close() })
	return tb
}

// errsFile creates a file-backed table in a temporary directory, closes
// it, and returns its path and bytes.
func errsFile(t *testing.T, opts table.Options, fill func(*table.Table)) (string, []byte) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "seg")
	tb, err := table.Create(p, opts)
	if err != nil {
		t.Fatal(err)
	}
	if fill != nil {
		fill(tb)
	}
	if err := tb.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return p, b
}

func errsWrite(t *testing.T, p string, b []byte) {
	t.Helper()
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// errsAttachFails attaches p, which must fail with sentinel; so must Open,
// which must not replace the file either.
func errsAttachFails(t *testing.T, what, p string, sentinel error) {
	t.Helper()
	before, _ := os.ReadFile(p)
	tb, err := table.Attach(p)
	if err == nil {
		tb.Close()
	}
	errsWant(t, what+": Attach", err, sentinel)
	tb, err = table.Open(p, table.Options{Capacity: 100})
	if err == nil {
		tb.Close()
	}
	errsWant(t, what+": Open", err, sentinel)
	if after, _ := os.ReadFile(p); !bytes.Equal(before, after) {
		t.Errorf("%s: a failed Attach/Open changed the file", what)
	}
}

func TestErrNotFound(t *testing.T) {
	tb := errsNew(t, table.Options{Capacity: 100})
	k := []byte("missing")
	_, err := tb.Get(k)
	errsWant(t, "Get of a missing key", err, table.ErrNotFound)
	dst := []byte("prefix")
	out, err := tb.AppendGet(dst, k)
	errsWant(t, "AppendGet of a missing key", err, table.ErrNotFound)
	if string(out) != "prefix" {
		t.Errorf("AppendGet of a missing key returned %q, want dst unchanged", out)
	}
	if err := tb.Set(k, []byte("v")); err != nil {
		t.Fatal(err)
	}
	if ok, err := tb.Delete(k); !ok || err != nil {
		t.Fatalf("Delete = %v, %v", ok, err)
	}
	_, err = tb.Get(k)
	errsWant(t, "Get of a deleted key", err, table.ErrNotFound)
	// Not errors: the other lookups report absence in their results.
	if ok, err := tb.Delete(k); ok || err != nil {
		t.Errorf("Delete of a deleted key = %v, %v, want false, nil", ok, err)
	}
	if ok, err := tb.Contains(k); ok || err != nil {
		t.Errorf("Contains of a deleted key = %v, %v", ok, err)
	}
	if n, err := tb.Add(k, 0); n != 0 || err != nil {
		t.Errorf("Add(missing, 0) = %d, %v, want 0, nil", n, err)
	}
	if ok, err := tb.CompareAndSwap(k, nil, []byte("x")); ok || err != nil {
		t.Errorf("CompareAndSwap of a missing key = %v, %v", ok, err)
	}
}

func TestErrExistNotExist(t *testing.T) {
	name := errsShmName(t)
	tb, err := table.Create(name, table.Options{Capacity: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	_, err = table.Create(name, table.Options{Capacity: 10})
	errsWant(t, "Create of an existing name", err, table.ErrExist)

	p := filepath.Join(t.TempDir(), "seg")
	tf, err := table.Create(p, table.Options{Capacity: 10})
	if err != nil {
		t.Fatal(err)
	}
	tf.Close()
	_, err = table.Create(p, table.Options{Capacity: 10})
	errsWant(t, "Create of an existing path", err, table.ErrExist)

	missing := errsShmName(t)
	_, err = table.Attach(missing)
	errsWant(t, "Attach of a missing name", err, table.ErrNotExist)
	errsWant(t, "Remove of a missing name", table.Remove(missing), table.ErrNotExist)
	errsWant(t, "RemoveUnused of a missing name", table.RemoveUnused(missing), table.ErrNotExist)
	_, err = table.Attach(filepath.Join(t.TempDir(), "nope"))
	errsWant(t, "Attach of a missing path", err, table.ErrNotExist)

	if err := table.Remove(name); err != nil {
		t.Fatal(err)
	}
	_, err = table.Attach(name)
	errsWant(t, "Attach after Remove", err, table.ErrNotExist)
}

// TestErrFullClaimBudget: a table accepts Capacity rounded up to 3/4 of a
// power of two of distinct keys; the next new key is refused, also after
// deletes (a deleted key keeps its slot), while existing keys stay usable.
func TestErrFullClaimBudget(t *testing.T) {
	tb := errsNew(t, table.Options{Capacity: 12}) // 16 slots, budget 12
	if c := tb.Stats().Capacity; c != 12 {
		t.Fatalf("Stats().Capacity = %d, want 12", c)
	}
	for i := range 12 {
		if err := tb.Set(fmt.Appendf(nil, "k%d", i), []byte("v")); err != nil {
			t.Fatalf("Set of key %d of 12: %v", i, err)
		}
	}
	err := tb.Set([]byte("k12"), []byte("v"))
	errsWant(t, "Set of a 13th key", err, table.ErrFull)
	if err != nil && !strings.Contains(err.Error(), "Capacity") {
		t.Errorf("ErrFull message %q does not say what to do (a larger Capacity)", err)
	}
	_, err = tb.Add([]byte("k12"), 1)
	errsWant(t, "Add of a 13th key", err, table.ErrFull)
	_, _, err = tb.GetOrSet([]byte("k12"), []byte("v"))
	errsWant(t, "GetOrSet of a 13th key", err, table.ErrFull)
	_, err = tb.SetIfAbsent([]byte("k12"), []byte("v"))
	errsWant(t, "SetIfAbsent of a 13th key", err, table.ErrFull)

	if ok, err := tb.Delete([]byte("k3")); !ok || err != nil {
		t.Fatalf("Delete: %v %v", ok, err)
	}
	err = tb.Set([]byte("k12"), []byte("v"))
	errsWant(t, "Set of a new key after a delete", err, table.ErrFull)
	// Existing keys, deleted ones included, still take writes.
	if err := tb.Set([]byte("k3"), []byte("again")); err != nil {
		t.Errorf("re-Set of a deleted key: %v", err)
	}
	if err := tb.Set([]byte("k0"), []byte("new value")); err != nil {
		t.Errorf("overwrite on a full table: %v", err)
	}
	st := tb.Stats()
	if st.Keys != 12 || st.ClaimedSlots != 12 || tb.Len() != 12 {
		t.Errorf("Stats after refusals: keys %d claimed %d Len %d, want 12 12 12", st.Keys, st.ClaimedSlots, tb.Len())
	}
}

// TestErrFullProbeLimit fills the 64 probe groups of one key's sequence
// (in a table of 128 groups, so the claim budget is not reached) and
// checks that inserting that key gives ErrFull. The test reads the hash
// seed from the segment file's header (+24) and mirrors the probe
// sequence documented in probe.go with cespare/xxhash's seeded XXH64.
func TestErrFullProbeLimit(t *testing.T) {
	const (
		slots    = 512 // Capacity 300 -> 512 slots, budget 384
		groups   = slots / 4
		maxProbe = 64
	)
	p := filepath.Join(t.TempDir(), "seg")
	tb, err := table.Create(p, table.Options{Capacity: 300})
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	if st := tb.Stats(); st.Slots != slots || st.Capacity != 384 {
		t.Fatalf("table has %d slots, capacity %d; the test assumes %d, 384", st.Slots, st.Capacity, slots)
	}
	hdr := make([]byte, 32)
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.ReadAt(hdr, 0)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	seed := binary.LittleEndian.Uint64(hdr[24:])
	hash := func(k []byte) uint64 {
		d := xxhash.NewWithSeed(seed)
		d.Write(k)
		return d.Sum64()
	}
	// sequence returns the slots key may occupy, in probe order.
	sequence := func(k []byte) []int {
		var out []int
		g := hash(k) & (groups - 1)
		for i := uint64(0); i < maxProbe; i++ {
			for j := range 4 {
				out = append(out, int(g*4)+j)
			}
			g = (g + i + 1) & (groups - 1)
		}
		return out
	}
	target := []byte("target")
	inTarget := map[int]bool{}
	for _, s := range sequence(target) {
		inTarget[s] = true
	}
	if len(inTarget) != maxProbe*4 {
		t.Fatalf("target's probe sequence covers %d distinct slots, want %d", len(inTarget), maxProbe*4)
	}
	var used [slots]bool
	filled := 0
	for i := 0; filled < len(inTarget); i++ {
		if i > 1_000_000 {
			t.Fatalf("found only %d keys for the target's groups", filled)
		}
		k := fmt.Appendf(nil, "filler-%d", i)
		land := -1
		for _, s := range sequence(k) {
			if !used[s] {
				land = s
				break
			}
		}
		if land < 0 || !inTarget[land] {
			continue
		}
		if err := tb.Set(k, nil); err != nil {
			t.Fatalf("Set of filler %d (key %d placed): %v", i, filled, err)
		}
		used[land] = true
		filled++
	}
	if st := tb.Stats(); st.ClaimedSlots != filled || st.ClaimedSlots >= st.Capacity {
		t.Fatalf("claimed %d slots of capacity %d, placed %d keys", st.ClaimedSlots, st.Capacity, filled)
	}
	err = tb.Set(target, []byte("v"))
	errsWant(t, "Set of a key whose probe groups are all claimed", err, table.ErrFull)
	if err != nil && !strings.Contains(err.Error(), "probe") {
		t.Errorf("ErrFull message %q does not say the probe limit was hit", err)
	}
	_, err = tb.Add(target, 1)
	errsWant(t, "Add of a key whose probe groups are all claimed", err, table.ErrFull)
	_, err = tb.Get(target)
	errsWant(t, "Get of that key", err, table.ErrNotFound)
	if st := tb.Stats(); st.ClaimedSlots != filled {
		t.Errorf("refused inserts changed the claimed count: %d, want %d", st.ClaimedSlots, filled)
	}
	// Other keys still go in: one whose probe sequence has a free slot
	// (a key homed in the target's first group has the same sequence, all
	// of it claimed: about one key in 128 with this table's random seed).
	for i := 0; ; i++ {
		k := fmt.Appendf(nil, "another key %d", i)
		free := false
		for _, s := range sequence(k) {
			free = free || !used[s]
		}
		if !free {
			continue
		}
		if err := tb.Set(k, []byte("v")); err != nil {
			t.Errorf("Set of an unrelated key with a free slot on its probe path: %v", err)
		}
		break
	}
}

// TestErrFullArena: values that do not fit the arena give ErrFull, with a
// message naming the arena; smaller ones still fit, and freed space is
// reused.
func TestErrFullArena(t *testing.T) {
	tb := errsNew(t, table.Options{Capacity: 16, ArenaBytes: 4096})
	err := tb.Set([]byte("big"), make([]byte, 5000))
	errsWant(t, "Set of a value larger than the arena", err, table.ErrFull)
	if err != nil && !strings.Contains(err.Error(), "ArenaBytes") {
		t.Errorf("ErrFull message %q does not point at ArenaBytes", err)
	}
	// Fill it with 1 KiB values (1032-byte records take 1280-byte blocks).
	var stored [][]byte
	for i := 0; ; i++ {
		k := fmt.Appendf(nil, "k%d", i)
		err := tb.Set(k, bytes.Repeat([]byte{byte(i)}, 1024))
		if err != nil {
			errsWant(t, "Set on a full arena", err, table.ErrFull)
			break
		}
		stored = append(stored, k)
		if i > 10 {
			t.Fatalf("a 4 KiB arena took %d 1 KiB values", i+1)
		}
	}
	if len(stored) == 0 {
		t.Fatal("no 1 KiB value fit a 4 KiB arena")
	}
	// A key record larger than the arena.
	err = tb.Set(make([]byte, 5000), nil)
	errsWant(t, "Set with a key larger than the arena", err, table.ErrFull)
	if st := tb.Stats(); st.ArenaFree < 0 || st.ArenaUsed > st.ArenaBytes {
		t.Errorf("Stats on a full arena: %+v", st)
	}
	// Deleting frees space for a value of the same size.
	if _, err := tb.Delete(stored[0]); err != nil {
		t.Fatal(err)
	}
	if err := tb.Set(stored[0], bytes.Repeat([]byte{7}, 1024)); err != nil {
		t.Errorf("Set after freeing a block of that size: %v", err)
	}
	// The stored values are intact.
	for i, k := range stored[1:] {
		v, err := tb.Get(k)
		if err != nil || !bytes.Equal(v, bytes.Repeat([]byte{byte(i + 1)}, 1024)) {
			t.Errorf("Get(%s) after ErrFull: %d bytes, %v", k, len(v), err)
		}
	}
}

func TestErrKeyValueTooLarge(t *testing.T) {
	tb := errsNew(t, table.Options{Capacity: 16, ArenaBytes: 1 << 20})
	big := make([]byte, table.MaxKeyLen+1)
	v := []byte("v")
	calls := map[string]func() error{
		"Get":              func() error { _, err := tb.Get(big); return err },
		"AppendGet":        func() error { _, err := tb.AppendGet(nil, big); return err },
		"Contains":         func() error { _, err := tb.Contains(big); return err },
		"Set":              func() error { return tb.Set(big, v) },
		"Delete":           func() error { _, err := tb.Delete(big); return err },
		"Add":              func() error { _, err := tb.Add(big, 1); return err },
		"CompareAndSwap":   func() error { _, err := tb.CompareAndSwap(big, v, v); return err },
		"CompareAndDelete": func() error { _, err := tb.CompareAndDelete(big, v); return err },
		"GetOrSet":         func() error { _, _, err := tb.GetOrSet(big, v); return err },
		"SetIfAbsent":      func() error { _, err := tb.SetIfAbsent(big, v); return err },
	}
	for name, call := range calls {
		errsWant(t, name+" with a key of MaxKeyLen+1 bytes", call(), table.ErrKeyTooLarge)
	}
	// MaxKeyLen itself is fine.
	maxKey := bytes.Repeat([]byte{'k'}, table.MaxKeyLen)
	if err := tb.Set(maxKey, v); err != nil {
		t.Errorf("Set with a key of MaxKeyLen bytes: %v", err)
	}
	if got, err := tb.Get(maxKey); err != nil || !bytes.Equal(got, v) {
		t.Errorf("Get with a key of MaxKeyLen bytes: %q, %v", got, err)
	}

	huge := make([]byte, table.MaxValueLen+1)
	k := []byte("k")
	calls = map[string]func() error{
		"Set":            func() error { return tb.Set(k, huge) },
		"CompareAndSwap": func() error { _, err := tb.CompareAndSwap(k, v, huge); return err },
		"GetOrSet":       func() error { _, _, err := tb.GetOrSet(k, huge); return err },
		"SetIfAbsent":    func() error { _, err := tb.SetIfAbsent(k, huge); return err },
	}
	for name, call := range calls {
		errsWant(t, name+" with a value of MaxValueLen+1 bytes", call(), table.ErrValueTooLarge)
	}
	if _, err := tb.Get(k); !errors.Is(err, table.ErrNotFound) {
		t.Errorf("a refused value was stored: Get = %v", err)
	}
	if st := tb.Stats(); st.ClaimedSlots != 1 {
		t.Errorf("refused keys and values claimed slots: %d claimed, want 1 (the MaxKeyLen key)", st.ClaimedSlots)
	}
}

func TestErrCorrupt(t *testing.T) {
	p, valid := errsFile(t, table.Options{Capacity: 16}, func(tb *table.Table) {
		tb.Set([]byte("a"), []byte("b"))
	})
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 2))
	garbage := make([]byte, len(valid))
	for i := range garbage {
		garbage[i] = byte(r.Uint32())
	}
	cases := []struct {
		name string
		data []byte
	}{
		{"garbage", garbage},
		{"empty file", nil},
		{"a partial header", valid[:200]},
		{"truncated", valid[:len(valid)-4096]},
		{"extended", append(append([]byte(nil), valid...), make([]byte, 4096)...)},
	}
	for i := range 192 {
		// One flip in each checksummed header byte but the version's.
		if i >= 8 && i < 12 {
			continue
		}
		b := append([]byte(nil), valid...)
		b[i] ^= 1 << (i % 8)
		cases = append(cases, struct {
			name string
			data []byte
		}{fmt.Sprintf("header byte %d flipped", i), b})
	}
	for _, c := range cases {
		errsWrite(t, p, c.data)
		errsAttachFails(t, c.name, p, table.ErrCorrupt)
		if t.Failed() {
			t.Fatalf("stopping at %s", c.name)
		}
	}
	// Restored, it works.
	errsWrite(t, p, valid)
	tb, err := table.Attach(p)
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	if v, err := tb.Get([]byte("a")); err != nil || string(v) != "b" {
		t.Errorf("restored segment: Get = %q, %v", v, err)
	}
}

func TestErrVersion(t *testing.T) {
	p, valid := errsFile(t, table.Options{Capacity: 16}, nil)
	for _, v := range []uint32{0, 1, 2, 4, 6, 1 << 16, math.MaxUint32} {
		for _, resealed := range []bool{true, false} {
			if v == 6 && !resealed {
				continue // a version this build reads: the checksum speaks first
			}
			b := append([]byte(nil), valid...)
			binary.LittleEndian.PutUint32(b[8:], v)
			if resealed {
				binary.LittleEndian.PutUint64(b[184:], xxhash.Sum64(b[:184]))
			}
			errsWrite(t, p, b)
			errsAttachFails(t, fmt.Sprintf("version %d (checksum resealed: %v)", v, resealed), p, table.ErrVersion)
		}
	}
	// The same file with version 5 and a resealed checksum attaches: the
	// test patches the right field.
	b := append([]byte(nil), valid...)
	binary.LittleEndian.PutUint32(b[8:], 5)
	binary.LittleEndian.PutUint64(b[184:], xxhash.Sum64(b[:184]))
	errsWrite(t, p, b)
	tb, err := table.Attach(p)
	if err != nil {
		t.Fatalf("version 5, resealed: %v", err)
	}
	tb.Close()
}

// TestErrClosed calls every method after Close, on a heap table and on a
// segment table.
func TestErrClosed(t *testing.T) {
	for _, kind := range []string{"heap", "segment"} {
		t.Run(kind, func(t *testing.T) {
			var tb *table.Table
			var err error
			if kind == "heap" {
				tb, err = table.New(table.Options{Capacity: 16})
			} else {
				tb, err = table.Create(errsShmName(t), table.Options{Capacity: 16})
			}
			if err != nil {
				t.Fatal(err)
			}
			k, v := []byte("k"), []byte("v")
			if err := tb.Set(k, v); err != nil {
				t.Fatal(err)
			}
			if _, err := tb.Add([]byte("n"), 5); err != nil {
				t.Fatal(err)
			}
			if err := tb.Close(); err != nil {
				t.Fatal(err)
			}
			calls := map[string]func() error{
				"Get":              func() error { _, err := tb.Get(k); return err },
				"AppendGet":        func() error { _, err := tb.AppendGet(nil, k); return err },
				"Contains":         func() error { _, err := tb.Contains(k); return err },
				"Set":              func() error { return tb.Set(k, v) },
				"Delete":           func() error { _, err := tb.Delete(k); return err },
				"Add":              func() error { _, err := tb.Add([]byte("n"), 1); return err },
				"Add 0":            func() error { _, err := tb.Add([]byte("n"), 0); return err },
				"CompareAndSwap":   func() error { _, err := tb.CompareAndSwap(k, v, v); return err },
				"CompareAndDelete": func() error { _, err := tb.CompareAndDelete(k, v); return err },
				"GetOrSet":         func() error { _, _, err := tb.GetOrSet(k, v); return err },
				"SetIfAbsent":      func() error { _, err := tb.SetIfAbsent(k, v); return err },
				"Clear":            func() error { return tb.Clear() },
				"AllErr":           func() error { return tb.AllErr(func(k, v []byte) bool { return true }) },
				"Close":            func() error { return tb.Close() },
			}
			for name, call := range calls {
				errsWant(t, name+" after Close", call(), table.ErrClosed)
			}
			for k := range tb.All() {
				t.Errorf("All after Close yielded %q", k)
			}
			for k := range tb.Keys() {
				t.Errorf("Keys after Close yielded %q", k)
			}
			if n := tb.Len(); n != 0 {
				t.Errorf("Len after Close = %d", n)
			}
			if st := tb.Stats(); st.Keys != 0 || st.Capacity != 0 || st.Processes != nil {
				t.Errorf("Stats after Close = %+v, want zero", st)
			}
		})
	}
}

func TestErrNotCounter(t *testing.T) {
	tb := errsNew(t, table.Options{Capacity: 16})
	k := []byte("bytes")
	if err := tb.Set(k, []byte("12345678")); err != nil {
		t.Fatal(err)
	}
	for _, d := range []int64{1, -1, 0} {
		_, err := tb.Add(k, d)
		errsWant(t, fmt.Sprintf("Add(%d) on a byte value", d), err, table.ErrNotCounter)
	}
	if v, err := tb.Get(k); err != nil || string(v) != "12345678" {
		t.Errorf("byte value after refused Adds: %q, %v", v, err)
	}
	// An empty byte value is still a byte value.
	if err := tb.Set(k, nil); err != nil {
		t.Fatal(err)
	}
	_, err := tb.Add(k, 1)
	errsWant(t, "Add on an empty byte value", err, table.ErrNotCounter)
	// Set turns a counter back into bytes; Delete then Add starts over.
	if _, err := tb.Delete(k); err != nil {
		t.Fatal(err)
	}
	if n, err := tb.Add(k, 3); n != 3 || err != nil {
		t.Errorf("Add after Delete = %d, %v, want 3", n, err)
	}
}

func TestErrRange(t *testing.T) {
	tb := errsNew(t, table.Options{Capacity: 16})
	k := []byte("c")
	if n, err := tb.Add(k, table.MaxCounter); n != table.MaxCounter || err != nil {
		t.Fatalf("Add(MaxCounter) = %d, %v", n, err)
	}
	_, err := tb.Add(k, 1)
	errsWant(t, "Add past MaxCounter", err, table.ErrRange)
	_, err = tb.Add(k, math.MaxInt64)
	errsWant(t, "Add(MaxInt64) to MaxCounter", err, table.ErrRange)
	if n, _ := tb.Add(k, 0); n != table.MaxCounter {
		t.Errorf("counter after refused Adds = %d, want MaxCounter", n)
	}
	// MaxCounter + MinInt64 = -2^62-1, just below MinCounter.
	_, err = tb.Add(k, math.MinInt64)
	errsWant(t, "Add(MinInt64) to MaxCounter", err, table.ErrRange)
	if n, err := tb.Add(k, -table.MaxCounter); n != 0 || err != nil {
		t.Fatalf("back to zero: %d, %v", n, err)
	}
	if n, err := tb.Add(k, table.MinCounter); n != table.MinCounter || err != nil {
		t.Fatalf("Add(MinCounter) = %d, %v", n, err)
	}
	_, err = tb.Add(k, -1)
	errsWant(t, "Add past MinCounter", err, table.ErrRange)
	_, err = tb.Add(k, math.MinInt64)
	errsWant(t, "Add(MinInt64) to MinCounter", err, table.ErrRange)
	if n, _ := tb.Add(k, 0); n != table.MinCounter {
		t.Errorf("counter after refused Adds = %d, want MinCounter", n)
	}
	// A new key with an out-of-range delta stays absent.
	for _, d := range []int64{math.MaxInt64, math.MinInt64, table.MaxCounter + 1, table.MinCounter - 1} {
		nk := fmt.Appendf(nil, "new%d", d)
		_, err := tb.Add(nk, d)
		errsWant(t, fmt.Sprintf("Add(new key, %d)", d), err, table.ErrRange)
		if _, err := tb.Get(nk); !errors.Is(err, table.ErrNotFound) {
			t.Errorf("a refused Add(%d) left the key present: %v", d, err)
		}
	}
}

func TestErrInvalid(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"", "a\x00b", ".", "..", ".hidden", strings.Repeat("n", 256), dir + "/"} {
		_, err := table.Open(name, table.Options{Capacity: 16})
		errsWant(t, fmt.Sprintf("Open(%q)", name), err, table.ErrInvalid)
		_, err = table.Create(name, table.Options{Capacity: 16})
		errsWant(t, fmt.Sprintf("Create(%q)", name), err, table.ErrInvalid)
		_, err = table.Attach(name)
		errsWant(t, fmt.Sprintf("Attach(%q)", name), err, table.ErrInvalid)
		errsWant(t, fmt.Sprintf("Remove(%q)", name), table.Remove(name), table.ErrInvalid)
		errsWant(t, fmt.Sprintf("RemoveUnused(%q)", name), table.RemoveUnused(name), table.ErrInvalid)
	}
	bad := map[string]table.Options{
		"no Capacity":               {},
		"negative Capacity":         {Capacity: -1},
		"huge Capacity":             {Capacity: 1<<40 + 1},
		"negative ArenaBytes":       {Capacity: 16, ArenaBytes: -1},
		"tiny ArenaBytes":           {Capacity: 16, ArenaBytes: 16},
		"ArenaBytes over 64 GiB":    {Capacity: 16, ArenaBytes: 1 << 40},
		"negative MaxProcesses":     {Capacity: 16, MaxProcesses: -1},
		"too many MaxProcesses":     {Capacity: 16, MaxProcesses: 1<<16 + 1},
		"world-writable Mode":       {Capacity: 16, Mode: 0o666},
		"world-writable Mode (o+w)": {Capacity: 16, Mode: 0o602},
		"setuid Mode":               {Capacity: 16, Mode: 0o4600},
		"directory Mode":            {Capacity: 16, Mode: os.ModeDir | 0o600},
	}
	for what, opts := range bad {
		p := filepath.Join(dir, "bad")
		_, err := table.Create(p, opts)
		errsWant(t, "Create with "+what, err, table.ErrInvalid)
		_, err = table.Open(p, opts)
		errsWant(t, "Open with "+what, err, table.ErrInvalid)
		if opts.Mode == 0 {
			_, err = table.New(opts)
			errsWant(t, "New with "+what, err, table.ErrInvalid)
		}
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("a refused Create/Open with %s left a file", what)
		}
	}
	// A world-writable existing file is refused at attach.
	p, _ := errsFile(t, table.Options{Capacity: 16}, nil)
	if err := os.Chmod(p, 0o666); err != nil {
		t.Fatal(err)
	}
	errsAttachFails(t, "world-writable segment", p, table.ErrInvalid)
	// Open of an existing segment ignores invalid options: its layout wins.
	if err := os.Chmod(p, 0o600); err != nil {
		t.Fatal(err)
	}
	tb, err := table.Open(p, table.Options{Capacity: -1})
	if err != nil {
		t.Errorf("Open of an existing segment with invalid options: %v", err)
	} else {
		tb.Close()
	}
}

// TestErrNotSegmentFile: things that are not regular files.
func TestErrNotSegmentFile(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{"/dev/null", dir} {
		tb, err := table.Attach(p)
		if err == nil {
			tb.Close()
		}
		if !errors.Is(err, table.ErrCorrupt) && !errors.Is(err, table.ErrInvalid) {
			t.Errorf("Attach(%s) = %v, want ErrCorrupt or ErrInvalid", p, err)
		}
	}
}

// TestErrReplaced: a forced Compact under an open Table leaves that Table
// on the old copy, whose writes then say to reopen the name.
func TestErrReplaced(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t")
	tb, err := table.Create(path, table.Options{Capacity: 16})
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	if _, err := table.Compact(path, table.CompactOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	errsWant(t, "Set after a forced Compact", tb.Set([]byte("k"), []byte("v")), table.ErrReplaced)
}

// TestErrInUseRegistryFull: a table whose process registry is full
// refuses another attach with ErrInUse, and the table's advice (the
// segment says only that the registry is full).
func TestErrInUseRegistryFull(t *testing.T) {
	name := errsShmName(t)
	tb, err := table.Create(name, table.Options{Capacity: 16, MaxProcesses: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	for what, open := range map[string]func() (*table.Table, error){
		"Attach": func() (*table.Table, error) { return table.Attach(name) },
		"Open":   func() (*table.Table, error) { return table.Open(name, table.Options{Capacity: 16}) },
	} {
		other, err := open()
		if err == nil {
			other.Close()
			t.Fatalf("%s of a table with its one registry entry held succeeded", what)
		}
		errsWant(t, what+" with a full registry", err, table.ErrInUse)
		if !strings.Contains(err.Error(), "registry entries") || !strings.Contains(err.Error(), "larger MaxProcesses") {
			t.Errorf("%s: message %q does not say the registry is full and what to do", what, err)
		}
	}
}
