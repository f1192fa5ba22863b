package main

import (
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
