package atomicx

import "sync/atomic"

// Flag is a process-local boolean that is set once (for example "closed").
// It exists so that packages above this one need not import sync/atomic.
type Flag struct{ v atomic.Bool }

// Set sets the flag and reports whether this call was the one that set it.
func (f *Flag) Set() bool { return f.v.CompareAndSwap(false, true) }

// IsSet reports whether the flag is set.
func (f *Flag) IsSet() bool { return f.v.Load() }

// Counter is a process-local atomic counter (for example a sweep cursor),
// so that packages above this one need not import sync/atomic.
type Counter struct{ v atomic.Uint64 }

// Add adds d and returns the new value.
func (c *Counter) Add(d uint64) uint64 { return c.v.Add(d) }

// Load returns the value.
func (c *Counter) Load() uint64 { return c.v.Load() }

// Store sets the value.
func (c *Counter) Store(v uint64) { c.v.Store(v) }

// Bits is a 64-bit word of flags, set with Or.
type Bits struct{ v atomic.Uint64 }

// Load returns the flags.
func (b *Bits) Load() uint64 { return b.v.Load() }

// Or sets the flags in mask.
func (b *Bits) Or(mask uint64) { b.v.Or(mask) }

// Pointer is an atomic pointer to a T (sync/atomic's Pointer).
type Pointer[T any] struct{ p atomic.Pointer[T] }

// Load returns the pointer.
func (p *Pointer[T]) Load() *T { return p.p.Load() }

// Store sets the pointer.
func (p *Pointer[T]) Store(v *T) { p.p.Store(v) }
