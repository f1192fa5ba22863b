package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"

	"github.com/shmdict/shmdict/table"
)

const watchHelp = `With KEY, prints the key's value now and after every change (works on every
table). With --prefix or --all, prints each change event of matching keys;
that needs a table created with --events N. Stops after --count changes, or
on Ctrl-C.

` + dashHelp + `

Examples:
  shmdict watch tokens config:mode
  shmdict watch tokens --prefix user: --count 10`

// watchCmd is 'shmdict watch'.
type watchCmd struct {
	prefix string
	all    bool
	count  int
}

func newWatchCmd() *command {
	c := &watchCmd{}
	return &command{
		name: "watch", args: "NAME [KEY | --prefix P | --all] [--count N]", summary: "stream changes as they happen",
		help:  watchHelp,
		flags: c.flags,
		run:   c.run,
	}
}

func (c *watchCmd) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.prefix, "prefix", "", "watch every key starting with P (needs a table with --events)")
	fs.BoolVar(&c.all, "all", false, "watch every key (needs a table with --events)")
	fs.IntVar(&c.count, "count", 0, "stop after this many changes (0: never)")
}

func (c *watchCmd) run(e *env, fs *flag.FlagSet, args []string) error {
	if err := wantArgs(args, 1, 2); err != nil {
		return err
	}
	byPrefix := c.prefix != "" || c.all
	if len(args) == 2 && byPrefix {
		return usagef("give a KEY or --prefix/--all, not both")
	}
	if len(args) == 1 && !byPrefix {
		return usagef("give a KEY, --prefix P or --all")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	return withTable(args[0], func(t *table.Table) error {
		if byPrefix {
			return watchEvents(ctx, e, t, []byte(c.prefix), c.count)
		}
		return watchKey(ctx, e, t, []byte(args[1]), c.count)
	})
}

// watchKey prints key's value now and after each change.
func watchKey(ctx context.Context, e *env, t *table.Table, key []byte, count int) error {
	seen := 0
	for {
		v, ver, err := t.Lookup(key)
		switch {
		case errors.Is(err, table.ErrNotFound):
			fmt.Fprintf(e.stdout, "%s (absent)\n", display(key))
		case err != nil:
			return err
		default:
			fmt.Fprintf(e.stdout, "%s = %s\n", display(key), display(v))
		}
		if count > 0 && seen >= count {
			return nil
		}
		if _, err := t.Wait(ctx, key, ver); err != nil {
			if ctx.Err() != nil {
				return nil // Ctrl-C
			}
			return err
		}
		seen++
	}
}

// watchEvents prints each change event of keys under prefix.
func watchEvents(ctx context.Context, e *env, t *table.Table, prefix []byte, count int) error {
	seen := 0
	for ev, err := range t.Subscribe(ctx, prefix) {
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, table.ErrNoEvents) {
				return fmt.Errorf("%s keeps no change events: watch a single KEY instead, or recreate the table with 'shmdict create NAME --capacity N --events 4096'", t.Name())
			}
			return err
		}
		if ev.Missed > 0 {
			fmt.Fprintf(e.stdout, "(missed %d events)\n", ev.Missed)
		}
		v, err := t.Get(ev.Key)
		switch {
		case errors.Is(err, table.ErrNotFound):
			fmt.Fprintf(e.stdout, "%s %s (absent)\n", ev.Kind, display(ev.Key))
		case err != nil:
			return err
		default:
			if n, cerr := t.Add(ev.Key, 0); cerr == nil && len(v) == 8 {
				fmt.Fprintf(e.stdout, "%s %s = %d\n", ev.Kind, display(ev.Key), n)
			} else {
				fmt.Fprintf(e.stdout, "%s %s = %s\n", ev.Kind, display(ev.Key), display(v))
			}
		}
		seen++
		if count > 0 && seen >= count {
			return nil
		}
	}
	return nil
}
