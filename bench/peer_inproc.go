package bench

import (
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
)

// In-process peers: the ceilings of what a Go program gets without
// sharing between processes. Their workers are goroutines of the harness.

func init() {
	register("map+RWMutex", func() Peer { return &mapPeer{} })
	register("sync.Map", func() Peer { return &syncMapPeer{} })
}

type mapPeer struct {
	mu sync.RWMutex
	m  map[string][]byte
	c  map[string]*atomic.Int64
}

func (*mapPeer) Name() string      { return "map+RWMutex" }
func (*mapPeer) InProcess() bool   { return true }
func (*mapPeer) MaxWorkers() int   { return 0 }
func (*mapPeer) Available() string { return "" }

func (p *mapPeer) Setup(c Cell) (string, error) {
	p.m = make(map[string][]byte, c.Keys)
	p.c = map[string]*atomic.Int64{}
	return "heap", nil
}

func (p *mapPeer) Open(Cell) (Client, error) { return p, nil }

func (p *mapPeer) Teardown(Cell) error {
	p.m, p.c = nil, nil
	return nil
}

func (p *mapPeer) Get(dst, key []byte) ([]byte, bool, error) {
	p.mu.RLock()
	v, ok := p.m[string(key)]
	dst = append(dst, v...)
	p.mu.RUnlock()
	return dst, ok, nil
}

func (p *mapPeer) Set(key, value []byte) error {
	p.mu.Lock()
	// Copy in, reusing the old value's storage: readers copy out under
	// RLock, so this is safe and allocates only for new keys.
	p.m[string(key)] = append(p.m[string(key)][:0], value...)
	p.mu.Unlock()
	return nil
}

// Incr: the counter is an atomic behind the read lock once it exists, the
// fastest correct form with this peer.
func (p *mapPeer) Incr(key []byte, delta int64) (int64, error) {
	p.mu.RLock()
	c := p.c[string(key)]
	p.mu.RUnlock()
	if c == nil {
		p.mu.Lock()
		if c = p.c[string(key)]; c == nil {
			c = new(atomic.Int64)
			p.c[string(key)] = c
		}
		p.mu.Unlock()
	}
	return c.Add(delta), nil
}

// Adder: the counter's *atomic.Int64, looked up once.
func (p *mapPeer) Adder(key []byte) (Adder, error) {
	if _, err := p.Incr(key, 0); err != nil { // make it
		return nil, err
	}
	p.mu.RLock()
	c := p.c[string(key)]
	p.mu.RUnlock()
	return atomicAdder{c}, nil
}

func (p *mapPeer) Close() error { return nil }

// atomicAdder is an in-process peer's handle: the counter itself.
type atomicAdder struct{ n *atomic.Int64 }

func (a atomicAdder) Add(delta int64) error {
	a.n.Add(delta)
	return nil
}

func (a atomicAdder) Sum() (int64, error) { return a.n.Load(), nil }

type syncMapPeer struct{ m *sync.Map }

func (*syncMapPeer) Name() string      { return "sync.Map" }
func (*syncMapPeer) InProcess() bool   { return true }
func (*syncMapPeer) MaxWorkers() int   { return 0 }
func (*syncMapPeer) Available() string { return "" }

func (p *syncMapPeer) Setup(Cell) (string, error) {
	p.m = new(sync.Map)
	return "heap", nil
}

func (p *syncMapPeer) Open(Cell) (Client, error) { return p, nil }

func (p *syncMapPeer) Teardown(Cell) error {
	p.m = nil
	return nil
}

func (p *syncMapPeer) Get(dst, key []byte) ([]byte, bool, error) {
	v, ok := p.m.Load(string(key))
	if !ok {
		return dst, false, nil
	}
	switch x := v.(type) {
	case []byte:
		return append(dst, x...), true, nil
	case *atomic.Int64:
		return strconv.AppendInt(dst, x.Load(), 10), true, nil
	}
	return dst, false, nil
}

// Set stores a fresh copy: values in a sync.Map are immutable once stored.
func (p *syncMapPeer) Set(key, value []byte) error {
	p.m.Store(string(key), append([]byte(nil), value...))
	return nil
}

func (p *syncMapPeer) Incr(key []byte, delta int64) (int64, error) {
	v, ok := p.m.Load(string(key))
	if !ok {
		v, _ = p.m.LoadOrStore(string(key), new(atomic.Int64))
	}
	return v.(*atomic.Int64).Add(delta), nil
}

// Adder: the counter's *atomic.Int64, looked up once: the sync.Map of
// *atomic.Int64 a Go program would keep for counters, at its fastest.
func (p *syncMapPeer) Adder(key []byte) (Adder, error) {
	v, _ := p.m.LoadOrStore(string(key), new(atomic.Int64))
	n, ok := v.(*atomic.Int64)
	if !ok {
		return nil, fmt.Errorf("sync.Map: %q holds a value, not a counter", key)
	}
	return atomicAdder{n}, nil
}

func (p *syncMapPeer) Close() error { return nil }
