package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"time"
	"unicode/utf8"

	"github.com/shmdict/shmdict/table"
)

// The dump format (docs/DUMP.md): JSON lines. The first line is the header:
// the format version and the shape of the table the dump came from (load
// creates a missing table with that shape):
//
//	{"shmdict_dump":4,"capacity":1536,"arena_bytes":196608,"max_procs":1024,"events":0,"eviction":"none","adder_lanes":64}
//
// A growing table's header adds "max_capacity" (its table.Options.MaxCapacity),
// so that load creates a table that grows as it did:
//
//	{"shmdict_dump":4,"capacity":12,"arena_bytes":524288,"max_procs":1024,"events":0,"eviction":"none","adder_lanes":64,"max_capacity":4096}
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
// number); format 3 is format 4 without "max_capacity" in the header (a
// format-3 reader would refuse it, hence format 4). load reads all four.
const dumpVersion = 4

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

// recordOf is the dump line of one entry.
func recordOf(en table.Entry) dumpRecord {
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
	return r
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
