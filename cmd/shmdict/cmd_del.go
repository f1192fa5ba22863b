package main

import (
	"flag"
	"fmt"

	"github.com/shmdict/shmdict/table"
)

const delHelp = dashHelp + `

Examples:
  shmdict del tokens user:42
  shmdict del tokens -- -odd-key`

func newDelCmd() *command {
	return &command{
		name: "del", args: "NAME KEY", summary: "delete a key (exit 1 if it was absent)",
		help: delHelp,
		run:  runDel,
	}
}

// runDel is 'shmdict del'.
func runDel(e *env, fs *flag.FlagSet, args []string) error {
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
}
