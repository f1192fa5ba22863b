package bench

import (
	"fmt"
	"sort"
)

// A Peer is a way to share a key-value table that the harness measures.
// The parent process calls Setup once per cell and Teardown after it;
// every worker (a process, or a goroutine for in-process peers) calls
// Open and uses its own Client.
type Peer interface {
	// Name is the peer's name in reports.
	Name() string
	// InProcess reports whether workers must be goroutines of the parent
	// (the table lives in its heap) rather than processes.
	InProcess() bool
	// MaxWorkers bounds the workers of a cell (0: no bound), for a peer
	// that one process must own.
	MaxWorkers() int
	// Available says why the peer cannot run here, or "" if it can.
	Available() string
	// Setup creates an empty store for c and returns its Target (what
	// workers need to find it).
	Setup(c Cell) (target string, err error)
	// Open connects a worker to the store of c.Target.
	Open(c Cell) (Client, error)
	// Teardown removes the store of c.
	Teardown(c Cell) error
}

// A Client is one worker's handle on a peer.
type Client interface {
	// Get appends key's value to dst; ok is false if the key is absent.
	Get(dst, key []byte) (v []byte, ok bool, err error)
	Set(key, value []byte) error
	// Incr adds delta to the counter at key and returns the new value.
	Incr(key []byte, delta int64) (int64, error)
	Close() error
}

// A Loader is a Client that can store many keys in one call. The harness
// uses it for the preload, which is not measured, where a store with a
// batched write (one transaction, one pipeline) fills a million keys in
// seconds rather than minutes; clients without it get one Set per key.
// Batched operations that are measured (a get-batch32 workload on a
// table's GetMany) would follow the same pattern: an optional interface
// here, a step in work.go that uses it or falls back to single calls.
type Loader interface {
	// Load stores values[i] at keys[i] for every i; it may keep neither
	// slice nor their contents after it returns.
	Load(keys, values [][]byte) error
}

// An AdderClient is a Client with handles on counters: a handle adds to
// its counter with no key lookup, and for shmdict it is a striped adder
// (Table.Adder), which adds on a cache line of the calling process's own.
// The counters-adder workloads use it (workload.go says what a peer
// without it runs).
type AdderClient interface {
	// Adder returns a handle on the counter at key, making key a counter
	// at 0 if it is absent.
	Adder(key []byte) (Adder, error)
}

// An Adder is a handle on one counter (AdderClient).
type Adder interface {
	Add(delta int64) error
	// Sum is the counter's value: every Add that returned before it.
	Sum() (int64, error)
}

// keyAdder is the handle of a client without handles: the key, added to
// with Incr.
type keyAdder struct {
	cl  Client
	key []byte
}

func (a keyAdder) Add(delta int64) error {
	_, err := a.cl.Incr(a.key, delta)
	return err
}

func (a keyAdder) Sum() (int64, error) { return a.cl.Incr(a.key, 0) }

// adderOf returns a handle on key: cl's own if it is an AdderClient,
// else a keyAdder.
func adderOf(cl Client, key []byte) (Adder, error) {
	if ac, ok := cl.(AdderClient); ok {
		return ac.Adder(key)
	}
	return keyAdder{cl, append([]byte(nil), key...)}, nil
}

var peers = map[string]func() Peer{}

// register makes a peer known by name, for the parent and for workers.
func register(name string, f func() Peer) { peers[name] = f }

// PeerNames lists the known peers, shmdict first.
func PeerNames() []string {
	var names []string
	for n := range peers {
		if n != "shmdict" {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return append([]string{"shmdict"}, names...)
}

// NewPeer returns the peer called name.
func NewPeer(name string) (Peer, error) {
	f, ok := peers[name]
	if !ok {
		return nil, fmt.Errorf("bench: no peer %q (known: %v)", name, PeerNames())
	}
	return f(), nil
}
