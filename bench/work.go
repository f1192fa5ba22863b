package bench

import (
	"fmt"
	"slices"
	"time"
)

// The worker's loop. A workload is a step, one call on the Client that
// does one or more operations; work times steps and counts operations.
// Keeping each kind of operation in a step constructor leaves one timing
// loop for all of them: a batched get (a table's GetMany, looking up 32
// keys a call) would be a getBatchStep beside getStep, returning n = 32,
// behind an optional interface on Client (a peer without it would get its
// batch as 32 Gets), and one more case in newStep.

// sampleEvery: one step in this many is timed, so that reading the
// clock does not dominate fast operations.
const sampleEvery = 16

// A step does the next operation(s) of a workload and returns how many
// it did and how many answers it checked. Buffers live in the step's
// closure, allocated once.
type step func() (n, checked int64, err error)

// prepared is what a worker sets up before the start barrier.
type prepared struct {
	adders []Adder // counters-adder: a handle on each hot counter
}

// prepare readies a worker of c on cl before the start barrier: it warms
// up a warmed workload and makes counters-adder's handles.
func prepare(c Cell, cl Client) (*prepared, error) {
	if err := warmUp(c, cl); err != nil {
		return nil, err
	}
	pre := &prepared{}
	if c.Workload == WCountersAdder {
		var kb []byte
		pre.adders = make([]Adder, c.Counters)
		for i := range pre.adders {
			a, err := adderOf(cl, counterKey(kb, i))
			if err != nil {
				return nil, fmt.Errorf("adder %d: %w", i, err)
			}
			pre.adders[i] = a
		}
	}
	return pre, nil
}

// newStep returns the step of c's workload on cl, drawing keys from pk,
// with what prepare made.
func newStep(c Cell, cl Client, pk *picker, pre *prepared) step {
	switch c.Workload {
	case WCounters, WCountersAdderKey:
		return counterStep(c, cl, pk)
	case WCountersAdder:
		return adderStep(pre.adders, pk)
	case WMixed9010:
		return mixedStep(c, cl, pk, 10)
	case WMixed5050:
		return mixedStep(c, cl, pk, 50)
	}
	return getStep(c, cl, pk)
}

// getStep reads an existing key and checks its value.
func getStep(c Cell, cl Client, pk *picker) step {
	var kb, gb []byte
	return func() (int64, int64, error) {
		i := pk.next()
		kb = key(kb, i)
		var ok bool
		var err error
		gb, ok, err = cl.Get(gb[:0], kb)
		return 1, 1, checkGet(gb, ok, err, i, c.ValueLen)
	}
}

// checkGet turns a get of key index i that failed or returned a wrong
// value into an error.
func checkGet(v []byte, ok bool, err error, i, valueLen int) error {
	switch {
	case err != nil:
		return err
	case !ok:
		return fmt.Errorf("%w: key %d missing", ErrWrongAnswer, i)
	}
	if err := checkValue(v, i, valueLen); err != nil {
		return fmt.Errorf("%w: %v", ErrWrongAnswer, err)
	}
	return nil
}

// mixedStep writes a new version of a key writes percent of the time and
// reads one otherwise.
func mixedStep(c Cell, cl Client, pk *picker, writes int) step {
	get := getStep(c, cl, pk)
	var kb, vb []byte
	return func() (int64, int64, error) {
		if pk.r.IntN(100) >= writes {
			return get()
		}
		i := pk.next()
		kb, vb = key(kb, i), value(vb, i, pk.r.Uint32(), c.ValueLen)
		return 1, 0, cl.Set(kb, vb)
	}
}

// counterStep increments one of the hot counters.
func counterStep(c Cell, cl Client, pk *picker) step {
	var kb []byte
	return func() (int64, int64, error) {
		kb = counterKey(kb, pk.r.IntN(c.Counters))
		_, err := cl.Incr(kb, 1)
		return 1, 0, err
	}
}

// adderStep increments one of the hot counters through its handle.
func adderStep(adders []Adder, pk *picker) step {
	return func() (int64, int64, error) {
		return 1, 0, adders[pk.r.IntN(len(adders))].Add(1)
	}
}

// loadStep inserts the worker's share of the universe (every Workers-th
// key), one key a call; done reports when it is all in.
func loadStep(c Cell, cl Client) (s step, done func() bool) {
	i := c.Worker
	var kb, vb []byte
	return func() (int64, int64, error) {
		kb, vb = key(kb, i), value(vb, i, 0, c.ValueLen)
		i += c.Workers
		return 1, 0, cl.Set(kb, vb)
	}, func() bool { return i >= c.Keys }
}

// work runs worker c.Worker's share of the cell on cl, from the start
// barrier on. Timing reads only the monotonic clock (time.Since of a
// fixed start: one clock read, where time.Now reads the wall clock too),
// and a sampled latency is the difference of two reads around the step
// alone; the step is a closure built before the clock starts, so the loop
// allocates nothing per operation that could bring GC pauses into the
// figures. r.ClockNs is what one clock read costs here, part of every
// sampled latency.
func work(c Cell, cl Client, pre *prepared) (r workerResult) {
	h := new(Histogram)
	defer func() { r.Hist = h.Encode() }()
	r.ClockNs = clockCost()
	var do step
	loaded := func() bool { return false }
	if c.Workload == WLoad {
		do, loaded = loadStep(c, cl)
	} else {
		do = newStep(c, cl, newPicker(c), pre)
	}
	limit := time.Duration(c.Millis) * time.Millisecond
	fresh := c.Workload == WGetFresh
	minOps := int64(0) // get-fresh runs past its time until it has a later part as long as its first
	freshOps := int64(c.FreshOps)
	if fresh {
		if freshOps <= 0 {
			freshOps = FreshOps
		}
		minOps = 2 * freshOps
	}
	start := time.Now()
	for s := int64(0); ; s++ {
		if c.Workload == WLoad {
			if loaded() {
				break
			}
		} else if s%64 == 0 && r.Ops >= minOps && time.Since(start) >= limit {
			// The end test reads the clock every 64 steps, outside any timing.
			break
		}
		var n, checked int64
		var err error
		if s%sampleEvery == 0 {
			t0 := time.Since(start)
			n, checked, err = do()
			h.Record(int64(time.Since(start) - t0))
		} else {
			n, checked, err = do()
		}
		if err != nil {
			r.Err = err.Error()
			r.Elapsed = int64(time.Since(start))
			return r
		}
		r.Ops += n
		r.Checked += checked
		if fresh && r.FirstOps == 0 && r.Ops >= freshOps {
			r.FirstOps, r.FirstNs = r.Ops, int64(time.Since(start))
		}
	}
	r.Elapsed = int64(time.Since(start))
	return r
}

// warmUp runs untimed uniform gets of existing keys on cl for c's
// WarmMillis, from a key stream other than the timed run's, before a
// worker of a warmed workload reports ready. It checks every answer.
func warmUp(c Cell, cl Client) error {
	if !warmed(c.Workload) || c.WarmMillis <= 0 {
		return nil
	}
	wc := c
	wc.Workload = WGetUniform
	wc.Seed = c.Seed ^ 0x5741524d // "WARM": another stream than the timed one
	do := getStep(wc, cl, newPicker(wc))
	limit := time.Duration(c.WarmMillis) * time.Millisecond
	start := time.Now()
	for s := 0; s%64 != 0 || time.Since(start) < limit; s++ {
		if _, _, err := do(); err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
	}
	return nil
}

// clockCost returns the median of many back-to-back readings of the
// monotonic clock as work reads it: the part of each sampled latency that
// is the timer itself.
func clockCost() int64 {
	var ds [255]int64
	start := time.Now()
	for i := range ds {
		t0 := time.Since(start)
		ds[i] = int64(time.Since(start) - t0)
	}
	slices.Sort(ds[:])
	return ds[len(ds)/2]
}
