package table

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestFailpointsListed checks that the crash tests' lists name every
// failpoint the table and arena code passes, and nothing else: a
// segment.Failpoint call with a name missing from the lists would never
// be killed at.
func TestFailpointsListed(t *testing.T) {
	values := map[string]string{} // constant name -> failpoint name
	called := map[string]bool{}
	for _, dir := range []string{".", "../arena"} {
		paths, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		var args []string
		for _, path := range paths {
			if strings.HasSuffix(path, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			ast.Inspect(f, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.ValueSpec:
					for i, id := range n.Names {
						if len(n.Values) != len(n.Names) {
							break
						}
						if lit, ok := n.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
							values[id.Name], _ = strconv.Unquote(lit.Value)
						}
					}
				case *ast.CallExpr:
					if sel, ok := n.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "Failpoint" && len(n.Args) == 1 {
						if id, ok := n.Args[0].(*ast.Ident); ok {
							args = append(args, id.Name)
						} else {
							t.Errorf("%s: segment.Failpoint with a non-constant name", path)
						}
					}
				}
				return true
			})
		}
		for _, a := range args {
			v, ok := values[a]
			if !ok {
				t.Errorf("segment.Failpoint(%s) in %s: no string constant %s there", a, dir, a)
			}
			called[v] = true
		}
	}
	listed := slices.Concat(failpoints, reuseFailpoints, adderFailpoints, tierFailpoints)
	for _, name := range listed {
		if !called[name] {
			t.Errorf("failpoint %q is listed but no code passes it", name)
		}
		delete(called, name)
	}
	for name := range called {
		t.Errorf("failpoint %q is passed but not listed: crash tests never kill there", name)
	}
	if len(listed) < 15 {
		t.Errorf("only %d failpoints listed", len(listed))
	}
}
