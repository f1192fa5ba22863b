package main

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/shmdict/shmdict/table"
)

const loadHelp = `Keys in the file replace those in the table; other keys stay. Values whose
deadline has passed are skipped (and counted). The whole file is checked
before anything is stored: a malformed line stores nothing (exit 1).

When NAME does not exist, load creates it with the shape of the table the
dump came from (capacity, arena, eviction, events, adder lanes, and
max capacity for a table that grows; dumps of format 1 do not record it
and need --capacity), changed by the flags given: --max-capacity N makes
the new table grow to N keys, --max-capacity 0 a fixed table, and --evict
a table that evicts instead of growing. If storing then
fails, the new table is removed again. When NAME exists, the flags may only
repeat its shape: to change it, use 'shmdict compact NAME --capacity N
--arena SIZE' first.

A striped adder in the dump comes back as a striped adder holding its sum
(in this process's lane). A table that evicts has no adders: loading a dump
that holds any into one fails before anything is stored (load it into a
table without eviction, e.g. with --evict=false when load creates it).

Examples:
  shmdict load tokens < tokens.jsonl                     # restore, as the table it came from
  shmdict load fresh --capacity 1000000 < tokens.jsonl   # a larger copy
  shmdict load cache --capacity 5000 --evict < tokens.jsonl`

// loadCmd is 'shmdict load'; its flags are the shape flags (shape.go),
// which shape a table that load creates.
type loadCmd struct{ shape shapeFlags }

func newLoadCmd() *command {
	c := &loadCmd{}
	return &command{
		name: "load", args: "NAME [--capacity N] [--max-capacity N] [--arena SIZE] [--evict] [--events N] < FILE", summary: "store every key of a dump (creates NAME if it does not exist)",
		help:  loadHelp,
		flags: c.flags,
		run:   c.run,
	}
}

func (c *loadCmd) flags(fs *flag.FlagSet) {
	c.shape = shapeFlags{}
	c.shape.register(fs, "capacity of the table if load creates it (default: the dump's)")
}

func (c *loadCmd) run(e *env, fs *flag.FlagSet, args []string) error {
	if err := wantArgs(args, 1, 1); err != nil {
		return err
	}
	c.shape.parsed(fs)
	name := args[0]
	recs, base, err := parseDump(e.stdin)
	if err != nil {
		return err
	}
	t, created, err := openForLoad(e, name, &c.shape, base)
	if err != nil {
		return err
	}
	l := &loading{e: e, t: t, name: name, created: created}
	if err := l.storeAll(recs); err != nil {
		return l.fail(err)
	}
	l.report()
	return nil
}

// loading is one load into an open table: what it stored, for its report
// and for the message of a load that fails.
type loading struct {
	e        *env
	t        *table.Table
	name     string
	created  bool // this load created the table: a failure removes it
	stored   int  // records stored
	expired  int  // values skipped because their deadline had passed
	evicted0 int64
}

// storeAll stores every record, or fails at the first that cannot be.
func (l *loading) storeAll(recs []loadRecord) error {
	st0 := l.t.Stats()
	if err := checkAdders(l.t, recs, st0); err != nil {
		return err
	}
	var adders map[string]bool // keys that are adders now
	if !l.created && st0.AdderIndicesUsed > 0 {
		var err error
		if adders, err = adderKeys(l.t); err != nil {
			return err
		}
	}
	l.evicted0 = st0.Evicted
	p := newProgress(l.e)
	defer p.done()
	for i, r := range recs {
		ok, err := storeRecord(l.t, r, adders[string(r.key)])
		if err != nil {
			return fmt.Errorf("record %d (key %s): %w", i+1, displayShort(r.key), err)
		}
		if ok {
			l.stored++
		} else {
			l.expired++
		}
		p.update("loaded %d of %d keys", i+1, len(recs))
	}
	return nil
}

// report closes the table and says what the load did.
func (l *loading) report() {
	st := l.t.Stats()
	l.t.Close()
	e, name := l.e, l.name
	fmt.Fprintf(e.stdout, "loaded %d keys into %s", l.stored, name)
	if l.created {
		grows := ""
		if st.MaxTiers > 1 {
			grows = fmt.Sprintf(" (grown to %d of %d tiers; grows to %d keys)", st.Tiers, st.MaxTiers, st.MaxCapacity)
		}
		fmt.Fprintf(e.stdout, " (created: capacity %d keys%s, arena %s, eviction %s)", st.Capacity, grows, humanBytes(st.ArenaBytes), policyName(st.Eviction))
	}
	if l.expired > 0 {
		fmt.Fprintf(e.stdout, " (%d expired values skipped)", l.expired)
	}
	fmt.Fprintln(e.stdout)
	if n := st.Evicted - l.evicted0; n > 0 {
		fmt.Fprintf(e.stderr, "shmdict load: %s evicted %d keys while loading (it holds at most %d); to keep them all, 'shmdict compact %s --capacity N' and load again\n", name, n, st.Capacity, name)
	}
}

// fail closes the table and undoes the create: a failed load leaves no
// empty table.
func (l *loading) fail(err error) error {
	st := l.t.Stats()
	l.t.Close()
	name := l.name
	if !l.created {
		if l.stored+l.expired > 0 {
			return cliError{fmt.Sprintf("%s (the %d records before it were stored)", explain(err, name), l.stored+l.expired), err}
		}
		return err
	}
	msg := explain(err, name)
	if rerr := table.RemoveUnused(name); rerr != nil {
		return cliError{fmt.Sprintf("%s; %s was created by this load and could not be removed (%s)", msg, name, explain(rerr, name)), err}
	}
	if errors.Is(err, table.ErrFull) && st.MaxTiers > 1 {
		msg = fmt.Sprintf("%s; %s was removed again (this load had created it growing to %d keys, with an arena of %s): load with a larger --max-capacity or --arena",
			withoutAdvice(oneLine(err)), name, st.MaxCapacity, humanBytes(st.ArenaBytes))
	} else if errors.Is(err, table.ErrFull) {
		msg = fmt.Sprintf("%s; %s was removed again (this load had created it with capacity %d keys and an arena of %s): load with a larger --capacity or --arena",
			withoutAdvice(oneLine(err)), name, st.Capacity, humanBytes(st.ArenaBytes))
	} else {
		msg += fmt.Sprintf("; %s was removed again (this load had created it)", name)
	}
	return cliError{msg, err}
}

// openForLoad attaches to name, or creates it (created) with the shape
// the flags and the dump's header give. The flags may not ask an existing
// table for another shape.
func openForLoad(e *env, name string, f *shapeFlags, base *Shape) (t *table.Table, created bool, err error) {
	// The group load would create the table with (--group, default
	// $SHMDICT_GROUP) is also the one an existing table may be shared with.
	t, err = table.AttachShared(name, *f.group)
	if errors.Is(err, table.ErrNotExist) {
		if base == nil && !f.given["capacity"] {
			return nil, false, cliError{fmt.Sprintf("table %s does not exist, and this dump (format 1) does not record its table's shape: pass --capacity N to create it", name), err}
		}
		opts, err := f.options(base)
		if err != nil {
			return nil, false, err
		}
		t, err = createTable(name, opts)
		return t, err == nil, err
	}
	if err != nil {
		return nil, false, err
	}
	in, err := table.Inspect(name)
	if err != nil {
		t.Close()
		return nil, false, err
	}
	have := shapeOf(table.OptionsOf(in))
	if len(f.shaping()) > 0 {
		opts, err := f.options(&have)
		if err == nil {
			err = f.checkShape(name, have, opts)
		}
		if err != nil {
			t.Close()
			return nil, false, err
		}
	}
	if base != nil && base.Eviction != have.Eviction && !f.given["evict"] {
		fmt.Fprintf(e.stderr, "shmdict load: note: the dump comes from a table with eviction %s, and %s has eviction %s; loading into it as it is\n", base.Eviction, name, have.Eviction)
	}
	return t, false, nil
}

// withoutAdvice cuts the library's advice (the last "; ..." clause, when
// it tells a Go program what to change) from a message.
func withoutAdvice(msg string) string {
	if i := strings.LastIndex(msg, "; "); i >= 0 {
		tail := msg[i:]
		if strings.Contains(tail, "Capacity") || strings.Contains(tail, "ArenaBytes") || strings.Contains(tail, "compact") {
			return msg[:i]
		}
	}
	return msg
}

// checkAdders fails, naming the first one, if recs hold striped adders and
// t, which st describes, has none (it evicts).
func checkAdders(t *table.Table, recs []loadRecord, st table.Stats) error {
	if st.AdderLanes > 0 {
		return nil
	}
	n, first := 0, -1
	for i, r := range recs {
		if r.isAdder {
			n++
			if first < 0 {
				first = i
			}
		}
	}
	if n == 0 {
		return nil
	}
	return fmt.Errorf("the dump holds %d striped adder(s) (record %d, key %s, is one), and %s evicts keys, so it has no adders: load the dump into a table without eviction ('--evict=false' when load creates it)",
		n, first+1, displayShort(recs[first].key), t.Name())
}

// adderKeys returns the keys of t that are striped adders: a plain
// counter record must replace them, and Add alone would keep them adders.
func adderKeys(t *table.Table) (map[string]bool, error) {
	m := map[string]bool{}
	for en, err := range t.Entries() {
		if err != nil {
			return nil, err
		}
		if en.IsAdder {
			m[string(en.Key)] = true
		}
	}
	return m, nil
}

// storeRecord stores one record; ok is false for a value already expired.
// wasAdder says that the key was a striped adder before the load.
func storeRecord(t *table.Table, r loadRecord, wasAdder bool) (ok bool, err error) {
	switch {
	case r.isAdder:
		return true, setAdder(t, r.key, r.counter)
	case r.isCounter:
		if wasAdder {
			if _, err := t.Delete(r.key); err != nil {
				return true, err
			}
		}
		return true, setCounter(t, r.key, r.counter)
	case !r.expires.IsZero():
		if !time.Now().Before(r.expires) {
			_, err := t.Delete(r.key)
			return false, err
		}
		err := t.SetWithDeadline(r.key, r.value, r.expires)
		if errors.Is(err, table.ErrInvalid) { // expired just now
			_, err = t.Delete(r.key)
			return false, err
		}
		return true, err
	default:
		return true, t.Set(r.key, r.value)
	}
}

// setCounter makes key a counter holding n.
func setCounter(t *table.Table, key []byte, n int64) error {
	for {
		cur, err := t.Add(key, 0)
		if errors.Is(err, table.ErrNotCounter) {
			if _, err := t.Delete(key); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		present, err := t.Contains(key)
		if err != nil {
			return err
		}
		if present && cur == n {
			return nil
		}
		if !present && n == 0 {
			// Add(key, 0) does not create a key: go through 1.
			if _, err := t.Add(key, 1); err != nil {
				return err
			}
			_, err = t.Add(key, -1)
			return err
		}
		_, err = t.Add(key, n-cur)
		return err
	}
}

// setAdder makes key a striped adder summing to n: whatever else it
// holds is deleted, and an adder it is already gets n minus its sum.
func setAdder(t *table.Table, key []byte, n int64) error {
	for {
		a, err := t.Adder(key)
		if errors.Is(err, table.ErrNotCounter) {
			if _, err := t.Delete(key); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		cur, err := a.Sum()
		if err != nil || cur == n {
			return err
		}
		return a.Add(n - cur)
	}
}
