package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"slices"

	"github.com/shmdict/shmdict/table"
)

const dumpHelp = `The output is sorted by key and round-trips exactly through 'shmdict load',
including counters, striped adders (as their sum, marked "adder": true) and
TTL deadlines. Other processes may keep writing
during a dump: each line is consistent, the whole is not a snapshot.

Examples:
  shmdict dump tokens > tokens.jsonl
  shmdict dump tokens | shmdict load tokens-copy --capacity 1000000`

func newDumpCmd() *command {
	return &command{
		name: "dump", args: "NAME > FILE", summary: "write every key as JSON lines (see docs/DUMP.md)",
		help: dumpHelp,
		run:  runDump,
	}
}

// runDump is 'shmdict dump': the format is in dumpformat.go.
func runDump(e *env, fs *flag.FlagSet, args []string) error {
	if err := wantArgs(args, 1, 1); err != nil {
		return err
	}
	return withTable(args[0], func(t *table.Table) error {
		entries, err := sortedEntries(e, t)
		if err != nil {
			return err
		}
		w := bufio.NewWriter(e.stdout)
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		h := dumpHeader{Version: dumpVersion}
		if in, err := table.Inspect(args[0]); err == nil && in.Err == nil {
			sh := shapeOf(table.OptionsOf(in))
			h.Shape = &sh
		}
		if err := enc.Encode(h); err != nil {
			return err
		}
		for _, en := range entries {
			if err := enc.Encode(recordOf(en)); err != nil {
				return err
			}
		}
		return w.Flush()
	})
}

// sortedEntries reads every entry of t, sorted by key bytes, showing
// progress on a terminal.
func sortedEntries(e *env, t *table.Table) ([]table.Entry, error) {
	p := newProgress(e)
	var entries []table.Entry
	for en, err := range t.Entries() {
		if err != nil {
			return nil, err
		}
		entries = append(entries, en)
		p.update("read %d keys", len(entries))
	}
	p.done()
	slices.SortFunc(entries, func(a, b table.Entry) int { return bytes.Compare(a.Key, b.Key) })
	return entries, nil
}
