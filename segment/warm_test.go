package segment

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// warmTestLayout is a segment with a 2 MiB slot array and an 8 MiB arena:
// big enough that prefaulting or not shows in its resident set.
func warmTestLayout(t *testing.T) Layout {
	t.Helper()
	l, err := NewLayout(64<<10, 8<<20, 8)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// shmTestPath is a segment path in /dev/shm (tmpfs) unique to this test,
// removed when it ends.
func shmTestPath(t *testing.T) string {
	t.Helper()
	p := filepath.Join(DefaultDir, fmt.Sprintf("shmdict-segtest-%d-%s", os.Getpid(), strings.ReplaceAll(t.Name(), "/", "_")))
	os.Remove(p) // a leftover of an earlier process with our pid
	t.Cleanup(func() { os.Remove(p) })
	return p
}

// createWarmSegment creates a segment at path whose arena is half used
// (its bump pointer says so: prefault stops there) and closes it.
func createWarmSegment(t *testing.T, path string) Layout {
	t.Helper()
	l := warmTestLayout(t)
	s, err := Create(path, l, Access{})
	if err != nil {
		t.Fatal(err)
	}
	s.Mem.Store64(OffBump, l.ArenaSize/Unit/2)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return s.Layout
}

// mappedRSS is how many bytes of b's mapping are in this process's page
// tables (the Rss of its VMA in /proc/self/smaps).
func mappedRSS(t *testing.T, b []byte) uint64 {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	start := fmt.Sprintf("%x-", &b[0]) // %x prints a pointer as a hex integer, as smaps does
	sc := bufio.NewScanner(f)
	in := false
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, start) {
			in = true
			continue
		}
		if rest, ok := strings.CutPrefix(line, "Rss:"); in && ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("smaps line %q: %v", line, err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no mapping at %s in /proc/self/smaps (err %v)", start, sc.Err())
	return 0
}

// usedEnd is where prefault stops for a segment made by createWarmSegment.
func usedEnd(l Layout) uint64 { return l.ArenaOff + l.ArenaSize/2 }

// TestPrefaultSync: by default (and with SHMDICT_PREFAULT=sync) Attach
// returns with the used part of a tmpfs segment mapped, and not the unused
// arena; with "off", only what attaching itself touched is mapped.
func TestPrefaultSync(t *testing.T) {
	path := shmTestPath(t)
	l := createWarmSegment(t, path)
	for _, c := range []struct {
		mode     string
		min, max uint64
	}{
		{"off", 0, 1 << 20},
		{"sync", usedEnd(l) - 64<<10, usedEnd(l) + 64<<10}, // fault-around may map a window past the end
		{"", usedEnd(l) - 64<<10, usedEnd(l) + 64<<10},
	} {
		t.Run(c.mode, func(t *testing.T) {
			t.Setenv(prefaultEnv, c.mode)
			s, err := Attach(path, Access{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if rss := mappedRSS(t, s.mapping); rss < c.min || rss > c.max {
				t.Errorf("after Attach with %s=%s the mapping has %d bytes resident, want %d..%d (used part %d of %d bytes)",
					prefaultEnv, c.mode, rss, c.min, c.max, usedEnd(l), l.TotalSize)
			}
		})
	}
}

// TestPrefaultBackground: with SHMDICT_PREFAULT=background Attach
// prefaults from a goroutine; once it is done the used part is mapped.
func TestPrefaultBackground(t *testing.T) {
	path := shmTestPath(t)
	l := createWarmSegment(t, path)
	t.Setenv(prefaultEnv, "background")
	done := hookPrefault(t)
	s, err := Attach(path, Access{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := waitPrefault(t, done)
	if r.err != nil || r.mapped != usedEnd(l) {
		t.Errorf("background prefault mapped %d bytes, err %v; want %d, nil", r.mapped, r.err, usedEnd(l))
	}
	if rss := mappedRSS(t, s.mapping); rss < usedEnd(l)-64<<10 {
		t.Errorf("after the background prefault the mapping has %d bytes resident, want at least %d", rss, usedEnd(l))
	}
}

// TestPrefaultDiskFile: a segment on a disk file system is never
// prefaulted (that would read the whole file from disk).
func TestPrefaultDiskFile(t *testing.T) {
	dir := t.TempDir()
	if onTmpfs(mustOpenDir(t, dir)) {
		t.Skipf("%s is on tmpfs; this test needs a disk file system", dir)
	}
	path := filepath.Join(dir, "seg")
	createWarmSegment(t, path)
	t.Setenv(prefaultEnv, "sync")
	s, err := Attach(path, Access{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if rss := mappedRSS(t, s.mapping); rss > 1<<20 {
		t.Errorf("a segment on disk has %d bytes of its mapping resident after Attach; want it left to the page cache", rss)
	}
}

func mustOpenDir(t *testing.T, dir string) int {
	t.Helper()
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

// TestPrefaultTruncated: prefaulting a segment truncated under it ends
// with an error, never a fault of the process, through madvise and
// through the touch fallback; and Attach of a truncated file still fails
// with ErrCorrupt.
func TestPrefaultTruncated(t *testing.T) {
	path := shmTestPath(t)
	l := createWarmSegment(t, path)
	t.Setenv(prefaultEnv, "off")
	s, err := Attach(path, Access{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := os.Truncate(path, int64(l.SlotsOff)); err != nil {
		t.Fatal(err)
	}
	n, err := populate(s.mapping, func() bool { return false })
	if err == nil || n > l.SlotsOff {
		t.Errorf("populate of a truncated segment: mapped %d bytes, err %v; want an error at or before %d", n, err, l.SlotsOff)
	}
	if err := touchPages(s.mapping[l.SlotsOff:]); !errors.Is(err, errPrefaultFault) {
		t.Errorf("touchPages beyond the end of the file: err %v, want %v", err, errPrefaultFault)
	}
	done := hookPrefault(t)
	s.prefault()
	if r := waitPrefault(t, done); r.err == nil {
		t.Errorf("prefault of a truncated segment mapped %d bytes and reported no error", r.mapped)
	}

	t.Setenv(prefaultEnv, "sync")
	if _, err := Attach(path, Access{}); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Attach of a truncated segment: %v, want ErrCorrupt", err)
	}
}

// TestPrefaultClose: a Close right after Attach stops the background
// prefault, which then ends quietly (the range is inaccessible).
func TestPrefaultClose(t *testing.T) {
	path := shmTestPath(t)
	createWarmSegment(t, path)
	t.Setenv(prefaultEnv, "background")
	for range 20 {
		done := hookPrefault(t)
		s, err := Attach(path, Access{})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		waitPrefault(t, done) // it must end, and must not crash the process
	}
}

type prefaultResult struct {
	mapped uint64
	err    error
}

// hookPrefault installs testHookPrefaultDone for one prefault and returns
// the channel it reports on.
func hookPrefault(t *testing.T) <-chan prefaultResult {
	t.Helper()
	done := make(chan prefaultResult, 1)
	var once sync.Once
	testHookPrefaultDone = func(mapped uint64, err error) {
		once.Do(func() { done <- prefaultResult{mapped, err} })
	}
	t.Cleanup(func() { testHookPrefaultDone = nil })
	return done
}

func waitPrefault(t *testing.T, done <-chan prefaultResult) prefaultResult {
	t.Helper()
	select {
	case r := <-done:
		return r
	case <-time.After(segHangGuard):
		t.Fatal("prefault did not end")
	}
	return prefaultResult{}
}
