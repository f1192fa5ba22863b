package array

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var seedFlag = flag.Uint64("seed", 0, "seed for the random tests (0: random, logged)")

func testSeed(t testing.TB) uint64 {
	s := *seedFlag
	if s == 0 {
		s = rand.Uint64()
	}
	t.Logf("seed %d (replay with -seed=%d)", s, s)
	return s
}

// tempPath returns a path for an array file in a fresh temp directory.
func tempPath(t testing.TB, name string) string {
	return filepath.Join(t.TempDir(), name+".npy")
}

func TestCreateAttach(t *testing.T) {
	path := tempPath(t, "a")
	a, err := Create[float64](path, []int{3, 4}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if a.Len() != 12 || len(a.Slice()) != 12 || a.DType() != "<f8" || a.Path() != path {
		t.Fatalf("Len %d DType %s Path %s", a.Len(), a.DType(), a.Path())
	}
	if sh := a.Shape(); len(sh) != 2 || sh[0] != 3 || sh[1] != 4 {
		t.Fatalf("shape %v", sh)
	}
	a.Shape()[0] = 99 // a copy
	if a.Shape()[0] != 3 {
		t.Fatal("Shape returned the array's own slice")
	}
	a.Slice()[5] = 2.5
	a.Store(6, -1)
	if got := a.Add(5, 1); got != 3.5 {
		t.Fatalf("Add: %v", got)
	}
	if !a.CompareAndSwap(6, -1, 7) || a.CompareAndSwap(6, -1, 8) {
		t.Fatal("CompareAndSwap")
	}
	if _, err := Create[float64](path, []int{3, 4}, Options{}); !errors.Is(err, ErrExist) {
		t.Fatalf("second Create: %v", err)
	}
	b, err := Attach[float64](path)
	if err != nil {
		t.Fatal(err)
	}
	if b.Load(5) != 3.5 || b.Load(6) != 7 || b.Slice()[0] != 0 {
		t.Fatalf("attached sees %v", b.Slice())
	}
	b.Store(0, 42)
	if a.Load(0) != 42 {
		t.Fatal("write through one mapping not seen by the other")
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Close: %v", err)
	}
	mustPanic(t, "Load after Close", func() { b.Load(0) })
	if _, err := b.Snapshot(make([]float64, 12)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Snapshot after Close: %v", err)
	}
	if _, err := b.Publish(func([]float64) {}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Publish after Close: %v", err)
	}
	mustPanic(t, "Load out of range", func() { a.Load(12) })
	mustPanic(t, "Store negative", func() { a.Store(-1, 0) })
	if err := Remove(path); err != nil {
		t.Fatal(err)
	}
	if _, err := Attach[float64](path); !errors.Is(err, ErrNotExist) {
		t.Fatalf("Attach after Remove: %v", err)
	}
	if err := Remove(path); !errors.Is(err, ErrNotExist) {
		t.Fatalf("second Remove: %v", err)
	}
	if a.Load(0) != 42 {
		t.Fatal("removed file's mapping lost its data")
	}
}

func mustPanic(t *testing.T, what string, f func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Errorf("%s did not panic", what)
		}
	}()
	f()
}

func TestOpen(t *testing.T) {
	path := tempPath(t, "o")
	a, err := Open[int32](path, []int{10}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	a.Store(9, 9)
	b, err := Open[int32](path, []int{10}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if b.Load(9) != 9 {
		t.Fatal("Open created anew instead of attaching")
	}
	_, err = Open[int32](path, []int{2, 5}, Options{})
	if !errors.Is(err, ErrShape) || !strings.Contains(err.Error(), "[10]") || !strings.Contains(err.Error(), "[2 5]") {
		t.Fatalf("shape mismatch: %v", err)
	}
	_, err = Open[float32](path, []int{10}, Options{})
	if !errors.Is(err, ErrDType) || !strings.Contains(err.Error(), "int32") || !strings.Contains(err.Error(), "float32") {
		t.Fatalf("dtype mismatch: %v", err)
	}
	if _, err := Attach[uint32](path); !errors.Is(err, ErrDType) {
		t.Fatalf("Attach dtype mismatch: %v", err)
	}
	if _, err := Open[int32](path, []int{10}, Options{Mode: 0o644}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("mode 0644: %v", err)
	}
}

func TestPath(t *testing.T) {
	for name, want := range map[string]string{
		"prices":            "/dev/shm/prices.npy",
		"dir/x.npy":         "dir/x.npy",
		"/tmp/a/b":          "/tmp/a/b",
		"/tmp/../tmp/a.npy": "/tmp/a.npy",
	} {
		got, err := Path(name)
		if err != nil || got != want {
			t.Errorf("Path(%q) = %q, %v; want %q", name, got, err, want)
		}
	}
	for _, name := range []string{"", ".hidden", "..", "dir/", strings.Repeat("x", 300), "a\x00b"} {
		if _, err := Path(name); !errors.Is(err, ErrInvalid) {
			t.Errorf("Path(%q): %v, want ErrInvalid", name, err)
		}
	}
}

// TestDevShmName creates an array under a plain name, in /dev/shm.
func TestDevShmName(t *testing.T) {
	name := fmt.Sprintf("shmdict-test-array-%d", os.Getpid())
	a, err := Create[uint8](name, []int{5}, Options{})
	if err != nil {
		t.Skipf("no /dev/shm here: %v", err)
	}
	defer Remove(name)
	defer a.Close()
	if a.Path() != "/dev/shm/"+name+".npy" {
		t.Fatal(a.Path())
	}
	infos, err := List("")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, in := range infos {
		if in.Path == a.Path() {
			found = in.Err == nil && in.DType == "|u1" && len(in.Shape) == 1 && in.Shape[0] == 5
		}
	}
	if !found {
		t.Fatalf("List(\"\") does not describe %s: %+v", a.Path(), infos)
	}
}

func TestShapes(t *testing.T) {
	dir := t.TempDir()
	for i, shape := range [][]int{{}, {0}, {1}, {7}, {3, 0, 2}, {2, 3, 4, 5}, make([]int, maxRank)} {
		if len(shape) == maxRank {
			for j := range shape {
				shape[j] = 1
			}
		}
		path := filepath.Join(dir, fmt.Sprintf("s%d.npy", i))
		a, err := Create[int16](path, shape, Options{})
		if err != nil {
			t.Fatalf("shape %v: %v", shape, err)
		}
		want := 1
		for _, d := range shape {
			want *= d
		}
		if a.Len() != want {
			t.Fatalf("shape %v: Len %d", shape, a.Len())
		}
		a.Close()
		b, err := Attach[int16](path)
		if err != nil {
			t.Fatalf("attach shape %v: %v", shape, err)
		}
		if fmt.Sprint(b.Shape()) != fmt.Sprint(shape) {
			t.Fatalf("shape %v came back as %v", shape, b.Shape())
		}
		// Snapshots of every size, empty included.
		if v, err := b.Publish(func(d []int16) {
			for j := range d {
				d[j] = int16(j + 1)
			}
		}); err != nil || v != 1 {
			t.Fatalf("shape %v: Publish %d, %v", shape, v, err)
		}
		dst := make([]int16, want)
		if v, err := b.Snapshot(dst); err != nil || v != 1 {
			t.Fatalf("shape %v: Snapshot %d, %v", shape, v, err)
		}
		for j, x := range dst {
			if x != int16(j+1) {
				t.Fatalf("shape %v: snapshot element %d = %d", shape, j, x)
			}
		}
		b.Close()
	}
	for _, shape := range [][]int{{-1}, {1 << 40, 1 << 20}, make([]int, maxRank+1)} {
		if _, err := Create[int16](filepath.Join(dir, "bad.npy"), shape, Options{}); !errors.Is(err, ErrInvalid) {
			t.Errorf("shape %v: %v, want ErrInvalid", len(shape), err)
		}
	}
}

func TestInspectList(t *testing.T) {
	dir := t.TempDir()
	a, err := Create[uint64](filepath.Join(dir, "b.npy"), []int{4, 2}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	os.WriteFile(filepath.Join(dir, "a.npy"), []byte("garbage"), 0o600)
	os.WriteFile(filepath.Join(dir, "c.txt"), []byte("not listed"), 0o600)
	info, err := Inspect(filepath.Join(dir, "b.npy"))
	if err != nil || info.DType != "<u8" || fmt.Sprint(info.Shape) != "[4 2]" || info.Bytes < 64+64+4096+3*64 {
		t.Fatalf("Inspect: %+v %v", info, err)
	}
	infos, err := List(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 2 || !errors.Is(infos[0].Err, ErrCorrupt) || infos[1].Err != nil || infos[1].DType != "<u8" {
		t.Fatalf("List: %+v", infos)
	}
	if _, err := Inspect(filepath.Join(dir, "none.npy")); !errors.Is(err, ErrNotExist) {
		t.Fatalf("Inspect missing: %v", err)
	}
}

// TestModel runs random operations on arrays of each element type against
// a plain Go slice.
func TestModel(t *testing.T) {
	seed := testSeed(t)
	n := 2000
	if testing.Short() {
		n = 500
	}
	t.Run("uint8", func(t *testing.T) { runModel[uint8](t, seed, n) })
	t.Run("int8", func(t *testing.T) { runModel[int8](t, seed, n) })
	t.Run("uint16", func(t *testing.T) { runModel[uint16](t, seed, n) })
	t.Run("int16", func(t *testing.T) { runModel[int16](t, seed, n) })
	t.Run("uint32", func(t *testing.T) { runModel[uint32](t, seed, n) })
	t.Run("int32", func(t *testing.T) { runModel[int32](t, seed, n) })
	t.Run("uint64", func(t *testing.T) { runModel[uint64](t, seed, n) })
	t.Run("int64", func(t *testing.T) { runModel[int64](t, seed, n) })
	t.Run("float32", func(t *testing.T) { runModel[float32](t, seed, n) })
	t.Run("float64", func(t *testing.T) { runModel[float64](t, seed, n) })
}

func runModel[T Element](t *testing.T, seed uint64, ops int) {
	r := rand.New(rand.NewPCG(seed, 1))
	const size = 13 // odd: narrow elements end mid-word
	a, err := Create[T](tempPath(t, "m"), []int{size}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	model := make([]T, size)
	val := func() T { return T(r.IntN(200)) } // fits every type
	for op := 0; op < ops; op++ {
		i := r.IntN(size)
		switch r.IntN(5) {
		case 0:
			v := val()
			a.Store(i, v)
			model[i] = v
		case 1:
			if got := a.Load(i); got != model[i] {
				t.Fatalf("op %d: Load(%d) = %v, model %v", op, i, got, model[i])
			}
		case 2:
			d := val()
			model[i] += d
			if got := a.Add(i, d); got != model[i] {
				t.Fatalf("op %d: Add(%d, %v) = %v, model %v", op, i, d, got, model[i])
			}
		case 3:
			old, nw := val(), val()
			if r.IntN(2) == 0 {
				old = model[i]
			}
			want := old == model[i]
			if want {
				model[i] = nw
			}
			if got := a.CompareAndSwap(i, old, nw); got != want {
				t.Fatalf("op %d: CompareAndSwap(%d, %v, %v) = %v, want %v", op, i, old, nw, got, want)
			}
		case 4:
			v := val()
			a.Slice()[i] = v
			model[i] = v
		}
	}
	for i, want := range model {
		if got := a.Slice()[i]; got != want && !(math.IsNaN(float64(got)) && math.IsNaN(float64(want))) {
			t.Fatalf("element %d: %v, model %v", i, got, want)
		}
	}
}

// TestNoAllocs: the element operations and Snapshot allocate nothing.
func TestNoAllocs(t *testing.T) {
	a, err := Create[int64](tempPath(t, "z"), []int{64}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	a.Publish(func(d []int64) {})
	dst := make([]int64, 64)
	if n := testing.AllocsPerRun(100, func() {
		a.Store(1, a.Load(2)+1)
		a.Add(3, 1)
		a.CompareAndSwap(4, 0, 1)
		a.Snapshot(dst)
	}); n != 0 {
		t.Fatalf("%v allocations per run", n)
	}
}

// TestOpenRace: processes' goroutines racing to Open one name all end up
// on the same file.
func TestOpenRace(t *testing.T) {
	path := tempPath(t, "race")
	const n = 8
	arrs := make(chan *Array[int64], n)
	errs := make(chan error, n)
	for g := 0; g < n; g++ {
		go func() {
			a, err := Open[int64](path, []int{3}, Options{})
			if err != nil {
				errs <- err
				return
			}
			arrs <- a
		}()
	}
	for g := 0; g < n; g++ {
		select {
		case err := <-errs:
			t.Fatal(err)
		case a := <-arrs:
			defer a.Close()
			a.Add(0, 1)
		}
	}
	b, err := Attach[int64](path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if b.Load(0) != n {
		t.Fatalf("%d adds seen, want %d: some Open made its own file", b.Load(0), n)
	}
	if _, err := Open[int64](path, nil, Options{}); !errors.Is(err, ErrShape) {
		t.Fatalf("Open with a nil shape on shape (3,): %v", err)
	}
}
