// Command shmdict inspects and operates shmdict tables from the shell:
// list segments, create and remove them, read and write keys, dump and
// load contents, watch changes, and check or compact a table.
//
// Run "shmdict help" for the commands and "shmdict CMD --help" for one
// command's flags and examples. Exit codes: 0 success, 1 not found or a
// failed check or operation, 2 usage error.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
)

// Exit codes.
const (
	exitOK    = 0
	exitFail  = 1 // not found, failed check, failed operation
	exitUsage = 2 // bad command line
)

// usageError is a command-line mistake: exit code 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

func main() {
	benchWorker() // a `shmdict bench` worker process runs and exits here
	e := &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr,
		stdinTTY: isTerminal(os.Stdin), stderrTTY: isTerminal(os.Stderr)}
	os.Exit(run(e, os.Args[1:]))
}

// run executes one command line and returns the exit code.
func run(e *env, args []string) int {
	if len(args) == 0 {
		topUsage(e.stderr)
		return exitUsage
	}
	name := args[0]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(args) > 1 {
			if c, ok := commands[args[1]]; ok {
				commandUsage(e.stdout, c)
				return exitOK
			}
			fmt.Fprintf(e.stderr, "shmdict: no command %q; run 'shmdict help' for the list\n", args[1])
			return exitUsage
		}
		topUsage(e.stdout)
		return exitOK
	}
	c, ok := commands[name]
	if !ok {
		fmt.Fprintf(e.stderr, "shmdict: no command %q; run 'shmdict help' for the list\n", name)
		return exitUsage
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if c.flags != nil {
		c.flags(fs)
	}
	pos, err := parseInterspersed(fs, args[1:])
	if errors.Is(err, flag.ErrHelp) {
		commandUsage(e.stdout, c)
		return exitOK
	}
	if err == nil {
		err = c.run(e, fs, pos)
	}
	if err == nil {
		return exitOK
	}
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(e.stderr, "shmdict %s: %s (run 'shmdict %s --help')\n", name, explain(err, ""), name)
		return exitUsage
	}
	tableName := ""
	if strings.HasPrefix(c.args, "NAME") && len(pos) > 0 {
		tableName = pos[0]
	}
	fmt.Fprintf(e.stderr, "shmdict %s: %s\n", name, explain(err, tableName))
	return exitFail
}

// parseInterspersed parses flags anywhere among the arguments (so that
// "create NAME --capacity 10" works) and returns the positional ones. "--"
// ends the flags, and a negative number ("-5", "-0.5") is positional, not
// a flag: no flag's name starts with a digit or a dot.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for len(args) > 0 {
		a := args[0]
		switch {
		case a == "--":
			return append(pos, args[1:]...), nil
		case !strings.HasPrefix(a, "-") || a == "-" || isNegativeNumber(a):
			pos = append(pos, a)
			args = args[1:]
			continue
		}
		// One flag, with its value when it takes one as the next argument.
		n := 1
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if f := fs.Lookup(name); f != nil && !hasValue && !isBoolFlag(f) && len(args) > 1 {
			n = 2
		}
		if err := fs.Parse(args[:n]); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			if strings.HasPrefix(err.Error(), "flag provided but not defined") {
				return nil, usagef("%v (a KEY or VALUE that starts with '-' goes after '--', as in 'shmdict set NAME -- -key -value')", err)
			}
			return nil, usageError{err.Error()}
		}
		args = args[n:]
	}
	return pos, nil
}

// isNegativeNumber reports whether a reads as a negative decimal number.
func isNegativeNumber(a string) bool {
	if len(a) < 2 || a[0] != '-' || !(a[1] >= '0' && a[1] <= '9' || a[1] == '.') {
		return false
	}
	_, err := strconv.ParseFloat(a, 64)
	return err == nil
}

func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// wantArgs checks the number of positional arguments.
func wantArgs(args []string, min, max int) error {
	if len(args) < min {
		return usagef("missing arguments: want at least %d, got %d", min, len(args))
	}
	if max >= 0 && len(args) > max {
		return usagef("too many arguments: %q", args[max:])
	}
	return nil
}

func topUsage(w io.Writer) {
	fmt.Fprintln(w, "shmdict: inspect and operate shared-memory tables")
	fmt.Fprintln(w, "\nUsage: shmdict COMMAND [ARGS] [FLAGS]")
	fmt.Fprintln(w, "\nA NAME without a slash is /dev/shm/NAME; a NAME with a slash is a file path.")
	fmt.Fprintln(w, "\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-8s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'shmdict COMMAND --help' for a command's flags and examples.")
	fmt.Fprintln(w, "Exit codes: 0 ok, 1 not found or failed check, 2 usage error.")
}

func commandUsage(w io.Writer, c *command) {
	fmt.Fprintf(w, "Usage: shmdict %s %s\n\n%s\n", c.name, c.args, c.summary)
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	if c.flags != nil {
		c.flags(fs)
	}
	has := false
	fs.VisitAll(func(*flag.Flag) { has = true })
	if has {
		fmt.Fprintln(w, "\nFlags:")
		fs.SetOutput(w)
		fs.PrintDefaults()
	}
	if c.help != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(c.help))
	}
}
