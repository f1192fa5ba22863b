package bench

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/cespare/xxhash/v2"
)

// Workloads, by name.
const (
	WLoad       = "load"        // insert the key universe, split among the workers
	WGetUniform = "get-uniform" // reads of existing keys, uniform
	WGetZipf    = "get-zipf"    // reads of existing keys, Zipf s=0.99 (a few keys are hot)
	WGetFresh   = "get-fresh"   // get-uniform from just-started processes, timed from the first get
	WMixed9010  = "mixed-90-10" // 90% reads, 10% writes, uniform
	WMixed5050  = "mixed-50-50" // 50% reads, 50% writes, uniform
	WCounters   = "counters"    // increments of Counters hot counters, uniform
	// WCountersAdder is counters through handles: each worker makes a
	// handle on every hot counter before the clock (a shmdict striped
	// adder, Table.Adder) and increments a uniformly drawn one with one
	// call (Adder.Add(1)), with no key lookup. Each peer uses the fastest
	// handle it offers (AdderClient): the in-process peers hand out their
	// *atomic.Int64 (so sync.Map here is "sync.Map of *atomic.Int64" with
	// the pointers looked up once); a peer with no handles (Redis, LMDB,
	// bbolt) has no cheaper way than counters' increment of the key, and
	// runs exactly that, so its figures are its counters ones. The sums
	// are checked as in counters.
	WCountersAdder = "counters-adder"
	// WCountersAdderKey is counters on keys made striped adders before
	// the clock: workers increment by key (Client.Incr, Table.Add), which
	// for shmdict finds the key and adds to the worker's own lane. Peers
	// with no adders run counters (their counters made before the clock).
	WCountersAdderKey = "counters-adder-key"
)

// Workloads lists every workload in report order.
var Workloads = []string{WLoad, WGetUniform, WGetZipf, WGetFresh, WMixed9010, WMixed5050, WCounters, WCountersAdder, WCountersAdderKey}

// counting reports whether a workload increments the hot counters, whose
// sum the run checks.
func counting(w string) bool { return w == WCounters || w == WCountersAdder || w == WCountersAdderKey }

// preloaded reports whether a workload needs the key universe stored
// before it starts.
func preloaded(w string) bool {
	return w == WGetUniform || w == WGetZipf || w == WGetFresh || w == WMixed9010 || w == WMixed5050
}

// warmed reports whether a workload's workers warm up before the clock
// starts: the steady-state reads of preloaded keys. A just-started process
// pays for its first touches (page faults on the mapping, cold caches,
// connection setup, the Go heap growing); get-fresh measures exactly that
// and so is not warmed, and neither are load (whose cost is filling an
// empty store) and the counters workloads (whose keys the run itself
// creates, or the workers' handles, made before the barrier).
func warmed(w string) bool {
	return w == WGetUniform || w == WGetZipf || w == WMixed9010 || w == WMixed5050
}

// FreshOps is how many first gets of each get-fresh worker are compared
// with its later ones: enough for uniform keys to touch most pages of a
// 100k-key store at least once, the cost a fresh process pays.
const FreshOps = 100_000

// Cell is one measurement to run: everything a worker process needs,
// passed to it as JSON.
type Cell struct {
	Peer     string `json:"peer"`
	Workload string `json:"workload"`
	Workers  int    `json:"workers"`
	Keys     int    `json:"keys"`
	ValueLen int    `json:"value_len"`
	Counters int    `json:"counters"`
	Millis   int    `json:"millis"` // how long each worker runs (not for load)
	// WarmMillis is how long each worker of a warmed workload runs
	// untimed uniform gets before the start barrier.
	WarmMillis int `json:"warm_millis,omitempty"`
	// FreshOps is the number of first gets a get-fresh worker times apart
	// (default FreshOps); it runs at least twice as many in all.
	FreshOps int    `json:"fresh_ops,omitempty"`
	Seed     uint64 `json:"seed"`
	Target   string `json:"target"` // where the peer lives: a table name, a socket path
	Worker   int    `json:"worker"` // this worker's index (set per worker)
}

// key returns the key of index i: "key:" and 12 decimal digits. (Written
// by hand: fmt would cost more than a shmdict Get.)
func key(dst []byte, i int) []byte { return digits(append(dst[:0], "key:"...), i, 12) }

// counterKey returns the key of counter i: "ctr:" and 6 digits.
func counterKey(dst []byte, i int) []byte { return digits(append(dst[:0], "ctr:"...), i, 6) }

// digits appends i in decimal, zero-padded to n digits.
func digits(dst []byte, i, n int) []byte {
	start := len(dst)
	for range n {
		dst = append(dst, '0')
	}
	for j := len(dst) - 1; j >= start && i > 0; j-- {
		dst[j] = byte('0' + i%10)
		i /= 10
	}
	return dst
}

// value fills dst with the value of key index i at version ver, n bytes
// (at least 8 are used for the check): bytes 0-3 the key index, 4-7 the
// version, the rest derived from both, and for n >= 16 the last 8 bytes an
// xxhash of the rest, so a reader can tell a value of another key or a
// torn one.
func value(dst []byte, i int, ver uint32, n int) []byte {
	n = max(n, 8)
	dst = dst[:0]
	dst = binary.LittleEndian.AppendUint32(dst, uint32(i))
	dst = binary.LittleEndian.AppendUint32(dst, ver)
	body := n
	if n >= 16 {
		body = n - 8
	}
	x := uint64(i)*0x9E3779B97F4A7C15 ^ uint64(ver)
	for len(dst) < body {
		x = x*6364136223846793005 + 1442695040888963407
		dst = append(dst, byte(x>>56))
	}
	if n >= 16 {
		dst = binary.LittleEndian.AppendUint64(dst, xxhash.Sum64(dst))
	}
	return dst
}

// checkValue verifies that v is a value of key index i with n bytes.
func checkValue(v []byte, i, n int) error {
	n = max(n, 8)
	if len(v) != n {
		return fmt.Errorf("value of key %d has %d bytes, want %d", i, len(v), n)
	}
	if got := int(binary.LittleEndian.Uint32(v)); got != i {
		return fmt.Errorf("read key %d, got the value of key %d", i, got)
	}
	if n >= 16 && binary.LittleEndian.Uint64(v[n-8:]) != xxhash.Sum64(v[:n-8]) {
		return fmt.Errorf("value of key %d fails its checksum (torn or corrupt)", i)
	}
	return nil
}

// ZipfTheta is the skew of the get-zipf workload (YCSB's default).
const ZipfTheta = 0.99

// picker draws key indexes for a workload.
type picker struct {
	r    *rand.Rand
	zipf *zipf
	n    int
}

func newPicker(c Cell) *picker {
	r := rand.New(rand.NewPCG(c.Seed, uint64(c.Worker)+1))
	p := &picker{r: r, n: c.Keys}
	if c.Workload == WGetZipf && c.Keys > 1 {
		p.zipf = newZipf(uint64(c.Keys), ZipfTheta)
	}
	return p
}

func (p *picker) next() int {
	if p.zipf != nil {
		// Spread the hot ranks over the universe instead of the first keys.
		rank := p.zipf.next(p.r.Float64())
		return int((rank * 0x9E3779B97F4A7C15 >> 1) % uint64(p.n))
	}
	return p.r.IntN(p.n)
}

// zipf draws ranks in [0, n) with P(rank k) proportional to 1/(k+1)^theta,
// for theta < 1, by the method of Gray et al. ("Quickly generating
// billion-record synthetic databases", 1994), as YCSB does. math/rand's
// Zipf needs s > 1.
type zipf struct {
	n                        uint64
	theta, alpha, zetan, eta float64
	half                     float64 // 1 + 0.5^theta
}

func newZipf(n uint64, theta float64) *zipf {
	zetan := 0.0
	for i := uint64(1); i <= n; i++ {
		zetan += 1 / math.Pow(float64(i), theta)
	}
	zeta2 := 1 + math.Pow(0.5, theta)
	return &zipf{
		n: n, theta: theta, zetan: zetan,
		alpha: 1 / (1 - theta),
		eta:   (1 - math.Pow(2/float64(n), 1-theta)) / (1 - zeta2/zetan),
		half:  zeta2,
	}
}

// next maps a uniform u in [0, 1) to a rank.
func (z *zipf) next(u float64) uint64 {
	uz := u * z.zetan
	switch {
	case uz < 1:
		return 0
	case uz < z.half:
		return 1
	}
	return min(uint64(float64(z.n)*math.Pow(z.eta*u-z.eta+1, z.alpha)), z.n-1)
}
