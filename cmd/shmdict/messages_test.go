package main

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/shmdict/shmdict/table"
)

// TestDamagedAdviceGroup: the advice for a damaged group-shared table
// names SHMDICT_GROUP in the commands that need it. Without it, 'shmdict
// fsck NAME --repair' cannot open the table, a failed probe attach was
// taken for a damaged header (advice: remove it), and 'shmdict load'
// would restore it private to its owner.
func TestDamagedAdviceGroup(t *testing.T) {
	dir := t.TempDir()
	gid := strconv.Itoa(os.Getegid())
	fileGroup := gid // what the advice calls the file's group
	if g, err := user.LookupGroupId(gid); err == nil {
		fileGroup = g.Name
	}
	create := func(name string, opts table.Options) string {
		p := filepath.Join(dir, name)
		tb, err := table.Create(p, opts)
		if err != nil {
			t.Fatal(err)
		}
		tb.Close()
		return p
	}
	shared := create("shared", table.Options{Capacity: 10, Group: gid})
	private := create("private", table.Options{Capacity: 10})
	truncated := create("truncated", table.Options{Capacity: 10, Group: gid})
	if err := os.Truncate(truncated, 4096); err != nil {
		t.Fatal(err)
	}
	corrupt := func(p string) error { return fmt.Errorf("%w: %s: slot 3", table.ErrCorrupt, p) }

	for _, c := range []struct {
		what, env, name string
		want            []string
	}{
		{"group-shared table, SHMDICT_GROUP set", gid, shared, []string{
			"'SHMDICT_GROUP=" + gid + " shmdict fsck " + shared + " --repair'",
			"'SHMDICT_GROUP=" + gid + " shmdict load " + shared + " < FILE'"}},
		{"group-shared table, SHMDICT_GROUP unset", "", shared, []string{
			"'SHMDICT_GROUP=" + fileGroup + " shmdict fsck " + shared + " --repair'"}},
		{"truncated group-shared table", gid, truncated, []string{
			"not a usable table",
			"'SHMDICT_GROUP=" + gid + " shmdict load " + truncated + " < FILE'"}},
		{"private table", "", private, []string{
			"'shmdict fsck " + private + " --repair'",
			"'shmdict load " + private + " < FILE'"}},
	} {
		t.Setenv("SHMDICT_GROUP", c.env)
		got := explain(corrupt(c.name), c.name)
		for _, w := range c.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: advice %q lacks %q", c.what, got, w)
			}
		}
		if c.name != truncated && strings.Contains(got, "not a usable table") {
			t.Errorf("%s: advice %q takes a repairable table for a damaged file", c.what, got)
		}
		if c.name == private && strings.Contains(got, "SHMDICT_GROUP") {
			t.Errorf("%s: advice %q names SHMDICT_GROUP for a private table", c.what, got)
		}
	}
}
