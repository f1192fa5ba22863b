package table

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"sync"
	"testing"
)

// sealed returns a value that carries its own checksum: 4 bytes of CRC32
// followed by the payload, so a reader can tell a torn read.
func sealed(r *rand.Rand, id int) []byte {
	n := 8 + r.IntN(120)
	v := make([]byte, n)
	binary.LittleEndian.PutUint32(v[4:], uint32(id))
	for i := 8; i < n; i++ {
		v[i] = byte(r.Uint32())
	}
	binary.LittleEndian.PutUint32(v, crc32.ChecksumIEEE(v[4:]))
	return v
}

func checkSealed(v []byte) error {
	if len(v) < 8 || binary.LittleEndian.Uint32(v) != crc32.ChecksumIEEE(v[4:]) {
		return fmt.Errorf("torn or foreign value %x", v)
	}
	return nil
}

// TestRaceSameKeys hammers a few keys from many goroutines on a heap
// table, where the race detector sees every access of the protocol (run
// with -race). Values are self-checking; counters must sum exactly.
func TestRaceSameKeys(t *testing.T) {
	tb, err := New(Options{Capacity: 256, ArenaBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	const (
		workers  = 8
		keys     = 6
		counters = 3
	)
	iters := 20000
	if testing.Short() {
		iters = 4000
	}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	adds := make([][counters]int64, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 99))
			buf := make([]byte, 0, 256)
			for i := range iters {
				k := []byte(fmt.Sprintf("key%d", r.IntN(keys)))
				var err error
				switch r.IntN(9) {
				case 0, 1:
					err = tb.Set(k, sealed(r, w))
				case 2, 3:
					buf, err = tb.AppendGet(buf[:0], k)
					if err == nil {
						err = checkSealed(buf)
					}
				case 4:
					_, err = tb.Delete(k)
				case 5:
					var old []byte
					if old, err = tb.Get(k); err == nil {
						_, err = tb.CompareAndSwap(k, old, sealed(r, w))
					}
				case 6:
					var v []byte
					if v, _, err = tb.GetOrSet(k, sealed(r, w)); err == nil {
						err = checkSealed(v)
					}
				case 7:
					c := r.IntN(counters)
					if _, err = tb.Add([]byte(fmt.Sprintf("ctr%d", c)), 1); err == nil {
						adds[w][c]++
					}
				case 8:
					for k, v := range tb.All() {
						if k[0] == 'k' {
							if err = checkSealed(v); err != nil {
								break
							}
						}
					}
				}
				if err != nil && !errors.Is(err, ErrNotFound) {
					errs <- fmt.Errorf("worker %d op %d: %w", w, i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for c := range counters {
		var want int64
		for w := range workers {
			want += adds[w][c]
		}
		got, err := tb.Add([]byte(fmt.Sprintf("ctr%d", c)), 0)
		if err != nil || got != want {
			t.Errorf("counter %d = %d, %v; want %d", c, got, err, want)
		}
	}
	n := 0
	for range tb.All() {
		n++
	}
	if tb.Len() != n {
		t.Errorf("Len() = %d, All yielded %d", tb.Len(), n)
	}
	mustVerify(t, tb)
}
