// Package atomicx owns every raw memory access shmdict makes to a segment:
// typed atomic views over 32- and 64-bit words at checked byte offsets,
// validated (seqlock-style) copies, and the private record writes that
// precede a publishing CAS. For the array package it also gives typed
// slices over a Mem (SliceOf, BytesOf) and per-element atomics on 1-, 2-,
// 4- and 8-byte numbers (elem.go: Load, Store, CompareAndSwap, Add and
// their inlinable 8- and 4-byte fast paths), the narrow ones through the
// aligned 32-bit word that holds them.
//
// Terminology:
//   - Mem: a view of one contiguous region (a mapped file or a Go-heap
//     buffer) addressed by byte offsets, never pointers, so that the same
//     offsets mean the same bytes in every process.
//   - word: an 8-byte aligned uint64 (or 4-byte aligned uint32) inside a Mem.
//   - element: a number of 1, 2, 4 or 8 bytes, aligned to its size, in a
//     typed slice over a Mem (Number).
//
// Invariants:
//   - Only this package (and segment, for mapping) imports unsafe or
//     sync/atomic; a test in the table package fails otherwise.
//   - Every accessor checks its offset against the region and panics on a
//     violation: callers must bounds-check data read from shared memory
//     first, so a panic here is a programmer bug, never bad data.
//   - Reads of bytes that another process may be rewriting (value records)
//     use atomic word loads (CopyOut, Equal); on arm64 a plain load between two
//     acquire loads may complete late. Bytes written privately before being
//     published by a CAS are filled with plain copies (CopyIn), or atomic
//     stores under the race detector so that -race on a heap segment sees
//     no false positives.
//
// Cross-process ordering rests on the hardware: sync/atomic compiles to
// plain locked instructions on amd64 (LOCK CMPXCHG, XCHG) and to
// LDAR/STLR/LSE atomics on arm64, which order accesses to any mapped
// address, whichever process made them. The Go memory model only covers
// goroutines of one program; this package assumes the hardware model.
package atomicx
