package table

import (
	"encoding/binary"
	"fmt"
	"math/bits"

	"github.com/shmdict/shmdict/atomicx"
	"github.com/shmdict/shmdict/segment"
)

// errNoAdders is the error of an adder operation on a table that evicts.
func (t *Table) errNoAdders() error {
	return fmt.Errorf("%w: table %s evicts keys (Options.Eviction), and a striped adder needs a slot that keeps its key; use Add or Counter in it, or create a table without eviction", ErrInvalid, t.name)
}

// newAdderIndex hands out an adder index. A process killed after this
// leaves the index unused until Compact: nothing else is lost.
func (t *Table) newAdderIndex() (uint64, error) {
	l := &t.seg.Layout
	i := t.mem.Add64(segment.OffAdderNext, 1) - 1
	if i >= l.Adders {
		return 0, fmt.Errorf("%w: all %d adder indices of %s are taken (every key made an adder takes one, again after each Delete, until Compact renumbers the live ones); compact the table, or create it with a larger Capacity", ErrFull, l.Adders, t.name)
	}
	return i, nil
}

// myLanes returns this process's lane state.
func (t *Table) myLanes() *lanes {
	ln := &t.lanes
	ln.once.Do(func() {
		l := t.seg.Layout
		if e := t.seg.Entry(); e >= 0 {
			ln.lane = uint32(e) % l.Lanes
		}
		ln.pages = make([]atomicx.Bits, (l.LaneBytes/segment.PageAlign+63)/64)
	})
	return ln
}

// cellOff is the offset of adder index i's cell in lane lane.
func (t *Table) cellOff(lane uint32, i uint64) uint64 {
	return t.laneOff + uint64(lane)*t.laneLen + i*8
}

// errBadIndex reports an adder word whose index is past the lanes.
func (t *Table) errBadIndex(i uint64) error {
	return fmt.Errorf("%w: adder index %d is past the table's %d (%s)", ErrCorrupt, i, t.adders, t.name)
}

// laneCell returns this process's cell of adder index i, its lane marked
// in use and the cell's page allocated. It runs under a fault guard.
func (t *Table) laneCell(i uint64) (atomicx.Word, error) {
	if i >= t.adders {
		return atomicx.Word{}, t.errBadIndex(i)
	}
	ln := t.myLanes()
	off := t.cellOff(ln.lane, i)
	p := i * 8 / segment.PageAlign
	if ln.pages[p/64].Load()&(1<<(p%64)) == 0 {
		if err := t.seg.Reserve(off&^(segment.PageAlign-1), segment.PageAlign); err != nil {
			return atomicx.Word{}, err
		}
		ln.pages[p/64].Or(1 << (p % 64))
	}
	if !ln.marked.IsSet() {
		bit := uint64(1) << ln.lane
		for {
			m := t.mem.Load64(segment.OffLanesUsed)
			if m&bit != 0 || t.mem.CAS64(segment.OffLanesUsed, m, m|bit) {
				break
			}
		}
		ln.marked.Set()
	}
	return t.mem.Word(off), nil
}

// sumAt returns the sum of adder index i over the lanes in use. It runs
// under a fault guard (a lane page no process allocated reads as zeros,
// or faults on a full file system).
func (t *Table) sumAt(i uint64) (int64, error) {
	if i >= t.adders {
		return 0, t.errBadIndex(i)
	}
	return t.sumLanes(t.mem.Load64(segment.OffLanesUsed)&t.laneMask, i), nil
}

// sumLanes is the sum of index i (checked) over the lanes in used.
func (t *Table) sumLanes(used, i uint64) int64 {
	var n int64
	for used != 0 {
		lane := uint32(bits.TrailingZeros64(used))
		used &= used - 1
		n += int64(t.mem.Load64(t.cellOff(lane, i)))
	}
	return n
}

// adderBytes is an adder's sum as Get returns it.
func adderBytes(dst []byte, n int64) []byte { return binary.LittleEndian.AppendUint64(dst, uint64(n)) }
