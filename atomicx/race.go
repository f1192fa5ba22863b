//go:build race

package atomicx

// raceEnabled makes CopyIn store whole words atomically, so that -race on a
// heap segment sees the protocol without false positives.
const raceEnabled = true
