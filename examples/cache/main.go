// Command cache shows shmdict as a cache shared by processes: a table
// with CLOCK eviction, filled through GetOrLoad so that a value
// is computed once even when many processes miss it at the same moment.
//
//	go run ./examples/cache -procs 3 -requests 20000
//
// The parent creates a small evicting table (far fewer slots than the
// keys the workers ask for) and starts -procs copies of itself. Each
// worker looks up -requests keys drawn from a skewed distribution (a few
// keys are hot, most are cold). A miss "computes" the value (a short
// sleep standing in for a database query) through GetOrLoad, which lets
// one process load while the others wait for its result, and stores it.
// When the table is full, storing a new value evicts keys
// nobody read recently instead of failing. At the end the parent prints
// the hit rate, how many loads ran, and how many keys the table evicted.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/shmdict/shmdict/table"
)

// workerEnv carries "name index requests keys" to a worker.
const workerEnv = "SHMDICT_CACHE_WORKER"

func main() {
	var err error
	if spec := os.Getenv(workerEnv); spec != "" {
		err = worker(spec)
	} else {
		procs := flag.Int("procs", 3, "worker processes")
		requests := flag.Int("requests", 20000, "lookups per worker")
		keys := flag.Int("keys", 5000, "distinct keys the workers ask for")
		capacity := flag.Int("capacity", 500, "keys the cache holds")
		flag.Parse()
		err = parent(*procs, *requests, *keys, *capacity)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "cache (pid %d): %v\n", os.Getpid(), err)
		os.Exit(1)
	}
}

func parent(procs, requests, keys, capacity int) error {
	name := fmt.Sprintf("shmdict-cache-example-%d", os.Getpid())
	t, err := table.Create(name, table.Options{Capacity: capacity, Eviction: table.EvictCLOCK})
	if err != nil {
		return err
	}
	defer table.Remove(name)
	defer t.Close()
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	start := time.Now()
	cmds := make([]*exec.Cmd, procs)
	outs := make([]strings.Builder, procs)
	for i := range procs {
		cmds[i] = exec.Command(exe)
		cmds[i].Env = append(os.Environ(), fmt.Sprintf("%s=%s %d %d %d", workerEnv, name, i, requests, keys))
		cmds[i].Stdout, cmds[i].Stderr = &outs[i], os.Stderr
		if err := cmds[i].Start(); err != nil {
			return err
		}
	}
	var hits, loads int64
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			return fmt.Errorf("worker %d: %v", i, err)
		}
		var h, l int64
		if _, err := fmt.Sscanf(outs[i].String(), "%d %d", &h, &l); err != nil {
			return fmt.Errorf("worker %d said %q", i, outs[i].String())
		}
		hits, loads = hits+h, loads+l
	}
	st := t.Stats()
	total := int64(procs * requests)
	fmt.Printf("%d processes x %d lookups over %d keys in a cache of %d, in %v\n", procs, requests, keys, st.Capacity, time.Since(start).Round(time.Millisecond))
	fmt.Printf("hits %d (%.1f%%), loads %d (a miss that others waited on costs one load), misses served by another's load %d\n",
		hits, 100*float64(hits)/float64(total), loads, total-hits-loads)
	fmt.Printf("the table now holds %d keys and has evicted %d\n", st.Keys, st.Evicted)
	return nil
}

func worker(spec string) error {
	f := strings.Fields(spec)
	if len(f) != 4 {
		return fmt.Errorf("bad worker spec %q", spec)
	}
	name := f[0]
	index, _ := strconv.Atoi(f[1])
	requests, _ := strconv.Atoi(f[2])
	keys, _ := strconv.Atoi(f[3])
	t, err := table.Attach(name)
	if err != nil {
		return err
	}
	defer t.Close()
	r := rand.New(rand.NewPCG(uint64(index), 42))
	zipf := rand.NewZipf(r, 1.2, 1, uint64(keys-1)) // a few hot keys, a long cold tail
	var hits, loads int64
	for range requests {
		k := fmt.Sprintf("user:%d", zipf.Uint64())
		if _, err := t.Get([]byte(k)); err == nil {
			hits++
			continue
		} else if !errors.Is(err, table.ErrNotFound) {
			return err
		}
		v, err := t.GetOrLoad(context.Background(), []byte(k), time.Second, func() ([]byte, error) {
			loads++
			time.Sleep(20 * time.Microsecond) // the expensive part: a query, a computation
			return []byte("profile of " + k), nil
		})
		if err != nil {
			return fmt.Errorf("GetOrLoad(%s): %w", k, err)
		}
		if string(v) != "profile of "+k {
			return fmt.Errorf("GetOrLoad(%s) = %q", k, v)
		}
	}
	fmt.Printf("%d %d\n", hits, loads)
	return nil
}
