package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSplice(t *testing.T) {
	readme := "# x\n\n<!-- BENCHMARKS -->\nold\ntable\n<!-- /BENCHMARKS -->\n\nafter\n"
	got, err := splice([]byte(readme), []byte("new\n\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := "# x\n\n<!-- BENCHMARKS -->\nnew\n<!-- /BENCHMARKS -->\n\nafter\n"
	if d := cmp.Diff(want, string(got)); d != "" {
		t.Fatalf("(-want +got):\n%s", d)
	}
	if _, err := splice([]byte("no markers\n"), nil); err == nil {
		t.Fatal("a README without markers was accepted")
	}
	if _, err := splice([]byte("<!-- BENCHMARKS -->\nno end\n"), nil); err == nil {
		t.Fatal("a README without the end marker was accepted")
	}
}

// TestRunSeveral: several reports go into the section in order, a blank
// line apart; an empty report (a failed run) leaves the README alone.
func TestRunSeveral(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	readme := write("README.md", "top\n<!-- BENCHMARKS -->\nold\n<!-- /BENCHMARKS -->\nend\n")
	a, b := write("a.md", "### 100,000 keys\n\nA\n"), write("b.md", "### 1,000,000 keys\n\nB\n\n")
	if err := run([]string{a, b}, readme); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(readme)
	want := "top\n<!-- BENCHMARKS -->\n### 100,000 keys\n\nA\n\n### 1,000,000 keys\n\nB\n<!-- /BENCHMARKS -->\nend\n"
	if d := cmp.Diff(want, string(got)); d != "" {
		t.Fatalf("(-want +got):\n%s", d)
	}
	if err := run([]string{a, write("empty.md", "")}, readme); err == nil {
		t.Fatal("an empty report was accepted")
	}
	if again, _ := os.ReadFile(readme); string(again) != want {
		t.Fatal("a failed splice changed the README")
	}
}
