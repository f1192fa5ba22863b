package table

import "github.com/shmdict/shmdict/segment"

// probeSeq is the probe path of a key hash, group by group: its home
// group, then the group 1 further on, then 2 further than that, and so on
// (the home group plus the triangular numbers dist(dist+1)/2, mod the
// group count). Lookups, claims, Verify and the eviction scans all walk
// it, so that they agree on where a key can be.
//
// It visits every group: the group count is a power of two, 2^k, and the
// triangular numbers d(d+1)/2 for d in [0, 2^k) are distinct mod 2^k. If
// d(d+1)/2 and e(e+1)/2 were equal mod 2^k, then (d-e)(d+e+1) would be 0
// mod 2^(k+1); one of the two factors is odd, so the other would be a
// multiple of 2^(k+1), which neither is (0 < d-e < 2^k, 0 < d+e+1 <
// 2^(k+1)). So the first 2^k groups of the path are all the groups.
type probeSeq struct {
	mask uint64 // group count - 1
	g    uint64 // the current group
	dist uint64 // how many groups were passed to reach it
}

// probeSeq returns the probe path of key hash h, at its home group.
func (t *Table) probeSeq(h uint64) probeSeq {
	return probeSeq{mask: t.groups - 1, g: h & (t.groups - 1)}
}

// base is the first slot of the current group.
func (p *probeSeq) base() uint64 { return p.g * segment.GroupSlots }

// next moves to the next group of the path.
func (p *probeSeq) next() {
	p.dist++
	p.g = (p.g + p.dist) & p.mask
}
