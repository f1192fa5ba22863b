// Command shmdict-bench is `shmdict bench` with every peer, bbolt included
// (its dependency stays out of the library's module). Same flags.
//
//	cd bench/bboltpeer && go run ./cmd/shmdict-bench --profile full --html report.html
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"

	"github.com/shmdict/shmdict/bench"
	_ "github.com/shmdict/shmdict/bench/bboltpeer" // bbolt, and lmdb where cgo is on
)

func main() {
	bench.MaybeWorker() // worker processes run and exit here
	var f bench.Flags
	fs := flag.NewFlagSet("shmdict-bench", flag.ContinueOnError)
	f.Register(fs)
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	opts, err := f.Options()
	if err != nil {
		fmt.Fprintln(os.Stderr, "shmdict-bench:", err)
		os.Exit(2)
	}
	opts.Progress = func(done, total int, c bench.Cell) {
		if done < total {
			fmt.Fprintf(os.Stderr, "\r\033[Kcell %d of %d: %s, %s, %d worker(s)", done+1, total, c.Workload, c.Peer, c.Workers)
		} else {
			fmt.Fprint(os.Stderr, "\r\033[K")
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := f.Execute(ctx, opts, "shmdict-bench "+strings.Join(os.Args[1:], " "), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "shmdict-bench:", err)
		os.Exit(1)
	}
}
