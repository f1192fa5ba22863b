package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// maxFuncLines bounds a function of the CLI, function literals included,
// from its func line to its closing brace: a command that outgrows it is
// split into named steps (see cmd_gc.go, cmd_load.go).
const maxFuncLines = 100

// TestSourceRules checks the rules a newcomer can rely on in this
// directory: the CLI reaches the library only through package table
// (never segment), only cmd_bench.go links the bench harness, and no
// function is longer than maxFuncLines.
func TestSourceRules(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			switch {
			case p == "github.com/shmdict/shmdict/segment":
				t.Errorf("%s imports %s: use package table's API (add to table/inspect.go what is missing)", name, p)
			case p == "github.com/shmdict/shmdict/bench" && name != "cmd_bench.go":
				t.Errorf("%s imports %s: only cmd_bench.go may", name, p)
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n.(type) {
			case *ast.FuncDecl, *ast.FuncLit:
				start, end := fset.Position(n.Pos()), fset.Position(n.End())
				if lines := end.Line - start.Line + 1; lines > maxFuncLines {
					t.Errorf("%s: a function of %d lines (at most %d)", start, lines, maxFuncLines)
				}
			}
			return true
		})
	}
	if checked < 10 {
		t.Fatalf("checked only %d files; is the test run in cmd/shmdict?", checked)
	}
}
