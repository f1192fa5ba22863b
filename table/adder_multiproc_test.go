package table_test

// Striped adders shared by processes (adder.go): children add to the same
// adders through handles, some are killed with SIGKILL mid-run, and every
// sum must hold each child's acknowledged adds exactly (plus, for a
// killed child, at most the one Add it was making).

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/shmdict/shmdict/table"
)

const (
	roleAdderAdd = "adder-add"

	// mpAdders is the number of adders the children share.
	mpAdders = 100
	// mpChildBits: child c adds 1<<(c*mpChildBits), so that each sum
	// holds every child's count of adds to that adder in a field of its
	// own, which the parent reads apart. 16 bits hold up to 65535 adds of
	// one child to one adder; the children stay far below.
	mpChildBits = 16
	// mpMaxAdds bounds a killed child's adds (it runs until killed).
	mpMaxAdds = 200 * mpAdders
)

func init() { childRoles[roleAdderAdd] = childAdderAdd }

func mpAdderKey(i int) []byte { return fmt.Appendf(nil, "adder-%03d", i) }

// mpAckKey is the plain counter in which child c counts its acknowledged
// adds to adder i: it is added to after the adder's Add returned, so a
// kill between the two leaves the adder one add ahead of its ack, never
// behind.
func mpAckKey(c, i int) []byte { return fmt.Appendf(nil, "ack-%d-%03d", c, i) }

// childAdderAdd: args name index adds seed (index: the child's own, from
// 0, which picks its delta). It makes handles on the shared
// adders, says ready, then makes adds Adds of 1<<(index*mpChildBits) to
// random adders (0: until killed, at most mpMaxAdds, then it waits for
// the kill), counting each
// acknowledged one in its ack counter, and reports "acked n".
func childAdderAdd(args []string) error {
	if err := childArgs(args, "name", "index", "adds", "seed"); err != nil {
		return err
	}
	c, adds := atoi(args[1]), atoi(args[2])
	r := rand.New(rand.NewPCG(atou(args[3]), uint64(c)))
	tb, err := table.Attach(args[0])
	if err != nil {
		return err
	}
	defer tb.Close()
	handles := make([]*table.Adder, mpAdders)
	for i := range handles {
		if handles[i], err = tb.Adder(mpAdderKey(i)); err != nil {
			return err
		}
	}
	if _, err := childSync("ready"); err != nil {
		return err
	}
	forever := adds == 0
	if forever {
		adds = mpMaxAdds
	}
	delta := int64(1) << (c * mpChildBits)
	acked := 0
	for range adds {
		i := r.IntN(mpAdders)
		if err := handles[i].Add(delta); err != nil {
			return fmt.Errorf("Add to %s: %w", mpAdderKey(i), err)
		}
		acked++
		if _, err := tb.Add(mpAckKey(c, i), 1); err != nil {
			return err
		}
	}
	if forever {
		// Out of adds before the parent killed it: wait for the kill
		// (the parent never answers).
		_, err := childSync("idle")
		return err
	}
	childReport("acked", acked)
	return nil
}

// TestAdderMultiProc runs 2 to 4 children adding to the same adders, kills
// some of them mid-run, and checks every adder's sum child by child.
func TestAdderMultiProc(t *testing.T) {
	seed := testSeed(t)
	r := rand.New(rand.NewPCG(seed, 5))
	adds := 3000
	if testing.Short() || raceBuild() {
		adds = 600
	}
	for _, procs := range []int{2, 3, 4} {
		t.Run(fmt.Sprintf("procs=%d", procs), func(t *testing.T) {
			name := segName(t, "")
			tb := mustCreate(t, name, table.Options{Capacity: 1024})
			// Which children are killed: at least one, never all.
			killed := make([]bool, procs)
			nkilled := 0
			for c := range killed {
				if killed[c] = c < procs-1 && (nkilled == 0 || r.IntN(2) == 0); killed[c] {
					nkilled++
				}
			}
			g := make([]*children, procs)
			for c := range procs {
				n := adds
				if killed[c] {
					n = 0 // until killed
				}
				// A group per child, so that each is killed or waited
				// for on its own.
				g[c] = startChildren(t, roleAdderAdd, 1, name, itoa(c), itoa(n), utoa(seed))
			}
			for c := range procs {
				g[c].expect("ready")
			}
			// Every child has attached and made its handles, and has not
			// added yet: a handle takes its lane at its first Add, so no
			// lane is marked yet. The children made the adders at once:
			// a child whose CAS lost to another's for the same key used
			// an index for nothing (documented), so at least one index
			// per adder and at most one per child and adder are used.
			if st := tb.Stats(); st.LanesUsed != 0 || st.AdderLanes != 64 || st.AdderIndicesUsed < mpAdders || st.AdderIndicesUsed > int64(mpAdders*procs) {
				t.Fatalf("before the adds: Stats %d of %d lanes used, %d adder indices used; want 0, 64, %d to %d", st.LanesUsed, st.AdderLanes, st.AdderIndicesUsed, mpAdders, mpAdders*procs)
			}
			for c := range procs {
				g[c].release()
			}
			// Kill each doomed child once it has made some adds.
			for c := range procs {
				if !killed[c] {
					continue
				}
				deadline := time.Now().Add(childTimeout)
				for ackTotal(t, tb, c) < int64(50+r.IntN(500)) {
					if time.Now().After(deadline) {
						t.Fatalf("child %d made no progress in %v", c, childTimeout)
					}
					time.Sleep(time.Millisecond)
				}
				p := g[c].procs[0]
				if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				<-p.done
			}
			for c := range procs {
				if killed[c] {
					continue
				}
				out := g[c].wait()
				if got := resultInt(t, out[0], "acked", 0); got != int64(adds) {
					t.Fatalf("child %d acknowledged %d adds, want %d", c, got, adds)
				}
			}

			// Each adder's sum, child by child.
			mask := int64(1)<<mpChildBits - 1
			extra := make([]int64, procs) // unacknowledged adds of each child
			totals := make([]int64, procs)
			for i := range mpAdders {
				v, err := tb.Get(mpAdderKey(i))
				if err != nil {
					t.Fatalf("Get(%s): %v", mpAdderKey(i), err)
				}
				sum := int64(binary.LittleEndian.Uint64(v))
				if n, err := tb.Add(mpAdderKey(i), 0); n != sum || err != nil {
					t.Fatalf("Add(%s, 0) = %d, %v; Get says %d", mpAdderKey(i), n, err, sum)
				}
				for c := range procs {
					got := sum >> (c * mpChildBits) & mask
					ack, err := tb.Add(mpAckKey(c, i), 0)
					if err != nil {
						t.Fatal(err)
					}
					totals[c] += ack
					switch {
					case got < ack:
						t.Errorf("%s: child %d's adds are %d, below the %d it acknowledged", mpAdderKey(i), c, got, ack)
					case got > ack && !killed[c]:
						t.Errorf("%s: child %d (exited normally) has %d adds, it acknowledged %d", mpAdderKey(i), c, got, ack)
					}
					extra[c] += got - ack
				}
			}
			for c := range procs {
				if extra[c] > 1 {
					t.Errorf("child %d (killed %v): %d adds beyond its acknowledged ones, want at most 1", c, killed[c], extra[c])
				}
				if !killed[c] && totals[c] != int64(adds) {
					t.Errorf("child %d: ack counters total %d, want %d", c, totals[c], adds)
				}
			}
			t.Logf("%d children, killed %v, acknowledged %v, unacknowledged adds found %v", procs, killed, totals, extra)
			rep, err := tb.Verify()
			if err != nil {
				t.Fatalf("Verify: %v\n%s", err, rep)
			}
			if rep.Adders != mpAdders || rep.Counters < mpAdders {
				t.Fatalf("Verify: %d adders, %d counters; want %d adders\n%s", rep.Adders, rep.Counters, mpAdders, rep)
			}
			if st := tb.Stats(); st.LanesUsed != procs {
				t.Fatalf("after the adds: %d lanes used, want %d (the parent only read)", st.LanesUsed, procs)
			}
		})
	}
}

// ackTotal is child c's acknowledged adds so far.
func ackTotal(t *testing.T, tb *table.Table, c int) int64 {
	t.Helper()
	var n int64
	for i := range mpAdders {
		a, err := tb.Add(mpAckKey(c, i), 0)
		if err != nil {
			t.Fatal(err)
		}
		n += a
	}
	return n
}
