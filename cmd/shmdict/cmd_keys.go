package main

import (
	"bufio"
	"flag"
	"fmt"
	"slices"
	"strings"

	"github.com/shmdict/shmdict/table"
)

const keysHelp = `Keys print as text when printable, else Go-quoted.

Examples:
  shmdict keys tokens --prefix user:`

// keysCmd is 'shmdict keys'.
type keysCmd struct{ prefix string }

func newKeysCmd() *command {
	c := &keysCmd{}
	return &command{
		name: "keys", args: "NAME [--prefix P]", summary: "list keys, sorted",
		help:  keysHelp,
		flags: func(fs *flag.FlagSet) { fs.StringVar(&c.prefix, "prefix", "", "only keys starting with P") },
		run:   c.run,
	}
}

func (c *keysCmd) run(e *env, fs *flag.FlagSet, args []string) error {
	if err := wantArgs(args, 1, 1); err != nil {
		return err
	}
	return withTable(args[0], func(t *table.Table) error {
		var keys []string
		err := t.AllErr(func(k, _ []byte) bool {
			if strings.HasPrefix(string(k), c.prefix) {
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
}
