// Package arena is the allocator over a segment's arena region: a bump
// pointer plus size-class free lists, with all of its state inside the
// segment so that any process can free what another allocated and a
// crash loses at most the blocks the dead process held privately.
//
// Terminology:
//   - unit: 16 bytes; a block's position is its unit index from the
//     arena's start (unit 0 is never allocated, so 0 means nil).
//   - block: a run of units of one size class. A live block holds a
//     record: one header word, an optional prefix padded to 8 bytes, then
//     the payload. A free block holds a free header then the unit index of
//     the next free block of its list.
//   - class: one of NumClasses block sizes, 16 B to 16 MiB, about 4 per
//     power of two so that rounding wastes at most 25%.
//   - shard: one of segment.FreeShards sets of free-list heads; callers
//     pick a shard per key so that processes working on different keys
//     touch different lines.
//
// Invariants:
//   - A block is on at most one free list; a live block is referenced by
//     at most one published word; the bump pointer never passes the end.
//   - Free-list heads are tagged [tag:32|unit:32] and every push or pop
//     bumps the tag, so a pop that read a stale next pointer fails its CAS
//     (the ABA problem).
//   - Every unit index and header read from the segment is range-checked
//     before it is used; bad ones give segment.ErrCorrupt, never a panic.
package arena
