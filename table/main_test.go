package table_test

// Multi-process test support. The test binary re-executes itself as child
// processes: a child is started with the environment variable childEnv set
// to a role name (and childIndexEnv to its index among its siblings),
// TestMain sees it before any test runs, runs that role's function with the
// child's command-line arguments, and exits: 0 on success, 1 (after
// writing the error to stderr) on failure.
//
// Children talk to the parent through plain pipes, a line at a time:
//   - a child writes result lines to stdout ("name field field ...");
//   - childSync writes "ready" (or another word) and blocks until the
//     parent writes a line to the child's stdin; a group's send/release
//     does that for all children at once, which is the start barrier that
//     lines processes up for a race. A blocked read costs no CPU, which
//     matters on a 2-core machine where a spinning parent would steal a
//     core from the children being measured.
//
// The parent reports a failed child's exit status and everything it wrote
// to stderr. Every wait has a generous timeout (a hung child fails the
// test instead of hanging it), and children die with their parent
// (Pdeathsig) or by their own watchdog, so none outlives a killed test.

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shmdict/shmdict/table"
)

const (
	childEnv      = "SHMDICT_CHILD"       // role name; set only in children
	childIndexEnv = "SHMDICT_CHILD_INDEX" // 0..n-1 among the children of one startChildren call

	// childTimeout bounds every wait of the parent on a child (one line, or
	// exit) and, plus a margin, a child's whole life. It is far above what
	// any role needs (well under a second unloaded) because the machine
	// running the tests may be heavily loaded; it is a hang guard, never
	// an assertion on speed.
	childTimeout = 2 * time.Minute
)

// seedFlag makes a failing run reproducible: every test logs the seed it
// used, and -multiproc.seed=N replays it. The package's -seed flag (the
// model tests') is honoured too when this one is not set.
var seedFlag = flag.Uint64("multiproc.seed", 0, "seed for the multi-process tests (0: -seed if set, else random; logged)")

// childRoles maps a role name to the function a child runs. args are the
// arguments given to startChildren.
var childRoles = map[string]func(args []string) error{
	roleEcho:       childEcho,
	roleAdd:        childAdd,
	roleInsert:     childInsert,
	roleTornWriter: childTornWriter,
	roleTornReader: childTornReader,
	roleOpenRace:   childOpenRace,
	roleBenchAdd:   childBenchAdd,
	roleBenchGet:   childBenchGet,
}

func TestMain(m *testing.M) {
	if role := os.Getenv(childEnv); role != "" {
		os.Exit(runChild(role, os.Args[1:]))
	}
	code := m.Run()
	removeBenchFixtures()
	os.Exit(code)
}

// runChild runs one child role and returns the process exit code.
func runChild(role string, args []string) int {
	fail := func(err error) int {
		fmt.Fprintf(os.Stderr, "shmdict child %s[%s] (pid %d): %v\n", role, os.Getenv(childIndexEnv), os.Getpid(), err)
		return 1
	}
	fn, ok := childRoles[role]
	if !ok {
		return fail(fmt.Errorf("unknown role %q", role))
	}
	// Watchdog: a child whose parent stopped talking to it must not linger.
	time.AfterFunc(childTimeout+30*time.Second, func() {
		fmt.Fprintf(os.Stderr, "shmdict child %s[%s] (pid %d): watchdog: still running after %v\n", role, os.Getenv(childIndexEnv), os.Getpid(), childTimeout+30*time.Second)
		os.Exit(3)
	})
	if err := fn(args); err != nil {
		return fail(err)
	}
	return 0
}

// ---- child side ----

var childStdin = bufio.NewReader(os.Stdin)

// childIndex is this child's index among its siblings.
func childIndex() int {
	i, err := strconv.Atoi(os.Getenv(childIndexEnv))
	if err != nil {
		panic("shmdict child without a valid " + childIndexEnv)
	}
	return i
}

// childSync writes word on a line of its own and waits for the parent's
// next line, which it returns.
func childSync(word string) (string, error) {
	if _, err := fmt.Println(word); err != nil {
		return "", err
	}
	line, err := childStdin.ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("waiting for the parent after %q: %w (did the parent die?)", word, err)
	}
	return strings.TrimSuffix(line, "\n"), nil
}

// childReport writes one result line: name followed by the fields.
func childReport(name string, fields ...any) {
	var sb strings.Builder
	sb.WriteString(name)
	for _, f := range fields {
		sb.WriteByte(' ')
		fmt.Fprint(&sb, f)
	}
	fmt.Println(sb.String())
}

// childArgs checks the argument count of a role.
func childArgs(args []string, names ...string) error {
	if len(args) != len(names) {
		return fmt.Errorf("got %d arguments %q, want %d: %s", len(args), args, len(names), strings.Join(names, " "))
	}
	return nil
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		panic(fmt.Sprintf("bad integer argument %q: %v", s, err))
	}
	return n
}

func atou(s string) uint64 {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		panic(fmt.Sprintf("bad unsigned argument %q: %v", s, err))
	}
	return n
}

// ---- parent side ----

// child is one child process seen from the parent.
type child struct {
	index  int
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string // stdout, a line at a time; closed at EOF
	stderr bytes.Buffer
	done   chan struct{} // closed when the process has exited and been reaped
	err    error         // cmd.Wait's result, valid after done
}

// children is a group of child processes running one role.
type children struct {
	tb    testing.TB
	role  string
	procs []*child
}

// startChildren starts n children of the test binary running role with
// args. The caller drives them with expect/send/release and collects them
// with wait; whatever is still running when the test ends is killed.
func startChildren(tb testing.TB, role string, n int, args ...string) *children {
	tb.Helper()
	return startChildrenFiles(tb, role, n, nil, args...)
}

// startChildrenFiles is startChildren with files the children inherit as
// descriptors 3, 4, ... (exec.Cmd.ExtraFiles).
func startChildrenFiles(tb testing.TB, role string, n int, files []*os.File, args ...string) *children {
	tb.Helper()
	if _, ok := childRoles[role]; !ok {
		tb.Fatalf("startChildren: unknown role %q", role)
	}
	exe, err := os.Executable()
	if err != nil {
		tb.Fatalf("startChildren: %v", err)
	}
	g := &children{tb: tb, role: role}
	tb.Cleanup(g.kill)
	for i := range n {
		c := &child{index: i, lines: make(chan string, 64), done: make(chan struct{})}
		c.cmd = exec.Command(exe, args...)
		c.cmd.Env = append(os.Environ(), childEnv+"="+role, childIndexEnv+"="+strconv.Itoa(i))
		c.cmd.Stderr = &c.stderr
		c.cmd.ExtraFiles = files
		// Children die with the test binary, even on SIGKILL.
		c.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if c.stdin, err = c.cmd.StdinPipe(); err != nil {
			tb.Fatalf("startChildren %s[%d]: %v", role, i, err)
		}
		stdout, err := c.cmd.StdoutPipe()
		if err != nil {
			tb.Fatalf("startChildren %s[%d]: %v", role, i, err)
		}
		if err := c.cmd.Start(); err != nil {
			tb.Fatalf("startChildren %s[%d]: %v", role, i, err)
		}
		g.procs = append(g.procs, c)
		go func() {
			sc := bufio.NewScanner(stdout)
			sc.Buffer(make([]byte, 64<<10), 16<<20)
			for sc.Scan() {
				c.lines <- sc.Text()
			}
			close(c.lines)
			// Wait only after stdout is drained (os/exec's rule for pipes);
			// it also waits for the stderr copy, so c.stderr is complete.
			c.err = c.cmd.Wait()
			close(c.done)
		}()
	}
	return g
}

// describe says what went wrong with child c: its exit status (if it has
// exited) and its stderr.
func (g *children) describe(c *child) string {
	status := "still running"
	select {
	case <-c.done:
		status = "exited 0"
		if c.err != nil {
			status = c.err.Error()
		}
		stderr := strings.TrimSpace(c.stderr.String())
		if stderr == "" {
			stderr = "(empty)"
		}
		return fmt.Sprintf("child %s[%d] (pid %d): %s; stderr:\n%s", g.role, c.index, c.cmd.Process.Pid, status, stderr)
	default:
	}
	return fmt.Sprintf("child %s[%d] (pid %d): %s", g.role, c.index, c.cmd.Process.Pid, status)
}

// fatal kills every child, waits for them, and fails the test with msg
// and what child c said.
func (g *children) fatal(c *child, format string, args ...any) {
	g.tb.Helper()
	g.kill()
	g.tb.Fatalf("%s\n%s", fmt.Sprintf(format, args...), g.describe(c))
}

// next returns child i's next stdout line. It fails the test if the child
// exits first or says nothing for childTimeout.
func (g *children) next(i int) string {
	g.tb.Helper()
	c := g.procs[i]
	select {
	case line, ok := <-c.lines:
		if !ok {
			<-c.done
			g.fatal(c, "child exited before its next line")
		}
		return line
	case <-time.After(childTimeout):
		g.fatal(c, "no line from the child in %v", childTimeout)
	}
	return ""
}

// expect reads the next line of every child and fails the test unless
// each is word (a word alone, or followed by fields, which it returns per
// child).
func (g *children) expect(word string) [][]string {
	g.tb.Helper()
	out := make([][]string, len(g.procs))
	for i, c := range g.procs {
		f := strings.Fields(g.next(i))
		if len(f) == 0 || f[0] != word {
			g.fatal(c, "child said %q, want %q", strings.Join(f, " "), word)
		}
		out[i] = f[1:]
	}
	return out
}

// send writes line to every child's stdin, releasing children blocked in
// childSync as close together as the OS allows.
func (g *children) send(line string) {
	g.tb.Helper()
	for _, c := range g.procs {
		if _, err := io.WriteString(c.stdin, line+"\n"); err != nil {
			<-c.done
			g.fatal(c, "writing %q to the child: %v", line, err)
		}
	}
}

// release is the start barrier's second half: call it after expect("ready").
func (g *children) release() {
	g.tb.Helper()
	g.send("go")
}

// wait closes the children's stdin, collects the rest of their stdout,
// waits for them to exit, and fails the test (reporting every failed
// child's stderr) unless all exited 0. It returns each child's remaining
// stdout lines.
func (g *children) wait() [][]string {
	g.tb.Helper()
	for _, c := range g.procs {
		c.stdin.Close()
	}
	out := make([][]string, len(g.procs))
	deadline := time.After(childTimeout)
	for i, c := range g.procs {
	collect:
		for {
			select {
			case line, ok := <-c.lines:
				if !ok {
					break collect
				}
				out[i] = append(out[i], line)
			case <-deadline:
				g.fatal(c, "child still running after %v", childTimeout)
			}
		}
		select {
		case <-c.done:
		case <-deadline:
			g.fatal(c, "child still running after %v", childTimeout)
		}
	}
	var failed []string
	for _, c := range g.procs {
		if c.err != nil {
			failed = append(failed, g.describe(c))
		} else if s := strings.TrimSpace(c.stderr.String()); s != "" {
			g.tb.Logf("child %s[%d] stderr:\n%s", g.role, c.index, s)
		}
	}
	if len(failed) > 0 {
		g.tb.Fatalf("%d of %d children failed:\n%s", len(failed), len(g.procs), strings.Join(failed, "\n"))
	}
	return out
}

// kill ends children still running and reaps them. It is idempotent.
func (g *children) kill() {
	for _, c := range g.procs {
		select {
		case <-c.done:
			continue
		default:
		}
		c.cmd.Process.Kill()
		go func() {
			for range c.lines {
			}
		}()
		select {
		case <-c.done:
		case <-time.After(10 * time.Second):
			g.tb.Logf("child %s[%d] (pid %d) not reaped 10s after SIGKILL", g.role, c.index, c.cmd.Process.Pid)
		}
	}
}

// result finds the line named name in lines and returns its fields.
func result(tb testing.TB, lines []string, name string) []string {
	tb.Helper()
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) > 0 && f[0] == name {
			return f[1:]
		}
	}
	tb.Fatalf("no %q line in child output %q", name, lines)
	return nil
}

// resultInt returns field i of the line named name as an integer.
func resultInt(tb testing.TB, lines []string, name string, i int) int64 {
	tb.Helper()
	f := result(tb, lines, name)
	if i >= len(f) {
		tb.Fatalf("%q line has %d fields, want field %d: %q", name, len(f), i, f)
	}
	n, err := strconv.ParseInt(f[i], 10, 64)
	if err != nil {
		tb.Fatalf("%q line field %d: %v", name, i, err)
	}
	return n
}

// segName returns a segment name unique to this process and test, and
// removes the segment when the test ends.
func segName(tb testing.TB, suffix string) string {
	tb.Helper()
	var sb strings.Builder
	fmt.Fprintf(&sb, "shmdict-test-%d-", os.Getpid())
	for _, r := range tb.Name() + suffix {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			sb.WriteRune(r)
		} else {
			sb.WriteByte('_')
		}
	}
	name := sb.String()
	removeSeg(tb, name) // a leftover of an earlier process with our PID
	tb.Cleanup(func() { removeSeg(tb, name) })
	return name
}

func removeSeg(tb testing.TB, name string) {
	if err := table.Remove(name); err != nil && !errors.Is(err, table.ErrNotExist) {
		tb.Errorf("remove %s: %v", name, err)
	}
}

// testSeed returns the seed for a test (the flag's, or a random one) and
// logs it.
func testSeed(tb testing.TB) uint64 {
	tb.Helper()
	s := *seedFlag
	if f := flag.Lookup("seed"); s == 0 && f != nil {
		s, _ = strconv.ParseUint(f.Value.String(), 10, 64)
	}
	if s == 0 {
		s = rand.Uint64()
	}
	tb.Logf("seed %d (rerun with -multiproc.seed=%d)", s, s)
	return s
}

// raceBuild reports whether this binary was built with -race, under which
// the children run several times slower: tests scale their loops down.
var raceBuild = sync.OnceValue(func() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
})

func itoa(n int) string    { return strconv.Itoa(n) }
func utoa(n uint64) string { return strconv.FormatUint(n, 10) }
