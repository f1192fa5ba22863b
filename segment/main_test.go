package segment

import (
	"os"
	"testing"
)

// TestMain lets the test binary double as a child process for the
// multi-process tests: with segChildEnv set, it runs segChildMain (see
// segment_test.go) instead of the tests.
func TestMain(m *testing.M) {
	if mode := os.Getenv(segChildEnv); mode != "" {
		os.Exit(segChildMain(mode, os.Getenv(segChildPathEnv)))
	}
	os.Exit(m.Run())
}
