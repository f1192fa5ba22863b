package array

import (
	"fmt"
	"strconv"
	"testing"
	"time"
)

// childAdd: args path dtype n k. Adds 1 to each of the first k elements,
// n times, after the start barrier.
func childAdd(args []string) error {
	path, dtype, n, k := args[0], args[1], atoi(args[2]), atoi(args[3])
	switch dtype {
	case "int64":
		return addLoop[int64](path, n, k)
	case "float64":
		return addLoop[float64](path, n, k)
	case "uint16":
		return addLoop[uint16](path, n, k)
	}
	return fmt.Errorf("dtype %q", dtype)
}

func addLoop[T Element](path string, n, k int) error {
	a, err := Attach[T](path)
	if err != nil {
		return err
	}
	defer a.Close()
	if err := childReady(); err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		for j := 0; j < k; j++ {
			a.Add(j, 1)
		}
	}
	return nil
}

// TestMultiProcessAdd: two processes add to the same elements (and, for
// uint16, to neighbours in one 32-bit word); the sums are exact.
func TestMultiProcessAdd(t *testing.T) {
	n := 500000
	if testing.Short() {
		n = 50000
	}
	t.Run("int64", func(t *testing.T) { multiAdd[int64](t, "int64", n) })
	t.Run("float64", func(t *testing.T) { multiAdd[float64](t, "float64", n) })
	t.Run("uint16", func(t *testing.T) { multiAdd[uint16](t, "uint16", n) })
}

func multiAdd[T Element](t *testing.T, dtype string, n int) {
	const k = 4
	path := tempPath(t, "add")
	a, err := Create[T](path, []int{k + 1}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	c1 := startChild(t, "add", nil, path, dtype, strconv.Itoa(n), strconv.Itoa(k))
	c2 := startChild(t, "add", nil, path, dtype, strconv.Itoa(n), strconv.Itoa(k))
	release(t, c1, c2)
	c1.wait(t)
	c2.wait(t)
	want := T(2 * n) // uint16 wraps like Go's arithmetic
	for j := 0; j < k; j++ {
		if got := a.Load(j); got != want {
			t.Errorf("element %d: %v, want %v", j, got, want)
		}
	}
	if a.Load(k) != 0 {
		t.Errorf("element %d, never added to: %v", k, a.Load(k))
	}
}

// childBenchAdd: args path index n. After the start barrier, adds 1 to
// element index*addStride (its own 256 bytes) n times and writes the elapsed
// nanoseconds.
func childBenchAdd(args []string) error {
	a, err := Attach[int64](args[0])
	if err != nil {
		return err
	}
	defer a.Close()
	i, n := atoi(args[1])*addStride, atoi(args[2])
	if err := childReady(); err != nil {
		return err
	}
	start := time.Now()
	for j := 0; j < n; j++ {
		a.Add(i, 1)
	}
	fmt.Println(time.Since(start).Nanoseconds())
	return nil
}

// addStride is the distance in int64 elements between the benchmark's
// adders: 256 bytes, so that no two share a cache line or an
// adjacent-line prefetch pair.
const addStride = 32
