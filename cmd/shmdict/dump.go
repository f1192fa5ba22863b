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
	"time"
	"unicode/utf8"

	"github.com/shmdict/shmdict/segment"
	"github.com/shmdict/shmdict/table"
)

// The dump format (docs/DUMP.md): JSON lines. The first line is the header
// {"shmdict_dump":1}; each further line is one key:
//
//	{"key":"user:1","value":"ada"}
//	{"key_b64":"AAE=","value_b64":"/w==","expires":"2026-11-22T10:00:00.5Z"}
//	{"key":"requests","counter":42}
//
// A key or value that is valid UTF-8 is stored as a JSON string ("key",
// "value"), anything else in standard base64 ("key_b64", "value_b64"). A
// counter is "counter" (an integer). "expires" is the deadline of a value
// stored with a TTL, RFC 3339 with nanoseconds. Lines are sorted by key
// bytes, so two dumps of equal tables are equal byte for byte.
const dumpVersion = 1

type dumpHeader struct {
	Version int `json:"shmdict_dump"`
}

type dumpRecord struct {
	Key      *string `json:"key,omitempty"`
	KeyB64   *string `json:"key_b64,omitempty"`
	Value    *string `json:"value,omitempty"`
	ValueB64 *string `json:"value_b64,omitempty"`
	Counter  *int64  `json:"counter,omitempty"`
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
including counters and TTL deadlines. Other processes may keep writing
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
				if err := enc.Encode(dumpHeader{Version: dumpVersion}); err != nil {
					return err
				}
				for _, en := range entries {
					var r dumpRecord
					r.Key, r.KeyB64 = encodeBytes(en.Key)
					if en.IsCounter {
						n := en.Counter
						r.Counter = &n
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

	var loadCap *int
	register(&command{
		name: "load", args: "NAME [--capacity N] < FILE", summary: "store every key of a dump (creates NAME with --capacity)",
		help: `Keys in the file replace those in the table; other keys stay. Values whose
deadline has passed are skipped (and counted). The whole file is checked
before anything is stored: a malformed line stores nothing (exit 1).

Examples:
  shmdict load tokens < tokens.jsonl
  shmdict load fresh --capacity 1000000 < tokens.jsonl`,
		flags: func(fs *flag.FlagSet) {
			loadCap = fs.Int("capacity", 0, "create the table with this capacity if it does not exist")
		},
		run: func(e *env, fs *flag.FlagSet, args []string) error {
			if err := wantArgs(args, 1, 1); err != nil {
				return err
			}
			recs, err := parseDump(e.stdin)
			if err != nil {
				return err
			}
			var t *table.Table
			if *loadCap > 0 {
				t, err = table.Open(args[0], table.Options{Capacity: *loadCap})
			} else {
				t, err = attach(args[0])
				if errors.Is(err, table.ErrNotExist) {
					err = fmt.Errorf("%w (or pass --capacity N to create it)", err)
				}
			}
			if err != nil {
				return err
			}
			defer t.Close()
			p := newProgress(e)
			stored, expired := 0, 0
			for i, r := range recs {
				ok, err := storeRecord(t, r)
				if err != nil {
					return fmt.Errorf("record %d (key %s): %w", i+1, displayShort(r.key), err)
				}
				if ok {
					stored++
				} else {
					expired++
				}
				p.update("loaded %d of %d keys", i+1, len(recs))
			}
			p.done()
			fmt.Fprintf(e.stdout, "loaded %d keys into %s", stored, args[0])
			if expired > 0 {
				fmt.Fprintf(e.stdout, " (%d expired values skipped)", expired)
			}
			fmt.Fprintln(e.stdout)
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

// loadRecord is a validated dump line.
type loadRecord struct {
	key       []byte
	value     []byte
	counter   int64
	isCounter bool
	expires   time.Time
}

// parseDump reads and validates a whole dump.
func parseDump(r io.Reader) ([]loadRecord, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 8*table.MaxValueLen+1<<20)
	line := 0
	var recs []loadRecord
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if line == 1 {
			var h dumpHeader
			if err := strictUnmarshal(b, &h); err != nil || h.Version == 0 {
				return nil, fmt.Errorf("line 1: not a shmdict dump (want the header {\"shmdict_dump\":%d})", dumpVersion)
			}
			if h.Version != dumpVersion {
				return nil, fmt.Errorf("line 1: dump format %d, this shmdict reads format %d", h.Version, dumpVersion)
			}
			continue
		}
		if len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		var d dumpRecord
		if err := strictUnmarshal(b, &d); err != nil {
			return nil, fmt.Errorf("line %d: %v", line, err)
		}
		rec, err := d.validate()
		if err != nil {
			return nil, fmt.Errorf("line %d: %v", line, err)
		}
		recs = append(recs, rec)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("line %d: %v", line+1, err)
	}
	if line == 0 {
		return nil, fmt.Errorf("empty input: not a shmdict dump")
	}
	return recs, nil
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
	case d.Counter != nil:
		if d.Expires != "" {
			return r, fmt.Errorf("a counter cannot have \"expires\"")
		}
		r.counter, r.isCounter = *d.Counter, true
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

// storeRecord stores one record; ok is false for a value already expired.
func storeRecord(t *table.Table, r loadRecord) (ok bool, err error) {
	switch {
	case r.isCounter:
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
