package main

import (
	"flag"
	"fmt"
)

const createHelp = `Fails if NAME exists. SIZE takes K, M, G suffixes (binary).

A table without --evict keeps striped adders ('shmdict incr --adder'):
--adder-lanes sets how many processes can add to them without sharing a
cache line (more share lanes and stay exact). A lane takes memory only
once a process adds through it: 8 bytes per adder.

--max-capacity N makes a table that grows online: when its index is full,
a write adds a tier of twice the last one's slots (keys never move; other
processes keep reading and writing), until it holds N keys (a little more:
tiers come in whole sizes). The slots and arena for N keys are reserved as
address space now and take memory as they fill; the default arena is sized
for N. 'shmdict stats' shows the tiers in use. Not with --evict. Such a
table is segment format version 6, which shmdict builds before growth
cannot open.

Examples:
  shmdict create tokens --capacity 1000000
  shmdict create /var/lib/myapp/cache.shm --capacity 50000 --arena 256M --events 4096
  shmdict create sessions --capacity 100000 --evict   # a cache: full means evict, not fail
  shmdict create metrics --capacity 10000 --adder-lanes 16
  shmdict create events --capacity 10000 --max-capacity 10000000   # starts small, grows`

// createCmd is 'shmdict create'; its flags are the shape flags (shape.go).
type createCmd struct{ shape shapeFlags }

func newCreateCmd() *command {
	c := &createCmd{}
	return &command{
		name: "create", args: "NAME --capacity N [--max-capacity N] [--arena SIZE] [--events N] [--evict | --adder-lanes N]", summary: "create a table",
		help:  createHelp,
		flags: c.flags,
		run:   c.run,
	}
}

func (c *createCmd) flags(fs *flag.FlagSet) {
	c.shape = shapeFlags{}
	c.shape.register(fs, "number of keys the table must hold (required)")
}

func (c *createCmd) run(e *env, fs *flag.FlagSet, args []string) error {
	if err := wantArgs(args, 1, 1); err != nil {
		return err
	}
	c.shape.parsed(fs)
	opts, err := c.shape.options(nil)
	if err != nil {
		return err
	}
	t, err := createTable(args[0], opts)
	if err != nil {
		return err
	}
	defer t.Close()
	st := t.Stats()
	grows := ""
	if st.MaxTiers > 1 {
		grows = fmt.Sprintf(", growing to %d keys in up to %d tiers", st.MaxCapacity, st.MaxTiers)
	}
	fmt.Fprintf(e.stdout, "created %s: capacity %d keys, %d slots%s, arena %s, file %s (%s in memory now; it grows as records and adders fill it)\n",
		st.Path, st.Capacity, st.Slots, grows, humanBytes(st.ArenaBytes), humanBytes(st.FileBytes), humanBytes(st.MemoryBytes))
	return nil
}
