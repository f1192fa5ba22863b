package segment

// Failpoint names, one per step of a write protocol at which a crash
// leaves a distinct state. Crash tests iterate over Failpoints.
const (
	FPClaimReserved   = "claim.reserved"   // claim-budget unit taken, nothing written
	FPClaimKeyWritten = "claim.keyWritten" // key record written, key word not yet set
	FPClaimPublished  = "claim.published"  // key word set, value word still absent
	FPValueWritten    = "value.written"    // new value record written, not yet published
	FPValuePublished  = "value.published"  // value word swapped, old record not yet freed, Len not yet counted
	FPDeletePublished = "delete.published" // value word emptied, record not freed, Len not yet counted
	FPAddPublished    = "add.published"    // counter swapped in, Len not yet counted
	FPArenaBumped     = "arena.bumped"     // bump pointer advanced, block not yet stamped
	FPArenaPopped     = "arena.popped"     // block popped, free-byte counter not yet updated
	FPArenaFreeMarked = "arena.freeMarked" // block's header marked free, not yet pushed
	FPArenaPushed     = "arena.pushed"     // block pushed, free-byte counter not yet updated

	// Striped adders.
	FPAdderPublished = "adder.published" // adder word swapped in, Len not yet counted
	FPAdderAdded     = "adder.added"     // lane cell added to, waiters not yet woken

	// Eviction segments only (slot reuse).
	FPClaimPending    = "claim.pending"    // slot taken as PENDING(key), path not yet checked
	FPRetirePublished = "retire.published" // slot retired (dead), records not freed, counters not updated
)

// Failpoints lists every failpoint name.
var Failpoints = []string{
	FPClaimReserved, FPClaimKeyWritten, FPClaimPublished, FPValueWritten, FPValuePublished,
	FPDeletePublished, FPAddPublished, FPArenaBumped, FPArenaPopped, FPArenaFreeMarked, FPArenaPushed,
}

// ReuseFailpoints lists the failpoints only segments with eviction reach.
var ReuseFailpoints = []string{FPClaimPending, FPRetirePublished}

// AdderFailpoints lists the failpoints of striped adders (table/adder.go).
var AdderFailpoints = []string{FPAdderPublished, FPAdderAdded}
