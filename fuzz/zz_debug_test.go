package fuzz

import (
	"errors"
	"testing"

	"github.com/shmdict/shmdict/table"
)

func TestZZDebug(t *testing.T) {
	file, slots, err := buildEvictTemplate(0xd62efd0da4918032)
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("\xb8\xb3\x80\xff008010a0070")
	tb, err := table.AttachImage(flip(file, slots, data))
	if err != nil {
		t.Fatal(err)
	}
	rep0, _ := tb.Verify()
	t.Logf("damaged:\n%s", rep0)
	churn(t, tb, true)
	rep, err := tb.Repair()
	t.Logf("repair: %v\n%s", err, rep)
	vr := func(op string, i int) {
		if rep, err := tb.Verify(); err != nil {
			t.Fatalf("after %s #%d: %v\n%s", op, i, err, rep)
		}
	}
	for i, k := range churnKeys {
		err := tb.Set(k, churnValues[i])
		t.Logf("Set(%s): %v", k, err)
		vr("Set", i)
		_, err = tb.Get(k)
		vr("Get", i)
		n, err := tb.Add(churnCounters[i%5], 1)
		t.Logf("Add(%s): %d %v", churnCounters[i%5], n, err)
		if err != nil && !errors.Is(err, table.ErrNotCounter) {
			t.Fatalf("add: %v", err)
		}
		vr("Add", i)
		if i%7 == 0 {
			tb.Delete(k)
			vr("Delete", i)
		}
	}
}
