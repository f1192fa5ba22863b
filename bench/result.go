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
	// ClockNs is what one read of the clock cost the workers (the most of
	// their medians); each sampled latency includes about one.
	ClockNs int64 `json:"clock_ns,omitempty"`
	// Fresh compares the first gets of just-started workers with their
	// later ones (get-fresh only).
	Fresh *FreshCost `json:"fresh,omitempty"`
}

// FreshCost is what a just-started process pays: the mean time per get of
// each worker's first FirstOps gets against that of its later gets, from
// one worker's point of view (start barrier to the FirstOps-th answer).
type FreshCost struct {
	FirstOps int64   `json:"first_ops"` // per worker
	FirstNs  float64 `json:"first_ns"`  // mean ns per get, first FirstOps
	LaterNs  float64 `json:"later_ns"`  // mean ns per get, the rest
	Ratio    float64 `json:"ratio"`     // FirstNs / LaterNs
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
	// Note is a sentence the report prints after the command (what was
	// shortened, for instance).
	Note    string   `json:"note,omitempty"`
	Results []Result `json:"results"`
}
