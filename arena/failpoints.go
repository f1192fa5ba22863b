package arena

// Failpoint names of the arena's protocols, one per step at which a crash
// leaves a distinct state (segment.Failpoint is the mechanism). The
// table's crash tests reach them through its writes.
const (
	FPBumped     = "arena.bumped"     // bump pointer advanced, block not yet stamped
	FPPopped     = "arena.popped"     // block popped, free-byte counter not yet updated
	FPFreeMarked = "arena.freeMarked" // block's header marked free, not yet pushed
	FPPushed     = "arena.pushed"     // block pushed, free-byte counter not yet updated
)

// Failpoints lists every arena failpoint name.
var Failpoints = []string{FPBumped, FPPopped, FPFreeMarked, FPPushed}
