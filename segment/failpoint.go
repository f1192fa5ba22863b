//go:build !failpoints

package segment

// FailpointsEnabled reports whether this build has failpoints (the
// failpoints build tag).
const FailpointsEnabled = false

// Failpoint marks a step of a write protocol where a crash test may kill
// the process (see failpoint_on.go). Without the failpoints build tag it
// does nothing and compiles away.
func Failpoint(name string) {}
