package table_test

// Online growth under the race detector: a heap table (table.New, whose
// every access the detector sees) made for 16 keys grows through many
// tiers while goroutines insert, delete and set again (which moves a key
// to the newest tier by sealing its old slot), add to counters and
// striped adders, race GetOrSet on shared keys and read what others
// acknowledged.

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/shmdict/shmdict/table"
)

func TestGrowRace(t *testing.T) {
	seed := testSeed(t)
	const (
		inserters  = 3
		movers     = 2
		moverKeys  = 16
		adders     = 2 // goroutines adding to counters with Table.Add
		handlers   = 2 // goroutines adding through Adder handles
		counters   = 4 // shared counter keys rc<j>, and adder keys ra<j>
		racers     = 3 // goroutines racing GetOrSet on shared keys rg<j>
		readers    = 2
		addsPerG   = 3000
		moverSteps = 3000
	)
	perInserter, gosKeys := 8000, 3000
	if testing.Short() {
		perInserter, gosKeys = 4000, 1500
	}
	tbl, err := table.New(table.Options{Capacity: 16, MaxCapacity: 1 << 16})
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Close()
	insKey := func(g, j int) string { return fmt.Sprintf("ri%d-%d", g, j) }
	insVal := func(g, j int) string { return fmt.Sprintf("%d/%d/%s", g, j, strings.Repeat("i", j%17)) }

	var (
		wg       sync.WaitGroup
		errs     = make(chan error, 64)
		progress [inserters]lockedInt // keys each inserter has acknowledged
		gosDone  lockedInt            // GetOrSet keys every racer has passed
		gosStore [1 << 13]lockedInt   // stores per GetOrSet key (gosKeys fit)
		gosWin   sync.Map             // GetOrSet key -> the value the first answer saw
		stop     lockedInt            // 1: stop
		ctrSum   [counters]lockedInt
		adderSum [counters]lockedInt
		movers_  [movers]map[string]string // each mover's final model
	)
	fail := func(err error) {
		select {
		case errs <- err:
		default:
		}
		stop.Store(1)
	}
	run := func(f func(r *rand.Rand) error, stream uint64) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(rand.New(rand.NewPCG(seed, stream))); err != nil {
				fail(err)
			}
		}()
	}
	var writers sync.WaitGroup // all but the readers, which stop when these are done
	writer := func(f func(r *rand.Rand) error, stream uint64) {
		writers.Add(1)
		run(func(r *rand.Rand) error { defer writers.Done(); return f(r) }, stream)
	}

	for g := range inserters {
		writer(func(r *rand.Rand) error {
			for j := range perInserter {
				if stop.Load() != 0 {
					return nil
				}
				k, v := insKey(g, j), insVal(g, j)
				if j%3 == 0 {
					if stored, err := tbl.SetIfAbsent([]byte(k), []byte(v)); err != nil || !stored {
						return fmt.Errorf("SetIfAbsent(%s) = %v, %v; want true (nobody else writes it)", k, stored, err)
					}
				} else if err := tbl.Set([]byte(k), []byte(v)); err != nil {
					return fmt.Errorf("Set(%s): %w", k, err)
				}
				progress[g].Store(int64(j + 1))
			}
			return nil
		}, uint64(10+g))
	}
	for g := range movers {
		model := map[string]string{}
		movers_[g] = model
		writer(func(r *rand.Rand) error {
			for i := range moverSteps {
				if stop.Load() != 0 {
					return nil
				}
				k := fmt.Sprintf("rm%d-%d", g, r.IntN(moverKeys))
				switch p := r.IntN(10); {
				case p < 3:
					if _, err := tbl.Delete([]byte(k)); err != nil {
						return fmt.Errorf("Delete(%s): %w", k, err)
					}
					delete(model, k)
				case p < 4:
					// A key deleted and set again at once: the set meets
					// its own tombstone, sealed if its tier closed.
					if _, err := tbl.Delete([]byte(k)); err != nil {
						return fmt.Errorf("Delete(%s): %w", k, err)
					}
					v := fmt.Sprintf("m%d-%d", g, i)
					if err := tbl.Set([]byte(k), []byte(v)); err != nil {
						return fmt.Errorf("Set(%s) after Delete: %w", k, err)
					}
					model[k] = v
				default:
					v := fmt.Sprintf("m%d-%d-%s", g, i, strings.Repeat("m", i%13))
					if err := tbl.Set([]byte(k), []byte(v)); err != nil {
						return fmt.Errorf("Set(%s): %w", k, err)
					}
					model[k] = v
				}
				v, err := tbl.Get([]byte(k))
				want, ok := model[k]
				switch {
				case ok && (err != nil || string(v) != want):
					return fmt.Errorf("step %d: Get(%s) = %q, %v; want %q", i, k, v, err, want)
				case !ok && !errors.Is(err, table.ErrNotFound):
					return fmt.Errorf("step %d: Get(%s) of a deleted key = %q, %v; want ErrNotFound", i, k, v, err)
				}
			}
			return nil
		}, uint64(20+g))
	}
	for g := range adders {
		writer(func(r *rand.Rand) error {
			for range addsPerG {
				j, d := r.IntN(counters), int64(1+r.IntN(9))
				if _, err := tbl.Add(fmt.Appendf(nil, "rc%d", j), d); err != nil {
					return fmt.Errorf("Add(rc%d): %w", j, err)
				}
				ctrSum[j].Add(d)
			}
			return nil
		}, uint64(30+g))
	}
	for g := range handlers {
		writer(func(r *rand.Rand) error {
			var hs [counters]*table.Adder
			for range addsPerG {
				j, d := r.IntN(counters), int64(1+r.IntN(9))
				if hs[j] == nil {
					a, err := tbl.Adder(fmt.Appendf(nil, "ra%d", j))
					if err != nil {
						return fmt.Errorf("Adder(ra%d): %w", j, err)
					}
					hs[j] = a
				}
				if err := hs[j].Add(d); err != nil {
					return fmt.Errorf("Adder(ra%d).Add: %w", j, err)
				}
				adderSum[j].Add(d)
			}
			return nil
		}, uint64(40+g))
	}
	var gosPassed [racers]lockedInt
	for g := range racers {
		writer(func(r *rand.Rand) error {
			for j := range gosKeys {
				if stop.Load() != 0 {
					return nil
				}
				k, v := fmt.Sprintf("rg%d", j), fmt.Sprintf("g%d-%d", g, j)
				actual, loaded, err := tbl.GetOrSet([]byte(k), []byte(v))
				if err != nil {
					return fmt.Errorf("GetOrSet(%s): %w", k, err)
				}
				if !loaded {
					gosStore[j].Add(1)
					if string(actual) != v {
						return fmt.Errorf("GetOrSet(%s) stored, but returned %q, not its value %q", k, actual, v)
					}
				}
				if first, dup := gosWin.LoadOrStore(k, string(actual)); dup && first.(string) != string(actual) {
					return fmt.Errorf("GetOrSet(%s) answered %q here and %q elsewhere", k, actual, first)
				}
				gosPassed[g].Store(int64(j + 1))
				low := int64(j + 1)
				for i := range racers {
					low = min(low, gosPassed[i].Load())
				}
				gosDone.Raise(low)
			}
			return nil
		}, uint64(50+g))
	}
	var readChecks lockedInt
	for g := range readers {
		run(func(r *rand.Rand) error {
			for stop.Load() == 0 {
				for i := range inserters {
					c := int(progress[i].Load())
					if c == 0 {
						continue
					}
					// A random key, and one of the newest.
					for _, j := range []int{r.IntN(c), max(c-1-r.IntN(8), 0)} {
						k := insKey(i, j)
						if v, err := tbl.Get([]byte(k)); err != nil || string(v) != insVal(i, j) {
							return fmt.Errorf("Get(%s) = %q, %v after inserter %d acknowledged %d keys; want %q", k, v, err, i, c, insVal(i, j))
						}
						readChecks.Add(1)
					}
				}
				if d := int(gosDone.Load()); d > 0 {
					j := r.IntN(d)
					k := fmt.Sprintf("rg%d", j)
					v, err := tbl.Get([]byte(k))
					first, ok := gosWin.Load(k)
					if err != nil || !ok || string(v) != first.(string) {
						return fmt.Errorf("Get(%s) = %q, %v after every racer's GetOrSet answered %q", k, v, err, first)
					}
					readChecks.Add(1)
				}
			}
			return nil
		}, uint64(60+g))
	}
	writers.Wait()
	stop.Store(1)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("readers made %d checks during growth", readChecks.Load())

	// Exact contents.
	want := map[string]string{}
	for g := range inserters {
		for j := range perInserter {
			want[insKey(g, j)] = insVal(g, j)
		}
	}
	for _, m := range movers_ {
		for k, v := range m {
			want[k] = v
		}
	}
	for j := range gosKeys {
		k := fmt.Sprintf("rg%d", j)
		if n := gosStore[j].Load(); n != 1 {
			t.Errorf("GetOrSet(%s): %d of %d racers stored; want exactly 1", k, n, racers)
		}
		first, _ := gosWin.Load(k)
		want[k] = first.(string)
	}
	bad := 0
	for k, v := range want {
		if got, err := tbl.Get([]byte(k)); err != nil || string(got) != v {
			if bad++; bad <= 10 {
				t.Errorf("Get(%s) = %q, %v; want %q", k, got, err, v)
			}
		}
	}
	for j := range counters {
		if n, err := tbl.Add(fmt.Appendf(nil, "rc%d", j), 0); err != nil || n != ctrSum[j].Load() {
			t.Errorf("counter rc%d = %d, %v; want %d", j, n, err, ctrSum[j].Load())
		}
		if n, err := tbl.Add(fmt.Appendf(nil, "ra%d", j), 0); err != nil || n != adderSum[j].Load() {
			t.Errorf("adder ra%d = %d, %v; want %d", j, n, err, adderSum[j].Load())
		}
	}
	// Nothing else is present, and no key twice.
	seen := map[string]bool{}
	for e, err := range tbl.Entries() {
		if err != nil {
			t.Fatal(err)
		}
		k := string(e.Key)
		if seen[k] {
			t.Errorf("Entries() yields %s twice", k)
		}
		seen[k] = true
		if _, ok := want[k]; !ok && !strings.HasPrefix(k, "rc") && !strings.HasPrefix(k, "ra") {
			t.Errorf("Entries() yields %s, which should be absent", k)
		}
	}
	if got, wantLen := tbl.Len(), len(want)+2*counters; got != wantLen {
		t.Errorf("Len() = %d, want %d", got, wantLen)
	}
	if len(seen) != tbl.Len() {
		t.Errorf("Entries() yields %d keys, Len() says %d", len(seen), tbl.Len())
	}
	rep, err := tbl.Verify()
	if err != nil || !rep.OK() || rep.LeakedBytes != 0 {
		t.Errorf("Verify: %v\n%s", err, rep)
	}
	st := tbl.Stats()
	if st.Tiers <= 1 {
		t.Errorf("Stats().Tiers = %d: the table never grew", st.Tiers)
	}
	t.Logf("grew to %d of %d tiers: %d keys, %d claimed slots, %d tombstones (sealed or deleted)", st.Tiers, st.MaxTiers, st.Keys, st.ClaimedSlots, st.Tombstones)
}

// lockedInt is an int64 shared by the test's goroutines (this package may
// not import sync/atomic: TestUnsafeConfined).
type lockedInt struct {
	mu sync.Mutex
	v  int64
}

func (l *lockedInt) Add(d int64) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.v += d
	return l.v
}

func (l *lockedInt) Load() int64 { return l.Add(0) }

func (l *lockedInt) Store(v int64) {
	l.mu.Lock()
	l.v = v
	l.mu.Unlock()
}

// Raise sets the value to v if v is larger.
func (l *lockedInt) Raise(v int64) {
	l.mu.Lock()
	l.v = max(l.v, v)
	l.mu.Unlock()
}
