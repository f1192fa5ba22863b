package table

import (
	"errors"
	"fmt"
	"os"
	"testing"
)

// TestTruncatedUnderUs truncates a segment's file while it is mapped, as a
// foreign process might: every operation must return ErrFault (the
// resulting SIGBUS becomes an error), never crash the process.
func TestTruncatedUnderUs(t *testing.T) {
	path := t.TempDir() + "/seg"
	tb, err := Create(path, Options{Capacity: 1000})
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	for i := range 500 {
		if err := tb.Set([]byte(fmt.Sprint("k", i)), []byte("value")); err != nil {
			t.Fatal(err)
		}
	}
	hot, err := tb.Counter([]byte("hot"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hot.Add(1); err != nil {
		t.Fatal(err)
	}
	hits, err := tb.Adder([]byte("hits"))
	if err != nil {
		t.Fatal(err)
	}
	if err := hits.Add(1); err != nil { // its lane page is allocated now
		t.Fatal(err)
	}
	if _, err := tb.Add([]byte("hits"), 1); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, 4096); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 0, 64)
	ops := map[string]func() error{
		"Get":       func() error { _, err := tb.Get([]byte("k7")); return err },
		"AppendGet": func() error { _, err := tb.AppendGet(buf, []byte("k8")); return err },
		"GetMany": func() error {
			return tb.GetMany([][]byte{[]byte("k15"), []byte("k16")}, make([][]byte, 2), make([]bool, 2))
		},
		"Set":        func() error { return tb.Set([]byte("k9"), []byte("new")) },
		"Delete":     func() error { _, err := tb.Delete([]byte("k10")); return err },
		"Add":        func() error { _, err := tb.Add([]byte("ctr"), 1); return err },
		"CAS":        func() error { _, err := tb.CompareAndSwap([]byte("k11"), []byte("value"), []byte("x")); return err },
		"GetOrSet":   func() error { _, _, err := tb.GetOrSet([]byte("k12"), []byte("x")); return err },
		"Contains":   func() error { _, err := tb.Contains([]byte("k13")); return err },
		"Clear":      func() error { return tb.Clear() },
		"AllErr":     func() error { return tb.AllErr(func(k, v []byte) bool { return true }) },
		"Verify":     func() error { _, err := tb.Verify(); return err },
		"Counter":    func() error { _, err := tb.Counter([]byte("k14")); return err },
		"CounterAdd": func() error { _, err := hot.Add(1); return err },
		"AdderAdd":   func() error { return hits.Add(1) },
		"AdderSum":   func() error { _, err := hits.Sum(); return err },
		"AddAdder":   func() error { _, err := tb.Add([]byte("hits"), 1); return err },
		"Adder":      func() error { _, err := tb.Adder([]byte("k15")); return err },
	}
	for name, op := range ops {
		if err := op(); !errors.Is(err, ErrFault) {
			t.Errorf("%s on a truncated segment: %v, want ErrFault", name, err)
		}
	}
	_ = tb.Len()   // must not crash
	_ = tb.Stats() // must not crash
	for range tb.All() {
		t.Error("All yielded from a truncated segment")
	}
}

// TestCloseUnderOperations closes a table while goroutines use it: their
// operations end with ErrClosed (never a crash), and later ones too.
func TestCloseUnderOperations(t *testing.T) {
	name := fmt.Sprintf("shmdict-test-close-%d", os.Getpid())
	Remove(name)
	tb, err := Create(name, Options{Capacity: 1000})
	if err != nil {
		t.Fatal(err)
	}
	defer Remove(name)
	done := make(chan error, 7)
	hot, err := tb.Counter([]byte("hot"))
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			if _, err := hot.Add(1); err != nil {
				done <- err
				return
			}
		}
	}()
	hits, err := tb.Adder([]byte("hits"))
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			if err := hits.Add(1); err != nil {
				done <- err
				return
			}
		}
	}()
	go func() {
		for {
			if _, err := tb.Add([]byte("hits"), 1); err != nil {
				done <- err
				return
			}
		}
	}()
	for g := range 4 {
		go func() {
			for i := 0; ; i++ {
				k := []byte(fmt.Sprint("k", g, "-", i%300))
				err := tb.Set(k, []byte("v"))
				if err == nil {
					_, err = tb.Get(k)
				}
				if err != nil {
					done <- err
					return
				}
			}
		}()
	}
	for tb.Len() < 200 {
	}
	if err := tb.Close(); err != nil {
		t.Fatal(err)
	}
	for range 7 {
		if err := <-done; !errors.Is(err, ErrClosed) {
			t.Errorf("operation during Close: %v, want ErrClosed", err)
		}
	}
	if _, err := tb.Get([]byte("k0-1")); !errors.Is(err, ErrClosed) {
		t.Errorf("Get after Close: %v", err)
	}
	if err := tb.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close: %v, want ErrClosed", err)
	}
}
