package segment

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestReserveLazily: a new segment file has blocks for everything before
// the arena and for the arena's first chunk only; Reserve adds blocks for
// the range it is given.
func TestReserveLazily(t *testing.T) {
	l, err := NewLayout(1000, 64<<20, 4)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("/dev/shm", "shmdict-reserve-test-") // tmpfs, where blocks are pages
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	p := filepath.Join(dir, "seg")
	s, err := Create(p, l, Access{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	blocks := func() uint64 {
		var st unix.Stat_t
		if err := unix.Stat(p, &st); err != nil {
			t.Fatal(err)
		}
		return uint64(st.Blocks) * 512
	}
	want := l.ArenaOff + ReserveChunk
	if got := blocks(); got != want || l.TotalSize < want+32<<20 {
		t.Fatalf("new segment of %d bytes has %d bytes of blocks, want %d", l.TotalSize, got, want)
	}
	if err := s.Reserve(l.ArenaOff+ReserveChunk, 3*ReserveChunk); err != nil {
		t.Fatal(err)
	}
	if got := blocks(); got != want+3*ReserveChunk {
		t.Fatalf("after reserving 3 chunks: %d bytes of blocks, want %d", got, want+3*ReserveChunk)
	}
}
