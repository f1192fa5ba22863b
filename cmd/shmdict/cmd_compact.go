package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/shmdict/shmdict/table"
)

const compactHelp = `Compaction copies live keys into a new generation of the segment and
replaces the name. A larger --capacity grows the arena with it (to what
create gives that capacity, or in proportion for a table made with a larger
--arena) unless --arena says otherwise; the arena never shrinks unless
--arena is given.

It needs the table to itself unless --force. With --force, other processes
are left on the old generation: their writes made during the compaction
are lost, and their later writes fail (a running 'watch' exits) until they
open the name again.

A table made with 'create --max-capacity' is refused for now: the library's
compaction makes a fixed table of the first tier's capacity, which would
drop its growth (and cannot hold a grown table's keys). Move it through a
dump instead: 'shmdict dump NAME > FILE', 'shmdict rm NAME', 'shmdict load
NAME < FILE' (load keeps the growth; --max-capacity N changes it).

Examples:
  shmdict compact tokens
  shmdict compact tokens --capacity 2000000 --arena 1G`

// compactCmd is 'shmdict compact'.
type compactCmd struct {
	capacity int
	arena    string
	force    bool
}

func newCompactCmd() *command {
	c := &compactCmd{}
	return &command{
		name: "compact", args: "NAME [--capacity N] [--arena SIZE] [--force]", summary: "rebuild a table: free deleted keys' slots, optionally grow it",
		help:  compactHelp,
		flags: c.flags,
		run:   c.run,
	}
}

func (c *compactCmd) flags(fs *flag.FlagSet) {
	fs.IntVar(&c.capacity, "capacity", 0, "new capacity (default: keep)")
	fs.StringVar(&c.arena, "arena", "", "new arena size (default: keep, or grow with a larger --capacity)")
	fs.BoolVar(&c.force, "force", false, "compact even while other processes have it open")
}

func (c *compactCmd) run(e *env, fs *flag.FlagSet, args []string) error {
	if err := wantArgs(args, 1, 1); err != nil {
		return err
	}
	if c.capacity < 0 {
		return usagef("--capacity must not be negative")
	}
	opts := table.CompactOptions{Capacity: c.capacity, Force: c.force}
	if c.arena != "" {
		n, err := parseSize(c.arena)
		if err != nil {
			return err
		}
		opts.ArenaBytes = n
	}
	opts.Group = os.Getenv("SHMDICT_GROUP")
	if err := refuseGrowing(args[0]); err != nil {
		return err
	}
	rep, err := during(e, "compacting "+args[0], func() (table.CompactReport, error) { return table.Compact(args[0], opts) })
	if errors.Is(err, table.ErrInUse) {
		return fmt.Errorf("%w; stop them first, or pass --force (at the risk of losing their writes)", err)
	}
	if errors.Is(err, table.ErrInvalid) {
		return usageError{explain(err, args[0])}
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "compacted %s: %d keys copied, %d slots freed; capacity %d -> %d; arena used %s -> %s; file %s -> %s\n",
		args[0], rep.Keys, rep.DroppedSlots, rep.OldCapacity, rep.NewCapacity,
		humanBytes(rep.OldArenaUsed), humanBytes(rep.NewArenaUsed), humanBytes(rep.OldFileBytes), humanBytes(rep.NewFileBytes))
	if rep.OtherProcesses > 0 {
		fmt.Fprintf(e.stdout, "%d other process(es) had it open: they keep the old copy, and their writes fail, until they open %s again\n", rep.OtherProcesses, args[0])
	}
	return nil
}

// refuseGrowing fails for a table that grows (create --max-capacity):
// table.Compact would make it a fixed table of its first tier's capacity.
// A name Inspect cannot read is left to Compact to report.
func refuseGrowing(name string) error {
	in, err := table.Inspect(name)
	if err != nil || in.Err != nil {
		return nil
	}
	if mc := table.OptionsOf(in).MaxCapacity; mc > 0 {
		return fmt.Errorf("%s grows (up to %d keys), and compact would make it a fixed table of its first tier's capacity; move it through a dump instead, which keeps the growth: 'shmdict dump %s > FILE', 'shmdict rm %s', then 'shmdict load %s < FILE' (add --max-capacity N to change it)",
			name, mc, name, name, name)
	}
	return nil
}
