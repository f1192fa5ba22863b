// Package fuzz holds native Go fuzz targets that cross packages: they feed
// hostile segment files to the table API and check that it answers with
// the typed errors of package table, never a panic, a hang, or an access
// outside the mapping.
//
// Targets:
//   - FuzzAttach (fuzz_test.go): arbitrary bytes (at most 1 KiB) as the
//     start of a segment image, zero-extended to a size the input also
//     gives, then table.AttachImage and, if that succeeds, a few
//     operations, Verify and Repair.
//   - FuzzFlipLayout (fuzz_test.go): FuzzAttach's checks on a populated
//     segment under another header (more slots, probe limit 1, claim
//     budget 1, another hash seed, a larger arena), with flips as in
//     FuzzFlip.
//   - FuzzFlip (fuzz_test.go): a valid small segment with keys, counters,
//     deleted keys and free blocks, with bytes of its slot array and arena
//     (or of its control region and registry) flipped as the input says;
//     then every kind of operation, Verify, Repair, and the operations
//     again on the repaired table.
//   - FuzzFlipEvict (evict_fuzz_test.go): the same flips in a segment with
//     eviction (format version 3), churned through three times more keys
//     than it holds, before and after Repair.
//   - FuzzFlipGrow (grow_fuzz_test.go): the same kind of flips in a
//     growing table (format version 6) caught mid-growth (three of its
//     eight tiers in use, sealed slots of keys deleted from a closed tier
//     and set again), aimed also at the OffTiers word and the per-tier
//     claim counters; then reads, writes that grow it by another tier,
//     deletes, iteration, Verify and Repair, and again after Repair.
//
// Each run opens its image in Go-heap memory (table.AttachImage, which
// checks the bytes as Attach checks a file's) and repairs it there
// (Table.Repair): no file, lock or mapping per input, so a target makes
// thousands of runs a second (BenchmarkTargets gives the cost of one).
// TestCorpusThroughFiles replays every seed corpus through real segment
// files (Attach, Open, Repair by name), so the file path keeps the same
// checks.
//
// `go test ./fuzz/` replays the seed corpus in testdata/fuzz/<Target>/.
// To explore, run one target at a time, for example
//
//	go test ./fuzz/ -run '^$' -fuzz '^FuzzFlip$' -fuzztime 10m -parallel 2
//
// Stretches of "0/sec" in the fuzzer's log are the minimizer: each input
// that widens coverage is shrunk by one worker, which reports its runs
// only when done (up to -fuzzminimizetime, 60 s by default; the byte
// minimizer tries O(n^2) candidates of an n-byte input). A minimization
// that runs out of time loses its count of runs and restarts its worker,
// which is why every target keeps its inputs small (FuzzAttach skips data
// over 1 KiB). `make fuzz` passes -fuzzminimizetime 5s to spend the time
// exploring instead.
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
