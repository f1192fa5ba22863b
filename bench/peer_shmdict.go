package bench

import (
	"errors"
	"fmt"
	"os"

	"github.com/shmdict/shmdict/table"
)

func init() { register("shmdict", func() Peer { return shmdictPeer{} }) }

// shmdictPeer: a segment in /dev/shm, one Table per worker process.
type shmdictPeer struct{}

func (shmdictPeer) Name() string      { return "shmdict" }
func (shmdictPeer) InProcess() bool   { return false }
func (shmdictPeer) MaxWorkers() int   { return 0 }
func (shmdictPeer) Available() string { return "" }

func (shmdictPeer) Setup(c Cell) (string, error) {
	name := fmt.Sprintf("shmdict-bench-%d", os.Getpid())
	table.Remove(name)
	keys := max(c.Keys, c.Counters) + c.Counters
	// A key record (about 32 B) and a value record (16 B of header and key,
	// the value, rounded up to a size class: at most 25% over) per key,
	// with room for overwrites in flight.
	perKey := int64(32 + (24+c.ValueLen)*5/4 + 32)
	t, err := table.Create(name, table.Options{Capacity: keys, ArenaBytes: max(int64(keys)*perKey*3/2, 1<<20)})
	if err != nil {
		return "", err
	}
	return name, t.Close()
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

func (s shmdictClient) Close() error { return s.t.Close() }
