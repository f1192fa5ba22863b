package table

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// ttlVal is what the TTL model holds for a key.
type ttlVal struct {
	b        []byte
	counter  bool
	n        int64
	deadline int64 // Unix ns; 0: none
}

func (v ttlVal) bytes() []byte {
	if v.counter {
		return binary.LittleEndian.AppendUint64(nil, uint64(v.n))
	}
	return v.b
}

// TestTTLModel runs random operations, TTLs and clock jumps against a
// model with a fake clock: past its deadline a key reads as absent to
// every operation, and Expire then reclaims it.
func TestTTLModel(t *testing.T) {
	seed := *modelSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -seed=%d)", seed, seed)
	r := rand.New(rand.NewPCG(seed, 77))
	tb, err := New(Options{Capacity: 2000})
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	now := time.Unix(1_700_000_000, 0)
	tb.SetClock(func() time.Time { return now })
	model := map[string]ttlVal{}
	liveAt := func(v ttlVal) bool { return v.deadline == 0 || v.deadline > now.UnixNano() }
	ops := 60000
	if testing.Short() {
		ops = 15000
	}
	for i := 0; i < ops; i++ {
		k := []byte(fmt.Sprintf("k%03d", r.IntN(300)))
		mv, ok := model[string(k)]
		live := ok && liveAt(mv)
		val := []byte(fmt.Sprint("v", i, "-", r.IntN(1000)))
		switch p := r.IntN(100); {
		case p < 20:
			got, err := tb.Get(k)
			if !live {
				if !errors.Is(err, ErrNotFound) {
					t.Fatalf("op %d Get(%s) = %q, %v; want ErrNotFound (deadline %d, now %d)", i, k, got, err, mv.deadline, now.UnixNano())
				}
			} else if err != nil || !bytes.Equal(got, mv.bytes()) {
				t.Fatalf("op %d Get(%s) = %q, %v; want %q", i, k, got, err, mv.bytes())
			}
		case p < 35:
			if err := tb.Set(k, val); err != nil {
				t.Fatal(err)
			}
			model[string(k)] = ttlVal{b: val}
		case p < 55:
			ttl := time.Duration(1+r.IntN(100)) * time.Millisecond
			if err := tb.SetWithTTL(k, val, ttl); err != nil {
				t.Fatal(err)
			}
			model[string(k)] = ttlVal{b: val, deadline: now.Add(ttl).UnixNano()}
		case p < 62:
			ok, err := tb.Delete(k)
			if err != nil || ok != live {
				t.Fatalf("op %d Delete(%s) = %v, %v; want %v", i, k, ok, err, live)
			}
			delete(model, string(k))
		case p < 72:
			n, err := tb.Add(k, 1)
			if live && !mv.counter {
				if !errors.Is(err, ErrNotCounter) {
					t.Fatalf("op %d Add on live bytes: %d, %v", i, n, err)
				}
				break
			}
			want := int64(1)
			if live {
				want = mv.n + 1
			}
			if err != nil || n != want {
				t.Fatalf("op %d Add(%s) = %d, %v; want %d", i, k, n, err, want)
			}
			model[string(k)] = ttlVal{counter: true, n: want}
		case p < 78:
			old := val
			if live && r.IntN(2) == 0 {
				old = mv.bytes()
			}
			ok, err := tb.CompareAndSwap(k, old, val)
			want := live && bytes.Equal(old, mv.bytes())
			if err != nil || ok != want {
				t.Fatalf("op %d CompareAndSwap(%s) = %v, %v; want %v", i, k, ok, err, want)
			}
			if ok {
				model[string(k)] = ttlVal{b: val}
			}
		case p < 84:
			got, loaded, err := tb.GetOrSet(k, val)
			if err != nil || loaded != live {
				t.Fatalf("op %d GetOrSet(%s) loaded %v, %v; want %v", i, k, loaded, err, live)
			}
			if live && !bytes.Equal(got, mv.bytes()) {
				t.Fatalf("op %d GetOrSet(%s) = %q, want %q", i, k, got, mv.bytes())
			}
			if !live {
				model[string(k)] = ttlVal{b: val}
			}
		case p < 88:
			ok, err := tb.Contains(k)
			if err != nil || ok != live {
				t.Fatalf("op %d Contains(%s) = %v, %v; want %v", i, k, ok, err, live)
			}
			left, err := tb.TTL(k)
			switch {
			case !live:
				if !errors.Is(err, ErrNotFound) {
					t.Fatalf("op %d TTL(%s) of an absent key: %v, %v", i, k, left, err)
				}
			case mv.deadline == 0:
				if err != nil || left != 0 {
					t.Fatalf("op %d TTL(%s) without a TTL: %v, %v", i, k, left, err)
				}
			default:
				if want := time.Duration(mv.deadline - now.UnixNano()); err != nil || left != want {
					t.Fatalf("op %d TTL(%s) = %v, %v; want %v", i, k, left, err, want)
				}
			}
		case p < 98:
			now = now.Add(time.Duration(r.IntN(20)) * time.Millisecond)
		default:
			if _, err := tb.Expire(); err != nil {
				t.Fatal(err)
			}
			for k, v := range model {
				if !liveAt(v) {
					delete(model, k)
				}
			}
			if tb.Len() != len(model) {
				t.Fatalf("op %d: Len %d after Expire, model has %d live keys", i, tb.Len(), len(model))
			}
		}
	}
	if _, err := tb.Expire(); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for k, v := range model {
		if liveAt(v) {
			want[k] = string(v.bytes())
		}
	}
	got := map[string]string{}
	for k, v := range tb.All() {
		got[string(k)] = string(v)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("snapshot after Expire differs: %d keys, want %d", len(got), len(want))
	}
	if tb.Len() != len(want) {
		t.Fatalf("Len %d, want %d", tb.Len(), len(want))
	}
	st := tb.Stats()
	if st.Expired == 0 {
		t.Fatal("Stats().Expired is 0 after a run full of TTLs")
	}
	t.Logf("%d ops, %d live keys, %d expired values reclaimed", ops, len(want), st.Expired)
	mustVerify(t, tb)
}

// TestTTLWritersReclaim: with no Expire call, writers' sweeps reclaim
// expired values, so a table full of expired keys does not stay full.
func TestTTLWritersReclaim(t *testing.T) {
	tb, err := New(Options{Capacity: 1000, ArenaBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	now := time.Unix(1_700_000_000, 0)
	tb.SetClock(func() time.Time { return now })
	for i := range 500 {
		if err := tb.SetWithTTL([]byte(fmt.Sprint("t", i)), make([]byte, 100), time.Second); err != nil {
			t.Fatal(err)
		}
	}
	before := tb.Stats()
	now = now.Add(2 * time.Second)
	for i := 0; tb.Len() > 0 && i < 100000; i++ {
		tb.Set([]byte(fmt.Sprint("p", i%10)), []byte("x")) // plain writes sweep too
	}
	after := tb.Stats()
	if after.Keys != 10 || after.Expired != 500 || after.ArenaUsed >= before.ArenaUsed {
		t.Fatalf("writers did not reclaim: before %+v\nafter %+v", statsLine(before), statsLine(after))
	}
	mustVerify(t, tb)
}

func TestTTLErrors(t *testing.T) {
	tb, err := New(Options{Capacity: 16})
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	if err := tb.SetWithTTL([]byte("k"), []byte("v"), 0); !errors.Is(err, ErrInvalid) {
		t.Errorf("SetWithTTL(0): %v", err)
	}
	if _, err := tb.TTL([]byte("missing")); !errors.Is(err, ErrNotFound) {
		t.Errorf("TTL(missing): %v", err)
	}
}

// TestTTLSaturates stores values with TTLs and deadlines at and past the
// end of the i64 Unix-nanosecond range a record holds: they saturate at
// the latest deadline instead of wrapping into the past (issue 12, item
// 6: math.MaxInt64 as "forever" stored an already-expired value).
func TestTTLSaturates(t *testing.T) {
	tb, err := New(Options{Capacity: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	now := time.Unix(1_700_000_000, 0)
	tb.SetClock(func() time.Time { return now })
	room := time.Duration(math.MaxInt64 - now.UnixNano()) // the largest ttl that does not saturate
	for _, c := range []struct {
		name string
		ttl  time.Duration
		left time.Duration // what TTL must report
	}{
		{"MaxInt64", math.MaxInt64, room},
		{"room+1", room + 1, room},
		{"room", room, room},
		{"room-1", room - 1, room - 1},
		{"1ns", 1, 1},
		{"1h", time.Hour, time.Hour},
	} {
		key := []byte("k-" + c.name)
		if err := tb.SetWithTTL(key, []byte("v"), c.ttl); err != nil {
			t.Fatalf("%s: SetWithTTL: %v", c.name, err)
		}
		if v, err := tb.Get(key); err != nil || string(v) != "v" {
			t.Fatalf("%s: Get after SetWithTTL(%d) = %q, %v; want \"v\"", c.name, int64(c.ttl), v, err)
		}
		if left, err := tb.TTL(key); err != nil || left != c.left {
			t.Fatalf("%s: TTL = %v, %v; want %v", c.name, left, err, c.left)
		}
	}
	for _, ttl := range []time.Duration{0, -1, math.MinInt64} {
		if err := tb.SetWithTTL([]byte("bad"), []byte("v"), ttl); !errors.Is(err, ErrInvalid) {
			t.Fatalf("SetWithTTL(%d) = %v, want ErrInvalid", int64(ttl), err)
		}
	}
	// Deadlines past the range saturate too (time.Time.UnixNano wraps there).
	for i, d := range []time.Time{
		time.Unix(0, math.MaxInt64), time.Unix(0, math.MaxInt64).Add(1), time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1_000_000_000, 1, 1, 0, 0, 0, 0, time.UTC),
	} {
		key := []byte(fmt.Sprint("d", i))
		if err := tb.SetWithDeadline(key, []byte("v"), d); err != nil {
			t.Fatalf("SetWithDeadline(%v): %v", d, err)
		}
		if left, err := tb.TTL(key); err != nil || left != room {
			t.Fatalf("TTL after SetWithDeadline(%v) = %v, %v; want %v", d, left, err, room)
		}
	}
	if err := tb.SetWithDeadline([]byte("past"), []byte("v"), time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("SetWithDeadline(year 1000) = %v, want ErrInvalid", err)
	}
	// Expire keeps them all, and the clock moving on to the last
	// representable instant expires them.
	if n, err := tb.Expire(); err != nil || n != 0 {
		t.Fatalf("Expire = %d, %v; want 0", n, err)
	}
	now = time.Unix(0, math.MaxInt64)
	if _, err := tb.Get([]byte("k-MaxInt64")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get at the latest deadline = %v, want ErrNotFound", err)
	}
}

// TestDeadlineAfter pins the saturating sum at its edges.
func TestDeadlineAfter(t *testing.T) {
	for _, c := range []struct {
		now  int64
		ttl  time.Duration
		want int64
	}{
		{0, math.MaxInt64, math.MaxInt64},
		{1, math.MaxInt64, math.MaxInt64},
		{math.MaxInt64 - 1, 1, math.MaxInt64},
		{math.MaxInt64 - 1, 2, math.MaxInt64},
		{math.MaxInt64, 1, math.MaxInt64},
		{100, 5, 105},
		{-10, 5, -5},
		{-5, 5, 1}, // 0 would mean "no deadline"
		{math.MinInt64, math.MaxInt64, -1},
	} {
		if got := deadlineAfter(c.now, c.ttl); got != c.want {
			t.Errorf("deadlineAfter(%d, %d) = %d, want %d", c.now, int64(c.ttl), got, c.want)
		}
	}
}
