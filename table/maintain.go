package table

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/shmdict/shmdict/segment"
)

// CompactOptions configure Compact.
type CompactOptions struct {
	// Capacity of the new generation; 0 keeps the current one (for a
	// growing table, the capacity of the tiers in use: the new generation
	// starts with one tier that large). Compaction is also how a fixed
	// table grows.
	Capacity int
	// MaxCapacity of the new generation (see Options.MaxCapacity); 0
	// keeps the current one. A growing table stays growing unless its new
	// Capacity reaches its MaxCapacity; a fixed table becomes growing if
	// this is more than its Capacity.
	MaxCapacity int
	// ArenaBytes of the new generation. 0 keeps the current size, or,
	// when Capacity grows, grows the arena with it: to what Create gives
	// the new Capacity by default (Capacity*DefaultBytesPerKey, at least
	// 64 KiB), or in proportion to the capacity if the table has a larger
	// arena per key than that; never smaller than the current size.
	ArenaBytes int64
	// Force compacts even while other processes have the table open. They
	// are left on the old generation: their writes between the copy and
	// the rename are lost to the new one, and once the new generation is
	// in place the old one is marked replaced, so that their writes, Wait,
	// Subscribe and GetOrLoad fail with ErrReplaced until they reopen the
	// name (their reads go on seeing the old copy).
	Force bool
	// Group: the table is shared through this group (see Options.Group);
	// the new generation is too.
	Group string
}

// CompactReport says what a compaction did.
type CompactReport struct {
	Keys            int   // keys copied
	DroppedSlots    int   // claimed slots not carried over (deleted keys, retired slots)
	OldCapacity     int   // claim budgets before and after
	NewCapacity     int   //
	OldArenaUsed    int64 // arena bytes in use before and after
	NewArenaUsed    int64 //
	OldFileBytes    int64 // segment file sizes before and after
	NewFileBytes    int64 //
	OtherProcesses  int   // live processes that had the table open (Force)
	NewGenerationAt string
}

// Compact rewrites the table called name into a fresh generation holding
// only its present keys: deleted keys give their slots back, the arena is
// defragmented, and Capacity or ArenaBytes can change. It copies into a
// temporary file next to the table and renames it over the name, so a
// crash leaves either the old table or the new one. It refuses with
// ErrInUse while other live processes have the table open, unless
// opts.Force; while it runs, attaching fails with ErrBusy.
func Compact(name string, opts CompactOptions) (CompactReport, error) {
	var rep CompactReport
	old, err := AttachShared(name, opts.Group)
	if err != nil {
		return rep, err
	}
	defer old.Close()
	if old.seg.IsHeap() {
		return rep, fmt.Errorf("%w: Compact needs a named table", ErrInvalid)
	}
	if err := old.seg.LockExclusive(); err != nil {
		if !opts.Force || !errors.Is(err, ErrInUse) {
			return rep, err
		}
	}
	ost := old.Stats()
	for _, p := range ost.Processes {
		if !p.Self {
			rep.OtherProcesses++
		}
	}
	nl, err := compactLayout(old.seg.Layout, opts, ost)
	if err != nil {
		return rep, err
	}
	access, err := old.seg.Access() // a group-shared table stays shared
	if err != nil {
		return rep, err
	}
	dir, base := filepath.Split(old.seg.Path)
	// Random, like create's temp names: anyone can make a file (or a
	// directory) in /dev/shm under a name they can guess, and block us.
	tmp := filepath.Join(dir, "."+base+".compact."+strconv.Itoa(os.Getpid())+"."+strconv.FormatUint(rand.Uint64()%1e9, 10))
	seg, err := segment.Create(tmp, nl, access)
	if err != nil {
		return rep, withAdvice(err)
	}
	nt := newTable(seg, name)
	ok := false
	defer func() {
		if !ok {
			nt.Close()
			os.Remove(tmp)
		}
	}()
	if err := old.rawEntries(nt.copyEntry); err != nil {
		return rep, fmt.Errorf("shmdict: compact %s: copying: %w (the table is unchanged)", name, err)
	}
	nst := nt.Stats()
	if testHookCompactCopied != nil {
		testHookCompactCopied()
	}
	// The name may have been removed, and perhaps made anew, during the
	// copy; the copy must not replace another table. (Only the instant
	// between this check and the rename is left open.)
	if same, err := old.seg.Named(); err != nil {
		return rep, fmt.Errorf("shmdict: compact %s: %w (the table is unchanged)", name, err)
	} else if !same {
		return rep, fmt.Errorf("%w: compact %s: the table was removed or replaced while it was being copied; nothing was changed", ErrBusy, name)
	}
	if err := os.Rename(tmp, old.seg.Path); err != nil {
		return rep, fmt.Errorf("shmdict: compact %s: %w (the table is unchanged)", name, err)
	}
	ok = true
	nt.Close()
	old.markReplaced()
	rep = CompactReport{
		Keys:           nst.Keys,
		DroppedSlots:   ost.ClaimedSlots - nst.ClaimedSlots,
		OldCapacity:    ost.Capacity,
		NewCapacity:    nst.Capacity,
		OldArenaUsed:   ost.ArenaUsed,
		NewArenaUsed:   nst.ArenaUsed,
		OldFileBytes:   ost.FileBytes,
		NewFileBytes:   nst.FileBytes,
		OtherProcesses: rep.OtherProcesses,
	}
	return rep, nil
}

// compactLayout is the layout of the new generation Compact makes of a
// table of layout l whose Stats are st: the capacity, maximum capacity
// and arena opts ask for (by default the old capacity of the tiers in
// use, the old maximum, and an arena that grows with them), and the old
// registry size, event ring, eviction policy and adder lanes.
func compactLayout(l segment.Layout, opts CompactOptions, st Stats) (segment.Layout, error) {
	keys := st.Keys
	capacity := opts.Capacity
	if capacity == 0 {
		capacity = st.Capacity
	}
	maxCapacity := opts.MaxCapacity
	if maxCapacity == 0 && l.Grows() {
		maxCapacity = st.MaxCapacity // what its tiers could hold: never less
	}
	arenaBytes := opts.ArenaBytes
	if arenaBytes == 0 {
		// A growing table's arena was sized for its MaxCapacity.
		arenaBytes = grownArena(int64(l.ArenaSize), max(st.Capacity, int(l.MaxCapacity)), max(capacity, maxCapacity))
	}
	if capacity < keys {
		return l, fmt.Errorf("%w: Capacity %d cannot hold the table's %d keys", ErrInvalid, capacity, keys)
	}
	if maxCapacity != 0 && maxCapacity < capacity {
		maxCapacity = 0 // as large as it may grow: a fixed table
	}
	nl, err := segment.NewLayout(capacity, arenaBytes, int(l.MaxProcs))
	if err == nil {
		nl, err = nl.WithRing(int(l.RingEntries)) // subscribers keep working after a reopen
		nl = nl.WithEviction(l.Evicts())
	}
	if err == nil && l.Lanes != 0 {
		// The lanes the table was created with (Options.AdderLanes);
		// the indices follow the new capacity.
		nl, err = nl.WithAdders(int(l.Lanes), nl.Adders)
	}
	if err == nil && maxCapacity != 0 && !l.Evicts() {
		nl, err = nl.WithGrowth(uint64(maxCapacity))
	}
	return nl, err
}

// copyEntry stores one entry of an old generation (see rawEntries) in t,
// a new one: a value with its deadline, a counter (one at 0 too), or an
// adder with its sum in this process's lane.
func (t *Table) copyEntry(key []byte, w1 uint64, deadline int64, value []byte) error {
	if deadline != 0 {
		return t.set(key, value, deadline) // keeps its deadline
	}
	if isAdder(w1) {
		if t.reuse {
			return t.errNoAdders()
		}
		a, err := t.Adder(key)
		if err == nil {
			err = a.Add(int64(binary.LittleEndian.Uint64(value)))
		}
		return err
	}
	if isCounter(w1) {
		_, err := t.Add(key, counterOf(w1))
		if err == nil && counterOf(w1) == 0 {
			// Add(key, 0) creates nothing; a zero counter must survive.
			_, err = t.Add(key, 1)
			if err == nil {
				_, err = t.Add(key, -1)
			}
		}
		return err
	}
	return t.Set(key, value)
}

// testHookCompactCopied, when set by a test, runs between Compact's copy
// and its rename.
var testHookCompactCopied func()

// markReplaced tells the processes still attached to t's segment, which
// a new generation has just replaced under its name, to reopen the name:
// it sets the replaced word, then wakes every waiting process (their Wait
// and Subscribe calls then return ErrReplaced). Their later writes fail
// with ErrReplaced too; their reads go on seeing the old copy.
func (t *Table) markReplaced() {
	t.guarded(func() {
		t.mem.Store64(segment.OffReplaced, 1)
		t.mem.Add32(segment.OffWake, 1)
		t.mem.FutexWake(segment.OffWake, math.MaxInt32)
	})
}

// grownArena is the arena size Compact gives a table whose capacity
// changes from oldCap (its claim budget) to newCap when no ArenaBytes is
// asked for. Slots without arena space are of no use: a table created
// with the default arena and compacted to 100 times its capacity would
// fill its arena at about its old key count. The new size is Create's
// default for newCap, or, for a table created with more arena per key
// than the default, the old size scaled by newCap/oldCap; never less than
// the old size, and at most the largest arena a segment can address.
func grownArena(oldArena int64, oldCap, newCap int) int64 {
	if newCap <= oldCap {
		return oldArena
	}
	limit := int64(segment.MaxArenaUnits) * segment.Unit
	n := max(oldArena, defaultArena(newCap))
	if oldArena > defaultArena(oldCap) {
		// oldArena*newCap/oldCap without overflow (both capacities are
		// below 2^41, arenas below 2^36).
		perKey := float64(oldArena) / float64(oldCap)
		n = max(n, int64(min(perKey*float64(newCap), float64(limit))))
	}
	return min(n, limit)
}

// rawEntries calls f with every present key, its value word and (for byte
// values) its value, each read consistently. The slices are reused.
func (t *Table) rawEntries(f func(key []byte, w1 uint64, deadline int64, value []byte) error) error {
	var val []byte
	end, err := t.scanEnd()
	if err != nil {
		return err
	}
	for slot := uint64(0); slot < end; slot++ {
		key, w1, dl, v, ok, err := t.rawEntryAt(slot, val[:0])
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		val = v
		if err := f(key, w1, dl, v); err != nil {
			return err
		}
	}
	return nil
}

func (t *Table) rawEntryAt(slot uint64, dst []byte) (key []byte, w1 uint64, deadline int64, value []byte, ok bool, err error) {
	fo, err := t.enter()
	if err != nil {
		return nil, 0, 0, nil, false, err
	}
	defer t.exit(fo, &err)
	w0 := t.mem.Load64(t.slotOff(slot))
	if !live(w0) {
		return nil, 0, 0, nil, false, nil
	}
	u := unitOf(w0)
	koff, n, good := t.keyAt(u)
	if !good {
		return nil, 0, 0, nil, false, errCorruptKey(t, u)
	}
	key = append([]byte(nil), t.mem.Bytes(koff, n)...)
	// The caller has the table to itself (Compact), so the value word
	// cannot change form between this load and the read.
	woff := t.valueWordOff(slot)
	w1 = t.mem.Load64(woff)
	if isAbsent(w1) {
		return nil, 0, 0, nil, false, nil
	}
	if isCounter(w1) {
		return key, w1, 0, nil, true, nil
	}
	if isAdder(w1) {
		n, err := t.sumAt(adderIndex(w1))
		if err != nil {
			return nil, 0, 0, nil, false, err
		}
		return key, w1, 0, adderBytes(dst, n), true, nil
	}
	value, present, err := t.readValue(dst, woff, seen{w0: w0, w1: w1})
	if err != nil || !present {
		return nil, 0, 0, nil, false, err // absent, expired, or an error
	}
	if expires(w1) {
		deadline, _ = t.deadline(w1)
	}
	return key, w1, deadline, value, true, nil
}

// SegmentInfo describes a table file found by List.
type SegmentInfo = segment.Info

// List describes every table file in dir ("" means /dev/shm): its size,
// key count, live attached processes, when it was last used, and temporary
// files left by interrupted creates or compactions. It attaches to
// nothing. SegmentInfo.Orphan and SegmentInfo.Unused say what
// RemoveOrphans and RemoveUnusedFor would remove.
func List(dir string) ([]SegmentInfo, error) {
	if dir == "" {
		dir = segment.DefaultDir
	}
	return segment.List(dir)
}

// RemoveOrphans removes, from dir ("" means /dev/shm), every orphan: a
// temporary file of this user whose creator died or failed before
// finishing a create or a compaction, which nothing can ever use. It
// returns their paths. It never removes a table: a table that no process
// has open is not an orphan, only unused (see RemoveUnusedFor).
func RemoveOrphans(dir string) ([]string, error) {
	return remove(dir, func(in SegmentInfo) error {
		if !in.Orphan() {
			return errSkip
		}
		return segment.RemoveTemp(in.Path)
	})
}

// RemoveUnusedFor removes, from dir ("" means /dev/shm), every table of
// this user that no live process has open and that nobody has created,
// opened or closed for at least age (SegmentInfo.Modified), and returns
// their paths. Each removal is decided again under an exclusive lock, so a
// table that a process opens meanwhile is kept. A table that a process
// had open when it died (SegmentInfo.Crashed) is kept: it may have been
// used long after its time says. It removes no orphans (RemoveOrphans
// does).
func RemoveUnusedFor(dir string, age time.Duration) ([]string, error) {
	if age <= 0 {
		return nil, fmt.Errorf("%w: RemoveUnusedFor needs a positive age (got %v)", ErrInvalid, age)
	}
	cutoff := time.Now().Add(-age)
	euid := os.Geteuid()
	return remove(dir, func(in SegmentInfo) error {
		if !in.Unused() || in.Crashed > 0 || in.UID != euid || !in.Modified.Before(cutoff) {
			return errSkip
		}
		return segment.RemoveUnusedBefore(in.Path, cutoff)
	})
}

// errSkip: remove's callback chose to keep the file.
var errSkip = errors.New("kept")

// remove applies rm to every file List finds in dir and returns the paths
// it removed. Files that changed under it (ErrInUse, ErrBusy,
// ErrNotExist) are skipped silently; other failures are joined.
func remove(dir string, rm func(SegmentInfo) error) ([]string, error) {
	infos, err := List(dir)
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, in := range infos {
		err := rm(in)
		switch {
		case err == nil:
			removed = append(removed, in.Path)
		case errors.Is(err, errSkip), errors.Is(err, ErrInUse), errors.Is(err, ErrNotExist), errors.Is(err, ErrBusy):
		default:
			errs = append(errs, err)
		}
	}
	return removed, errors.Join(errs...)
}
