//go:build cgo

package bboltpeer

import (
	"encoding/binary"
	"fmt"
	"os"

	"github.com/PowerDNS/lmdb-go/lmdb"
	"github.com/shmdict/shmdict/bench"
)

// The LMDB peer (through github.com/PowerDNS/lmdb-go, cgo, the LMDB C
// sources it bundles): an environment in a temporary directory, opened by
// every worker process; LMDB's lock file lets any number of processes read
// at once, with one writer at a time.
//
// Reads are done the way LMDB is meant to be used fast: each client keeps
// one read-only transaction, Renewed before a get and Reset after it, so a
// get is mdb_txn_renew + mdb_get + mdb_txn_reset on a reader slot the
// client holds, with no allocation and RawRead (the value is copied out
// of the map once, into the caller's buffer, before the Reset). A read
// transaction is not held across gets: that would pin a snapshot and let
// the file grow under the mixed workloads, and it would not be a per-get
// cost. The binding opens every environment with MDB_NOTLS, which ties a
// reader slot to the transaction rather than to the OS thread, so a
// goroutine may move between threads between gets.
//
// Writes are one write transaction each (Env.Update: lock the writer
// mutex, put, commit), the honest per-operation cost of a store that
// allows one writer at a time across all processes; the harness's load and
// mixed workloads write one key at a time. MDB_NOSYNC (no fsync per
// commit) as for bbolt, the closest LMDB gets to an in-memory table.

func init() { bench.Register("lmdb", func() bench.Peer { return lmdbPeer{} }) }

type lmdbPeer struct{}

func (lmdbPeer) Name() string      { return "lmdb" }
func (lmdbPeer) InProcess() bool   { return false }
func (lmdbPeer) MaxWorkers() int   { return 0 }
func (lmdbPeer) Available() string { return "" }

// lmdbMaxReaders bounds the reader slots of the lock table: one per
// client, and the harness runs at most one client per worker plus the
// parent's; 126 (LMDB's default) is too few for the full profile on a big
// machine, and a slot is 64 bytes.
const lmdbMaxReaders = 1024

// lmdbMapSize returns the map size for c: a B+tree leaf entry is an 8-byte
// node header, the key and the value, pages fill to half at worst after
// random inserts, and copy-on-write keeps a few old pages per write
// transaction until readers let go; 4x the live entries, and 64 MiB of
// slack, covers that with room to spare. The file is sparse: only pages
// written take memory.
func lmdbMapSize(c bench.Cell) int64 {
	entry := int64(8 + 16 + max(c.ValueLen, 8))
	return int64(c.Keys+c.Counters)*entry*4 + 64<<20
}

func openEnv(c bench.Cell, dir string) (*lmdb.Env, error) {
	env, err := lmdb.NewEnv()
	if err != nil {
		return nil, err
	}
	if err := env.SetMapSize(lmdbMapSize(c)); err != nil {
		env.Close()
		return nil, err
	}
	if err := env.SetMaxReaders(lmdbMaxReaders); err != nil {
		env.Close()
		return nil, err
	}
	if err := env.Open(dir, lmdb.NoSync, 0o600); err != nil {
		env.Close()
		return nil, fmt.Errorf("lmdb: open %s: %w", dir, err)
	}
	return env, nil
}

func (lmdbPeer) Setup(c bench.Cell) (string, error) {
	dir, err := os.MkdirTemp("", "shmdict-bench-lmdb-")
	if err != nil {
		return "", err
	}
	env, err := openEnv(c, dir)
	if err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	return dir, env.Close()
}

func (lmdbPeer) Open(c bench.Cell) (bench.Client, error) {
	env, err := openEnv(c, c.Target)
	if err != nil {
		return nil, err
	}
	var dbi lmdb.DBI
	if err := env.View(func(txn *lmdb.Txn) (err error) {
		dbi, err = txn.OpenRoot(0)
		return err
	}); err != nil {
		env.Close()
		return nil, err
	}
	rd, err := env.BeginTxn(nil, lmdb.Readonly)
	if err != nil {
		env.Close()
		return nil, err
	}
	rd.RawRead = true
	rd.Reset() // renewed by each get
	return &lmdbClient{env: env, dbi: dbi, rd: rd}, nil
}

func (lmdbPeer) Teardown(c bench.Cell) error { return os.RemoveAll(c.Target) }

type lmdbClient struct {
	env *lmdb.Env
	dbi lmdb.DBI
	rd  *lmdb.Txn // read-only, kept Reset between gets
}

func (c *lmdbClient) Get(dst, key []byte) ([]byte, bool, error) {
	if err := c.rd.Renew(); err != nil {
		return dst, false, err
	}
	v, err := c.rd.Get(c.dbi, key)
	ok := err == nil
	if ok {
		dst = append(dst, v...) // v points into the map, valid until the Reset
	}
	c.rd.Reset()
	if lmdb.IsNotFound(err) {
		return dst, false, nil
	}
	return dst, ok, err
}

func (c *lmdbClient) Set(key, value []byte) error {
	return c.env.Update(func(txn *lmdb.Txn) error { return txn.Put(c.dbi, key, value, 0) })
}

// Load stores a batch in one write transaction (the unmeasured preload).
func (c *lmdbClient) Load(keys, values [][]byte) error {
	return c.env.Update(func(txn *lmdb.Txn) error {
		for i := range keys {
			if err := txn.Put(c.dbi, keys[i], values[i], 0); err != nil {
				return err
			}
		}
		return nil
	})
}

func (c *lmdbClient) Incr(key []byte, delta int64) (n int64, err error) {
	err = c.env.Update(func(txn *lmdb.Txn) error {
		txn.RawRead = true
		v, err := txn.Get(c.dbi, key)
		switch {
		case err == nil && len(v) == 8:
			n = int64(binary.LittleEndian.Uint64(v))
		case err == nil:
			return fmt.Errorf("lmdb: counter %q has %d bytes", key, len(v))
		case !lmdb.IsNotFound(err):
			return err
		}
		n += delta
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], uint64(n))
		return txn.Put(c.dbi, key, b[:], 0)
	})
	return n, err
}

func (c *lmdbClient) Close() error {
	c.rd.Abort()
	return c.env.Close()
}
