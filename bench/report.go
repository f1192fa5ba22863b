package bench

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"html"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
)

// baselinePeer is the peer every other is compared with.
const baselinePeer = "shmdict"

// WriteTable writes r as a plain-text table for a terminal: one row per
// cell, grouped by workload, with throughput and latency in human units and
// each peer's throughput as a ratio of shmdict's at the same worker count.
// A skipped cell shows dashes instead of numbers and, last, why it was
// skipped.
func WriteTable(w io.Writer, r Report) error {
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	ew := &errWriter{w: tw}
	ew.printf("workload\tpeer\tworkers\tops/s\tp50\tp99\tp99.9\tchecked\tvs shmdict\n")
	for i, wl := range workloads(r) {
		if i > 0 {
			// Empty cells rather than an empty line: a line with fewer cells
			// would end tabwriter's column blocks and misalign the groups.
			ew.printf("\t\t\t\t\t\t\t\t\n")
		}
		cells := cellsOf(r, wl)
		for _, c := range cells {
			ew.printf("%s\t%s\t%s\t", oneLine(c.Workload), oneLine(c.Peer), workersLabel(c))
			if c.Skipped != "" {
				// The reason goes last, where it does not widen a column.
				ew.printf("-\t-\t-\t-\t-\tskipped: %s\n", oneLine(c.Skipped))
				continue
			}
			ratio := "-"
			if base := baseline(cells, c); base != nil && base.OpsPerS > 0 {
				ratio = formatRatio(c.OpsPerS / base.OpsPerS)
			}
			ew.printf("%s\t%s\t%s\t%s\t%s\t%s", formatOps(c.OpsPerS),
				formatLatency(c), formatNs(c.Latency.P99), formatNs(c.Latency.P999),
				formatOps(float64(c.Checked)), ratio)
			if c.Fresh != nil {
				// Last, like a skip reason, where it does not widen a column.
				ew.printf("\t%s", freshText(c.Fresh))
			}
			ew.printf("\n")
		}
	}
	if ew.err == nil {
		ew.err = tw.Flush()
	}
	if ew.err != nil {
		return ew.err
	}
	// tabwriter pads every cell but the last, leaving the separator lines
	// full of spaces.
	var out strings.Builder
	for line := range strings.Lines(buf.String()) {
		out.WriteString(strings.TrimRight(line, " \n"))
		out.WriteByte('\n')
	}
	_, err := io.WriteString(w, out.String())
	return err
}

// WriteJSON writes r as indented JSON, the form other tools read back.
func WriteJSON(w io.Writer, r Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteMarkdown writes r as a section for the README: a line naming the
// machine, the command and the date, then one table per workload giving
// each peer's throughput and latency and shmdict's throughput as a
// multiple of that peer's. It writes no HTML.
func WriteMarkdown(w io.Writer, r Report) error {
	ew := &errWriter{w: w}
	if keys := keysOf(r); keys > 0 {
		ew.printf("### %s keys\n\n", formatCount(keys))
	}
	ew.printf("Measured on %s with %s on %s", mdText(r.Machine), mdCode(r.Command), dateOf(r))
	if r.Profile != "" {
		ew.printf(", profile %s", mdText(r.Profile))
	}
	ew.printf(".")
	if r.Note != "" {
		ew.printf(" %s", mdText(r.Note))
	}
	ew.printf("\n")
	for _, wl := range workloads(r) {
		cells := cellsOf(r, wl)
		fresh := slices.ContainsFunc(cells, func(c Result) bool { return c.Fresh != nil })
		ew.printf("\n#### %s\n\n", mdText(wl))
		ew.printf("| peer | workers | ops/s | p50 | p99 | p99.9 | shmdict vs peer |")
		if fresh {
			ew.printf(" first %s gets | later gets | first / later |", formatOps(float64(freshOpsOf(cells))))
		}
		ew.printf("\n|---|---:|---:|---:|---:|---:|---:|")
		if fresh {
			ew.printf("---:|---:|---:|")
		}
		ew.printf("\n")
		for _, c := range cells {
			ew.printf("| %s | %s | ", mdText(c.Peer), workersLabel(c))
			if c.Skipped != "" {
				ew.printf("skipped: %s | - | - | - | - |", mdText(c.Skipped))
				if fresh {
					ew.printf(" - | - | - |")
				}
				ew.printf("\n")
				continue
			}
			ratio := "-"
			if base := baseline(cells, c); base != nil && c.OpsPerS > 0 {
				ratio = formatRatio(base.OpsPerS / c.OpsPerS)
			}
			ew.printf("%s | %s | %s | %s | %s |", formatOps(c.OpsPerS),
				formatLatency(c), formatNs(c.Latency.P99), formatNs(c.Latency.P999), ratio)
			if fresh {
				if f := c.Fresh; f != nil {
					ew.printf(" %s | %s | %s |", formatNs(int64(f.FirstNs)), formatNs(int64(f.LaterNs)), formatRatio(f.Ratio))
				} else {
					ew.printf(" - | - | - |")
				}
			}
			ew.printf("\n")
		}
	}
	return ew.err
}

// freshText writes a get-fresh cell's first-gets cost for the terminal
// table: "first 100k gets 812ns/get, later 455ns (1.8x)".
func freshText(f *FreshCost) string {
	return fmt.Sprintf("first %s gets %s/get, later %s (%s)", formatOps(float64(f.FirstOps)),
		formatNs(int64(f.FirstNs)), formatNs(int64(f.LaterNs)), formatRatio(f.Ratio))
}

// freshOpsOf returns the first-gets count of the get-fresh cells (the
// same for every cell of a run).
func freshOpsOf(cells []Result) int64 {
	for _, c := range cells {
		if c.Fresh != nil {
			return c.Fresh.FirstOps
		}
	}
	return 0
}

// keysOf returns the key universe of r's cells, or 0 if they differ.
func keysOf(r Report) int {
	keys := 0
	for _, c := range r.Results {
		if keys != 0 && c.Keys != keys {
			return 0
		}
		keys = c.Keys
	}
	return keys
}

// formatCount writes n with thousands separators: 1,000,000.
func formatCount(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// WriteHTML writes r as one self-contained HTML page: the machine and
// command, then for each workload a throughput chart, a latency chart and
// a table. Styles are inline; there is no script. Every string from r is
// escaped.
func WriteHTML(w io.Writer, r Report) error {
	ew := &errWriter{w: w}
	ew.printf(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>shmdict benchmarks</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1400px; color: #222; }
.meta { color: #555; }
code { background: #f3f3f3; padding: 0 .3em; }
.charts { display: flex; flex-wrap: wrap; gap: 1em; }
table { border-collapse: collapse; margin: 1em 0 2em; }
th, td { padding: .25em .8em; border-bottom: 1px solid #ddd; text-align: right; }
th:nth-child(-n+2), td:nth-child(-n+2) { text-align: left; }
td.skip { text-align: left; color: #888; font-style: italic; }
</style>
</head>
<body>
<h1>shmdict benchmarks</h1>
`)
	ew.printf("<p class=\"meta\">Machine: %s<br>\nCommand: <code>%s</code><br>\nDate: %s",
		html.EscapeString(r.Machine), html.EscapeString(r.Command), html.EscapeString(dateOf(r)))
	if r.Profile != "" {
		ew.printf("<br>\nProfile: %s", html.EscapeString(r.Profile))
	}
	ew.printf("</p>\n")
	for _, wl := range workloads(r) {
		ew.printf("<section>\n<h2>%s</h2>\n<div class=\"charts\">\n", html.EscapeString(wl))
		if ew.err == nil {
			ew.err = WriteSVG(ew, r, wl)
		}
		if ew.err == nil {
			ew.err = writeLatencySVG(ew, r, wl)
		}
		ew.printf("</div>\n<table>\n<thead><tr><th>peer</th><th>workers</th><th>ops/s</th>" +
			"<th>p50</th><th>p99</th><th>p99.9</th><th>checked</th><th>vs shmdict</th><th>fresh process</th></tr></thead>\n<tbody>\n")
		cells := cellsOf(r, wl)
		for _, c := range cells {
			ew.printf("<tr><td>%s</td><td>%s</td>", html.EscapeString(c.Peer), workersLabel(c))
			if c.Skipped != "" {
				ew.printf("<td class=\"skip\" colspan=\"7\">skipped: %s</td></tr>\n", html.EscapeString(c.Skipped))
				continue
			}
			ratio := "-"
			if base := baseline(cells, c); base != nil && base.OpsPerS > 0 {
				ratio = formatRatio(c.OpsPerS / base.OpsPerS)
			}
			fresh := "-"
			if c.Fresh != nil {
				fresh = freshText(c.Fresh)
			}
			ew.printf("<td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>\n",
				formatOps(c.OpsPerS), formatLatency(c), formatNs(c.Latency.P99),
				formatNs(c.Latency.P999), formatOps(float64(c.Checked)), ratio, html.EscapeString(fresh))
		}
		ew.printf("</tbody>\n</table>\n</section>\n")
	}
	ew.printf("</body>\n</html>\n")
	return ew.err
}

// workloads returns the workload names of r in the order they first appear.
func workloads(r Report) []string {
	var names []string
	for _, c := range r.Results {
		if !slices.Contains(names, c.Workload) {
			names = append(names, c.Workload)
		}
	}
	return names
}

// peerRank orders peers: shmdict first, then the others as they first
// appear in r.
func peerRank(r Report) map[string]int {
	rank := map[string]int{baselinePeer: 0}
	for _, c := range r.Results {
		if _, ok := rank[c.Peer]; !ok {
			rank[c.Peer] = len(rank)
		}
	}
	return rank
}

// cellsOf returns the results of one workload ordered by worker count,
// then peer (shmdict first), processes before goroutines, so each worker
// count's cells sit together with shmdict's on top.
func cellsOf(r Report, workload string) []Result {
	rank := peerRank(r)
	var cells []Result
	for _, c := range r.Results {
		if c.Workload == workload {
			cells = append(cells, c)
		}
	}
	slices.SortStableFunc(cells, func(a, b Result) int {
		if a.Workers != b.Workers {
			return a.Workers - b.Workers
		}
		if rank[a.Peer] != rank[b.Peer] {
			return rank[a.Peer] - rank[b.Peer]
		}
		return boolRank(!a.Procs) - boolRank(!b.Procs)
	})
	return cells
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}

// baseline returns the shmdict cell that c is compared with: a measured
// one of the same workload and worker count, of the same kind of workers
// (processes or goroutines) when there is one. It returns nil when shmdict
// has no measured cell there.
func baseline(cells []Result, c Result) *Result {
	var found *Result
	for i := range cells {
		b := &cells[i]
		if b.Peer != baselinePeer || b.Workload != c.Workload || b.Workers != c.Workers || b.Skipped != "" {
			continue
		}
		if b.Procs == c.Procs {
			return b
		}
		if found == nil {
			found = b
		}
	}
	return found
}

// workersLabel writes a worker count with its kind: "2p" for processes,
// "2g" for goroutines.
func workersLabel(c Result) string {
	return fmt.Sprintf("%d%s", c.Workers, workerKind(c))
}

// workerKind is "p" when c's workers were processes, "g" for goroutines.
func workerKind(c Result) string {
	if c.Procs {
		return "p"
	}
	return "g"
}

// human writes v with three significant digits at most and the largest
// unit, each 1000 times the previous, that keeps it at least 1: 12.3M,
// 456k. Values in the first unit are written as integers.
func human(v float64, units []string) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "-"
	}
	i := 0
	// 999.5 rather than 1000, so a value that would round to "1000k" is
	// written "1.0M".
	for i < len(units)-1 && math.Abs(v) >= 999.5 {
		v /= 1000
		i++
	}
	switch {
	case i == 0:
		return fmt.Sprintf("%.0f%s", v, units[i])
	case math.Abs(v) < 99.95:
		return fmt.Sprintf("%.1f%s", v, units[i])
	default:
		return fmt.Sprintf("%.0f%s", v, units[i])
	}
}

// formatOps writes an operation rate or count: 850, 456k, 12.3M.
func formatOps(v float64) string { return human(v, []string{"", "k", "M", "G", "T"}) }

// formatNs writes a duration in nanoseconds: 850ns, 12.3µs, 1.2ms.
func formatNs(ns int64) string { return human(float64(ns), []string{"ns", "µs", "ms", "s"}) }

// formatLatency writes a cell's median latency.
func formatLatency(c Result) string { return formatNs(c.Latency.P50) }

// formatRatio writes a throughput ratio with two significant digits or
// so: 0.25x, 3.2x, 41x.
func formatRatio(v float64) string {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0) || v <= 0:
		return "-"
	case v >= 9.95:
		return fmt.Sprintf("%.0fx", v)
	case v >= 0.995:
		return fmt.Sprintf("%.1fx", v)
	case v >= 0.01:
		return fmt.Sprintf("%.2fx", v)
	default:
		return fmt.Sprintf("%.2gx", v)
	}
}

// dateOf writes the run's date, or "unknown date" when it was not set.
func dateOf(r Report) string {
	if r.When.IsZero() {
		return "unknown date"
	}
	return r.When.Format("2006-01-02")
}

// oneLine replaces control characters (tabs, newlines) with spaces, so a
// string from a result cannot break a table row.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// mdSpecial are the characters that Markdown could read as markup (tables,
// emphasis, links, inline HTML); mdText escapes them with a backslash.
const mdSpecial = "\\`*_[]<>|#"

// mdText escapes s for a Markdown table cell or line.
func mdText(s string) string {
	var b strings.Builder
	for _, r := range oneLine(s) {
		if strings.ContainsRune(mdSpecial, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// mdCode writes s as a Markdown code span, fenced with one more backtick
// than its longest run of backticks so that none can close it early.
func mdCode(s string) string {
	s = oneLine(s)
	if s == "" {
		return "(no command)"
	}
	longest, run := 0, 0
	for _, r := range s {
		if r == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	fence := strings.Repeat("`", longest+1)
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") {
		s = " " + s + " "
	}
	return fence + s + fence
}

// xmlText escapes s for SVG text content or an attribute value.
func xmlText(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s)) // a strings.Builder does not fail
	return b.String()
}

// errWriter keeps the first error of a run of writes, so a writer function
// checks once at the end rather than after every line.
type errWriter struct {
	w   io.Writer
	err error
}

// Write writes p unless an earlier write failed.
func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

func (e *errWriter) printf(format string, args ...any) {
	fmt.Fprintf(e, format, args...) // the error is kept in e.err
}

// Chart geometry, in SVG user units (pixels at 100% zoom). The right
// margin holds the legend.
const (
	chartW      = 680
	chartH      = 360
	plotLeft    = 70
	plotRight   = 470
	plotTop     = 44
	plotBottom  = 300
	legendLeft  = 490
	chartInset  = 24 // keeps the first and last points off the y axis and the edge
	labelRunes  = 24 // longer peer names are cut in legends so they fit the margin
	chartYTicks = 5  // about this many y ticks; niceStep rounds the step
)

// chartColors are the series colors in order; shmdict, first when
// present, gets the blue. Chosen to stay distinct for the color-blind (Okabe–Ito).
var chartColors = []string{"#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#F0E442", "#000000"}
