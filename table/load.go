package table

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/shmdict/shmdict/segment"
)

// Load leases: 128 words in the control region, chosen by key hash, that
// let exactly one process load a missing value while the others wait
// (the cache-stampede problem):
//
//	bits 63..48  owner: registry entry of the loading process (0xFFFF: unknown)
//	bits 47..42  the owner entry's incarnation when the lease was taken, mod 64
//	bits 41..0   deadline, Unix milliseconds (saturated at 2^42-1, in 2109)
//
// A lease is taken by CAS from 0 (or from a stale lease) and given back by
// CAS to 0. It is stale once its deadline passed, or its owner is gone: the
// owner's registry entry is dead (the kernel dropped its OFD lock), or a
// later process took the entry (its incarnation moved on). So a loader
// killed mid-load delays the others by a liveness probe, not by the whole
// lease, even when a new process reuses its entry at once. Six bits of
// incarnation fail only if the entry changed hands a multiple of 64 times
// during one lease; the deadline still ends such a lease.
const (
	leaseOwnerShift = 48
	leaseNoOwner    = 0xFFFF
	leaseIncShift   = 42
	leaseIncMask    = 1<<(leaseOwnerShift-leaseIncShift) - 1
	leaseDeadline   = 1<<leaseIncShift - 1
	// leaseRecheck bounds how long a waiter sleeps before re-checking the
	// lease (a dead loader rings no doorbell).
	leaseRecheck = 50 * time.Millisecond
)

func leaseOff(h uint64) uint64 { return segment.OffLeases + (h>>20)%segment.Leases*8 }

// GetOrLoad returns key's value. If the key is absent, exactly one caller
// among all processes runs load and stores what it returns; the others
// wait for that value (or for ctx). lease bounds how long a load may take
// before other callers may start their own; a loader whose process dies is
// taken over at once. If load fails, its caller gets the error and a
// waiting caller becomes the next loader.
func (t *Table) GetOrLoad(ctx context.Context, key []byte, lease time.Duration, load func() ([]byte, error)) ([]byte, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	if lease <= 0 {
		return nil, fmt.Errorf("%w: GetOrLoad needs a positive lease (got %v)", ErrInvalid, lease)
	}
	h := hash64(key, t.seed)
	lw := leaseOff(h)
	owner := uint64(leaseNoOwner) << leaseOwnerShift
	if e := t.seg.Entry(); e >= 0 && e < leaseNoOwner {
		var inc uint32
		if err := t.guarded(func() { inc = t.seg.EntryIncarnation(e) }); err != nil {
			return nil, err
		}
		owner = uint64(e)<<leaseOwnerShift | uint64(inc)&leaseIncMask<<leaseIncShift
	}
	for {
		v, ver, err := t.Lookup(key)
		if err == nil {
			return v, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return nil, err
		}
		var cur uint64
		var stale bool
		now := time.Now()
		if err := t.guarded(func() {
			cur = t.mem.Load64(lw)
			stale = cur == 0 || t.leaseStale(cur, now)
		}); err != nil {
			return nil, err
		}
		if stale {
			mine := owner | leaseDeadlineAfter(now, lease)
			var took bool
			if err := t.guarded(func() { took = t.mem.CAS64(lw, cur, mine) }); err != nil {
				return nil, err
			}
			if took {
				return t.loadUnderLease(key, h, lw, mine, load)
			}
			continue
		}
		// Someone else loads: wait for the key to change, but look at the
		// lease again now and then (a dead loader rings no doorbell).
		wctx, cancel := context.WithTimeout(ctx, leaseRecheck)
		_, err = t.Wait(wctx, key, ver)
		cancel()
		if err != nil && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return nil, err
		}
	}
}

// loadUnderLease runs load while holding lease word lw (value mine).
func (t *Table) loadUnderLease(key []byte, h, lw, mine uint64, load func() ([]byte, error)) (v []byte, err error) {
	defer func() {
		t.guarded(func() {
			t.mem.CAS64(lw, mine, 0)
			// Wake the waiters even if nothing was stored (a failed load):
			// one of them becomes the next loader.
			t.ringIfWaited(doorbellOff(h))
		})
	}()
	// The value may have been stored between our lookup and the lease.
	if v, err := t.Get(key); err == nil {
		return v, nil
	}
	v, err = load()
	if err != nil {
		return nil, err
	}
	if _, _, err := t.GetOrSet(key, v); err != nil {
		return nil, err
	}
	return v, nil
}

// leaseDeadlineAfter is the deadline field of a lease of d taken at now,
// saturated at the largest the field holds (a huge d must not wrap into
// the past, which would make the lease stale at once).
func leaseDeadlineAfter(now time.Time, d time.Duration) uint64 {
	ms := max(now.UnixMilli(), 0)
	if d.Milliseconds() >= leaseDeadline-ms {
		return leaseDeadline
	}
	// At most leaseDeadline; at least 0 even for a clock before 1970, so
	// that the deadline never spills into the owner bits.
	return uint64(max(now.Add(d).UnixMilli(), 0))
}

// leaseStale reports whether lease word w may be taken over. It reads the
// registry: call it where faults are guarded.
func (t *Table) leaseStale(w uint64, now time.Time) bool {
	if int64(w&leaseDeadline) <= now.UnixMilli() {
		return true
	}
	owner := int(w >> leaseOwnerShift)
	if owner == leaseNoOwner {
		return false
	}
	// Liveness first: if the owner's lock is held now and the incarnation
	// read after it is the lease's, the owner was alive at the probe (a
	// new holder bumps the incarnation right after taking the lock).
	if !t.seg.EntryAlive(owner) {
		return true
	}
	return uint64(t.seg.EntryIncarnation(owner))&leaseIncMask != w>>leaseIncShift&leaseIncMask
}
