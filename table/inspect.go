package table

import (
	"time"

	"github.com/shmdict/shmdict/segment"
)

// Looking at a table from outside: what a tool such as the shmdict
// command needs to describe, reshape or remove a table file without
// attaching to it, in this package's terms (Options, SegmentInfo), so
// that the tool need not reach into the segment package.

// Limits and defaults of Options, for tools that check a shape before
// asking Create for it.
const (
	// MaxArenaBytes is the largest Options.ArenaBytes: a record offset
	// is a 32-bit count of 16-byte units (64 GiB).
	MaxArenaBytes = int64(segment.MaxArenaUnits) * segment.Unit
	// MaxAdderLanes is the largest Options.AdderLanes (a 64-bit mask
	// records which lanes processes have used).
	MaxAdderLanes = segment.MaxLanes
	// DefaultAdderLanes is the lanes a table gets when
	// Options.AdderLanes is 0.
	DefaultAdderLanes = segment.DefaultLanes
)

// Path returns the file a table name stands for: /dev/shm/NAME for a
// name without a slash, the name itself (cleaned) for one with a slash.
// A name that cannot be a table's is ErrInvalid.
func Path(name string) (string, error) { return segment.Path(name) }

// Inspect describes the table file that name stands for, as List does
// for each file of a directory, without attaching to it: it reads the
// header and probes the registry, so it never counts itself as a user.
// A file that is not a usable table gives a SegmentInfo with Err set.
func Inspect(name string) (SegmentInfo, error) {
	p, err := Path(name)
	if err != nil {
		return SegmentInfo{}, err
	}
	return segment.Inspect(p)
}

// OptionsOf returns the Options that Create would turn into a table of
// in's shape: Capacity, ArenaBytes, MaxProcesses, EventRing, Eviction,
// AdderLanes and MaxCapacity as the table has them (its Capacity is the
// number of keys it accepts, which may be more than its creator asked
// for). For a growing table Capacity is its first tier's (what Create
// takes) and MaxCapacity what its creator asked for (the header records
// it; Stats().MaxCapacity, the budget of all its tiers, may be more), so
// that Create with these Options makes the same tiers. A fixed table has
// MaxCapacity 0. Mode and Group are left zero: they are the file's, not
// the layout's.
func OptionsOf(in SegmentInfo) Options { return optionsOf(in.Layout) }

// Resolved returns o as the table Create would make with it has it:
// defaults filled in and sizes rounded the way Create rounds them, so
// that it compares equal to OptionsOf of that table. Options Create
// would refuse are ErrInvalid, with Create's message. Mode and Group
// are left zero.
func (o Options) Resolved() (Options, error) {
	l, err := o.layout()
	if err != nil {
		return Options{}, err
	}
	return optionsOf(l), nil
}

// optionsOf is the one mapping from a layout back to Options, shared by
// OptionsOf and Resolved so that the two always agree.
func optionsOf(l segment.Layout) Options {
	o := Options{Capacity: int(l.ClaimBudget), ArenaBytes: int64(l.ArenaSize),
		MaxProcesses: int(l.MaxProcs), EventRing: int(l.RingEntries), AdderLanes: int(l.Lanes)}
	if l.Evicts() {
		o.Eviction = EvictCLOCK
	}
	if l.Grows() {
		o.MaxCapacity = int(growthOf(l))
	}
	return o
}

// growthOf is the MaxCapacity of growing layout l: the header's, if it
// asks for exactly l's tiers (more than the tiers before the last hold,
// at most what all hold), else the budget of all tiers, which does.
func growthOf(l segment.Layout) uint64 {
	n := l.TierCount()
	all, below := l.ClaimBudget*(1<<n-1), l.ClaimBudget*(1<<(n-1)-1)
	if l.MaxCapacity <= below || l.MaxCapacity > all {
		return all
	}
	return l.MaxCapacity
}

// RemoveOrphan removes the temporary file at path (an interrupted create
// or compaction's: SegmentInfo.Orphan, the definition RemoveOrphans goes
// by) if its creator no longer holds it, checked under the file's lock; a
// creator still at work is ErrInUse. It refuses anything but a regular
// file of this user with a temporary name (ErrInvalid). A tool that lists
// with List, asks a person, then removes, thus removes nothing that
// changed meanwhile.
func RemoveOrphan(path string) error { return segment.RemoveTemp(path) }

// RemoveUnusedBefore removes the table at path if no live process has it
// open and it was last used (created, opened or closed:
// SegmentInfo.Modified) before cutoff, checked again under an exclusive
// lock, as RemoveUnusedFor does for each table it removes. A table used
// since, or that a process had open when it died (SegmentInfo.Crashed),
// is ErrInUse.
func RemoveUnusedBefore(path string, cutoff time.Time) error {
	return segment.RemoveUnusedBefore(path, cutoff)
}
