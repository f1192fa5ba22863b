package table

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/shmdict/shmdict/segment"
)

// TestEventRingSlotLimit: a ring entry names its slot in 32 bits, so a
// table with an event ring may have at most 2^32 slots; create refuses a
// larger one with ErrInvalid instead of making events that name the
// wrong slot (issue 12, item 7). The layouts are computed, never created.
func TestEventRingSlotLimit(t *testing.T) {
	const fits = 3 << 30 // the largest Capacity whose slot count is 2^32
	for _, c := range []struct {
		capacity int
		ring     int
		slots    uint64
		ok       bool
	}{
		{fits, 64, 1 << 32, true},
		{fits + 1, 64, 1 << 33, false},
		{1 << 40, 1 << 20, 1 << 41, false},
		{fits + 1, 0, 1 << 33, true}, // no ring: no limit
	} {
		l, err := Options{Capacity: c.capacity, ArenaBytes: 1 << 20, EventRing: c.ring}.layout()
		if c.ok {
			if err != nil || l.Slots != c.slots {
				t.Errorf("Capacity %d, EventRing %d: layout = %d slots, %v; want %d slots", c.capacity, c.ring, l.Slots, err, c.slots)
			}
			continue
		}
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("Capacity %d (%d slots), EventRing %d: layout error %v, want ErrInvalid", c.capacity, c.slots, c.ring, err)
		}
	}
	// Compact lays out its new generation through the same check.
	l, err := segment.NewLayout(fits+1, 1<<20, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.WithRing(64); !errors.Is(err, ErrInvalid) {
		t.Errorf("WithRing(64) on %d slots = %v, want ErrInvalid", l.Slots, err)
	}
}

// TestSubscribeChainStartsAtLateFirstEvent: two writers change a key one
// after the other, and the second appends its event first. The first
// event a subscriber reads for the key is then not the first change, and
// a subscriber that started the key's chain there held the earlier
// change for 2 s and delivered it late, out of order, as if one event had
// been missed; cancelled before then, it dropped the change without a
// word (TestSubscribeTwoWritersTwoSubscribers: "7993 events (0 missed),
// want all 7994"). Both changes must come, in CAS order, none missed.
func TestSubscribeChainStartsAtLateFirstEvent(t *testing.T) {
	tb, err := New(Options{Capacity: 16, EventRing: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	key := []byte("k")
	if err := tb.Set(key, []byte("a")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := make(chan Event, 256)
	go func() {
		defer close(events)
		for ev, err := range tb.Subscribe(ctx, nil) {
			if err != nil {
				return
			}
			events <- ev
		}
	}()
	deadline := time.After(10 * time.Second)
	// The subscriber starts at the tail when its goroutine runs: write
	// until it reports a write, then it reads everything after.
	for synced := false; !synced; {
		if err := tb.Set([]byte("sync"), []byte("x")); err != nil {
			t.Fatal(err)
		}
		select {
		case ev := <-events:
			synced = string(ev.Key) == "sync"
		case <-time.After(5 * time.Millisecond):
		case <-deadline:
			t.Fatal("the subscriber saw no write in 10 s")
		}
	}

	_, v, err := tb.Lookup(key)
	if err != nil {
		t.Fatal(err)
	}
	var slot uint64
	var found bool
	if err := tb.guarded(func() { slot, _, found, err = tb.find(key, hash64(key, tb.seed)) }); err != nil || !found {
		t.Fatalf("find %q: %v, %v", key, found, err)
	}
	w1 := uint64(v)
	w2 := nextValueWord(w1, unitOf(w1))
	w3 := nextValueWord(w2, unitOf(w1))
	tb.guarded(func() {
		tb.appendEvent(slot, w2, w3, EventSet) // writer B's change, appended first
		tb.appendEvent(slot, w1, w2, EventSet) // writer A's change, which came before it
	})

	// Without the fix the second comes after holdFor, so wait longer.
	var got []Event
	for len(got) < 2 {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("the subscription ended early")
			}
			if string(ev.Key) == string(key) {
				got = append(got, ev)
			}
		case <-deadline:
			t.Fatalf("events for %q in 10 s: %+v, want 2", key, got)
		}
	}
	want := []Event{
		{Key: key, Kind: EventSet, Version: Version(w2)},
		{Key: key, Kind: EventSet, Version: Version(w3)},
	}
	if !slices.EqualFunc(got, want, func(a, b Event) bool {
		return string(a.Key) == string(b.Key) && a.Kind == b.Kind && a.Version == b.Version && a.Missed == b.Missed
	}) {
		t.Errorf("events for %q: %+v, want %+v (in CAS order, none missed)", key, got, want)
	}
}
