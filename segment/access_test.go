package segment

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// nobody is the uid and gid the tests give planted files (as root).
const nobody = 65534

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to give files to another user")
	}
}

// TestSegmentAttachOwner (issue 12, item 2): a file another user planted
// under the name is refused even by root, and a group-shared file only
// when the caller named that group; Open with the default (0600) access
// never attaches to a group-shared file.
func TestSegmentAttachOwner(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	l := segTestLayout()
	p, _ := validSegmentBytes(t, dir, "seg")
	root, other := strconv.Itoa(0), strconv.Itoa(nobody)
	cases := []struct {
		uid, gid int
		mode     os.FileMode
		a        Access
		ok       bool
	}{
		{0, 0, 0o600, Access{}, true},
		{0, 0, 0o600, Access{Group: root}, true}, // a private file of our own is always fine
		{nobody, nobody, 0o600, Access{}, false}, // planted by another user: root too refuses it
		{nobody, 0, 0o600, Access{Group: root}, false},
		{0, 0, 0o660, Access{}, false},                      // group-shared, and we did not opt in
		{0, 0, 0o660, Access{Mode: 0o600}, false},           // Mode 0600 never attaches to a shared file
		{0, 0, 0o660, Access{Group: root}, true},            // opted in, right group
		{nobody, 0, 0o660, Access{Group: root}, true},       // another member of the group made it
		{nobody, 0, 0o660, Access{}, false},                 // ... but we did not opt in
		{nobody, nobody, 0o660, Access{Group: root}, false}, // shared through another group
		{nobody, nobody, 0o660, Access{Group: other}, true}, // ... the one we named
		{0, nobody, 0o660, Access{Group: root}, false},      // ours, but shared with a group we did not name
		{nobody, 0, 0o640, Access{Group: root}, false},      // group gets read only: not a sharing mode
		{nobody, 0, 0o664, Access{Group: root}, false},      // others can read
		{nobody, 0, 0o666, Access{Group: root}, false},      // world-writable (ErrInvalid)
		{nobody, 0, 0o060, Access{Group: root}, false},      // a shared file is exactly 0660...
		{nobody, 0, 0o760, Access{Group: root}, false},      // ...nothing more
	}
	for _, c := range cases {
		what := fmt.Sprintf("file %d:%d %#o, Access %+v", c.uid, c.gid, c.mode, c.a)
		if err := os.Chown(p, c.uid, c.gid); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, c.mode); err != nil {
			t.Fatal(err)
		}
		s, err := Attach(p, c.a)
		if err == nil {
			s.Close()
		}
		s2, created, err2 := Open(p, l, c.a)
		if err2 == nil {
			s2.Close()
		}
		switch {
		case c.ok && (err != nil || err2 != nil || created):
			t.Errorf("%s: Attach %v, Open %v (created %v), want both to attach", what, err, err2, created)
		case !c.ok && c.mode&0o002 != 0:
			wantErr(t, what+": Attach", err, ErrInvalid)
			wantErr(t, what+": Open", err2, ErrInvalid)
		case !c.ok:
			wantErr(t, what+": Attach", err, os.ErrPermission)
			wantErr(t, what+": Open", err2, os.ErrPermission)
		}
	}

	// Create with a Group hands the file to that group, 0660.
	q := filepath.Join(dir, "shared")
	s, err := Create(q, l, Access{Group: other})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	var st unix.Stat_t
	if err := unix.Stat(q, &st); err != nil || st.Gid != nobody || st.Mode&0o777 != 0o660 || st.Uid != 0 {
		t.Errorf("Create with Group %s: uid %d gid %d mode %#o (%v), want 0 %d 0660", other, st.Uid, st.Gid, st.Mode&0o777, err, nobody)
	}
	_, err = Create(filepath.Join(dir, "x"), l, Access{Group: "no such group, surely"})
	wantErr(t, "Create with an unknown group", err, ErrInvalid)
}

// within runs f and fails the test if it has not returned after a few
// seconds (a hang on a FIFO); it then unblocks it by opening the FIFOs
// for writing.
func within(t *testing.T, what string, fifos []string, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
	}
	t.Errorf("%s: still blocked after 5s", what)
	for _, p := range fifos {
		if fd, err := unix.Open(p, unix.O_WRONLY|unix.O_NONBLOCK, 0); err == nil {
			unix.Close(fd)
		}
	}
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: blocked even after its FIFO was opened for writing", what)
	}
	return nil
}

// TestSegmentSpecialFilesNoHang (issue 12, item 4): a FIFO, a socket or a
// symbolic link under a table's name (or a temp file's name) gives every
// API a typed error at once: no hang on the FIFO, no following the link
// (to a valid segment of ours, even).
func TestSegmentSpecialFilesNoHang(t *testing.T) {
	dir := t.TempDir()
	seg, _ := validSegmentBytes(t, dir, "seg")
	fifo := filepath.Join(dir, "fifo")
	tempFifo := filepath.Join(dir, ".fifo.tmp.1.2")
	for _, p := range []string{fifo, tempFifo} {
		if err := unix.Mkfifo(p, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	fifos := []string{fifo, tempFifo}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(seg, link); err != nil {
		t.Fatal(err)
	}
	tempTarget := filepath.Join(dir, ".target.tmp.5.6")
	if err := os.WriteFile(tempTarget, make([]byte, 64), 0o600); err != nil {
		t.Fatal(err)
	}
	tempLink := filepath.Join(dir, ".link.tmp.3.4")
	if err := os.Symlink(tempTarget, tempLink); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()

	for _, p := range []string{fifo, link, sock} {
		err := within(t, "Attach "+p, fifos, func() error {
			s, err := Attach(p, Access{})
			if err == nil {
				s.Close()
			}
			return err
		})
		wantErr(t, "Attach "+p, err, ErrInvalid)
		err = within(t, "Inspect "+p, fifos, func() error { _, err := Inspect(p); return err })
		wantErr(t, "Inspect "+p, err, ErrInvalid)
		err = within(t, "RemoveUnused "+p, fifos, func() error { return RemoveUnused(p) })
		wantErr(t, "RemoveUnused "+p, err, ErrInvalid)
		err = within(t, "RemoveUnusedBefore "+p, fifos, func() error { return RemoveUnusedBefore(p, time.Now().Add(time.Hour)) })
		wantErr(t, "RemoveUnusedBefore "+p, err, ErrInvalid)
	}
	for _, p := range []string{tempFifo, tempLink} {
		err := within(t, "Inspect "+p, fifos, func() error { _, err := Inspect(p); return err })
		wantErr(t, "Inspect "+p, err, ErrInvalid)
		err = within(t, "RemoveTemp "+p, fifos, func() error { return RemoveTemp(p) })
		wantErr(t, "RemoveTemp "+p, err, ErrInvalid)
	}
	var infos []Info
	err = within(t, "List", fifos, func() error { var err error; infos, err = List(dir); return err })
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, in := range infos {
		names = append(names, filepath.Base(in.Path))
	}
	if want := fmt.Sprint([]string{".target.tmp.5.6", "seg"}); fmt.Sprint(names) != want {
		t.Errorf("List found %v, want %s", names, want)
	}
	for _, p := range []string{fifo, tempFifo, link, tempLink, sock, seg, tempTarget} {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("%s was removed: %v", p, err)
		}
	}
	s, err := Attach(seg, Access{})
	if err != nil {
		t.Fatalf("the link's target: %v", err)
	}
	s.Close()
}

// TestSegmentListSwap (issue 12, item 4): a file swapped for a FIFO (or a
// link) between List's ReadDir and its open neither hangs List nor shows
// up in it.
func TestSegmentListSwap(t *testing.T) {
	dir := t.TempDir()
	validSegmentBytes(t, dir, "a")
	validSegmentBytes(t, dir, "b")
	validSegmentBytes(t, dir, "c")
	other, _ := validSegmentBytes(t, t.TempDir(), "elsewhere")
	testHookListed = func(path string) {
		switch filepath.Base(path) {
		case "a":
			os.Remove(path)
			if err := unix.Mkfifo(path, 0o600); err != nil {
				t.Error(err)
			}
		case "b":
			os.Remove(path)
			if err := os.Symlink(other, path); err != nil {
				t.Error(err)
			}
		}
	}
	defer func() { testHookListed = nil }()
	var infos []Info
	err := within(t, "List", []string{filepath.Join(dir, "a")}, func() error {
		var err error
		infos, err = List(dir)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 1 || filepath.Base(infos[0].Path) != "c" {
		t.Errorf("List after the swaps: %+v, want only c", infos)
	}
}

// TestSegmentRemoveOwner: the removal paths lock and unlink only files of
// their own user, even for root.
func TestSegmentRemoveOwner(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	p, _ := validSegmentBytes(t, dir, "seg")
	tmp := filepath.Join(dir, ".seg.tmp.1.2")
	if err := os.WriteFile(tmp, make([]byte, 64), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{p, tmp} {
		if err := os.Chown(f, nobody, nobody); err != nil {
			t.Fatal(err)
		}
	}
	wantErr(t, "RemoveUnused", RemoveUnused(p), os.ErrPermission)
	wantErr(t, "RemoveTemp", RemoveTemp(tmp), os.ErrPermission)
	if in, err := Inspect(tmp); err != nil || in.Temp || in.Orphan() || !errors.Is(in.Err, ErrCorrupt) {
		t.Errorf("another user's temp-named file: %+v, %v; want a foreign file", in, err)
	}
	for _, f := range []string{p, tmp} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("%s was removed: %v", f, err)
		}
	}
}

// lockChildMain is the "lock" child of TestSegmentReaderLockout: as
// another user, it opens path read-only and takes every lock a reader
// can (the exclusive flock, a read lock on every registry byte), prints
// "locked", and holds them until stdin closes. It prints "error ..." if
// it cannot.
func lockChildMain(path string, in io.Reader) int {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err == nil {
		err = unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
	}
	if err == nil {
		lk := unix.Flock_t{Type: unix.F_RDLCK, Start: lockBase, Len: 1 << 20}
		err = unix.FcntlFlock(uintptr(fd), unix.F_OFD_SETLK, &lk)
	}
	if err != nil {
		fmt.Println("error", err)
		return 0
	}
	fmt.Println("locked")
	io.Copy(io.Discard, in)
	return 0
}

// TestSegmentReaderLockout (issue 12, item 5): another user cannot lock
// the owner out of a table. With the only modes Create accepts, another
// user cannot even open the file; a file made readable by others
// afterwards (chmod 644) lets them take its locks, and attach then says
// what is wrong with the file (os.ErrPermission, naming the mode) rather
// than blaming a maintenance operation (ErrBusy).
func TestSegmentReaderLockout(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// The child runs as nobody: give it a copy of the test binary it can
	// execute.
	bin := filepath.Join(dir, "segment.test")
	b, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	lockAs := func(path string) (string, func()) {
		cmd := exec.Command(bin, "-test.run=^$")
		cmd.Env = append(os.Environ(), segChildEnv+"=lock", segChildPathEnv+"="+path)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
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
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err != nil {
			t.Fatalf("lock child: %v", err)
		}
		return strings.TrimSpace(line), func() { stdin.Close(); cmd.Wait() }
	}

	l := segTestLayout()
	p := filepath.Join(dir, "seg")
	s, err := Create(p, l, Access{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	got, done := lockAs(p)
	if !strings.HasPrefix(got, "error") {
		t.Errorf("another user locking a 0600 table: %q, want an error", got)
	}
	s, err = Attach(p, Access{})
	if err != nil {
		t.Errorf("Attach while another user tried to lock the table: %v", err)
	} else {
		s.Close()
	}
	done()

	for _, mode := range []os.FileMode{0o644, 0o640} {
		q := filepath.Join(dir, "read"+mode.String())
		s, err := Create(q, l, Access{Mode: mode})
		if err == nil {
			s.Close()
			got, done := lockAs(q)
			_, err := Attach(q, Access{})
			done()
			t.Errorf("Create with mode %v succeeded; another user then %s it, and the owner's Attach got %v", mode, got, err)
			continue
		}
		wantErr(t, fmt.Sprintf("Create with mode %v", mode), err, ErrInvalid)
	}

	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	got, done = lockAs(p)
	defer done()
	if got != "locked" {
		t.Fatalf("another user locking a 0644 file: %q", got)
	}
	_, err = Attach(p, Access{})
	wantErr(t, "Attach of a 0644 file another user holds locked", err, os.ErrPermission)
	if err != nil && !strings.Contains(err.Error(), "0644") {
		t.Errorf("the error does not name the mode: %v", err)
	}
}

// TestSegmentCrashedUserKept: a process that dies with the segment open
// never closes it, so the file's time still says when it attached, not
// when it was last used (writes through the mapping change it at most
// when they first fault a page in).
// RemoveUnusedBefore must not take such a segment for long unused: a
// daemon that ran for days and was killed a moment ago would lose its
// table. Inspect counts such entries (Crashed); the next attach clears
// them (its close then records a real last use).
func TestSegmentCrashedUserKept(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "seg")
	s, err := Create(p, segTestLayout(), Access{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	long := time.Now().Add(-2 * time.Hour) // attached long ago...
	var kids []*segChild
	for i := 0; i < 2; i++ {
		c := startSegChild(t, "attach", p)
		c.ready(t)
		kids = append(kids, c)
	}
	if err := os.Chtimes(p, long, long); err != nil {
		t.Fatal(err)
	}
	for _, c := range kids { // ...and killed just now
		c.kill(t)
	}
	in, err := Inspect(p)
	if err != nil {
		t.Fatal(err)
	}
	if in.Crashed != 2 || len(in.Live) != 0 || !in.Unused() {
		t.Fatalf("Inspect after two attached processes died: Crashed %d, Live %v, Unused %v; want 2, none, true", in.Crashed, in.Live, in.Unused())
	}
	err = RemoveUnusedBefore(p, time.Now().Add(-time.Hour))
	wantErr(t, "RemoveUnusedBefore of a segment whose users died attached", err, ErrInUse)
	if _, serr := os.Stat(p); serr != nil {
		t.Fatalf("RemoveUnusedBefore removed a segment in use until a moment ago (%v): %v", err, serr)
	}
	// RemoveUnused (no age) is an explicit request: it goes ahead then.
	// The next attach clears the dead entries, so that its close gives the
	// segment a known last use again.
	s, err = Attach(p, Access{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if in, err = Inspect(p); err != nil || in.Crashed != 0 {
		t.Fatalf("Inspect after an attach and close: Crashed %d (%v), want 0", in.Crashed, err)
	}
	if err := os.Chtimes(p, long, long); err != nil {
		t.Fatal(err)
	}
	if err := RemoveUnusedBefore(p, time.Now().Add(-time.Hour)); err != nil {
		t.Fatalf("RemoveUnusedBefore of a segment closed cleanly 2h ago: %v", err)
	}
}

// TestSegmentCloseKilledKept: a process killed inside Close, between its
// steps, still leaves either a crash marker or a fresh last use, so that
// RemoveUnusedBefore keeps a table used until a moment ago. Close records
// the last use first: the other order let a kill in between leave a free
// registry entry and the mtime of the attach, hours old.
func TestSegmentCloseKilledKept(t *testing.T) {
	p := filepath.Join(t.TempDir(), "seg")
	s, err := Create(p, segTestLayout(), Access{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	c := startSegChild(t, "closekill", p)
	c.ready(t)
	long := time.Now().Add(-2 * time.Hour) // attached long ago...
	if err := os.Chtimes(p, long, long); err != nil {
		t.Fatal(err)
	}
	c.stdin.Close() // ...and killed inside Close just now
	err = c.cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child %d: Wait = %v, want death by SIGKILL inside Close", c.pid, err)
	}
	in, err := Inspect(p)
	if err != nil {
		t.Fatal(err)
	}
	if in.Crashed == 0 && in.Modified.Before(time.Now().Add(-time.Hour)) {
		t.Errorf("after a kill inside Close: no crash marker and last use %v: the table looks unused for 2h", in.Modified)
	}
	err = RemoveUnusedBefore(p, time.Now().Add(-time.Hour))
	if _, serr := os.Stat(p); serr != nil {
		t.Fatalf("RemoveUnusedBefore removed a segment closed (killed in Close) a moment ago (%v): %v", err, serr)
	}
}

// TestSegmentCreateTempPrivate: a temp file gives nobody else access until
// it belongs to the shared group. Made 0660 at open, it was open to the
// creator's own group (and with umask 0 to whoever shares it) until the
// fchown: a member of that group could open it then, and a descriptor
// outlives the fchown and fchmod that follow (read the table, write it,
// hold its flock and shut everyone out).
func TestSegmentCreateTempPrivate(t *testing.T) {
	needRoot(t) // to give the file to a group we are not in
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	var mode, gid uint32
	testHookTempCreated = func(tmp string) {
		var st unix.Stat_t
		if err := unix.Lstat(tmp, &st); err != nil {
			t.Errorf("lstat %s: %v", tmp, err)
			return
		}
		mode, gid = st.Mode&0o777, st.Gid
	}
	defer func() { testHookTempCreated = nil }()
	p := filepath.Join(t.TempDir(), "shared")
	s, err := Create(p, segTestLayout(), Access{Group: strconv.Itoa(nobody)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if mode&0o077 != 0 && gid != nobody {
		t.Fatalf("the temp file was mode %#o, group %d, when created: open to a group other than %d", mode, gid, nobody)
	}
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil || st.Mode&0o777 != 0o660 || st.Gid != nobody {
		t.Fatalf("the segment: mode %#o, group %d (%v); want 0660, %d", st.Mode&0o777, st.Gid, err, nobody)
	}
}
