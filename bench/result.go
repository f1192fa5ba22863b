package bench

import "time"

// Result is one measured cell: a peer running a workload with a number of
// workers.
type Result struct {
	Peer     string `json:"peer"`
	Workload string `json:"workload"`
	Workers  int    `json:"workers"`   // processes (or goroutines for in-process peers)
	Procs    bool   `json:"procs"`     // workers were processes, not goroutines
	Keys     int    `json:"keys"`      // key universe
	ValueLen int    `json:"value_len"` // bytes per value

	Ops     int64         `json:"ops"` // operations completed, all workers
	Elapsed time.Duration `json:"elapsed_ns"`
	OpsPerS float64       `json:"ops_per_s"`
	Latency Percentiles   `json:"latency"`           // per operation, from sampled timings
	Checked int64         `json:"checked"`           // answers verified (reads checked, counter sums)
	Skipped string        `json:"skipped,omitempty"` // why the cell did not run (peer missing)
}

// Percentiles are latency percentiles in nanoseconds.
type Percentiles struct {
	P50  int64 `json:"p50_ns"`
	P99  int64 `json:"p99_ns"`
	P999 int64 `json:"p999_ns"`
	Max  int64 `json:"max_ns"`
}

// Report is a whole run: the machine, the command, and every cell.
type Report struct {
	When    time.Time `json:"when"`
	Command string    `json:"command"`
	Machine string    `json:"machine"` // CPU model, cores, memory, OS, Go version
	Profile string    `json:"profile"`
	Results []Result  `json:"results"`
}
