package main

import (
	"path/filepath"
	"time"

	"github.com/shmdict/shmdict/table"
)

// The CLI's JSON style, for every --json output: snake_case keys, enums
// as strings, times in RFC 3339, and [] (never null) for an empty list,
// so that scripts need no special cases.

// statsOut is 'stats --json'.
type statsOut struct {
	Name          string `json:"name"`
	Path          string `json:"path"`
	FormatVersion int    `json:"format_version"`
	Created       string `json:"created"`
	Capacity      int    `json:"capacity"` // of the tiers in use
	Slots         int    `json:"slots"`
	// Growth: the most keys the table can grow to and its tiers in use
	// and in all (capacity, 1 and 1 for a fixed table).
	MaxCapacity  int     `json:"max_capacity"`
	Tiers        int     `json:"tiers"`
	MaxTiers     int     `json:"max_tiers"`
	Keys         int     `json:"keys"`
	ClaimedSlots int     `json:"claimed_slots"`
	Tombstones   int     `json:"tombstones"`
	FillPercent  float64 `json:"fill_percent"`
	ArenaBytes   int64   `json:"arena_bytes"`
	ArenaUsed    int64   `json:"arena_used"`
	ArenaFree    int64   `json:"arena_free"`
	FileBytes    int64   `json:"file_bytes"`
	MemoryBytes  int64   `json:"memory_bytes"`
	Expired      int64   `json:"expired"`
	Evicted      int64   `json:"evicted"`
	Eviction     string  `json:"eviction"` // "none" or "clock"
	Replaced     bool    `json:"replaced"` // a forced compact put a new table under the name
	// Striped adders: lanes (0 in a table that evicts) and those processes
	// added through; indices the table can hand out before a compact and
	// those it did.
	AdderLanes       int          `json:"adder_lanes"`
	LanesUsed        int          `json:"lanes_used"`
	AdderIndices     int64        `json:"adder_indices"`
	AdderIndicesUsed int64        `json:"adder_indices_used"`
	Processes        []processOut `json:"processes"`
}

type processOut struct {
	PID   int    `json:"pid"`
	Since string `json:"since"`
}

func statsJSON(st table.Stats) statsOut {
	out := statsOut{
		Name: st.Name, Path: st.Path, FormatVersion: st.FormatVersion,
		Created: st.Created.UTC().Format(time.RFC3339Nano), Capacity: st.Capacity, Slots: st.Slots,
		MaxCapacity: st.MaxCapacity, Tiers: st.Tiers, MaxTiers: st.MaxTiers,
		Keys: st.Keys, ClaimedSlots: st.ClaimedSlots, Tombstones: st.Tombstones,
		ArenaBytes: st.ArenaBytes, ArenaUsed: st.ArenaUsed, ArenaFree: st.ArenaFree,
		FileBytes: st.FileBytes, MemoryBytes: st.MemoryBytes, Expired: st.Expired, Evicted: st.Evicted,
		Eviction: policyName(st.Eviction), Replaced: st.Replaced,
		AdderLanes: st.AdderLanes, LanesUsed: st.LanesUsed, AdderIndices: st.AdderIndices, AdderIndicesUsed: st.AdderIndicesUsed,
		Processes: []processOut{},
	}
	if st.Capacity > 0 {
		out.FillPercent = float64(st.ClaimedSlots) * 100 / float64(st.Capacity)
	}
	for _, p := range st.Processes {
		out.Processes = append(out.Processes, processOut{PID: p.PID, Since: p.Since.UTC().Format(time.RFC3339Nano)})
	}
	return out
}

// lsOut is one line of 'ls --json'. State is one of a fixed set of
// words, so that scripts can compare it; what the text output says in
// words is in separate fields (CrashedProcesses, Error).
type lsOut struct {
	Name  string `json:"name"`
	Path  string `json:"path"`
	Bytes int64  `json:"bytes"`
	// MemoryBytes is the file's allocated part (the rest is sparse).
	MemoryBytes int64 `json:"memory_bytes"`
	Keys        int64 `json:"keys"`
	// Capacity is the keys a fixed table holds. ls does not attach, and
	// the tiers a growing table has in use are not in what it reads, so
	// for a growing table (Grows) Capacity is the most keys it can grow
	// to (stats' max_capacity), and Fill is Keys over it rather than
	// claimed slots over capacity.
	Capacity uint64  `json:"capacity"`
	Grows    bool    `json:"grows"`
	Fill     float64 `json:"fill_percent"`
	Procs    int     `json:"processes"`
	// State: "ok" (live processes have it open), "unused" (no live
	// process), "orphan" (a temp file whose creator died), "temp_in_use"
	// (a create or compaction at work), or "unusable" (not a usable
	// segment: Error says why).
	State string `json:"state"`
	// CrashedProcesses counts processes that died with the table open:
	// its last use may be later than LastUse says.
	CrashedProcesses int    `json:"crashed_processes"`
	Error            string `json:"error,omitempty"`
	LastUse          string `json:"last_use"`
}

// The words of lsOut.State.
const (
	stateOK        = "ok"
	stateUnused    = "unused"
	stateOrphan    = "orphan"
	stateTempInUse = "temp_in_use"
	stateUnusable  = "unusable"
)

func lsJSON(in table.SegmentInfo) lsOut {
	out := lsOut{Name: filepath.Base(in.Path), Path: in.Path, Bytes: in.Size, MemoryBytes: in.Allocated, Keys: in.Keys,
		Capacity: in.Layout.ClaimBudget, Procs: len(in.Live), State: stateOK,
		CrashedProcesses: in.Crashed, LastUse: in.Modified.UTC().Format(time.RFC3339)}
	if l := in.Layout; l.Grows() {
		// The budget of all its tiers (tier i's is ClaimBudget<<i); the
		// claimed-slot counter in.Claimed is only the first tier's.
		out.Grows, out.Capacity = true, l.ClaimBudget*(1<<l.TierCount()-1)
	}
	switch {
	case out.Capacity > 0 && out.Grows:
		out.Fill = float64(max(in.Keys, 0)) * 100 / float64(out.Capacity)
	case out.Capacity > 0:
		out.Fill = float64(in.Claimed) * 100 / float64(out.Capacity)
	}
	switch {
	case in.Orphan():
		out.State = stateOrphan
	case in.Temp:
		out.State = stateTempInUse
	case in.Err != nil:
		out.State, out.Error = stateUnusable, oneLine(in.Err)
	case in.Unused():
		out.State = stateUnused
	}
	return out
}

// lsText is the STATE column of 'ls': the state in words.
func lsText(r lsOut) string {
	switch r.State {
	case stateTempInUse:
		return "temp (in use)"
	case stateUnusable:
		return r.Error
	case stateUnused:
		if r.CrashedProcesses > 0 {
			return "unused (" + crashedNote(r.CrashedProcesses) + ")"
		}
	}
	return r.State
}
