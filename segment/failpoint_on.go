//go:build failpoints

package segment

import (
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
)

// FailpointsEnabled reports whether this build has failpoints (the
// failpoints build tag).
const FailpointsEnabled = true

// FailpointEnv selects a failpoint: "name:N" makes the process SIGKILL
// itself the Nth time it reaches failpoint name ("*" matches any), and
// "name:N:stop" makes it SIGSTOP itself there instead (it resumes on
// SIGCONT). Crash tests set it in child processes.
const FailpointEnv = "SHMDICT_FAILPOINT"

var fp struct {
	name string
	n    int64
	stop bool
	hits atomic.Int64
}

func init() {
	parts := strings.Split(os.Getenv(FailpointEnv), ":")
	if len(parts) < 2 {
		return
	}
	n, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || n < 1 {
		return
	}
	fp.name, fp.n = parts[0], n
	fp.stop = len(parts) > 2 && parts[2] == "stop"
}

// Failpoint kills (or stops) the process if FailpointEnv selects this
// point and this is the chosen hit.
func Failpoint(name string) {
	if fp.name == "" || (fp.name != "*" && fp.name != name) {
		return
	}
	if fp.hits.Add(1) != fp.n {
		return
	}
	if fp.stop {
		syscall.Kill(os.Getpid(), syscall.SIGSTOP)
		return
	}
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {} // not reached: SIGKILL cannot be caught
}
