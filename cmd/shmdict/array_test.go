package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestArrayCommands: create, set, add, get, info, ls and rm of shared
// arrays, for an integer and a float type, and their usage errors.
func TestArrayCommands(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "prices.npy")
	if out := ok(t, "", "array", "create", p, "--dtype", "f8", "--shape", "4,3"); !strings.Contains(out, "<f8, shape (4, 3), 12 elements") {
		t.Errorf("create: %q", out)
	}
	ok(t, "", "array", "set", p, "2,1", "101.25")
	if out := ok(t, "", "array", "add", p, "2,1", "-0.25"); out != "101\n" {
		t.Errorf("add: %q", out)
	}
	if out := ok(t, "", "array", "get", p, "7"); out != "101\n" { // 2*3+1
		t.Errorf("get by flat index: %q", out)
	}
	if out := ok(t, "", "array", "info", p); !strings.Contains(out, "shape    (4, 3)") || !strings.Contains(out, "none published") {
		t.Errorf("info: %q", out)
	}
	c := filepath.Join(dir, "counts.npy")
	ok(t, "", "array", "create", c, "--dtype", "uint16", "--shape", "10")
	ok(t, "", "array", "add", c, "9", "65535")
	if out := ok(t, "", "array", "add", c, "9", "2"); out != "1\n" { // wraps, as the atomic add does
		t.Errorf("uint16 add: %q", out)
	}

	// ls lists both after the (no) tables; numpy's own .npy is shown as
	// not an array.
	os.WriteFile(filepath.Join(dir, "foreign.npy"), []byte("\x93NUMPY\x01\x00v\x00{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }"), 0o600)
	out := ok(t, "", "ls", dir)
	for _, want := range []string{"ARRAY", "prices", "<f8", "(4, 3)", "counts", "<u2", "(10,)", "foreign", "not a shmdict array"} {
		if !strings.Contains(out, want) {
			t.Errorf("ls lacks %q:\n%s", want, out)
		}
	}
	var got []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(ok(t, "", "ls", dir, "--json")), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("ls --json line %q: %v", line, err)
		}
		got = append(got, m)
	}
	if len(got) != 3 || got[2]["kind"] != "array" || got[2]["dtype"] != "<f8" || got[2]["name"] != "prices" || got[1]["error"] == nil {
		t.Errorf("ls --json: %v", got)
	}

	fails(t, 2, "index \"4,0\": part 1 must be in [0, 4)", "", "array", "get", p, "4,0")
	fails(t, 2, "has 3 parts; the array has 2 dimensions", "", "array", "get", p, "1,1,1")
	fails(t, 2, "\"x\" is not a float64", "", "array", "set", p, "0", "x")
	fails(t, 2, "\"-1\" is not a uint16", "", "array", "add", c, "0", "-1")
	fails(t, 2, "unknown --dtype \"f16\"", "", "array", "create", filepath.Join(dir, "x.npy"), "--dtype", "f16", "--shape", "2")
	fails(t, 2, "array create needs --dtype and --shape", "", "array", "create", filepath.Join(dir, "x.npy"))
	fails(t, 2, "unknown array subcommand \"resize\"", "", "array", "resize", p)
	fails(t, 1, "'shmdict array rm "+p+"' first", "", "array", "create", p, "--dtype", "f8", "--shape", "2")
	ok(t, "", "array", "rm", p)
	fails(t, 1, "create it with 'shmdict array create", "", "array", "get", p, "0")
}
