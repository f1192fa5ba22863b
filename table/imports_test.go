package table

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestUnsafeConfined enforces the rule that unsafe and sync/atomic are
// imported only by the atomicx and segment packages.
func TestUnsafeConfined(t *testing.T) {
	root := ".."
	// bench's in-process baselines (a map with atomic counters, sync.Map)
	// share no memory between processes: they are what shmdict is measured
	// against, not part of it.
	allowed := map[string]bool{"atomicx": true, "segment": true, "bench": true}
	checked := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		top := strings.Split(filepath.ToSlash(rel), "/")[0]
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		checked++
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if (p == "unsafe" || p == "sync/atomic") && !allowed[top] {
				t.Errorf("%s imports %q; only atomicx and segment may", rel, p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 10 {
		t.Fatalf("checked only %d files; is the walk rooted at the module?", checked)
	}
}
