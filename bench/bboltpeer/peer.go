// Package bboltpeer adds bbolt (go.etcd.io/bbolt) and, where cgo is on,
// LMDB (lmdb.go) to shmdict's benchmark harness. It lives in a module of
// its own so that the library's module depends on neither. A bbolt file can be open in one process at a
// time (it takes an exclusive flock), so this peer runs with one worker
// process; writes are one transaction each, with NoSync (no fsync per
// commit), the closest bbolt gets to an in-memory table.
package bboltpeer

import (
	"encoding/binary"
	"os"
	"path/filepath"

	"github.com/shmdict/shmdict/bench"
	bolt "go.etcd.io/bbolt"
)

func init() { bench.Register("bbolt", func() bench.Peer { return peer{} }) }

var bucket = []byte("bench")

type peer struct{}

func (peer) Name() string      { return "bbolt" }
func (peer) InProcess() bool   { return false }
func (peer) MaxWorkers() int   { return 1 }
func (peer) Available() string { return "" }

func (peer) Setup(bench.Cell) (string, error) {
	dir, err := os.MkdirTemp("", "shmdict-bench-bbolt-")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "bench.db")
	db, err := bolt.Open(path, 0o600, &bolt.Options{NoSync: true})
	if err != nil {
		return "", err
	}
	err = db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucket)
		return err
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	return path, err
}

func (peer) Open(c bench.Cell) (bench.Client, error) {
	db, err := bolt.Open(c.Target, 0o600, &bolt.Options{NoSync: true, NoFreelistSync: true})
	if err != nil {
		return nil, err
	}
	return client{db}, nil
}

func (peer) Teardown(c bench.Cell) error { return os.RemoveAll(filepath.Dir(c.Target)) }

type client struct{ db *bolt.DB }

func (c client) Get(dst, key []byte) (v []byte, ok bool, err error) {
	err = c.db.View(func(tx *bolt.Tx) error {
		got := tx.Bucket(bucket).Get(key)
		if got != nil {
			v, ok = append(dst, got...), true // bbolt's slice is valid only in the transaction
		} else {
			v = dst
		}
		return nil
	})
	return v, ok, err
}

func (c client) Set(key, value []byte) error {
	return c.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucket).Put(key, value) })
}

// Load stores a batch in one transaction (the unmeasured preload).
func (c client) Load(keys, values [][]byte) error {
	return c.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		for i := range keys {
			if err := b.Put(keys[i], values[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

func (c client) Incr(key []byte, delta int64) (n int64, err error) {
	err = c.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		if v := b.Get(key); len(v) == 8 {
			n = int64(binary.LittleEndian.Uint64(v))
		}
		n += delta
		return b.Put(key, binary.LittleEndian.AppendUint64(nil, uint64(n)))
	})
	return n, err
}

func (c client) Close() error { return c.db.Close() }
