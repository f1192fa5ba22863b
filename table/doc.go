// Package table is shmdict's public API: a key-value hash table that
// lives in a shared-memory segment and that any number of processes (and
// their goroutines) use at once, with no server and no lock.
//
//	t, err := table.Open("tokens", table.Options{Capacity: 1 << 20})
//	err = t.Set([]byte("k"), []byte("v"))
//	v, err := t.Get([]byte("k"))          // in any process that opened "tokens"
//	n, err := t.Add([]byte("requests"), 1) // an atomic int63 counter
//	err = t.Close()
//	err = table.Remove("tokens")
//
// Terminology:
//   - slot: 16 bytes of the index, a key word and a value word (slot.go).
//     A slot belongs to one key for the life of the segment; deleting the
//     key empties its value word only (a tombstone). Compact reclaims them.
//   - probe group: 4 slots on one cache line; a key's groups are visited in
//     triangular order up to a probe limit (probe.go).
//   - record: an immutable block in the arena holding a key (key record)
//     or a key and a value (value record).
//   - validated read: copy a record with atomic loads, then check that the
//     value word still points at it; retry if not (ops.go).
//
// Invariants:
//   - Every change to a published word is one 64-bit CAS; published
//     records are never modified; so a process killed at any instruction
//     leaves the old word or the new one, never a torn value or a lock.
//   - A key is in at most one slot, on its probe path before any empty slot.
//   - Every offset and length read from the segment is bounds-checked before
//     use, and memory faults (a truncated file, a Close under an operation)
//     become ErrFault or ErrClosed, so a corrupt segment never crashes a
//     process.
//   - Verify checks all of the above plus the counters; Repair fixes what
//     a crash can leave (leaked blocks, counter drift).
package table
