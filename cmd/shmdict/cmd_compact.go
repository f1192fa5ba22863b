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

A table made with 'create --max-capacity' stays growing: the new generation
starts with one tier as large as the tiers in use (or --capacity), and grows
again up to its max capacity (or --max-capacity N; 0 keeps it, and a
--capacity at or above it makes a fixed table).

Examples:
  shmdict compact tokens
  shmdict compact tokens --capacity 2000000 --arena 1G
  shmdict compact tokens --max-capacity 8000000`

// compactCmd is 'shmdict compact'.
type compactCmd struct {
	capacity, maxCapacity int
	arena                 string
	force                 bool
}

func newCompactCmd() *command {
	c := &compactCmd{}
	return &command{
		name: "compact", args: "NAME [--capacity N] [--max-capacity N] [--arena SIZE] [--force]", summary: "rebuild a table: free deleted keys' slots, optionally grow it",
		help:  compactHelp,
		flags: c.flags,
		run:   c.run,
	}
}

func (c *compactCmd) flags(fs *flag.FlagSet) {
	fs.IntVar(&c.capacity, "capacity", 0, "new capacity (default: keep; for a grown table, the capacity of its tiers in use)")
	fs.IntVar(&c.maxCapacity, "max-capacity", 0, "new max capacity: the table grows online up to it (default: keep)")
	fs.StringVar(&c.arena, "arena", "", "new arena size (default: keep, or grow with a larger --capacity)")
	fs.BoolVar(&c.force, "force", false, "compact even while other processes have it open")
}

func (c *compactCmd) run(e *env, fs *flag.FlagSet, args []string) error {
	if err := wantArgs(args, 1, 1); err != nil {
		return err
	}
	if c.capacity < 0 || c.maxCapacity < 0 {
		return usagef("--capacity and --max-capacity must not be negative")
	}
	opts := table.CompactOptions{Capacity: c.capacity, MaxCapacity: c.maxCapacity, Force: c.force}
	if c.arena != "" {
		n, err := parseSize(c.arena)
		if err != nil {
			return err
		}
		opts.ArenaBytes = n
	}
	opts.Group = os.Getenv("SHMDICT_GROUP")
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
