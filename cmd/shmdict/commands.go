package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/shmdict/shmdict/table"
)

// Reading this command's source: main.go parses a command line and
// prints usage; commands lists every subcommand, each in the file named
// for it (cmd_get.go for get, ...), where newGetCmd builds it from its
// help text, its flags (fields of getCmd) and its run method. Shared by
// several commands: shape.go (the flags that shape a new table),
// dumpformat.go (dump and load's JSON lines), messages.go (every error
// message, in CLI words), jsonout.go (--json outputs) and term.go
// (terminal output). The CLI uses only package table's public API
// (source_test.go checks it).

// command is one subcommand.
type command struct {
	name    string
	args    string // argument synopsis
	summary string
	help    string // flags are appended from the FlagSet
	run     func(env *env, fs *flag.FlagSet, args []string) error
	flags   func(fs *flag.FlagSet) // declares flags (may be nil)
}

// env is what commands read and write: the process's streams, swappable
// in tests.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	stdinTTY       bool
	stderrTTY      bool
}

// commands is every subcommand, by name.
var commands = byName(
	newArrayCmd(),
	newBenchCmd(),
	newCompactCmd(),
	newCreateCmd(),
	newDelCmd(),
	newDumpCmd(),
	newFsckCmd(),
	newGcCmd(),
	newGetCmd(),
	newIncrCmd(),
	newKeysCmd(),
	newLoadCmd(),
	newLsCmd(),
	newRmCmd(),
	newSetCmd(),
	newStatsCmd(),
	newWatchCmd(),
)

func byName(cs ...*command) map[string]*command {
	m := make(map[string]*command, len(cs))
	for _, c := range cs {
		m[c.name] = c
	}
	return m
}

// attach opens an existing table, with a hint when it is missing. Tables
// shared through a group need that group in $SHMDICT_GROUP.
func attach(name string) (*table.Table, error) {
	t, err := table.AttachShared(name, os.Getenv("SHMDICT_GROUP"))
	if errors.Is(err, table.ErrNotExist) {
		return nil, cliError{fmt.Sprintf("table %s does not exist; create it with 'shmdict create %s --capacity N'", name, name), err}
	}
	return t, err
}

// withTable runs f on the attached table and closes it.
func withTable(name string, f func(t *table.Table) error) error {
	t, err := attach(name)
	if err != nil {
		return err
	}
	defer t.Close()
	return f(t)
}

// crashedNote says that n processes died with a table open.
func crashedNote(n int) string {
	if n == 1 {
		return "a process died with it open"
	}
	return strconv.Itoa(n) + " processes died with it open"
}

// listArg lists the tables of the directory that args name (ls and gc
// take one optional DIR; none is /dev/shm).
func listArg(args []string) ([]table.SegmentInfo, error) {
	dir := ""
	if len(args) == 1 {
		dir = args[0]
	}
	return table.List(dir)
}
