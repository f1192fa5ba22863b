package array_test

// Interop with real numpy: the array files are .npy files that numpy maps
// itself. The test runs a Python with numpy (Debian's /usr/bin/python3
// with python3-numpy, which .ci/run installs, or any python3 on PATH that
// can import numpy) and skips, saying why, only where there is none.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shmdict/shmdict/array"
)

// pythonWithNumpy returns a python3 that can import numpy, or "".
func pythonWithNumpy() string {
	cands := []string{"/usr/bin/python3"}
	if p, err := exec.LookPath("python3"); err == nil {
		cands = append(cands, p)
	}
	for _, py := range cands {
		if exec.Command(py, "-c", "import numpy").Run() == nil {
			return py
		}
	}
	return ""
}

// numpyScript checks what Go wrote through numpy's own mapping of the
// file (mmap_mode="r+") and through a plain numpy.load, then writes new
// values through the mapping and flushes them.
const numpyScript = `
import sys, numpy
path, dtype = sys.argv[1], sys.argv[2]
m = numpy.load(path, mmap_mode="r+")
assert m.dtype == numpy.dtype(dtype), (m.dtype, dtype)
assert m.shape == (3, 4), m.shape
assert not numpy.isfortran(m)
want = numpy.arange(12, dtype=dtype).reshape(3, 4) * 3
assert (m == want).all(), m
plain = numpy.load(path)
assert (plain == want).all(), plain
m[:] = numpy.arange(12, dtype=dtype).reshape(3, 4) + 100
m[2, 3] = 7
m.flush()
print("ok", m.sum())
`

func TestNumpyInterop(t *testing.T) {
	py := pythonWithNumpy()
	if py == "" {
		t.Skip("no python3 with numpy (Debian: apt-get install python3-numpy; .ci/run installs it)")
	}
	dir := t.TempDir()
	script := filepath.Join(dir, "check.py")
	if err := os.WriteFile(script, []byte(numpyScript), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Run("float64", func(t *testing.T) { numpyRoundTrip[float64](t, py, script, filepath.Join(dir, "f.npy"), "float64") })
	t.Run("int32", func(t *testing.T) { numpyRoundTrip[int32](t, py, script, filepath.Join(dir, "i.npy"), "int32") })
	t.Run("uint8", func(t *testing.T) { numpyRoundTrip[uint8](t, py, script, filepath.Join(dir, "u.npy"), "uint8") })
}

func numpyRoundTrip[T array.Element](t *testing.T, py, script, path, dtype string) {
	a, err := array.Create[T](path, []int{3, 4}, array.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	for i := range a.Len() {
		a.Store(i, T(i*3))
	}
	out, err := exec.Command(py, script, path, dtype).CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "ok") {
		t.Fatalf("numpy on %s: %v\n%s", path, err, out)
	}
	// numpy's writes, through its own mapping of the file, are in ours.
	for i := range a.Len() {
		want := T(i + 100)
		if i == 11 {
			want = 7
		}
		if got := a.Load(i); got != want {
			t.Fatalf("element %d after numpy wrote it: %v, want %v", i, got, want)
		}
	}
	if got := fmt.Sprint(a.Slice()[:3]); got != "[100 101 102]" {
		t.Errorf("Slice after numpy: %s", got)
	}
}
