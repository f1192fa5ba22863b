package main

import (
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"

	"github.com/shmdict/shmdict/table"
)

const rmHelp = `Without --force, rm refuses while a live process has the table open (exit 1).
With --force the name is removed anyway; processes that have it open keep
using their mapping until they close it.

Examples:
  shmdict rm tokens
  shmdict rm tokens --force`

// rmCmd is 'shmdict rm'.
type rmCmd struct{ force bool }

func newRmCmd() *command {
	c := &rmCmd{}
	return &command{
		name: "rm", args: "NAME [--force]", summary: "remove a table (refused while processes have it open)",
		help: rmHelp,
		flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&c.force, "force", false, "remove even while processes have it open")
		},
		run: c.run,
	}
}

func (c *rmCmd) run(e *env, fs *flag.FlagSet, args []string) error {
	if err := wantArgs(args, 1, 1); err != nil {
		return err
	}
	name := args[0]
	if c.force {
		return table.Remove(name)
	}
	err := table.RemoveUnused(name)
	if errors.Is(err, table.ErrInUse) {
		if in, lerr := table.Inspect(name); lerr == nil && len(in.Live) > 0 {
			return fmt.Errorf("%d live process(es) have %s open (PIDs %s); stop them first or pass --force", len(in.Live), name, pids(in.Live))
		}
		return fmt.Errorf("%w; stop the processes first or pass --force", err)
	}
	return err
}

func pids(ps []table.Process) string {
	var s []string
	for _, p := range ps {
		s = append(s, strconv.Itoa(p.PID))
	}
	return strings.Join(s, ",")
}
