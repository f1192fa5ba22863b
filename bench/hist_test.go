package bench

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var histCmp = cmp.AllowUnexported(Histogram{})

// TestBucketLayout pins the bucket scheme: every bucket's bounds map back
// to it, buckets tile the value range with no gap, and widths stay within
// 1/64 of the lower bound.
func TestBucketLayout(t *testing.T) {
	var next int64
	for i := range histBuckets {
		lo, hi := bucketBounds(i)
		if lo != next {
			t.Fatalf("bucket %d starts at %d, want %d", i, lo, next)
		}
		if bucketOf(lo) != i || bucketOf(hi) != i {
			t.Fatalf("bucket %d [%d, %d] maps back to %d and %d", i, lo, hi, bucketOf(lo), bucketOf(hi))
		}
		if lo >= subCount && float64(hi-lo+1)/float64(lo) > 1.0/subCount {
			t.Fatalf("bucket %d [%d, %d] is wider than 1/%d of its start", i, lo, hi, subCount)
		}
		next = hi + 1
	}
	if next-1 != histMaxValue {
		t.Fatalf("last bucket ends at %d, want %d", next-1, histMaxValue)
	}
	if hour := int64(3600e9); histMaxValue < hour {
		t.Fatalf("histogram covers up to %d ns, less than an hour", histMaxValue)
	}
}

func TestHistogramExactBelow64(t *testing.T) {
	var h Histogram
	for v := int64(0); v < 64; v++ {
		h.Record(v)
	}
	for v := int64(1); v <= 64; v++ {
		if got := h.Quantile(float64(v) / 64); got != v-1 {
			t.Errorf("Quantile(%d/64) = %d, want %d", v, got, v-1)
		}
	}
}

func TestHistogramUniform(t *testing.T) {
	var h Histogram
	const n = 1_000_000
	for v := int64(1); v <= n; v++ {
		h.Record(v)
	}
	if h.Count() != n {
		t.Fatalf("Count = %d, want %d", h.Count(), n)
	}
	for _, tc := range []struct {
		q    float64
		want float64
	}{{0.5, 500_000}, {0.9, 900_000}, {0.99, 990_000}, {0.999, 999_000}, {0.01, 10_000}} {
		got := h.Quantile(tc.q)
		if rel := math.Abs(float64(got)-tc.want) / tc.want; rel > 0.02 {
			t.Errorf("Quantile(%v) = %d, want %v within 2%% (off by %.2f%%)", tc.q, got, tc.want, rel*100)
		}
	}
	if got := h.Quantile(1); got != n {
		t.Errorf("Quantile(1) = %d, want the max %d", got, n)
	}
	p := h.Percentiles()
	if p.Max != n || p.P50 != h.Quantile(0.5) || p.P99 != h.Quantile(0.99) || p.P999 != h.Quantile(0.999) {
		t.Errorf("Percentiles = %+v, disagree with Quantile", p)
	}
}

func TestHistogramConstant(t *testing.T) {
	for _, v := range []int64{0, 1, 63, 64, 65, 1000, 123_457, 9_876_543_210} {
		var h Histogram
		for range 1000 {
			h.Record(v)
		}
		for _, q := range []float64{0, 0.5, 0.99, 0.999, 1} {
			if got := h.Quantile(q); got != v {
				t.Errorf("constant %d: Quantile(%v) = %d", v, q, got)
			}
		}
	}
}

// TestHistogramQuantileWithinBucket checks against exact quantiles of a
// skewed random sample that every answer lies in the true value's bucket.
func TestHistogramQuantileWithinBucket(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var h Histogram
	vals := make([]int64, 20_000)
	for i := range vals {
		vals[i] = int64(rng.ExpFloat64() * 50_000)
		h.Record(vals[i])
	}
	slices.Sort(vals)
	for _, q := range []float64{0.001, 0.25, 0.5, 0.9, 0.99, 0.999} {
		rank := int(math.Ceil(q * float64(len(vals))))
		exact := vals[rank-1]
		lo, hi := bucketBounds(bucketOf(exact))
		if got := h.Quantile(q); got < lo || got > hi {
			t.Errorf("Quantile(%v) = %d, exact %d, want within bucket [%d, %d]", q, got, exact, lo, hi)
		}
	}
}

func TestHistogramEdges(t *testing.T) {
	var h Histogram
	if h.Quantile(0.5) != 0 || h.Count() != 0 || h.Percentiles() != (Percentiles{}) {
		t.Fatalf("empty histogram: Quantile %d Count %d Percentiles %+v", h.Quantile(0.5), h.Count(), h.Percentiles())
	}
	h.Record(-5)
	h.Record(math.MaxInt64)
	if got := h.Quantile(0); got != 0 {
		t.Errorf("negative value: Quantile(0) = %d, want 0", got)
	}
	if got := h.Quantile(1); got != histMaxValue {
		t.Errorf("huge value: Quantile(1) = %d, want clamp to %d", got, histMaxValue)
	}
	if got := h.Quantile(math.NaN()); got != 0 {
		t.Errorf("Quantile(NaN) = %d, want 0", got)
	}
	if got := h.Quantile(7); got != histMaxValue {
		t.Errorf("Quantile(7) = %d, want max", got)
	}
}

func TestHistogramMerge(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var a, b, all Histogram
	for i := range 10_000 {
		v := rng.Int64N(1 << uint(rng.IntN(40)+1))
		all.Record(v)
		if i%3 == 0 {
			a.Record(v)
		} else {
			b.Record(v)
		}
	}
	a.Merge(&b)
	a.Merge(nil)
	if diff := cmp.Diff(&all, &a, histCmp); diff != "" {
		t.Fatalf("merged histogram differs from recording into one (-want +got):\n%s", diff)
	}
}

func TestHistogramEncodeRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	hists := []*Histogram{new(Histogram)}
	for _, n := range []int{1, 10, 5000} {
		h := new(Histogram)
		for range n {
			h.Record(rng.Int64N(1 << uint(rng.IntN(44)+1)))
		}
		hists = append(hists, h)
	}
	for _, h := range hists {
		s := h.Encode()
		if strings.ContainsAny(s, "\n\r \t") {
			t.Errorf("encoding %q is not one line without spaces", s)
		}
		got, err := DecodeHistogram(s)
		if err != nil {
			t.Fatalf("DecodeHistogram(%q): %v", s, err)
		}
		if diff := cmp.Diff(h, got, histCmp); diff != "" {
			t.Fatalf("round trip differs (-want +got):\n%s", diff)
		}
	}
	if got := new(Histogram).Encode(); got != "h1/0/" {
		t.Errorf("empty encoding = %q, want %q", got, "h1/0/")
	}
	var h Histogram
	h.Record(5)
	h.Record(5)
	h.Record(1000)
	if got, want := h.Encode(), "h1/1000/5:2,317:1"; got != want {
		t.Errorf("Encode = %q, want %q", got, want)
	}
}

func TestDecodeHistogramErrors(t *testing.T) {
	for _, s := range []string{
		"",
		"h1",
		"h2/0/",
		"h1/0",
		"h1/x/",
		"h1/-1/",
		"h1/05/5:1",
		"h1/5/5",
		"h1/5/5:",
		"h1/5/5:0",
		"h1/5/5:-1",
		"h1/5/5:1,",
		"h1/5/,5:1",
		"h1/5/5:1,5:1",
		"h1/6/6:1,5:1",
		"h1/5/2432:1",
		"h1/5/99999999999999999999:1",
		"h1/5/5:99999999999999999999",
		"h1/5/4:9223372036854775807,5:1",
		"h1/7/5:1",
		"h1/3/5:1",
		"h1/3/",
		"h1/5/+5:1",
		"h1/5/5:1/",
	} {
		h, err := DecodeHistogram(s)
		if err == nil {
			t.Errorf("DecodeHistogram(%q) = %q, want an error", s, h.Encode())
			continue
		}
		if !errors.Is(err, ErrHistogramEncoding) {
			t.Errorf("DecodeHistogram(%q) error %v does not wrap ErrHistogramEncoding", s, err)
		}
	}
}

func TestHistogramRecordAllocs(t *testing.T) {
	h := new(Histogram)
	v := int64(1)
	if n := testing.AllocsPerRun(1000, func() {
		h.Record(v)
		v = v*3 + 7
	}); n != 0 {
		t.Fatalf("Record allocates %v times per call, want 0", n)
	}
}

func FuzzDecodeHistogram(f *testing.F) {
	var h Histogram
	for _, v := range []int64{1, 64, 1000, 1000, 5e9} {
		h.Record(v)
	}
	for _, s := range []string{"h1/0/", "h1/5/5:3", "h1/1000/5:2,317:1", h.Encode(), "h1/5/5:1,", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, err := DecodeHistogram(s)
		if err != nil {
			return
		}
		// Accepted input is canonical and consistent.
		if got := h.Encode(); got != s {
			t.Fatalf("DecodeHistogram(%q) re-encodes as %q", s, got)
		}
		var sum int64
		for _, c := range h.counts {
			sum += c
		}
		if sum != h.Count() {
			t.Fatalf("Count %d, buckets sum to %d", h.Count(), sum)
		}
		if q := h.Quantile(0.5); q < 0 || q > h.Quantile(1) {
			t.Fatalf("Quantile(0.5) = %d outside [0, max %d]", q, h.Quantile(1))
		}
	})
}
