package main

import (
	"encoding/hex"
	"errors"
	"flag"
	"fmt"

	"github.com/shmdict/shmdict/table"
)

const getHelp = `A counter prints as a decimal number, and so does a striped adder (its sum
over every process's lane; 'shmdict incr --adder'). Other values print as text when
printable, else Go-quoted ("\x00..."); --hex prints hex, --raw writes the
bytes exactly, without a newline.

` + dashHelp + `

Examples:
  shmdict get tokens user:42
  shmdict get tokens blob --raw > blob.bin`

// getCmd is 'shmdict get'.
type getCmd struct{ hex, raw bool }

func newGetCmd() *command {
	c := &getCmd{}
	return &command{
		name: "get", args: "NAME KEY [--hex|--raw]", summary: "print a key's value (exit 1 if absent)",
		help:  getHelp,
		flags: c.flags,
		run:   c.run,
	}
}

func (c *getCmd) flags(fs *flag.FlagSet) {
	fs.BoolVar(&c.hex, "hex", false, "print the value in hex")
	fs.BoolVar(&c.raw, "raw", false, "write the value's bytes exactly, no newline")
}

func (c *getCmd) run(e *env, fs *flag.FlagSet, args []string) error {
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
		if len(v) == 8 && !c.raw && !c.hex {
			if n, err := t.Add(key, 0); err == nil {
				fmt.Fprintln(e.stdout, n)
				return nil
			}
		}
		switch {
		case c.raw:
			_, err = e.stdout.Write(v)
		case c.hex:
			_, err = fmt.Fprintln(e.stdout, hex.EncodeToString(v))
		default:
			_, err = fmt.Fprintln(e.stdout, display(v))
		}
		return err
	})
}
