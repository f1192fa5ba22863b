package main

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"unicode/utf8"

	"github.com/shmdict/shmdict/table"
)

// The library's messages give advice to Go programmers ("create it with
// Open or Create", "a larger Capacity"). An operator at a shell needs the
// command that does it instead, so every error the CLI prints passes
// through explain, which rewrites the library's advice into shmdict
// commands and flags and adds advice the library cannot give (what to do
// with a damaged file).

// cliError is an error whose message the CLI wrote for an operator; it
// still matches the library's sentinel with errors.Is.
type cliError struct {
	msg string
	err error
}

func (e cliError) Error() string { return e.msg }
func (e cliError) Unwrap() error { return e.err }

// goAdvice maps the library's advice to the CLI's. NAME is replaced by
// the table's name. The first entries are whole phrases; the last ones
// catch Go identifiers left in phrases not listed here.
var goAdvice = []struct{ old, new string }{
	{" (create it with Open or Create)", ""},
	{" (use Open or Attach to use it, or Remove it first)", ""},
	{"compact the table or create it with a larger Capacity", "run 'shmdict compact NAME' to free deleted keys' slots, or 'shmdict compact NAME --capacity N' to grow it"},
	{"create the table with a larger Capacity", "grow it with 'shmdict compact NAME --capacity N'"},
	{"create the table with a larger ArenaBytes, or delete keys", "grow its arena with 'shmdict compact NAME --arena SIZE', or delete keys"},
	{"create the table with a larger ArenaBytes", "grow its arena with 'shmdict compact NAME --arena SIZE'"},
	{"choose a smaller Capacity/ArenaBytes", "choose a smaller --capacity or --arena"},
	{"create the table with a larger MaxProcesses", "recreate it with a larger --max-procs: 'shmdict dump' it, 'shmdict rm' it, then 'shmdict load NAME --max-procs N' the dump"},
	{"; close them first (or force, at the risk of losing their writes)", ""}, // fsck and compact say it with their flag
	{"create it with Options.EventRing > 0", "create it with 'shmdict create NAME --capacity N --events 4096'"},
	{"detach them or use Remove", "stop them first or pass --force"},
	{"create it with Mode 0660", "create it with --mode 0660"},
	{"EventRing cannot be combined with Eviction", "--events cannot be combined with --evict"},
	{"set Options.Group, or SHMDICT_GROUP for the shmdict command, to", "set SHMDICT_GROUP (or pass --group to create) to"},
	{"or set Options.Group, or SHMDICT_GROUP for the shmdict command, to share", "or set SHMDICT_GROUP to share"},
	{"name that group in Options.Group (then Mode may stay 0)", "name that group with --group (then --mode may be left out)"},
	{"use 0600 (the default) or, with Options.Group, 0660", "use 0600 (the default) or, with --group, 0660"},
	{"; close it and open the name again", ""}, // ErrReplaced: explain says to run the command again
	{"compact it with a larger MaxCapacity", "give it a larger max capacity: 'shmdict compact NAME --max-capacity N'"},
	{"MaxCapacity cannot be combined with Eviction", "--max-capacity cannot be combined with --evict"},
}

var goIdent = strings.NewReplacer(
	"Options.EventRing", "--events",
	"larger Capacity", "larger --capacity",
	"smaller Capacity", "smaller --capacity",
	"ArenaBytes", "--arena",
	"EventRing", "--events",
	"MaxProcesses", "--max-procs",
	"MaxCapacity", "--max-capacity",
	"raise Capacity", "raise --capacity",
	"above Capacity", "above --capacity",
)

// goCapacity matches the option name Capacity where a message uses it as
// one (not the word inside a key someone chose to echo).
var goCapacity = regexp.MustCompile(`\bCapacity( -?[0-9]|/| must)`)

// namePlaceholder is NAME in a command of goAdvice's ("shmdict compact NAME").
var namePlaceholder = regexp.MustCompile(`'shmdict [a-z]+ NAME\b`)

// explain renders err as the one line the CLI prints: without the
// library's repeated "shmdict: " prefixes, with CLI advice instead of Go
// advice, and with advice for damaged files. name is the table the
// command was given ("" if none).
func explain(err error, name string) string {
	msg := oneLine(err)
	var ce cliError
	written := errors.As(err, &ce) // the CLI's own words: advice already given
	for _, r := range goAdvice {
		msg = strings.ReplaceAll(msg, r.old, r.new)
	}
	msg = goIdent.Replace(msg)
	msg = goCapacity.ReplaceAllString(msg, "--capacity$1")
	if name == "" {
		name = "NAME"
	}
	msg = namePlaceholder.ReplaceAllStringFunc(msg, func(m string) string { return strings.TrimSuffix(m, "NAME") + name })
	if written {
		return msg
	}
	switch {
	case errors.Is(err, table.ErrVersion):
		msg += fmt.Sprintf("; to move its data here, dump it with the shmdict that wrote it, remove it ('shmdict rm %s'), and load the dump with this one ('shmdict load %s < FILE')", name, name)
	case errors.Is(err, table.ErrCorrupt), errors.Is(err, table.ErrFault):
		msg += "; " + damagedAdvice(name)
	case errors.Is(err, table.ErrReplaced):
		// The command opened the name before the rename; running it again
		// opens the new generation.
		msg += fmt.Sprintf("; 'shmdict compact %s --force' put a new copy of the table under its name while this command had the old one open: run the command again", name)
	case errors.Is(err, table.ErrFull) && !strings.Contains(msg, "shmdict compact") && !strings.Contains(msg, "--max-capacity"):
		msg += fmt.Sprintf("; make room with 'shmdict compact %s --capacity N' (more keys) or 'shmdict compact %s --arena SIZE' (more record space)", name, name)
	}
	return msg
}

// damagedAdvice says what to do with a table that reads as corrupt: fsck
// can repair its slots and arena, but not a damaged header or a truncated
// file, which is what a failed attach means. For a group-shared table the
// commands carry SHMDICT_GROUP: without it fsck cannot open the table, and
// load would make the restored table private to its owner.
func damagedAdvice(name string) string {
	group := sharedGroup(name)
	env := ""
	if group != "" {
		env = "SHMDICT_GROUP=" + group + " "
	}
	restore := fmt.Sprintf("remove it ('shmdict rm %s') and restore it from a dump ('%sshmdict load %s < FILE')", name, env, name)
	if name == "NAME" {
		return "if it held data, " + restore
	}
	t, err := table.AttachShared(name, group)
	if errors.Is(err, table.ErrCorrupt) || errors.Is(err, table.ErrFault) {
		return "the file is not a usable table (damaged header, or truncated): " + restore
	}
	if err == nil {
		t.Close()
	}
	// Attached, or refused for a reason that says nothing about the
	// file's bytes (access, a maintenance lock): fsck is the next step.
	return fmt.Sprintf("run '%sshmdict fsck %s --repair'; if that cannot fix it, %s", env, name, restore)
}

// sharedGroup is the group that the commands in advice about name need:
// $SHMDICT_GROUP when it is set (the command ran with it), else the
// file's group when the file is group-shared, else "".
func sharedGroup(name string) string {
	if g := os.Getenv("SHMDICT_GROUP"); g != "" {
		return g
	}
	path, err := table.Path(name)
	if err != nil {
		return ""
	}
	fi, err := os.Lstat(path)
	if err != nil || fi.Mode().Perm()&0o070 == 0 {
		return ""
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return ""
	}
	gid := strconv.FormatUint(uint64(st.Gid), 10)
	if g, err := user.LookupGroupId(gid); err == nil {
		return g.Name
	}
	return gid
}

// oneLine renders err on one line, without the library's "shmdict: "
// prefixes (the command's own prefix says where it comes from; wrapped
// errors would otherwise repeat it: "table full: shmdict: arena ...").
func oneLine(err error) string {
	s := strings.TrimPrefix(err.Error(), "shmdict: ")
	s = strings.ReplaceAll(s, ": shmdict: ", ": ")
	s = strings.ReplaceAll(s, "(shmdict: ", "(")
	s = strings.ReplaceAll(s, "; shmdict: ", "; ")
	return strings.ReplaceAll(s, "\n", "; ")
}

// maxEcho is the most bytes of a key or value that a message repeats.
const maxEcho = 64

// displayShort is display for messages: a long key is cut to its first
// bytes and its length, so that a 64 KiB key does not fill the terminal.
func displayShort(b []byte) string {
	if len(b) <= maxEcho {
		return display(b)
	}
	cut := maxEcho
	for cut > maxEcho-utf8.UTFMax && !utf8.RuneStart(b[cut]) {
		cut--
	}
	return fmt.Sprintf("%s... (%d bytes)", display(b[:cut]), len(b))
}

// dashHelp is in the help of every command that takes a KEY or VALUE.
const dashHelp = `A KEY or VALUE that starts with '-' goes after '--', which ends the flags:
'shmdict set NAME -- -key -value'. A negative number needs no '--'.`
