// Command twoproc shows two OS processes sharing one shmdict table, with no
// server between them.
//
//	go run ./examples/twoproc
//
// The parent creates a table in /dev/shm (its name carries the parent's
// pid, so that two runs never collide), stores a key, and starts itself
// again as a child process. The child attaches to the table by name, reads
// the parent's key, stores a reply and bumps a shared counter. The parent
// waits for the child, reads the reply and the counter back, then closes
// the table and removes it from /dev/shm.
//
// The two processes communicate only through the table: the child learns
// the table's name from an environment variable and nothing else.
package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"

	"github.com/shmdict/shmdict/table"
)

// childEnv names the table in the child's environment; its presence is
// what makes a process the child.
const childEnv = "SHMDICT_TWOPROC_TABLE"

var (
	keyGreeting = []byte("greeting")
	keyReply    = []byte("reply")
	keyVisits   = []byte("visits")
)

func main() {
	var err error
	if name := os.Getenv(childEnv); name != "" {
		err = child(name)
	} else {
		err = parent()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "twoproc (pid %d): %v\n", os.Getpid(), err)
		os.Exit(1)
	}
}

// say prints one line tagged with the role and pid of this process.
func say(role, format string, args ...any) {
	fmt.Printf("[%-6s pid %d] %s\n", role, os.Getpid(), fmt.Sprintf(format, args...))
}

func parent() (err error) {
	name := fmt.Sprintf("shmdict-twoproc-%d", os.Getpid())
	t, err := table.Create(name, table.Options{Capacity: 1024})
	if err != nil {
		return err
	}
	say("parent", "created table %q (/dev/shm/%s)", name, name)
	// Whatever happens below, leave nothing behind in /dev/shm.
	defer func() {
		cerr := t.Close()
		rerr := table.Remove(name)
		if cerr == nil && rerr == nil {
			say("parent", "closed and removed table %q", name)
		}
		err = errors.Join(err, cerr, rerr)
	}()

	greeting := fmt.Sprintf("hello from pid %d", os.Getpid())
	if err := t.Set(keyGreeting, []byte(greeting)); err != nil {
		return err
	}
	say("parent", "Set %s = %q", keyGreeting, greeting)
	n, err := t.Add(keyVisits, 1)
	if err != nil {
		return err
	}
	say("parent", "Add %s +1 -> %d", keyVisits, n)

	// Start this same program again as the child. os.Executable works
	// under `go run` too (it is the temporary binary go run built).
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), childEnv+"="+name)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	say("parent", "starting child process %s", exe)
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("child process: %w", err)
	}
	say("parent", "child exited")

	reply, err := t.Get(keyReply)
	if err != nil {
		return fmt.Errorf("reading the child's reply: %w", err)
	}
	say("parent", "Get %s -> %q", keyReply, reply)
	if n, err = t.Add(keyVisits, 0); err != nil { // Add(key, 0) reads a counter
		return err
	}
	say("parent", "Add %s +0 -> %d (1 from the parent + 1 from the child)", keyVisits, n)
	if n != 2 {
		return fmt.Errorf("counter %s is %d, want 2", keyVisits, n)
	}
	say("parent", "table holds %d keys", t.Len())
	return nil
}

func child(name string) (err error) {
	t, err := table.Attach(name)
	if err != nil {
		return err
	}
	defer func() {
		// Detach; the table stays, the parent removes it.
		if cerr := t.Close(); cerr != nil {
			err = errors.Join(err, cerr)
		} else {
			say("child", "closed the table")
		}
	}()
	say("child", "attached to table %q", name)

	greeting, err := t.Get(keyGreeting)
	if err != nil {
		return fmt.Errorf("reading the parent's greeting: %w", err)
	}
	say("child", "Get %s -> %q", keyGreeting, greeting)

	reply := fmt.Sprintf("hello back from pid %d", os.Getpid())
	if err := t.Set(keyReply, []byte(reply)); err != nil {
		return err
	}
	say("child", "Set %s = %q", keyReply, reply)

	n, err := t.Add(keyVisits, 1)
	if err != nil {
		return err
	}
	say("child", "Add %s +1 -> %d", keyVisits, n)

	// The registry lists every process attached right now.
	for _, p := range t.Stats().Processes {
		who := "the parent"
		if p.Self {
			who = "this process"
		}
		say("child", "attached: pid %d (%s)", p.PID, who)
	}
	return nil
}
