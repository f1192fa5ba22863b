package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/shmdict/shmdict/array"
)

const lsHelp = `DIR defaults to /dev/shm. STATE is "ok" (live processes have it open),
"unused" (a table no process has open right now, a table's normal state
between uses; LAST USE says since when: create, open and close count; "a
process died with it open" means it may have been used later than that),
"orphan" (a temp file left by an interrupted create or compaction, which
'shmdict gc' removes), "temp (in use)" (a create or compaction at work), or
why the file is not a usable segment.

CAPACITY is the keys the table holds. For a table made with 'create
--max-capacity' ls does not know the tiers in use (it reads the file without
attaching), so CAPACITY says "up to N", the most keys it can grow to, and
FILL is KEYS over N ('shmdict stats' shows the capacity in use now). With
--json such a table has "grows": true, "capacity" N and "fill_percent" keys
over N.

With --json, "state" is one of "ok", "unused", "orphan", "temp_in_use" and
"unusable" (then "error" says why), and "crashed_processes" counts the
processes that died with the table open.

Shared arrays ('shmdict array', NAME.npy files) follow the tables, with
their element type and shape; a .npy file that is not an array made by
shmdict (numpy's own, say) shows why in place of its type. With --json an
array is an object with "kind": "array", "name", "path", "bytes", "dtype",
"shape" and, for a file that is not one, "error"; tables have no "kind".

Examples:
  shmdict ls
  shmdict ls /var/lib/myapp --json`

// lsCmd is 'shmdict ls'. Its STATE column goes by SegmentInfo.Orphan and
// Unused, as gc and table.RemoveOrphans do (lsJSON).
type lsCmd struct{ asJSON bool }

func newLsCmd() *command {
	c := &lsCmd{}
	return &command{
		name: "ls", args: "[DIR]", summary: "list table segments with size, keys, fill and attached processes, then shared arrays",
		help:  lsHelp,
		flags: func(fs *flag.FlagSet) { fs.BoolVar(&c.asJSON, "json", false, "print JSON, one object per segment") },
		run:   c.run,
	}
}

func (c *lsCmd) run(e *env, fs *flag.FlagSet, args []string) error {
	if err := wantArgs(args, 0, 1); err != nil {
		return err
	}
	infos, err := listArg(args)
	if err != nil {
		return err
	}
	var rows []lsOut
	for _, in := range infos {
		rows = append(rows, lsJSON(in))
	}
	arrays, err := arrayList(args)
	if err != nil {
		return err
	}
	if c.asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetEscapeHTML(false) // dtypes such as "<f8" stay readable
		for _, r := range rows {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		for _, a := range arrays {
			if err := enc.Encode(a); err != nil {
				return err
			}
		}
		return nil
	}
	defer printArrays(e, arrays)
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSIZE\tMEMORY\tKEYS\tCAPACITY\tFILL\tPROCS\tLAST USE\tSTATE")
	for i, r := range rows {
		capacity := strconv.FormatUint(r.Capacity, 10)
		if r.Grows {
			capacity = "up to " + capacity
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%.1f%%\t%d\t%s\t%s\n", r.Name, humanBytes(r.Bytes), humanBytes(r.MemoryBytes), r.Keys, capacity, r.Fill, r.Procs,
			infos[i].Modified.Format("2006-01-02 15:04"), lsText(r))
	}
	return tw.Flush()
}

// lsArray is one array file in ls's output (--json: one object).
type lsArray struct {
	Kind  string `json:"kind"` // "array"
	Name  string `json:"name"`
	Path  string `json:"path"`
	Bytes int64  `json:"bytes"`
	DType string `json:"dtype"`
	Shape []int  `json:"shape"`
	Error string `json:"error,omitempty"`
}

// arrayList describes the array files of ls's DIR.
func arrayList(args []string) ([]lsArray, error) {
	dir := ""
	if len(args) == 1 {
		dir = args[0]
	}
	infos, err := array.List(dir)
	if err != nil {
		return nil, err
	}
	var out []lsArray
	for _, in := range infos {
		a := lsArray{Kind: "array", Name: strings.TrimSuffix(filepath.Base(in.Path), ".npy"), Path: in.Path, Bytes: in.Bytes, DType: in.DType, Shape: in.Shape}
		if a.Shape == nil {
			a.Shape = []int{}
		}
		if in.Err != nil {
			a.Error = in.Err.Error()
		}
		out = append(out, a)
	}
	return out, nil
}

// printArrays prints the arrays after the tables, if there are any.
func printArrays(e *env, arrays []lsArray) {
	if len(arrays) == 0 {
		return
	}
	fmt.Fprintln(e.stdout)
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ARRAY\tSIZE\tDTYPE\tSHAPE")
	for _, a := range arrays {
		if a.Error != "" {
			fmt.Fprintf(tw, "%s\t%s\t-\tnot a shmdict array: %s\n", a.Name, humanBytes(a.Bytes), a.Error)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", a.Name, humanBytes(a.Bytes), a.DType, array.FormatShape(a.Shape))
	}
	tw.Flush()
}
