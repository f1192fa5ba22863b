package array

// Multi-process test support, a small version of table's (see
// table/main_test.go): the test binary re-executes itself with childEnv
// set to a role; TestMain runs that role's function with the child's
// arguments and exits (0 on success, 1 after writing the error to
// stderr). A child that needs a start barrier writes "ready" on stdout and
// reads a line from stdin; the parent releases all children of a group at
// once. Children die with the parent (Pdeathsig) or by their watchdog.

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	childEnv = "SHMDICT_ARRAY_CHILD"
	// childTimeout bounds every wait on a child: a hang guard far above
	// what any role needs, never an assertion on speed.
	childTimeout = 2 * time.Minute
)

var childRoles = map[string]func(args []string) error{
	"add":     childAdd,
	"publish": childPublish,
	"bench":   childBenchAdd,
}

func TestMain(m *testing.M) {
	if role := os.Getenv(childEnv); role != "" {
		fn, ok := childRoles[role]
		if !ok {
			fmt.Fprintf(os.Stderr, "unknown role %q\n", role)
			os.Exit(1)
		}
		time.AfterFunc(childTimeout+30*time.Second, func() {
			fmt.Fprintf(os.Stderr, "child %s (pid %d): watchdog\n", role, os.Getpid())
			os.Exit(3)
		})
		if err := fn(os.Args[1:]); err != nil {
			fmt.Fprintf(os.Stderr, "child %s (pid %d): %v\n", role, os.Getpid(), err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

var childStdin = bufio.NewReader(os.Stdin)

// childReady is the child's half of the start barrier.
func childReady() error {
	fmt.Println("ready")
	if _, err := childStdin.ReadString('\n'); err != nil {
		return fmt.Errorf("waiting for the parent: %w", err)
	}
	return nil
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		panic(fmt.Sprintf("bad integer argument %q", s))
	}
	return n
}

// child is a child process seen from the parent.
type child struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string
	stderr bytes.Buffer
	done   chan struct{}
	err    error
}

// startChild starts the test binary as a child running role with args;
// env adds environment variables ("K=V").
func startChild(t testing.TB, role string, env []string, args ...string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(append(os.Environ(), childEnv+"="+role), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	c := &child{cmd: cmd, lines: make(chan string, 16), done: make(chan struct{})}
	cmd.Stderr = &c.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if c.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
		c.err = cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-c.done
	})
	return c
}

// line returns the child's next stdout line.
func (c *child) line(t testing.TB) string {
	t.Helper()
	select {
	case l, ok := <-c.lines:
		if !ok {
			<-c.done
			t.Fatalf("child exited (%v) before writing a line; stderr: %s", c.err, c.stderr.String())
		}
		return l
	case <-time.After(childTimeout):
		t.Fatalf("child wrote nothing for %v", childTimeout)
	}
	return ""
}

// release lets children past their start barrier, all at once.
func release(t testing.TB, cs ...*child) {
	t.Helper()
	for _, c := range cs {
		if l := c.line(t); l != "ready" {
			t.Fatalf("child said %q, want ready", l)
		}
	}
	for _, c := range cs {
		io.WriteString(c.stdin, "go\n")
	}
}

// wait waits for the child to exit and fails the test unless it
// succeeded; it returns the child's remaining stdout lines.
func (c *child) wait(t testing.TB) []string {
	t.Helper()
	var out []string
	for {
		select {
		case l, ok := <-c.lines:
			if ok {
				out = append(out, l)
				continue
			}
			<-c.done
			if c.err != nil {
				t.Fatalf("child: %v; stderr: %s", c.err, strings.TrimSpace(c.stderr.String()))
			}
			return out
		case <-time.After(childTimeout):
			t.Fatalf("child still running after %v", childTimeout)
		}
	}
}
