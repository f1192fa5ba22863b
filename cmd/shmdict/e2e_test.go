package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/shmdict/shmdict/segment"
	"github.com/shmdict/shmdict/table"
)

// The tests build the command once and run it as a user would.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "shmdict-cli-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "shmdict")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building the command: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	code           int
	stdout, stderr string
}

// cli runs the command with args and stdin.
func cli(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running shmdict %q: %v", args, err)
	}
	return result{code, out.String(), errb.String()}
}

// ok runs the command and fails the test unless it exits 0.
func ok(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	r := cli(t, stdin, args...)
	if r.code != 0 {
		t.Fatalf("shmdict %q: exit %d, stderr %q", args, r.code, r.stderr)
	}
	return r.stdout
}

// fails runs the command and checks its exit code and that stderr is one
// line containing want.
func fails(t *testing.T, code int, want string, stdin string, args ...string) {
	t.Helper()
	r := cli(t, stdin, args...)
	if r.code != code {
		t.Fatalf("shmdict %q: exit %d, want %d (stdout %q, stderr %q)", args, r.code, code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, want) {
		t.Fatalf("shmdict %q: stderr %q does not mention %q", args, r.stderr, want)
	}
	if n := strings.Count(strings.TrimSuffix(r.stderr, "\n"), "\n"); n != 0 {
		t.Fatalf("shmdict %q: stderr has %d lines, want one: %q", args, n+1, r.stderr)
	}
}

func tablePath(t *testing.T) string {
	return filepath.Join(t.TempDir(), "t.shm")
}

func TestSetInOneInvocationGetInAnother(t *testing.T) {
	p := tablePath(t)
	if out := ok(t, "", "create", p, "--capacity", "1000"); !strings.Contains(out, "capacity 1536 keys") {
		t.Fatalf("create printed %q", out)
	}
	ok(t, "", "set", p, "user:1", "ada lovelace")
	ok(t, "\x00\xffbinary", "set", p, "blob", "-")
	if got := ok(t, "", "get", p, "user:1"); got != "ada lovelace\n" {
		t.Fatalf("get user:1 = %q", got)
	}
	if got := ok(t, "", "get", p, "blob"); got != `"\x00\xffbinary"`+"\n" {
		t.Fatalf("get blob = %q, want it Go-quoted", got)
	}
	if got := ok(t, "", "get", p, "blob", "--raw"); got != "\x00\xffbinary" {
		t.Fatalf("get --raw blob = %q", got)
	}
	if got := ok(t, "", "get", p, "blob", "--hex"); got != "00ff62696e617279\n" {
		t.Fatalf("get --hex blob = %q", got)
	}
	if got := ok(t, "", "incr", p, "hits", "--", "-3"); got != "-3\n" {
		t.Fatalf("incr hits -3 = %q", got)
	}
	if got := ok(t, "", "get", p, "hits"); got != "-3\n" {
		t.Fatalf("get of a counter = %q, want the number", got)
	}
	if got := ok(t, "", "keys", p); got != "blob\nhits\nuser:1\n" {
		t.Fatalf("keys = %q", got)
	}
	if got := ok(t, "", "keys", p, "--prefix", "us"); got != "user:1\n" {
		t.Fatalf("keys --prefix us = %q", got)
	}
	ok(t, "", "del", p, "user:1")
	fails(t, 1, "not found", "", "get", p, "user:1")
	fails(t, 1, "not found", "", "del", p, "user:1")
	ok(t, "", "set", p, "session", "x", "--ttl", "1h")
	tbl, err := table.Attach(p)
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Close()
	if left, err := tbl.TTL([]byte("session")); err != nil || left < 59*time.Minute || left > time.Hour {
		t.Fatalf("TTL of a key set with --ttl 1h = %v, %v", left, err)
	}
}

func TestCreateEvicting(t *testing.T) {
	p := tablePath(t)
	ok(t, "", "create", p, "--capacity", "10", "--evict")
	for i := range 100 {
		ok(t, "", "set", p, fmt.Sprintf("k%d", i), "v")
	}
	st := ok(t, "", "stats", p)
	if !strings.Contains(st, "eviction") || !strings.Contains(st, "CLOCK") || !strings.Contains(st, "format version  3") {
		t.Fatalf("stats of an evicting table:\n%s", st)
	}
	if got := ok(t, "", "get", p, "k99"); got != "v\n" {
		t.Fatalf("the newest key of an evicting table: %q", got)
	}
	ok(t, "", "fsck", p)
	fails(t, 2, "--events", "", "create", p+"2", "--capacity", "10", "--evict", "--events", "64")
}

func TestIncrFromConcurrentInvocations(t *testing.T) {
	p := tablePath(t)
	ok(t, "", "create", p, "--capacity", "100")
	const workers, each = 2, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				if out, err := exec.Command(binary, "incr", p, "n").CombinedOutput(); err != nil {
					errs <- fmt.Errorf("incr: %v: %s", err, out)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := ok(t, "", "get", p, "n"); got != strconv.Itoa(workers*each)+"\n" {
		t.Fatalf("after %d concurrent incr invocations, n = %q", workers*each, got)
	}
}

func TestDumpLoadRoundTrip(t *testing.T) {
	p := tablePath(t)
	tbl, err := table.Create(p, table.Options{Capacity: 1000})
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Close()
	set := func(k, v string) {
		if err := tbl.Set([]byte(k), []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	set("text", "hello, world")
	set("empty", "")
	set("\xff\xfe not utf8 key", "\x00\x01\x02")
	set("json-ish", `{"a":"<b>&"}`)
	set("eight bytes", "12345678")
	set("newline", "a\nb")
	for i := range 200 {
		set(fmt.Sprintf("k%03d", i), strings.Repeat("v", i))
	}
	for k, n := range map[string]int64{"zero": 0, "neg": -7, "big": table.MaxCounter} {
		if _, err := tbl.Add([]byte(k), 1); err != nil {
			t.Fatal(err)
		}
		if _, err := tbl.Add([]byte(k), n-1); err != nil {
			t.Fatal(err)
		}
	}
	if err := tbl.SetWithTTL([]byte("ttl"), []byte("later"), time.Hour); err != nil {
		t.Fatal(err)
	}
	dump1 := ok(t, "", "dump", p)
	if !strings.HasPrefix(dump1, "{\"shmdict_dump\":4,\"capacity\":1536,\"arena_bytes\":128000,\"max_procs\":1024,\"events\":0,\"eviction\":\"none\",\"adder_lanes\":64}\n") {
		t.Fatalf("dump does not start with its header: %q", dump1[:min(len(dump1), 40)])
	}
	if n := strings.Count(dump1, "\n"); n != 1+6+200+3+1 {
		t.Fatalf("dump has %d lines", n)
	}
	q := filepath.Join(filepath.Dir(p), "copy.shm")
	if out := ok(t, dump1, "load", q, "--capacity", "1000"); !strings.Contains(out, "loaded 210 keys") {
		t.Fatalf("load printed %q", out)
	}
	dump2 := ok(t, "", "dump", q)
	if d := cmp.Diff(dump1, dump2); d != "" {
		t.Fatalf("dump of the loaded copy differs (-original +copy):\n%s", d)
	}
	// Loading into the original replaces: a changed key comes back.
	set("text", "changed")
	if _, err := tbl.Add([]byte("zero"), 5); err != nil {
		t.Fatal(err)
	}
	set("neg", "no longer a counter")
	ok(t, dump1, "load", p)
	if d := cmp.Diff(dump1, ok(t, "", "dump", p)); d != "" {
		t.Fatalf("reloading a dump did not restore the table (-want +got):\n%s", d)
	}
}

func TestRmRefusesWhileAttached(t *testing.T) {
	p := tablePath(t)
	ok(t, "", "create", p, "--capacity", "10")
	tbl, err := table.Attach(p)
	if err != nil {
		t.Fatal(err)
	}
	fails(t, 1, "--force", "", "rm", p)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("rm removed a table in use: %v", err)
	}
	if st := ok(t, "", "stats", p); !strings.Contains(st, "1 other live process") {
		t.Fatalf("stats does not count the attached process:\n%s", st)
	}
	tbl.Close()
	ok(t, "", "rm", p)
	if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("rm left the file: %v", err)
	}
	ok(t, "", "create", p, "--capacity", "10")
	tbl, err = table.Attach(p)
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Close()
	ok(t, "", "rm", p, "--force")
	if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("rm --force left the file: %v", err)
	}
}

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.shm")
	fails(t, 1, "create it with", "", "get", missing, "k")
	fails(t, 1, "does not exist", "", "stats", missing)
	fails(t, 2, "--capacity", "", "create", filepath.Join(dir, "x"), "--capacity", "0")
	fails(t, 2, "invalid value", "", "create", filepath.Join(dir, "x"), "--capacity", "lots")
	fails(t, 2, "bad size", "", "create", filepath.Join(dir, "x"), "--capacity", "10", "--arena", "12Q")
	fails(t, 2, "no command", "", "frobnicate")
	fails(t, 2, "missing arguments", "", "set", filepath.Join(dir, "x"), "k")
	fails(t, 2, "flag provided but not defined", "", "get", "--nope", "a", "b")
	fails(t, 2, "bad DELTA", "", "incr", filepath.Join(dir, "x"), "k", "1.5")

	garbage := filepath.Join(dir, "garbage.shm")
	if err := os.WriteFile(garbage, bytes.Repeat([]byte("not a segment "), 1000), 0o600); err != nil {
		t.Fatal(err)
	}
	fails(t, 1, "corrupt", "", "stats", garbage)
	fails(t, 1, "corrupt", "", "get", garbage, "k")

	p := tablePath(t)
	ok(t, "", "create", p, "--capacity", "10")
	fails(t, 1, "exists", "", "create", p, "--capacity", "10")
	fails(t, 1, "not a shmdict dump", "hello\n", "load", p)
	fails(t, 1, "line 2", "{\"shmdict_dump\":1}\n{\"key\":\"a\"}\n", "load", p)
	fails(t, 1, "line 3", "{\"shmdict_dump\":1}\n{\"key\":\"a\",\"value\":\"b\"}\n{\"key\":\"c\",\"value_b64\":\"!!\"}\n", "load", p)
	// A malformed line stores nothing, not even the lines before it.
	if got := ok(t, "", "keys", p); got != "" {
		t.Fatalf("a failed load stored keys: %q", got)
	}
	fails(t, 1, "dump format 5", "{\"shmdict_dump\":5}\n", "load", p)
	ok(t, "", "set", p, "s", "text")
	fails(t, 1, "not a counter", "", "incr", p, "s")
}

func TestHelpOnEveryCommand(t *testing.T) {
	top := ok(t, "", "help")
	for name := range commands {
		if !strings.Contains(top, "  "+name) {
			t.Errorf("'shmdict help' does not list %s", name)
		}
		out := ok(t, "", name, "--help")
		if !strings.Contains(out, "Usage: shmdict "+name) || !strings.Contains(out, "Examples:") {
			t.Errorf("shmdict %s --help lacks usage or examples:\n%s", name, out)
		}
	}
	if r := cli(t, ""); r.code != 2 {
		t.Errorf("no arguments: exit %d, want 2", r.code)
	}
}

func TestValuesStartingWithDash(t *testing.T) {
	p := tablePath(t)
	ok(t, "", "create", p, "--capacity", "100")
	ok(t, "", "set", p, "neg", "--", "-5")               // after "--"
	ok(t, "", "set", p, "neg2", "-5")                    // a negative number needs no "--"
	ok(t, "", "set", p, "--ttl", "1h", "--", "-k", "-v") // flags, then "--", then a key and value like flags
	for k, want := range map[string]string{"neg": "-5\n", "neg2": "-5\n", "-k": "-v\n"} {
		if got := ok(t, "", "get", p, "--", k); got != want {
			t.Errorf("get %s = %q, want %q", k, got, want)
		}
	}
	if got := ok(t, "", "incr", p, "n", "-3"); got != "-3\n" {
		t.Errorf("incr n -3 = %q", got)
	}
	fails(t, 2, "after '--'", "", "set", p, "-k", "v") // the error says what to do
}

func TestHelpOfKeyCommandsSaysDoubleDash(t *testing.T) {
	for name, c := range commands {
		if !strings.Contains(c.args, "KEY") && !strings.Contains(c.args, "VALUE") {
			continue
		}
		if out := ok(t, "", name, "--help"); !strings.Contains(out, "goes after '--'") {
			t.Errorf("shmdict %s --help does not say that a KEY or VALUE starting with '-' goes after '--':\n%s", name, out)
		}
	}
}

// statsJSON runs 'stats --json' and decodes it.
func statsOf(t *testing.T, p string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(ok(t, "", "stats", p, "--json")), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestLoadTakesShapeFromDumpAndFlags(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src.shm")
	ok(t, "", "create", src, "--capacity", "10", "--evict")
	for i := range 5 {
		ok(t, "", "set", src, fmt.Sprintf("k%d", i), "v")
	}
	dump := ok(t, "", "dump", src)

	// No flags: the copy is the table the dump came from, eviction included.
	cp := filepath.Join(dir, "copy.shm")
	ok(t, dump, "load", cp)
	st := statsOf(t, cp)
	if st["eviction"] != "clock" || st["capacity"] != 12.0 || st["keys"] != 5.0 {
		t.Errorf("a table loaded from an evicting table's dump: eviction %v, capacity %v, keys %v; want clock, 12, 5", st["eviction"], st["capacity"], st["keys"])
	}

	// Flags change the shape: --capacity (the policy stays), --arena, --evict, --events.
	big := filepath.Join(dir, "big.shm")
	ok(t, dump, "load", big, "--capacity", "100")
	if st := statsOf(t, big); st["eviction"] != "clock" || st["capacity"] != 192.0 {
		t.Errorf("load --capacity 100 of an evicting dump: eviction %v, capacity %v; want clock, 192", st["eviction"], st["capacity"])
	}
	plain := filepath.Join(dir, "plain.shm")
	ok(t, dump, "load", plain, "--capacity", "100", "--arena", "1M", "--evict=false", "--events", "64")
	st = statsOf(t, plain)
	if st["eviction"] != "none" || st["arena_bytes"] != float64(1<<20) {
		t.Errorf("load --arena 1M --evict=false: eviction %v, arena %v", st["eviction"], st["arena_bytes"])
	}
	in, err := segment.Inspect(plain)
	if err != nil || in.Layout.RingEntries != 64 {
		t.Errorf("load --events 64 made a ring of %d entries (%v)", in.Layout.RingEntries, err)
	}
	fails(t, 2, "--evict=false", dump, "load", filepath.Join(dir, "x.shm"), "--events", "64")
	if _, err := os.Stat(filepath.Join(dir, "x.shm")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused load created its table: %v", err)
	}
	ecache := filepath.Join(dir, "ecache.shm")
	ok(t, "{\"shmdict_dump\":1}\n{\"key\":\"a\",\"value\":\"b\"}\n", "load", ecache, "--capacity", "10", "--evict")
	if st := statsOf(t, ecache); st["eviction"] != "clock" {
		t.Errorf("load --evict made eviction %v", st["eviction"])
	}
	fails(t, 1, "--capacity N", "{\"shmdict_dump\":1}\n", "load", filepath.Join(dir, "v1.shm")) // format 1 records no shape
}

func TestLoadCapacityOnExistingTable(t *testing.T) {
	p := tablePath(t)
	ok(t, "", "create", p, "--capacity", "10")
	dump := "{\"shmdict_dump\":2}\n{\"key\":\"a\",\"value\":\"b\"}\n"
	fails(t, 1, "'shmdict compact "+p+" --capacity 1000'", dump, "load", p, "--capacity", "1000")
	if got := ok(t, "", "keys", p); got != "" {
		t.Fatalf("a refused load stored keys: %q", got)
	}
	ok(t, dump, "load", p, "--capacity", "10") // the shape it has: fine
	ok(t, dump, "load", p)
}

func TestFailedLoadLeavesNoTable(t *testing.T) {
	dir := t.TempDir()
	var dump strings.Builder
	dump.WriteString("{\"shmdict_dump\":2}\n")
	for i := range 20 {
		fmt.Fprintf(&dump, "{\"key\":\"k%02d\",\"value\":\"v\"}\n", i)
	}
	p := filepath.Join(dir, "t.shm")
	fails(t, 1, "load with a larger --capacity", dump.String(), "load", p, "--capacity", "5")
	if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a load that failed left the table it created: %v", err)
	}
	// A table that existed stays, with what was stored, and the error says so.
	ok(t, "", "create", p, "--capacity", "5")
	fails(t, 1, "were stored", dump.String(), "load", p)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("a failed load removed a table it had not created: %v", err)
	}
}

func TestCapacityTooLargeIsAUsageError(t *testing.T) {
	dir := t.TempDir()
	for _, cmd := range [][]string{
		{"create", filepath.Join(dir, "a"), "--capacity", "1000000000000"},
		{"create", filepath.Join(dir, "b"), "--capacity", "2000000000000", "--arena", "1M"},
	} {
		r := cli(t, "", cmd...)
		if r.code != 2 || !strings.Contains(r.stderr, "--capacity") || strings.Contains(r.stderr, "ArenaBytes") || strings.Contains(r.stderr, "--arena 1") {
			t.Errorf("shmdict %q: exit %d, stderr %q; want exit 2 and a message that blames --capacity", cmd, r.code, r.stderr)
		}
	}
	fails(t, 2, "--capacity 1000000000000", "{\"shmdict_dump\":2}\n", "load", filepath.Join(dir, "c"), "--capacity", "1000000000000")
}

func TestJSONIsSnakeCase(t *testing.T) {
	p := tablePath(t)
	ok(t, "", "create", p, "--capacity", "10")
	var check func(path string, v any)
	snake := regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	check = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if !snake.MatchString(k) {
					t.Errorf("stats --json: key %s.%s is not snake_case", path, k)
				}
				check(path+"."+k, x)
			}
		case nil:
			t.Errorf("stats --json: %s is null", path)
		}
	}
	st := statsOf(t, p)
	check("", st)
	if st["eviction"] != "none" {
		t.Errorf("stats --json: eviction = %#v, want the string \"none\"", st["eviction"])
	}
	if ps, isList := st["processes"].([]any); !isList || len(ps) != 0 {
		t.Errorf("stats --json: processes = %#v, want []", st["processes"])
	}
}

func TestMessagesGiveCLIAdvice(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "t.shm")
	ok(t, "", "create", p, "--capacity", "10")
	long := strings.Repeat("x", table.MaxKeyLen)
	garbage := filepath.Join(dir, "garbage.shm")
	if err := os.WriteFile(garbage, bytes.Repeat([]byte("not a segment "), 1000), 0o600); err != nil {
		t.Fatal(err)
	}
	check := func(want, stdin string, args ...string) {
		t.Helper()
		r := cli(t, stdin, args...)
		if r.code == 0 {
			t.Errorf("shmdict %.60q succeeded", args)
			return
		}
		if !strings.Contains(r.stderr, want) {
			t.Errorf("shmdict %.60q: stderr %.400q does not say %q", args, r.stderr, want)
		}
		for _, goWord := range []string{"Open or", "Attach", "Capacity", "ArenaBytes", "EventRing", "Options", "shmdict: ", long[:200]} {
			if strings.Contains(r.stderr, goWord) {
				t.Errorf("shmdict %.60q: stderr %.300q has %.20q", args, r.stderr, goWord)
			}
		}
		if len(r.stderr) > 600 {
			t.Errorf("shmdict %.60q: stderr is %d bytes long", args, len(r.stderr))
		}
	}
	check("shmdict create "+filepath.Join(dir, "none"), "", "get", filepath.Join(dir, "none"), "k")
	check("shmdict rm "+p, "", "create", p, "--capacity", "10")
	check("(65535 bytes) not found", "", "get", p, long)
	check("shmdict compact "+p+" --arena SIZE", strings.Repeat("v", 1<<20), "set", p, "big", "-")
	check("shmdict load "+garbage, "", "stats", garbage)
	check("shmdict compact "+p+" --arena SIZE", "", "set", p, long, "v") // once said "table full: shmdict: arena ..."
	for i := 0; cli(t, "", "set", p, fmt.Sprintf("k%d", i), "v").code == 0; i++ {
		if i > 20 {
			t.Fatal("a table of capacity 10 took 20 keys")
		}
	}
	check("shmdict compact "+p+" --capacity N", "", "set", p, "one-too-many", "v")
	check("--capacity 5 cannot hold", "", "compact", p, "--capacity", "5")
}

func TestFsckAndCompact(t *testing.T) {
	p := tablePath(t)
	ok(t, "", "create", p, "--capacity", "100")
	for i := range 50 {
		ok(t, "", "set", p, fmt.Sprintf("k%d", i), "v")
	}
	for i := range 25 {
		ok(t, "", "del", p, fmt.Sprintf("k%d", i))
	}
	if out := ok(t, "", "fsck", p); !strings.Contains(out, "keys 25") {
		t.Fatalf("fsck report:\n%s", out)
	}
	out := ok(t, "", "compact", p, "--capacity", "1000")
	if !strings.Contains(out, "25 keys copied, 25 slots freed") || !strings.Contains(out, "-> 1536") {
		t.Fatalf("compact printed %q", out)
	}
	ok(t, "", "fsck", p, "--repair")
	if got := strings.Count(ok(t, "", "keys", p), "\n"); got != 25 {
		t.Fatalf("%d keys after compact, want 25", got)
	}
}

func TestLsAndGc(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.shm"), filepath.Join(dir, "b.shm")
	ok(t, "", "create", a, "--capacity", "100")
	ok(t, "", "create", b, "--capacity", "100")
	ok(t, "", "set", a, "k", "v")
	tbl, err := table.Attach(b)
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Close()
	got := map[string][3]any{}
	for name, r := range lsRows(t, dir) {
		got[name] = [3]any{r["keys"], r["state"], r["crashed_processes"]}
	}
	want := map[string][3]any{"a.shm": {1.0, "unused", 0.0}, "b.shm": {0.0, "ok", 0.0}}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("ls --json (-want +got):\n%s", d)
	}
	if out := ok(t, "", "ls", dir); !strings.Contains(out, "NAME") || !strings.Contains(out, "unused") {
		t.Fatalf("ls:\n%s", out)
	}
	if out := ok(t, "", "gc", dir); !strings.Contains(out, "nothing to remove") || !strings.Contains(out, "keeping 1 table") {
		t.Fatalf("gc with nothing to remove printed %q", out)
	}
	// A create that died before linking its table leaves a temp file.
	tmp := filepath.Join(dir, ".c.shm.tmp.1.2")
	if err := os.WriteFile(tmp, make([]byte, 4096), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := ok(t, "", "ls", dir); !strings.Contains(out, "orphan") {
		t.Fatalf("ls with a temp file:\n%s", out)
	}
	if r := lsRows(t, dir)[filepath.Base(tmp)]; r["state"] != "orphan" {
		t.Fatalf("ls --json with a temp file: %v, want state orphan", r)
	}
	fails(t, 2, "--yes", "", "gc", dir) // stdin is not a terminal
	if out := ok(t, "", "gc", dir, "--yes"); !strings.Contains(out, "removed: "+tmp) || strings.Contains(out, "removed: "+a) {
		t.Fatalf("gc --yes printed %q", out)
	}
	if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("gc left the orphan: %v", err)
	}
	if got := ok(t, "", "get", a, "k"); got != "v\n" {
		t.Fatalf("the unused table after gc --yes: get printed %q", got)
	}
	// --unused-for removes tables unused that long, and only those.
	if out := ok(t, "", "gc", dir, "--yes", "--unused-for", "1h"); strings.Contains(out, "removed:") {
		t.Fatalf("gc --unused-for 1h removed a table used just now: %q", out)
	}
	old := time.Now().Add(-2 * time.Hour)
	for _, p := range []string{a, b} {
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	if out := ok(t, "", "gc", dir, "--yes", "--unused-for", "1h"); !strings.Contains(out, "removed: "+a) || strings.Contains(out, "removed: "+b) {
		t.Fatalf("gc --unused-for 1h printed %q", out)
	}
	if _, err := os.Stat(a); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("gc --unused-for left the unused table: %v", err)
	}
	if _, err := os.Stat(b); err != nil {
		t.Fatalf("gc removed a table in use: %v", err)
	}
}

// TestGcKeepsTables (issue 12, item 8): a table that nobody has open is
// not garbage. create, set, gc --yes must keep the table and its data.
func TestGcKeepsTables(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "t")
	ok(t, "", "create", p, "--capacity", "100")
	ok(t, "", "set", p, "k", "v")
	ok(t, "", "gc", dir, "--yes")
	if got := ok(t, "", "get", p, "k"); got != "v\n" {
		t.Fatalf("after gc --yes: get printed %q", got)
	}
}

// promptReader answers a prompt with "y" after running meanwhile, which
// plays what happens while the operator reads the list.
type promptReader struct {
	meanwhile func()
	done      bool
}

func (r *promptReader) Read(p []byte) (int, error) {
	if r.done {
		return 0, io.EOF
	}
	r.done = true
	r.meanwhile()
	return copy(p, "y\n"), nil
}

// TestGcRemovesWhatItListed: gc asks about a list, so a yes removes that
// list: not a temp file that turned up, nor a table that crossed the age,
// while the question was on the screen.
func TestGcRemovesWhatItListed(t *testing.T) {
	dir := t.TempDir()
	listed, later := filepath.Join(dir, ".a.tmp.1.1"), filepath.Join(dir, ".b.tmp.2.2")
	if err := os.WriteFile(listed, make([]byte, 4096), 0o600); err != nil {
		t.Fatal(err)
	}
	tbl := filepath.Join(dir, "t")
	ok(t, "", "create", tbl, "--capacity", "10")
	var stdout, stderr strings.Builder
	e := &env{stdout: &stdout, stderr: &stderr, stdinTTY: true, stdin: &promptReader{meanwhile: func() {
		if err := os.WriteFile(later, make([]byte, 4096), 0o600); err != nil {
			t.Error(err)
		}
		old := time.Now().Add(-2 * time.Hour)
		if err := os.Chtimes(tbl, old, old); err != nil {
			t.Error(err)
		}
	}}}
	if code := run(e, []string{"gc", dir, "--unused-for", "1h"}); code != 0 {
		t.Fatalf("gc: exit %d: %s", code, stderr.String())
	}
	if _, err := os.Stat(listed); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("gc kept the orphan it listed: %v\n%s", err, stdout.String())
	}
	for _, p := range []string{later, tbl} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("gc removed %s, which it had not listed: %v\n%s", p, err, stdout.String())
		}
	}
}

// TestGcKeepsCrashedTables: a process killed with a table open never
// closed it, so the table's LAST USE is its attach, perhaps days before
// its last write. gc --unused-for must not remove it as unused that long.
func TestGcKeepsCrashedTables(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "t")
	ok(t, "", "create", p, "--capacity", "100")
	ok(t, "", "set", p, "k", "v")
	w := exec.Command(binary, "watch", p, "k")
	out, err := w.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Process.Kill(); w.Wait() })
	if l, err := bufio.NewReader(out).ReadString('\n'); err != nil || !strings.Contains(l, "k = v") {
		t.Fatalf("watch printed %q (%v)", l, err)
	}
	old := time.Now().Add(-2 * time.Hour) // it attached long ago...
	if err := os.Chtimes(p, old, old); err != nil {
		t.Fatal(err)
	}
	w.Process.Kill() // ...and was killed just now
	w.Wait()
	if out := ok(t, "", "gc", dir, "--yes", "--unused-for", "1h"); strings.Contains(out, "removed:") || !strings.Contains(out, "died with it open") {
		t.Fatalf("gc --unused-for 1h after its user was killed printed %q", out)
	}
	if out := ok(t, "", "ls", dir); !strings.Contains(out, "died with it open") {
		t.Fatalf("ls does not say that a process died with the table open:\n%s", out)
	}
	// In JSON, the state stays a word scripts can compare; the crash is a
	// number of its own.
	if r := lsRows(t, dir)["t"]; r["state"] != "unused" || r["crashed_processes"] != 1.0 {
		t.Fatalf("ls --json after its user was killed: %v, want state unused, crashed_processes 1", r)
	}
	if got := ok(t, "", "get", p, "k"); got != "v\n" {
		t.Fatalf("after gc --unused-for: get printed %q", got)
	}
	// The get attached and closed it: its last use is known again.
	if out := ok(t, "", "ls", dir); strings.Contains(out, "died with it open") {
		t.Fatalf("ls after a get still says that a process died with the table open:\n%s", out)
	}
	if r := lsRows(t, dir)["t"]; r["state"] != "unused" || r["crashed_processes"] != 0.0 {
		t.Fatalf("ls --json after a get: %v, want state unused, crashed_processes 0", r)
	}
}

// lsRows runs 'ls DIR --json' and returns its objects by name.
func lsRows(t *testing.T, dir string) map[string]map[string]any {
	t.Helper()
	rows := map[string]map[string]any{}
	dec := json.NewDecoder(strings.NewReader(ok(t, "", "ls", dir, "--json")))
	for dec.More() {
		var r map[string]any
		if err := dec.Decode(&r); err != nil {
			t.Fatal(err)
		}
		rows[r["name"].(string)] = r
	}
	return rows
}

// TestLsJSONStates: 'ls --json' gives "state" as one of a fixed set of
// words (scripts compare it), and says why a file is unusable in "error".
func TestLsJSONStates(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad")
	ok(t, "", "create", bad, "--capacity", "10")
	if err := os.Truncate(bad, 4096); err != nil { // a header, nothing after it
		t.Fatal(err)
	}
	ok(t, "", "create", filepath.Join(dir, "good"), "--capacity", "10")
	rows := lsRows(t, dir)
	states := map[string]bool{"ok": true, "unused": true, "orphan": true, "temp_in_use": true, "unusable": true}
	for name, r := range rows {
		if s, _ := r["state"].(string); !states[s] {
			t.Errorf("ls --json: %s has state %q, not one of %v", name, r["state"], states)
		}
		if _, isNum := r["crashed_processes"].(float64); !isNum {
			t.Errorf("ls --json: %s lacks a numeric crashed_processes: %v", name, r)
		}
	}
	why, _ := rows["bad"]["error"].(string)
	if r := rows["bad"]; r["state"] != "unusable" || why == "" {
		t.Errorf("ls --json of a truncated table: %v, want state unusable and an error", r)
	}
	if r := rows["good"]; r["state"] != "unused" || r["error"] != nil {
		t.Errorf("ls --json of a fresh table: %v, want state unused and no error", r)
	}
	if out := ok(t, "", "ls", dir); why == "" || !strings.Contains(out, why) {
		t.Errorf("ls does not say why a truncated table is unusable (%q):\n%s", why, out)
	}
}

func TestWatch(t *testing.T) {
	p := tablePath(t)
	ok(t, "", "create", p, "--capacity", "100", "--events", "64")
	tbl, err := table.Attach(p)
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Close()

	start := func(args ...string) (*exec.Cmd, *bytes.Buffer) {
		cmd := exec.Command(binary, args...)
		var out syncBuffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd, &out.b
	}
	// Watching one key: its value now, then after each change.
	cmd, out := start("watch", p, "cfg", "--count", "2")
	waitFor(t, func() bool { return tbl.Stats().Processes != nil && len(tbl.Stats().Processes) == 2 })
	time.Sleep(50 * time.Millisecond) // let it reach Wait
	if err := tbl.Set([]byte("cfg"), []byte("one")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return strings.Contains(outString(out), "cfg = one") })
	if _, err := tbl.Delete([]byte("cfg")); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("watch KEY: %v: %s", err, outString(out))
	}
	if got, want := outString(out), "cfg (absent)\ncfg = one\ncfg (absent)\n"; got != want {
		t.Fatalf("watch KEY printed %q, want %q", got, want)
	}

	// Watching a prefix: every change event of matching keys.
	cmd, out = start("watch", p, "--prefix", "user:", "--count", "2")
	waitFor(t, func() bool { return len(tbl.Stats().Processes) == 2 })
	time.Sleep(100 * time.Millisecond) // let it subscribe
	if err := tbl.Set([]byte("other"), []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := tbl.Set([]byte("user:1"), []byte("ada")); err != nil {
		t.Fatal(err)
	}
	if _, err := tbl.Add([]byte("user:n"), 3); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("watch --prefix: %v: %s", err, outString(out))
	}
	if got := outString(out); !strings.Contains(got, "user:1 = ada") || !strings.Contains(got, "user:n = 3") || strings.Contains(got, "other") {
		t.Fatalf("watch --prefix printed %q", got)
	}

	q := filepath.Join(filepath.Dir(p), "noevents.shm")
	ok(t, "", "create", q, "--capacity", "10")
	fails(t, 1, "--events", "", "watch", q, "--all")
}

// TestWatchEndsWhenCompactForceReplacesTheTable: a 'watch' left on the
// old generation would never see another write, so it must exit non-zero
// with advice an operator can follow, for a KEY (Wait) and for --prefix
// (Subscribe).
func TestWatchEndsWhenCompactForceReplacesTheTable(t *testing.T) {
	p := tablePath(t)
	ok(t, "", "create", p, "--capacity", "100", "--events", "64")
	ok(t, "", "set", p, "cfg", "one")
	start := func(args ...string) (*exec.Cmd, *syncBuffer, chan error) {
		cmd := exec.Command(binary, args...)
		var out syncBuffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		return cmd, &out, done
	}
	byKey, keyOut, keyDone := start("watch", p, "cfg")
	byPrefix, prefixOut, prefixDone := start("watch", p, "--prefix", "user:")
	defer byKey.Process.Kill()
	defer byPrefix.Process.Kill()
	waitFor(t, func() bool { return strings.Contains(outString(&keyOut.b), "cfg = one") })
	waitFor(t, func() bool {
		return strings.Contains(ok(t, "", "stats", p), "2 other live process(es)")
	})
	time.Sleep(100 * time.Millisecond) // let them reach Wait and Subscribe

	if out := ok(t, "", "compact", p, "--force"); !strings.Contains(out, "compacted") || !strings.Contains(out, "2 other process(es) had it open") {
		t.Fatalf("compact --force printed %q", out)
	}
	for _, w := range []struct {
		what string
		out  *syncBuffer
		done chan error
	}{{"watch KEY", keyOut, keyDone}, {"watch --prefix", prefixOut, prefixDone}} {
		var err error
		select {
		case err = <-w.done:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s still runs 10s after compact --force replaced the table; output %q", w.what, outString(&w.out.b))
		}
		got := outString(&w.out.b)
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Errorf("%s after compact --force: %v, want exit 1; output %q", w.what, err, got)
			continue
		}
		msg := got[strings.LastIndex(got, "shmdict watch: "):]
		for _, want := range []string{"replaced", "'shmdict compact " + p + " --force'", "run the command again"} {
			if !strings.Contains(msg, want) {
				t.Errorf("%s: error %q does not say %q", w.what, msg, want)
			}
		}
		if strings.Contains(msg, "close it and open") || strings.Contains(msg, "shmdict: ") {
			t.Errorf("%s: error %q gives the library's words", w.what, msg)
		}
	}
	// The new generation has the data, and a new watch works on it.
	if got := ok(t, "", "get", p, "cfg"); got != "one\n" {
		t.Fatalf("get cfg after compact --force = %q", got)
	}
	if got := statsOf(t, p)["replaced"]; got != false {
		t.Fatalf("stats --json of the new table: replaced = %#v, want false", got)
	}
}

// TestStatsShowsReplaced: the old generation's Stats say Replaced, and
// both outputs of 'stats' carry it.
func TestStatsShowsReplaced(t *testing.T) {
	p := tablePath(t)
	ok(t, "", "create", p, "--capacity", "10")
	old, err := table.Attach(p)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if _, err := table.Compact(p, table.CompactOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	st := old.Stats()
	if !st.Replaced || !statsJSON(st).Replaced {
		t.Fatalf("Stats().Replaced = %v, stats --json replaced = %v after compact --force; want true", st.Replaced, statsJSON(st).Replaced)
	}
	if out := ok(t, "", "stats", p); !strings.Contains(out, "replaced") {
		t.Fatalf("stats does not show replaced:\n%s", out)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// syncBuffer is a bytes.Buffer safe for the writer (the child's output
// copier) and a reader (the test) at once.
type syncBuffer struct{ b bytes.Buffer }

var outMu sync.Mutex

func (s *syncBuffer) Write(p []byte) (int, error) {
	outMu.Lock()
	defer outMu.Unlock()
	return s.b.Write(p)
}

func outString(b *bytes.Buffer) string {
	outMu.Lock()
	defer outMu.Unlock()
	return b.String()
}

func TestBench(t *testing.T) {
	out := ok(t, "", "bench", "--peers", "shmdict,map+RWMutex", "--workloads", "get-uniform,counters",
		"--keys", "1000", "--workers", "1,2", "--duration", "30ms")
	for _, want := range []string{"get-uniform", "counters", "shmdict", "map+RWMutex", "2p", "2g", "vs shmdict"} {
		if !strings.Contains(out, want) {
			t.Fatalf("bench output lacks %q:\n%s", want, out)
		}
	}
	dir := t.TempDir()
	js := ok(t, "", "bench", "--peers", "shmdict", "--workloads", "load", "--keys", "500", "--workers", "1",
		"--json", "--html", filepath.Join(dir, "r.html"), "--svg", dir)
	var rep struct {
		Results []struct {
			Peer string `json:"peer"`
			Ops  int64  `json:"ops"`
		} `json:"results"`
	}
	if err := json.Unmarshal([]byte(js), &rep); err != nil || len(rep.Results) != 1 || rep.Results[0].Ops != 500 {
		t.Fatalf("bench --json: %v %+v\n%s", err, rep, js)
	}
	for _, f := range []string{"r.html", "load.svg"} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
			t.Fatalf("bench did not write %s: %v", f, err)
		}
	}
	fails(t, 2, "no workload", "", "bench", "--workloads", "nope")
	fails(t, 2, "no peer", "", "bench", "--peers", "memcached")
}

// TestGroupShared: create --group makes a group-shared (0660) table, which
// the other commands open only with that group in $SHMDICT_GROUP (issue
// 12, item 2).
func TestGroupShared(t *testing.T) {
	p := filepath.Join(t.TempDir(), "shared")
	group := strconv.Itoa(os.Getegid())
	ok(t, "", "create", p, "--capacity", "10", "--group", group)
	if st, err := os.Stat(p); err != nil || st.Mode().Perm() != 0o660 {
		t.Fatalf("create --group: %v %v, want mode 0660", st.Mode(), err)
	}
	fails(t, 1, "permission denied", "", "set", p, "k", "v")
	cmd := exec.Command(binary, "set", p, "k", "v")
	cmd.Env = append(os.Environ(), "SHMDICT_GROUP="+group)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("set with SHMDICT_GROUP: %v: %s", err, out)
	}
	// load into the existing group-shared table trusts the group as every
	// other command does: $SHMDICT_GROUP, or load's own --group.
	dump := "{\"shmdict_dump\":1}\n{\"key\":\"a\",\"value\":\"b\"}\n"
	cmd = exec.Command(binary, "load", p)
	cmd.Env = append(os.Environ(), "SHMDICT_GROUP="+group)
	cmd.Stdin = strings.NewReader(dump)
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "loaded 1 keys") {
		t.Fatalf("load into a group-shared table with SHMDICT_GROUP: %v: %s", err, out)
	}
	if out := ok(t, dump, "load", p, "--group", group); !strings.Contains(out, "loaded 1 keys") {
		t.Fatalf("load --group into a group-shared table printed %q", out)
	}
	fails(t, 1, "SHMDICT_GROUP", dump, "load", p)
	fails(t, 2, "lock the owner out", "", "create", p+"2", "--capacity", "10", "--mode", "0644")
	if r := cli(t, "", "create", p+"3", "--capacity", "10", "--mode", "0644"); !strings.Contains(r.stderr, "with --group, 0660") || strings.Contains(r.stderr, "Options.") {
		t.Errorf("create --mode 0644 gives Go advice instead of the CLI's: %s", r.stderr)
	}
	if r := cli(t, "", "set", p, "k", "v"); !strings.Contains(r.stderr, "SHMDICT_GROUP") || strings.Contains(r.stderr, "Options.") {
		t.Errorf("set on a group-shared table without SHMDICT_GROUP gives Go advice instead of the CLI's: %s", r.stderr)
	}
}

// entriesOf reads every entry of the table at p.
func entriesOf(t *testing.T, p string) map[string]table.Entry {
	t.Helper()
	tbl, err := table.Attach(p)
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Close()
	m := map[string]table.Entry{}
	for en, err := range tbl.Entries() {
		if err != nil {
			t.Fatal(err)
		}
		m[string(en.Key)] = en
	}
	return m
}

func TestIncrAdder(t *testing.T) {
	p := tablePath(t)
	ok(t, "", "create", p, "--capacity", "100")
	if got := ok(t, "", "incr", p, "hits", "--adder"); got != "1\n" {
		t.Fatalf("incr --adder of an absent key = %q, want 1", got)
	}
	if got := ok(t, "", "incr", p, "hits", "41", "--adder"); got != "42\n" {
		t.Fatalf("incr --adder 41 = %q, want 42", got)
	}
	// Plain incr on an adder adds to it; it stays an adder.
	if got := ok(t, "", "incr", p, "hits", "-2"); got != "40\n" {
		t.Fatalf("incr -2 of an adder = %q, want 40", got)
	}
	if got := ok(t, "", "incr", p, "hits", "0", "--adder"); got != "40\n" {
		t.Fatalf("incr --adder 0 = %q, want the sum 40", got)
	}
	if got := ok(t, "", "get", p, "hits"); got != "40\n" {
		t.Fatalf("get of an adder = %q, want its sum as a number", got)
	}
	if got := ok(t, "", "get", p, "hits", "--hex"); got != "2800000000000000\n" {
		t.Fatalf("get --hex of an adder = %q, want 8 little-endian bytes", got)
	}
	if en := entriesOf(t, p)["hits"]; !en.IsAdder || en.Counter != 40 {
		t.Fatalf("after incr --adder: entry %+v, want an adder of 40", en)
	}
	// A new key with --adder 0 exists (at 0); without --adder, incr 0 does not create.
	if got := ok(t, "", "incr", p, "zero", "0", "--adder"); got != "0\n" {
		t.Fatalf("incr --adder 0 of an absent key = %q", got)
	}
	if got := ok(t, "", "get", p, "zero"); got != "0\n" {
		t.Fatalf("get of a new adder at 0 = %q", got)
	}

	// A plain counter or a value is not an adder: a clear error, no change.
	ok(t, "", "incr", p, "plain", "5")
	fails(t, 1, "'shmdict del' it first", "", "incr", p, "plain", "--adder")
	ok(t, "", "set", p, "text", "hello")
	fails(t, 1, "not a striped adder", "", "incr", p, "text", "--adder")
	if en := entriesOf(t, p)["plain"]; en.IsAdder || en.Counter != 5 {
		t.Fatalf("a refused incr --adder changed the plain counter: %+v", en)
	}

	// A table that evicts has none.
	ev := filepath.Join(t.TempDir(), "ev.shm")
	ok(t, "", "create", ev, "--capacity", "10", "--evict")
	fails(t, 1, "no striped adders", "", "incr", ev, "hits", "--adder")
	ok(t, "", "incr", ev, "hits") // a plain counter works
}

func TestIncrAdderFromConcurrentInvocations(t *testing.T) {
	p := tablePath(t)
	ok(t, "", "create", p, "--capacity", "100")
	const workers, each = 2, 20
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				if out, err := exec.Command(binary, "incr", p, "n", "--adder").CombinedOutput(); err != nil {
					errs <- fmt.Errorf("incr --adder: %v: %s", err, out)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := ok(t, "", "get", p, "n"); got != strconv.Itoa(workers*each)+"\n" {
		t.Fatalf("after %d concurrent incr --adder invocations, n = %q", workers*each, got)
	}
}

func TestStatsShowsAdders(t *testing.T) {
	p := tablePath(t)
	ok(t, "", "create", p, "--capacity", "1000", "--adder-lanes", "8")
	ok(t, "", "incr", p, "a", "--adder")
	ok(t, "", "incr", p, "b", "--adder")
	st := statsOf(t, p)
	if st["adder_lanes"] != 8.0 || st["lanes_used"] != 1.0 || st["adder_indices_used"] != 2.0 {
		t.Errorf("stats --json: adder_lanes %v, lanes_used %v, adder_indices_used %v; want 8, 1, 2", st["adder_lanes"], st["lanes_used"], st["adder_indices_used"])
	}
	if n, _ := st["adder_indices"].(float64); n < 1000 {
		t.Errorf("stats --json: adder_indices = %v, want at least the capacity", st["adder_indices"])
	}
	text := ok(t, "", "stats", p)
	for _, want := range []string{"adder lanes", "1 of 8 used", "adder indices", "2 of "} {
		if !strings.Contains(text, want) {
			t.Errorf("stats does not say %q:\n%s", want, text)
		}
	}

	ev := filepath.Join(t.TempDir(), "ev.shm")
	ok(t, "", "create", ev, "--capacity", "10", "--evict")
	if st := statsOf(t, ev); st["adder_lanes"] != 0.0 || st["adder_indices"] != 0.0 {
		t.Errorf("stats --json of an evicting table: adder_lanes %v, adder_indices %v; want 0", st["adder_lanes"], st["adder_indices"])
	}
	if text := ok(t, "", "stats", ev); !strings.Contains(text, "no striped adders") {
		t.Errorf("stats of an evicting table does not say it has no adders:\n%s", text)
	}

	// --adder-lanes is checked, and a table that evicts has none.
	dir := t.TempDir()
	fails(t, 2, "--adder-lanes must be in [1, 64]", "", "create", filepath.Join(dir, "x"), "--capacity", "10", "--adder-lanes", "65")
	fails(t, 2, "--adder-lanes cannot be combined with --evict", "", "create", filepath.Join(dir, "y"), "--capacity", "10", "--adder-lanes", "4", "--evict")
}

func TestDumpLoadKeepsAdders(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "src.shm")
	ok(t, "", "create", p, "--capacity", "100", "--adder-lanes", "8")
	ok(t, "", "incr", p, "hits", "1234", "--adder")
	ok(t, "", "incr", p, "neg", "--adder", "--", "-7")
	ok(t, "", "incr", p, "zero", "0", "--adder")
	ok(t, "", "incr", p, "plain", "99")
	ok(t, "", "set", p, "text", "v")
	dump := ok(t, "", "dump", p)
	for _, want := range []string{
		`"adder_lanes":8}`,
		`{"key":"hits","counter":1234,"adder":true}`,
		`{"key":"neg","counter":-7,"adder":true}`,
		`{"key":"zero","counter":0,"adder":true}`,
		`{"key":"plain","counter":99}`,
	} {
		if !strings.Contains(dump, want) {
			t.Errorf("dump does not hold %s:\n%s", want, dump)
		}
	}

	// Into a new table: the shape (adder lanes) and the kinds come back.
	cp := filepath.Join(dir, "copy.shm")
	ok(t, dump, "load", cp)
	if st := statsOf(t, cp); st["adder_lanes"] != 8.0 {
		t.Errorf("load made %v adder lanes, want the dump's 8", st["adder_lanes"])
	}
	want := map[string]table.Entry{
		"hits":  {Key: []byte("hits"), Counter: 1234, IsCounter: true, IsAdder: true},
		"neg":   {Key: []byte("neg"), Counter: -7, IsCounter: true, IsAdder: true},
		"zero":  {Key: []byte("zero"), Counter: 0, IsCounter: true, IsAdder: true},
		"plain": {Key: []byte("plain"), Counter: 99, IsCounter: true},
		"text":  {Key: []byte("text"), Value: []byte("v")},
	}
	if d := cmp.Diff(want, entriesOf(t, cp)); d != "" {
		t.Fatalf("loaded copy (-want +got):\n%s", d)
	}
	if d := cmp.Diff(dump, ok(t, "", "dump", cp)); d != "" {
		t.Fatalf("dump of the loaded copy differs (-original +copy):\n%s", d)
	}

	// Into the original, changed: kinds and sums are restored both ways
	// (an adder made a plain counter, a plain counter made an adder).
	ok(t, "", "incr", p, "hits", "5")
	ok(t, "", "del", p, "neg")
	ok(t, "", "incr", p, "neg", "3")
	ok(t, "", "del", p, "plain")
	ok(t, "", "incr", p, "plain", "1", "--adder")
	ok(t, "", "del", p, "zero")
	ok(t, "", "set", p, "zero", "a value")
	ok(t, dump, "load", p)
	if d := cmp.Diff(want, entriesOf(t, p)); d != "" {
		t.Fatalf("reloaded original (-want +got):\n%s", d)
	}

	// A table that evicts has no adders: the load fails before storing
	// anything, and a table it created is removed.
	ev := filepath.Join(dir, "ev.shm")
	fails(t, 1, "no adders", dump, "load", ev, "--evict")
	if _, err := os.Stat(ev); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a refused load left the evicting table it created: %v", err)
	}
	ok(t, "", "create", ev, "--capacity", "100", "--evict")
	// (stderr also notes that the dump's table did not evict.)
	if r := cli(t, dump, "load", ev); r.code != 1 || !strings.Contains(r.stderr, "(record 1, key hits, is one)") || !strings.Contains(r.stderr, "no adders") {
		t.Fatalf("load of adders into an evicting table: exit %d, stderr %q", r.code, r.stderr)
	}
	if got := ok(t, "", "keys", ev); got != "" {
		t.Fatalf("a refused load stored keys: %q", got)
	}

	// Older formats still load; "adder" needs a counter.
	old := ok(t, "{\"shmdict_dump\":2}\n{\"key\":\"c\",\"counter\":3}\n", "load", filepath.Join(dir, "old.shm"), "--capacity", "10")
	if !strings.Contains(old, "loaded 1 keys") {
		t.Fatalf("load of a format 2 dump printed %q", old)
	}
	fails(t, 1, "\"adder\" without \"counter\"", "{\"shmdict_dump\":3}\n{\"key\":\"c\",\"value\":\"x\",\"adder\":true}\n", "load", filepath.Join(dir, "bad.shm"), "--capacity", "10")
	fails(t, 1, "reads formats 1 to 4", "{\"shmdict_dump\":5}\n", "load", filepath.Join(dir, "new.shm"), "--capacity", "10")
}
