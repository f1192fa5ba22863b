package table

import (
	"errors"
	"testing"

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
