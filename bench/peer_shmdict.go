package bench

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/shmdict/shmdict/table"
)

func init() { register("shmdict", func() Peer { return shmdictPeer{} }) }

// shmdictPeer: a segment in /dev/shm, one Table per worker process.
type shmdictPeer struct{}

func (shmdictPeer) Name() string      { return "shmdict" }
func (shmdictPeer) InProcess() bool   { return false }
func (shmdictPeer) MaxWorkers() int   { return 0 }
func (shmdictPeer) Available() string { return "" }

// nameTries is how many random names Setup tries before it gives up: with
// 64 random bits a second collision means something other than chance
// (a directory full of planted names), which is worth an error.
const nameTries = 4

// benchName returns a name for the segment of one cell. It is random, not
// derived from the pid: a predictable name in /dev/shm is one another user
// or program can hold (or plant) before the harness runs. A test replaces
// it to force a collision.
var benchName = func() string {
	var b [8]byte
	rand.Read(b[:]) // never fails (crypto/rand panics rather than return an error)
	return "shmdict-bench-" + hex.EncodeToString(b[:])
}

// Setup creates the cell's segment under a fresh random name. A name that
// is taken belongs to someone else: Setup tries another one and never
// removes a file it did not create.
func (shmdictPeer) Setup(c Cell) (string, error) {
	keys := max(c.Keys, c.Counters) + c.Counters
	// A key record (about 32 B) and a value record (16 B of header and key,
	// the value, rounded up to a size class: at most 25% over) per key,
	// with room for overwrites in flight.
	perKey := int64(32 + (24+c.ValueLen)*5/4 + 32)
	opts := table.Options{Capacity: keys, ArenaBytes: max(int64(keys)*perKey*3/2, 1<<20)}
	for range nameTries {
		name := benchName()
		t, err := table.Create(name, opts)
		if errors.Is(err, table.ErrExist) {
			continue
		}
		if err != nil {
			return "", err
		}
		return name, t.Close()
	}
	return "", fmt.Errorf("shmdict: bench: %d random segment names were all taken: %w", nameTries, table.ErrExist)
}

func (shmdictPeer) Open(c Cell) (Client, error) {
	t, err := table.Attach(c.Target)
	if err != nil {
		return nil, err
	}
	return shmdictClient{t}, nil
}

func (shmdictPeer) Teardown(c Cell) error { return table.Remove(c.Target) }

type shmdictClient struct{ t *table.Table }

func (s shmdictClient) Get(dst, key []byte) ([]byte, bool, error) {
	v, err := s.t.AppendGet(dst, key)
	if errors.Is(err, table.ErrNotFound) {
		return dst, false, nil
	}
	return v, err == nil, err
}

func (s shmdictClient) Set(key, value []byte) error { return s.t.Set(key, value) }

func (s shmdictClient) Incr(key []byte, delta int64) (int64, error) { return s.t.Add(key, delta) }

// Adder: a striped adder (*table.Adder is a bench Adder).
func (s shmdictClient) Adder(key []byte) (Adder, error) { return s.t.Adder(key) }

func (s shmdictClient) Close() error { return s.t.Close() }
