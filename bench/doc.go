// Package bench is shmdict's benchmark harness: it runs the same workloads
// against shmdict and the tools users would pick instead (a Go map behind
// a sync.RWMutex, sync.Map, Redis over a unix socket), from several worker
// processes at once, and reports throughput and latency percentiles side
// by side. `shmdict bench` is its command line.
//
// Workloads use fixed-seed PCG generators (math/rand/v2), so a run is
// reproducible. Worker processes are the harness binary re-executed
// (see Main); they attach to the peer by name, start together on a
// barrier, and report what they did. Every run checks its answers: reads
// must return what was written for that key, and counters must sum to the
// increments the workers report; a wrong answer fails the run.
//
// Counters come in three workloads: counters (increment by key),
// counters-adder (through handles made before the clock: shmdict's
// striped adders, the in-process peers' *atomic.Int64; a peer without
// handles increments by key) and counters-adder-key (by key, on keys made
// shmdict adders before the clock). workload.go says what each peer runs.
//
// Timing (work.go): every worker's loop runs steps, one Client call each,
// and times one step in sampleEvery with two reads of the monotonic
// clock; the clock's own cost is measured and reported (Result.ClockNs).
// Steady-state read workloads (get-uniform, get-zipf, the mixes) warm up
// before the start barrier with untimed gets, so their percentiles are
// not those of a cold process; get-fresh is their counterpart: workers
// are processes started for the cell (never goroutines: in-process peers
// skip it) that attach and time from their very first get, and the
// report compares the mean time per get of each worker's first FreshOps
// gets with that of its later ones.
package bench
