// Package fuzz holds native Go fuzz targets that cross packages: they feed
// hostile segment files to the table API and check that it answers with
// the typed errors of package table, never a panic, a hang, or an access
// outside the mapping.
//
// Targets (in fuzz_test.go):
//   - FuzzAttach: arbitrary bytes as a segment file (zero-extended to a
//     size the input also gives), then table.Attach (and table.Open) and,
//     if that succeeds, a few operations, Verify and Repair.
//   - FuzzFlip: a valid small segment with keys, counters, deleted keys
//     and free blocks, with bytes of its slot array and arena (or of its
//     control region and registry) flipped as the input says; then every
//     kind of operation, Verify, Repair, and the operations again on the
//     repaired table.
//
// `go test ./fuzz/` replays the seed corpus in testdata/fuzz/<Target>/.
// To explore, run one target at a time, for example
//
//	TMPDIR=/dev/shm go test ./fuzz/ -run XXX -fuzz FuzzFlip -fuzztime 60s -fuzzminimizetime 5s
//
// TMPDIR=/dev/shm keeps the segment files in memory (about 10x the
// executions per second of a disk-backed /tmp), and a short
// -fuzzminimizetime keeps the minimizer from spending a minute on each new
// input that widens coverage.
//
// What the targets check:
//   - Every error matches a sentinel of package table (errors.Is) and
//     starts with "shmdict: ".
//   - Results are bounded: keys and values within MaxKeyLen and
//     MaxValueLen, Stats within the table's slots and arena.
//   - On an undamaged segment (FuzzFlip with no effective flip) every
//     result is exact and Verify passes.
//   - Verify reports problems as ErrCorrupt, never panics; after Repair,
//     Verify passes and no operation finds corruption.
//   - Every run finishes within a generous deadline; a hang crashes the
//     worker so that the fuzzer records the input.
package fuzz
