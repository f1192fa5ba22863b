package array_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/shmdict/shmdict/array"
)

func Example() {
	dir, _ := os.MkdirTemp("", "array-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "prices.npy") // a plain name, "prices", would be /dev/shm/prices.npy

	a, err := array.Create[float64](path, []int{2, 3}, array.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer a.Close()
	a.Slice()[0] = 1.5 // plain access; in Python: numpy.load(path, mmap_mode="r+")[0, 0]
	a.Add(1, 2)        // atomic, from any process

	b, _ := array.Attach[float64](path) // another process would do this
	defer b.Close()
	fmt.Println(b.Load(0), b.Load(1), b.Shape(), b.DType())

	// Snapshots: one writer publishes whole versions, readers copy them.
	a.Publish(func(dst []float64) {
		for i := range dst {
			dst[i] = float64(i)
		}
	})
	snap := make([]float64, b.Len())
	v, _ := b.Snapshot(snap)
	fmt.Println(v, snap)

	_, err = array.Attach[int32](path)
	fmt.Println(err != nil)
	// Output:
	// 1.5 2 [2 3] <f8
	// 1 [0 1 2 3 4 5]
	// true
}
