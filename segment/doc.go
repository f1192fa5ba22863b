// Package segment owns the file that holds a table: naming, atomic create,
// validated attach, mapping, the header, the process registry and
// liveness, fault handling, and a Go-heap backend for tests.
//
// Terminology:
//   - segment: one file (in /dev/shm or anywhere on a local file system)
//     mapped MAP_SHARED by every process that uses the table.
//   - header: the first 256 bytes, written once at create, bytes [0,184)
//     protected by a checksum; everything a process needs to find the
//     other regions.
//   - control region: mutable shared state (claimed slots, arena bump
//     pointer, Len stripes, free-list heads, wake word and doorbells, ring
//     tail, load leases, the replaced mark), each hot word on a cache line
//     of its own.
//   - format version: 1 for a segment without eviction, 3 for one with
//     eviction (FlagEvictCLOCK); every other version, 2 included, is
//     ErrVersion.
//   - registry: one 64-byte entry per attached process (pid, incarnation,
//     attach time), owned through an OFD byte-range lock that the kernel
//     drops when the process dies.
//
// Invariants:
//   - A segment file becomes visible under its final name only once it is
//     fully initialized (temp file, fallocate, init, checksum, link).
//   - Nothing is trusted before the header validates: magic, version, byte
//     order, layout arithmetic, checksum, and file size.
//   - layout.go is the single source of every offset and size; docs/FORMAT.md
//     mirrors it and layout_test.go pins it.
//   - Every open of an existing name goes through openName
//     (O_NOFOLLOW|O_NONBLOCK, then fstat: regular files only), and nothing
//     is read from, locked on or mapped from a file before checkOwner
//     accepted it (Access: files of this effective uid, root included,
//     that are 0600, or the named group's files that are exactly 0660; a
//     world-writable file is ErrInvalid). Create makes only 0600 or, with
//     a group, 0660: a mode that gives read without write would let a
//     reader lock the owner out.
//   - A file's mtime is its last use: create, attach and close set it.
//   - unsafe appears only in mmap_linux.go (building a slice over a mapping).
package segment
