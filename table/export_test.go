package table

import "github.com/shmdict/shmdict/atomicx"

// CounterWordOff is the offset of c's value word in its table's memory,
// or 0 in an eviction table. The hardware-ceiling benchmark uses it.
func CounterWordOff(c *Counter) uint64 {
	if c.kw == 0 {
		return 0
	}
	return c.t.valueWordOff(c.slot)
}

// TableMem is t's memory, for the hardware-ceiling benchmark.
func TableMem(t *Table) atomicx.Mem { return t.mem }

// Failpoint names and lists, for the crash tests.
var (
	Failpoints      = failpoints
	ReuseFailpoints = reuseFailpoints
	AdderFailpoints = adderFailpoints
	TierFailpoints  = tierFailpoints
)

const (
	FPValueWritten   = fpValueWritten
	FPValuePublished = fpValuePublished
)
