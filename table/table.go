package table

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"time"

	"github.com/shmdict/shmdict/arena"
	"github.com/shmdict/shmdict/atomicx"
	"github.com/shmdict/shmdict/segment"
)

const (
	// MaxKeyLen is the longest key, in bytes.
	MaxKeyLen = arena.MaxPrefix
	// MaxValueLen bounds a value, in bytes: the largest arena block less
	// its header word. A value record also holds its key (padded to 8
	// bytes), so a value with a long key must be that much shorter.
	MaxValueLen = arena.MaxPayload
	// DefaultBytesPerKey sizes the default arena: a 12-byte key takes a
	// 32-byte key record, and a value record (header, key padded to 16,
	// value) takes a 64-byte block for values up to 40 bytes: 96 bytes,
	// leaving headroom for records waiting to be reused. Tables with
	// larger keys or values should set ArenaBytes.
	DefaultBytesPerKey = 128
	// minDefaultArena keeps tiny tables usable for a few larger values.
	minDefaultArena = 64 << 10
)

// Options configure a table at create. An existing segment's own layout
// always wins: Open and Attach ignore Options for a segment that exists
// (compare Stats() with what you asked for if it matters).
type Options struct {
	// Capacity is the number of distinct keys the table must be able to
	// hold (required when creating). The table gets the smallest power of
	// two of slots whose 3/4 is at least Capacity, and accepts keys up to
	// that 3/4 (Stats().Capacity). Without eviction a deleted key keeps
	// its slot, so re-inserting it costs none, but churn through many
	// distinct keys consumes slots until the table is rebuilt (Compact);
	// with EvictCLOCK a deleted key's slot is retired and reused.
	Capacity int
	// ArenaBytes is the space for key and value records. Default:
	// Capacity*DefaultBytesPerKey, at least 64 KiB. Each record takes its
	// size plus an 8-byte header, rounded up to a size class (at most 25%
	// over); an overwritten or deleted value's block is reused.
	ArenaBytes int64
	// MaxProcesses is the number of processes that can be attached at
	// once (registry entries). Default 1024.
	MaxProcesses int
	// EventRing is the number of change events the segment keeps for
	// Subscribe (rounded up to a power of two, at least 64). Default 0:
	// no subscriptions, and writes pay nothing for them. Wait works
	// either way. Events name slots in 32 bits, so a table with a ring
	// has at most 2^32 slots (Capacity up to 3<<30; more is ErrInvalid).
	// A subscriber more than EventRing events behind misses events (and
	// is told how many).
	EventRing int
	// Eviction chooses what a write does when the table is full (no slot
	// within the claim budget, or no arena space). Default NoEviction: it
	// fails with ErrFull. EvictCLOCK evicts keys not used recently and
	// reuses their slots and space, as a cache does; such a segment is
	// format version 3, which older builds refuse. It cannot be combined
	// with EventRing yet.
	Eviction EvictionPolicy
	// MaxCapacity, if more than Capacity, lets the table grow online, by
	// itself, up to MaxCapacity keys: when a write finds the index full,
	// the table adds a tier of twice the slots of the last one, while
	// every process keeps reading and writing (format version 6; see
	// Stats().Tiers). Keys never move, so nothing waits for a migration,
	// but a lookup of a key in an older tier, or of an absent key, looks
	// in each tier in use. The slot array for MaxCapacity and the arena
	// for it (MaxCapacity*DefaultBytesPerKey unless ArenaBytes says
	// otherwise) are reserved as address space at create; memory is
	// allocated as the tiers and records fill. 0 (the default) keeps a
	// fixed table. Not with Eviction.
	MaxCapacity int
	// AdderLanes is the number of lanes of striped adders (Table.Adder),
	// in [1, 64]. Default 64. A process adds to lane (its registry entry
	// mod AdderLanes), so up to AdderLanes live processes never share a
	// cache line through an adder; more share lanes and stay exact. An
	// adder costs 8 bytes in each lane a process has used, and the table
	// reserves (as address space, not memory) 8 bytes per lane for each
	// of its Capacity keys. Tables with eviction have no adders.
	AdderLanes int
	// Mode is the segment file's permission bits: 0600 (the default: the
	// owner only), or 0660 together with Group. Other modes are refused:
	// one that lets anyone read without writing would let them lock the
	// owner out, and a world-accessible one would let anyone in.
	Mode os.FileMode
	// Group shares the table with the members of a group (a name or a
	// numeric id): a table created with it is that group's and 0660, and
	// Open accepts an existing file that belongs to the group and is
	// exactly 0660, whoever made it. Without Group, Open and Attach
	// accept only files owned by the effective uid (root included) that
	// give nobody else any access, so that no other user can plant a
	// segment under a name this program opens. Refusals match
	// os.ErrPermission.
	Group string
}

// defaultArena is the arena size Create gives capacity keys when
// Options.ArenaBytes is 0.
func defaultArena(capacity int) int64 {
	return max(int64(capacity)*DefaultBytesPerKey, minDefaultArena)
}

// access is the segment package's view of Mode and Group.
func (o Options) access() segment.Access { return segment.Access{Mode: o.Mode, Group: o.Group} }

func (o Options) layout() (segment.Layout, error) {
	arenaBytes := o.ArenaBytes
	if arenaBytes == 0 && o.Capacity > 0 {
		arenaBytes = min(defaultArena(max(o.Capacity, o.MaxCapacity)), segment.MaxArenaUnits*segment.Unit)
	}
	if o.MaxCapacity < 0 || (o.MaxCapacity > 0 && o.MaxCapacity < o.Capacity) {
		return segment.Layout{}, fmt.Errorf("%w: MaxCapacity must be 0 (a fixed table) or at least Capacity (got %d, Capacity %d)", ErrInvalid, o.MaxCapacity, o.Capacity)
	}
	procs := o.MaxProcesses
	if procs == 0 {
		procs = segment.DefaultMaxProcs
	}
	l, err := segment.NewLayout(o.Capacity, arenaBytes, procs)
	if err != nil {
		return l, err
	}
	if o.AdderLanes < 0 || o.AdderLanes > segment.MaxLanes {
		return l, fmt.Errorf("%w: AdderLanes must be in [1, %d], or 0 for the default %d (got %d)", ErrInvalid, segment.MaxLanes, segment.DefaultLanes, o.AdderLanes)
	}
	if o.AdderLanes != 0 {
		if l, err = l.WithAdders(o.AdderLanes, l.Adders); err != nil {
			return l, err
		}
	}
	if o.MaxCapacity > 0 && o.Eviction == NoEviction {
		if l, err = l.WithGrowth(uint64(o.MaxCapacity)); err != nil {
			return l, err
		}
	}
	switch o.Eviction {
	case NoEviction:
	case EvictCLOCK:
		if o.MaxCapacity > o.Capacity {
			return l, fmt.Errorf("%w: MaxCapacity cannot be combined with Eviction (a cache table evicts to make room instead of growing)", ErrInvalid)
		}
		if o.EventRing != 0 {
			return l, fmt.Errorf("%w: EventRing cannot be combined with Eviction yet (events name slots, which eviction reuses); use Wait for single keys", ErrInvalid)
		}
		l = l.WithEviction(true)
	default:
		return l, fmt.Errorf("%w: unknown Eviction policy %d", ErrInvalid, o.Eviction)
	}
	return l.WithRing(o.EventRing)
}

// EvictionPolicy is what a full table does on a write (Options.Eviction).
type EvictionPolicy uint8

const (
	// NoEviction: writes to a full table fail with ErrFull.
	NoEviction EvictionPolicy = iota
	// EvictCLOCK: writes to a full table evict keys not read or written
	// since the CLOCK hand last passed them (an approximate LRU: one
	// reference bit per slot, set by reads and writes).
	EvictCLOCK
)

// Table is a key-value table in a shared segment. Its methods are safe for
// concurrent use by any number of goroutines and processes.
type Table struct {
	seg      *segment.Segment
	mem      atomicx.Mem
	ar       *arena.Arena
	name     string
	seed     uint64
	groups   uint64 // power of two
	slotsOff uint64
	maxProbe uint64 // groups
	budget   uint64
	ringMask uint64 // event ring entries - 1, or 0 without a ring
	hub      hub
	done     chan struct{} // closed by Close
	clock    func() time.Time
	sweep    atomicx.Counter // this process's TTL sweep position
	reuse    bool            // eviction segment: slots are retired and reused (reuse.go)
	tagKeep  uint64          // bits of a key word's tag field that are the key's tag (slot.go)
	hiKeep   uint64          // the same, as a mask over a key word's high half with its state
	refOff   uint64          // offset of the CLOCK reference bits
	dispOff  uint64          // offset of the per-group probe bounds
	arenaOff uint64          // offset of arena unit 0 (getFast)
	units    uint64          // arena units (getFast)
	lanes    lanes           // this process's adder lane (adder.go)
	replaced atomicx.Word    // the OffReplaced word (Adder.Add)

	laneOff  uint64 // offset of lane 0 (adder.go)
	laneLen  uint64 // bytes per lane
	adders   uint64 // adder indices per lane
	laneMask uint64 // a bit per lane

	direct     atomicx.Counter // goroutines in waitDirect (notify.go)
	closing    atomicx.Counter // 1 once Close began: waitDirect returns ErrClosed
	longWait   atomicx.Counter // the last two direct waits that slept, a bit each, 1 if long (notify.go)
	grows      bool            // a growing table (tiers.go)
	maxTiers   uint32          // the tiers its slot array has room for
	slotsShift uint8           // log2 of the first tier's slots
	ovfOff     uint64          // offset of the group overflow bits (tiers.go)
}

func newTable(seg *segment.Segment, name string) *Table {
	l := seg.Layout
	t := &Table{
		seg:      seg,
		mem:      seg.Mem,
		ar:       arena.New(seg.Mem, l.ArenaOff, l.ArenaSize),
		name:     name,
		seed:     l.Seed,
		groups:   l.Groups(),
		slotsOff: l.SlotsOff,
		maxProbe: min(uint64(l.MaxProbe), l.Groups()),
		budget:   l.ClaimBudget,
		ringMask: max(uint64(l.RingEntries), 1) - 1,
		done:     make(chan struct{}),
		reuse:    l.Evicts(),
		refOff:   l.RefOff,
		dispOff:  l.DispOff,
		arenaOff: l.ArenaOff,
		units:    l.ArenaSize / arena.Unit,
	}
	if !seg.IsHeap() {
		t.ar.SetReserve(seg.Reserve)
	}
	t.replaced = seg.Mem.Word(segment.OffReplaced)
	t.grows, t.maxTiers = l.Grows(), l.TierCount()
	t.slotsShift = uint8(bits.TrailingZeros64(l.Slots))
	t.ovfOff = l.OverflowOff
	t.laneOff, t.laneLen, t.adders = l.LaneOff, l.LaneBytes, l.Adders
	t.laneMask = 1<<l.Lanes - 1
	if l.Lanes == 64 {
		t.laneMask = ^uint64(0)
	}
	t.tagKeep, t.hiKeep = tagMask, 1<<32-1
	if t.reuse {
		t.tagKeep &^= genMask
		t.hiKeep &^= genMask
	}
	t.sweep.Add(rand.Uint64()) // processes sweep for expired values from different places
	return t
}

// Open attaches to the table called name, creating it with opts if it
// does not exist. A name without a slash lives in /dev/shm (memory only,
// gone at reboot); a name with a slash is a file path (a file-backed
// table that survives reboots, as far as the OS flushed it). When several
// processes Open the same new name at once, exactly one creates it and
// the others attach to it.
//
// For a table that exists, its own layout wins: opts are ignored, whatever
// capacity, arena, event ring or eviction policy they ask for. Compare
// Stats() with opts when it matters, or use Create to be sure of the shape.
// An invalid Mode or Group (say Mode 0600 with a Group) is ErrInvalid
// either way, before anything is opened.
func Open(name string, opts Options) (*Table, error) {
	path, err := segment.Path(name)
	if err != nil {
		return nil, err
	}
	if err := opts.access().Validate(); err != nil { // Attach ignores Mode
		return nil, err
	}
	seg, err := segment.Attach(path, opts.access())
	if errors.Is(err, segment.ErrNotExist) {
		if err := notTempName(path); err != nil {
			return nil, err
		}
		l, lerr := opts.layout()
		if lerr != nil {
			return nil, lerr
		}
		seg, _, err = segment.Open(path, l, opts.access())
	}
	if err != nil {
		return nil, withAdvice(err)
	}
	return newTable(seg, name), nil
}

// Create makes a new table called name; it fails with ErrExist if one
// exists.
func Create(name string, opts Options) (*Table, error) {
	path, err := segment.Path(name)
	if err != nil {
		return nil, err
	}
	if err := notTempName(path); err != nil {
		return nil, err
	}
	l, err := opts.layout()
	if err != nil {
		return nil, err
	}
	seg, err := segment.Create(path, l, opts.access())
	if err != nil {
		return nil, withAdvice(err)
	}
	return newTable(seg, name), nil
}

// notTempName refuses to create a table under a temp file's name (a path
// can give one): List would take it for a temp file, and RemoveOrphans
// remove it whenever nobody had it open.
func notTempName(path string) error {
	if base := filepath.Base(path); segment.IsTempName(base) {
		return fmt.Errorf("%w: %q has the form of a temporary file's name (.NAME.tmp.N.N, .NAME.compact.N), which 'gc' removes; choose another name", ErrInvalid, base)
	}
	return nil
}

// Attach opens the existing table called name; it fails with ErrNotExist
// if there is none, with ErrCorrupt or ErrVersion if the file is not a
// valid segment of this format, and with an error matching
// os.ErrPermission unless this user owns the file and nobody else has
// access to it (AttachShared accepts a group's table).
func Attach(name string) (*Table, error) { return AttachShared(name, "") }

// AttachShared is Attach for a table shared through group (see
// Options.Group): it also accepts a file that belongs to that group and
// is exactly 0660. An empty group is Attach.
func AttachShared(name, group string) (*Table, error) {
	path, err := segment.Path(name)
	if err != nil {
		return nil, err
	}
	seg, err := segment.Attach(path, segment.Access{Group: group})
	if err != nil {
		return nil, withAdvice(err)
	}
	return newTable(seg, name), nil
}

// New returns a table in this process's own memory, shared by its
// goroutines only (with one adder lane unless Options.AdderLanes says
// otherwise). It behaves exactly like a segment table and is what
// the race detector can check; it is also handy in tests.
func New(opts Options) (*Table, error) {
	if opts.AdderLanes == 0 {
		// One process: one lane is all it can use, and a heap table's
		// lanes take Go heap, not sparse file pages.
		opts.AdderLanes = 1
	}
	l, err := opts.layout()
	if err != nil {
		return nil, err
	}
	seg, err := segment.NewHeap(l)
	if err != nil {
		return nil, err
	}
	return newTable(seg, ""), nil
}

// AttachImage returns a table in this process's own memory (like New)
// holding a copy of image, the bytes of a segment file. It makes the
// checks Attach makes on a file's contents and fails the same way:
// ErrCorrupt or ErrVersion if the bytes are not a valid segment of this
// format. Tests and fuzz targets use it to work on a (possibly damaged)
// segment without a file; Table.Repair repairs such a table.
func AttachImage(image []byte) (*Table, error) {
	seg, err := segment.AttachImage(image)
	if err != nil {
		return nil, err
	}
	return newTable(seg, ""), nil
}

// Remove deletes the table called name, like SharedMemory.unlink:
// processes that have it open keep using it, and its memory is freed when
// the last one closes it. It fails with ErrNotExist if there is none.
func Remove(name string) error {
	path, err := segment.Path(name)
	if err != nil {
		return err
	}
	return segment.Remove(path)
}

// RemoveUnused deletes the table called name only if no process has it
// open, and fails with ErrInUse otherwise.
func RemoveUnused(name string) error {
	path, err := segment.Path(name)
	if err != nil {
		return err
	}
	return segment.RemoveUnused(path)
}

// Close detaches this process from the table. Other processes are not
// affected. Every method called afterwards returns ErrClosed, and so does
// an operation that another goroutine had in flight.
func (t *Table) Close() error {
	// Direct waiters sleep in FUTEX_WAIT on the wake word: wake them
	// before the mapping goes (notify.go, waitDirect). A waiter that read
	// closing as 0 had counted itself in direct first, so this sees it.
	if t.closing.Add(1) == 1 && t.direct.Load() != 0 {
		t.kick()
	}
	err := t.seg.Close()
	if err == nil {
		close(t.done)
	}
	return err
}

// Name is the name the table was opened with ("" for New).
func (t *Table) Name() string { return t.name }

// enter starts an operation: it fails on a closed table and arms fault
// handling, whose previous setting the caller passes to t.exit in a defer.
func (t *Table) enter() (bool, error) {
	if t.seg.Closed() {
		return false, ErrClosed
	}
	return debug.SetPanicOnFault(true), nil
}

// enterKey starts an operation on key: the key's size checked, then enter
// (whose exit the caller defers directly). With locate, it is the
// prologue of every guarded operation on one key.
func (t *Table) enterKey(key []byte) (bool, error) {
	if err := checkKey(key); err != nil {
		return false, err
	}
	return t.enter()
}

// exit ends an operation started by enter. It must be deferred directly:
// it turns a memory fault inside the operation (a truncated file, or a
// Close under the operation) into an error instead of a crash.
func (t *Table) exit(old bool, err *error) {
	debug.SetPanicOnFault(old)
	if r := recover(); r != nil {
		*err = t.seg.FaultError(r)
	}
}

// exitWrite is exit for a write: once the write's publishing CAS is done
// (*committed), a fault in the bookkeeping after it (freeing the old
// record, counting Len) no longer fails the write, which every process
// can already see. What the fault skipped is a leaked block or a Len off
// by one, which Repair fixes.
func (t *Table) exitWrite(old bool, err *error, committed *bool) {
	debug.SetPanicOnFault(old)
	if r := recover(); r != nil {
		*err = t.seg.FaultError(r)
		if *committed {
			*err = nil
		}
	}
}

// Len returns the number of keys present. While other goroutines or
// processes write, it is a snapshot that may already be stale.
func (t *Table) Len() int {
	n, _ := t.count()
	return n
}

func (t *Table) count() (n int, err error) {
	old, err := t.enter()
	if err != nil {
		return 0, err
	}
	defer t.exit(old, &err)
	var sum int64
	for i := 0; i < segment.LenStripes; i++ {
		sum += int64(t.mem.Load64(segment.OffLenStripes + uint64(i)*segment.LineSize))
	}
	return int(max(sum, 0)), nil
}

func (t *Table) addLen(slot uint64, delta int64) {
	t.mem.Add64(segment.OffLenStripes+slot%segment.LenStripes*segment.LineSize, delta)
}

// Process describes a process attached to the table.
type Process = segment.Process

// String names the table, for logs.
func (t *Table) String() string {
	return fmt.Sprintf("shmdict.Table(%q)", t.name)
}

// lanes is a process's use of the segment's adder lanes.
type lanes struct {
	once   sync.Once
	lane   uint32         // this process's lane
	marked atomicx.Flag   // lane's bit is set in OffLanesUsed
	pages  []atomicx.Bits // bit p: page p of this lane is allocated
}

// waiter is one goroutine waiting, as the hub sees it.
type waiter struct {
	key   []byte
	h     uint64
	since uint64
	ring  bool // a subscriber: wait for the ring tail to pass since
	ch    chan struct{}
}

// hub fans one futex wait per process out to its waiting goroutines.
type hub struct {
	mu      sync.Mutex
	waiters map[*waiter]struct{}
	running bool
}

// fastDone ends the fault guard of a write's fast path (addFast, addAt,
// Adder.addFast), started by `defer t.fastDone(debug.SetPanicOnFault(true))`:
// it restores the goroutine's setting and swallows a memory fault without
// setting the caller's results (it re-panics anything else), so that the
// fast path reports "not done" and its caller takes the guarded slow path,
// which faults again and reports it. getFast has the same guard written
// out (a closure), as measured for the Get path.
func (t *Table) fastDone(old bool) {
	debug.SetPanicOnFault(old)
	if r := recover(); r != nil {
		t.seg.FaultError(r) // re-panics anything but a memory fault
	}
}

// guarded runs f on the segment with faults turned into errors.
func (t *Table) guarded(f func()) (err error) {
	fo, err := t.enter()
	if err != nil {
		return err
	}
	defer t.exit(fo, &err)
	f()
	return nil
}

// notReplaced returns ErrReplaced once a compaction replaced t's segment.
// Writes call it under enter: one load of a line that nothing else writes,
// so it stays in the cache.
func (t *Table) notReplaced() error {
	if t.mem.Load64(segment.OffReplaced) != 0 {
		return fmt.Errorf("%w (%s)", ErrReplaced, t.name)
	}
	return nil
}

// checkReplaced is notReplaced with its own fault guard.
func (t *Table) checkReplaced() (err error) {
	if gerr := t.guarded(func() { err = t.notReplaced() }); gerr != nil {
		return gerr
	}
	return err
}

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

// Stats is a snapshot of a table's shape and use.
type Stats struct {
	Name          string    // the name the table was opened with
	Path          string    // the segment file; "" for a table made by New
	FormatVersion int       // segment format version
	Created       time.Time // when the segment was created
	Capacity      int       // keys the table can hold now (the claim budget of the tiers in use)
	Slots         int       // slots in the index (in the tiers in use)
	Keys          int       // keys present (Len)
	// MaxCapacity is the most keys a growing table can grow to (the
	// budget of all its tiers, at least Options.MaxCapacity); for a fixed
	// table it is Capacity. Tiers is the number of tiers in use (1 for a
	// fixed table), MaxTiers how many the table has room for.
	MaxCapacity int
	Tiers       int
	MaxTiers    int
	// ClaimedSlots counts slots claimed by a key, present or deleted, as
	// the shared counter says (it includes reservations in flight or
	// leaked by a killed process until Repair recounts them).
	ClaimedSlots int
	Tombstones   int   // ClaimedSlots - Keys: slots held by deleted keys
	ArenaBytes   int64 // size of the record arena
	ArenaUsed    int64 // bytes in live records (including lost-in-crash leaks)
	ArenaFree    int64 // bytes free: never handed out, or on free lists
	FileBytes    int64 // size of the segment file (most of it sparse: see MemoryBytes)
	// MemoryBytes is how much of the file takes memory (disk, for a file
	// on disk): its allocated blocks. The arena is allocated 1 MiB at a
	// time as records fill it, and the adder lanes a page at a time as
	// processes add, so this follows the data, not Capacity.
	MemoryBytes int64
	Expired     int64 // expired values reclaimed so far (by any process)
	Evicted     int64 // keys evicted so far (EvictCLOCK tables)
	// Replaced: a forced Compact put a new generation under the name;
	// this Table reads the old copy and should be reopened (ErrReplaced).
	Replaced bool
	Eviction EvictionPolicy
	// AdderLanes is the number of lanes of striped adders (0: the table
	// has none, it evicts); LanesUsed how many of them processes have
	// added to. AdderIndices is how many adders the table can ever make
	// before a Compact, AdderIndicesUsed how many it made (each Adder of a
	// new or deleted key takes one).
	AdderLanes       int
	LanesUsed        int
	AdderIndices     int64
	AdderIndicesUsed int64
	Processes        []Process // live processes that have the table open
}

// Stats returns a snapshot of the table's counters. After Close only Name
// and Path are set.
func (t *Table) Stats() Stats {
	st := Stats{Name: t.name, Path: t.seg.Path}
	keys, err := t.count()
	if err != nil {
		return st
	}
	_ = t.stats(&st, keys)
	return st
}

func (t *Table) stats(st *Stats, keys int) (err error) {
	old, err := t.enter()
	if err != nil {
		return err
	}
	defer t.exit(old, &err)
	l := t.seg.Layout
	st.FormatVersion = l.FormatVersion()
	st.Evicted = int64(t.mem.Load64(segment.OffEvicted))
	st.Replaced = t.mem.Load64(segment.OffReplaced) != 0
	if l.Evicts() {
		st.Eviction = EvictCLOCK
	}
	st.Created = time.Unix(0, l.CreatedNano)
	n := t.tierCount()
	st.Tiers, st.MaxTiers = int(n), int(t.maxTiers)
	st.Capacity, st.MaxCapacity = int(t.capacity(n)), int(t.capacity(t.maxTiers))
	st.Slots = int(t.usedSlots())
	st.Keys = keys
	for i := range n {
		st.ClaimedSlots += int(min(t.mem.Load64(l.TierClaimedOff(i)), l.Slots<<i))
	}
	st.Tombstones = max(st.ClaimedSlots-keys, 0)
	st.ArenaBytes = int64(l.ArenaSize)
	bump := min(t.ar.Bump(), t.ar.Units())
	free := int64(t.ar.FreeBytes()) + int64(t.ar.Units()-bump)*arena.Unit
	st.ArenaFree = min(free, st.ArenaBytes)
	st.ArenaUsed = st.ArenaBytes - st.ArenaFree
	st.FileBytes = int64(l.TotalSize)
	if n, err := t.seg.Allocated(); err == nil {
		st.MemoryBytes = n
	}
	st.Expired = int64(t.mem.Load64(segment.OffExpired))
	if l.Lanes != 0 {
		st.AdderLanes, st.AdderIndices = int(l.Lanes), int64(l.Adders)
		used := t.mem.Load64(segment.OffLanesUsed)
		if l.Lanes < 64 {
			used &= 1<<l.Lanes - 1
		}
		st.LanesUsed = bits.OnesCount64(used)
		st.AdderIndicesUsed = int64(min(t.mem.Load64(segment.OffAdderNext), l.Adders))
	}
	st.Processes, err = t.seg.Processes()
	return err
}

// tierCount returns the number of tiers in use: 1 in a fixed table; in a
// growing one the OffTiers word, which is trusted only within [1, the
// tiers the layout has].
func (t *Table) tierCount() uint32 {
	if !t.grows {
		return 1
	}
	n := t.mem.Load64(segment.OffTiers)
	if n-1 >= uint64(t.maxTiers) {
		return uint32(min(max(n, 1), uint64(t.maxTiers)))
	}
	return uint32(n)
}

// scanEnd is usedSlots for a scan that runs outside a fault guard: a
// scan covers the tiers in use when it starts (a key present all along
// is in one of them).
func (t *Table) scanEnd() (n uint64, err error) {
	err = t.guarded(func() { n = t.usedSlots() })
	return n, err
}

// usedSlots returns the number of slots in the tiers in use: iteration
// and scans cover slots [0, usedSlots).
func (t *Table) usedSlots() uint64 { return t.seg.Layout.SlotsIn(t.tierCount()) }

// tierBudget is tier i's claim budget.
func (t *Table) tierBudget(i uint32) uint64 { return t.budget << i }

// capacity is the claim budget of the first n tiers.
func (t *Table) capacity(n uint32) uint64 { return t.budget * (1<<n - 1) }

// kick wakes every thread asleep on the segment's wake word, in every
// process (they re-check what they wait for): a cancelled Wait's own
// thread, or this process's on Close. Bumping the word first makes a
// FUTEX_WAIT that has not started yet return at once.
func (t *Table) kick() {
	t.guarded(func() {
		t.mem.Add32(segment.OffWake, 1)
		t.mem.FutexWake(segment.OffWake, math.MaxInt32)
	})
}
