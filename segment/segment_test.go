package segment

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"golang.org/x/sys/unix"
)

// Multi-process helpers. The test binary re-executes itself (see
// TestMain in main_test.go) with segChildEnv naming what the child does:
//
//	attach: Attach the segment, print "ready <pid> <entry> false <seed>",
//	        stay attached until stdin closes, then Close and exit 0.
//	closekill: like attach, but the process kills itself inside Close,
//	        after it records the last use and before it frees its entry.
//	open:   print "waiting", read one line (the start signal), then Open
//	        the segment (creating it if needed) and go on like attach.
const (
	segChildEnv     = "SHMDICT_SEGMENT_TEST_CHILD"
	segChildPathEnv = "SHMDICT_SEGMENT_TEST_PATH"
	// segHangGuard bounds how long the parent waits for a child's line; it
	// only turns a hang into a failure and is never a measurement.
	segHangGuard = 2 * time.Minute
)

// segTestLayout is the small layout used by the file tests (28 KiB).
func segTestLayout() Layout {
	l, err := NewLayout(24, 4096, 8)
	if err != nil {
		panic(err) // constant arguments
	}
	return l
}

func segChildMain(mode, path string) int {
	in := bufio.NewReader(os.Stdin)
	var (
		s       *Segment
		created bool
		err     error
	)
	switch mode {
	case "lock":
		return lockChildMain(path, in)
	case "attach":
		s, err = Attach(path, Access{})
	case "closekill":
		// Like attach, but Close kills the process between its steps.
		s, err = Attach(path, Access{})
		testHookCloseTouched = func() {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // not reached: SIGKILL cannot be caught
		}
	case "open":
		fmt.Println("waiting")
		if _, err := in.ReadString('\n'); err != nil {
			fmt.Println("error reading start signal:", err)
			return 1
		}
		s, created, err = Open(path, segTestLayout(), Access{})
	default:
		fmt.Println("error: unknown child mode", mode)
		return 2
	}
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	fmt.Printf("ready %d %d %t %d\n", os.Getpid(), s.regIndex, created, s.Layout.Seed)
	io.Copy(io.Discard, in) // until the parent closes stdin (or kills us)
	if err := s.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "child close:", err)
		return 1
	}
	return 0
}

type segChild struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	lines   chan string
	pid     int
	entry   int
	created bool
	seed    uint64
}

func startSegChild(t *testing.T, mode, path string) *segChild {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), segChildEnv+"="+mode, segChildPathEnv+"="+path)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &segChild{cmd: cmd, stdin: stdin, lines: make(chan string, 4)}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return c
}

func (c *segChild) line(t *testing.T) string {
	t.Helper()
	select {
	case l, ok := <-c.lines:
		if !ok {
			t.Fatalf("child %d exited without a reply", c.cmd.Process.Pid)
		}
		return l
	case <-time.After(segHangGuard):
		t.Fatalf("child %d sent nothing for %v", c.cmd.Process.Pid, segHangGuard)
	}
	return ""
}

// ready waits for the child's "ready" line and records what it says.
func (c *segChild) ready(t *testing.T) {
	t.Helper()
	l := c.line(t)
	f := strings.Fields(l)
	if len(f) != 5 || f[0] != "ready" {
		t.Fatalf("child said %q, want ready ...", l)
	}
	var err1, err2, err3, err4 error
	c.pid, err1 = strconv.Atoi(f[1])
	c.entry, err2 = strconv.Atoi(f[2])
	c.created, err3 = strconv.ParseBool(f[3])
	c.seed, err4 = strconv.ParseUint(f[4], 10, 64)
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		t.Fatalf("child said %q: %v", l, err)
	}
	if c.pid != c.cmd.Process.Pid {
		t.Fatalf("child reports pid %d, started as %d", c.pid, c.cmd.Process.Pid)
	}
}

// kill sends SIGKILL and reaps the child.
func (c *segChild) kill(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err := c.cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child %d: Wait = %v, want death by SIGKILL", c.pid, err)
	}
}

// finish closes the child's stdin, so that it detaches and exits.
func (c *segChild) finish(t *testing.T) {
	t.Helper()
	c.stdin.Close()
	if err := c.cmd.Wait(); err != nil {
		t.Fatalf("child %d: %v", c.pid, err)
	}
}

// wantErr checks that err matches one of the sentinels and carries the
// package's message prefix.
func wantErr(t *testing.T, what string, err error, sentinels ...error) {
	t.Helper()
	for _, s := range sentinels {
		if errors.Is(err, s) {
			if !strings.HasPrefix(err.Error(), "shmdict: ") {
				t.Errorf("%s: message %q lacks the shmdict: prefix", what, err)
			}
			return
		}
	}
	t.Errorf("%s: error %v, want one of %v", what, err, sentinels)
}

// validSegmentBytes creates a segment at dir/name, detaches, and returns
// its path and bytes.
func validSegmentBytes(t *testing.T, dir, name string) (string, []byte) {
	t.Helper()
	p := filepath.Join(dir, name)
	s, err := Create(p, segTestLayout(), Access{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return p, b
}

func TestSegmentCreateExist(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "seg")
	l := segTestLayout()
	s, err := Create(p, l, Access{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Layout.Seed == 0 || s.Layout.CreatedNano == 0 || s.Path != p || s.IsHeap() {
		t.Errorf("created segment: seed %d created %d path %q heap %v", s.Layout.Seed, s.Layout.CreatedNano, s.Path, s.IsHeap())
	}
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode() != 0o600 || uint64(st.Size()) != l.TotalSize {
		t.Errorf("segment file: mode %v size %d, want -rw------- %d", st.Mode(), st.Size(), l.TotalSize)
	}

	_, err = Create(p, l, Access{})
	wantErr(t, "second Create", err, ErrExist)

	s2, created, err := Open(p, l, Access{})
	if err != nil {
		t.Fatal(err)
	}
	if created || s2.Layout != s.Layout {
		t.Errorf("Open of an existing segment: created %v, layout %+v, want false, %+v", created, s2.Layout, s.Layout)
	}
	// Both mappings are the same memory.
	s.Mem.Store64(OffClaimed, 12345)
	if got := s2.Mem.Load64(OffClaimed); got != 12345 {
		t.Errorf("second attachment reads %d, want 12345", got)
	}
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "second Close", s2.Close(), ErrClosed)
	_, err = s2.Processes()
	wantErr(t, "Processes after Close", err, ErrClosed)

	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("directory holds %v, want only the segment (no temporary files)", entries)
	}

	// Modes: group sharing needs a named group and is kept despite the
	// umask; every mode that gives read without write, world access, or
	// special bits is refused (TestSegmentCreateModes).
	p660 := filepath.Join(dir, "seg660")
	s3, err := Create(p660, l, Access{Group: strconv.Itoa(os.Getegid())})
	if err != nil {
		t.Fatal(err)
	}
	s3.Close()
	if st, err := os.Stat(p660); err != nil || st.Mode() != 0o660 {
		t.Errorf("Create with a Group: %v %v, want mode 0660", st.Mode(), err)
	}
}

// TestSegmentCreateModes: a create mode that lets anyone read without
// writing is refused (issue 12, item 5): such a reader could open the file
// read-only and take the exclusive flock (every attach then fails with
// ErrBusy) or read-lock registry bytes (ErrInUse). So is a group mode
// without a named group, and a world-accessible, special or non-file mode.
func TestSegmentCreateModes(t *testing.T) {
	dir := t.TempDir()
	l := segTestLayout()
	group := strconv.Itoa(os.Getegid())
	for _, a := range []Access{
		{Mode: 0o640}, {Mode: 0o644}, {Mode: 0o604}, {Mode: 0o620},
		{Mode: 0o640, Group: group}, {Mode: 0o664, Group: group}, {Mode: 0o600, Group: group},
		{Mode: 0o660}, // sharing with a group nobody named
		{Mode: 0o666}, {Mode: 0o602}, {Mode: 0o606}, {Mode: 0o4600}, {Mode: 0o700},
		{Mode: os.ModeDir | 0o600}, {Mode: 0o400},
	} {
		p := filepath.Join(dir, "bad")
		s, err := Create(p, l, a)
		if err == nil {
			s.Close()
		}
		wantErr(t, fmt.Sprintf("Create with %+v", a), err, ErrInvalid)
		_, _, err = Open(p, l, a)
		wantErr(t, fmt.Sprintf("Open with %+v", a), err, ErrInvalid)
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("refused Create with %+v left a file: %v", a, err)
			os.Remove(p)
		}
	}
	// An existing file with such a mode is refused at attach too, whoever
	// asks.
	p, _ := validSegmentBytes(t, dir, "seg")
	for _, mode := range []os.FileMode{0o640, 0o644, 0o604, 0o620} {
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		for _, a := range []Access{{}, {Group: group}} {
			s, err := Attach(p, a)
			if err == nil {
				s.Close()
			}
			wantErr(t, fmt.Sprintf("Attach of a %v file with %+v", mode, a), err, os.ErrPermission)
		}
	}
}

func TestSegmentAttachMissing(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "missing")
	_, err := Attach(p, Access{})
	wantErr(t, "Attach", err, ErrNotExist)
	wantErr(t, "Remove", Remove(p), ErrNotExist)
	wantErr(t, "RemoveUnused", RemoveUnused(p), ErrNotExist)
	_, err = Attach(filepath.Join(dir, "no-such-dir", "seg"), Access{})
	wantErr(t, "Attach in a missing directory", err, ErrNotExist)
}

func TestSegmentPath(t *testing.T) {
	for name, want := range map[string]string{
		"tokens":                 "/dev/shm/tokens",
		"a-b.c_d":                "/dev/shm/a-b.c_d",
		"/tmp/x/seg":             "/tmp/x/seg",
		"./seg":                  "seg",
		"dir//seg":               "dir/seg",
		strings.Repeat("n", 100): "/dev/shm/" + strings.Repeat("n", 100),
	} {
		got, err := Path(name)
		if err != nil || got != want {
			t.Errorf("Path(%q) = %q, %v, want %q", name, got, err, want)
		}
	}
	for _, name := range []string{"", ".", "..", ".hidden", "a\x00b", "/tmp/dir/", strings.Repeat("n", 256)} {
		_, err := Path(name)
		wantErr(t, fmt.Sprintf("Path(%q)", name), err, ErrInvalid)
	}
}

// TestSegmentAttachBadFiles attaches files that are not valid segments.
// Every one must give a typed error, never a panic or a mapping.
func TestSegmentAttachBadFiles(t *testing.T) {
	dir := t.TempDir()
	_, valid := validSegmentBytes(t, dir, "valid")
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 1))
	garbage := make([]byte, 64<<10)
	for i := range garbage {
		garbage[i] = byte(r.Uint32())
	}
	withVersion := func(v uint32) []byte {
		b := slices.Clone(valid)
		binary.LittleEndian.PutUint32(b[offVersion:], v)
		reseal(b)
		return b
	}
	cases := []struct {
		name string
		data []byte
		mode os.FileMode
		want []error
	}{
		{"garbage", garbage, 0o600, []error{ErrCorrupt}},
		{"garbage with magic", append([]byte(Magic), garbage...), 0o600, []error{ErrCorrupt, ErrVersion}},
		{"empty", nil, 0o600, []error{ErrCorrupt}},
		{"one byte", []byte{'S'}, 0o600, []error{ErrCorrupt}},
		{"partial header", valid[:100], 0o600, []error{ErrCorrupt}},
		{"header only", valid[:HeaderSize], 0o600, []error{ErrCorrupt}},
		{"truncated by a page", valid[:len(valid)-4096], 0o600, []error{ErrCorrupt}},
		{"truncated by a byte", valid[:len(valid)-1], 0o600, []error{ErrCorrupt}},
		{"extended by a page", append(slices.Clone(valid), make([]byte, 4096)...), 0o600, []error{ErrCorrupt}},
		{"extended by a byte", append(slices.Clone(valid), 0), 0o600, []error{ErrCorrupt}},
		{"zeros", make([]byte, len(valid)), 0o600, []error{ErrCorrupt}},
		{"version 2", withVersion(2), 0o600, []error{ErrVersion}},
		{"version 0", withVersion(0), 0o600, []error{ErrVersion}},
		{"world-writable", valid, 0o666, []error{ErrInvalid}},
		{"world-writable, otherwise private", valid, 0o602, []error{ErrInvalid}},
	}
	for i, c := range cases {
		p := filepath.Join(dir, fmt.Sprintf("bad%d", i))
		if err := os.WriteFile(p, c.data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, c.mode); err != nil {
			t.Fatal(err)
		}
		s, err := Attach(p, Access{})
		if err == nil {
			s.Close()
		}
		wantErr(t, "Attach of "+c.name, err, c.want...)
	}

	// Things that are not regular files.
	fifo := filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	subdir := filepath.Join(dir, "subdir")
	if err := os.Mkdir(subdir, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{fifo, "/dev/null", subdir} {
		s, err := Attach(p, Access{})
		if err == nil {
			s.Close()
		}
		wantErr(t, "Attach of "+p, err, ErrInvalid)
	}
}

// TestSegmentAttachFlippedHeaderByte flips each header byte of a valid
// segment file in place, three ways, and attaches. Bytes [0, 192) are
// checked (version bytes give ErrVersion, the rest ErrCorrupt: either a
// field check or the checksum catches them). Bytes [192, 256) are
// reserved and outside the checksum; this version ignores them.
func TestSegmentAttachFlippedHeaderByte(t *testing.T) {
	dir := t.TempDir()
	p, valid := validSegmentBytes(t, dir, "seg")
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ignored := 0
	for i := range HeaderSize {
		for _, mask := range []byte{0x01, 0x80, 0xFF} {
			if _, err := f.WriteAt([]byte{valid[i] ^ mask}, int64(i)); err != nil {
				t.Fatal(err)
			}
			s, err := Attach(p, Access{})
			switch {
			case i < offChecksum+8:
				if err == nil {
					s.Close()
				}
				want := ErrCorrupt
				if i >= offVersion && i < offVersion+4 {
					want = ErrVersion
				}
				wantErr(t, fmt.Sprintf("byte %d ^ %#x", i, mask), err, want)
			case err != nil:
				wantErr(t, fmt.Sprintf("reserved byte %d ^ %#x", i, mask), err, ErrCorrupt)
			default:
				ignored++
				if s.Layout.Seed != binary.LittleEndian.Uint64(valid[offSeed:]) {
					t.Errorf("reserved byte %d ^ %#x changed the layout", i, mask)
				}
				s.Close()
			}
			if _, err := f.WriteAt(valid[i:i+1], int64(i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Logf("%d flips of the unchecked reserved bytes [192, 256) attached", ignored)
	// The restored file attaches.
	s, err := Attach(p, Access{})
	if err != nil {
		t.Fatalf("restored segment: %v", err)
	}
	s.Close()
}

func processEntries(t *testing.T, s *Segment) []Process {
	t.Helper()
	ps, err := s.Processes()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if p.Since.IsZero() || p.PID <= 0 {
			t.Errorf("process entry %+v lacks a pid or attach time", p)
		}
	}
	slices.SortFunc(ps, func(a, b Process) int { return a.Entry - b.Entry })
	return ps
}

var ignoreSince = cmpopts.IgnoreFields(Process{}, "Since")

func TestSegmentProcesses(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "seg")
	s, err := Create(p, segTestLayout(), Access{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	self := Process{Entry: s.regIndex, PID: os.Getpid(), Self: true}
	if s.regIndex != 0 {
		t.Errorf("creator holds registry entry %d, want 0", s.regIndex)
	}

	a := startSegChild(t, "attach", p)
	a.ready(t)
	b := startSegChild(t, "attach", p)
	b.ready(t)
	want := []Process{self, {Entry: a.entry, PID: a.pid}, {Entry: b.entry, PID: b.pid}}
	if diff := cmp.Diff(want, processEntries(t, s), ignoreSince); diff != "" {
		t.Fatalf("Processes with two children (-want +got):\n%s", diff)
	}
	if a.entry == b.entry || a.entry == s.regIndex || b.entry == s.regIndex {
		t.Fatalf("entries not distinct: self %d, a %d, b %d", s.regIndex, a.entry, b.entry)
	}

	// b dies by SIGKILL: its PID stays in the registry, but its lock is
	// gone, so it is not listed.
	b.kill(t)
	if pid := s.Mem.Load32(s.entryOff(b.entry)); pid != uint32(b.pid) {
		t.Fatalf("killed child's entry records pid %d, want %d (test premise)", pid, b.pid)
	}
	want = want[:2]
	if diff := cmp.Diff(want, processEntries(t, s), ignoreSince); diff != "" {
		t.Errorf("Processes after SIGKILL (-want +got):\n%s", diff)
	}
	// PID reuse: the dead entry now names live processes (a's and ours);
	// the lock, not the PID, decides.
	for _, pid := range []int{a.pid, os.Getpid()} {
		s.Mem.Store32(s.entryOff(b.entry), uint32(pid))
		if diff := cmp.Diff(want, processEntries(t, s), ignoreSince); diff != "" {
			t.Errorf("Processes with a dead entry naming live pid %d (-want +got):\n%s", pid, diff)
		}
	}

	// A new child reuses the dead entry.
	c := startSegChild(t, "attach", p)
	c.ready(t)
	if c.entry != b.entry {
		t.Errorf("new child took entry %d, want the dead child's %d", c.entry, b.entry)
	}
	want = append(want, Process{Entry: c.entry, PID: c.pid})
	if diff := cmp.Diff(want, processEntries(t, s), ignoreSince); diff != "" {
		t.Errorf("Processes after reattach (-want +got):\n%s", diff)
	}

	// a detaches cleanly: its lock is released, so it is not listed.
	a.finish(t)
	want = []Process{self, {Entry: c.entry, PID: c.pid}}
	if diff := cmp.Diff(want, processEntries(t, s), ignoreSince); diff != "" {
		t.Errorf("Processes after a detached (-want +got):\n%s", diff)
	}
	c.finish(t)

	// A heap segment lists only its own process.
	h, err := NewHeap(segTestLayout())
	if err != nil {
		t.Fatal(err)
	}
	ps, err := h.Processes()
	if err != nil || len(ps) != 1 || !ps[0].Self || ps[0].PID != os.Getpid() {
		t.Errorf("heap Processes = %+v, %v", ps, err)
	}
	h.Close()
	_, err = h.Processes()
	wantErr(t, "heap Processes after Close", err, ErrClosed)
}

// TestSegmentRegistryFull: attach beyond MaxProcs live attachments gives
// ErrInUse; a freed entry can be taken again.
func TestSegmentRegistryFull(t *testing.T) {
	l, err := NewLayout(24, 4096, 2)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "seg")
	s1, err := Create(p, l, Access{})
	if err != nil {
		t.Fatal(err)
	}
	defer s1.Close()
	// OFD locks belong to the open file description, so a second Attach
	// in this process is a separate owner.
	s2, err := Attach(p, Access{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Attach(p, Access{})
	wantErr(t, "Attach with a full registry", err, ErrInUse)
	s2.Close()
	s3, err := Attach(p, Access{})
	if err != nil {
		t.Fatalf("Attach after a detach: %v", err)
	}
	s3.Close()
}

func TestSegmentRemoveUnused(t *testing.T) {
	dir := t.TempDir()
	for _, how := range []string{"SIGKILL", "detach"} {
		p := filepath.Join(dir, "seg-"+how)
		s, err := Create(p, segTestLayout(), Access{})
		if err != nil {
			t.Fatal(err)
		}
		// Our own attachment counts too.
		wantErr(t, "RemoveUnused while this process is attached", RemoveUnused(p), ErrInUse)
		s.Close()

		c := startSegChild(t, "attach", p)
		c.ready(t)
		wantErr(t, "RemoveUnused while a child is attached", RemoveUnused(p), ErrInUse)
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("refused RemoveUnused removed the file: %v", err)
		}
		if how == "SIGKILL" {
			c.kill(t)
		} else {
			c.finish(t)
		}
		if err := RemoveUnused(p); err != nil {
			t.Fatalf("RemoveUnused after the child's %s: %v", how, err)
		}
		_, err = Attach(p, Access{})
		wantErr(t, "Attach after RemoveUnused", err, ErrNotExist)
	}

	// Remove works while attached, and the attachment keeps working.
	p := filepath.Join(dir, "seg-remove")
	s, err := Create(p, segTestLayout(), Access{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := Remove(p); err != nil {
		t.Fatal(err)
	}
	s.Mem.Store64(OffClaimed, 7)
	if s.Mem.Load64(OffClaimed) != 7 {
		t.Error("removed segment's mapping stopped working")
	}
	_, err = Attach(p, Access{})
	wantErr(t, "Attach after Remove", err, ErrNotExist)
}

// TestSegmentOpenRace: goroutines racing Open on a new path end up on one
// segment, exactly one of them having created it.
func TestSegmentOpenRace(t *testing.T) {
	dir := t.TempDir()
	l := segTestLayout()
	const racers = 6
	for round := range 20 {
		p := filepath.Join(dir, fmt.Sprintf("seg%d", round))
		var (
			wg      sync.WaitGroup
			start   = make(chan struct{})
			segs    [racers]*Segment
			created [racers]bool
			errs    [racers]error
		)
		for i := range racers {
			wg.Go(func() {
				<-start
				segs[i], created[i], errs[i] = Open(p, l, Access{})
			})
		}
		close(start)
		wg.Wait()
		if err := errors.Join(errs[:]...); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		creators := 0
		for i := range racers {
			if created[i] {
				creators++
			}
			if segs[i].Layout != segs[0].Layout {
				t.Errorf("round %d: racer %d has layout %+v, racer 0 %+v", round, i, segs[i].Layout, segs[0].Layout)
			}
		}
		if creators != 1 {
			t.Errorf("round %d: %d racers created the segment, want 1", round, creators)
		}
		segs[0].Mem.Store64(OffClaimed, uint64(round)+100)
		for i := range racers {
			if got := segs[i].Mem.Load64(OffClaimed); got != uint64(round)+100 {
				t.Errorf("round %d: racer %d reads %d from a shared word, want %d", round, i, got, round+100)
			}
			segs[i].Close()
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 20 {
		t.Errorf("directory holds %d entries, want the 20 segments and no temporary files", len(entries))
	}
}

// TestSegmentOpenRaceProcesses: child processes released at once all Open
// the same new path; one creates it, all share it.
func TestSegmentOpenRaceProcesses(t *testing.T) {
	dir := t.TempDir()
	const children, rounds = 4, 2
	for round := range rounds {
		p := filepath.Join(dir, fmt.Sprintf("seg%d", round))
		cs := make([]*segChild, children)
		for i := range cs {
			cs[i] = startSegChild(t, "open", p)
			if l := cs[i].line(t); l != "waiting" {
				t.Fatalf("child said %q, want waiting", l)
			}
		}
		for _, c := range cs {
			if _, err := io.WriteString(c.stdin, "go\n"); err != nil {
				t.Fatal(err)
			}
		}
		creators := 0
		for _, c := range cs {
			c.ready(t)
			if c.created {
				creators++
			}
		}
		s, err := Attach(p, Access{})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cs {
			if c.seed != s.Layout.Seed {
				t.Errorf("round %d: child %d mapped a segment with seed %d, the file has %d", round, c.pid, c.seed, s.Layout.Seed)
			}
		}
		if creators != 1 {
			t.Errorf("round %d: %d children created the segment, want 1", round, creators)
		}
		if got := len(processEntries(t, s)); got != children+1 {
			t.Errorf("round %d: %d processes attached, want %d", round, got, children+1)
		}
		for _, c := range cs {
			c.finish(t)
		}
		s.Close()
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != rounds {
		t.Errorf("directory holds %d entries, want the %d segments and no temporary files", len(entries), rounds)
	}
}

// TestSegmentDevShm runs create, attach and remove by name in /dev/shm.
func TestSegmentDevShm(t *testing.T) {
	p, err := Path(fmt.Sprintf("shmdict-segtest-%d-%d", os.Getpid(), rand.Uint32()))
	if err != nil {
		t.Fatal(err)
	}
	s, err := Create(p, segTestLayout(), Access{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(p) })
	defer s.Close()
	s2, err := Attach(p, Access{})
	if err != nil {
		t.Fatal(err)
	}
	if s2.Layout != s.Layout {
		t.Errorf("attached layout %+v, created %+v", s2.Layout, s.Layout)
	}
	s2.Close()
	if err := Remove(p); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "second Remove", Remove(p), ErrNotExist)
}

// TestSegmentEntryIncarnation: each process that takes a registry entry
// bumps its incarnation, so a mark that recorded an entry's incarnation
// (a load lease) can tell its maker from a later holder of the entry.
func TestSegmentEntryIncarnation(t *testing.T) {
	p := filepath.Join(t.TempDir(), "seg")
	s, err := Create(p, segTestLayout(), Access{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.EntryIncarnation(s.Entry()); got != 1 {
		t.Fatalf("creator's entry %d: incarnation %d, want 1", s.Entry(), got)
	}
	var entry int
	for i := uint32(1); i <= 3; i++ {
		a, err := Attach(p, Access{})
		if err != nil {
			t.Fatal(err)
		}
		entry = a.Entry()
		if got := s.EntryIncarnation(entry); got != i {
			t.Errorf("attach %d took entry %d with incarnation %d, want %d", i, entry, got, i)
		}
		a.Close()
	}
	if entry != 1 || !s.EntryAlive(0) || s.EntryAlive(entry) {
		t.Errorf("entry %d after three attach/close rounds; alive: 0 %t, %d %t", entry, s.EntryAlive(0), entry, s.EntryAlive(entry))
	}
	if got := s.EntryIncarnation(-1); got != 0 {
		t.Errorf("EntryIncarnation(-1) = %d", got)
	}
}
