package table

import (
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fileLayers lists the package's non-test files from the bottom up: each
// file may use (call, name a type, field or constant of) only the files
// before it. The index mechanics come first, the public operations by
// theme last; doc.go says where a Get and a write go.
var fileLayers = []string{
	"doc.go", "errors.go", "codec.go", "failpoints.go", "hash.go",
	"slot.go",   // the key and value words: encodings only
	"table.go",  // the Table, Options, open and close, input checks, the fault guards, Stats
	"index.go",  // slot geometry, the probe walker, tag and dead words
	"tiers.go",  // growth by tiers: tier geometry, growing, sealing
	"lanes.go",  // adder lanes: cells, sums, indices
	"record.go", // reading records: keys, deadlines
	"find.go",   // finding a key's slot
	"ring.go",   // the event ring's entries, doorbells, notify
	"reuse.go",  // slot reuse: CAS of a live key's value, retire, evict
	"alloc.go",  // writing and freeing records
	"claim.go",  // claiming a slot, both formats
	"ttl.go",    // reclaiming expired values
	"value.go",  // the validated value read, retire, counters' arithmetic
	"counter.go", "adder.go", "getmany.go", "iter.go", "read.go",
	"notify.go", "events.go", "verify.go", "write.go", "load.go",
	"maintain.go", "inspect.go", "typed.go",
}

// TestFileLayers checks that files tie one way: no file uses one listed
// above it in fileLayers, and every file is listed. A new mechanism goes
// in the file for it, or in a new file placed where its uses allow.
func TestFileLayers(t *testing.T) {
	if testing.Short() {
		t.Skip("type-checks the package from source")
	}
	fs := token.NewFileSet()
	ents, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File
	for _, e := range ents {
		n := e.Name()
		if !strings.HasSuffix(n, ".go") || strings.HasSuffix(n, "_test.go") {
			continue
		}
		if !slices.Contains(fileLayers, n) {
			t.Errorf("%s is not in fileLayers: place it there", n)
		}
		f, err := parser.ParseFile(fs, n, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	conf := types.Config{Importer: importer.ForCompiler(fs, "source", nil)}
	info := &types.Info{Uses: map[*ast.Ident]types.Object{}}
	pkg, err := conf.Check("github.com/shmdict/shmdict/table", fs, files, info)
	if err != nil {
		t.Fatal(err)
	}
	layer := map[string]int{}
	for i, n := range fileLayers {
		layer[n] = i
	}
	seen := map[[2]string]bool{}
	for id, obj := range info.Uses {
		if obj.Pkg() != pkg || !obj.Pos().IsValid() {
			continue
		}
		from := filepath.Base(fs.Position(id.Pos()).Filename)
		to := filepath.Base(fs.Position(obj.Pos()).Filename)
		if from == to || layer[from] > layer[to] || seen[[2]string{from, to}] {
			continue
		}
		seen[[2]string{from, to}] = true
		t.Errorf("%s uses %s of %s, which is above it (%s)", from, obj.Name(), to, fs.Position(id.Pos()))
	}
}
