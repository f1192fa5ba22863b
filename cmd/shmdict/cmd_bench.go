package main

import (
	"context"
	"flag"
	"os"
	"os/signal"
	"strings"

	"github.com/shmdict/shmdict/bench"
)

const benchHelp = `Runs workloads (load, uniform and Zipf gets, gets from just-started
processes, 90/10 and 50/50 mixes, counters by key, counters through handles
made before the clock: shmdict's striped adders, the in-process peers'
*atomic.Int64, a plain increment for peers without handles; and counters by
key on keys made adders) against each peer with 1..N
workers: processes for shmdict and Redis (a redis-server the harness
starts on a unix socket, skipped if not installed), goroutines for the
in-process map+RWMutex and sync.Map ceilings. Every read is checked
against what was written and counters must sum exactly; a wrong answer
fails the run (exit 1). get-fresh times each new worker process from its
first get and reports its first 100k gets against its later ones; the
other read workloads warm up first. bbolt and LMDB (cgo) are measured by
the harness binary of the nested module bench/bboltpeer (make bench-full,
make bench-readme).

Examples:
  shmdict bench                                  # the short profile, a table on the terminal
  shmdict bench --profile full --html report.html
  shmdict bench --peers shmdict,redis --workloads get-zipf --workers 1,2,4 --json`

// benchCmd is 'shmdict bench'. Only this file imports the harness
// (package bench); main reaches it through benchWorker.
type benchCmd struct{ flags bench.Flags }

func newBenchCmd() *command {
	c := &benchCmd{}
	return &command{
		name: "bench", args: "[--profile short|full] [flags]", summary: "measure shmdict against a map, sync.Map and Redis, from several processes",
		help:  benchHelp,
		flags: func(fs *flag.FlagSet) { c.flags = bench.Flags{}; c.flags.Register(fs) },
		run:   c.run,
	}
}

func (c *benchCmd) run(e *env, fs *flag.FlagSet, args []string) error {
	if err := wantArgs(args, 0, 0); err != nil {
		return err
	}
	opts, err := c.flags.Options()
	if err != nil {
		return usagef("%v", err)
	}
	p := newProgress(e)
	opts.Progress = func(done, total int, cell bench.Cell) {
		if done < total {
			p.update("bench: cell %d of %d: %s, %s, %d worker(s)", done+1, total, cell.Workload, cell.Peer, cell.Workers)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	err = c.flags.Execute(ctx, opts, "shmdict bench "+strings.Join(os.Args[2:], " "), e.stdout)
	p.done()
	return err
}

// benchWorker runs and exits here when this process is a worker that
// 'shmdict bench' started (the harness re-executes this binary), and
// returns otherwise.
func benchWorker() { bench.MaybeWorker() }
