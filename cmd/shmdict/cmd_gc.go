package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/shmdict/shmdict/table"
)

const gcHelp = `gc removes orphans: temp files left by a create or compaction whose process
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
  shmdict gc --unused-for 168h --yes   # also tables nobody used for a week`

// gcCmd is 'shmdict gc'. An orphan is what SegmentInfo.Orphan says, the
// definition table.RemoveOrphans and 'shmdict ls' go by; an unused table
// is removed only as table.RemoveUnusedFor would remove it.
type gcCmd struct {
	yes       bool
	unusedFor time.Duration
}

func newGcCmd() *command {
	c := &gcCmd{}
	return &command{
		name: "gc", args: "[DIR] [--yes] [--unused-for DURATION]", summary: "remove crash leftovers (and, on request, tables unused for long)",
		help:  gcHelp,
		flags: c.flags,
		run:   c.run,
	}
}

func (c *gcCmd) flags(fs *flag.FlagSet) {
	fs.BoolVar(&c.yes, "yes", false, "remove without asking")
	fs.DurationVar(&c.unusedFor, "unused-for", 0, "also remove tables no process has used for this long (e.g. 24h)")
}

func (c *gcCmd) run(e *env, fs *flag.FlagSet, args []string) error {
	if err := wantArgs(args, 0, 1); err != nil {
		return err
	}
	if c.unusedFor < 0 {
		return usagef("--unused-for must be positive (got %v)", c.unusedFor)
	}
	infos, err := listArg(args)
	if err != nil {
		return err
	}
	cutoff := time.Now().Add(-c.unusedFor)
	cands := c.candidates(e, infos, cutoff)
	if len(cands) == 0 {
		fmt.Fprintln(e.stdout, "nothing to remove")
		return nil
	}
	if !c.yes {
		if ok, err := confirmRemove(e, len(cands)); !ok || err != nil {
			return err
		}
	}
	return removeListed(e, cands, cutoff)
}

// candidates prints and returns what gc would remove: every orphan, and
// with --unused-for the tables of this user unused since before cutoff.
func (c *gcCmd) candidates(e *env, infos []table.SegmentInfo, cutoff time.Time) []table.SegmentInfo {
	var cands []table.SegmentInfo
	kept := 0
	for _, in := range infos {
		switch {
		case in.Orphan():
			cands = append(cands, in)
			fmt.Fprintln(e.stdout, "orphan:", in.Path)
		case in.Unused() && c.unusedFor > 0 && in.Crashed > 0:
			fmt.Fprintf(e.stdout, "keeping %s: %s; its last use is unknown (it is counted again once a command opens and closes it)\n", in.Path, crashedNote(in.Crashed))
		case in.Unused() && c.unusedFor > 0 && in.UID == os.Geteuid() && in.Modified.Before(cutoff):
			cands = append(cands, in)
			fmt.Fprintf(e.stdout, "unused since %s: %s\n", in.Modified.Format(time.RFC3339), in.Path)
		case in.Unused():
			kept++
		}
	}
	if kept > 0 && c.unusedFor == 0 {
		fmt.Fprintf(e.stdout, "keeping %d table(s) that no process has open ('gc --unused-for DURATION' removes those unused that long)\n", kept)
	}
	return cands
}

// confirmRemove asks on a terminal whether to remove n files; without a
// terminal it is a usage error (--yes is needed).
func confirmRemove(e *env, n int) (bool, error) {
	if !e.stdinTTY {
		return false, usagef("%d file(s) to remove; pass --yes to remove them", n)
	}
	fmt.Fprintf(e.stdout, "remove %d file(s)? [y/N] ", n)
	ans, _ := bufio.NewReader(e.stdin).ReadString('\n')
	if a := strings.ToLower(strings.TrimSpace(ans)); a != "y" && a != "yes" {
		fmt.Fprintln(e.stdout, "nothing removed")
		return false, nil
	}
	return true, nil
}

// removeListed removes what was listed (and asked about), each decided
// again under its lock as RemoveOrphans and RemoveUnusedFor do; a file
// that changed meanwhile is kept.
func removeListed(e *env, cands []table.SegmentInfo, cutoff time.Time) error {
	var errs []error
	for _, in := range cands {
		var err error
		if in.Orphan() {
			err = table.RemoveOrphan(in.Path)
		} else {
			err = table.RemoveUnusedBefore(in.Path, cutoff)
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
}
