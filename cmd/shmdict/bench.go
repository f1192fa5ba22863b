package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/shmdict/shmdict/bench"
)

// Profiles of `shmdict bench`.
var benchProfiles = map[string]bench.Options{
	// short: every peer and workload at 100k keys, 1 and 2 workers, 1 s a
	// cell: a few minutes on 2 cores (make bench).
	"short": {Keys: 100_000, Workers: []int{1, 2}, Duration: time.Second},
	// full: 1M keys, 1 to all CPUs workers, 3 s a cell.
	"full": {Keys: 1_000_000, Workers: fullWorkers(), Duration: 3 * time.Second},
}

func fullWorkers() []int {
	ws := []int{1}
	for n := 2; n < runtime.NumCPU(); n *= 2 {
		ws = append(ws, n)
	}
	if n := runtime.NumCPU(); n > 1 {
		ws = append(ws, n)
	}
	return ws
}

func init() {
	var profile, peers, workloads, workers, htmlOut, svgDir *string
	var keys, valueSize *int
	var duration *time.Duration
	var asJSON, markdown *bool
	register(&command{
		name: "bench", args: "[--profile short|full] [flags]", summary: "measure shmdict against a map, sync.Map and Redis, from several processes",
		help: `Runs workloads (load, uniform and Zipf gets, 90/10 and 50/50 mixes,
counters) against each peer with 1..N workers: processes for shmdict and
Redis (a redis-server the harness starts on a unix socket, skipped if not
installed), goroutines for the in-process map+RWMutex and sync.Map
ceilings. Every read is checked against what was written and counters must
sum exactly; a wrong answer fails the run (exit 1).

Examples:
  shmdict bench                                  # the short profile, a table on the terminal
  shmdict bench --profile full --html report.html
  shmdict bench --peers shmdict,redis --workloads get-zipf --workers 1,2,4 --json`,
		flags: func(fs *flag.FlagSet) {
			profile = fs.String("profile", "short", "short (a few minutes) or full")
			peers = fs.String("peers", "", "comma-separated peers (default all: "+strings.Join(bench.PeerNames(), ",")+")")
			workloads = fs.String("workloads", "", "comma-separated workloads (default all: "+strings.Join(bench.Workloads, ",")+")")
			workers = fs.String("workers", "", "comma-separated worker counts (default from the profile)")
			keys = fs.Int("keys", 0, "key universe (default from the profile)")
			valueSize = fs.Int("value-size", 0, "bytes per value, 8 to 4096 (default 32)")
			duration = fs.Duration("duration", 0, "time per cell (default from the profile)")
			asJSON = fs.Bool("json", false, "print the report as JSON instead of a table")
			markdown = fs.Bool("markdown", false, "print the report as Markdown (for the README)")
			htmlOut = fs.String("html", "", "also write an HTML report with charts to this file")
			svgDir = fs.String("svg", "", "also write one throughput chart per workload (SVG) into this directory")
		},
		run: func(e *env, fs *flag.FlagSet, args []string) error {
			if err := wantArgs(args, 0, 0); err != nil {
				return err
			}
			opts, ok := benchProfiles[*profile]
			if !ok {
				return usagef("no profile %q: want short or full", *profile)
			}
			if *peers != "" {
				opts.Peers = strings.Split(*peers, ",")
				for _, p := range opts.Peers {
					if _, err := bench.NewPeer(p); err != nil {
						return usagef("%v", err)
					}
				}
			}
			if *workloads != "" {
				opts.Workloads = strings.Split(*workloads, ",")
				for _, w := range opts.Workloads {
					if !contains(bench.Workloads, w) {
						return usagef("no workload %q (known: %s)", w, strings.Join(bench.Workloads, ", "))
					}
				}
			}
			if *workers != "" {
				opts.Workers = nil
				for _, s := range strings.Split(*workers, ",") {
					n, err := strconv.Atoi(s)
					if err != nil || n < 1 || n > 1024 {
						return usagef("bad --workers %q: want counts such as 1,2,4", *workers)
					}
					opts.Workers = append(opts.Workers, n)
				}
			}
			if *keys != 0 {
				if *keys < 1 {
					return usagef("--keys must be positive")
				}
				opts.Keys = *keys
			}
			if *valueSize != 0 {
				if *valueSize < 8 || *valueSize > 4096 {
					return usagef("--value-size must be in [8, 4096]")
				}
				opts.ValueLen = *valueSize
			}
			if *duration != 0 {
				if *duration < 10*time.Millisecond {
					return usagef("--duration must be at least 10ms")
				}
				opts.Duration = *duration
			}
			p := newProgress(e)
			opts.Progress = func(done, total int, c bench.Cell) {
				if done < total {
					p.update("bench: cell %d of %d: %s, %s, %d worker(s)", done+1, total, c.Workload, c.Peer, c.Workers)
				}
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
			defer stop()
			rep, err := bench.Run(ctx, opts)
			p.done()
			if err != nil {
				return err
			}
			rep.Command = "shmdict bench " + strings.Join(os.Args[2:], " ")
			rep.Profile = *profile
			if *htmlOut != "" {
				if err := writeFile(*htmlOut, func(f *os.File) error { return bench.WriteHTML(f, rep) }); err != nil {
					return err
				}
			}
			if *svgDir != "" {
				for _, w := range opts.Workloads {
					path := filepath.Join(*svgDir, w+".svg")
					if err := writeFile(path, func(f *os.File) error { return bench.WriteSVG(f, rep, w) }); err != nil {
						return err
					}
				}
			}
			switch {
			case *asJSON:
				return bench.WriteJSON(e.stdout, rep)
			case *markdown:
				return bench.WriteMarkdown(e.stdout, rep)
			}
			return bench.WriteTable(e.stdout, rep)
		},
	})
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

func writeFile(path string, f func(*os.File) error) error {
	file, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := f(file); err != nil {
		file.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return file.Close()
}
