package table

import (
	"encoding/binary"
	"testing"
)

func TestAdderSmoke(t *testing.T) {
	tb, err := New(Options{Capacity: 100})
	if err != nil {
		t.Fatal(err)
	}
	a, err := tb.Adder([]byte("k"))
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if err := a.Add(3); err != nil {
			t.Fatal(err)
		}
	}
	n, err := a.Sum()
	if n != 30 || err != nil {
		t.Fatal(n, err)
	}
	v, err := tb.Get([]byte("k"))
	if err != nil || binary.LittleEndian.Uint64(v) != 30 {
		t.Fatal(v, err)
	}
	m, err := tb.Add([]byte("k"), 5)
	if m != 35 || err != nil || tb.Len() != 1 {
		t.Fatal(m, err, tb.Len())
	}
	if ok, err := tb.Delete([]byte("k")); !ok || err != nil || tb.Len() != 0 {
		t.Fatal(ok, err)
	}
	if err := a.Add(1); err != nil {
		t.Fatal(err)
	}
	if n, _ := a.Sum(); n != 1 || tb.Len() != 1 {
		t.Fatal(n, tb.Len())
	}
	for e, err := range tb.Entries() {
		t.Log(e, err)
	}
	rep, err := tb.Verify()
	t.Log(rep, err)
	if _, err := tb.Adder([]byte("k")); err != nil {
		t.Fatal(err)
	}
	tb.Add([]byte("c"), 1)
	if _, err := tb.Adder([]byte("c")); err == nil {
		t.Fatal("counter")
	}
}
