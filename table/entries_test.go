package table_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/shmdict/shmdict/table"
)

func TestEntriesKinds(t *testing.T) {
	tbl, err := table.New(table.Options{Capacity: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Close()
	now := time.Unix(1_800_000_000, 123)
	tbl.SetClock(func() time.Time { return now })
	deadline := now.Add(time.Hour)
	must(t, tbl.Set([]byte("plain"), []byte("v")))
	must(t, tbl.Set([]byte("empty"), nil))
	must(t, tbl.Set([]byte("eight"), []byte("12345678"))) // 8 bytes, not a counter
	if _, err := tbl.Add([]byte("ctr"), -42); err != nil {
		t.Fatal(err)
	}
	must(t, tbl.SetWithDeadline([]byte("ttl"), []byte("soon"), deadline))
	must(t, tbl.SetWithTTL([]byte("gone"), []byte("x"), time.Second))
	must(t, tbl.Set([]byte("deleted"), []byte("x")))
	if _, err := tbl.Delete([]byte("deleted")); err != nil {
		t.Fatal(err)
	}
	now = now.Add(2 * time.Second) // "gone" expires

	var got []table.Entry
	for e, err := range tbl.Entries() {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, e)
	}
	slices.SortFunc(got, func(a, b table.Entry) int { return strings.Compare(string(a.Key), string(b.Key)) })
	want := []table.Entry{
		{Key: []byte("ctr"), Counter: -42, IsCounter: true},
		{Key: []byte("eight"), Value: []byte("12345678")},
		{Key: []byte("empty"), Value: []byte{}},
		{Key: []byte("plain"), Value: []byte("v")},
		{Key: []byte("ttl"), Value: []byte("soon"), Expires: time.Unix(0, deadline.UnixNano())},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("Entries (-want +got):\n%s", d)
	}
	left, err := tbl.TTL([]byte("ttl"))
	if err != nil || left != deadline.Sub(now) {
		t.Fatalf("TTL after SetWithDeadline = %v, %v; want %v", left, err, deadline.Sub(now))
	}
	if err := tbl.SetWithDeadline([]byte("k"), []byte("v"), now); !errors.Is(err, table.ErrInvalid) {
		t.Fatalf("SetWithDeadline(now) = %v, want ErrInvalid", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
