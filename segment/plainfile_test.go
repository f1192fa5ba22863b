package segment

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestCreateFileOpenFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.npy")
	f, err := CreateFile(path, 8192, Access{}, func(f *os.File) error {
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the file is visible under its name before init finished: %v", err)
		}
		_, err := f.WriteAt([]byte("hello"), 100)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	st, err := os.Stat(path)
	if err != nil || st.Size() != 8192 || st.Mode().Perm() != 0o600 {
		t.Fatalf("stat: %v %v", st, err)
	}
	if _, err := CreateFile(path, 10, Access{}, func(*os.File) error { return nil }); !errors.Is(err, ErrExist) {
		t.Fatalf("second create: %v", err)
	}
	boom := errors.New("boom")
	if _, err := CreateFile(filepath.Join(dir, "y"), 10, Access{}, func(*os.File) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("failing init: %v", err)
	}
	if _, err := CreateFile(filepath.Join(dir, "z"), 10, Access{Mode: 0o644}, func(*os.File) error { return nil }); !errors.Is(err, ErrInvalid) {
		t.Fatalf("mode 0644: %v", err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("left behind: %v", ents)
	}
	g, err := OpenFile(path, true, Access{})
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 5)
	g.ReadAt(b, 100)
	g.Close()
	if string(b) != "hello" {
		t.Fatalf("read %q", b)
	}
	if _, err := OpenFile(filepath.Join(dir, "none"), false, Access{}); !errors.Is(err, ErrNotExist) {
		t.Fatalf("missing: %v", err)
	}
	os.Chmod(path, 0o606)
	if _, err := OpenFile(path, false, Access{}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("world-writable: %v", err)
	}
	os.Chmod(path, 0o660)
	if _, err := OpenFile(path, false, Access{}); !errors.Is(err, os.ErrPermission) {
		t.Fatalf("group-shared without Group: %v", err)
	}
	if _, err := OpenFile(dir, false, Access{}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("directory: %v", err)
	}
}
