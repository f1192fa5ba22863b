package main

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shmdict/shmdict/segment"
	"github.com/shmdict/shmdict/table"
)

// attach opens an existing table, with a hint when it is missing. Tables
// shared through a group need that group in $SHMDICT_GROUP.
func attach(name string) (*table.Table, error) {
	t, err := table.AttachShared(name, os.Getenv("SHMDICT_GROUP"))
	if errors.Is(err, table.ErrNotExist) {
		return nil, cliError{fmt.Sprintf("table %s does not exist; create it with 'shmdict create %s --capacity N'", name, name), err}
	}
	return t, err
}

// withTable runs f on the attached table and closes it.
func withTable(name string, f func(t *table.Table) error) error {
	t, err := attach(name)
	if err != nil {
		return err
	}
	defer t.Close()
	return f(t)
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

func pids(ps []table.Process) string {
	var s []string
	for _, p := range ps {
		s = append(s, strconv.Itoa(p.PID))
	}
	return strings.Join(s, ",")
}

// crashedNote says that n processes died with a table open.
func crashedNote(n int) string {
	if n == 1 {
		return "a process died with it open"
	}
	return strconv.Itoa(n) + " processes died with it open"
}

func init() {
	var asJSON *bool
	register(&command{
		name: "ls", args: "[DIR]", summary: "list table segments with size, keys, fill and attached processes",
		help: `DIR defaults to /dev/shm. STATE is "ok" (live processes have it open),
"unused" (a table no process has open right now, a table's normal state
between uses; LAST USE says since when: create, open and close count; "a
process died with it open" means it may have been used later than that),
"orphan" (a temp file left by an interrupted create or compaction, which
'shmdict gc' removes), "temp (in use)" (a create or compaction at work), or
why the file is not a usable segment.

With --json, "state" is one of "ok", "unused", "orphan", "temp_in_use" and
"unusable" (then "error" says why), and "crashed_processes" counts the
processes that died with the table open.

Examples:
  shmdict ls
  shmdict ls /var/lib/myapp --json`,
		flags: func(fs *flag.FlagSet) { asJSON = fs.Bool("json", false, "print JSON, one object per segment") },
		run: func(e *env, fs *flag.FlagSet, args []string) error {
			if err := wantArgs(args, 0, 1); err != nil {
				return err
			}
			dir := ""
			if len(args) == 1 {
				dir = args[0]
			}
			infos, err := table.List(dir)
			if err != nil {
				return err
			}
			var rows []lsOut
			for _, in := range infos {
				rows = append(rows, lsJSON(in))
			}
			if *asJSON {
				enc := json.NewEncoder(e.stdout)
				for _, r := range rows {
					if err := enc.Encode(r); err != nil {
						return err
					}
				}
				return nil
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSIZE\tMEMORY\tKEYS\tCAPACITY\tFILL\tPROCS\tLAST USE\tSTATE")
			for i, r := range rows {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%.1f%%\t%d\t%s\t%s\n", r.Name, humanBytes(r.Bytes), humanBytes(r.MemoryBytes), r.Keys, r.Capacity, r.Fill, r.Procs,
					infos[i].Modified.Format("2006-01-02 15:04"), lsText(r))
			}
			return tw.Flush()
		},
	})

	var cf shapeFlags
	register(&command{
		name: "create", args: "NAME --capacity N [--arena SIZE] [--events N] [--evict | --adder-lanes N]", summary: "create a table",
		help: `Fails if NAME exists. SIZE takes K, M, G suffixes (binary).

A table without --evict keeps striped adders ('shmdict incr --adder'):
--adder-lanes sets how many processes can add to them without sharing a
cache line (more share lanes and stay exact). A lane takes memory only
once a process adds through it: 8 bytes per adder.

Examples:
  shmdict create tokens --capacity 1000000
  shmdict create /var/lib/myapp/cache.shm --capacity 50000 --arena 256M --events 4096
  shmdict create sessions --capacity 100000 --evict   # a cache: full means evict, not fail
  shmdict create metrics --capacity 10000 --adder-lanes 16`,
		flags: func(fs *flag.FlagSet) {
			cf = shapeFlags{}
			cf.register(fs, "number of keys the table must hold (required)")
		},
		run: func(e *env, fs *flag.FlagSet, args []string) error {
			if err := wantArgs(args, 1, 1); err != nil {
				return err
			}
			cf.parsed(fs)
			opts, err := cf.options(nil)
			if err != nil {
				return err
			}
			t, err := createTable(args[0], opts)
			if err != nil {
				return err
			}
			defer t.Close()
			st := t.Stats()
			fmt.Fprintf(e.stdout, "created %s: capacity %d keys, %d slots, arena %s, file %s (%s in memory now; it grows as records and adders fill it)\n",
				st.Path, st.Capacity, st.Slots, humanBytes(st.ArenaBytes), humanBytes(st.FileBytes), humanBytes(st.MemoryBytes))
			return nil
		},
	})

	var force *bool
	register(&command{
		name: "rm", args: "NAME [--force]", summary: "remove a table (refused while processes have it open)",
		help: `Without --force, rm refuses while a live process has the table open (exit 1).
With --force the name is removed anyway; processes that have it open keep
using their mapping until they close it.

Examples:
  shmdict rm tokens
  shmdict rm tokens --force`,
		flags: func(fs *flag.FlagSet) { force = fs.Bool("force", false, "remove even while processes have it open") },
		run: func(e *env, fs *flag.FlagSet, args []string) error {
			if err := wantArgs(args, 1, 1); err != nil {
				return err
			}
			name := args[0]
			if *force {
				return table.Remove(name)
			}
			err := table.RemoveUnused(name)
			if errors.Is(err, table.ErrInUse) {
				if infos, lerr := inspect(name); lerr == nil && len(infos.Live) > 0 {
					return fmt.Errorf("%d live process(es) have %s open (PIDs %s); stop them first or pass --force", len(infos.Live), name, pids(infos.Live))
				}
				return fmt.Errorf("%w; stop the processes first or pass --force", err)
			}
			return err
		},
	})

	var yes *bool
	var unusedFor *time.Duration
	register(&command{
		name: "gc", args: "[DIR] [--yes] [--unused-for DURATION]", summary: "remove crash leftovers (and, on request, tables unused for long)",
		help: `gc removes orphans: temp files left by a create or compaction whose process
died before finishing; nothing can ever use them. A table that no process has
open is not an orphan (tables outlive the processes that use them), and gc
keeps it unless --unused-for names how long it must have gone unused (no
create, open or close; see LAST USE in 'shmdict ls'). A table that a process
had open when it died is kept: its last use is unknown. Only your own files
are removed. gc lists what it would remove, then asks (on a terminal) or
needs --yes. DIR defaults to /dev/shm.

Examples:
  shmdict gc
  shmdict gc /var/lib/myapp --yes
  shmdict gc --unused-for 168h --yes   # also tables nobody used for a week`,
		flags: func(fs *flag.FlagSet) {
			yes = fs.Bool("yes", false, "remove without asking")
			unusedFor = fs.Duration("unused-for", 0, "also remove tables no process has used for this long (e.g. 24h)")
		},
		run: func(e *env, fs *flag.FlagSet, args []string) error {
			if err := wantArgs(args, 0, 1); err != nil {
				return err
			}
			if *unusedFor < 0 {
				return usagef("--unused-for must be positive (got %v)", *unusedFor)
			}
			dir := ""
			if len(args) == 1 {
				dir = args[0]
			}
			infos, err := table.List(dir)
			if err != nil {
				return err
			}
			var cands []table.SegmentInfo
			kept := 0
			cutoff := time.Now().Add(-*unusedFor)
			for _, in := range infos {
				switch {
				case in.Orphan():
					cands = append(cands, in)
					fmt.Fprintln(e.stdout, "orphan:", in.Path)
				case in.Unused() && *unusedFor > 0 && in.Crashed > 0:
					fmt.Fprintf(e.stdout, "keeping %s: %s; its last use is unknown (it is counted again once a command opens and closes it)\n", in.Path, crashedNote(in.Crashed))
				case in.Unused() && *unusedFor > 0 && in.UID == os.Geteuid() && in.Modified.Before(cutoff):
					cands = append(cands, in)
					fmt.Fprintf(e.stdout, "unused since %s: %s\n", in.Modified.Format(time.RFC3339), in.Path)
				case in.Unused():
					kept++
				}
			}
			if kept > 0 && *unusedFor == 0 {
				fmt.Fprintf(e.stdout, "keeping %d table(s) that no process has open ('gc --unused-for DURATION' removes those unused that long)\n", kept)
			}
			if len(cands) == 0 {
				fmt.Fprintln(e.stdout, "nothing to remove")
				return nil
			}
			if !*yes {
				if !e.stdinTTY {
					return usagef("%d file(s) to remove; pass --yes to remove them", len(cands))
				}
				fmt.Fprintf(e.stdout, "remove %d file(s)? [y/N] ", len(cands))
				ans, _ := bufio.NewReader(e.stdin).ReadString('\n')
				if a := strings.ToLower(strings.TrimSpace(ans)); a != "y" && a != "yes" {
					fmt.Fprintln(e.stdout, "nothing removed")
					return nil
				}
			}
			// Remove what was listed (and asked about), each decided again
			// under its lock as RemoveOrphans and RemoveUnusedFor do; a file
			// that changed meanwhile is kept.
			var errs []error
			for _, in := range cands {
				var err error
				if in.Orphan() {
					err = segment.RemoveTemp(in.Path)
				} else {
					err = segment.RemoveUnusedBefore(in.Path, cutoff)
				}
				switch {
				case err == nil:
					fmt.Fprintln(e.stdout, "removed:", in.Path)
				case errors.Is(err, table.ErrInUse), errors.Is(err, table.ErrBusy), errors.Is(err, table.ErrNotExist):
					fmt.Fprintf(e.stdout, "kept (changed since listed): %s\n", in.Path)
				default:
					errs = append(errs, err)
				}
			}
			return errors.Join(errs...)
		},
	})

	register(&command{
		name: "stats", args: "NAME [--json]", summary: "show a table's shape, fill and attached processes",
		help: `Examples:
  shmdict stats tokens
  shmdict stats tokens --json | jq .keys

--json writes one object with snake_case keys, enums as strings ("eviction":
"none" or "clock") and lists as [] when empty, as 'ls --json' does.
"replaced" is true when a 'compact --force' put a new table under the name
while this command had the old one open (run it again). "adder_lanes" and
"lanes_used" count the striped adders' lanes and those processes have added
through; "adder_indices" is how many adders the table can make before a
compact, "adder_indices_used" how many it made (all 0 in a table that
evicts).`,
		flags: func(fs *flag.FlagSet) { asJSON = fs.Bool("json", false, "print JSON") },
		run: func(e *env, fs *flag.FlagSet, args []string) error {
			if err := wantArgs(args, 1, 1); err != nil {
				return err
			}
			return withTable(args[0], func(t *table.Table) error {
				st := t.Stats()
				st.Processes = others(st.Processes)
				if *asJSON {
					enc := json.NewEncoder(e.stdout)
					enc.SetIndent("", "  ")
					return enc.Encode(statsJSON(st))
				}
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
			})
		},
	})

	var hexOut, raw *bool
	register(&command{
		name: "get", args: "NAME KEY [--hex|--raw]", summary: "print a key's value (exit 1 if absent)",
		help: `A counter prints as a decimal number, and so does a striped adder (its sum
over every process's lane; 'shmdict incr --adder'). Other values print as text when
printable, else Go-quoted ("\x00..."); --hex prints hex, --raw writes the
bytes exactly, without a newline.

` + dashHelp + `

Examples:
  shmdict get tokens user:42
  shmdict get tokens blob --raw > blob.bin`,
		flags: func(fs *flag.FlagSet) {
			hexOut = fs.Bool("hex", false, "print the value in hex")
			raw = fs.Bool("raw", false, "write the value's bytes exactly, no newline")
		},
		run: func(e *env, fs *flag.FlagSet, args []string) error {
			if err := wantArgs(args, 2, 2); err != nil {
				return err
			}
			return withTable(args[0], func(t *table.Table) error {
				key := []byte(args[1])
				v, err := t.Get(key)
				if errors.Is(err, table.ErrNotFound) {
					return fmt.Errorf("key %s not found in %s", displayShort(key), args[0])
				}
				if err != nil {
					return err
				}
				if len(v) == 8 && !*raw && !*hexOut {
					if n, err := t.Add(key, 0); err == nil {
						fmt.Fprintln(e.stdout, n)
						return nil
					}
				}
				switch {
				case *raw:
					_, err = e.stdout.Write(v)
				case *hexOut:
					_, err = fmt.Fprintln(e.stdout, hex.EncodeToString(v))
				default:
					_, err = fmt.Fprintln(e.stdout, display(v))
				}
				return err
			})
		},
	})

	var ttl *time.Duration
	register(&command{
		name: "set", args: "NAME [--ttl D] [--] KEY VALUE", summary: "store a value (VALUE - reads stdin)",
		help: dashHelp + `

Examples:
  shmdict set tokens user:42 '{"name":"ada"}'
  shmdict set tokens session:9 abc --ttl 30m
  shmdict set tokens blob - < blob.bin
  shmdict set tokens offset -5
  shmdict set tokens -- -flag-like-key --value`,
		flags: func(fs *flag.FlagSet) {
			ttl = fs.Duration("ttl", 0, "expire after this long (e.g. 90s, 30m; 0: never)")
		},
		run: func(e *env, fs *flag.FlagSet, args []string) error {
			if err := wantArgs(args, 3, 3); err != nil {
				return err
			}
			if *ttl < 0 {
				return usagef("--ttl must not be negative (got %v)", *ttl)
			}
			val := []byte(args[2])
			if args[2] == "-" {
				b, err := readAllLimited(e, table.MaxValueLen)
				if err != nil {
					return err
				}
				val = b
			}
			return withTable(args[0], func(t *table.Table) error {
				if *ttl > 0 {
					return t.SetWithTTL([]byte(args[1]), val, *ttl)
				}
				return t.Set([]byte(args[1]), val)
			})
		},
	})

	register(&command{
		name: "del", args: "NAME KEY", summary: "delete a key (exit 1 if it was absent)",
		help: dashHelp + `

Examples:
  shmdict del tokens user:42
  shmdict del tokens -- -odd-key`,
		run: func(e *env, fs *flag.FlagSet, args []string) error {
			if err := wantArgs(args, 2, 2); err != nil {
				return err
			}
			return withTable(args[0], func(t *table.Table) error {
				ok, err := t.Delete([]byte(args[1]))
				if err == nil && !ok {
					return fmt.Errorf("key %s not found in %s", displayShort([]byte(args[1])), args[0])
				}
				return err
			})
		},
	})

	var adder *bool
	register(&command{
		name: "incr", args: "NAME KEY [DELTA] [--adder]", summary: "add DELTA (default 1) to a counter or striped adder and print it",
		help: `An absent key starts at 0. DELTA may be negative; 0 reads the counter.

With --adder, an absent KEY becomes a striped adder: a counter that each
process adds to in a lane of its own, so that many processes incrementing
it do not contend for one cache line; reading it sums the lanes. Without
--adder, an existing adder is added to the same way, and a new key becomes
a plain counter (one word: exact, compare-and-swap-able, cheapest when few
processes write it). --adder on a plain counter fails: delete it first. A
table created with --evict has no adders.

` + dashHelp + `

Examples:
  shmdict incr tokens requests
  shmdict incr tokens requests -5
  shmdict incr metrics http:hits --adder`,
		flags: func(fs *flag.FlagSet) {
			adder = fs.Bool("adder", false, "make an absent KEY a striped adder (see above)")
		},
		run: func(e *env, fs *flag.FlagSet, args []string) error {
			if err := wantArgs(args, 2, 3); err != nil {
				return err
			}
			delta := int64(1)
			if len(args) == 3 {
				d, err := strconv.ParseInt(args[2], 10, 64)
				if err != nil {
					return usagef("bad DELTA %q: want an integer", args[2])
				}
				delta = d
			}
			return withTable(args[0], func(t *table.Table) error {
				if *adder {
					return incrAdder(e, t, []byte(args[1]), delta)
				}
				n, err := t.Add([]byte(args[1]), delta)
				if err != nil {
					return err
				}
				fmt.Fprintln(e.stdout, n)
				return nil
			})
		},
	})

	var prefix *string
	register(&command{
		name: "keys", args: "NAME [--prefix P]", summary: "list keys, sorted",
		help: `Keys print as text when printable, else Go-quoted.

Examples:
  shmdict keys tokens --prefix user:`,
		flags: func(fs *flag.FlagSet) { prefix = fs.String("prefix", "", "only keys starting with P") },
		run: func(e *env, fs *flag.FlagSet, args []string) error {
			if err := wantArgs(args, 1, 1); err != nil {
				return err
			}
			return withTable(args[0], func(t *table.Table) error {
				var keys []string
				err := t.AllErr(func(k, _ []byte) bool {
					if strings.HasPrefix(string(k), *prefix) {
						keys = append(keys, string(k))
					}
					return true
				})
				if err != nil {
					return err
				}
				slices.Sort(keys)
				w := bufio.NewWriter(e.stdout)
				for _, k := range keys {
					fmt.Fprintln(w, display([]byte(k)))
				}
				return w.Flush()
			})
		},
	})

	var repair, fsckForce *bool
	register(&command{
		name: "fsck", args: "NAME [--repair [--force]]", summary: "check a table's invariants (exit 1 on problems)",
		help: `Without --repair, fsck only reads (other processes may keep working) and
exits 1 if it finds problems. --repair rebuilds free lists, recounts, and
retires corrupt slots; it needs the table to itself unless --force.

Examples:
  shmdict fsck tokens
  shmdict fsck tokens --repair`,
		flags: func(fs *flag.FlagSet) {
			repair = fs.Bool("repair", false, "fix what can be fixed")
			fsckForce = fs.Bool("force", false, "repair even while other processes have the table open")
		},
		run: func(e *env, fs *flag.FlagSet, args []string) error {
			if err := wantArgs(args, 1, 1); err != nil {
				return err
			}
			name := args[0]
			var rep table.Report
			var err error
			if *repair {
				rep, err = during(e, "repairing "+name, func() (table.Report, error) { return table.RepairShared(name, os.Getenv("SHMDICT_GROUP"), *fsckForce) })
				if errors.Is(err, table.ErrInUse) {
					return fmt.Errorf("%w; stop them first, or pass --force (at the risk of losing their writes)", err)
				}
			} else {
				err = withTable(name, func(t *table.Table) error {
					rep, err = during(e, "checking "+name, t.Verify)
					return err
				})
			}
			if err != nil {
				return err
			}
			fmt.Fprintln(e.stdout, rep.String())
			if !rep.OK() && !*repair {
				return fmt.Errorf("%s has %d problem(s); run 'shmdict fsck %s --repair'", name, len(rep.Problems), name)
			}
			return nil
		},
	})

	var compCap *int
	var compArena *string
	var compForce *bool
	register(&command{
		name: "compact", args: "NAME [--capacity N] [--arena SIZE] [--force]", summary: "rebuild a table: free deleted keys' slots, optionally grow it",
		help: `Compaction copies live keys into a new generation of the segment and
replaces the name. A larger --capacity grows the arena with it (to what
create gives that capacity, or in proportion for a table made with a larger
--arena) unless --arena says otherwise; the arena never shrinks unless
--arena is given.

It needs the table to itself unless --force. With --force, other processes
are left on the old generation: their writes made during the compaction
are lost, and their later writes fail (a running 'watch' exits) until they
open the name again.

Examples:
  shmdict compact tokens
  shmdict compact tokens --capacity 2000000 --arena 1G`,
		flags: func(fs *flag.FlagSet) {
			compCap = fs.Int("capacity", 0, "new capacity (default: keep)")
			compArena = fs.String("arena", "", "new arena size (default: keep, or grow with a larger --capacity)")
			compForce = fs.Bool("force", false, "compact even while other processes have it open")
		},
		run: func(e *env, fs *flag.FlagSet, args []string) error {
			if err := wantArgs(args, 1, 1); err != nil {
				return err
			}
			if *compCap < 0 {
				return usagef("--capacity must not be negative")
			}
			opts := table.CompactOptions{Capacity: *compCap, Force: *compForce}
			if *compArena != "" {
				n, err := parseSize(*compArena)
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
		},
	})
}

// incrAdder is 'incr --adder': it adds delta to key's striped adder,
// making it one if absent, and prints the sum.
func incrAdder(e *env, t *table.Table, key []byte, delta int64) error {
	a, err := t.Adder(key)
	if errors.Is(err, table.ErrNotCounter) {
		return cliError{fmt.Sprintf("key %s holds a byte value or a plain counter, not a striped adder: 'shmdict incr' it without --adder, or 'shmdict del' it first to make it an adder", displayShort(key)), err}
	}
	if errors.Is(err, table.ErrInvalid) && t.Stats().AdderLanes == 0 {
		return cliError{fmt.Sprintf("%s evicts keys (created with --evict), and a table that evicts has no striped adders: 'shmdict incr' without --adder makes a plain counter", t.Name()), err}
	}
	if err != nil {
		return err
	}
	if delta != 0 {
		if err := a.Add(delta); err != nil {
			return err
		}
	}
	n, err := a.Sum()
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, n)
	return nil
}

// readAllLimited reads stdin up to max bytes.
func readAllLimited(e *env, max int) ([]byte, error) {
	b, err := ioReadAll(e.stdin, max+1)
	if err != nil {
		return nil, err
	}
	if len(b) > max {
		return nil, fmt.Errorf("%w: stdin has more than %d bytes", table.ErrValueTooLarge, max)
	}
	return b, nil
}
