package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/shmdict/shmdict/table"
)

const statsHelp = `Examples:
  shmdict stats tokens
  shmdict stats tokens --json | jq .keys

--json writes one object with snake_case keys, enums as strings ("eviction":
"none" or "clock") and lists as [] when empty, as 'ls --json' does.
"replaced" is true when a 'compact --force' put a new table under the name
while this command had the old one open (run it again). "adder_lanes" and
"lanes_used" count the striped adders' lanes and those processes have added
through; "adder_indices" is how many adders the table can make before a
compact, "adder_indices_used" how many it made (all 0 in a table that
evicts).

For a table made with 'create --max-capacity', "capacity" and "slots" are
those of the tiers in use now, "max_capacity" the most keys it can grow to
(the budget of all its tiers), "tiers" the tiers in use and "max_tiers" how
many it has room for. A fixed table has max_capacity = capacity and 1 of 1
tiers.`

// statsCmd is 'shmdict stats'.
type statsCmd struct{ asJSON bool }

func newStatsCmd() *command {
	c := &statsCmd{}
	return &command{
		name: "stats", args: "NAME [--json]", summary: "show a table's shape, fill and attached processes",
		help:  statsHelp,
		flags: func(fs *flag.FlagSet) { fs.BoolVar(&c.asJSON, "json", false, "print JSON") },
		run:   c.run,
	}
}

func (c *statsCmd) run(e *env, fs *flag.FlagSet, args []string) error {
	if err := wantArgs(args, 1, 1); err != nil {
		return err
	}
	return withTable(args[0], func(t *table.Table) error {
		st := t.Stats()
		st.Processes = others(st.Processes)
		if c.asJSON {
			enc := json.NewEncoder(e.stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(statsJSON(st))
		}
		return printStats(e, st)
	})
}

// printStats writes st as the text of 'stats'.
func printStats(e *env, st table.Stats) error {
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fill := 0.0
	if st.Capacity > 0 {
		fill = float64(st.ClaimedSlots) * 100 / float64(st.Capacity)
	}
	fmt.Fprintf(tw, "path\t%s\n", st.Path)
	fmt.Fprintf(tw, "format version\t%d\n", st.FormatVersion)
	fmt.Fprintf(tw, "created\t%s\n", st.Created.Format(time.RFC3339))
	fmt.Fprintf(tw, "keys\t%d\n", st.Keys)
	fmt.Fprintf(tw, "capacity\t%d keys (%d slots)\n", st.Capacity, st.Slots)
	if st.MaxTiers > 1 {
		fmt.Fprintf(tw, "growth\t%d of %d tiers in use; grows to %d keys\n", st.Tiers, st.MaxTiers, st.MaxCapacity)
	} else {
		fmt.Fprintf(tw, "growth\tnone (a fixed table; 'create --max-capacity N' makes one that grows)\n")
	}
	fmt.Fprintf(tw, "claimed slots\t%d (%.1f%% of capacity; %d held by deleted keys)\n", st.ClaimedSlots, fill, st.Tombstones)
	fmt.Fprintf(tw, "arena\t%s used, %s free of %s\n", humanBytes(st.ArenaUsed), humanBytes(st.ArenaFree), humanBytes(st.ArenaBytes))
	fmt.Fprintf(tw, "file\t%s (%s in memory)\n", humanBytes(st.FileBytes), humanBytes(st.MemoryBytes))
	fmt.Fprintf(tw, "expired\t%d values reclaimed\n", st.Expired)
	if st.Eviction == table.EvictCLOCK {
		fmt.Fprintf(tw, "eviction\tCLOCK, %d keys evicted\n", st.Evicted)
	} else {
		fmt.Fprintf(tw, "eviction\tnone (a full table fails writes)\n")
	}
	if st.AdderLanes > 0 {
		fmt.Fprintf(tw, "adder lanes\t%d of %d used (a process adds to its own lane)\n", st.LanesUsed, st.AdderLanes)
		fmt.Fprintf(tw, "adder indices\t%d of %d taken (each adder made takes one until compact)\n", st.AdderIndicesUsed, st.AdderIndices)
	} else {
		fmt.Fprintf(tw, "adders\tnone (a table that evicts has no striped adders)\n")
	}
	if st.Replaced {
		// Only when 'compact --force' renames a new table over the
		// name between this command's open and its Stats.
		fmt.Fprintf(tw, "replaced\tyes: a forced compact put a new table under the name; run the command again to see it\n")
	} else {
		fmt.Fprintf(tw, "replaced\tno\n")
	}
	fmt.Fprintf(tw, "processes\t%d other live process(es)\n", len(st.Processes))
	for _, p := range st.Processes {
		fmt.Fprintf(tw, "\tpid %d since %s\n", p.PID, p.Since.Format(time.RFC3339))
	}
	return tw.Flush()
}

// others lists the attached processes other than this one.
func others(ps []table.Process) []table.Process {
	var out []table.Process
	for _, p := range ps {
		if !p.Self {
			out = append(out, p)
		}
	}
	return out
}
