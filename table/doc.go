// Package table is shmdict's public API: a key-value hash table that
// lives in a shared-memory segment and that any number of processes (and
// their goroutines) use at once, with no server and no lock.
//
//	t, err := table.Open("tokens", table.Options{Capacity: 1 << 20})
//	if err != nil {
//		return err
//	}
//	defer t.Close()
//	err = t.Set([]byte("k"), []byte("v"))
//	v, err := t.Get([]byte("k"))           // in any process that opened "tokens"
//	n, err := t.Add([]byte("requests"), 1) // an atomic int63 counter
//	a, err := t.Adder([]byte("hits"))      // a striped counter for hot loops
//	err = a.Add(1)                         // on this process's own cache line
//
// # Opening and closing
//
// Open attaches to the table called name, or creates it with Options if
// it does not exist (of processes racing to Open a new name, exactly one
// creates it). For a table that exists its own layout wins and Open
// ignores Options. Create only creates (ErrExist if the name is taken);
// Attach only attaches (ErrNotExist if there is none). A name without a
// slash lives in /dev/shm; a name with a slash is a file path. Close
// detaches this process: later calls, and a Wait or Subscribe in flight,
// return ErrClosed. Remove unlinks a name; RemoveUnused only if unused.
//
// # Errors
//
// Every error matches a sentinel with errors.Is, and its message, prefixed
// "shmdict:", says what to do: ErrNotFound, ErrExist, ErrNotExist, ErrFull
// (no slot or no arena space), ErrKeyTooLarge, ErrValueTooLarge,
// ErrNotCounter, ErrRange, ErrCorrupt, ErrVersion, ErrClosed, ErrInvalid,
// ErrNoSpace, ErrFault (the file was truncated), ErrBusy, ErrInUse,
// ErrReplaced (a forced Compact put a new table under the name: Close and
// open it again), ErrNoEvents, ErrEncode and ErrDecode.
//
// # Reading, writing, waiting
//
// Get, Set, Delete, Contains, Add (counters), CompareAndSwap, GetOrSet and
// SetIfAbsent are linearizable per key; SetWithTTL stores a value that
// expires; All, Keys and Entries iterate. Lookup returns a value with its
// Version, and Wait blocks until the key's Version changes. Subscribe
// yields every change to keys with a prefix, in a table created with
// Options.EventRing > 0. Counter is a handle for a hot counter; Adder a
// striped counter that processes increment without sharing a cache line
// (adder.go), which the rest of the API reads as a counter; NewMap a
// typed view through codecs. New makes a table in this process's heap,
// for tests and the race detector.
//
// # Maintenance
//
// Verify checks every invariant; Repair fixes what a crash left (and
// clears a stray replaced mark); Compact rebuilds a table offline,
// optionally larger (the arena grows with the capacity unless
// CompactOptions.ArenaBytes says otherwise). List describes the segments
// in a directory without attaching; RemoveOrphans removes only orphans,
// temp files whose creator died before finishing a create or a
// compaction, never a table; RemoveUnusedFor removes this user's tables
// that no process has open and nobody used for a given time.
//
// # Sharing and permissions
//
// A table's file is trusted only if the effective uid owns it (root
// included) and it is 0600, or, when the caller names a group
// (Options.Group, AttachShared), if that group owns it and it is exactly
// 0660. Other files fail with an error matching os.ErrPermission; a
// world-writable one with ErrInvalid. Mode may only be 0600, or 0660 with
// Group: modes that let anyone read without writing are refused, since a
// reader could lock the table's users out. Names are never followed (no
// symbolic links) and never block (no FIFOs): anything but a regular file
// is ErrInvalid.
//
// # Format versions
//
// A table without eviction is format version 5, or 6 if it grows
// (Options.MaxCapacity: tiers.go); one created with Options.Eviction
// (EvictCLOCK) is version 3. Versions 1 and 4 (the plain
// formats before version 5: version 1 with a separate key record per key,
// version 4 without adder lanes) and version 2 (an earlier eviction
// format) are refused with ErrVersion: dump such a table with the build
// that made it and load the dump. docs/FORMAT.md has the byte layout.
//
// # Internals
//
// A newcomer reads this section, then one file. Where a Get goes:
// read.go (Get, getFast: the first probe group, inline) then, for
// anything else, find.go (the probe walk) and value.go (the validated
// read). Where a write protocol changes: write.go (Set, Delete, CAS,
// GetOrSet), counter.go (Add, Counter), adder.go (Adder), each built on
// claim.go (getting a slot for an absent key), alloc.go (writing the
// record), value.go (published: what follows every publishing CAS) and,
// in a table with eviction, reuse.go. The files are in layers, listed
// bottom up in layers_test.go (TestFileLayers): each uses only those
// below it.
//
// # Slot lifecycle
//
// A slot is 16 bytes, a key word w0 and a value word w1 (bit layouts
// beside the constants in slot.go; format version 5 is the table without
// eviction, version 3 the table with eviction, docs/FORMAT.md has both).
//
// Key word states (bits 63..62):
//
//	00 empty     never claimed: a lookup that meets it stops (the key is absent)
//	01 live      names the key: tag (hash bits) | key record unit
//	10 dead      matches no key
//	11 pending   version 3 only: a claim in flight, not yet a key
//
// Key word transitions, version 5 (no eviction): empty → live, by the
// claim's CAS after its key record is written (claim.go); live → dead only
// by an exclusive Repair. Nothing else: a slot keeps its key for the
// segment's life, so a key word once matched never needs rechecking, and
// Delete leaves it live (a tombstone, reclaimed by Compact).
//
// Key word transitions, version 3 (eviction, reuse.go, claim.go): empty or
// dead → pending (takeSlot, a 16-byte CAS that also sets w1 absent with a
// fresh version); pending → live (promote) or dead (killed by a competing
// claim of the same key, or by the claim itself when it gives way); live
// → dead (retireKey: Delete or eviction, a 16-byte CAS of both words that
// leaves w1 absent). Each claim bumps a 16-bit generation in the key word,
// so a claim's words differ from those of every earlier claim of the slot.
//
// Value word states:
//
//	absent    bit 63 = 0, bit 62 = 0, unit 0: no value; bits 61..32 a version
//	record    bit 63 = 0, unit != 0: a value record (bit 62: it starts with
//	          a deadline), bits 61..32 a version that each change bumps
//	counter   bit 63 = 1: an int63 counter, inline
//	adder     bits 63..62 = 01, unit 0: a striped adder, bits 61..32 its
//	          lane index (versions 5 and 6; lanes.go)
//	sealed    absent with version all ones (version 6 only; tiers.go): a
//	          slot in a tier that is no longer the newest, which a write
//	          sealed instead of giving it a value; it reads as absent and
//	          never changes again
//
// Value word transitions (both versions, each one CAS; in version 3 a
// 16-byte CAS that also checks the key word, casValue): any state → record
// (Set, SetWithTTL, CompareAndSwap, GetOrSet on absent), absent or expired
// record → counter (Add) or → adder (Adder), counter → counter (Add),
// any present state → absent (Delete, CompareAndDelete, Clear, and the
// reclaim of an expired record). A new version follows every change, from
// a random start when leaving a counter or an adder, so a validated read
// never mistakes a new value for the one it began with (ABA). An adder's
// index is never handed out twice, so an adder word never comes back.
//
// Terminology:
//   - probe group: 4 slots on one cache line; a key's groups are visited in
//     triangular order up to a probe limit (index.go, probeSeq).
//   - record: an immutable block in the arena holding a key and a value
//     (value record; the key comes first, as a prefix). A slot's key word
//     names its key record: in version 5 a record whose prefix is the key,
//     usually the key's first value record (keyAt, record.go); in version 3
//     a record of its own holding just the key.
//   - validated read: copy a record (plain loads on amd64, atomic ones on
//     arm64 and under -race), then check that the value word still points
//     at it; retry if not (value.go, readValue).
//
// Invariants:
//   - Every change to a published word is one 64-bit CAS (a 16-byte CAS of
//     both words in eviction tables), or one atomic add to an adder's lane
//     cell; published records are never modified; so a process killed at
//     any instruction leaves the old word or the new one, never a torn
//     value or a lock.
//   - An adder index names one adder for the segment's life (lanes.go).
//   - A key is in at most one slot, on its probe path before any empty slot.
//   - Every offset and length read from the segment is bounds-checked before
//     use, and memory faults (a truncated file, a Close under an operation)
//     become ErrFault or ErrClosed, so a corrupt segment never crashes a
//     process.
//   - Verify checks all of the above plus the counters; Repair fixes what
//     a crash can leave (leaked blocks, counter drift).
package table
