package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/shmdict/shmdict/segment"
	"github.com/shmdict/shmdict/table"
)

// The dump format (docs/DUMP.md): JSON lines. The first line is the header:
// the format version and the shape of the table the dump came from (load
// creates a missing table with that shape):
//
//	{"shmdict_dump":3,"capacity":1536,"arena_bytes":196608,"max_procs":1024,"events":0,"eviction":"none","adder_lanes":64}
//
// Each further line is one key:
//
//	{"key":"user:1","value":"ada"}
//	{"key_b64":"AAE=","value_b64":"/w==","expires":"2026-11-22T10:00:00.5Z"}
//	{"key":"requests","counter":42}
//	{"key":"hits","counter":1234,"adder":true}
//
// A key or value that is valid UTF-8 is stored as a JSON string ("key",
// "value"), anything else in standard base64 ("key_b64", "value_b64"). A
// counter is "counter" (an integer); a striped adder is a counter with
// "adder": true, its value the sum of its lanes. "expires" is the
// deadline of a value stored with a TTL, RFC 3339 with nanoseconds. Lines
// are sorted by key bytes, so two dumps of equal tables are equal byte for
// byte. Format 1 is format 2 without the shape in the header; format 2 is
// format 3 without "adder_lanes" in the header and "adder" in records (a
// reader of format 2 would refuse those as unknown fields, hence the new
// number). load reads all three.
const dumpVersion = 3

type dumpHeader struct {
	Version int `json:"shmdict_dump"`
	*Shape
}

type dumpRecord struct {
	Key      *string `json:"key,omitempty"`
	KeyB64   *string `json:"key_b64,omitempty"`
	Value    *string `json:"value,omitempty"`
	ValueB64 *string `json:"value_b64,omitempty"`
	Counter  *int64  `json:"counter,omitempty"`
	Adder    bool    `json:"adder,omitempty"` // the counter is a striped adder
	Expires  string  `json:"expires,omitempty"`
}

func encodeBytes(b []byte) (text, b64 *string) {
	if utf8.Valid(b) {
		s := string(b)
		return &s, nil
	}
	s := base64.StdEncoding.EncodeToString(b)
	return nil, &s
}

func decodeBytes(what string, text, b64 *string) ([]byte, error) {
	switch {
	case text != nil && b64 != nil:
		return nil, fmt.Errorf("both %q and %q_b64", what, what)
	case text != nil:
		return []byte(*text), nil
	case b64 != nil:
		b, err := base64.StdEncoding.DecodeString(*b64)
		if err != nil {
			return nil, fmt.Errorf("bad %s_b64: %v", what, err)
		}
		return b, nil
	}
	return nil, nil
}

func init() {
	register(&command{
		name: "dump", args: "NAME > FILE", summary: "write every key as JSON lines (see docs/DUMP.md)",
		help: `The output is sorted by key and round-trips exactly through 'shmdict load',
including counters, striped adders (as their sum, marked "adder": true) and
TTL deadlines. Other processes may keep writing
during a dump: each line is consistent, the whole is not a snapshot.

Examples:
  shmdict dump tokens > tokens.jsonl
  shmdict dump tokens | shmdict load tokens-copy --capacity 1000000`,
		run: func(e *env, fs *flag.FlagSet, args []string) error {
			if err := wantArgs(args, 1, 1); err != nil {
				return err
			}
			return withTable(args[0], func(t *table.Table) error {
				p := newProgress(e)
				var entries []table.Entry
				for en, err := range t.Entries() {
					if err != nil {
						return err
					}
					entries = append(entries, en)
					p.update("read %d keys", len(entries))
				}
				p.done()
				slices.SortFunc(entries, func(a, b table.Entry) int { return bytes.Compare(a.Key, b.Key) })
				w := bufio.NewWriter(e.stdout)
				enc := json.NewEncoder(w)
				enc.SetEscapeHTML(false)
				h := dumpHeader{Version: dumpVersion}
				if in, err := inspect(args[0]); err == nil && in.Err == nil {
					sh := shapeOf(in.Layout)
					h.Shape = &sh
				}
				if err := enc.Encode(h); err != nil {
					return err
				}
				for _, en := range entries {
					var r dumpRecord
					r.Key, r.KeyB64 = encodeBytes(en.Key)
					if en.IsCounter {
						n := en.Counter
						r.Counter, r.Adder = &n, en.IsAdder
					} else {
						r.Value, r.ValueB64 = encodeBytes(en.Value)
					}
					if !en.Expires.IsZero() {
						r.Expires = en.Expires.UTC().Format(time.RFC3339Nano)
					}
					if err := enc.Encode(r); err != nil {
						return err
					}
				}
				return w.Flush()
			})
		},
	})

	var lf shapeFlags
	register(&command{
		name: "load", args: "NAME [--capacity N] [--arena SIZE] [--evict] [--events N] < FILE", summary: "store every key of a dump (creates NAME if it does not exist)",
		help: `Keys in the file replace those in the table; other keys stay. Values whose
deadline has passed are skipped (and counted). The whole file is checked
before anything is stored: a malformed line stores nothing (exit 1).

When NAME does not exist, load creates it with the shape of the table the
dump came from (capacity, arena, eviction, events, adder lanes; dumps of
format 1 do not record it and need --capacity), changed by the flags given. If storing then
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
  shmdict load cache --capacity 5000 --evict < tokens.jsonl`,
		flags: func(fs *flag.FlagSet) {
			lf = shapeFlags{}
			lf.register(fs, "capacity of the table if load creates it (default: the dump's)")
		},
		run: func(e *env, fs *flag.FlagSet, args []string) error {
			if err := wantArgs(args, 1, 1); err != nil {
				return err
			}
			lf.parsed(fs)
			name := args[0]
			recs, base, err := parseDump(e.stdin)
			if err != nil {
				return err
			}
			t, created, err := openForLoad(e, name, &lf, base)
			if err != nil {
				return err
			}
			stored, expired := 0, 0
			// fail undoes the create: a failed load leaves no empty table.
			fail := func(err error) error {
				st := t.Stats()
				t.Close()
				if !created {
					if stored+expired > 0 {
						return cliError{fmt.Sprintf("%s (the %d records before it were stored)", explain(err, name), stored+expired), err}
					}
					return err
				}
				msg := explain(err, name)
				if rerr := table.RemoveUnused(name); rerr != nil {
					return cliError{fmt.Sprintf("%s; %s was created by this load and could not be removed (%s)", msg, name, explain(rerr, name)), err}
				}
				if errors.Is(err, table.ErrFull) {
					msg = fmt.Sprintf("%s; %s was removed again (this load had created it with capacity %d keys and an arena of %s): load with a larger --capacity or --arena",
						withoutAdvice(oneLine(err)), name, st.Capacity, humanBytes(st.ArenaBytes))
				} else {
					msg += fmt.Sprintf("; %s was removed again (this load had created it)", name)
				}
				return cliError{msg, err}
			}
			st0 := t.Stats()
			if err := checkAdders(t, recs, st0); err != nil {
				return fail(err)
			}
			var adders map[string]bool // keys that are adders now
			if !created && st0.AdderIndicesUsed > 0 {
				if adders, err = adderKeys(t); err != nil {
					return fail(err)
				}
			}
			evicted0 := st0.Evicted
			p := newProgress(e)
			for i, r := range recs {
				ok, err := storeRecord(t, r, adders[string(r.key)])
				if err != nil {
					p.done()
					return fail(fmt.Errorf("record %d (key %s): %w", i+1, displayShort(r.key), err))
				}
				if ok {
					stored++
				} else {
					expired++
				}
				p.update("loaded %d of %d keys", i+1, len(recs))
			}
			p.done()
			st := t.Stats()
			t.Close()
			fmt.Fprintf(e.stdout, "loaded %d keys into %s", stored, name)
			if created {
				fmt.Fprintf(e.stdout, " (created: capacity %d keys, arena %s, eviction %s)", st.Capacity, humanBytes(st.ArenaBytes), policyName(st.Eviction))
			}
			if expired > 0 {
				fmt.Fprintf(e.stdout, " (%d expired values skipped)", expired)
			}
			fmt.Fprintln(e.stdout)
			if n := st.Evicted - evicted0; n > 0 {
				fmt.Fprintf(e.stderr, "shmdict load: %s evicted %d keys while loading (it holds at most %d); to keep them all, 'shmdict compact %s --capacity N' and load again\n", name, n, st.Capacity, name)
			}
			return nil
		},
	})

	var watchPrefix *string
	var count *int
	var all *bool
	register(&command{
		name: "watch", args: "NAME [KEY | --prefix P | --all] [--count N]", summary: "stream changes as they happen",
		help: `With KEY, prints the key's value now and after every change (works on every
table). With --prefix or --all, prints each change event of matching keys;
that needs a table created with --events N. Stops after --count changes, or
on Ctrl-C.

` + dashHelp + `

Examples:
  shmdict watch tokens config:mode
  shmdict watch tokens --prefix user: --count 10`,
		flags: func(fs *flag.FlagSet) {
			watchPrefix = fs.String("prefix", "", "watch every key starting with P (needs a table with --events)")
			all = fs.Bool("all", false, "watch every key (needs a table with --events)")
			count = fs.Int("count", 0, "stop after this many changes (0: never)")
		},
		run: func(e *env, fs *flag.FlagSet, args []string) error {
			if err := wantArgs(args, 1, 2); err != nil {
				return err
			}
			byPrefix := *watchPrefix != "" || *all
			if len(args) == 2 && byPrefix {
				return usagef("give a KEY or --prefix/--all, not both")
			}
			if len(args) == 1 && !byPrefix {
				return usagef("give a KEY, --prefix P or --all")
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
			defer stop()
			return withTable(args[0], func(t *table.Table) error {
				if byPrefix {
					return watchEvents(ctx, e, t, []byte(*watchPrefix), *count)
				}
				return watchKey(ctx, e, t, []byte(args[1]), *count)
			})
		},
	})
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
	in, err := inspect(name)
	if err != nil {
		t.Close()
		return nil, false, err
	}
	have := shapeOf(in.Layout)
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

// loadRecord is a validated dump line.
type loadRecord struct {
	key       []byte
	value     []byte
	counter   int64
	isCounter bool
	isAdder   bool // isCounter too
	expires   time.Time
}

// parseDump reads and validates a whole dump, and returns the shape of
// the table it came from (nil if the dump does not record it).
func parseDump(r io.Reader) ([]loadRecord, *Shape, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 8*table.MaxValueLen+1<<20)
	line := 0
	var recs []loadRecord
	var shape *Shape
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if line == 1 {
			var h dumpHeader
			if err := strictUnmarshal(b, &h); err != nil || h.Version == 0 {
				return nil, nil, fmt.Errorf("line 1: not a shmdict dump (want a header such as {\"shmdict_dump\":%d,...})", dumpVersion)
			}
			if h.Version < 1 || h.Version > dumpVersion {
				return nil, nil, fmt.Errorf("line 1: dump format %d, this shmdict reads formats 1 to %d", h.Version, dumpVersion)
			}
			if h.Shape != nil {
				if err := h.Shape.validate(); err != nil {
					return nil, nil, fmt.Errorf("line 1: bad table shape: %v", err)
				}
			}
			shape = h.Shape
			continue
		}
		if len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		var d dumpRecord
		if err := strictUnmarshal(b, &d); err != nil {
			return nil, nil, fmt.Errorf("line %d: %v", line, err)
		}
		rec, err := d.validate()
		if err != nil {
			return nil, nil, fmt.Errorf("line %d: %v", line, err)
		}
		recs = append(recs, rec)
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("line %d: %v", line+1, err)
	}
	if line == 0 {
		return nil, nil, fmt.Errorf("empty input: not a shmdict dump")
	}
	return recs, shape, nil
}

func strictUnmarshal(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("more than one JSON value on the line")
	}
	return nil
}

func (d dumpRecord) validate() (loadRecord, error) {
	var r loadRecord
	key, err := decodeBytes("key", d.Key, d.KeyB64)
	if err != nil {
		return r, err
	}
	if key == nil {
		return r, fmt.Errorf("no \"key\" or \"key_b64\"")
	}
	r.key = key
	val, err := decodeBytes("value", d.Value, d.ValueB64)
	if err != nil {
		return r, err
	}
	switch {
	case d.Counter != nil && val != nil:
		return r, fmt.Errorf("both a counter and a value")
	case d.Adder && d.Counter == nil:
		return r, fmt.Errorf("\"adder\" without \"counter\"")
	case d.Counter != nil:
		if d.Expires != "" {
			return r, fmt.Errorf("a counter cannot have \"expires\"")
		}
		r.counter, r.isCounter, r.isAdder = *d.Counter, true, d.Adder
	case val != nil:
		r.value = val
	default:
		return r, fmt.Errorf("no \"value\", \"value_b64\" or \"counter\"")
	}
	if d.Expires != "" {
		t, err := time.Parse(time.RFC3339Nano, d.Expires)
		if err != nil {
			return r, fmt.Errorf("bad \"expires\": %v", err)
		}
		r.expires = t
	}
	return r, nil
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

// watchKey prints key's value now and after each change.
func watchKey(ctx context.Context, e *env, t *table.Table, key []byte, count int) error {
	seen := 0
	for {
		v, ver, err := t.Lookup(key)
		switch {
		case errors.Is(err, table.ErrNotFound):
			fmt.Fprintf(e.stdout, "%s (absent)\n", display(key))
		case err != nil:
			return err
		default:
			fmt.Fprintf(e.stdout, "%s = %s\n", display(key), display(v))
		}
		if count > 0 && seen >= count {
			return nil
		}
		if _, err := t.Wait(ctx, key, ver); err != nil {
			if ctx.Err() != nil {
				return nil // Ctrl-C
			}
			return err
		}
		seen++
	}
}

// watchEvents prints each change event of keys under prefix.
func watchEvents(ctx context.Context, e *env, t *table.Table, prefix []byte, count int) error {
	seen := 0
	for ev, err := range t.Subscribe(ctx, prefix) {
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, table.ErrNoEvents) {
				return fmt.Errorf("%s keeps no change events: watch a single KEY instead, or recreate the table with 'shmdict create NAME --capacity N --events 4096'", t.Name())
			}
			return err
		}
		if ev.Missed > 0 {
			fmt.Fprintf(e.stdout, "(missed %d events)\n", ev.Missed)
		}
		v, err := t.Get(ev.Key)
		switch {
		case errors.Is(err, table.ErrNotFound):
			fmt.Fprintf(e.stdout, "%s %s (absent)\n", ev.Kind, display(ev.Key))
		case err != nil:
			return err
		default:
			if n, cerr := t.Add(ev.Key, 0); cerr == nil && len(v) == 8 {
				fmt.Fprintf(e.stdout, "%s %s = %d\n", ev.Kind, display(ev.Key), n)
			} else {
				fmt.Fprintf(e.stdout, "%s %s = %s\n", ev.Kind, display(ev.Key), display(v))
			}
		}
		seen++
		if count > 0 && seen >= count {
			return nil
		}
	}
	return nil
}

// inspect describes a table by name without attaching.
func inspect(name string) (segment.Info, error) {
	p, err := segment.Path(name)
	if err != nil {
		return segment.Info{}, err
	}
	return segment.Inspect(p)
}

// ioReadAll reads at most limit bytes.
func ioReadAll(r io.Reader, limit int) ([]byte, error) {
	return io.ReadAll(io.LimitReader(r, int64(limit)))
}
