package fuzz

import (
	"os"
	"runtime/debug"
	"testing"
)

// TestMain raises the GC target: a run allocates about 100 KB of
// short-lived garbage (segment images, Verify's block sets), and at the
// default target the collector took a tenth of the targets' CPU time
// (BenchmarkTargets' cpu-ns/op). The live heap stays a few MB.
func TestMain(m *testing.M) {
	debug.SetGCPercent(400)
	os.Exit(m.Run())
}
