package fuzz

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shmdict/shmdict/table"
)

// backend opens segment images and repairs tables. The fuzz targets use
// heapBackend: a copy of the image in Go-heap memory (table.AttachImage),
// with the same content checks as a file, at memory speed.
// TestCorpusThroughFiles replays every seed corpus entry through
// fileBackend, the path a segment file takes (write, Attach with its
// registry and locks, Repair by name under the exclusive lock, Open), so
// that the two stay interchangeable.
type backend interface {
	// attach opens image as a table.
	attach(t testing.TB, image []byte) (*table.Table, error)
	// attachFailed checks what else must hold when attach failed with err.
	attachFailed(t testing.TB, image []byte, err error)
	// repair repairs tb and returns the repaired table (tb itself, or a
	// new attachment after closing tb).
	repair(t testing.TB, tb *table.Table) (*table.Table, table.Report, error)
}

type heapBackend struct{}

func (heapBackend) attach(t testing.TB, image []byte) (*table.Table, error) {
	return table.AttachImage(image)
}

func (heapBackend) attachFailed(testing.TB, []byte, error) {}

func (heapBackend) repair(t testing.TB, tb *table.Table) (*table.Table, table.Report, error) {
	rep, err := tb.Repair()
	return tb, rep, err
}

// fileBackend writes each image to one file.
type fileBackend struct{ path string }

func newFileBackend(t testing.TB) fileBackend {
	return fileBackend{path: filepath.Join(t.TempDir(), "seg")}
}

func (b fileBackend) attach(t testing.TB, image []byte) (*table.Table, error) {
	t.Helper()
	if err := os.WriteFile(b.path, image, 0o600); err != nil {
		t.Fatal(err)
	}
	return table.Attach(b.path)
}

// attachFailed: Open must fail the same way and leave the file alone.
func (b fileBackend) attachFailed(t testing.TB, image []byte, err error) {
	t.Helper()
	tb, err2 := table.Open(b.path, table.Options{Capacity: 10})
	if err2 == nil {
		tb.Close()
		t.Fatalf("Open succeeded where Attach failed with %v", err)
	}
	if !errors.Is(err2, table.ErrCorrupt) && !errors.Is(err2, table.ErrVersion) {
		t.Fatalf("Open: %v, want ErrCorrupt or ErrVersion", err2)
	}
	if after, _ := os.ReadFile(b.path); !bytes.Equal(after, image) {
		t.Fatalf("a failed Open changed the file")
	}
}

func (b fileBackend) repair(t testing.TB, tb *table.Table) (*table.Table, table.Report, error) {
	t.Helper()
	if err := tb.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	rep, err := table.Repair(b.path, false)
	if err != nil {
		return nil, rep, err
	}
	tb, err = table.Attach(b.path)
	if err != nil {
		t.Fatalf("Attach after Repair: %v", err)
	}
	return tb, rep, nil
}

// TestCorpusThroughFiles replays each target's seed corpus
// (testdata/fuzz/<Target>/) through segment files, and checks that the
// heap backend the targets use accepts and refuses the same images.
func TestCorpusThroughFiles(t *testing.T) {
	tp := getTemplate(t)
	evFile, evSlots := evictTemplate(t)
	grow := getGrowTemplate(t)
	fb := newFileBackend(t)
	variants := layoutVariants(tp)
	for _, target := range []string{"FuzzAttach", "FuzzFlip", "FuzzFlipEvict", "FuzzFlipLayout", "FuzzFlipGrow"} {
		for _, c := range readCorpus(t, target) {
			t.Run(target+"/"+c.name, func(t *testing.T) {
				switch target {
				case "FuzzAttach":
					data, size := c.bytes(t, 0), c.uint32(t, 1)
					if len(data) > maxAttachData {
						t.Fatalf("%d bytes of data: FuzzAttach skips more than %d", len(data), maxAttachData)
					}
					image := extend(data, size)
					herr := closed(table.AttachImage(image))
					ferr := closed(fb.attach(t, image))
					if kind(herr) != kind(ferr) {
						t.Fatalf("AttachImage: %v; Attach of the file: %v", herr, ferr)
					}
					runAttach(t, fb, tp, data, size)
				case "FuzzFlip":
					runFlip(t, fb, tp, c.bytes(t, 0))
				case "FuzzFlipEvict":
					runFlipEvict(t, fb, evFile, evSlots, c.bytes(t, 0))
				case "FuzzFlipLayout":
					runFlipLayout(t, fb, tp, variants, c.uint8(t, 0), c.bytes(t, 1))
				case "FuzzFlipGrow":
					runFlipGrow(t, fb, grow, c.bytes(t, 0))
				}
			})
		}
	}
	// FuzzFlipGrow's seeds in code.
	for i, data := range growSeeds {
		t.Run(fmt.Sprintf("FuzzFlipGrow/seed-%d", i), func(t *testing.T) { runFlipGrow(t, fb, grow, data) })
	}
	// FuzzFlipLayout's bases, unflipped.
	for i := range variants {
		t.Run(fmt.Sprintf("FuzzFlipLayout/variant-%d", i), func(t *testing.T) {
			runFlipLayout(t, fb, tp, variants, uint8(i), nil)
		})
	}
}

// closed closes tb if there is one and passes err on.
func closed(tb *table.Table, err error) error {
	if err == nil {
		tb.Close()
	}
	return err
}

// kind is the sentinel err matches: nil, ErrCorrupt, ErrVersion, or err.
func kind(err error) error {
	for _, s := range []error{table.ErrCorrupt, table.ErrVersion} {
		if errors.Is(err, s) {
			return s
		}
	}
	return err
}

// corpusEntry is one file of a seed corpus: its values, as the lines
// after "go test fuzz v1" spell them.
type corpusEntry struct {
	name   string
	values []string
}

func readCorpus(t testing.TB, target string) []corpusEntry {
	t.Helper()
	dir := filepath.Join("testdata", "fuzz", target)
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil // no seeds committed (yet)
	} else if err != nil {
		t.Fatal(err)
	}
	var out []corpusEntry
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(lines) < 2 || lines[0] != "go test fuzz v1" {
			t.Fatalf("%s/%s: not a corpus file", dir, e.Name())
		}
		out = append(out, corpusEntry{name: e.Name(), values: lines[1:]})
	}
	return out
}

// bytes decodes value i, a []byte("...") literal.
func (c corpusEntry) bytes(t testing.TB, i int) []byte {
	t.Helper()
	v, ok := strings.CutPrefix(c.values[i], "[]byte(")
	if !ok || !strings.HasSuffix(v, ")") {
		t.Fatalf("%s: value %d is not a []byte: %.40s", c.name, i, c.values[i])
	}
	s, err := strconv.Unquote(v[:len(v)-1])
	if err != nil {
		t.Fatalf("%s: value %d: %v", c.name, i, err)
	}
	return []byte(s)
}

// uint8 decodes value i, a byte(N) or uint8(N) literal.
func (c corpusEntry) uint8(t testing.TB, i int) uint8 {
	t.Helper()
	v, ok := strings.CutPrefix(c.values[i], "byte(")
	if !ok {
		v, ok = strings.CutPrefix(c.values[i], "uint8(")
	}
	if !ok || !strings.HasSuffix(v, ")") {
		t.Fatalf("%s: value %d is not a uint8: %.40s", c.name, i, c.values[i])
	}
	v = v[:len(v)-1]
	if n, err := strconv.ParseUint(v, 0, 8); err == nil {
		return uint8(n)
	}
	// The fuzzer writes a byte as a rune literal: byte('«') is 0xab.
	if q, ok := strings.CutPrefix(v, "'"); ok {
		if r, _, tail, err := strconv.UnquoteChar(q, '\''); err == nil && tail == "'" && r <= 0xff {
			return uint8(r)
		}
	}
	t.Fatalf("%s: value %d is not a uint8: %.40s", c.name, i, c.values[i])
	return 0
}

// uint32 decodes value i, a uint32(N) literal.
func (c corpusEntry) uint32(t testing.TB, i int) uint32 {
	t.Helper()
	v, ok := strings.CutPrefix(c.values[i], "uint32(")
	if !ok || !strings.HasSuffix(v, ")") {
		t.Fatalf("%s: value %d is not a uint32: %.40s", c.name, i, c.values[i])
	}
	n, err := strconv.ParseUint(v[:len(v)-1], 0, 32)
	if err != nil {
		t.Fatalf("%s: value %d: %v", c.name, i, err)
	}
	return uint32(n)
}

// BenchmarkTargets runs each target's body over its seed corpus, one
// entry per iteration, on the heap backend the fuzzer uses: ns/op is the
// cost of one execution, without the fuzzer's own overhead (mutation,
// coverage). Profile it to see where a target's time goes:
//
//	go test -run '^$' -bench Targets -cpuprofile /tmp/cpu.out ./fuzz/
func BenchmarkTargets(b *testing.B) {
	tp := getTemplate(b)
	evFile, evSlots := evictTemplate(b)
	grow := getGrowTemplate(b)
	variants := layoutVariants(tp)
	for _, target := range []string{"FuzzAttach", "FuzzFlip", "FuzzFlipEvict", "FuzzFlipLayout", "FuzzFlipGrow"} {
		corpus := readCorpus(b, target)
		if target == "FuzzFlipLayout" {
			corpus = readCorpus(b, "FuzzFlip") // its flips, on each variant in turn
		}
		b.Run(target, func(b *testing.B) {
			// cpu-ns/op (user and system time of the process, GC
			// included) is steadier than ns/op on a shared machine.
			cpu0 := cpuTime()
			defer func() { b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op") }()
			i := 0
			for b.Loop() {
				c := corpus[i%len(corpus)]
				i++
				switch target {
				case "FuzzAttach":
					runAttach(b, heapBackend{}, tp, c.bytes(b, 0), c.uint32(b, 1))
				case "FuzzFlip":
					runFlip(b, heapBackend{}, tp, c.bytes(b, 0))
				case "FuzzFlipEvict":
					runFlipEvict(b, heapBackend{}, evFile, evSlots, c.bytes(b, 0))
				case "FuzzFlipLayout":
					runFlipLayout(b, heapBackend{}, tp, variants, uint8(i), c.bytes(b, 0))
				case "FuzzFlipGrow":
					runFlipGrow(b, heapBackend{}, grow, c.bytes(b, 0))
				}
			}
		})
	}
}

// cpuTime is the process's user and system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestCorpusValueParsing pins the literals readCorpus's decoders accept,
// as the fuzzer writes them.
func TestCorpusValueParsing(t *testing.T) {
	for in, want := range map[string]uint8{"byte('«')": 0xab, "byte('!')": '!', `byte('\x00')`: 0, `byte('\'')`: '\'', "uint8(7)": 7, "byte('ÿ')": 0xff} {
		if got := (corpusEntry{values: []string{in}}).uint8(t, 0); got != want {
			t.Errorf("%s: %#x, want %#x", in, got, want)
		}
	}
	c := corpusEntry{values: []string{`[]byte("a\x00\xff")`, "uint32(28672)"}}
	if b, n := c.bytes(t, 0), c.uint32(t, 1); string(b) != "a\x00\xff" || n != 28672 {
		t.Errorf("bytes %q, uint32 %d", b, n)
	}
}
