package table

import (
	"bytes"
	"fmt"
	"iter"
)

// Map is a typed view of a Table: keys and values go through codecs.
// Several Maps (and raw users) may share one Table; nothing in the segment
// records the types, so every process must use the same codecs for a
// table. Which operations allocate: encoding a key or value appends to a
// small stack buffer when it fits (Int64, Uint64, Float64, Bool and short
// strings do); decoding allocates for Bytes, String, JSON and Gob results.
type Map[K, V any] struct {
	t  *Table
	kc Codec[K]
	vc Codec[V]
}

// NewMap returns a typed view of t with codecs kc for keys and vc for values.
func NewMap[K, V any](t *Table, kc Codec[K], vc Codec[V]) *Map[K, V] {
	return &Map[K, V]{t: t, kc: kc, vc: vc}
}

// Table returns the table under the map.
func (m *Map[K, V]) Table() *Table { return m.t }

func (m *Map[K, V]) key(buf []byte, k K) ([]byte, error) {
	if b, ok := appendFixed(buf, m.kc, k); ok {
		return b, nil
	}
	// Not buf: handing the caller's stack buffer to a dynamic call would
	// move it to the heap for the fixed-size paths too.
	kb, err := m.kc.Append(nil, k)
	if err != nil {
		return nil, &CodecError{Key: bytes.Clone(kb), Err: err}
	}
	return kb, nil
}

// appendFixed encodes v without a dynamic call when c is one of the
// fixed-size codecs, so that the caller's stack buffer does not escape:
// this is what keeps Map operations on int64, uint64, float64 and bool
// allocation-free.
func appendFixed[T any](dst []byte, c Codec[T], v T) ([]byte, bool) {
	switch any(c).(type) {
	case Int64:
		b, _ := Int64{}.Append(dst, any(v).(int64))
		return b, true
	case Uint64:
		b, _ := Uint64{}.Append(dst, any(v).(uint64))
		return b, true
	case Float64:
		b, _ := Float64{}.Append(dst, any(v).(float64))
		return b, true
	case Bool:
		b, _ := Bool{}.Append(dst, any(v).(bool))
		return b, true
	}
	return dst, false
}

// decodeFixed is appendFixed's counterpart.
func decodeFixed[T any](c Codec[T], b []byte) (v T, err error, ok bool) {
	var x any
	switch any(c).(type) {
	case Int64:
		x, err = Int64{}.Decode(b)
	case Uint64:
		x, err = Uint64{}.Decode(b)
	case Float64:
		x, err = Float64{}.Decode(b)
	case Bool:
		x, err = Bool{}.Decode(b)
	default:
		return v, nil, false
	}
	if err != nil {
		return v, err, true
	}
	return x.(T), nil, true
}

func (m *Map[K, V]) decode(b []byte) (V, error) {
	if v, err, ok := decodeFixed(m.vc, b); ok {
		return v, err
	}
	// A copy, not b: a dynamic call would move the caller's stack buffer
	// to the heap for the fixed-size paths too.
	return m.vc.Decode(bytes.Clone(b))
}

func (m *Map[K, V]) encode(buf []byte, v V) ([]byte, error) {
	if b, ok := appendFixed(buf, m.vc, v); ok {
		return b, nil
	}
	return m.vc.Append(nil, v) // not buf: see key
}

// Get returns k's value, or ErrNotFound.
func (m *Map[K, V]) Get(k K) (V, error) {
	var zero V
	var kbuf, vbuf [64]byte
	kb, err := m.key(kbuf[:0], k)
	if err != nil {
		return zero, err
	}
	b, err := m.t.AppendGet(vbuf[:0], kb)
	if err != nil {
		return zero, err
	}
	v, err, fixed := decodeFixed(m.vc, b)
	if !fixed {
		v, err = m.vc.Decode(bytes.Clone(b)) // a copy: see decode
	}
	if err != nil {
		return zero, &CodecError{Key: bytes.Clone(kb), Decode: true, Err: err}
	}
	return v, nil
}

// GetMany looks up every keys[i] and sets vals[i] and found[i] (the zero
// V and false for a missing key), as Table.GetMany does: each key is read
// atomically on its own, and len(vals) and len(found) must equal
// len(keys) (ErrInvalid). It works a chunk of keys at a time; on an error
// (a key that does not encode, a value that does not decode, or the
// table's) the results of the chunks before it are filled and the rest
// unspecified. It allocates nothing for keys and values that the map's
// Get encodes and decodes without allocating (fixed-size codecs) when
// the chunk's values fit in 1 KiB.
func (m *Map[K, V]) GetMany(keys []K, vals []V, found []bool) error {
	if len(vals) != len(keys) || len(found) != len(keys) {
		return fmt.Errorf("%w: GetMany needs as many vals (%d) and found (%d) as keys (%d)",
			ErrInvalid, len(vals), len(found), len(keys))
	}
	var (
		kbuf  [getManyChunk][64]byte
		kbs   [getManyChunk][]byte
		vbuf  [1024]byte
		spans [getManyChunk][2]int
	)
	for lo := 0; lo < len(keys); lo += getManyChunk {
		hi := min(lo+getManyChunk, len(keys))
		for i := lo; i < hi; i++ {
			kb, err := m.key(kbuf[i-lo][:0], keys[i])
			if err != nil {
				return err
			}
			kbs[i-lo] = kb
		}
		buf, err := m.t.getManyFlat(kbs[:hi-lo], vbuf[:0], &spans, found[lo:hi])
		if err != nil {
			return err
		}
		for i := lo; i < hi; i++ {
			var zero V
			if !found[i] {
				vals[i] = zero
				continue
			}
			b := buf[spans[i-lo][0]:spans[i-lo][1]]
			v, err, fixed := decodeFixed(m.vc, b)
			if !fixed {
				v, err = m.vc.Decode(bytes.Clone(b)) // a copy: see decode
			}
			if err != nil {
				return &CodecError{Key: bytes.Clone(kbs[i-lo]), Decode: true, Err: err}
			}
			vals[i] = v
		}
	}
	return nil
}

// Set stores v under k.
func (m *Map[K, V]) Set(k K, v V) error {
	var kbuf, vbuf [64]byte
	kb, err := m.key(kbuf[:0], k)
	if err != nil {
		return err
	}
	vb, err := m.encode(vbuf[:0], v)
	if err != nil {
		return &CodecError{Key: bytes.Clone(kb), Err: err}
	}
	return m.t.Set(kb, vb)
}

// Delete removes k and reports whether it was present.
func (m *Map[K, V]) Delete(k K) (bool, error) {
	var kbuf [64]byte
	kb, err := m.key(kbuf[:0], k)
	if err != nil {
		return false, err
	}
	return m.t.Delete(kb)
}

// GetOrSet returns k's value if present (loaded=true), else stores v.
func (m *Map[K, V]) GetOrSet(k K, v V) (actual V, loaded bool, err error) {
	var kbuf, vbuf [64]byte
	kb, err := m.key(kbuf[:0], k)
	if err != nil {
		return actual, false, err
	}
	vb, err := m.encode(vbuf[:0], v)
	if err != nil {
		return actual, false, &CodecError{Key: bytes.Clone(kb), Err: err}
	}
	b, loaded, err := m.t.GetOrSet(kb, vb)
	if err != nil || !loaded {
		return v, false, err
	}
	actual, err = m.decode(b)
	if err != nil {
		return actual, true, &CodecError{Key: bytes.Clone(kb), Decode: true, Err: err}
	}
	return actual, true, nil
}

// Len is the number of keys in the underlying table.
func (m *Map[K, V]) Len() int { return m.t.Len() }

// All iterates over the entries whose key and value decode with the
// map's codecs; others (written through another Map, or raw) are skipped.
// Table().All sees every entry as bytes.
func (m *Map[K, V]) All() iter.Seq2[K, V] {
	return func(yield func(K, V) bool) {
		for kb, vb := range m.t.All() {
			k, err := m.kc.Decode(kb)
			if err != nil {
				continue
			}
			v, err := m.vc.Decode(vb)
			if err != nil {
				continue
			}
			if !yield(k, v) {
				return
			}
		}
	}
}
