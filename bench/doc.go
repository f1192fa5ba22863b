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
package bench
