package table

import (
	"github.com/shmdict/shmdict/arena"
)

// Failpoint names, one per step of a write protocol at which a crash
// leaves a distinct state (segment.Failpoint is the mechanism). Crash
// tests iterate over failpoints; the tests see them through
// export_test.go.
const (
	fpClaimReserved   = "claim.reserved"   // claim-budget unit taken, nothing written
	fpClaimKeyWritten = "claim.keyWritten" // key record written, key word not yet set
	fpClaimPublished  = "claim.published"  // key word set, value word still absent
	fpValueWritten    = "value.written"    // new value record written, not yet published
	fpValuePublished  = "value.published"  // value word swapped, old record not yet freed, Len not yet counted
	fpDeletePublished = "delete.published" // value word emptied, record not freed, Len not yet counted
	fpAddPublished    = "add.published"    // counter swapped in, Len not yet counted

	// Striped adders.
	fpAdderPublished = "adder.published" // adder word swapped in, Len not yet counted
	fpAdderAdded     = "adder.added"     // lane cell added to, waiters not yet woken

	// Growing segments only (tiers.go).
	fpTierReserved = "tier.reserved" // the next tier's pages reserved, OffTiers not yet raised
	fpTierGrown    = "tier.grown"    // OffTiers raised, the claim that grew it not yet retried
	fpTierSealed   = "tier.sealed"   // an absent word in a closed tier sealed, the key not yet claimed anew

	// Eviction segments only (slot reuse).
	fpClaimPending    = "claim.pending"    // slot taken as PENDING(key), path not yet checked
	fpRetirePublished = "retire.published" // slot retired (dead), records not freed, counters not updated
)

// failpoints lists every failpoint a write reaches in any table: the
// table's own, then the arena's (arena.Failpoints).
var failpoints = append([]string{
	fpClaimReserved, fpClaimKeyWritten, fpClaimPublished, fpValueWritten, fpValuePublished,
	fpDeletePublished, fpAddPublished,
}, arena.Failpoints...)

// reuseFailpoints lists the failpoints only segments with eviction reach.
var reuseFailpoints = []string{fpClaimPending, fpRetirePublished}

// tierFailpoints lists the failpoints only growing segments reach.
var tierFailpoints = []string{fpTierReserved, fpTierGrown, fpTierSealed}

// adderFailpoints lists the failpoints of striped adders (adder.go).
var adderFailpoints = []string{fpAdderPublished, fpAdderAdded}
