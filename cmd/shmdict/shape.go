package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/shmdict/shmdict/table"
)

// A table's shape is what is chosen once, when it is created: capacity,
// arena, registry size, event ring, eviction policy, adder lanes and
// max capacity (growth). create takes it
// from flags; load takes it from flags and, for what they leave out, from
// the dump's header, so that a dump reloads as the table it came from.

// Shape is a table's shape as a dump's header records it (docs/DUMP.md).
type Shape struct {
	Capacity   int    `json:"capacity"`
	ArenaBytes int64  `json:"arena_bytes"`
	MaxProcs   int    `json:"max_procs"`
	Events     int    `json:"events"`
	Eviction   string `json:"eviction"` // "none" or "clock"
	// AdderLanes is the table's striped-adder lanes (dump format 3; 0 in
	// a table that evicts, which has no adders, and in older dumps, where
	// it means the default).
	AdderLanes int `json:"adder_lanes,omitempty"`
	// MaxCapacity is the most keys a growing table was made to grow to
	// (dump format 4, table.Options.MaxCapacity as table.OptionsOf gives
	// it); absent (0) for a fixed table and in older dumps.
	MaxCapacity int `json:"max_capacity,omitempty"`
}

const (
	evictNone  = "none"
	evictClock = "clock"
)

func policyName(p table.EvictionPolicy) string {
	if p == table.EvictCLOCK {
		return evictClock
	}
	return evictNone
}

// shapeOf is the shape of a table as table.OptionsOf (an existing table)
// or Options.Resolved (one about to be created) describe it.
func shapeOf(o table.Options) Shape {
	return Shape{Capacity: o.Capacity, ArenaBytes: o.ArenaBytes, MaxProcs: o.MaxProcesses,
		Events: o.EventRing, Eviction: policyName(o.Eviction), AdderLanes: o.AdderLanes, MaxCapacity: o.MaxCapacity}
}

func (s Shape) validate() error {
	switch {
	case s.Capacity <= 0 || s.ArenaBytes <= 0 || s.MaxProcs <= 0 || s.Events < 0:
		return fmt.Errorf("capacity, arena_bytes and max_procs must be positive and events not negative")
	case s.Eviction != evictNone && s.Eviction != evictClock:
		return fmt.Errorf("eviction %q: want %q or %q", s.Eviction, evictNone, evictClock)
	case s.AdderLanes < 0 || s.AdderLanes > table.MaxAdderLanes:
		return fmt.Errorf("adder_lanes %d: want 1 to %d (or none)", s.AdderLanes, table.MaxAdderLanes)
	case s.MaxCapacity != 0 && s.MaxCapacity < s.Capacity:
		return fmt.Errorf("max_capacity %d: want at least capacity (%d), or none for a fixed table", s.MaxCapacity, s.Capacity)
	case s.MaxCapacity != 0 && s.Eviction == evictClock:
		return fmt.Errorf("max_capacity with eviction %q: a table that evicts does not grow", s.Eviction)
	}
	return nil
}

// maxArena is the largest arena a table can have (64 GiB).
const maxArena = table.MaxArenaBytes

// defaultArena is the arena table.Options gives a capacity when
// ArenaBytes is 0 (Options.ArenaBytes documents it).
func defaultArena(capacity int) int64 {
	if int64(capacity) > maxArena/table.DefaultBytesPerKey {
		return maxArena + 1 // too large, whatever the exact figure
	}
	return max(int64(capacity)*table.DefaultBytesPerKey, 64<<10)
}

// shapeFlags are the flags that shape a new table.
type shapeFlags struct {
	capacity, events, maxProcs *int
	adderLanes, maxCapacity    *int
	arena, mode, group         *string
	evict                      *bool
	given                      map[string]bool // flags on the command line, after parsing
}

func (f *shapeFlags) register(fs *flag.FlagSet, capacityHelp string) {
	f.capacity = fs.Int("capacity", 0, capacityHelp)
	f.arena = fs.String("arena", "", "bytes for key and value records, with K, M, G suffixes (default: 128 bytes a key, at least 64K)")
	f.events = fs.Int("events", 0, "change events kept for 'watch --prefix' and Subscribe (0: none)")
	f.maxProcs = fs.Int("max-procs", 0, "processes that can attach at once (default 1024)")
	f.mode = fs.String("mode", "", "file permission bits, octal: 0600 (default), or 0660 with --group")
	f.group = fs.String("group", os.Getenv("SHMDICT_GROUP"), "share the table with this group's members (mode 0660; default $SHMDICT_GROUP, whom other commands then trust too)")
	f.evict = fs.Bool("evict", false, "evict keys not used recently (CLOCK) when full, instead of failing; not with --events or --adder-lanes")
	f.maxCapacity = fs.Int("max-capacity", 0, "let the table grow online, by tiers (each twice the last), up to this many keys (0: a fixed table); not with --evict")
	f.adderLanes = fs.Int("adder-lanes", 0, fmt.Sprintf("lanes of striped adders ('incr --adder'), 1 to %d: up to this many processes add without sharing a cache line (default %d; a table with --evict has none)", table.MaxAdderLanes, table.DefaultAdderLanes))
}

// parsed records which flags the command line gave.
func (f *shapeFlags) parsed(fs *flag.FlagSet) {
	f.given = map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { f.given[fl.Name] = true })
}

// shaping reports whether any flag other than --mode asks for a shape.
func (f *shapeFlags) shaping() []string {
	var names []string
	for _, n := range []string{"capacity", "max-capacity", "arena", "events", "max-procs", "evict", "adder-lanes"} {
		if f.given[n] {
			names = append(names, "--"+n)
		}
	}
	return names
}

// options builds the Options of a new table: the flags given, and base
// (a dump's shape, or nil) for the rest. Mistakes are usage errors that
// name the flag to change.
func (f *shapeFlags) options(base *Shape) (table.Options, error) {
	var o table.Options
	arenaFrom := "" // where a too-large arena came from, for the message
	if base != nil {
		o = table.Options{Capacity: base.Capacity, ArenaBytes: base.ArenaBytes,
			MaxProcesses: base.MaxProcs, EventRing: base.Events, AdderLanes: base.AdderLanes, MaxCapacity: base.MaxCapacity}
		if base.Eviction == evictClock {
			o.Eviction = table.EvictCLOCK
		}
	}
	if f.given["capacity"] {
		o.Capacity = *f.capacity
		// The arena grows with the capacity, as at create; a dump's larger
		// arena (large values) is kept.
		if o.ArenaBytes <= defaultArena(o.Capacity) {
			o.ArenaBytes = 0
		}
	}
	if o.Capacity <= 0 {
		if base == nil {
			return o, usagef("--capacity N is required and must be positive (got %d)", o.Capacity)
		}
		return o, usagef("--capacity must be positive (got %d)", o.Capacity)
	}
	if f.given["arena"] {
		n, err := parseSize(*f.arena)
		if err != nil {
			return o, err
		}
		o.ArenaBytes, arenaFrom = n, "--arena"
	}
	if o.ArenaBytes == 0 && defaultArena(o.Capacity) > maxArena {
		return o, usagef("--capacity %d is too large: its default arena (%d bytes a key) would pass the %s limit; choose a smaller --capacity, or give --arena SIZE",
			o.Capacity, table.DefaultBytesPerKey, humanBytes(maxArena))
	}
	if o.ArenaBytes > maxArena {
		if arenaFrom == "" {
			arenaFrom = "the dump's arena_bytes"
		}
		return o, usagef("%s %d is over the %s limit", arenaFrom, o.ArenaBytes, humanBytes(maxArena))
	}
	if f.given["events"] {
		o.EventRing = *f.events
	}
	if err := f.growth(&o); err != nil {
		return o, err
	}
	if f.given["max-procs"] {
		o.MaxProcesses = *f.maxProcs
	}
	if f.given["evict"] {
		o.Eviction = table.NoEviction
		if *f.evict {
			o.Eviction = table.EvictCLOCK
		}
	}
	if f.given["adder-lanes"] {
		if *f.adderLanes < 1 || *f.adderLanes > table.MaxAdderLanes {
			return o, usagef("--adder-lanes must be in [1, %d] (got %d)", table.MaxAdderLanes, *f.adderLanes)
		}
		o.AdderLanes = *f.adderLanes
	}
	if o.Eviction == table.EvictCLOCK {
		switch {
		case f.given["adder-lanes"] && !f.given["evict"]:
			return o, usagef("the dump comes from an evicting table, which has no striped adders: pass --evict=false with --adder-lanes, or drop --adder-lanes")
		case f.given["adder-lanes"]:
			return o, usagef("--adder-lanes cannot be combined with --evict: a table that evicts has no striped adders (an adder needs a slot that keeps its key)")
		}
		o.AdderLanes = 0 // a dump's lanes, loaded into a table that evicts: it has none
	}
	if o.Eviction == table.EvictCLOCK && o.MaxCapacity > 0 {
		if f.given["max-capacity"] {
			return o, usagef("--max-capacity cannot be combined with --evict: a table that evicts makes room by evicting, not by growing")
		}
		o.MaxCapacity = 0 // a growing dump loaded with --evict: the table evicts instead of growing
	}
	if o.Eviction == table.EvictCLOCK && o.EventRing > 0 {
		if !f.given["evict"] {
			return o, usagef("the dump comes from an evicting table, and --events cannot be combined with eviction yet: pass --evict=false to load it into a table that does not evict, or drop --events")
		}
		return o, usagef("--evict cannot be combined with --events yet (events name slots, which eviction reuses); 'watch NAME KEY' works on every table")
	}
	if *f.mode != "" {
		m, err := strconv.ParseUint(*f.mode, 8, 32)
		if err != nil {
			return o, usagef("bad --mode %q: want octal permission bits such as 0600", *f.mode)
		}
		o.Mode = os.FileMode(m)
	}
	o.Group = *f.group
	return o, nil
}

// growth sets o.MaxCapacity from --max-capacity, or checks that the
// dump's still fits a --capacity given instead.
func (f *shapeFlags) growth(o *table.Options) error {
	if f.given["max-capacity"] {
		if *f.maxCapacity < 0 || (*f.maxCapacity > 0 && *f.maxCapacity < o.Capacity) {
			return usagef("--max-capacity must be 0 (a fixed table) or at least --capacity %d (got %d)", o.Capacity, *f.maxCapacity)
		}
		o.MaxCapacity = *f.maxCapacity
		return nil
	}
	if o.MaxCapacity > 0 && o.MaxCapacity < o.Capacity {
		return usagef("--capacity %d is more than the %d keys the table grows to (the dump's, or the existing table's, max capacity): pass --max-capacity N (at least %d) too, or --max-capacity 0 for a fixed table", o.Capacity, o.MaxCapacity, o.Capacity)
	}
	return nil
}

// createTable creates name with opts. A shape the library refuses is the
// command line's mistake: a usage error, in the flags' words.
func createTable(name string, opts table.Options) (*table.Table, error) {
	t, err := table.Create(name, opts)
	if errors.Is(err, table.ErrInvalid) {
		return nil, usageError{explain(err, name)}
	}
	if errors.Is(err, table.ErrExist) {
		return nil, cliError{fmt.Sprintf("%s already exists; use it as it is, or remove it first with 'shmdict rm %s'", name, name), err}
	}
	return t, err
}

// checkShape fails when the flags given ask for a shape the existing
// table named name does not have: they only shape a table being created.
func (f *shapeFlags) checkShape(name string, have Shape, opts table.Options) error {
	want, err := wantShape(opts)
	if err != nil {
		return err
	}
	var diffs, fixes []string
	if f.given["capacity"] && want.Capacity != have.Capacity {
		diffs = append(diffs, fmt.Sprintf("capacity %d keys, not %d", have.Capacity, want.Capacity))
		fixes = append(fixes, fmt.Sprintf("--capacity %d", *f.capacity))
	}
	if f.given["max-capacity"] && want.MaxCapacity != have.MaxCapacity {
		diffs = append(diffs, fmt.Sprintf("%s, not %s", growthWords(have.MaxCapacity), growthWords(want.MaxCapacity)))
	}
	if f.given["arena"] && want.ArenaBytes != have.ArenaBytes {
		diffs = append(diffs, fmt.Sprintf("an arena of %s, not %s", humanBytes(have.ArenaBytes), humanBytes(want.ArenaBytes)))
		fixes = append(fixes, "--arena "+*f.arena)
	}
	if f.given["events"] && want.Events != have.Events {
		diffs = append(diffs, fmt.Sprintf("%d event ring entries, not %d", have.Events, want.Events))
	}
	if f.given["max-procs"] && want.MaxProcs != have.MaxProcs {
		diffs = append(diffs, fmt.Sprintf("room for %d processes, not %d", have.MaxProcs, want.MaxProcs))
	}
	if f.given["evict"] && want.Eviction != have.Eviction {
		diffs = append(diffs, fmt.Sprintf("eviction %s, not %s", have.Eviction, want.Eviction))
	}
	if f.given["adder-lanes"] && want.AdderLanes != have.AdderLanes {
		diffs = append(diffs, fmt.Sprintf("%d adder lanes, not %d", have.AdderLanes, want.AdderLanes))
	}
	if len(diffs) == 0 {
		return nil
	}
	flags := strings.Join(f.shaping(), " ")
	verb := "apply"
	if len(f.shaping()) == 1 {
		verb = "applies"
	}
	msg := fmt.Sprintf("%s already exists with %s, and load does not reshape a table (%s only %s when it creates one)", name, strings.Join(diffs, ", "), flags, verb)
	if len(fixes) == len(diffs) {
		msg += fmt.Sprintf(": to grow it, run 'shmdict compact %s %s', then load without %s", name, strings.Join(fixes, " "), flags)
	} else {
		msg += fmt.Sprintf(": load without %s, or into a new name, or remove %s first ('shmdict dump' it if it holds data you need)", flags, name)
	}
	return errors.New(msg)
}

// wantShape is the shape a table created with opts would have.
func wantShape(opts table.Options) (Shape, error) {
	o, err := opts.Resolved()
	if err != nil {
		return Shape{}, usageError{explain(err, "")}
	}
	return shapeOf(o), nil
}

// growthWords describes a shape's max capacity for a message.
func growthWords(maxCapacity int) string {
	if maxCapacity == 0 {
		return "a fixed capacity"
	}
	return fmt.Sprintf("growth up to %d keys", maxCapacity)
}
