package bboltpeer

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/shmdict/shmdict/bench"
)

func TestMain(m *testing.M) {
	bench.MaybeWorker()
	os.Exit(m.Run())
}

func TestBboltCells(t *testing.T) {
	rep, err := bench.Run(context.Background(), bench.Options{Peers: []string{"bbolt"}, Keys: 500, Counters: 20,
		Workers: []int{1, 2}, Duration: 50 * time.Millisecond, FreshOps: 2000})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rep.Results {
		switch {
		case r.Workers == 2 && r.Skipped == "":
			t.Errorf("%s with 2 workers ran; bbolt allows one process", r.Workload)
		case r.Workers == 1 && (r.Skipped != "" || r.Ops == 0 || r.Checked == 0):
			t.Errorf("%+v", r)
		}
	}
}
