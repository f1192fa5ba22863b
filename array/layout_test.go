package array

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/cespare/xxhash/v2"
)

// TestLayoutPinned pins the trailer's field offsets and the geometry of a
// known shape against docs/FORMAT.md.
func TestLayoutPinned(t *testing.T) {
	for _, c := range []struct {
		name string
		got  uint64
		want uint64
	}{
		{"magic", offMagic, 0}, {"version", offVersion, 8}, {"elemsize", offElemSize, 12},
		{"dataoff", offDataOff, 16}, {"count", offCount, 24}, {"snapoff", offSnapOff, 32},
		{"bufs", offSnapBufs, 40}, {"reserved", offReserved, 44}, {"checksum", offChecksum, 48},
		{"published", offPublished, 64}, {"lease", offLease, 128}, {"trailer", trailerSize, 4096},
	} {
		if c.got != c.want {
			t.Errorf("%s at %d, FORMAT.md says %d", c.name, c.got, c.want)
		}
	}
	h := encodeHeader("<f8", []int{1000, 8})
	if len(h) != 128 || len(h)%dataAlign != 0 || h[len(h)-1] != '\n' {
		t.Fatalf("header of %d bytes: %q", len(h), h)
	}
	if !bytes.Contains(h, []byte("{'descr': '<f8', 'fortran_order': False, 'shape': (1000, 8), }")) {
		t.Fatalf("header dict: %q", h)
	}
	if !bytes.Contains(encodeHeader("|u1", []int{5}), []byte("(5,)")) || !bytes.Contains(encodeHeader("|u1", nil), []byte("'shape': ()")) {
		t.Fatal("rank 1 or 0 shape written wrongly")
	}
	g := newGeometry("<f8", 8, []int{1000, 8}, 8000, 128)
	if g.dataLen != 64000 || g.trailer != 64128 || g.snapOff != 64128+4096 || g.bufLen != 64000 || g.size != 64128+4096+3*64000 {
		t.Fatalf("geometry %+v", g)
	}
	g = newGeometry("|u1", 1, []int{3}, 3, 64)
	if g.trailer != 128 || g.bufLen != 64 {
		t.Fatalf("geometry %+v", g)
	}
}

func TestParseDict(t *testing.T) {
	good := map[string]string{
		"{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }   \n":  "<f8 [3]",
		"{'shape': (2, 3), 'fortran_order': False, 'descr': '|u1'}\n":     "|u1 [2 3]",
		"{\"descr\": \"<i4\", \"fortran_order\": False, \"shape\": ()}\n": "<i4 []",
	}
	for in, want := range good {
		d, f, s, err := parseDict(in)
		if err != nil || f || d+" "+fmt.Sprint(s) != want {
			t.Errorf("parseDict(%q) = %q %v %v %v, want %s", in, d, f, s, err, want)
		}
	}
	for _, in := range []string{
		"", "{", "{}\n", "{'descr': '<f8', 'fortran_order': False}\n",
		"{'descr': '<f8', 'fortran_order': False, 'shape': (3,), 'x': 1}\n",
		"{'descr': '<f8', 'descr': '<f8', 'fortran_order': False, 'shape': (3,)}\n",
		"{'descr': '<f8', 'fortran_order': Maybe, 'shape': (3,)}\n",
		"{'descr': '<f8', 'fortran_order': False, 'shape': (3)}\n",
		"{'descr': '<f8', 'fortran_order': False, 'shape': (-3,)}\n",
		"{'descr': '<f8', 'fortran_order': False, 'shape': (3,)}",
		"{'descr': '<f8', 'fortran_order': False, 'shape': (3,)} x\n",
		"{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (3,)}\n",
		"{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999999999999,)}\n",
	} {
		if _, _, _, err := parseDict(in); !errors.Is(err, ErrCorrupt) {
			t.Errorf("parseDict(%q): %v, want ErrCorrupt", in, err)
		}
	}
}

// numpyFile returns what numpy.save writes for a float64 array of shape
// (n,): format 1.0, the header padded to 64 bytes, no shmdict trailer;
// with the given descr and fortran_order.
func numpyFile(descr, fortran string, n int) []byte {
	dict := "{'descr': '" + descr + "', 'fortran_order': " + fortran + ", 'shape': (" + strconv.Itoa(n) + ",), }"
	hl := 64 - 10
	for hl < len(dict)+1 {
		hl += 64
	}
	b := make([]byte, 10+hl)
	copy(b, npyMagic)
	b[6] = 1
	binary.LittleEndian.PutUint16(b[8:], uint16(hl))
	copy(b[10:], dict)
	for i := 10 + len(dict); i < len(b)-1; i++ {
		b[i] = ' '
	}
	b[len(b)-1] = '\n'
	return append(b, make([]byte, 8*n)...)
}

// TestBadFiles: every kind of bad input is a typed error, never a panic.
func TestBadFiles(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.npy")
	a, err := Create[float64](good, []int{100}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	img, _ := os.ReadFile(good)
	g := newGeometry("<f8", 8, []int{100}, 100, 128)
	if uint64(len(img)) != g.size {
		t.Fatalf("file %d bytes, geometry says %d", len(img), g.size)
	}
	mutate := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(img)) }
	cases := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, ErrCorrupt},
		{"garbage", []byte(strings.Repeat("garbage!", 1000)), ErrCorrupt},
		{"truncated header", img[:40], ErrCorrupt},
		{"truncated data", img[:500], ErrCorrupt},
		{"truncated buffers", img[:len(img)-1], ErrCorrupt},
		{"extended", append(bytes.Clone(img), 0), ErrCorrupt},
		{"numpy file without trailer", numpyFile("<f8", "False", 100), ErrCorrupt},
		{"fortran order", numpyFile("<f8", "True", 100), ErrInvalid},
		{"big-endian", numpyFile(">f8", "False", 100), ErrDType},
		{"unsupported dtype", numpyFile("<c16", "False", 100), ErrDType},
		{"npy version 9", mutate(func(b []byte) []byte { b[6] = 9; return b }), ErrVersion},
		{"trailer magic", mutate(func(b []byte) []byte { b[g.trailer] ^= 1; return b }), ErrCorrupt},
		{"trailer checksum", mutate(func(b []byte) []byte { b[g.trailer+offCount] ^= 1; return b }), ErrCorrupt},
		{"trailer version", mutate(func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[g.trailer+offVersion:], 2)
			binary.LittleEndian.PutUint64(b[g.trailer+offChecksum:], xxhashSum(b[g.trailer:g.trailer+checkedBytes]))
			return b
		}), ErrVersion},
		{"trailer disagrees", mutate(func(b []byte) []byte {
			binary.LittleEndian.PutUint64(b[g.trailer+offCount:], 99)
			binary.LittleEndian.PutUint64(b[g.trailer+offChecksum:], xxhashSum(b[g.trailer:g.trailer+checkedBytes]))
			return b
		}), ErrCorrupt},
		{"shape changed in header", mutate(func(b []byte) []byte { copy(b[10:128], encodeHeader("<f8", []int{99})[10:]); return b }), ErrCorrupt},
		{"header length huge", mutate(func(b []byte) []byte { binary.LittleEndian.PutUint16(b[8:], 0xFFFF); return b }), ErrCorrupt},
	}
	for _, c := range cases {
		path := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+".npy")
		if err := os.WriteFile(path, c.data, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Attach[float64](path)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: Attach: %v, want %v", c.name, err, c.want)
		}
		if _, ierr := Inspect(path); !errors.Is(ierr, c.want) {
			t.Errorf("%s: Inspect: %v, want %v", c.name, ierr, c.want)
		}
		t.Logf("%s: %v", c.name, err)
	}
	// Not a regular file, world-writable, group-readable.
	if _, err := Attach[float64](dir); !errors.Is(err, ErrInvalid) {
		t.Errorf("directory: %v", err)
	}
	os.Chmod(good, 0o666)
	if _, err := Attach[float64](good); !errors.Is(err, ErrInvalid) {
		t.Errorf("world-writable: %v", err)
	}
	os.Chmod(good, 0o640)
	if _, err := Attach[float64](good); !errors.Is(err, os.ErrPermission) {
		t.Errorf("group-readable: %v", err)
	}
	link := filepath.Join(dir, "link.npy")
	os.Chmod(good, 0o600)
	os.Symlink(good, link)
	if _, err := Attach[float64](link); !errors.Is(err, ErrInvalid) {
		t.Errorf("symlink: %v", err)
	}
}

func xxhashSum(b []byte) uint64 { return xxhash.Sum64(b) }

// TestFlipNoPanic damages a valid file's header and trailer at random:
// reading it gives an error or a geometry that fits the file, never a
// panic.
func TestFlipNoPanic(t *testing.T) {
	r := rand.New(rand.NewPCG(testSeed(t), 2))
	path := tempPath(t, "f")
	a, err := Create[int32](path, []int{5, 7}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	img, _ := os.ReadFile(path)
	g := newGeometry("<i4", 4, []int{5, 7}, 35, 128)
	for i := 0; i < 5000; i++ {
		b := bytes.Clone(img)
		for k := r.IntN(3); k >= 0; k-- {
			off := r.IntN(128)
			if r.IntN(2) == 0 {
				off = int(g.trailer) + r.IntN(checkedBytes+8)
			}
			b[off] ^= byte(1 << r.IntN(8))
		}
		if r.IntN(10) == 0 {
			b = b[:r.IntN(len(b))]
		}
		got, err := readGeometry(bytes.NewReader(b), uint64(len(b)))
		if err == nil && got.size != uint64(len(b)) {
			t.Fatalf("accepted a geometry of %d bytes for a file of %d", got.size, len(b))
		}
	}
}

// FuzzReadGeometry: any bytes give an error or a geometry that fits them,
// never a panic. The seeds are valid files of a few shapes and types and a
// numpy-written one; `go test -fuzz FuzzReadGeometry ./array/` explores.
func FuzzReadGeometry(f *testing.F) {
	dir := f.TempDir()
	for i, shape := range [][]int{{}, {3}, {2, 5}, {0, 4}} {
		path := filepath.Join(dir, strconv.Itoa(i)+".npy")
		a, err := Create[uint16](path, shape, Options{})
		if err != nil {
			f.Fatal(err)
		}
		a.Close()
		img, _ := os.ReadFile(path)
		f.Add(img)
	}
	f.Add(numpyFile("<f8", "False", 3))
	f.Add([]byte("\x93NUMPY\x02\x00\xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := readGeometry(bytes.NewReader(b), uint64(len(b)))
		if err == nil && (g.size != uint64(len(b)) || g.dataOff%dataAlign != 0 || g.trailer+trailerSize > g.size) {
			t.Fatalf("accepted geometry %+v for %d bytes", g, len(b))
		}
	})
}
