package bench

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"strings"
)

// Histogram layout. A Histogram counts latencies in nanoseconds in
// log-linear buckets, the scheme of HdrHistogram:
//
//	value v              bucket index                         bucket width
//	0 <= v < 64          v                                    1 (exact)
//	2^e <= v < 2^(e+1)   64 + (e-6)*64 + (v>>(e-6) - 64)      2^(e-6)
//	v >= 2^histMaxExp    clamped into the last bucket
//
// For e >= 6 the top subBits+1 bits of v select the bucket: the leading 1
// picks the power of two (the "octave"), the next 6 bits one of its 64
// linear sub-buckets. A bucket's width is at most 1/64 of its lower bound,
// so reporting any value inside the bucket is off by at most 1.6%.
const (
	// subBits is log2 of the sub-buckets per octave: 64 sub-buckets keep
	// the relative error under 1/64 ≈ 1.6%, finer than run-to-run noise.
	subBits = 6
	// subCount is the number of linear sub-buckets per octave, and also the
	// number of exact buckets below the first octave.
	subCount = 1 << subBits
	// histMaxExp is the exponent of the first value that no longer fits:
	// 2^43 ns is about 2h26m, over the 1 hour a latency could ever take in
	// a benchmark run. Larger values clamp into the last bucket.
	histMaxExp = 43
	// histBuckets is the number of buckets: the exact ones, then 64 for
	// each octave 2^6 .. 2^42. 2432 counters, 19 KiB.
	histBuckets = subCount + (histMaxExp-subBits)*subCount
	// histMaxValue is the largest value a bucket holds unclamped.
	histMaxValue = int64(1)<<histMaxExp - 1
)

// ErrHistogramEncoding is returned by DecodeHistogram for text that is not
// a histogram written by Histogram.Encode.
var ErrHistogramEncoding = errors.New("shmdict: bad histogram encoding")

// Histogram counts latencies in nanoseconds in log-linear buckets, so
// quantiles come out within 1.6% of the true value whatever the count.
// The zero value is an empty histogram ready to use. A Histogram is not
// safe for concurrent use: each worker records into its own and the
// parent merges them.
type Histogram struct {
	counts [histBuckets]int64
	total  int64
	max    int64 // largest value recorded, exact (after clamping)
}

// bucketOf returns the bucket index of v, which must be in [0, histMaxValue].
func bucketOf(v int64) int {
	if v < subCount {
		return int(v)
	}
	e := bits.Len64(uint64(v)) - 1 // v's octave, >= subBits
	shift := e - subBits
	return subCount + shift*subCount + int(v>>shift) - subCount
}

// bucketBounds returns the smallest and largest value bucket i holds.
func bucketBounds(i int) (lo, hi int64) {
	if i < subCount {
		return int64(i), int64(i)
	}
	shift := i/subCount - 1 // octave e = shift + subBits
	sub := int64(i%subCount) + subCount
	lo = sub << shift
	return lo, lo + int64(1)<<shift - 1
}

// Record counts one latency of ns nanoseconds. Negative values count as 0
// and values past about 2h26m as the largest bucket. It does not allocate.
func (h *Histogram) Record(ns int64) {
	if ns < 0 {
		ns = 0
	} else if ns > histMaxValue {
		ns = histMaxValue
	}
	h.counts[bucketOf(ns)]++
	h.total++
	if ns > h.max {
		h.max = ns
	}
}

// Merge adds every value counted by o to h, as if they had been recorded
// into h. A nil o adds nothing.
func (h *Histogram) Merge(o *Histogram) {
	if o == nil {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.total += o.total
	h.max = max(h.max, o.max)
}

// Count returns the number of values recorded.
func (h *Histogram) Count() int64 { return h.total }

// Quantile returns the value below or at which a fraction q of the
// recorded values lie, for q in [0, 1] (values outside are clamped). The
// answer is the upper bound of the bucket holding that rank, never more
// than the largest value recorded, so Quantile(1) is the exact maximum.
// An empty histogram returns 0.
func (h *Histogram) Quantile(q float64) int64 {
	if h.total == 0 {
		return 0
	}
	if !(q > 0) { // also NaN
		q = 0
	}
	if q >= 1 {
		return h.max
	}
	// rank is the 1-based position of the wanted value in sorted order.
	rank := max(int64(math.Ceil(q*float64(h.total))), 1)
	var seen int64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			_, hi := bucketBounds(i)
			return min(hi, h.max)
		}
	}
	return h.max // unreachable while total equals the sum of counts
}

// Percentiles returns the p50, p99, p99.9 and maximum of the recorded
// values.
func (h *Histogram) Percentiles() Percentiles {
	return Percentiles{
		P50:  h.Quantile(0.50),
		P99:  h.Quantile(0.99),
		P999: h.Quantile(0.999),
		Max:  h.max,
	}
}

// histEncodingVersion starts every encoding so the format can change
// without old parents misreading new workers.
const histEncodingVersion = "h1"

// Encode returns h as one line of printable ASCII, listing only non-empty
// buckets, for worker processes to send to their parent:
//
//	h1/<max>/<index>:<count>,<index>:<count>,...
//
// with indexes increasing. An empty histogram is "h1/0/".
// DecodeHistogram reads it back.
func (h *Histogram) Encode() string {
	var b strings.Builder
	b.WriteString(histEncodingVersion)
	b.WriteByte('/')
	b.WriteString(strconv.FormatInt(h.max, 10))
	b.WriteByte('/')
	first := true
	for i, c := range h.counts {
		if c == 0 {
			continue
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		b.WriteString(strconv.Itoa(i))
		b.WriteByte(':')
		b.WriteString(strconv.FormatInt(c, 10))
	}
	return b.String()
}

// DecodeHistogram parses the text written by Histogram.Encode. Input that
// is malformed or inconsistent (indexes out of range or out of order,
// counts that are not positive or overflow, a maximum outside the last
// non-empty bucket) returns an error wrapping ErrHistogramEncoding.
func DecodeHistogram(s string) (*Histogram, error) {
	version, rest, ok := strings.Cut(s, "/")
	if !ok || version != histEncodingVersion {
		return nil, fmt.Errorf("%w: want prefix %q", ErrHistogramEncoding, histEncodingVersion+"/")
	}
	maxText, buckets, ok := strings.Cut(rest, "/")
	if !ok {
		return nil, fmt.Errorf("%w: missing bucket list", ErrHistogramEncoding)
	}
	h := new(Histogram)
	var err error
	if h.max, err = parseNonNegative(maxText); err != nil {
		return nil, fmt.Errorf("%w: max: %v", ErrHistogramEncoding, err)
	}
	last := -1 // index of the last bucket read
	for more := buckets != ""; more; {
		var pair string
		pair, buckets, more = strings.Cut(buckets, ",")
		idxText, countText, ok := strings.Cut(pair, ":")
		if !ok {
			return nil, fmt.Errorf("%w: bucket %q: want index:count", ErrHistogramEncoding, pair)
		}
		idx, err := parseNonNegative(idxText)
		if err != nil || idx >= histBuckets || int(idx) <= last {
			return nil, fmt.Errorf("%w: bucket index %q out of range or order", ErrHistogramEncoding, idxText)
		}
		count, err := parseNonNegative(countText)
		if err != nil || count == 0 {
			return nil, fmt.Errorf("%w: bucket %d: count %q is not positive", ErrHistogramEncoding, idx, countText)
		}
		if h.total > math.MaxInt64-count {
			return nil, fmt.Errorf("%w: total count overflows", ErrHistogramEncoding)
		}
		last = int(idx)
		h.counts[last] = count
		h.total += count
	}
	// The maximum must lie in the last non-empty bucket, as Record keeps it.
	if last < 0 {
		if h.max != 0 {
			return nil, fmt.Errorf("%w: max %d with no values", ErrHistogramEncoding, h.max)
		}
		return h, nil
	}
	if lo, hi := bucketBounds(last); h.max < lo || h.max > hi {
		return nil, fmt.Errorf("%w: max %d outside last bucket [%d, %d]", ErrHistogramEncoding, h.max, lo, hi)
	}
	return h, nil
}

// parseNonNegative parses a decimal int64 >= 0 in canonical form: digits
// only, no sign and no leading zeros, so every histogram has one encoding.
func parseNonNegative(s string) (int64, error) {
	if s == "" {
		return 0, errors.New("empty number")
	}
	if len(s) > 1 && s[0] == '0' {
		return 0, fmt.Errorf("number %q has a leading zero", s)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("number %q is not decimal digits", s)
		}
	}
	return strconv.ParseInt(s, 10, 64)
}
