package table

import (
	"math/rand/v2"
	"testing"

	"github.com/cespare/xxhash/v2"
)

// TestHashMatchesXXH64 checks the in-house seeded one-shot XXH64 against
// cespare/xxhash's seeded Digest for every length 0..256 and many seeds.
func TestHashMatchesXXH64(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 257)
	for i := range buf {
		buf[i] = byte(r.Uint32())
	}
	seeds := []uint64{0, 1, 1 << 63, ^uint64(0)}
	for range 8 {
		seeds = append(seeds, r.Uint64())
	}
	for _, seed := range seeds {
		for n := 0; n <= 256; n++ {
			d := xxhash.NewWithSeed(seed)
			d.Write(buf[:n])
			if got, want := hash64(buf[:n], seed), d.Sum64(); got != want {
				t.Fatalf("hash64(len %d, seed %#x) = %#x, want %#x", n, seed, got, want)
			}
		}
	}
	if hash64(nil, 0) != xxhash.Sum64(nil) {
		t.Fatal("hash64 with seed 0 differs from xxhash.Sum64")
	}
}

func BenchmarkHash(b *testing.B) {
	key := []byte("user:1234567")
	b.Run("inhouse", func(b *testing.B) {
		for b.Loop() {
			hash64(key, 42)
		}
	})
	b.Run("xxhashDigest", func(b *testing.B) {
		for b.Loop() {
			d := xxhash.NewWithSeed(42)
			d.Write(key)
			d.Sum64()
		}
	})
}
