package main

import (
	"errors"
	"flag"
	"fmt"
	"strconv"

	"github.com/shmdict/shmdict/table"
)

const incrHelp = `An absent key starts at 0. DELTA may be negative; 0 reads the counter.

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
  shmdict incr metrics http:hits --adder`

// incrCmd is 'shmdict incr'.
type incrCmd struct{ adder bool }

func newIncrCmd() *command {
	c := &incrCmd{}
	return &command{
		name: "incr", args: "NAME KEY [DELTA] [--adder]", summary: "add DELTA (default 1) to a counter or striped adder and print it",
		help: incrHelp,
		flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&c.adder, "adder", false, "make an absent KEY a striped adder (see above)")
		},
		run: c.run,
	}
}

func (c *incrCmd) run(e *env, fs *flag.FlagSet, args []string) error {
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
		if c.adder {
			return incrAdder(e, t, []byte(args[1]), delta)
		}
		n, err := t.Add([]byte(args[1]), delta)
		if err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, n)
		return nil
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
