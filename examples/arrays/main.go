// Command arrays shares a float64 array with Python: it opens (or
// creates) /dev/shm/prices.npy, a 4x3 array, adds 1.5 to every price
// atomically, and prints the array. Python maps the same memory:
//
//	go run ./examples/arrays
//	python3 -c 'import numpy; a = numpy.load("/dev/shm/prices.npy", mmap_mode="r+"); print(a); a[0, 0] = 100; a.flush()'
//	go run ./examples/arrays   # sees Python's 100 (plus 1.5)
//
// shmdict array rm prices removes it.
package main

import (
	"fmt"
	"log"

	"github.com/shmdict/shmdict/array"
)

func main() {
	a, err := array.Open[float64]("prices", []int{4, 3}, array.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer a.Close()
	for i := range a.Len() {
		a.Add(i, 1.5) // atomic: other processes may add at the same time
	}
	s := a.Slice() // plain reads and writes, at memory speed
	for r := range 4 {
		fmt.Println(s[r*3 : r*3+3])
	}
	// A consistent copy of the whole array for readers: publish one, and
	// anyone can Snapshot it without waiting for the writer.
	v, err := a.Publish(func(dst []float64) { copy(dst, s) })
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s: %s %v, snapshot version %d published\n", a.Path(), a.DType(), a.Shape(), v)
}
