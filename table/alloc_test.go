package table

import (
	"fmt"
	"os"
	"testing"
)

// TestZeroAllocs asserts the hot paths allocate nothing, on both backends.
func TestZeroAllocs(t *testing.T) {
	for _, backend := range []string{"heap", "shm"} {
		t.Run(backend, func(t *testing.T) {
			var tb *Table
			var err error
			if backend == "heap" {
				tb, err = New(Options{Capacity: 1000})
			} else {
				name := fmt.Sprintf("shmdict-test-allocs-%d", os.Getpid())
				Remove(name)
				tb, err = Create(name, Options{Capacity: 1000})
				t.Cleanup(func() { Remove(name) })
			}
			if err != nil {
				t.Fatal(err)
			}
			defer tb.Close()
			key, val := []byte("user:1234567"), []byte("0123456789abcdef0123456789abcdef")
			ctr := []byte("counter")
			if err := tb.Set(key, val); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 0, 64)
			handle, err := tb.Counter([]byte("handle"))
			if err != nil {
				t.Fatal(err)
			}
			cases := map[string]func(){
				"CounterAdd": func() {
					if _, err := handle.Add(1); err != nil {
						t.Fatal(err)
					}
				},
				"AppendGet": func() {
					if _, err := tb.AppendGet(buf[:0], key); err != nil {
						t.Fatal(err)
					}
				},
				"SetExisting": func() {
					if err := tb.Set(key, val); err != nil {
						t.Fatal(err)
					}
				},
				"Add": func() {
					if _, err := tb.Add(ctr, 1); err != nil {
						t.Fatal(err)
					}
				},
				"Contains": func() {
					if _, err := tb.Contains(key); err != nil {
						t.Fatal(err)
					}
				},
				"CompareAndSwap": func() {
					if _, err := tb.CompareAndSwap(key, val, val); err != nil {
						t.Fatal(err)
					}
				},
			}
			for name, f := range cases {
				if n := testing.AllocsPerRun(200, f); n != 0 {
					t.Errorf("%s allocates %.1f times per call, want 0", name, n)
				}
			}
		})
	}
}
