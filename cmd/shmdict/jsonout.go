package main

import (
	"time"

	"github.com/shmdict/shmdict/table"
)

// The CLI's JSON style, for every --json output: snake_case keys, enums
// as strings, times in RFC 3339, and [] (never null) for an empty list,
// so that scripts need no special cases.

// statsOut is 'stats --json'.
type statsOut struct {
	Name          string       `json:"name"`
	Path          string       `json:"path"`
	FormatVersion int          `json:"format_version"`
	Created       string       `json:"created"`
	Capacity      int          `json:"capacity"`
	Slots         int          `json:"slots"`
	Keys          int          `json:"keys"`
	ClaimedSlots  int          `json:"claimed_slots"`
	Tombstones    int          `json:"tombstones"`
	FillPercent   float64      `json:"fill_percent"`
	ArenaBytes    int64        `json:"arena_bytes"`
	ArenaUsed     int64        `json:"arena_used"`
	ArenaFree     int64        `json:"arena_free"`
	FileBytes     int64        `json:"file_bytes"`
	Expired       int64        `json:"expired"`
	Evicted       int64        `json:"evicted"`
	Eviction      string       `json:"eviction"` // "none" or "clock"
	Replaced      bool         `json:"replaced"` // a forced compact put a new table under the name
	Processes     []processOut `json:"processes"`
}

type processOut struct {
	PID   int    `json:"pid"`
	Since string `json:"since"`
}

func statsJSON(st table.Stats) statsOut {
	out := statsOut{
		Name: st.Name, Path: st.Path, FormatVersion: st.FormatVersion,
		Created: st.Created.UTC().Format(time.RFC3339Nano), Capacity: st.Capacity, Slots: st.Slots,
		Keys: st.Keys, ClaimedSlots: st.ClaimedSlots, Tombstones: st.Tombstones,
		ArenaBytes: st.ArenaBytes, ArenaUsed: st.ArenaUsed, ArenaFree: st.ArenaFree,
		FileBytes: st.FileBytes, Expired: st.Expired, Evicted: st.Evicted,
		Eviction: policyName(st.Eviction), Replaced: st.Replaced, Processes: []processOut{},
	}
	if st.Capacity > 0 {
		out.FillPercent = float64(st.ClaimedSlots) * 100 / float64(st.Capacity)
	}
	for _, p := range st.Processes {
		out.Processes = append(out.Processes, processOut{PID: p.PID, Since: p.Since.UTC().Format(time.RFC3339Nano)})
	}
	return out
}
