package array

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/shmdict/shmdict/segment"
)

// Info describes an array file, read from its header and trailer without
// mapping it.
type Info struct {
	// Path is the file.
	Path string
	// DType is numpy's descr of the elements ("<f8"), and Shape the
	// array's shape; both empty when Err is set.
	DType string
	Shape []int
	// Bytes is the file's size: .npy header and data, trailer and
	// snapshot buffers.
	Bytes int64
	// Err, in List's results, says why the file is not a valid array
	// file (the same error Inspect returns).
	Err error
}

// Inspect reads the header and trailer of the array file at path (a
// path, not a name: see Path) and validates them as Attach does, without
// mapping it or checking its owner (reading needs read permission only).
func Inspect(path string) (Info, error) {
	info := Info{Path: path}
	// Reading trusts nothing it reads, so another user's file may be
	// described too; but never through a symbolic link, nor blocking on a
	// FIFO.
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return info, fmt.Errorf("%w: %s", ErrNotExist, path)
		}
		return info, fmt.Errorf("shmdict: open %s: %w", path, err)
	}
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		f.Close()
		return info, fmt.Errorf("%w: %s is not a regular file", ErrInvalid, path)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return info, fmt.Errorf("shmdict: stat %s: %w", path, err)
	}
	info.Bytes = st.Size()
	g, err := readGeometry(f, uint64(st.Size()))
	if err != nil {
		return info, fmt.Errorf("%w (file %s)", err, path)
	}
	info.DType, info.Shape = g.descr, slices.Clone(g.shape)
	return info, nil
}

// List describes every *.npy file in dir ("" means /dev/shm), sorted by
// name. A .npy file that is not a valid array file is listed with Err
// set; other files are skipped.
func List(dir string) ([]Info, error) {
	if dir == "" {
		dir = segment.DefaultDir
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("shmdict: list %s: %w", dir, err)
	}
	var out []Info
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".npy") || strings.HasPrefix(name, ".") {
			continue // not an array; temp files start with '.'
		}
		info, err := Inspect(filepath.Join(dir, name))
		info.Err = err
		out = append(out, info)
	}
	return out, nil
}
