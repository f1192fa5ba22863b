package table

import (
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"encoding/json"
	"errors"
	"fmt"
	"math"
)

// Codec turns values of type T into bytes and back. Decode must not keep
// b (the table reuses it) and must not run code chosen by the data: a
// segment is shared with other processes, so a value is untrusted input.
// All built-in codecs are pure data formats (no pickle-like object loading).
type Codec[T any] interface {
	// Append appends the encoding of v to dst.
	Append(dst []byte, v T) ([]byte, error)
	// Decode decodes b.
	Decode(b []byte) (T, error)
}

// ErrEncode and ErrDecode mark codec failures; the *CodecError that
// wraps them carries the key.
var (
	ErrEncode = errors.New("shmdict: cannot encode value")
	ErrDecode = errors.New("shmdict: cannot decode value")
)

// CodecError is an encoding or decoding failure for one key.
type CodecError struct {
	Key    []byte
	Decode bool // false: encoding
	Err    error
}

// Error names the failure (ErrEncode or ErrDecode), the key and the cause.
func (e *CodecError) Error() string {
	what := ErrEncode
	if e.Decode {
		what = ErrDecode
	}
	return fmt.Sprintf("%v for key %q: %v", what, clip(e.Key), e.Err)
}

// Unwrap lets errors.Is match ErrEncode or ErrDecode, and the cause.
func (e *CodecError) Unwrap() []error {
	if e.Decode {
		return []error{ErrDecode, e.Err}
	}
	return []error{ErrEncode, e.Err}
}

// Bytes stores []byte values as they are. Decode copies.
type Bytes struct{}

// Append appends v as it is.
func (Bytes) Append(dst, v []byte) ([]byte, error) { return append(dst, v...), nil }

// Decode returns a copy of b.
func (Bytes) Decode(b []byte) ([]byte, error) { return append([]byte{}, b...), nil }

// String stores strings as their bytes.
type String struct{}

// Append appends the bytes of v.
func (String) Append(dst []byte, v string) ([]byte, error) { return append(dst, v...), nil }

// Decode returns b as a string.
func (String) Decode(b []byte) (string, error) { return string(b), nil }

// Int64 stores an int64 in 8 little-endian bytes: the same form a counter
// reads as, so a Map[K, int64] can read counters made by Add.
type Int64 struct{}

// Append appends v in 8 little-endian bytes.
func (Int64) Append(dst []byte, v int64) ([]byte, error) {
	return binary.LittleEndian.AppendUint64(dst, uint64(v)), nil
}

// Decode reads an int64 from exactly 8 little-endian bytes (a counter's form too).
func (Int64) Decode(b []byte) (int64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("int64 needs 8 bytes, got %d", len(b))
	}
	return int64(binary.LittleEndian.Uint64(b)), nil
}

// Uint64 stores a uint64 in 8 little-endian bytes.
type Uint64 struct{}

// Append appends v in 8 little-endian bytes.
func (Uint64) Append(dst []byte, v uint64) ([]byte, error) {
	return binary.LittleEndian.AppendUint64(dst, v), nil
}

// Decode reads a uint64 from exactly 8 little-endian bytes.
func (Uint64) Decode(b []byte) (uint64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("uint64 needs 8 bytes, got %d", len(b))
	}
	return binary.LittleEndian.Uint64(b), nil
}

// Float64 stores a float64's IEEE 754 bits in 8 little-endian bytes
// (NaN payloads and the sign of zero survive).
type Float64 struct{}

// Append appends the IEEE 754 bits of v in 8 little-endian bytes.
func (Float64) Append(dst []byte, v float64) ([]byte, error) {
	return binary.LittleEndian.AppendUint64(dst, math.Float64bits(v)), nil
}

// Decode reads a float64 from exactly 8 little-endian bytes.
func (Float64) Decode(b []byte) (float64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("float64 needs 8 bytes, got %d", len(b))
	}
	return math.Float64frombits(binary.LittleEndian.Uint64(b)), nil
}

// Bool stores a bool in one byte, 0 or 1.
type Bool struct{}

// Append appends 1 for true, 0 for false.
func (Bool) Append(dst []byte, v bool) ([]byte, error) {
	if v {
		return append(dst, 1), nil
	}
	return append(dst, 0), nil
}

// Decode reads one byte, 0 or 1; anything else is an error.
func (Bool) Decode(b []byte) (bool, error) {
	if len(b) != 1 {
		return false, fmt.Errorf("bool needs one byte, got %d", len(b))
	}
	if b[0] > 1 {
		return false, fmt.Errorf("bool byte must be 0 or 1, got %d", b[0])
	}
	return b[0] == 1, nil
}

// JSON stores values as encoding/json documents.
type JSON[T any] struct{}

// Append appends the encoding/json document of v.
func (JSON[T]) Append(dst []byte, v T) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return dst, err
	}
	return append(dst, b...), nil
}

// Decode unmarshals the encoding/json document b.
func (JSON[T]) Decode(b []byte) (T, error) {
	var v T
	err := json.Unmarshal(b, &v)
	return v, err
}

// Gob stores values as self-describing encoding/gob streams (each value
// carries its type description, so any process can decode it alone).
type Gob[T any] struct{}

// Append appends a self-describing encoding/gob stream of v.
func (Gob[T]) Append(dst []byte, v T) ([]byte, error) {
	buf := bytes.NewBuffer(dst)
	err := gob.NewEncoder(buf).Encode(&v)
	return buf.Bytes(), err
}

// Decode decodes the encoding/gob stream b; a decoder panic on a corrupt
// stream is returned as an error.
func (Gob[T]) Decode(b []byte) (v T, err error) {
	// gob reports malformed input as errors, but guard against a panic in
	// a decoder of a corrupt stream anyway: the bytes are untrusted.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("gob: %v", r)
		}
	}()
	err = gob.NewDecoder(bytes.NewReader(b)).Decode(&v)
	return v, err
}
