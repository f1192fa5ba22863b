package bench

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const redisSkip = "redis-server not in PATH"

// cell builds a measured result with latencies derived from its rate.
func cell(workload, peer string, workers int, procs bool, opsPerS float64) Result {
	return Result{
		Peer: peer, Workload: workload, Workers: workers, Procs: procs,
		Keys: 1000, ValueLen: 64,
		Ops: int64(opsPerS * 2), Elapsed: 2 * time.Second, OpsPerS: opsPerS,
		Latency: Percentiles{P50: 850, P99: 12_300, P999: 1_200_000, Max: 5_000_000},
		Checked: int64(opsPerS),
	}
}

// testReport is two workloads, three peers at 1 and 2 workers, and one
// skipped cell.
func testReport() Report {
	skipped := Result{Peer: "redis", Workload: "get-uniform", Workers: 2, Procs: true, Keys: 1000, ValueLen: 64, Skipped: redisSkip}
	return Report{
		When:    time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC),
		Command: "shmdict bench -profile quick",
		Machine: "Test CPU, 2 cores, 4 GiB, linux/amd64, go1.26",
		Profile: "quick",
		Results: []Result{
			cell("get-uniform", "shmdict", 1, true, 1e6),
			cell("get-uniform", "map+RWMutex", 1, false, 2e6),
			cell("get-uniform", "redis", 1, true, 250e3),
			cell("get-uniform", "shmdict", 2, true, 2e6),
			cell("get-uniform", "map+RWMutex", 2, false, 1e6),
			skipped,
			cell("mixed-90-10", "map+RWMutex", 1, false, 400e3),
			cell("mixed-90-10", "shmdict", 1, true, 800e3),
			cell("mixed-90-10", "redis", 1, true, 100e3),
			cell("mixed-90-10", "shmdict", 2, true, 1.6e6),
			cell("mixed-90-10", "map+RWMutex", 2, false, 3.2e6),
			cell("mixed-90-10", "redis", 2, true, 200e3),
		},
	}
}

// evilReport has markup in every string that comes from data.
func evilReport() Report {
	r := testReport()
	r.Machine = "<b>machine</b> & co"
	r.Command = "shmdict bench `x` | tee"
	for i := range r.Results {
		if r.Results[i].Peer == "redis" {
			r.Results[i].Peer = "<script>alert(1)</script>"
		}
		if r.Results[i].Workload == "mixed-90-10" {
			r.Results[i].Workload = `a&b <i>"x"</i>`
		}
		if r.Results[i].Skipped != "" {
			r.Results[i].Skipped = "<img src=x>"
		}
	}
	return r
}

func TestFormat(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{formatOps(0), "0"},
		{formatOps(850), "850"},
		{formatOps(456_000), "456k"},
		{formatOps(12_345_678), "12.3M"},
		{formatOps(999_700), "1.0M"},
		{formatOps(2.5e9), "2.5G"},
		{formatNs(850), "850ns"},
		{formatNs(12_300), "12.3µs"},
		{formatNs(1_200_000), "1.2ms"},
		{formatNs(345_600_000), "346ms"},
		{formatNs(3_000_000_000), "3.0s"},
		{formatRatio(3.21), "3.2x"},
		{formatRatio(0.25), "0.25x"},
		{formatRatio(41.6), "42x"},
		{formatRatio(0.0031), "0.0031x"},
		{formatRatio(0), "-"},
		{workersLabel(Result{Workers: 2, Procs: true}), "2p"},
		{workersLabel(Result{Workers: 8}), "8g"},
		{mdCode("a `b` c"), "``a `b` c``"},
		{mdText("a|b<c>"), `a\|b\<c\>`},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

// tableRows maps "workload peer workers" to the rest of each table row.
func tableRows(t *testing.T, out string) map[string][]string {
	t.Helper()
	rows := map[string][]string{}
	for _, line := range strings.Split(out, "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 4 {
			continue
		}
		rows[strings.Join(f[:3], " ")] = f[3:]
	}
	return rows
}

func TestWriteTable(t *testing.T) {
	var b bytes.Buffer
	if err := WriteTable(&b, testReport()); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	t.Logf("\n%s", out)
	if !strings.HasPrefix(out, "workload") || !strings.Contains(out, "vs shmdict") {
		t.Errorf("table has no header")
	}
	if strings.Contains(out, " \n") {
		t.Errorf("table has trailing spaces")
	}
	// Columns line up across workloads and past the skipped row.
	lines := strings.Split(out, "\n")
	col := strings.Index(lines[0], "p99.9")
	for _, line := range lines[1:] {
		rest := string([]rune(line)[min(col, len([]rune(line))):]) // tabwriter counts runes: µ is two bytes
		if line != "" && !strings.HasPrefix(rest, "1.2ms") && !strings.HasPrefix(rest, "-") {
			t.Errorf("row %q: p99.9 column is not at %d", line, col)
		}
	}
	rows := tableRows(t, out)
	if len(rows) != 12 {
		t.Errorf("table has %d rows, want 12", len(rows))
	}
	for key, want := range map[string]string{
		"get-uniform shmdict 1p":     "1.0x",
		"get-uniform map+RWMutex 1g": "2.0x",
		"get-uniform redis 1p":       "0.25x",
		"get-uniform map+RWMutex 2g": "0.50x",
		"mixed-90-10 map+RWMutex 2g": "2.0x",
		"mixed-90-10 redis 2p":       "0.12x",
	} {
		row := rows[key]
		if len(row) == 0 || row[len(row)-1] != want {
			t.Errorf("row %q = %q, want ratio %q last", key, row, want)
		}
	}
	if got := strings.Join(rows["get-uniform redis 2p"], " "); got != "- - - - - skipped: "+redisSkip {
		t.Errorf("skipped row shows %q, want the reason", got)
	}
	if row := rows["get-uniform shmdict 1p"]; !cmp.Equal(row[:5], []string{"1.0M", "850ns", "12.3µs", "1.2ms", "1.0M"}) {
		t.Errorf("shmdict row = %q, want human units", row)
	}
	// Rows are grouped by workload: every get-uniform row comes first.
	if i, j := strings.LastIndex(out, "\nget-uniform"), strings.Index(out, "\nmixed-90-10"); i > j {
		t.Errorf("workloads are interleaved")
	}
}

func TestTableRatioNeedsShmdict(t *testing.T) {
	r := Report{Results: []Result{
		cell("w", "map+RWMutex", 1, false, 1e6),
		{Peer: "shmdict", Workload: "w", Workers: 1, Procs: true, Skipped: "no /dev/shm"},
	}}
	var b bytes.Buffer
	if err := WriteTable(&b, r); err != nil {
		t.Fatal(err)
	}
	row := tableRows(t, b.String())["w map+RWMutex 1g"]
	if len(row) == 0 || row[len(row)-1] != "-" {
		t.Errorf("row without a shmdict cell = %q, want ratio -", row)
	}
}

func TestWriteJSON(t *testing.T) {
	want := testReport()
	var b bytes.Buffer
	if err := WriteJSON(&b, want); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "\n  \"results\": [") {
		t.Errorf("JSON is not indented:\n%s", b.String())
	}
	var got Report
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("JSON round trip differs (-want +got):\n%s", diff)
	}
}

func TestWriteMarkdown(t *testing.T) {
	var b bytes.Buffer
	if err := WriteMarkdown(&b, testReport()); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	t.Logf("\n%s", out)
	heading, rest, _ := strings.Cut(out, "\n\n")
	if heading != "### 1,000 keys" {
		t.Errorf("heading %q, want the key count", heading)
	}
	first, _, _ := strings.Cut(rest, "\n")
	for _, want := range []string{"Test CPU, 2 cores", "`shmdict bench -profile quick`", "2025-03-14"} {
		if !strings.Contains(first, want) {
			t.Errorf("first line %q lacks %q", first, want)
		}
	}
	if n := strings.Count(out, "| peer | workers | ops/s |"); n != 2 {
		t.Errorf("%d tables, want 2", n)
	}
	for _, want := range []string{"#### get-uniform\n", "#### mixed-90-10\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("no heading %q", want)
		}
	}
	// shmdict's throughput as a multiple of the peer's.
	for _, want := range []string{
		"| map+RWMutex | 1g | 2.0M | 850ns | 12.3µs | 1.2ms | 0.50x |",
		"| redis | 1p | 250k | 850ns | 12.3µs | 1.2ms | 4.0x |",
		"| redis | 2p | 200k | 850ns | 12.3µs | 1.2ms | 8.0x |",
		"| redis | 2p | skipped: " + redisSkip + " |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no row %q", want)
		}
	}

	b.Reset()
	if err := WriteMarkdown(&b, evilReport()); err != nil {
		t.Fatal(err)
	}
	out = b.String()
	for i := range len(out) {
		if (out[i] == '<' || out[i] == '>') && (i == 0 || out[i-1] != '\\') {
			t.Fatalf("Markdown has unescaped markup at %d:\n%s", i, out)
		}
	}
	if !strings.Contains(out, "``shmdict bench `x` | tee``") {
		t.Errorf("command not in a code span:\n%s", out)
	}
}

// svgTokens parses s as XML and counts its start elements by name.
func svgTokens(t *testing.T, s string) map[string]int {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(s))
	elems := map[string]int{}
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not XML: %v\n%s", err, s)
		}
		if se, ok := tok.(xml.StartElement); ok {
			elems[se.Name.Local]++
		}
	}
	return elems
}

func TestWriteSVG(t *testing.T) {
	for _, r := range []Report{testReport(), evilReport()} {
		for _, wl := range workloads(r) {
			var b bytes.Buffer
			if err := WriteSVG(&b, r, wl); err != nil {
				t.Fatal(err)
			}
			out := b.String()
			elems := svgTokens(t, out)
			if elems["svg"] != 1 || elems["polyline"] != 3 {
				t.Errorf("%s: %d svg, %d polyline elements, want 1 and 3 (one per peer)", wl, elems["svg"], elems["polyline"])
			}
			if !strings.Contains(out, xmlText(wl)+": throughput") {
				t.Errorf("%s: no title", wl)
			}
			for _, label := range []string{">workers<", ">ops/s<", ">2.0M<", ">shmdict<", ">map+RWMutex<"} {
				if !strings.Contains(out, label) {
					t.Errorf("%s: no label %q", wl, label)
				}
			}
			b.Reset()
			if err := writeLatencySVG(&b, r, wl); err != nil {
				t.Fatal(err)
			}
			if elems := svgTokens(t, b.String()); elems["rect"] < 9 {
				t.Errorf("%s latency chart: %d rect elements, want 3 bars for each peer", wl, elems["rect"])
			}
		}
	}

	// A peer with every cell skipped is in the legend but draws no line.
	r := Report{Results: []Result{
		cell("w", "shmdict", 1, true, 1e6),
		{Peer: "redis", Workload: "w", Workers: 1, Procs: true, Skipped: "missing"},
	}}
	var b bytes.Buffer
	if err := WriteSVG(&b, r, "w"); err != nil {
		t.Fatal(err)
	}
	if elems := svgTokens(t, b.String()); elems["polyline"] != 1 || !strings.Contains(b.String(), "redis (skipped)") {
		t.Errorf("all-skipped peer: %d polylines, want 1 and a legend entry\n%s", elems["polyline"], b.String())
	}
	if err := WriteSVG(&b, r, "nope"); err == nil {
		t.Errorf("WriteSVG of an unknown workload succeeded")
	}
}

func TestWriteHTML(t *testing.T) {
	var b bytes.Buffer
	if err := WriteHTML(&b, testReport()); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"<!DOCTYPE html>", "get-uniform", "mixed-90-10", "Test CPU", "skipped: " + redisSkip, "<style>", "0.25x"} {
		if !strings.Contains(out, want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	if n := strings.Count(out, "<svg "); n != 4 {
		t.Errorf("HTML has %d charts, want 2 per workload", n)
	}
	if strings.Contains(out, "<script") {
		t.Errorf("HTML has a script")
	}

	b.Reset()
	if err := WriteHTML(&b, evilReport()); err != nil {
		t.Fatal(err)
	}
	out = b.String()
	for _, bad := range []string{"<script", "<b>", "<img", "<i>"} {
		if strings.Contains(out, bad) {
			t.Errorf("HTML has unescaped %q from data", bad)
		}
	}
	for _, want := range []string{"&lt;script&gt;", "&lt;b&gt;machine&lt;/b&gt; &amp; co", "a&amp;b &lt;i&gt;"} {
		if !strings.Contains(out, want) {
			t.Errorf("HTML lacks escaped %q", want)
		}
	}
}

// failWriter fails every write.
type failWriter struct{}

var errFail = errors.New("write failed")

func (failWriter) Write([]byte) (int, error) { return 0, errFail }

func TestWriteErrors(t *testing.T) {
	r := testReport()
	for name, write := range map[string]func(io.Writer) error{
		"table":    func(w io.Writer) error { return WriteTable(w, r) },
		"json":     func(w io.Writer) error { return WriteJSON(w, r) },
		"markdown": func(w io.Writer) error { return WriteMarkdown(w, r) },
		"svg":      func(w io.Writer) error { return WriteSVG(w, r, "get-uniform") },
		"html":     func(w io.Writer) error { return WriteHTML(w, r) },
	} {
		if err := write(failWriter{}); !errors.Is(err, errFail) {
			t.Errorf("%s: error %v, want the writer's", name, err)
		}
	}
}

// TestFreshColumns: get-fresh cells show their first gets against their
// later ones in the Markdown table (three more columns) and at the end of
// the terminal table's row.
func TestFreshColumns(t *testing.T) {
	r := testReport()
	fresh := cell(WGetFresh, "shmdict", 1, true, 1e6)
	fresh.Fresh = &FreshCost{FirstOps: 100_000, FirstNs: 1000, LaterNs: 500, Ratio: 2}
	skipped := Result{Peer: "map+RWMutex", Workload: WGetFresh, Workers: 1, Keys: 1000, Skipped: "in-process"}
	r.Results = append(r.Results, fresh, skipped)
	var md, tab bytes.Buffer
	if err := WriteMarkdown(&md, r); err != nil {
		t.Fatal(err)
	}
	if err := WriteTable(&tab, r); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| peer | workers | ops/s | p50 | p99 | p99.9 | shmdict vs peer | first 100k gets | later gets | first / later |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
		"| shmdict | 1p | 1.0M | 850ns | 12.3µs | 1.2ms | 1.0x | 1.0µs | 500ns | 2.0x |\n",
		"| map+RWMutex | 1g | skipped: in-process | - | - | - | - | - | - | - |\n",
	} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md.String())
		}
	}
	if n := strings.Count(md.String(), "first / later"); n != 1 {
		t.Errorf("%d tables with fresh columns, want 1 (get-fresh's)", n)
	}
	if want := "first 100k gets 1.0µs/get, later 500ns (2.0x)\n"; !strings.Contains(tab.String(), want) {
		t.Errorf("table lacks %q:\n%s", want, tab.String())
	}
}
