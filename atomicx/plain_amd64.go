//go:build amd64 && !race

package atomicx

// plainReads is true where a validated reader may copy and compare with
// plain (vector) loads: amd64 never reorders a load with a later load, and
// the compiler does not move loads across the runtime's copy and compare
// calls or an atomic load, so the reader's recheck of the word that named
// the bytes still comes after them. On arm64 a plain load may be performed
// after a later load-acquire, so there every byte is read with an atomic
// (ordered) load; under the race detector too, so that it sees the reads.
const plainReads = true
