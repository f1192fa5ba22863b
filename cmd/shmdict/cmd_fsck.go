package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/shmdict/shmdict/table"
)

const fsckHelp = `Without --repair, fsck only reads (other processes may keep working) and
exits 1 if it finds problems. --repair rebuilds free lists, recounts, and
retires corrupt slots; it needs the table to itself unless --force.

Examples:
  shmdict fsck tokens
  shmdict fsck tokens --repair`

// fsckCmd is 'shmdict fsck': table.Verify, or table.RepairShared with
// --repair (the checks tests run after every run).
type fsckCmd struct{ repair, force bool }

func newFsckCmd() *command {
	c := &fsckCmd{}
	return &command{
		name: "fsck", args: "NAME [--repair [--force]]", summary: "check a table's invariants (exit 1 on problems)",
		help:  fsckHelp,
		flags: c.flags,
		run:   c.run,
	}
}

func (c *fsckCmd) flags(fs *flag.FlagSet) {
	fs.BoolVar(&c.repair, "repair", false, "fix what can be fixed")
	fs.BoolVar(&c.force, "force", false, "repair even while other processes have the table open")
}

func (c *fsckCmd) run(e *env, fs *flag.FlagSet, args []string) error {
	if err := wantArgs(args, 1, 1); err != nil {
		return err
	}
	name := args[0]
	var rep table.Report
	var err error
	if c.repair {
		rep, err = during(e, "repairing "+name, func() (table.Report, error) {
			return table.RepairShared(name, os.Getenv("SHMDICT_GROUP"), c.force)
		})
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
	if !rep.OK() && !c.repair {
		return fmt.Errorf("%s has %d problem(s); run 'shmdict fsck %s --repair'", name, len(rep.Problems), name)
	}
	return nil
}
