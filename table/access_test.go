package table

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// TestOptionsGroup: Options.Group reaches the segment's owner rule (issue
// 12, item 2). A group-shared table needs the group named to be opened;
// as root, a table planted by another user is refused by Open, Attach and
// AttachShared alike.
func TestOptionsGroup(t *testing.T) {
	dir := t.TempDir()
	group := strconv.Itoa(os.Getegid())
	p := filepath.Join(dir, "shared")
	tb, err := Create(p, Options{Capacity: 10, Group: group})
	if err != nil {
		t.Fatal(err)
	}
	tb.Set([]byte("k"), []byte("v"))
	tb.Close()
	if st, err := os.Stat(p); err != nil || st.Mode().Perm() != 0o660 {
		t.Fatalf("Create with Group: %v %v, want mode 0660", st.Mode(), err)
	}
	if _, err := Attach(p); !errors.Is(err, os.ErrPermission) {
		t.Fatalf("Attach of a group-shared table without the group: %v, want os.ErrPermission", err)
	}
	if _, err := Open(p, Options{Capacity: 10}); !errors.Is(err, os.ErrPermission) {
		t.Fatalf("Open (mode 0600) of a group-shared table: %v, want os.ErrPermission", err)
	}
	if _, err := Create(filepath.Join(dir, "x"), Options{Capacity: 10, Mode: 0o640}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Create with Mode 0640: %v, want ErrInvalid", err)
	}
	for _, open := range []func() (*Table, error){
		func() (*Table, error) { return AttachShared(p, group) },
		func() (*Table, error) { return Open(p, Options{Capacity: 10, Group: group}) },
	} {
		tb, err := open()
		if err != nil {
			t.Fatal(err)
		}
		if v, err := tb.Get([]byte("k")); err != nil || string(v) != "v" {
			t.Fatalf("Get: %q, %v", v, err)
		}
		tb.Close()
	}
	// Repair and Compact need the group too, and Compact keeps the sharing.
	if _, err := Repair(p, false); !errors.Is(err, os.ErrPermission) {
		t.Fatalf("Repair of a group-shared table without the group: %v, want os.ErrPermission", err)
	}
	if _, err := Compact(p, CompactOptions{}); !errors.Is(err, os.ErrPermission) {
		t.Fatalf("Compact of a group-shared table without the group: %v, want os.ErrPermission", err)
	}
	if _, err := RepairShared(p, group, false); err != nil {
		t.Fatalf("RepairShared: %v", err)
	}
	if _, err := Compact(p, CompactOptions{Group: group, Capacity: 100}); err != nil {
		t.Fatalf("Compact with the group: %v", err)
	}
	if st, err := os.Stat(p); err != nil || st.Mode().Perm() != 0o660 {
		t.Fatalf("after Compact: %v %v, want mode 0660", st.Mode(), err)
	}
	if tb, err := AttachShared(p, group); err != nil {
		t.Fatalf("after Compact: %v", err)
	} else if v, err := tb.Get([]byte("k")); err != nil || string(v) != "v" {
		t.Fatalf("after Compact: Get %q, %v", v, err)
	} else {
		tb.Close()
	}

	if os.Geteuid() != 0 {
		return
	}
	const nobody = 65534
	mine := filepath.Join(dir, "planted")
	tb, err = Create(mine, Options{Capacity: 10})
	if err != nil {
		t.Fatal(err)
	}
	tb.Close()
	if err := os.Chown(mine, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	if _, err := Attach(mine); !errors.Is(err, os.ErrPermission) {
		t.Fatalf("root's Attach of another user's table: %v, want os.ErrPermission", err)
	}
	if _, err := Open(mine, Options{Capacity: 10}); !errors.Is(err, os.ErrPermission) {
		t.Fatalf("root's Open of another user's table: %v, want os.ErrPermission", err)
	}
	if _, err := AttachShared(mine, group); !errors.Is(err, os.ErrPermission) {
		t.Fatalf("root's AttachShared of a table of another group: %v, want os.ErrPermission", err)
	}
}

// TestOpenInvalidAccess: Open refuses invalid Mode/Group combinations
// before it opens anything, whether or not the table exists. In
// particular Mode 0600 with a Group never attaches to a group-shared
// table (Open attached to an existing one without checking its options).
func TestOpenInvalidAccess(t *testing.T) {
	dir := t.TempDir()
	group := strconv.Itoa(os.Getegid())
	shared, private := filepath.Join(dir, "shared"), filepath.Join(dir, "private")
	for _, c := range []struct {
		path string
		opts Options
	}{{shared, Options{Capacity: 10, Group: group}}, {private, Options{Capacity: 10}}} {
		tb, err := Create(c.path, c.opts)
		if err != nil {
			t.Fatal(err)
		}
		tb.Close()
	}
	for _, c := range []struct {
		path string
		opts Options
	}{
		{shared, Options{Mode: 0o600, Group: group}},
		{private, Options{Mode: 0o644}},
		{private, Options{Mode: 0o660}},
		{filepath.Join(dir, "new"), Options{Capacity: 10, Mode: 0o600, Group: group}},
	} {
		tb, err := Open(c.path, c.opts)
		if err == nil {
			tb.Close()
		}
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("Open(%s, Mode %#o, Group %q): %v, want ErrInvalid", filepath.Base(c.path), c.opts.Mode, c.opts.Group, err)
		}
	}
}
