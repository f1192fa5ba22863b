// Package array shares typed, fixed-shape arrays between processes
// through files in /dev/shm that are also valid .npy files: numpy maps the
// same memory with numpy.load(path, mmap_mode="r+").
//
// # Names and files
//
// A name without a slash is the file /dev/shm/NAME.npy; a name with a
// slash is a path used as given (end it in .npy). Files are created
// atomically (a temp file linked under the name when complete) and opened
// with the same trust rules as tables: by default only this user's files
// with mode 0600; Options.Group shares them through a group (0660).
//
// # Terminology
//
//   - element: one number of type T (Element), little-endian.
//   - live data: the .npy data region, the elements of Slice, Load, Store,
//     Add and CompareAndSwap, and what numpy sees.
//   - trailer: shmdict's 4096 bytes after the data (numpy ignores bytes
//     past the data), describing the file and holding the published word
//     and the writer lease; then three snapshot buffers.
//   - snapshot: a consistent copy of the whole array published with
//     Publish and read with Snapshot, kept in the snapshot buffers, apart
//     from the live data.
//
// The layout is specified in layout.go and docs/FORMAT.md ("Array files").
//
// # Invariants
//
//   - The .npy header (format 1.0) describes exactly the trailer's element
//     size, data offset and count; its length is a multiple of 64, so the
//     data and every buffer are 64-byte aligned. Nothing read from a file
//     is trusted before the header, trailer checksum and file size agree.
//   - The published word names a buffer holding a complete snapshot of its
//     version, always: a writer fills another buffer and publishes it with
//     one CAS, so a writer killed at any moment leaves the last published
//     snapshot intact and readable. Readers never wait.
//   - At most one live process holds the writer lease; a gone holder's
//     lease is taken over (proc_linux.go tells a reused pid apart by its
//     start time).
//
// # Atomicity
//
// Load, Store, Add and CompareAndSwap are atomic per element, from any
// number of goroutines and processes. 8- and 16-bit elements are updated
// with a compare-and-swap on the aligned 32-bit word holding them, so they
// never disturb their neighbours. Slice gives plain memory access: numpy
// and Slice writers are not atomic with respect to each other beyond what
// the hardware gives aligned words.
//
// An Array must not be used after Close: Load and the others panic, and
// slices from Slice point at unmapped memory (an access faults and kills
// the process, as it would with any unmapped memory).
package array
