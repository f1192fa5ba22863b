package bench

// SVG charts of a Report: throughput against workers, and latency
// percentiles, hand-written SVG (no libraries).

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
)

// series is one line of the throughput chart: a peer, or a peer and kind
// of worker when the peer ran with both processes and goroutines.
type series struct {
	label  string
	points []Result // measured cells, by worker count
	other  bool     // the peer is not shmdict, so the series sorts after its
}

// seriesOf splits a workload's cells, as cellsOf orders them, into one
// series per peer, shmdict first. Skipped cells, and cells at a worker
// count the series already has, add no point.
func seriesOf(cells []Result) []series {
	kinds := map[string]map[bool]bool{} // peer → worker kinds it ran with
	for _, c := range cells {
		if kinds[c.Peer] == nil {
			kinds[c.Peer] = map[bool]bool{}
		}
		kinds[c.Peer][c.Procs] = true
	}
	var out []series
	index := map[string]int{}
	for _, c := range cells {
		label := c.Peer
		if len(kinds[c.Peer]) > 1 {
			label += " (" + workerKind(c) + ")"
		}
		i, ok := index[label]
		if !ok {
			i = len(out)
			index[label] = i
			out = append(out, series{label: label, other: c.Peer != baselinePeer})
		}
		s := &out[i]
		if c.Skipped != "" || slices.ContainsFunc(s.points, func(p Result) bool { return p.Workers == c.Workers }) {
			continue
		}
		s.points = append(s.points, c)
	}
	// Cells come by worker count first, so a peer measured only at high
	// counts would come late; only shmdict needs to lead.
	slices.SortStableFunc(out, func(a, b series) int { return boolRank(a.other) - boolRank(b.other) })
	return out
}

// niceStep rounds raw up to 1, 2 or 5 times a power of ten, so ticks fall
// on round numbers.
func niceStep(raw float64) float64 {
	if !(raw > 0) || math.IsInf(raw, 0) {
		return 1
	}
	pow := math.Pow(10, math.Floor(math.Log10(raw)))
	switch f := raw / pow; {
	case f <= 1:
		return pow
	case f <= 2:
		return 2 * pow
	case f <= 5:
		return 5 * pow
	default:
		return 10 * pow
	}
}

// WriteSVG writes a self-contained SVG line chart of one workload's
// throughput (ops/s, y) against its worker counts (x), one line per peer,
// with axes, tick labels, a legend and a title. Worker counts are spaced
// evenly whatever their values, as they usually double. A peer whose every
// cell was skipped appears in the legend only. It returns an error when r
// has no result for workload.
func WriteSVG(w io.Writer, r Report, workload string) error {
	cells := cellsOf(r, workload)
	if len(cells) == 0 {
		return fmt.Errorf("shmdict: bench: no results for workload %q", workload)
	}
	var workers []int
	var top float64
	for _, c := range cells {
		if c.Skipped != "" {
			continue
		}
		if !slices.Contains(workers, c.Workers) {
			workers = append(workers, c.Workers)
		}
		top = max(top, c.OpsPerS)
	}
	slices.Sort(workers)
	step := niceStep(top / chartYTicks)
	top = math.Max(step, math.Ceil(top/step)*step)

	xOf := func(n int) float64 {
		i := slices.Index(workers, n)
		if len(workers) == 1 {
			return (plotLeft + plotRight) / 2
		}
		return plotLeft + chartInset + float64(i)*(plotRight-plotLeft-2*chartInset)/float64(len(workers)-1)
	}
	yOf := func(v float64) float64 {
		return plotBottom - v/top*(plotBottom-plotTop)
	}

	ew := &errWriter{w: w}
	title := workload + ": throughput by workers"
	svgOpen(ew, title)
	// y grid and tick labels
	for v := 0.0; v <= top*1.0001; v += step {
		y := yOf(v)
		ew.printf("<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>\n", plotLeft, y, plotRight, y)
		ew.printf("<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\" dominant-baseline=\"middle\">%s</text>\n",
			plotLeft-6, y, xmlText(formatOps(v)))
	}
	// x ticks and labels
	for _, n := range workers {
		x := xOf(n)
		ew.printf("<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#888\"/>\n", x, plotBottom, x, plotBottom+5)
		ew.printf("<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%d</text>\n", x, plotBottom+18, n)
	}
	svgAxes(ew, "workers", "ops/s")
	if len(workers) == 0 {
		ew.printf("<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" fill=\"#888\">no measured cells</text>\n",
			(plotLeft+plotRight)/2, (plotTop+plotBottom)/2)
	}
	for i, s := range seriesOf(cells) {
		color := chartColors[i%len(chartColors)]
		ly := plotTop + 8 + i*20
		if len(s.points) == 0 {
			ew.printf("<text x=\"%d\" y=\"%d\" dominant-baseline=\"middle\" fill=\"#888\">%s (skipped)</text>\n",
				legendLeft+26, ly, xmlText(shortLabel(s.label)))
			continue
		}
		var pts []string
		for _, p := range s.points {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", xOf(p.Workers), yOf(p.OpsPerS)))
		}
		ew.printf("<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"%s\"/>\n", color, strings.Join(pts, " "))
		for _, p := range s.points {
			ew.printf("<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%s\"><title>%s, %s: %s ops/s</title></circle>\n",
				xOf(p.Workers), yOf(p.OpsPerS), color, xmlText(s.label), workersLabel(p), formatOps(p.OpsPerS))
		}
		ew.printf("<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"2\"/>\n",
			legendLeft, ly, legendLeft+20, ly, color)
		ew.printf("<text x=\"%d\" y=\"%d\" dominant-baseline=\"middle\">%s</text>\n", legendLeft+26, ly, xmlText(shortLabel(s.label)))
	}
	ew.printf("</svg>\n")
	return ew.err
}

// latencyColors color the p50, p99 and p99.9 bars, light to dark.
var latencyColors = [3]string{"#9ecae1", "#4292c6", "#08519c"}

// writeLatencySVG writes an SVG bar chart of one workload's p50, p99 and
// p99.9 latency per peer at the highest worker count measured, on a log
// scale since tails are often 10 to 1000 times the median.
func writeLatencySVG(w io.Writer, r Report, workload string) error {
	cells := cellsOf(r, workload)
	most := -1
	for _, c := range cells {
		if c.Skipped == "" {
			most = max(most, c.Workers)
		}
	}
	var bars []series // one point each: the cell at the highest count
	lo, hi := int64(math.MaxInt64), int64(1)
	for _, s := range seriesOf(cells) {
		for _, p := range s.points {
			if p.Workers != most {
				continue
			}
			bars = append(bars, series{label: s.label, points: []Result{p}})
			for _, v := range []int64{p.Latency.P50, p.Latency.P99, p.Latency.P999} {
				lo, hi = min(lo, max(v, 1)), max(hi, v)
			}
		}
	}
	// Decades that enclose every value, at least one.
	loExp := math.Floor(math.Log10(float64(min(lo, hi))))
	hiExp := math.Max(math.Ceil(math.Log10(float64(hi))), loExp+1)
	yOf := func(v int64) float64 {
		e := math.Log10(float64(max(v, 1)))
		e = math.Min(math.Max(e, loExp), hiExp)
		return plotBottom - (e-loExp)/(hiExp-loExp)*(plotBottom-plotTop)
	}

	ew := &errWriter{w: w}
	title := fmt.Sprintf("%s: latency at %d workers", workload, most)
	if most < 0 {
		title = workload + ": latency"
	}
	svgOpen(ew, title)
	for e := loExp; e <= hiExp; e++ {
		y := yOf(int64(math.Pow(10, e)))
		ew.printf("<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>\n", plotLeft, y, plotRight, y)
		ew.printf("<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\" dominant-baseline=\"middle\">%s</text>\n",
			plotLeft-6, y, strings.Replace(formatNs(int64(math.Pow(10, e))), ".0", "", 1)) // 10ms, not 10.0ms
	}
	if len(bars) == 0 {
		ew.printf("<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" fill=\"#888\">no measured cells</text>\n",
			(plotLeft+plotRight)/2, (plotTop+plotBottom)/2)
	}
	groupW := float64(plotRight-plotLeft) / float64(max(len(bars), 1))
	barW := math.Min(groupW*0.8/3, 40)
	for i, b := range bars {
		p := b.points[0]
		cx := plotLeft + groupW*(float64(i)+0.5)
		for j, v := range []int64{p.Latency.P50, p.Latency.P99, p.Latency.P999} {
			x := cx - 1.5*barW + float64(j)*barW
			y := yOf(v)
			ew.printf("<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"><title>%s %s: %s</title></rect>\n",
				x, y, barW-1, plotBottom-y, latencyColors[j], xmlText(b.label), []string{"p50", "p99", "p99.9"}[j], formatNs(v))
		}
		ew.printf("<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>\n", cx, plotBottom+18, xmlText(shortLabel(b.label)))
	}
	svgAxes(ew, "peer", "latency")
	for j, name := range []string{"p50", "p99", "p99.9"} {
		ly := plotTop + 8 + j*20
		ew.printf("<rect x=\"%d\" y=\"%d\" width=\"20\" height=\"12\" fill=\"%s\"/>\n", legendLeft, ly-6, latencyColors[j])
		ew.printf("<text x=\"%d\" y=\"%d\" dominant-baseline=\"middle\">%s</text>\n", legendLeft+26, ly, name)
	}
	ew.printf("</svg>\n")
	return ew.err
}

// shortLabel cuts s to labelRunes runes, marking the cut with an ellipsis.
func shortLabel(s string) string {
	r := []rune(s)
	if len(r) <= labelRunes {
		return s
	}
	return string(r[:labelRunes-1]) + "…"
}

// svgOpen writes the svg element's start, its accessible title, a white
// background and the visible title.
func svgOpen(ew *errWriter, title string) {
	t := xmlText(title)
	ew.printf("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "+
		"font-family=\"sans-serif\" font-size=\"12\" role=\"img\" aria-label=\"%s\">\n", chartW, chartH, chartW, chartH, t)
	ew.printf("<title>%s</title>\n", t)
	ew.printf("<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/>\n", chartW, chartH)
	ew.printf("<text x=\"%d\" y=\"24\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\">%s</text>\n",
		chartW/2, t)
}

// svgAxes draws the x and y axes of the plot area and their names.
func svgAxes(ew *errWriter, xName, yName string) {
	ew.printf("<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#333\"/>\n", plotLeft, plotBottom, plotRight, plotBottom)
	ew.printf("<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#333\"/>\n", plotLeft, plotTop, plotLeft, plotBottom)
	ew.printf("<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%s</text>\n", (plotLeft+plotRight)/2, plotBottom+40, xmlText(xName))
	ew.printf("<text x=\"16\" y=\"%d\" text-anchor=\"middle\" transform=\"rotate(-90 16 %d)\">%s</text>\n",
		(plotTop+plotBottom)/2, (plotTop+plotBottom)/2, xmlText(yName))
}
