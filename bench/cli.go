package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Profiles are the named option sets of the command line.
var Profiles = map[string]Options{
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

// UsageError is a bad command-line value.
type UsageError struct{ Msg string }

func (e UsageError) Error() string { return e.Msg }

// Flags are the harness's command-line flags, shared by `shmdict bench`
// and the harness binaries of nested modules (which add peers).
type Flags struct {
	Profile, Peers, Workloads, Workers, HTML, SVG, Note string
	Keys, ValueSize                                     int
	Duration                                            time.Duration
	JSON, Markdown                                      bool
}

// Register declares the flags on fs.
func (f *Flags) Register(fs *flag.FlagSet) {
	fs.StringVar(&f.Profile, "profile", "short", "short (a few minutes) or full")
	fs.StringVar(&f.Peers, "peers", "", "comma-separated peers (default all: "+strings.Join(PeerNames(), ",")+")")
	fs.StringVar(&f.Workloads, "workloads", "", "comma-separated workloads (default all: "+strings.Join(Workloads, ",")+")")
	fs.StringVar(&f.Workers, "workers", "", "comma-separated worker counts (default from the profile)")
	fs.IntVar(&f.Keys, "keys", 0, "key universe (default from the profile)")
	fs.IntVar(&f.ValueSize, "value-size", 0, "bytes per value, 8 to 4096 (default 32)")
	fs.DurationVar(&f.Duration, "duration", 0, "time per cell (default from the profile)")
	fs.BoolVar(&f.JSON, "json", false, "print the report as JSON instead of a table")
	fs.BoolVar(&f.Markdown, "markdown", false, "print the report as Markdown (for the README)")
	fs.StringVar(&f.HTML, "html", "", "also write an HTML report with charts to this file")
	fs.StringVar(&f.SVG, "svg", "", "also write one throughput chart per workload (SVG) into this directory")
	fs.StringVar(&f.Note, "note", "", "a sentence to print with the report's header (Markdown, HTML)")
}

// Options turns the flags into Run's options; bad values are UsageErrors.
func (f *Flags) Options() (Options, error) {
	opts, ok := Profiles[f.Profile]
	if !ok {
		return opts, UsageError{fmt.Sprintf("no profile %q: want short or full", f.Profile)}
	}
	if f.Peers != "" {
		opts.Peers = strings.Split(f.Peers, ",")
		for _, p := range opts.Peers {
			if _, err := NewPeer(p); err != nil {
				return opts, UsageError{err.Error()}
			}
		}
	}
	if f.Workloads != "" {
		opts.Workloads = strings.Split(f.Workloads, ",")
		for _, w := range opts.Workloads {
			if !slices.Contains(Workloads, w) {
				return opts, UsageError{fmt.Sprintf("no workload %q (known: %s)", w, strings.Join(Workloads, ", "))}
			}
		}
	}
	if f.Workers != "" {
		opts.Workers = nil
		for _, s := range strings.Split(f.Workers, ",") {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > 1024 {
				return opts, UsageError{fmt.Sprintf("bad --workers %q: want counts such as 1,2,4", f.Workers)}
			}
			opts.Workers = append(opts.Workers, n)
		}
	}
	switch {
	case f.Keys < 0:
		return opts, UsageError{"--keys must be positive"}
	case f.Keys > 0:
		opts.Keys = f.Keys
	}
	if f.ValueSize != 0 {
		if f.ValueSize < 8 || f.ValueSize > 4096 {
			return opts, UsageError{"--value-size must be in [8, 4096]"}
		}
		opts.ValueLen = f.ValueSize
	}
	if f.Duration != 0 {
		if f.Duration < 10*time.Millisecond {
			return opts, UsageError{"--duration must be at least 10ms"}
		}
		opts.Duration = f.Duration
	}
	return opts, nil
}

// Execute runs opts and writes the report as the flags ask: a table (or
// JSON, or Markdown) on stdout, and the HTML and SVG files.
func (f *Flags) Execute(ctx context.Context, opts Options, command string, stdout io.Writer) error {
	rep, err := Run(ctx, opts)
	if err != nil {
		return err
	}
	rep.Command, rep.Profile = command, f.Profile
	rep.Note = strings.TrimSpace(runNote(opts, Profiles[f.Profile], rep) + " " + f.Note)
	if f.HTML != "" {
		if err := writeFile(f.HTML, func(w io.Writer) error { return WriteHTML(w, rep) }); err != nil {
			return err
		}
	}
	if f.SVG != "" {
		ws := opts.Workloads
		if len(ws) == 0 {
			ws = Workloads
		}
		for _, w := range ws {
			if err := writeFile(filepath.Join(f.SVG, w+".svg"), func(out io.Writer) error { return WriteSVG(out, rep, w) }); err != nil {
				return err
			}
		}
	}
	switch {
	case f.JSON:
		return WriteJSON(stdout, rep)
	case f.Markdown:
		return WriteMarkdown(stdout, rep)
	}
	return WriteTable(stdout, rep)
}

func writeFile(path string, f func(io.Writer) error) error {
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

// IsUsage reports whether err is a command-line mistake.
func IsUsage(err error) bool {
	var ue UsageError
	return errors.As(err, &ue)
}

// Register makes a peer known by name to Run, the command line and the
// worker processes. Harness binaries in nested modules use it to add
// peers whose dependencies the library's module must not carry.
func Register(name string, f func() Peer) { register(name, f) }

// runNote says how long cells ran and what timing includes, for the
// report's header.
func runNote(opts, profile Options, rep Report) string {
	opts.defaults()
	var clock int64
	for _, r := range rep.Results {
		clock = max(clock, r.ClockNs)
	}
	shorter := ""
	if profile.Duration > opts.Duration {
		shorter = fmt.Sprintf(" (the profile's %s, shortened)", profile.Duration)
	}
	note := fmt.Sprintf("%s a cell%s; steady-state reads (get-uniform, get-zipf, mixes) after a %s untimed warm-up, "+
		"get-fresh from just-started processes with no warm-up (at least %d gets each).",
		opts.Duration, shorter, max(opts.Warmup, 0), 2*opts.FreshOps)
	if clock > 0 {
		note += fmt.Sprintf(" One latency sample in %d is timed; each includes about %dns of clock read.", sampleEvery, clock)
	}
	return note
}
